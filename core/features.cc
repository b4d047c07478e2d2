#include "core/features.h"

#include <xxhash.h>

#include <algorithm>
#include <array>

#include "core/text_normalizer.h"

namespace storyd {

uint64_t SimHash(absl::Span<const uint64_t> feature_hashes) {
  // Per-bit counters, accumulated without a branch per bit: the inner loop
  // adds (hash >> bit) & 1 into 64 lanes, which the compiler vectorizes.
  // Counts fit 32 bits for any realistic article.
  std::array<uint32_t, 64> ones{};
  for (uint64_t hash : feature_hashes) {
    for (int bit = 0; bit < 64; ++bit) {
      ones[bit] += static_cast<uint32_t>((hash >> bit) & 1u);
    }
  }
  const uint64_t total = feature_hashes.size();
  uint64_t fingerprint = 0;
  for (int bit = 0; bit < 64; ++bit) {
    fingerprint |= static_cast<uint64_t>(2ull * ones[bit] > total) << bit;
  }
  return fingerprint;
}

ArticleFeatures ComputeFeatures(std::string_view normalized_text,
                                int shingle_size) {
  ArticleFeatures features;
  std::vector<std::string_view> tokens;
  tokens.reserve(normalized_text.size() / 5 + 1);
  Tokenize(normalized_text, &tokens);
  features.token_count = tokens.size();
  if (tokens.empty()) return features;

  std::vector<uint64_t> token_hashes(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    token_hashes[i] = XXH3_64bits(tokens[i].data(), tokens[i].size());
  }
  const size_t width =
      std::min(tokens.size(), static_cast<size_t>(std::max(1, shingle_size)));
  std::vector<uint64_t> shingle_hashes;
  shingle_hashes.reserve(tokens.size() - width + 1);
  for (size_t i = 0; i + width <= tokens.size(); ++i) {
    shingle_hashes.push_back(
        XXH3_64bits(token_hashes.data() + i, width * sizeof(uint64_t)));
  }
  std::sort(shingle_hashes.begin(), shingle_hashes.end());
  shingle_hashes.erase(
      std::unique(shingle_hashes.begin(), shingle_hashes.end()),
      shingle_hashes.end());
  features.simhash = SimHash(shingle_hashes);

  features.shingles.reserve(shingle_hashes.size());
  for (uint64_t hash : shingle_hashes) {
    features.shingles.push_back(static_cast<uint32_t>(hash));
  }
  std::sort(features.shingles.begin(), features.shingles.end());
  features.shingles.erase(
      std::unique(features.shingles.begin(), features.shingles.end()),
      features.shingles.end());
  return features;
}

size_t IntersectionSize(absl::Span<const uint32_t> a,
                        absl::Span<const uint32_t> b) {
  size_t i = 0, j = 0, shared = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] < b[j]) {
      ++i;
    } else if (b[j] < a[i]) {
      ++j;
    } else {
      ++shared;
      ++i;
      ++j;
    }
  }
  return shared;
}

double Containment(absl::Span<const uint32_t> a, absl::Span<const uint32_t> b) {
  size_t smaller = std::min(a.size(), b.size());
  if (smaller == 0) return 0.0;
  return static_cast<double>(IntersectionSize(a, b)) /
         static_cast<double>(smaller);
}

}  // namespace storyd
