#include "core/radix_sort.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace storyd {
namespace {

std::vector<uint32_t> Sorted32(std::vector<uint32_t> values,
                               std::vector<uint32_t>* buffer) {
  SortByKey(&values, buffer, [](uint32_t v) { return v; });
  return values;
}

std::vector<uint32_t> StdSorted(std::vector<uint32_t> values) {
  std::sort(values.begin(), values.end());
  return values;
}

TEST(SortByKeyTest, EmptyOneAndTwoValues) {
  std::vector<uint32_t> buffer;
  EXPECT_TRUE(Sorted32({}, &buffer).empty());
  EXPECT_EQ(Sorted32({7}, &buffer), std::vector<uint32_t>({7}));
  EXPECT_EQ(Sorted32({9, 2}, &buffer), std::vector<uint32_t>({2, 9}));
  EXPECT_EQ(Sorted32({2, 2}, &buffer), std::vector<uint32_t>({2, 2}));
}

TEST(SortByKeyTest, MatchesStdSortOnRandomValues) {
  std::mt19937_64 rng(1);
  std::vector<uint32_t> buffer;  // reused across sizes, as callers do
  for (size_t size : {3, 31, 32, 33, 100, 400, 401, 5000, 100000}) {
    std::vector<uint32_t> values(size);
    for (uint32_t& v : values) v = static_cast<uint32_t>(rng());
    EXPECT_EQ(Sorted32(values, &buffer), StdSorted(values)) << size;
  }
}

TEST(SortByKeyTest, DuplicatesSortedAndOrderedInputs) {
  std::mt19937_64 rng(2);
  std::vector<uint32_t> buffer;
  for (size_t size : {10, 400, 3000}) {
    std::vector<uint32_t> few(size);
    for (uint32_t& v : few) v = static_cast<uint32_t>(rng() % 7) * 0x2468ACE1u;
    EXPECT_EQ(Sorted32(few, &buffer), StdSorted(few)) << size;
    std::vector<uint32_t> same(size, 0xDEADBEEFu);
    EXPECT_EQ(Sorted32(same, &buffer), same) << size;
    std::vector<uint32_t> ascending = StdSorted(few);
    std::vector<uint32_t> descending(ascending.rbegin(), ascending.rend());
    EXPECT_EQ(Sorted32(ascending, &buffer), ascending) << size;
    EXPECT_EQ(Sorted32(descending, &buffer), ascending) << size;
  }
}

TEST(SortByKeyTest, KeysSharingTheirTopBitsStillSort) {
  // The counting passes see one bucket; the insertion sort runs out of
  // moves and hands over to std::stable_sort.
  std::mt19937_64 rng(3);
  std::vector<uint32_t> buffer;
  for (size_t size : {40, 400, 20000}) {
    std::vector<uint32_t> values(size);
    for (uint32_t& v : values) v = 0xABCD0000u | (rng() & 0xFFFF);
    EXPECT_EQ(Sorted32(values, &buffer), StdSorted(values)) << size;
    for (uint32_t& v : values) v = static_cast<uint32_t>(rng() & 0xFFFF);
    EXPECT_EQ(Sorted32(values, &buffer), StdSorted(values)) << size;
  }
}

struct Item {
  uint64_t key;
  uint32_t order;
  bool operator==(const Item&) const = default;
};

TEST(SortByKeyTest, SixtyFourBitKeysAreSortedStably) {
  std::mt19937_64 rng(4);
  std::vector<Item> buffer;
  for (size_t size : {2, 33, 350, 4000}) {
    for (uint64_t distinct : {3ull, 100ull, ~0ull}) {
      for (uint64_t top_mask : {~0ull, 0xFFFFull}) {  // also all-equal tops
        std::vector<uint64_t> keys(std::min<uint64_t>(distinct, size));
        for (uint64_t& k : keys) k = rng() & top_mask;
        std::vector<Item> items(size);
        for (size_t i = 0; i < size; ++i)
          items[i] = {keys[rng() % keys.size()], static_cast<uint32_t>(i)};
        std::vector<Item> expected = items;
        std::stable_sort(
            expected.begin(), expected.end(),
            [](const Item& a, const Item& b) { return a.key < b.key; });
        SortByKey(&items, &buffer, [](const Item& item) { return item.key; });
        EXPECT_EQ(items, expected) << size << " " << distinct;
      }
    }
  }
}

TEST(SortByKeyTest, ValuesKeepTheirStorage) {
  std::mt19937_64 rng(5);
  std::vector<uint32_t> values(1000), buffer;
  for (uint32_t& v : values) v = static_cast<uint32_t>(rng());
  // One byte shared by all values: an odd number of scatter passes.
  for (uint32_t& v : values) v = (v & 0x00FFFFFFu) | 0x5A000000u;
  const uint32_t* storage = values.data();
  std::vector<uint32_t> expected = StdSorted(values);
  SortByKey(&values, &buffer, [](uint32_t v) { return v; });
  EXPECT_EQ(values.data(), storage);
  EXPECT_EQ(values, expected);
}

}  // namespace
}  // namespace storyd
