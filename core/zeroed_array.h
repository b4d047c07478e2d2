// ZeroedArray<T>: a fixed-size array of page-aligned anonymous memory (mmap),
// for the large rings of the lock-free indexes.
//
// Why: the indexes allocate their whole capacity at start-up (hundreds of
// MB by default) so that memory never grows. Constructing every element
// would touch every page at once; anonymous mmap gets zero pages from the
// kernel, which are only backed when first written. The
// indexes' elements are std::atomic integers (or structs of them) whose
// initial state is all-zero bits, so the zero pages *are* their initial
// state and no constructor runs. Arrays of 2 MiB or more are advised onto
// transparent huge pages (see MapZeroed). T must be trivially destructible and
// its all-zero representation must be its default state; the static_asserts
// check what the type system can.
//
// Thread safety: the array itself is immutable after construction; its
// elements are what callers synchronize.
#ifndef STORYD_CORE_ZEROED_ARRAY_H_
#define STORYD_CORE_ZEROED_ARRAY_H_

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

namespace storyd {

template <typename T>
class ZeroedArray {
 public:
  ZeroedArray() = default;
  explicit ZeroedArray(size_t size) : size_(size) {
    // Checked here, not on the class, so that T may be incomplete where the
    // array is declared.
    static_assert(std::is_trivially_destructible_v<T>,
                  "elements are never destroyed");
    static_assert(alignof(T) <= 4096, "mmap memory is page-aligned");
    data_ = static_cast<T*>(MapZeroed(Bytes()));
  }
  ZeroedArray(const ZeroedArray&) = delete;
  ZeroedArray& operator=(const ZeroedArray&) = delete;
  ZeroedArray(ZeroedArray&& other) noexcept
      : data_(other.data_), size_(other.size_) {
    other.data_ = nullptr;
    other.size_ = 0;
  }
  ZeroedArray& operator=(ZeroedArray&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    return *this;
  }
  ~ZeroedArray() {
    if (data_ != nullptr) ::munmap(data_, Bytes());
  }

  // Backs every page now instead of at its first write. The daemon calls
  // this for the hash-addressed tables of the indexes before it takes
  // traffic: the first few thousand articles write every page of them, and
  // zeroing those tens of MB then (up to a fifth of a core second on a VM
  // whose memory is fresh) lands on the first second of load. Not
  // thread-safe against concurrent use of the elements; call it before
  // sharing the array. Without MADV_POPULATE_WRITE (Linux < 5.14) it writes
  // a zero byte to each page, which is the same as what is there.
  void Prefault() {
    if (data_ == nullptr) return;
#ifdef MADV_POPULATE_WRITE
    if (::madvise(data_, Bytes(), MADV_POPULATE_WRITE) == 0) return;
#endif
    volatile unsigned char* bytes = reinterpret_cast<unsigned char*>(data_);
    for (size_t offset = 0; offset < Bytes(); offset += 4096) bytes[offset] = 0;
  }

  T& operator[](size_t i) const { return data_[i]; }
  T* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  size_t Bytes() const { return (size_ == 0 ? 1 : size_) * sizeof(T); }

  // Anonymous zero memory of `bytes`. An array of at least one huge page is
  // aligned to huge pages and advised to use them (transparent huge pages in
  // "madvise" mode, the common default): the indexes' lookups land on random
  // cache lines of hundreds of MB, and with 4 KiB pages nearly every one
  // also misses the TLB, whose page walk is a second cache miss.
  static void* MapZeroed(size_t bytes) {
    constexpr size_t kHugePage = size_t{2} << 20;
    const bool huge = bytes >= kHugePage;
    // The extra huge page gives room to align; the unused ends are unmapped.
    const size_t mapped = huge ? bytes + kHugePage : bytes;
    void* memory = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (memory == MAP_FAILED) throw std::bad_alloc();
    if (!huge) return memory;
    const uintptr_t start = reinterpret_cast<uintptr_t>(memory);
    const uintptr_t aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
    if (aligned > start) ::munmap(memory, aligned - start);
    const uintptr_t end = start + mapped;
    if (end > aligned + bytes) {
      ::munmap(reinterpret_cast<void*>(aligned + bytes),
               end - (aligned + bytes));
    }
    // Advice only: without THP support the memory works as before.
    ::madvise(reinterpret_cast<void*>(aligned), bytes, MADV_HUGEPAGE);
    return reinterpret_cast<void*>(aligned);
  }

  T* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace storyd

#endif  // STORYD_CORE_ZEROED_ARRAY_H_
