// Copy-detection features of a cleaned article: word shingles hashed with
// XXH3 and a 64-bit SimHash over them.
//
// A shingle is `shingle_size` consecutive tokens (3 by default). Each token
// is hashed once with XXH3-64; a shingle's hash is XXH3-64 over its tokens'
// hashes, so no shingle string is ever built. Texts shorter than one
// shingle get a single shingle of all their tokens.
//
//   simhash   : bit b is set when more than half of the distinct shingles
//               have bit b set (unweighted Charikar SimHash).
//   shingles  : the distinct shingle hashes truncated to 32 bits, sorted
//               ascending. The smallest ones double as anchors (a bottom-k
//               sample) for the shingle window.
//
// Example:
//   ArticleFeatures f = ComputeFeatures(NormalizeForMatching(cleaned), 3);
//   int d = HammingDistance(f.simhash, other.simhash);
//   double c = Containment(f.shingles, other.shingles);
//
// Thread safety: pure functions.
#ifndef STORYD_CORE_FEATURES_H_
#define STORYD_CORE_FEATURES_H_

#include <bit>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/types/span.h"

namespace storyd {

struct ArticleFeatures {
  uint64_t simhash = 0;
  std::vector<uint32_t> shingles;  // sorted, unique
  size_t token_count = 0;
};

// Computes the features of normalized text (see NormalizeForMatching).
ArticleFeatures ComputeFeatures(std::string_view normalized_text,
                                int shingle_size);

// The same from the TermHash of each token of the text (Tokenize, then
// TermHashes), for a caller that has them already. `sort_buffer` is scratch
// space, reused across calls to save its allocation.
ArticleFeatures ComputeFeaturesFromTokenHashes(
    absl::Span<const uint64_t> token_hashes, int shingle_size,
    std::vector<uint32_t>* sort_buffer);

// 64-bit SimHash of a set of 64-bit feature hashes.
uint64_t SimHash(absl::Span<const uint64_t> feature_hashes);

inline int HammingDistance(uint64_t a, uint64_t b) {
  return std::popcount(a ^ b);
}

// |a ∩ b| of two sorted unique vectors.
size_t IntersectionSize(absl::Span<const uint32_t> a,
                        absl::Span<const uint32_t> b);

// |a ∩ b| / min(|a|, |b|); 0 when either is empty. This is the measure the
// copy decision uses: a trimmed copy is contained in its original.
double Containment(absl::Span<const uint32_t> a, absl::Span<const uint32_t> b);

}  // namespace storyd

#endif  // STORYD_CORE_FEATURES_H_
