// End-to-end tests of `storyd run` against a real Apache Kafka broker
// (KRaft, single node) that tests/run.sh starts with tests/kafka/broker.sh.
// The broker's address comes from STORYD_KAFKA_BOOTSTRAP and its work
// directory from STORYD_KAFKA_WORKDIR; without them the tests fail: they
// are never skipped.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/scoring.h"
#include "core/strings.h"
#include "daemon/config.h"
#include "daemon/offline_commands.h"

namespace storyd {
namespace {

using namespace std::chrono_literals;

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

// A child process with its stderr in a file.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& stderr_path,
          const std::string& stdout_path = "/dev/null") {
    pid_ = ::fork();
    if (pid_ == 0) {
      std::freopen(stderr_path.c_str(), "w", stderr);
      std::freopen(stdout_path.c_str(), "w", stdout);
      std::vector<char*> args;
      for (const std::string& arg : argv)
        args.push_back(const_cast<char*>(arg.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      std::_Exit(127);
    }
  }
  ~Process() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  void Signal(int signal) { ::kill(pid_, signal); }
  // Exit code, or -1 if it has not exited within `timeout` (or died by a
  // signal).
  int Wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(50ms);
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
};

int RunCommand(const std::string& command) {
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Records read from a topic: value and headers.
struct Record {
  std::string key, value;
  std::map<std::string, std::string> headers;
};

class KafkaIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bootstrap_ = Env("STORYD_KAFKA_BOOTSTRAP");
    broker_workdir_ = Env("STORYD_KAFKA_WORKDIR");
    ASSERT_FALSE(bootstrap_.empty())
        << "STORYD_KAFKA_BOOTSTRAP is not set: run tests/run.sh";
    ASSERT_FALSE(broker_workdir_.empty()) << "STORYD_KAFKA_WORKDIR is not set";
    std::random_device random;
    prefix_ =
        StrCat("t", random() % 1000000, "-",
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    dir_ = std::filesystem::temp_directory_path() / prefix_;
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void CreateTopic(const std::string& name, int partitions,
                   const std::string& config = "") {
    std::string command =
        StrCat(STORYD_SOURCE_DIR "/tests/kafka/broker.sh create-topic ",
               broker_workdir_, " ", name, " ", partitions, " ", config,
               " >/dev/null");
    ASSERT_EQ(RunCommand(command), 0) << command;
  }

  // Topics for this test: input with `partitions`, output, dead letters.
  void CreateTopics(int partitions) {
    input_ = prefix_ + "-in";
    output_ = prefix_ + "-out";
    dlq_ = prefix_ + "-dlq";
    CreateTopic(input_, partitions, "max.message.bytes=20000000");
    CreateTopic(output_, 2);
    CreateTopic(dlq_, 1, "max.message.bytes=20000000");
  }

  std::string WriteConfig(int threads, int metrics_port = 0,
                          int max_in_flight = 20000) {
    std::string path = (dir_ / "storyd.toml").string();
    std::ofstream(path) << "[pipeline]\nthreads = " << threads
                        << "\n[kafka]\ninput_topic = \"" << input_
                        << "\"\noutput_topic = \"" << output_
                        << "\"\ndead_letter_topic = \"" << dlq_
                        << "\"\ngroup_id = \"" << prefix_
                        << "\"\nmax_in_flight = " << max_in_flight
                        << "\n\"bootstrap.servers\" = \"" << bootstrap_
                        << "\"\n[metrics]\nport = " << metrics_port << "\n";
    return path;
  }

  std::unique_ptr<Process> StartDaemon(const std::string& config,
                                       const std::string& log_name) {
    return std::make_unique<Process>(
        std::vector<std::string>{STORYD_BINARY, "run", "--config", config},
        (dir_ / log_name).string());
  }

  void Produce(
      const std::string& topic,
      const std::vector<std::pair<std::string, std::string>>& records) {
    char error[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap_.c_str(), error,
                      sizeof(error));
    rd_kafka_conf_set(conf, "message.max.bytes", "30000000", error,
                      sizeof(error));
    rd_kafka_t* producer =
        rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof(error));
    ASSERT_NE(producer, nullptr) << error;
    // Each record is one millisecond newer than the one before, in file
    // order, as records of a real stream are: producing them all within a
    // few milliseconds would leave their order across partitions undefined.
    const int64_t first_timestamp =
        std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now().time_since_epoch())
            .count() -
        static_cast<int64_t>(records.size());
    int64_t timestamp = first_timestamp;
    for (const auto& [key, value] : records) {
      ++timestamp;
      while (true) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            producer, RD_KAFKA_V_TOPIC(topic.c_str()),
            RD_KAFKA_V_KEY(key.empty() ? nullptr : key.data(), key.size()),
            RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
            RD_KAFKA_V_TIMESTAMP(timestamp),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
        ASSERT_EQ(err, RD_KAFKA_RESP_ERR__QUEUE_FULL) << rd_kafka_err2str(err);
        rd_kafka_poll(producer, 100);
      }
    }
    ASSERT_EQ(rd_kafka_flush(producer, 60000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(producer);
  }

  // Reads `topic` from the start until `count` records arrived or nothing
  // came for `idle`.
  std::vector<Record> ReadTopic(const std::string& topic, size_t count,
                                std::chrono::milliseconds idle = 20s) {
    char error[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap_.c_str(), error,
                      sizeof(error));
    std::string group = StrCat(prefix_, "-reader-", reader_++);
    rd_kafka_conf_set(conf, "group.id", group.c_str(), error, sizeof(error));
    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", error,
                      sizeof(error));
    rd_kafka_t* consumer =
        rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof(error));
    rd_kafka_poll_set_consumer(consumer);
    rd_kafka_topic_partition_list_t* topics =
        rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic.c_str(),
                                      RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    std::vector<Record> records;
    auto last = std::chrono::steady_clock::now();
    while (records.size() < count &&
           std::chrono::steady_clock::now() - last < idle) {
      rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer, 200);
      if (message == nullptr) continue;
      if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        last = std::chrono::steady_clock::now();
        Record record;
        if (message->key)
          record.key.assign(static_cast<const char*>(message->key),
                            message->key_len);
        record.value.assign(static_cast<const char*>(message->payload),
                            message->len);
        rd_kafka_headers_t* headers = nullptr;
        if (rd_kafka_message_headers(message, &headers) ==
            RD_KAFKA_RESP_ERR_NO_ERROR) {
          const char* name;
          const void* value;
          size_t size;
          for (size_t i = 0;
               rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
               RD_KAFKA_RESP_ERR_NO_ERROR;
               ++i) {
            record.headers[name] =
                std::string(static_cast<const char*>(value), size);
          }
        }
        records.push_back(std::move(record));
      }
      rd_kafka_message_destroy(message);
    }
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    return records;
  }

  static std::vector<std::pair<std::string, std::string>> DataRecords(
      const std::string& name) {
    std::vector<std::pair<std::string, std::string>> records;
    std::ifstream file(std::string(STORYD_TEST_DATA) + "/" + name);
    std::string line;
    while (std::getline(file, line)) {
      if (!line.empty()) records.emplace_back("", line);
    }
    return records;
  }

  static std::string JoinValues(const std::vector<Record>& records) {
    std::string out;
    for (const Record& record : records) out += record.value + "\n";
    return out;
  }

  std::string bootstrap_, broker_workdir_, prefix_;
  std::string input_, output_, dlq_;
  std::filesystem::path dir_;
  int reader_ = 0;
};

