// Small Kafka clients for operators and the demo: feed a topic from a JSON
// Lines file, and print a topic's records.
#ifndef STORYD_DAEMON_KAFKA_TOOLS_H_
#define STORYD_DAEMON_KAFKA_TOOLS_H_

#include <iosfwd>
#include <map>
#include <string>

namespace storyd {

struct ProduceOptions {
  std::string brokers;
  std::string topic;
  // The record key is the line's "id" when it has one.
  bool key_by_id = true;
  // Records per second to offer (0 = as fast as the broker takes them).
  double rate = 0;
};

// Produces every non-blank line of `in` as one record; waits for the broker
// to acknowledge all of them. Returns an exit code.
int RunProduce(const ProduceOptions& options, std::istream& in,
               std::ostream& log);

struct ConsumeOptions {
  std::string brokers;
  std::string topic;
  size_t count = 0;             // stop after this many records (0 = until idle)
  int idle_timeout_ms = 10000;  // stop when nothing arrives for this long
  bool with_headers = false;    // print headers (dead letters carry reasons)
  bool with_timestamps = false;  // print the record's timestamp (ms) and key
};

// Prints the topic's records from the beginning, one value a line.
int RunConsume(const ConsumeOptions& options, std::ostream& out,
               std::ostream& log);

}  // namespace storyd

#endif  // STORYD_DAEMON_KAFKA_TOOLS_H_
