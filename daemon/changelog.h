// The changelog topic on the Kafka side: creating it, reading it back at
// start (restore) and following the other instances' changes while running.
// What a record holds is core/state_record.h's business.
//
// The changelog has one partition that every instance writes with its
// transactional producer, so all instances read the same total order of
// committed changes (read_committed). Each record carries the writer's
// instance id in the header `storyd-instance`.
#ifndef STORYD_DAEMON_CHANGELOG_H_
#define STORYD_DAEMON_CHANGELOG_H_

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/state_record.h"

namespace storyd {

inline constexpr char kInstanceHeader[] = "storyd-instance";
inline constexpr char kRecordTypeHeader[] = "storyd-record-type";

// Creates `topic` (one partition, cleanup.policy=compact) unless it exists.
absl::Status EnsureChangelogTopic(rd_kafka_t* client, const std::string& topic);

// Asks the broker for `topic`'s metadata (which also leaves it in the
// client's cache) and returns its partition count; an error when the topic
// is unknown or has no partitions, or the broker did not answer in time.
absl::StatusOr<int> TopicPartitionCount(rd_kafka_t* client,
                                        const std::string& topic,
                                        int timeout_ms);

struct ChangelogEntry {
  StateRecord record;
  bool own = false;  // written by this instance
};

class ChangelogReader {
 public:
  // `consumer` is a consumer handle (no subscription) this reader owns the
  // assignment of; it must use isolation.level=read_committed and
  // enable.partition.eof=true.
  ChangelogReader(rd_kafka_t* consumer, std::string topic,
                  std::string instance_id);

  // Reads from the beginning up to the end of what is committed, calling
  // `apply` for each record in order. Logs progress to `log` with counts
  // and rates. Returns early (not OK) when `stop` is set.
  absl::Status Restore(const std::function<void(ChangelogEntry&&)>& apply,
                       std::ostream& log, const std::atomic<bool>& stop);

  // Calls `apply` for other instances' records that arrived since, without
  // waiting; at most `max_records`. This instance's own records are skipped
  // undecoded (they were applied when they were made). Returns how many
  // records were read.
  size_t Poll(const std::function<void(ChangelogEntry&&)>& apply,
              size_t max_records);

  uint64_t corrupt_records() const { return corrupt_records_; }

 private:
  // Decodes one message; false when it is not a record (an event or EOF).
  // `skip_own`: this instance's records are not decoded (false returned).
  bool Decode(rd_kafka_message_t* message, ChangelogEntry* entry,
              bool skip_own);

  rd_kafka_t* consumer_;
  std::string topic_;
  std::string instance_id_;
  int partitions_ = 0;
  int eof_partitions_ = 0;
  uint64_t corrupt_records_ = 0;
  std::ostream* log_ = nullptr;
};

}  // namespace storyd

#endif  // STORYD_DAEMON_CHANGELOG_H_
