#include "core/feature_memo.h"

namespace storyd {

FeatureMemo::FeatureMemo(size_t slots) : slots_(slots) {}

FeatureMemo::Key FeatureMemo::KeyOf(std::string_view normalized_text,
                                    int shingle_size) {
  // The shingle size seeds the hash: features of one text at two sizes
  // differ.
  return HashText(normalized_text, static_cast<uint64_t>(shingle_size));
}

const CopyFeatures* FeatureMemo::Find(const Key& key) {
  const CopyFeatures* features = slots_.Find(key);
  if (features != nullptr) ++hits_;
  return features;
}

const std::vector<uint64_t>* FeatureMemo::FindShortLines(const Key& key,
                                                         size_t max_words) {
  const CopyFeatures* features = slots_.Find(key);
  if (features == nullptr || max_words == 0 ||
      features->short_line_words != max_words) {
    return nullptr;
  }
  ++short_line_hits_;
  return &features->short_lines;
}

void FeatureMemo::Store(const Key& key, const CopyFeatures& features) {
  if (features.shingles.size() > kMaxShingles) {
    slots_.Clear(key);
    return;
  }
  // The slot's buffers are reused when they are large enough; a vector's
  // capacity is exact when assign has to grow it.
  slots_.Store(key, features.shingles.size(), kBudgetShingles,
               [&features](CopyFeatures& held) {
                 held.simhash = features.simhash;
                 held.shingle_set_hash = features.shingle_set_hash;
                 held.shingles.assign(features.shingles.begin(),
                                      features.shingles.end());
                 if (features.short_line_words != 0 &&
                     features.short_lines.size() <= kMaxShortLines) {
                   held.short_lines = features.short_lines;
                   held.short_line_words = features.short_line_words;
                 } else {
                   held.short_lines.clear();
                   held.short_line_words = 0;
                 }
               });
}

}  // namespace storyd
