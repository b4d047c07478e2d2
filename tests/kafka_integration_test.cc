// End-to-end tests of `storyd run` against a real Apache Kafka broker
// (KRaft, single node) that tests/run.sh starts with tests/kafka/broker.sh.
// The broker's address comes from STORYD_KAFKA_BOOTSTRAP and its work
// directory from STORYD_KAFKA_WORKDIR; without them the tests fail: they
// are never skipped.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/article.h"
#include "core/scoring.h"
#include "core/strings.h"
#include "tests/kafka_test_support.h"

namespace storyd {
namespace {

using namespace std::chrono_literals;

class KafkaIntegrationTest : public KafkaTest {};

// The seeds, then the first `count` ECB+ articles.
KeyValues SeedsThenEcb(size_t count) {
  KeyValues records = DataRecords("seeds.jsonl");
  KeyValues ecb = DataRecords("ecbplus.jsonl");
  records.insert(records.end(), ecb.begin(),
                 ecb.begin() + static_cast<std::ptrdiff_t>(count));
  return records;
}

TEST_F(KafkaIntegrationTest, FourPartitionsMatchTheOfflineScores) {
  CreateTopics(4);
  auto records = DataRecords("neardup.jsonl");
  auto seeds = DataRecords("seeds.jsonl");
  records.insert(records.end(), seeds.begin(), seeds.end());
  Produce(input_, records);
  // The merge of the partitions follows the records' timestamps, which
  // rise in file order, so the daemon sees the offline order. Every
  // partition has a backlog when the daemon starts: the merge waits for
  // each one's first fetch (up to reorder_backlog_ms), however late it
  // comes, with the default config.
  auto daemon = StartDaemon(WriteConfig(2), "daemon.log");
  std::vector<Record> outputs = ReadTopic(output_, records.size(), 60s);
  daemon->Signal(SIGTERM);
  EXPECT_EQ(daemon->Wait(60s), 0) << ReadFile((dir_ / "daemon.log").string());
  ASSERT_EQ(outputs.size(), records.size())
      << ReadFile((dir_ / "daemon.log").string());
  std::set<std::string> ids;
  for (const Record& r : outputs) ids.insert(r.key);
  EXPECT_EQ(ids.size(), records.size());  // every input has its output, once

  std::string gold =
      ReadFile(std::string(STORYD_TEST_DATA) + "/neardup.gold.tsv") +
      ReadFile(std::string(STORYD_TEST_DATA) + "/seeds.gold.tsv");
  std::string input;
  for (const auto& [key, value] : records) input += value + "\n";
  absl::StatusOr<QualityReport> online = ScoreRun(gold, JoinValues(outputs));
  absl::StatusOr<QualityReport> offline = ScoreRun(gold, OfflineDedup(input));
  ASSERT_TRUE(online.ok() && offline.ok());
  EXPECT_EQ(online->missing, 0u);
  EXPECT_NEAR(online->dup_bcubed_f1, offline->dup_bcubed_f1, 0.01);
  EXPECT_NEAR(online->story_bcubed_f1, offline->story_bcubed_f1, 0.01)
      << "online\n"
      << FormatQualityReport(*online) << "offline\n"
      << FormatQualityReport(*offline);
}

// A partition with nothing to read does not hold the others' records back
// for the reorder window: the merge waits for records a partition has,
// not for records it may get. With a window of a minute, waiting would
// leave the reader idle long past its 20 s.
TEST_F(KafkaIntegrationTest, AQuietPartitionDoesNotHoldTheOthersBack) {
  CreateTopics(2);
  KeyValues records = SeedsThenEcb(100);
  // Half before the daemon starts (a backlog on partition 1), half while
  // it runs; partition 0 stays empty throughout.
  const size_t half = records.size() / 2;
  Produce(input_, KeyValues(records.begin(), records.begin() + half), 1);
  DaemonOptions options;
  options.reorder_ms = 60000;
  auto daemon = StartDaemon(WriteConfig(options), "daemon.log");
  auto reader = Reader(output_);
  EXPECT_TRUE(reader->WaitFor([&] { return reader->articles() >= half; },
                              std::chrono::seconds(20)))
      << Log("daemon.log");
  Produce(input_, KeyValues(records.begin() + half, records.end()), 1);
  EXPECT_TRUE(
      reader->WaitFor([&] { return reader->articles() >= records.size(); },
                      std::chrono::seconds(20)))
      << Log("daemon.log");
  daemon->Signal(SIGTERM);
  EXPECT_EQ(daemon->Wait(60s), 0);
  std::string input;
  for (const auto& [key, value] : records) input += value + "\n";
  EXPECT_EQ(Decisions(JoinValues(ArticleRecords(reader->records()))),
            Decisions(OfflineDedup(input)));
}

// Consumer properties in the config are for the input consumer; the
// changelog reader keeps what its restore depends on. Without partition
// end events (which the input's merge only uses to wait less), a restore
// used never to end.
TEST_F(KafkaIntegrationTest, ConsumerPropertiesLeaveTheChangelogReaderAlone) {
  CreateTopics(2);
  KeyValues records = SeedsThenEcb(40);
  Produce(input_, records);
  DaemonOptions options;
  options.consumer_properties = {{"enable.partition.eof", "false"},
                                 {"isolation.level", "read_uncommitted"}};
  auto daemon = StartDaemon(WriteConfig(options), "daemon.log");
  std::vector<Record> outputs = ReadTopic(output_, records.size(), 30s);
  daemon->Signal(SIGTERM);
  EXPECT_EQ(daemon->Wait(60s), 0);
  EXPECT_EQ(ArticleRecords(outputs).size(), records.size())
      << Log("daemon.log");
}

TEST_F(KafkaIntegrationTest, OnePartitionGivesTheOfflineAssignments) {
  CreateTopics(1);
  KeyValues records = SeedsThenEcb(300);
  Produce(input_, records);
  auto daemon = StartDaemon(WriteConfig(2), "daemon.log");
  std::vector<Record> outputs = ReadTopic(output_, records.size(), 60s);
  daemon->Signal(SIGTERM);
  EXPECT_EQ(daemon->Wait(60s), 0);
  std::string input;
  for (const auto& [key, value] : records) input += value + "\n";
  EXPECT_EQ(Decisions(JoinValues(outputs)), Decisions(OfflineDedup(input)));
}

TEST_F(KafkaIntegrationTest, BadMessagesGoToTheDeadLetterTopicWithReasons) {
  CreateTopics(1);
  std::vector<std::pair<std::string, std::string>> records = {
      {"",
       R"({"id":"good-1","body":"A river flooded the old town on Monday, officials said."})"},
      {"", "{not json"},
      {"", R"({"body":"no id and no key"})"},
      {"", R"({"id":"no-body"})"},
      {"", "{\"id\":\"bad-utf8\",\"body\":\"caf\xc3\x28\"}"},
      {"", R"({"id":"empty","body":"   "})"},
      {"", "{\"id\":\"huge\",\"body\":\"" + std::string(10 * 1024 * 1024, 'x') +
               "\"}"},
      {"", R"({"id":"good-1","body":"The same id again."})"},
      {"key-7",
       R"({"body":"An id from the message key: the harbour reopened after the storm."})"}};
  Produce(input_, records);
  auto daemon = StartDaemon(WriteConfig(2), "daemon.log");
  std::vector<Record> outputs = ReadTopic(output_, 2, 40s);
  std::vector<Record> dead = ReadTopic(dlq_, 7, 40s);
  daemon->Signal(SIGTERM);
  EXPECT_EQ(daemon->Wait(60s), 0);
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[0].key, "good-1");
  EXPECT_EQ(outputs[1].key, "key-7");
  ASSERT_EQ(dead.size(), 7u) << ReadFile((dir_ / "daemon.log").string());
  std::vector<std::string> kinds;
  for (Record& r : dead) {
    kinds.push_back(r.headers["storyd-error"]);
    EXPECT_FALSE(r.headers["storyd-reason"].empty());
  }
  EXPECT_EQ(kinds,
            (std::vector<std::string>{
                "malformed_json", "missing_id", "missing_body", "invalid_utf8",
                "empty_body", "too_large", "duplicate_id"}));
  EXPECT_EQ(dead[5].value.size(),
            records[6].second.size());  // original bytes, all 10 MB
  EXPECT_EQ(dead[1].value, records[2].second);
  // Rejected by the ordered stage, not by a worker: its bytes too.
  EXPECT_EQ(dead[6].value, records[7].second);
}

TEST_F(KafkaIntegrationTest, SigtermDrainsAndARestartReemitsNothing) {
  CreateTopics(2);
  auto records = DataRecords("ecbplus.jsonl");
  Produce(input_, records);
  std::string config = WriteConfig(2);
  auto first = StartDaemon(config, "first.log");
  // Stop it mid-stream: once some outputs exist.
  std::vector<Record> early = ReadTopic(output_, 100, 60s);
  ASSERT_GE(early.size(), 100u);
  first->Signal(SIGTERM);
  EXPECT_EQ(first->Wait(60s), 0) << ReadFile((dir_ / "first.log").string());
  auto second = StartDaemon(config, "second.log");
  std::vector<Record> outputs = ReadTopic(output_, records.size() + 1, 8s);
  second->Signal(SIGTERM);
  EXPECT_EQ(second->Wait(60s), 0);
  std::map<std::string, int> seen;
  for (const Record& r : outputs) ++seen[r.key];
  EXPECT_EQ(outputs.size(), records.size())
      << ReadFile((dir_ / "second.log").string());
  EXPECT_EQ(seen.size(), records.size());
  for (const auto& [id, n] : seen)
    EXPECT_EQ(n, 1) << id << " was emitted " << n << " times";
}

TEST_F(KafkaIntegrationTest,
       StoppingOneOfTwoDaemonsHandsOverWithoutLossOrRepeats) {
  CreateTopics(4);
  auto records = DataRecords("neardup.jsonl");
  Produce(input_, records);
  // Two daemons running at once need their own instance ids (their
  // transactional ids); the output topic may also announce story merges.
  DaemonOptions options;
  options.threads = 1;
  options.instance_id = prefix_ + "-first";
  options.file_name = "first.toml";
  auto first = StartDaemon(WriteConfig(options), "first.log");
  options.instance_id = prefix_ + "-second";
  options.file_name = "second.toml";
  auto second = StartDaemon(WriteConfig(options), "second.log");
  // Once both have produced something, stop one: its partitions are drained,
  // committed and handed to the other.
  std::vector<Record> early = ReadTopic(output_, 200, 60s);
  ASSERT_GE(early.size(), 200u);
  first->Signal(SIGTERM);
  EXPECT_EQ(first->Wait(60s), 0) << ReadFile((dir_ / "first.log").string());
  // Merge announcements come in any number: read until the topic is idle.
  std::vector<Record> outputs = ArticleRecords(
      ReadTopic(output_, std::numeric_limits<size_t>::max(), 8s));
  second->Signal(SIGTERM);
  EXPECT_EQ(second->Wait(60s), 0);
  std::map<std::string, int> seen;
  for (const Record& r : outputs) ++seen[r.key];
  EXPECT_EQ(seen.size(), records.size())
      << ReadFile((dir_ / "second.log").string());
  EXPECT_EQ(outputs.size(), records.size());
  for (const auto& [id, n] : seen)
    EXPECT_EQ(n, 1) << id << " was emitted " << n << " times";
}

// With room for only 16 records in flight, the daemon keeps pausing and
// resuming its partitions; every record still comes out exactly once.
TEST_F(KafkaIntegrationTest, BackpressurePausesAndResumesWithoutLoss) {
  CreateTopics(2);
  auto records = DataRecords("ecbplus.jsonl");
  Produce(input_, records);
  auto daemon = StartDaemon(WriteConfig(2, 0, 16), "daemon.log");
  std::vector<Record> outputs = ReadTopic(output_, records.size() + 1, 8s);
  daemon->Signal(SIGTERM);
  EXPECT_EQ(daemon->Wait(60s), 0);
  std::set<std::string> ids;
  for (const Record& r : outputs) ids.insert(r.key);
  EXPECT_EQ(outputs.size(), records.size())
      << ReadFile((dir_ / "daemon.log").string());
  EXPECT_EQ(ids.size(), records.size());
}

TEST_F(KafkaIntegrationTest, MetricsAndHealthEndpoints) {
  CreateTopics(2);
  auto records = DataRecords("seeds.jsonl");
  records.emplace_back("", "{broken");
  // All into partition 1: partition 0 stays idle, and is not behind.
  Produce(input_, records, 1);
  std::random_device random;
  const int port = 32000 + static_cast<int>(random() % 2000);
  auto daemon = StartDaemon(WriteConfig(2, port), "daemon.log");
  std::vector<Record> outputs = ReadTopic(output_, 5, 60s);
  ASSERT_EQ(outputs.size(), 5u);
  ASSERT_EQ(ReadTopic(dlq_, 1, 30s).size(), 1u);
  // Acknowledgements are counted when the delivery reports arrive.
  std::string metrics;
  for (int i = 0; i < 50; ++i) {
    metrics = HttpGet(port, "/metrics");
    if (Contains(metrics, "storyd_articles_emitted_total 5\n")) break;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_TRUE(Contains(metrics, "storyd_articles_consumed_total 6\n"))
      << metrics;
  EXPECT_TRUE(Contains(metrics, "storyd_articles_emitted_total 5\n"))
      << metrics;
  EXPECT_TRUE(Contains(metrics, "storyd_dead_letters_total 1\n")) << metrics;
  EXPECT_TRUE(Contains(metrics, "storyd_new_stories_total 1\n")) << metrics;
  EXPECT_TRUE(Contains(metrics, "storyd_same_story_total 4\n")) << metrics;
  EXPECT_TRUE(Contains(
      metrics, "storyd_stage_seconds_bucket{stage=\"process\",le=\"+Inf\"} 6"))
      << metrics;
  EXPECT_TRUE(Contains(metrics, "storyd_copy_index_entries 5\n")) << metrics;
  EXPECT_EQ(HttpGet(port, "/healthz"), "ok\n");
  EXPECT_EQ(HttpGet(port, "/readyz"), "ready\n");
  // Consumer lag per partition arrives with librdkafka's statistics (5 s);
  // the first may come before the consumer reached the ends.
  const std::string idle_lag = "storyd_consumer_lag{partition=\"0\"} 0\n";
  const std::string read_lag = "storyd_consumer_lag{partition=\"1\"} 0\n";
  for (int i = 0;
       i < 80 && !(Contains(metrics, idle_lag) && Contains(metrics, read_lag));
       ++i) {
    std::this_thread::sleep_for(250ms);
    metrics = HttpGet(port, "/metrics");
  }
  EXPECT_TRUE(Contains(metrics, idle_lag)) << metrics;
  EXPECT_TRUE(Contains(metrics, read_lag)) << metrics;
  daemon->Signal(SIGTERM);
  EXPECT_EQ(daemon->Wait(60s), 0);
}

// SIGHUP (systemctl reload) reads the rules file again: an article that
// arrives after it is stripped by the new rules, so it fingerprints as the
// same text without the promotion line. A file that does not load leaves
// the rules in use, and the daemon runs on.
TEST_F(KafkaIntegrationTest, SighupReloadsTheBoilerplateRules) {
  CreateTopics(1);
  const std::string text_begin =
      "The harbour authority of Valparaiso closed the northern pier on "
      "Tuesday after a crane collapsed onto a cargo ship, injuring three "
      "dock workers.\n";
  const std::string promo =
      "Zorblax weekly deals inside: save on garden furniture\n";
  const std::string text_end =
      "Officials said an investigation into the crane's maintenance records "
      "would take several weeks.";
  auto article = [](const std::string& id, const std::string& body) {
    std::string json = "{\"id\":\"" + id + "\",\"body\":";
    AppendJsonString(body, &json);
    return std::make_pair(id, json + "}");
  };
  const std::string rules = (dir_ / "boilerplate.rules").string();
  auto write_rules = [&](const std::string& text) {
    // Written beside and renamed, as an operator's editor or deploy would.
    std::ofstream((rules + ".new").c_str()) << text;
    std::filesystem::rename(rules + ".new", rules);
  };
  write_rules("# no rules yet\n");
  DaemonOptions options;
  options.rules_path = rules;
  auto daemon = StartDaemon(WriteConfig(options), "daemon.log");
  auto wait_for_log = [&](const std::string& text) {
    for (int i = 0; i < 200 && !Contains(Log("daemon.log"), text); ++i)
      std::this_thread::sleep_for(50ms);
    return Contains(Log("daemon.log"), text);
  };
  Produce(input_, {article("plain", text_begin + text_end),
                   article("promo-before", text_begin + promo + text_end)});
  ASSERT_EQ(ReadTopic(output_, 2, 30s).size(), 2u) << Log("daemon.log");

  write_rules("line Zorblax weekly deals inside: save on garden furniture\n");
  daemon->Signal(SIGHUP);
  ASSERT_TRUE(wait_for_log("reloaded 1 boilerplate rules from " + rules))
      << Log("daemon.log");
  Produce(input_, {article("promo-after", text_begin + promo + text_end)});
  ASSERT_EQ(ReadTopic(output_, 3, 30s).size(), 3u) << Log("daemon.log");

  write_rules("no-such-kind x\n");
  daemon->Signal(SIGHUP);
  ASSERT_TRUE(wait_for_log("keeping the current boilerplate rules"))
      << Log("daemon.log");
  Produce(input_, {article("promo-kept", text_begin + promo + text_end)});
  std::vector<Record> outputs = ReadTopic(output_, 4, 30s);
  daemon->Signal(SIGTERM);
  EXPECT_EQ(daemon->Wait(60s), 0) << Log("daemon.log");

  std::map<std::string, std::string> fingerprint;
  for (const Record& record : ArticleRecords(outputs)) {
    ArticleOutput output = ParseArticle(record.value);
    fingerprint[output.id] = output.fingerprint;
  }
  ASSERT_EQ(fingerprint.size(), 4u) << Log("daemon.log");
  EXPECT_NE(fingerprint["promo-before"], fingerprint["plain"]);
  EXPECT_EQ(fingerprint["promo-after"], fingerprint["plain"]);
  EXPECT_EQ(fingerprint["promo-kept"], fingerprint["plain"]);
}

// A reload in the middle of a backlog, at least once: what was consumed is
// drained under the old rules, the rest follows under the new; nothing is
// lost or repeated.
TEST_F(KafkaIntegrationTest, SighupDuringABacklogLosesNothing) {
  CreateTopics(2);
  // ECB+ eight times over with distinct ids: a backlog that takes the
  // daemon most of a second, so that the reloads come while records are in
  // flight.
  KeyValues records;
  for (int copy = 0; copy < 8; ++copy) {
    for (auto [key, value] : DataRecords("ecbplus.jsonl")) {
      const std::string id = JsonField(value, "id");
      const size_t at = value.find("\"" + id + "\"");
      ASSERT_NE(at, std::string::npos);
      value.insert(at + 1 + id.size(), "-" + std::to_string(copy));
      records.emplace_back("", value);
    }
  }
  Produce(input_, records);
  const std::string rules = (dir_ / "boilerplate.rules").string();
  std::ofstream(rules) << "line Zorblax weekly deals inside\n";
  DaemonOptions options;
  options.rules_path = rules;
  options.exactly_once = false;
  auto daemon = StartDaemon(WriteConfig(options), "daemon.log");
  std::unique_ptr<TopicReader> reader = Reader(output_);
  for (int i = 0; i < 600 && reader->records().size() < 20; ++i)
    reader->Poll(50ms);
  ASSERT_GE(reader->records().size(), 20u) << Log("daemon.log");
  for (int reloads = 0; reloads < 3; ++reloads) {
    daemon->Signal(SIGHUP);
    std::this_thread::sleep_for(50ms);
  }
  for (int i = 0;
       i < 600 && ArticleRecords(reader->records()).size() < records.size();
       ++i) {
    reader->Poll(50ms);
  }
  daemon->Signal(SIGTERM);
  EXPECT_EQ(daemon->Wait(60s), 0);
  std::map<std::string, int> counts = CountArticles(reader->records());
  EXPECT_EQ(counts.size(), records.size()) << Log("daemon.log");
  for (const auto& [id, count] : counts) EXPECT_EQ(count, 1) << id;
  EXPECT_TRUE(Contains(Log("daemon.log"), "reloaded 1 boilerplate rules"))
      << Log("daemon.log");
}

TEST_F(KafkaIntegrationTest, BadKafkaConfigFailsBeforeConnecting) {
  CreateTopics(1);
  std::string path = (dir_ / "bad.toml").string();
  std::ofstream(path)
      << "[kafka]\n\"bootstrap.servers\" = \"" << bootstrap_
      << "\"\n\"no.such.property\" = \"1\"\n[metrics]\nport = 0\n";
  Process daemon({STORYD_BINARY, "run", "--config", path},
                 (dir_ / "bad.log").string());
  EXPECT_EQ(daemon.Wait(30s), 2);
  EXPECT_TRUE(
      Contains(ReadFile((dir_ / "bad.log").string()), "no.such.property"))
      << ReadFile((dir_ / "bad.log").string());
}

}  // namespace
}  // namespace storyd
