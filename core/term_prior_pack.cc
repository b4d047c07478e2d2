// term_prior_pack TSV OUT: parses a term prior table (term<TAB>zipf lines)
// and writes it packed (TermPrior::Pack), for the build to link into the
// binary (core/embedded_prior.cc).
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "core/term_prior.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: term_prior_pack TABLE.tsv OUT.bin\n";
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  if (!in) {
    std::cerr << "term_prior_pack: cannot open " << argv[1] << "\n";
    return 1;
  }
  std::stringstream table;
  table << in.rdbuf();
  absl::StatusOr<storyd::TermPrior> prior =
      storyd::TermPrior::Parse(table.str());
  if (!prior.ok()) {
    std::cerr << "term_prior_pack: " << argv[1] << ": "
              << prior.status().message() << "\n";
    return 1;
  }
  const std::string packed = prior->Pack();
  std::ofstream out(argv[2], std::ios::binary | std::ios::trunc);
  out.write(packed.data(), static_cast<std::streamsize>(packed.size()));
  if (!out.flush()) {
    std::cerr << "term_prior_pack: cannot write " << argv[2] << "\n";
    return 1;
  }
  return 0;
}
