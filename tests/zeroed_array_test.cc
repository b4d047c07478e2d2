#include "core/zeroed_array.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace storyd {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;

TEST(ZeroedArrayTest, SmallArrayIsPageAlignedAndZero) {
  ZeroedArray<std::atomic<uint32_t>> array(100);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(array.data()) % 4096, 0u);
  for (size_t i = 0; i < array.size(); ++i) EXPECT_EQ(array[i].load(), 0u);
  array[99].store(7);
  EXPECT_EQ(array[99].load(), 7u);
}

// Arrays of a huge page or more are aligned to huge pages; the mapping
// trimmed around them must leave every element usable, the last included.
TEST(ZeroedArrayTest, LargeArrayIsHugePageAlignedZeroAndWritable) {
  const size_t size = (3 * kHugePage + 12345) / sizeof(uint64_t);
  ZeroedArray<std::atomic<uint64_t>> array(size);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(array.data()) % kHugePage, 0u);
  for (size_t i = 0; i < size; i += 4099) EXPECT_EQ(array[i].load(), 0u);
  EXPECT_EQ(array[size - 1].load(), 0u);
  array[0].store(1);
  array[size - 1].store(2);
  EXPECT_EQ(array[0].load(), 1u);
  EXPECT_EQ(array[size - 1].load(), 2u);
}

// Prefault backs every page (mincore says each is resident) and leaves the
// contents as they were: zero, and what was written before.
TEST(ZeroedArrayTest, PrefaultBacksEveryPageAndKeepsTheContents) {
  const size_t size = (2 * kHugePage + 4096 * 3) / sizeof(uint64_t);
  ZeroedArray<std::atomic<uint64_t>> array(size);
  array[17].store(5);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t bytes = size * sizeof(uint64_t);
  const size_t pages = (bytes + page - 1) / page;
  auto resident = [&] {
    std::vector<unsigned char> in_core(pages);
    EXPECT_EQ(::mincore(array.data(), bytes, in_core.data()), 0);
    size_t count = 0;
    for (unsigned char flags : in_core) count += flags & 1;
    return count;
  };
  EXPECT_LT(resident(), pages);  // the untouched huge pages are not backed
  array.Prefault();
  EXPECT_EQ(resident(), pages);
  EXPECT_EQ(array[17].load(), 5u);
  for (size_t i = 0; i < size; i += 509) {
    if (i != 17) {
      EXPECT_EQ(array[i].load(), 0u) << i;
    }
  }
  EXPECT_EQ(array[size - 1].load(), 0u);
}

TEST(ZeroedArrayTest, MoveTransfersTheMemory) {
  ZeroedArray<std::atomic<uint32_t>> from(kHugePage);
  from[5].store(9);
  std::atomic<uint32_t>* data = from.data();
  ZeroedArray<std::atomic<uint32_t>> to(std::move(from));
  EXPECT_EQ(to.data(), data);
  EXPECT_EQ(to[5].load(), 9u);
  EXPECT_EQ(from.data(), nullptr);
  EXPECT_EQ(from.size(), 0u);
}

}  // namespace
}  // namespace storyd
