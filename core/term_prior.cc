#include "core/term_prior.h"

// XXH3 inlined: a call into libxxhash per token costs as much as hashing it.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <bit>
#include <charconv>
#include <utility>

#include "core/strings.h"

// conf/prior/term_prior.tsv, linked in by the assembler (see
// embedded_prior.S); the bytes end with a NUL that is not part of the table.
extern "C" const char storyd_term_prior_begin[];
extern "C" const char storyd_term_prior_end[];

namespace storyd {

uint64_t TermHash(std::string_view token) {
  return XXH3_64bits(token.data(), token.size());
}

void TermHashes(absl::Span<const std::string_view> tokens,
                std::vector<uint64_t>* hashes) {
  hashes->resize(tokens.size());
  uint64_t* out = hashes->data();
  for (std::string_view token : tokens) *out++ = TermHash(token);
}

absl::StatusOr<TermPrior> TermPrior::Parse(std::string_view table) {
  // Zipf x 100 must fit the value bits of a slot.
  constexpr float kMaxZipf = 12;
  static_assert(kMaxZipf * 100 + 0.5f < kValueMask + 1);
  std::vector<std::pair<uint64_t, uint16_t>> entries;
  int line_number = 0;
  for (std::string_view line : Split(table, '\n')) {
    ++line_number;
    if (line.empty() || line[0] == '#') continue;
    size_t tab = line.find('\t');
    float zipf = 0;
    const char* end = line.data() + line.size();
    if (tab == std::string_view::npos || tab == 0 ||
        std::from_chars(line.data() + tab + 1, end, zipf).ptr != end ||
        !(zipf >= 0 && zipf <= kMaxZipf)) {  // NaN fails both
      return absl::InvalidArgumentError(
          StrCat("term prior line ", line_number, ": expected term<TAB>zipf"));
    }
    entries.emplace_back(TermHash(line.substr(0, tab)),
                         static_cast<uint16_t>(zipf * 100 + 0.5f));
  }
  TermPrior prior;
  // At most half full: short probes, also for the words it does not know.
  const size_t slots = std::bit_ceil(2 * entries.size() + 2);
  prior.slots_.assign(slots, 0);
  prior.shift_ = 64 - std::countr_zero(slots);
  for (const auto& [hash, zipf_centi] : entries) prior.Set(hash, zipf_centi);
  return prior;
}

void TermPrior::Set(uint64_t term_hash, uint16_t zipf_centi) {
  if ((term_hash & ~kValueMask) == 0) {
    if (!low_key_zipf_centi_.has_value()) ++size_;
    low_key_zipf_centi_ = zipf_centi;
    return;
  }
  const size_t slot = SlotOf(term_hash);
  if (slots_[slot] == 0) ++size_;
  slots_[slot] = (term_hash & ~kValueMask) | zipf_centi;
}

const TermPrior& TermPrior::Embedded() {
  // Parsed once, on first use; a broken shipped table is a build defect.
  static const TermPrior* const prior = [] {
    std::string_view table(
        storyd_term_prior_begin,
        static_cast<size_t>(storyd_term_prior_end - storyd_term_prior_begin));
    absl::StatusOr<TermPrior> parsed = Parse(table);
    return new TermPrior(parsed.ok() ? std::move(*parsed) : TermPrior());
  }();
  return *prior;
}

}  // namespace storyd
