// The harness shared by the tests that run `storyd run` against a real
// Apache Kafka broker (KRaft, single node) that tests/run.sh starts with
// tests/kafka/broker.sh: child processes, topics, configs, producing and
// reading records, and the offline reference and scores to compare with.
//
// The broker's address comes from STORYD_KAFKA_BOOTSTRAP and its work
// directory from STORYD_KAFKA_WORKDIR; without them the tests fail: they
// are never skipped.
#ifndef STORYD_TESTS_KAFKA_TEST_SUPPORT_H_
#define STORYD_TESTS_KAFKA_TEST_SUPPORT_H_

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace storyd {

// Keys and values of records to produce.
using KeyValues = std::vector<std::pair<std::string, std::string>>;

std::string Env(const char* name);

std::string ReadFile(const std::string& path);

// Runs a shell command; its exit code, or -1 when it did not exit.
int RunCommand(const std::string& command);

// Runs a shell command; its stdout, without a trailing newline.
std::string CommandOutput(const std::string& command);

// A child process with its stderr in a file. The destructor kills it
// (SIGKILL) if it is still running.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& stderr_path,
          const std::string& stdout_path = "/dev/null");
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  void Signal(int signal);
  // SIGKILL, and waits until it is gone.
  void Kill();
  // Whether it has not exited yet.
  bool Running();
  // Exit code, or -1 if it has not exited within `timeout` (or died by a
  // signal).
  int Wait(std::chrono::milliseconds timeout);
  pid_t pid() const { return pid_; }

 private:
  bool Reap(int options);

  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
};

// A record read from a topic.
struct Record {
  std::string key, value;
  std::map<std::string, std::string> headers;
  int32_t partition = -1;
  int64_t offset = -1;
};

enum class Isolation { kReadCommitted, kReadUncommitted };

// A story merge announced on the output topic ("type":"story_merge").
// A story_merge record (docs/architecture.md): story_id now reads
// into_story_id; for reason "copy", article `id` and `match_id` are copies,
// so their copy groups are one (a copy-only merge has story_id ==
// into_story_id).
struct Merge {
  std::string story_id, into_story_id, canonical_id, into_canonical_id, reason,
      id, match_id;
};

// Fields of an article output record.
struct ArticleOutput {
  std::string id, story_id, canonical_id, decision, dup_of, match_id,
      fingerprint;
};

// Whether the record announces a story merge (by its header or its JSON
// "type"); article outputs have neither.
bool IsMergeRecord(const Record& record);
std::vector<Record> ArticleRecords(const std::vector<Record>& records);
std::vector<Record> MergeRecords(const std::vector<Record>& records);

// A string field of a JSON object; "" when absent or null. Non-string
// values come back as their JSON text.
std::string JsonField(std::string_view json, std::string_view name);
ArticleOutput ParseArticle(std::string_view json);
Merge ParseMerge(std::string_view json);

// How many article records each id has.
std::map<std::string, int> CountArticles(const std::vector<Record>& records);

// Reads one topic from its start, every partition assigned (no group
// rebalancing), and keeps what it read. Not thread-safe.
class TopicReader {
 public:
  TopicReader(const std::string& bootstrap, const std::string& topic,
              Isolation isolation = Isolation::kReadCommitted);
  ~TopicReader();
  TopicReader(const TopicReader&) = delete;
  TopicReader& operator=(const TopicReader&) = delete;

  // Polls for `duration`, keeping what arrives.
  void Poll(std::chrono::milliseconds duration);
  // Reads on until the end each partition had when this was called (its
  // high watermark) is reached; false if that took longer than `timeout`.
  // With read_committed, an open transaction keeps the end out of reach.
  bool ReadToEnd(std::chrono::milliseconds timeout);
  // Polls until `done()` or `timeout`; returns done().
  bool WaitFor(const std::function<bool()>& done,
               std::chrono::milliseconds timeout);
  // Polls until every id in `ids` has an article record, or `timeout`.
  bool WaitForArticles(const std::set<std::string>& ids,
                       std::chrono::milliseconds timeout);
  // Polls until no record came for `idle`, or `timeout`.
  void ReadUntilIdle(std::chrono::milliseconds idle,
                     std::chrono::milliseconds timeout);

  const std::vector<Record>& records() const { return records_; }
  // Article records per id so far.
  const std::map<std::string, int>& article_counts() const {
    return article_counts_;
  }
  size_t articles() const { return articles_; }

 private:
  // Handles one message or event; true if it was a record.
  bool Consume(rd_kafka_message_t* message);

  std::string topic_;
  rd_kafka_t* consumer_ = nullptr;
  int partitions_ = 0;
  std::map<int32_t, int64_t> reached_;  // partition -> offset known read to
  std::vector<Record> records_;
  std::map<std::string, int> article_counts_;
  size_t articles_ = 0;
};

// Produces records in the background at a steady rate, as a live stream
// does, with the current time as their timestamps. The producer is
// idempotent and retries for up to ten minutes, so a broker outage delays
// records but loses and repeats none.
class StreamProducer {
 public:
  StreamProducer(const std::string& bootstrap, const std::string& topic,
                 KeyValues records, double records_per_second);
  ~StreamProducer();
  StreamProducer(const StreamProducer&) = delete;
  StreamProducer& operator=(const StreamProducer&) = delete;

