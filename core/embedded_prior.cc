// conf/prior/term_prior.tsv linked into the binary as read-only data by the
// assembler's .incbin, so `storyd` needs no data file at run time.
// STORYD_TERM_PRIOR_PATH comes from core/CMakeLists.txt, which also makes
// this file rebuild when the table changes.
__asm__(
    ".section .rodata\n"
    ".global storyd_term_prior_begin\n"
    ".global storyd_term_prior_end\n"
    "storyd_term_prior_begin:\n"
    ".incbin \"" STORYD_TERM_PRIOR_PATH
    "\"\n"
    "storyd_term_prior_end:\n"
    ".byte 0\n"
    ".previous\n");
