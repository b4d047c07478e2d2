#include "core/features.h"

// XXH3 inlined: a call into libxxhash per shingle costs as much as hashing
// its 24 bytes.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>
#include <array>

#include "core/radix_sort.h"
#include "core/term_prior.h"
#include "core/text_normalizer.h"

namespace storyd {

namespace {

// SimHash of the `count` hashes feature(0) ... feature(count - 1).
template <typename FeatureFn>
uint64_t SimHashOf(size_t count, FeatureFn feature) {
  // Per-bit counts without a branch or a loop per bit: bit-sliced counting.
  // lanes[j] holds eight 8-bit counters, byte k counting bit 8k + j, so one
  // hash costs eight shift-mask-adds; the byte counters are flushed into
  // 32-bit totals every 255 hashes, before they can overflow.
  constexpr uint64_t kLowBitOfEachByte = 0x0101010101010101ull;
  std::array<uint32_t, 64> ones{};
  size_t next = 0;
  while (next < count) {
    const size_t chunk = std::min<size_t>(255, count - next);
    std::array<uint64_t, 8> lanes{};
    for (size_t i = 0; i < chunk; ++i) {
      const uint64_t hash = feature(next + i);
      for (int j = 0; j < 8; ++j) lanes[j] += (hash >> j) & kLowBitOfEachByte;
    }
    for (int j = 0; j < 8; ++j) {
      for (int k = 0; k < 8; ++k)
        ones[8 * k + j] += (lanes[j] >> (8 * k)) & 0xFF;
    }
    next += chunk;
  }
  uint64_t fingerprint = 0;
  for (int bit = 0; bit < 64; ++bit) {
    fingerprint |= static_cast<uint64_t>(2ull * ones[bit] > count) << bit;
  }
  return fingerprint;
}

}  // namespace

uint64_t SimHash(absl::Span<const uint64_t> feature_hashes) {
  return SimHashOf(feature_hashes.size(),
                   [&](size_t i) { return feature_hashes[i]; });
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
  std::vector<std::string_view> tokens;
  tokens.reserve(normalized_text.size() / 5 + 1);
  Tokenize(normalized_text, &tokens);
  std::vector<uint64_t> token_hashes;
  TermHashes(tokens, &token_hashes);
  std::vector<uint32_t> sort_buffer;
  return ComputeFeaturesFromTokenHashes(token_hashes, shingle_size,
                                        &sort_buffer);
}

ArticleFeatures ComputeFeaturesFromTokenHashes(
    absl::Span<const uint64_t> token_hashes, int shingle_size,
    std::vector<uint32_t>* sort_buffer) {
  ArticleFeatures features;
  features.token_count = token_hashes.size();
  if (token_hashes.empty()) return features;
  const size_t width = std::min(token_hashes.size(),
                                static_cast<size_t>(std::max(1, shingle_size)));
  // One sort: the distinct 32-bit shingle values are both the set used for
  // containment and, spread back to 64 bits, the SimHash's features.
  std::vector<uint32_t>& shingles = features.shingles;
  shingles.resize(token_hashes.size() - width + 1);
  for (size_t i = 0; i < shingles.size(); ++i) {
    shingles[i] = static_cast<uint32_t>(
        XXH3_64bits(token_hashes.data() + i, width * sizeof(uint64_t)));
  }
  SortByKey(&shingles, sort_buffer, [](uint32_t value) { return value; });
  shingles.erase(std::unique(shingles.begin(), shingles.end()), shingles.end());
  features.simhash =
      SimHashOf(shingles.size(), [&](size_t i) { return Spread(shingles[i]); });
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
