// FeatureMemo: the copy features of the texts a worker processed last, so
// that a verbatim copy (the commonest article of a news stream, once its
// boilerplate is stripped) is not tokenized, shingled and fingerprinted
// again, nor are its short lines hashed again for the boilerplate learner.
//
// A small direct-mapped cache, one per worker thread (it lives in
// ProcessScratch): the key is the 128-bit XXH3 of the normalized text the
// features are computed from, so a hit returns exactly what computing them
// would (features are a pure function of that text and the shingle size),
// and whether a text hits never changes an output. A slot holds the last
// text hashed to it; an older one is simply computed again.
//
// Memory: at most `slots` shingle sets, allocated as they are first
// filled (about 1.2 KB each for a 2 KB article), and at most
// kBudgetShingles shingles in all (8 MB): past the budget, older sets make
// room (a clock hand over the slots); a set of more than kMaxShingles (a
// text of about 10 KB and more) is not kept. Short-line hashes, at most
// kMaxShortLines a text, add at most 8 MB, the slots 1.5 MB. So a worker's
// memo stays under 18 MB whatever the input.
//
// Thread safety: none; each worker keeps its own.
#ifndef STORYD_CORE_FEATURE_MEMO_H_
#define STORYD_CORE_FEATURE_MEMO_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/memo_slots.h"
#include "core/text_hash.h"

namespace storyd {

// What the copy tier computes from a normalized text.
struct CopyFeatures {
  uint64_t simhash = 0;
  uint64_t shingle_set_hash = 0;   // ShingleWindow::ContentHash (0: none)
  std::vector<uint32_t> shingles;  // sorted, unique
  // The boilerplate learner's hashes of the same text's short lines
  // (ShortLineHashes with lines of up to short_line_words words), when
  // they are kept with the features; short_line_words 0: they are not.
  std::vector<uint64_t> short_lines;
  size_t short_line_words = 0;
};

class FeatureMemo {
 public:
  using Key = TextHash;

  // `slots` is rounded up to a power of two; 0 turns the memo off (Find
  // never hits, Store keeps nothing). Nothing is allocated before the
  // first Store.
  explicit FeatureMemo(size_t slots = kDefaultSlots);

  // A worker's memo by default: a stream's copies mostly come within a few
  // thousand articles of their original, and a direct-mapped memo loses
  // the share of them whose slot a later text took (38 % at 2,000 texts
  // between copies with 4,096 slots, 11 % with 16,384). About 1.2 KB of
  // shingles a 2 KB text; the budget holds some 7,000.
  static constexpr size_t kDefaultSlots = 16384;
  static constexpr size_t kMaxShingles = 2048;
  static constexpr size_t kBudgetShingles = size_t{1} << 21;
  static constexpr size_t kMaxShortLines = 64;

  static Key KeyOf(std::string_view normalized_text, int shingle_size);

  // The features stored under `key`, or null. Counts a hit.
  const CopyFeatures* Find(const Key& key);
  // The short-line hashes stored under `key` for lines of up to
  // `max_words` words, or null. Counted apart (short_line_hits).
  const std::vector<uint64_t>* FindShortLines(const Key& key, size_t max_words);
  // Keeps a copy of `features` under `key`, in place of what its slot held
  // (nothing when the set has more than kMaxShingles; the slot is then
  // emptied). When it would pass the budget, other slots are emptied in
  // turn until it fits. Its short-line hashes are kept when there are at
  // most kMaxShortLines of them.
  void Store(const Key& key, const CopyFeatures& features);

  size_t slots() const { return slots_.slots(); }
  uint64_t hits() const { return hits_; }
  uint64_t short_line_hits() const { return short_line_hits_; }
  // Shingles the slots' buffers can hold in all (what the memo allocated).
  size_t held_shingles() const { return slots_.held_units(); }

 private:
  static size_t HeldShingles(const CopyFeatures& features) {
    return features.shingles.capacity();
  }

  uint64_t hits_ = 0;
  uint64_t short_line_hits_ = 0;
  MemoSlots<CopyFeatures, HeldShingles> slots_;
};

}  // namespace storyd

#endif  // STORYD_CORE_FEATURE_MEMO_H_
