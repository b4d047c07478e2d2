#include "core/features.h"

#include <xxhash.h>

#include <algorithm>
#include <array>

#include "core/text_normalizer.h"

namespace storyd {

uint64_t SimHash(absl::Span<const uint64_t> feature_hashes) {
  // Per-bit counts without a branch or a loop per bit: bit-sliced counting.
  // lanes[j] holds eight 8-bit counters, byte k counting bit 8k + j, so one
  // hash costs eight shift-mask-adds; the byte counters are flushed into
  // 32-bit totals every 255 hashes, before they can overflow.
  constexpr uint64_t kLowBitOfEachByte = 0x0101010101010101ull;
  std::array<uint32_t, 64> ones{};
  size_t next = 0;
  while (next < feature_hashes.size()) {
    const size_t chunk = std::min<size_t>(255, feature_hashes.size() - next);
    std::array<uint64_t, 8> lanes{};
    for (size_t i = 0; i < chunk; ++i) {
      const uint64_t hash = feature_hashes[next + i];
      for (int j = 0; j < 8; ++j) lanes[j] += (hash >> j) & kLowBitOfEachByte;
    }
    for (int j = 0; j < 8; ++j) {
      for (int k = 0; k < 8; ++k)
        ones[8 * k + j] += (lanes[j] >> (8 * k)) & 0xFF;
    }
    next += chunk;
  }
  const uint64_t total = feature_hashes.size();
  uint64_t fingerprint = 0;
  for (int bit = 0; bit < 64; ++bit) {
    fingerprint |= static_cast<uint64_t>(2ull * ones[bit] > total) << bit;
  }
  return fingerprint;
}

namespace {

// SplitMix64's finalizer: spreads a 32-bit shingle value over 64 bits for
// the SimHash.
uint64_t Spread(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

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
  // One sort: the distinct 32-bit shingle values are both the set used for
  // containment and, spread back to 64 bits, the SimHash's features.
  features.shingles.reserve(tokens.size() - width + 1);
  for (size_t i = 0; i + width <= tokens.size(); ++i) {
    features.shingles.push_back(static_cast<uint32_t>(
        XXH3_64bits(token_hashes.data() + i, width * sizeof(uint64_t))));
  }
  std::sort(features.shingles.begin(), features.shingles.end());
  features.shingles.erase(
      std::unique(features.shingles.begin(), features.shingles.end()),
      features.shingles.end());
  std::vector<uint64_t> spread(features.shingles.size());
  for (size_t i = 0; i < spread.size(); ++i)
    spread[i] = Spread(features.shingles[i]);
  features.simhash = SimHash(spread);
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
