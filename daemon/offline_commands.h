// The offline commands of `storyd`: dedup, strip, explain and score. They
// share the core pipeline with the Kafka daemon and read JSON Lines.
//
// Exit codes (also in README.md):
//   0  every input record was processed
//   1  the run finished, but some records were rejected (see stderr)
//   2  usage or configuration error
//   3  an input or output file could not be read or written
#ifndef STORYD_DAEMON_OFFLINE_COMMANDS_H_
#define STORYD_DAEMON_OFFLINE_COMMANDS_H_

#include <iosfwd>
#include <string>

#include "daemon/config.h"

namespace storyd {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRejectedInput = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitIo = 3;

// How `dedup`'s input arrives.
enum class DedupInput {
  // Records may come slowly (a pipe): each batch is processed as soon as it
  // is read.
  kStream,
  // The whole input is there to be read (a regular file, a string): dedup
  // reads up to 64 MB ahead, and an input that ends within that gets a copy
  // index of its own size.
  kComplete,
};

// JSON Lines of articles in, one assignment per article out, in input order.
// Rejected records are reported on `log` with their line number and reason,
// then counted in a summary.
int RunDedup(const StorydConfig& config, std::istream& in, std::ostream& out,
             std::ostream& log, DedupInput input = DedupInput::kStream);

// For each article: its id, the cleaned text and what was removed.
int RunStrip(const StorydConfig& config, std::istream& in, std::ostream& out,
             std::ostream& log);

// Why two articles (each a JSON file) are or are not copies.
int RunExplain(const StorydConfig& config, const std::string& path_a,
               const std::string& path_b, std::ostream& out, std::ostream& log);

// Runs dedup over a labeled input and prints the quality figures against
// its gold TSV, with the run's throughput.
int RunEvaluate(const StorydConfig& config, const std::string& input_path,
                const std::string& gold_path, std::ostream& out,
                std::ostream& log);

// Quality figures of an output file against a gold TSV.
int RunScore(const std::string& gold_path, const std::string& output_path,
             bool json, std::ostream& out, std::ostream& log);

}  // namespace storyd

#endif  // STORYD_DAEMON_OFFLINE_COMMANDS_H_
