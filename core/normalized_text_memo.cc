// Copyright 2024 The storyd Authors.
#include "core/normalized_text_memo.h"

#include <xxhash.h>

#include <algorithm>
#include <bit>

namespace storyd {

NormalizedTextMemo::NormalizedTextMemo(size_t slots)
    : slots_(slots == 0 ? 0 : std::bit_ceil(slots)) {}

NormalizedTextMemo::Key NormalizedTextMemo::KeyOf(std::string_view raw_body,
                                                  uint64_t rules_hash) {
  const XXH128_hash_t hash =
      XXH3_128bits_withSeed(raw_body.data(), raw_body.size(), rules_hash);
  return {hash.low64, hash.high64};
}

std::optional<std::string_view> NormalizedTextMemo::Find(const Key& key) {
  if (entries_.empty()) return std::nullopt;
  const Entry& entry = entries_[SlotOf(key)];
  if (!entry.filled || entry.key != key) return std::nullopt;
  ++hits_;
  return std::string_view(entry.text.data(), entry.text.size());
}

void NormalizedTextMemo::Store(const Key& key, std::string_view normalized) {
  if (slots_ == 0) return;
  if (entries_.empty()) entries_.resize(slots_);
  Entry& entry = entries_[SlotOf(key)];
  const size_t before = entry.text.capacity();
  if (normalized.size() > kMaxTextBytes) {
    // Not kept: the slot is emptied and its buffer given back.
    held_bytes_ -= before;
    entry = Entry{};
    return;
  }
  // The slot's buffer is reused when it is large enough, else replaced by
  // one of the text's size.
  const size_t after = std::max(before, normalized.size());
  // Past the budget, other slots are emptied in turn (a clock hand): the
  // newest text is always kept.
  while (held_bytes_ - before + after > kBudgetBytes) {
    Entry& victim = entries_[evict_cursor_];
    evict_cursor_ = (evict_cursor_ + 1) & (entries_.size() - 1);
    if (&victim == &entry) continue;
    held_bytes_ -= victim.text.capacity();
    victim = Entry{};
  }
  entry.filled = true;
  entry.key = key;
  // (A vector's capacity is exact: empty is 0, and assign past it
  // allocates the size.)
  entry.text.assign(normalized.begin(), normalized.end());
  held_bytes_ = held_bytes_ - before + entry.text.capacity();
}

}  // namespace storyd
