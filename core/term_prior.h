// TermPrior: how common each word is in general news language, so that term
// weights are right from the first article.
//
// Document frequencies learned only from the stream fail at a cold start:
// with five articles about one event, every shared word looks common and
// "Antonov" weighs no more than "Russia". The prior is a table of Zipf
// frequencies (log10 of occurrences per billion words; "the" 7.7, "said"
// 6.0, "russia" 4.9, "antonov" 2.4) for the main news languages, built from
// the wordfreq word lists by conf/prior/build_term_prior.py and compiled into
// the binary (conf/prior/LICENSE.md gives its licence).
//
// Terms are keyed by XXH3-64 of the normalized token (see TermHash), in an
// open-addressing table of at most half load: about 16 bytes a term.
//
// Example:
//   TermPrior prior = TermPrior::Embedded();
//   float zipf = prior.Zipf(TermHash("antonov"));  // 2.42
//
// Thread safety: immutable after construction; share it freely.
#ifndef STORYD_CORE_TERM_PRIOR_H_
#define STORYD_CORE_TERM_PRIOR_H_

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace storyd {

// The key of a normalized token in every term table.
uint64_t TermHash(std::string_view token);
// TermHash of each token, into *hashes (resized to tokens.size()).
void TermHashes(absl::Span<const std::string_view> tokens,
                std::vector<uint64_t>* hashes);

class TermPrior {
 public:
  TermPrior() = default;

  // Parses "term<TAB>zipf" lines ('#' lines are comments).
  static absl::StatusOr<TermPrior> Parse(std::string_view table);
  // The table shipped in conf/prior/term_prior.tsv, compiled in.
  static const TermPrior& Embedded();

  // Zipf frequency of a term, or nullopt when the table does not know it.
  std::optional<float> Zipf(uint64_t term_hash) const;
  // Starts loading the slot a later Zipf(term_hash) reads first: a lookup
  // is a cache miss in a table of megabytes.
  void Prefetch(uint64_t term_hash) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[term_hash >> shift_]);
  }
  size_t size() const { return size_; }

 private:
  // Sets the Zipf x 100 of a term (the last setting wins).
  void Set(uint64_t term_hash, uint16_t zipf_centi);
  // Where `term_hash` is, or the empty slot where it would go.
  size_t SlotOf(uint64_t term_hash) const;

  // A slot holds a term's hash with its low kValueBits bits replaced by its
  // Zipf x 100 (at most 1200), so that a lookup reads one word, one cache
  // miss, where a separate value array made two. The 53 bits left tell
  // terms apart as well as the whole hash did for a table this size.
  static constexpr int kValueBits = 11;
  static constexpr uint64_t kValueMask = (uint64_t{1} << kValueBits) - 1;
  // Linear probing from the top bits of the hash (an XXH3 value, so
  // uniform). Slot 0 marks an empty slot; a term whose hash has no bit above
  // the value bits, should there be one, is kept aside.
  std::vector<uint64_t> slots_;
  int shift_ = 64;  // 64 - log2(slots_.size())
  size_t size_ = 0;
  std::optional<uint16_t> low_key_zipf_centi_;
};

}  // namespace storyd

#endif  // STORYD_CORE_TERM_PRIOR_H_
