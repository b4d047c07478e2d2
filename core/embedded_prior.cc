// The term prior (conf/prior/term_prior.tsv), packed at build time by
// term_prior_pack (core/term_prior_pack.cc) and linked into the binary as
// read-only data by the assembler's .incbin, so `storyd` needs no data file
// at run time and parses nothing at start-up. STORYD_TERM_PRIOR_PACKED comes
// from core/CMakeLists.txt, which also makes this file rebuild when the
// table changes.
#include <string_view>

#include "core/term_prior.h"

__asm__(
    ".section .rodata\n"
    ".balign 8\n"
    ".global storyd_term_prior_begin\n"
    ".global storyd_term_prior_end\n"
    "storyd_term_prior_begin:\n"
    ".incbin \"" STORYD_TERM_PRIOR_PACKED
    "\"\n"
    "storyd_term_prior_end:\n"
    ".previous\n");

extern "C" const char storyd_term_prior_begin[];
extern "C" const char storyd_term_prior_end[];

namespace storyd {

const TermPrior& TermPrior::Embedded() {
  // Viewed once, on first use; a broken packed table is a build defect
  // (TermPriorTest.EmbeddedTableIsTheShippedOne).
  static const TermPrior* const prior = [] {
    std::string_view packed(
        storyd_term_prior_begin,
        static_cast<size_t>(storyd_term_prior_end - storyd_term_prior_begin));
    absl::StatusOr<TermPrior> viewed = View(packed);
    return new TermPrior(viewed.ok() ? std::move(*viewed) : TermPrior());
  }();
  return *prior;
}

}  // namespace storyd
