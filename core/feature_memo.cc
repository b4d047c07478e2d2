#include "core/feature_memo.h"

#include <xxhash.h>

#include <algorithm>
#include <bit>

namespace storyd {

FeatureMemo::FeatureMemo(size_t slots)
    : slots_(slots == 0 ? 0 : std::bit_ceil(slots)) {}

FeatureMemo::Key FeatureMemo::KeyOf(std::string_view normalized_text,
                                    int shingle_size) {
  // The shingle size seeds the hash: features of one text at two sizes
  // differ.
  const XXH128_hash_t hash =
      XXH3_128bits_withSeed(normalized_text.data(), normalized_text.size(),
                            static_cast<XXH64_hash_t>(shingle_size));
  return {hash.low64, hash.high64};
}

const CopyFeatures* FeatureMemo::Held(const Key& key) const {
  if (entries_.empty()) return nullptr;
  const Entry& entry = entries_[SlotOf(key)];
  return entry.filled && entry.key == key ? &entry.features : nullptr;
}

const CopyFeatures* FeatureMemo::Find(const Key& key) {
  const CopyFeatures* features = Held(key);
  if (features != nullptr) ++hits_;
  return features;
}

const std::vector<uint64_t>* FeatureMemo::FindShortLines(const Key& key,
                                                         size_t max_words) {
  const CopyFeatures* features = Held(key);
  if (features == nullptr || max_words == 0 ||
      features->short_line_words != max_words) {
    return nullptr;
  }
  ++short_line_hits_;
  return &features->short_lines;
}

void FeatureMemo::Store(const Key& key, const CopyFeatures& features) {
  if (slots_ == 0) return;
  if (entries_.empty()) entries_.resize(slots_);
  Entry& entry = entries_[SlotOf(key)];
  std::vector<uint32_t>& held = entry.features.shingles;
  const size_t wanted = features.shingles.size();
  const size_t before = held.capacity();
  // The slot's buffer is reused when it is large enough, else replaced by
  // one of the set's size.
  if (wanted > kMaxShingles) {
    // Not kept: the slot is emptied and its buffer given back.
    held_shingles_ -= before;
    entry = Entry{};
    return;
  }
  // Past the budget, other slots are emptied in turn (a clock hand): the
  // newest set is always kept.
  while (held_shingles_ - before + std::max(before, wanted) > kBudgetShingles) {
    Entry& victim = entries_[evict_cursor_];
    evict_cursor_ = (evict_cursor_ + 1) & (entries_.size() - 1);
    if (&victim == &entry) continue;
    held_shingles_ -= victim.features.shingles.capacity();
    victim = Entry{};
  }
  entry.filled = true;
  entry.key = key;
  entry.features.simhash = features.simhash;
  entry.features.shingle_set_hash = features.shingle_set_hash;
  held.assign(features.shingles.begin(), features.shingles.end());
  held_shingles_ = held_shingles_ - before + held.capacity();
  if (features.short_line_words != 0 &&
      features.short_lines.size() <= kMaxShortLines) {
    entry.features.short_lines = features.short_lines;
    entry.features.short_line_words = features.short_line_words;
  } else {
    entry.features.short_lines.clear();
    entry.features.short_line_words = 0;
  }
}

}  // namespace storyd
