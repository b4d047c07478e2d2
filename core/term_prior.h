// TermPrior: how common each word is in general news language, so that term
// weights are right from the first article.
//
// Document frequencies learned only from the stream fail at a cold start:
// with five articles about one event, every shared word looks common and
// "Antonov" weighs no more than "Russia". The prior is a table of Zipf
// frequencies (log10 of occurrences per billion words; "the" 7.7, "said"
// 6.0, "russia" 4.9, "antonov" 2.4) for the main news languages, built from
// the wordfreq word lists by conf/prior/build_term_prior.py and compiled into
// the binary (conf/prior/LICENSE.md gives its licence) as the table itself:
// the build packs the TSV (term_prior_pack, Pack) and the binary views the
// packed slots in place (View), so a start parses nothing (parsing the TSV
// took about 8 ms of every `storyd` command).
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

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
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
  // Moves keep the slots where they are (a vector's buffer moves with it)
  // and leave an empty table behind; a copy would point at the original's,
  // so there is none.
  TermPrior(TermPrior&& other) noexcept { *this = std::move(other); }
  TermPrior& operator=(TermPrior&& other) noexcept {
    if (this == &other) return *this;
    owned_slots_ = std::move(other.owned_slots_);
    slots_ = std::exchange(other.slots_, nullptr);
    slot_count_ = std::exchange(other.slot_count_, 0);
    shift_ = std::exchange(other.shift_, 64);
    size_ = std::exchange(other.size_, 0);
    low_key_zipf_centi_ =
        std::exchange(other.low_key_zipf_centi_, std::nullopt);
    return *this;
  }
  TermPrior(const TermPrior&) = delete;
  TermPrior& operator=(const TermPrior&) = delete;

  // Parses "term<TAB>zipf" lines ('#' lines are comments).
  static absl::StatusOr<TermPrior> Parse(std::string_view table);
  // The table as bytes that View reads back: a header, then the slots
  // (native byte order, as the build and the binary share a machine).
  std::string Pack() const;
  // A table over `packed` (Pack's bytes, 8-byte aligned, which must outlive
  // it), without copying the slots.
  static absl::StatusOr<TermPrior> View(std::string_view packed);
  // The table shipped in conf/prior/term_prior.tsv, compiled in.
  static const TermPrior& Embedded();

  // Zipf frequency of a term, or nullopt when the table does not know it.
  // Inline: it runs once per distinct term of every article.
  std::optional<float> Zipf(uint64_t term_hash) const {
    if ((term_hash & ~kValueMask) == 0) {
      if (!low_key_zipf_centi_.has_value()) return std::nullopt;
      return kZipfOfCenti[*low_key_zipf_centi_];
    }
    if (slot_count_ == 0) return std::nullopt;
    const uint64_t slot = slots_[SlotOf(term_hash)];
    if (slot == 0) return std::nullopt;
    return kZipfOfCenti[slot & kValueMask];
  }
  // Starts loading the slot a later Zipf(term_hash) reads first: a lookup
  // is a cache miss in a table of megabytes.
  void Prefetch(uint64_t term_hash) const {
    if (slot_count_ != 0) __builtin_prefetch(&slots_[term_hash >> shift_]);
  }
  size_t size() const { return size_; }

 private:
  // Sets the Zipf x 100 of a term (the last setting wins).
  void Set(uint64_t term_hash, uint16_t zipf_centi);
  // Where `term_hash` is, or the empty slot where it would go.
  size_t SlotOf(uint64_t term_hash) const {
    // shift_ < 64: the table has at least two slots.
    const size_t mask = slot_count_ - 1;
    const uint64_t key = term_hash & ~kValueMask;
    size_t slot = static_cast<size_t>(term_hash >> shift_);
    while (slots_[slot] != 0 && (slots_[slot] & ~kValueMask) != key) {
      slot = (slot + 1) & mask;
    }
    return slot;
  }

  // A slot holds a term's hash with its low kValueBits bits replaced by its
  // Zipf x 100 (at most 1200), so that a lookup reads one word, one cache
  // miss, where a separate value array made two. The 53 bits left tell
  // terms apart as well as the whole hash did for a table this size.
  static constexpr int kValueBits = 11;
  static constexpr uint64_t kValueMask = (uint64_t{1} << kValueBits) - 1;
  // Zipf x 100 back to the Zipf value, centi / 100.0f as a division would
  // round it, without a division per lookup.
  static constexpr std::array<float, kValueMask + 1> kZipfOfCenti = [] {
    std::array<float, kValueMask + 1> zipf{};
    for (size_t centi = 0; centi < zipf.size(); ++centi)
      zipf[centi] = static_cast<float>(centi) / 100.0f;
    return zipf;
  }();
  // Linear probing from the top bits of the hash (an XXH3 value, so
  // uniform). Slot 0 marks an empty slot; a term whose hash has no bit above
  // the value bits, should there be one, is kept aside.
  // slots_ points into owned_slots_ (Parse) or into packed bytes (View).
  std::vector<uint64_t> owned_slots_;
  const uint64_t* slots_ = nullptr;
  size_t slot_count_ = 0;
  int shift_ = 64;  // 64 - log2(slot_count_)
  size_t size_ = 0;
  std::optional<uint16_t> low_key_zipf_centi_;
};

}  // namespace storyd

#endif  // STORYD_CORE_TERM_PRIOR_H_
