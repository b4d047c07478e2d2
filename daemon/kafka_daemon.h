// `storyd run`: the Kafka daemon.
//
// Threads:
//   main       consumer poll loop, the ordered stage (copy and story
//              decisions, in consumption order), producing outputs and dead
//              letters, delivery reports, offset commits, backpressure,
//              systemd notifications
//   workers    parse, strip, fingerprint, copy-index insert and search,
//              story terms (core/pipeline.h ArticleProcessor)
//   signals    waits for SIGTERM/SIGINT and asks the main loop to drain
//   metrics    the HTTP endpoint (/metrics, /healthz, /readyz)
//   librdkafka its own I/O threads
//
// Delivery: at least once. An input offset is committed only once the
// broker has acknowledged the output record (or dead letter) of that
// message and of every earlier message of its partition. On partition
// revocation and on shutdown, everything in flight is drained, flushed and
// committed first. A record the broker refuses for good is produced again;
// it is never dropped.
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
// clean drain).
int RunDaemon(const StorydConfig& config, const DaemonOptions& options,
              std::ostream& out, std::ostream& log);

}  // namespace storyd

#endif  // STORYD_DAEMON_KAFKA_DAEMON_H_
