// A stable sort by an unsigned integer key for the per-article hash arrays
// (a few hundred shingle or term hashes): faster there than std::sort,
// whose comparisons of random hashes mispredict about every other branch.
//
// Two counting-sort passes order the values by the top 16 bits of their
// keys; keys are hashes, so values that share those bits are rare and an
// insertion sort finishes the job with few moves. Should the insertion sort
// need many moves (keys crafted to share their top bits, or many equal
// top bits for another reason), std::stable_sort takes over, so the worst
// case stays O(n log n).
//
// Example:
//   std::vector<uint32_t> values = ..., buffer;
//   SortByKey(&values, &buffer, [](uint32_t v) { return v; });
//
// Thread safety: none needed; `buffer` is scratch space the caller owns
// (reusing it across calls saves an allocation). *values keeps its storage.
#ifndef STORYD_CORE_RADIX_SORT_H_
#define STORYD_CORE_RADIX_SORT_H_

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace storyd {

// Sorts *values by key(value) ascending; values with equal keys keep their
// order. `key` returns an unsigned integer of at least 16 bits. *buffer is
// overwritten.
template <typename T, typename KeyFn>
void SortByKey(std::vector<T>* values, std::vector<T>* buffer, KeyFn key) {
  using Key = std::decay_t<decltype(key(std::declval<const T&>()))>;
  static_assert(std::is_unsigned_v<Key> && sizeof(Key) >= 2);
  constexpr int kShift = 8 * static_cast<int>(sizeof(Key)) - 16;
  std::vector<T>& v = *values;
  const size_t n = v.size();
  if (n < 2) return;
  if (n > 32) {
    // Both byte histograms in one pass, then one scatter per byte (low
    // byte first: each pass is stable, so the second keeps the first's
    // order within its buckets).
    std::array<std::array<uint32_t, 256>, 2> counts{};
    for (const T& value : v) {
      const Key k = key(value);
      ++counts[0][(k >> kShift) & 0xFF];
      ++counts[1][(k >> (kShift + 8)) & 0xFF];
    }
    buffer->resize(n);
    T* from = v.data();
    T* to = buffer->data();
    for (int pass = 0; pass < 2; ++pass) {
      std::array<uint32_t, 256>& count = counts[pass];
      const int shift = kShift + 8 * pass;
      // A byte every value shares orders nothing.
      if (count[(key(from[0]) >> shift) & 0xFF] == n) continue;
      uint32_t offset = 0;
      for (uint32_t& c : count) {
        const uint32_t here = c;
        c = offset;
        offset += here;
      }
      for (size_t i = 0; i < n; ++i)
        to[count[(key(from[i]) >> shift) & 0xFF]++] = from[i];
      std::swap(from, to);
    }
    // *values keeps its own storage.
    if (from != v.data()) std::copy(from, from + n, v.data());
  }
  // Insertion sort by the whole key; stable, as it moves a value only past
  // greater keys.
  const size_t move_budget = 8 * n + 64;
  size_t moves = 0;
  for (size_t i = 1; i < n; ++i) {
    if (!(key(v[i]) < key(v[i - 1]))) continue;
    T value = v[i];
    const Key k = key(value);
    size_t j = i;
    do {
      v[j] = v[j - 1];
      --j;
    } while (j > 0 && k < key(v[j - 1]));
    v[j] = value;
    moves += i - j;
    if (moves > move_budget) {
      std::stable_sort(v.begin(), v.end(),
                       [&](const T& a, const T& b) { return key(a) < key(b); });
      return;
    }
  }
}

}  // namespace storyd

#endif  // STORYD_CORE_RADIX_SORT_H_
