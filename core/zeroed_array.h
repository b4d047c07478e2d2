// ZeroedArray<T>: a fixed-size array of page-aligned anonymous memory (mmap),
// for the large rings of the lock-free indexes.
//
// Why: the indexes allocate their whole capacity at start-up (hundreds of
// MB by default) so that memory never grows. Constructing every element
// would touch every page at once; anonymous mmap gets zero pages from the
// kernel, which are only backed when first written. The
// indexes' elements are std::atomic integers (or structs of them) whose
// initial state is all-zero bits, so the zero pages *are* their initial
// state and no constructor runs. T must be trivially destructible and its
// all-zero representation must be its default state; the static_asserts
// check what the type system can.
//
// Thread safety: the array itself is immutable after construction; its
// elements are what callers synchronize.
#ifndef STORYD_CORE_ZEROED_ARRAY_H_
#define STORYD_CORE_ZEROED_ARRAY_H_

#include <sys/mman.h>

#include <cstddef>
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
    void* memory = ::mmap(nullptr, Bytes(), PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (memory == MAP_FAILED) throw std::bad_alloc();
    data_ = static_cast<T*>(memory);
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

  T& operator[](size_t i) const { return data_[i]; }
  T* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  size_t Bytes() const { return (size_ == 0 ? 1 : size_) * sizeof(T); }

  T* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace storyd

#endif  // STORYD_CORE_ZEROED_ARRAY_H_