  // Records handed to the client so far.
  size_t produced() const { return produced_.load(); }
  size_t total() const { return records_.size(); }
  // Waits until every record was produced and acknowledged (or failed);
  // true when all were acknowledged within `timeout`.
  bool Finish(std::chrono::milliseconds timeout);
  size_t acknowledged() const { return acknowledged_.load(); }
  size_t failed() const { return failed_.load(); }
  // The first delivery error, if any.
  std::string error() const;

 private:
  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* message,
                         void* opaque);
  void Run();

  std::string topic_;
  KeyValues records_;
  double rate_;
  rd_kafka_t* producer_ = nullptr;
  std::atomic<size_t> produced_{0}, acknowledged_{0}, failed_{0};
  std::atomic<bool> stop_{false}, done_{false};
  mutable std::mutex error_mutex_;
  std::string error_;
  std::thread thread_;
};

// Fetches http://127.0.0.1:<port><path> with curl; "" when unreachable.
std::string HttpGet(int port, const std::string& path);
// Its HTTP status code; 0 when unreachable.
int HttpStatus(int port, const std::string& path);
// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

// Non-empty lines of tests/data/<name> as records without keys.
KeyValues DataRecords(const std::string& name);
// One JSON object a line, as a file.
std::string JoinValues(const std::vector<Record>& records);
std::string JoinValues(const KeyValues& records);

// `storyd dedup` with the default config over JSON Lines.
std::string OfflineDedup(const std::string& input);

// Id -> (story_id, dup_of) of an output.
std::map<std::string, std::pair<std::string, std::string>> Decisions(
    const std::string& jsonl);

// The article records of an output with its merges applied, as JSON Lines
// of {"id","story_id","dup_of"} for ScoreRun: a story that was merged
// becomes the story it was merged into (chains followed), and for a merge
// by "copy" the losing story's canonical article joins the copy group of
// match_id. dup_of names the copy group's root (null for the root).
std::string ResolveMerges(const std::vector<Record>& records);

// Root of each article's copy group (union-find over dup_of links).
std::map<std::string, std::string> CopyRoots(
    const std::vector<Record>& records);

// Hamming distance of two 16-hex-digit fingerprints; -1 if unparsable.
int FingerprintDistance(const std::string& a, const std::string& b);

// Partition count and configuration of a topic; partitions = -1 when it
// does not exist.
struct TopicDescription {
  int partitions = -1;
  std::map<std::string, std::string> config;
};
TopicDescription DescribeTopic(const std::string& bootstrap,
                               const std::string& topic);

// How a test's daemon is configured.
struct DaemonOptions {
  int threads = 2;
  int metrics_port = 0;
  int max_in_flight = 20000;
  std::optional<bool> exactly_once;       // unset: the default (true)
  std::string instance_id;                // empty: the default (hostname)
  std::optional<int> commit_interval_ms;  // unset: the default
  std::optional<int> reorder_ms;          // unset: the default
  std::optional<int> reorder_backlog_ms;  // unset: the default
  std::string rules_path;  // [boilerplate] rules; empty: the built-in rules
  // librdkafka properties for the consumers ([kafka.consumer]).
  std::map<std::string, std::string> consumer_properties;
  std::string file_name = "storyd.toml";
};

// A test with its own topics (named after a random prefix and the test) and
// a scratch directory for configs and logs, kept when the test fails.
class KafkaTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  void CreateTopic(const std::string& name, int partitions,
                   const std::string& config = "");
  // Topics for this test: input with `partitions`, output, dead letters.
  // The changelog (changelog_) is left to the daemon to create.
  void CreateTopics(int partitions);

  // Writes the config file; its path.
  std::string WriteConfig(const DaemonOptions& options);
  std::string WriteConfig(int threads, int metrics_port = 0,
                          int max_in_flight = 20000);

  std::unique_ptr<Process> StartDaemon(const std::string& config,
                                       const std::string& log_name);
  std::string Log(const std::string& log_name) const;

  // Produces `records` with timestamps rising a millisecond a record, to
  // `partition`, or where the default partitioner puts them.
  void Produce(const std::string& topic, const KeyValues& records,
               std::optional<int32_t> partition = std::nullopt);

  // Reads `topic` from the start until `count` records arrived or nothing
  // came for `idle`.
  std::vector<Record> ReadTopic(
      const std::string& topic, size_t count,
      std::chrono::milliseconds idle = std::chrono::seconds(20),
      Isolation isolation = Isolation::kReadCommitted);

  std::unique_ptr<TopicReader> Reader(
      const std::string& topic,
      Isolation isolation = Isolation::kReadCommitted) const;

  std::string bootstrap_, broker_workdir_, prefix_;
  std::string input_, output_, dlq_, changelog_;
  std::filesystem::path dir_;
};

}  // namespace storyd

#endif  // STORYD_TESTS_KAFKA_TEST_SUPPORT_H_
