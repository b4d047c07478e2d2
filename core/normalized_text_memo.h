// Copyright 2024 The storyd Authors.
//
// NormalizedTextMemo: the matching text of the raw bodies a worker cleaned
// last (FoldTypography, the rules' Strip, NormalizeForMatching), so that a
// verbatim copy's body is not folded, stripped and normalized again. Those
// three passes were a fifth of a worker's time on a stream of 80 % copies,
// and the FeatureMemo (core/feature_memo.h), keyed by their output, only
// saves what comes after them.
//
// A small direct-mapped cache, one per worker thread (it lives in
// ProcessScratch): the key is the 128-bit XXH3 of the raw body, seeded with
// the rules' hash, and the cleaning is a pure function of the body and the
// rules, so a hit returns exactly what cleaning would, and whether a body
// hits never changes an output. A slot holds the last text hashed to it.
//
// Memory: at most `slots` texts of at most kMaxTextBytes each, allocated as
// they are first stored, and at most kBudgetBytes in all: past the budget,
// older texts make room (a clock hand over the slots). So a worker's memo
// stays under 17 MB whatever the input (16 MB of texts, 0.9 MB of slots).
//
// Thread safety: none; each worker keeps its own.
#ifndef STORYD_CORE_NORMALIZED_TEXT_MEMO_H_
#define STORYD_CORE_NORMALIZED_TEXT_MEMO_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/memo_slots.h"
#include "core/text_hash.h"

namespace storyd {

class NormalizedTextMemo {
 public:
  using Key = TextHash;

  // `slots` is rounded up to a power of two; 0 turns the memo off (Find
  // never hits, Store keeps nothing). Nothing is allocated before the
  // first Store.
  explicit NormalizedTextMemo(size_t slots = kDefaultSlots);

  // As many as FeatureMemo: a stream's copies mostly come within a few
  // thousand articles of their original, and a direct-mapped memo loses
  // the share of them whose slot a later text took (38 % at 2,000 texts
  // between copies with 4,096 slots, 11 % with 16,384).
  static constexpr size_t kDefaultSlots = 16384;
  static constexpr size_t kMaxTextBytes = 16 * 1024;
  static constexpr size_t kBudgetBytes = size_t{16} << 20;

  // `rules_hash`: BoilerplateStripper::rules_hash64 of the rules that
  // clean it.
  static Key KeyOf(std::string_view raw_body, uint64_t rules_hash);

  // The text stored under `key` (valid until the next Store), or nullopt.
  // Counts a hit.
  std::optional<std::string_view> Find(const Key& key);
  // Keeps a copy of `normalized` under `key`, in place of what its slot
  // held (nothing when it is longer than kMaxTextBytes; the slot is then
  // emptied). When it would pass the budget, other slots are emptied in
  // turn until it fits.
  void Store(const Key& key, std::string_view normalized);

  uint64_t hits() const { return hits_; }
  // Bytes the slots' buffers hold in all (what the memo allocated).
  size_t held_bytes() const { return slots_.held_units(); }

 private:
  static size_t TextBytes(const std::vector<char>& text) {
    return text.capacity();
  }

  uint64_t hits_ = 0;
  MemoSlots<std::vector<char>, TextBytes> slots_;
};

}  // namespace storyd

#endif  // STORYD_CORE_NORMALIZED_TEXT_MEMO_H_