std::string OfflineDedup(const std::string& input) {
  StorydConfig config = DefaultConfig();
  std::istringstream in(input);
  std::ostringstream out, log;
  RunDedup(config, in, out, log);
  return out.str();
}

// Id -> (story_id, dup_of) of an output.
std::map<std::string, std::pair<std::string, std::string>> Decisions(
    const std::string& jsonl) {
  std::map<std::string, std::pair<std::string, std::string>> decisions;
  for (std::string_view line : Split(jsonl, '\n', true)) {
    auto field = [&](std::string_view name) -> std::string {
      std::string key = StrCat("\"", name, "\":");
      size_t at = line.find(key);
      if (at == std::string_view::npos) return "";
      std::string_view rest = line.substr(at + key.size());
      if (rest.starts_with("null")) return "null";
      size_t end = rest.find('"', 1);
      return std::string(rest.substr(1, end - 1));
    };
    decisions[field("id")] = {field("story_id"), field("dup_of")};
  }
  return decisions;
}

TEST_F(KafkaIntegrationTest, FourPartitionsMatchTheOfflineScores) {
  CreateTopics(4);
  auto records = DataRecords("neardup.jsonl");
  auto seeds = DataRecords("seeds.jsonl");
  records.insert(records.end(), seeds.begin(), seeds.end());
  Produce(input_, records);
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

TEST_F(KafkaIntegrationTest, OnePartitionGivesTheOfflineAssignments) {
  CreateTopics(1);
  auto records = DataRecords("seeds.jsonl");
  auto ecb = DataRecords("ecbplus.jsonl");
  records.insert(records.end(), ecb.begin(), ecb.begin() + 300);
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
  std::string config = WriteConfig(1);
  auto first = StartDaemon(config, "first.log");
  auto second = StartDaemon(config, "second.log");
  // Once both have produced something, stop one: its partitions are drained,
  // committed and handed to the other.
  std::vector<Record> early = ReadTopic(output_, 200, 60s);
  ASSERT_GE(early.size(), 200u);
  first->Signal(SIGTERM);
  EXPECT_EQ(first->Wait(60s), 0) << ReadFile((dir_ / "first.log").string());
  std::vector<Record> outputs = ReadTopic(output_, records.size() + 1, 8s);
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

// Fetches http://127.0.0.1:<port><path> with curl; "" when unreachable.
std::string HttpGet(int port, const std::string& path) {
  std::string command = StrCat("curl -s -m 5 http://127.0.0.1:", port, path);
  std::string body;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return body;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0)
    body.append(buffer, n);
  ::pclose(pipe);
  return body;
}

TEST_F(KafkaIntegrationTest, MetricsAndHealthEndpoints) {
  CreateTopics(2);
  auto records = DataRecords("seeds.jsonl");
  records.emplace_back("", "{broken");
  Produce(input_, records);
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
  // Consumer lag per partition arrives with librdkafka's statistics (5 s).
  for (int i = 0;
       i < 60 && !Contains(metrics, "storyd_consumer_lag{partition="); ++i) {
    std::this_thread::sleep_for(250ms);
    metrics = HttpGet(port, "/metrics");
  }
  EXPECT_TRUE(Contains(metrics, "storyd_consumer_lag{partition=\"0\"} 0"))
      << metrics;
  daemon->Signal(SIGTERM);
  EXPECT_EQ(daemon->Wait(60s), 0);
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
