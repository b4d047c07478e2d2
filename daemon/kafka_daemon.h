// `storyd run`: the Kafka daemon.
//
// Threads:
//   main       restore; consumer and changelog poll loop, the ordered stage
//              (copy and story decisions, and other instances' changes, in
//              sequence order), producing outputs, dead letters, changelog
//              records and merge announcements, delivery reports,
//              transaction (or offset) commits, rewind after an abort,
//              backpressure, systemd notifications
//   workers    parse, strip, fingerprint, copy-index insert and search,
//              story terms (core/pipeline.h ArticleProcessor)
//   signals    waits for SIGTERM/SIGINT and asks the main loop to drain,
//              and for SIGHUP, on which the main loop reloads the rules
//   metrics    the HTTP endpoint (/metrics, /healthz, /readyz)
//   librdkafka its own I/O threads
//
// State: every index change goes to the compacted changelog topic
// (core/state_record.h, daemon/changelog.h); the daemon restores from it
// before it consumes and follows the other instances' changes while it runs.
//
// Delivery: exactly once by default. Outputs, dead letters, changelog
// records and the input offsets commit in one transaction; an aborted
// transaction makes the daemon rebuild its state from the changelog and read
// the input again from the committed offsets. At least once
// (kafka.exactly_once = false): an input offset is committed only once the
// broker has acknowledged every record produced for it and for every earlier
// message of its partition. On partition revocation and on shutdown,
// everything in flight is drained and committed first.
#ifndef STORYD_DAEMON_KAFKA_DAEMON_H_
#define STORYD_DAEMON_KAFKA_DAEMON_H_

#include <iosfwd>

#include "daemon/config.h"

namespace storyd {

struct DaemonOptions {
  // Start librdkafka's mock cluster in-process and use it as the broker.
  bool embedded_broker = false;
  // Partitions of the input topic on the embedded broker.
  int embedded_partitions = 4;
};

// Runs until SIGTERM or SIGINT; returns the process exit code (0 after a
// clean drain). SIGHUP reloads the boilerplate rules file.
int RunDaemon(const StorydConfig& config, const DaemonOptions& options,
              std::ostream& out, std::ostream& log);

}  // namespace storyd

#endif  // STORYD_DAEMON_KAFKA_DAEMON_H_
