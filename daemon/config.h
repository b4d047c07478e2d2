// storyd's configuration: conf/storyd.toml documents every key.
#ifndef STORYD_DAEMON_CONFIG_H_
#define STORYD_DAEMON_CONFIG_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "core/boilerplate_learner.h"
#include "core/copy_detector.h"
#include "core/story_index.h"

namespace storyd {

// The Kafka side of `storyd run`. librdkafka properties pass through as
// given: `common` to both clients, `consumer` and `producer` to one.
struct KafkaConfig {
  std::string input_topic = "articles";
  std::string output_topic = "article-stories";
  std::string dead_letter_topic = "articles.dlq";
  std::string group_id = "storyd";
  // The compacted topic of index changes (core/state_record.h) that every
  // instance of the group writes and reads.
  std::string changelog_topic = "storyd-changelog";
  // Transactions: outputs, dead letters, changelog records and input
  // offsets commit together. false = at least once.
  bool exactly_once = true;
  // This instance's name in the group (empty = the host name); it makes the
  // transactional.id, so it must be unique among running instances and the
  // same across restarts of one.
  std::string instance_id;
  size_t max_in_flight = 20000;  // records between consume and commit
  // How often a transaction (or, at least once, an offset commit) closes.
  int commit_interval_ms = 100;
  // Records are taken from the partitions in timestamp order, waiting at
  // most this long for a partition that has nothing fetched and is not at
  // its end (0 = in fetch order), like Kafka Streams' max.task.idle.ms.
  int reorder_ms = 200;
  // ... and at most this long for the first record of a partition that had
  // records to read when it was assigned or rewound.
  int reorder_backlog_ms = 5000;
  std::map<std::string, std::string> common, consumer, producer;
};

struct MetricsConfig {
  std::string address = "127.0.0.1";
  int port = 9464;  // 0 = no metrics endpoint
};

struct StorydConfig {
  int threads = 0;  // 0 = one per core
  size_t max_record_bytes = 1 << 20;
  std::string rules_path;  // empty = built-in rules
  LearnerConfig learner;
  CopyConfig copy;
  StoryConfig story;
  KafkaConfig kafka;
  MetricsConfig metrics;
};

// Reads a TOML config; unknown keys and out-of-range values are errors that
// name the key, so a typo cannot pass silently.
absl::StatusOr<StorydConfig> LoadConfig(const std::string& path);

// The defaults, as conf/storyd.toml lists them.
StorydConfig DefaultConfig();

// Worker thread count after resolving 0 to the number of cores.
int EffectiveThreads(const StorydConfig& config);

}  // namespace storyd

#endif  // STORYD_DAEMON_CONFIG_H_
