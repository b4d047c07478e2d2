#include "core/term_prior.h"

#include <xxhash.h>

#include <charconv>

#include "core/strings.h"

// conf/prior/term_prior.tsv, linked in by the assembler (see
// embedded_prior.S); the bytes end with a NUL that is not part of the table.
extern "C" const char storyd_term_prior_begin[];
extern "C" const char storyd_term_prior_end[];

namespace storyd {

uint64_t TermHash(std::string_view token) {
  return XXH3_64bits(token.data(), token.size());
}

absl::StatusOr<TermPrior> TermPrior::Parse(std::string_view table) {
  TermPrior prior;
  int line_number = 0;
  for (std::string_view line : Split(table, '\n')) {
    ++line_number;
    if (line.empty() || line[0] == '#') continue;
    size_t tab = line.find('\t');
    float zipf = 0;
    const char* end = line.data() + line.size();
    if (tab == std::string_view::npos || tab == 0 ||
        std::from_chars(line.data() + tab + 1, end, zipf).ptr != end ||
        zipf < 0 || zipf > 12) {
      return absl::InvalidArgumentError(
          StrCat("term prior line ", line_number, ": expected term<TAB>zipf"));
    }
    prior.zipf_centi_[TermHash(line.substr(0, tab))] =
        static_cast<uint16_t>(zipf * 100 + 0.5f);
  }
  return prior;
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

std::optional<float> TermPrior::Zipf(uint64_t term_hash) const {
  auto it = zipf_centi_.find(term_hash);
  if (it == zipf_centi_.end()) return std::nullopt;
  return static_cast<float>(it->second) / 100.0f;
}

}  // namespace storyd
