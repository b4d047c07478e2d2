#include "tests/kafka_test_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "core/article.h"
#include "core/strings.h"
#include "daemon/config.h"
#include "daemon/offline_commands.h"

namespace storyd {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

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

int RunCommand(const std::string& command) {
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

namespace {

// A command's stdout as it is.
std::string RawCommandOutput(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return output;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0)
    output.append(buffer, n);
  ::pclose(pipe);
  return output;
}

}  // namespace

std::string CommandOutput(const std::string& command) {
  std::string output = RawCommandOutput(command);
  while (!output.empty() && output.back() == '\n') output.pop_back();
  return output;
}

Process::Process(const std::vector<std::string>& argv,
                 const std::string& stderr_path,
                 const std::string& stdout_path) {
  // The child must not write out what the parent has buffered.
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
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

Process::~Process() {
  if (pid_ > 0 && !exited_) Kill();
}

void Process::Signal(int signal) {
  if (!exited_) ::kill(pid_, signal);
}

void Process::Kill() {
  if (pid_ <= 0 || exited_) return;
  ::kill(pid_, SIGKILL);
  Reap(0);
}

bool Process::Reap(int options) {
  if (exited_) return true;
  int status = 0;
  if (::waitpid(pid_, &status, options) == pid_) {
    exited_ = true;
    status_ = status;
  }
  return exited_;
}

bool Process::Running() { return !Reap(WNOHANG); }

int Process::Wait(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!Reap(WNOHANG) && Clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  if (!exited_) return -1;
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
}

std::string JsonField(std::string_view json, std::string_view name) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS)
    return "";
  simdjson::dom::element value;
  if (root[name].get(value) != simdjson::SUCCESS || value.is_null()) return "";
  std::string_view text;
  if (value.get(text) == simdjson::SUCCESS) return std::string(text);
  return simdjson::minify(value);
}

ArticleOutput ParseArticle(std::string_view json) {
  ArticleOutput out;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS)
    return out;
  auto field = [&](const char* name, std::string* target) {
    std::string_view text;
    if (root[name].get(text) == simdjson::SUCCESS) *target = std::string(text);
  };
  field("id", &out.id);
  field("story_id", &out.story_id);
  field("canonical_id", &out.canonical_id);
  field("decision", &out.decision);
  field("dup_of", &out.dup_of);
  field("match_id", &out.match_id);
  field("fingerprint", &out.fingerprint);
  return out;
}

Merge ParseMerge(std::string_view json) {
  Merge merge;
  merge.story_id = JsonField(json, "story_id");
  merge.into_story_id = JsonField(json, "into_story_id");
  merge.canonical_id = JsonField(json, "canonical_id");
  merge.into_canonical_id = JsonField(json, "into_canonical_id");
  merge.reason = JsonField(json, "reason");
  merge.id = JsonField(json, "id");
  merge.match_id = JsonField(json, "match_id");
  return merge;
}

bool IsMergeRecord(const Record& record) {
  auto header = record.headers.find("storyd-record-type");
  if (header != record.headers.end() && header->second == "story_merge")
    return true;
  return Contains(record.value, "\"type\"") &&
         JsonField(record.value, "type") == "story_merge";
}

std::vector<Record> ArticleRecords(const std::vector<Record>& records) {
  std::vector<Record> articles;
  for (const Record& record : records)
    if (!IsMergeRecord(record)) articles.push_back(record);
  return articles;
}

std::vector<Record> MergeRecords(const std::vector<Record>& records) {
  std::vector<Record> merges;
  for (const Record& record : records)
    if (IsMergeRecord(record)) merges.push_back(record);
  return merges;
}

std::map<std::string, int> CountArticles(const std::vector<Record>& records) {
  std::map<std::string, int> counts;
  for (const Record& record : records) {
    if (!IsMergeRecord(record)) ++counts[JsonField(record.value, "id")];
  }
  return counts;
}

// ---------------------------------------------------------------------------
// TopicReader

TopicReader::TopicReader(const std::string& bootstrap, const std::string& topic,
                         Isolation isolation)
    : topic_(topic) {
  static std::atomic<int> readers{0};
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const char* name, const std::string& value) {
    if (rd_kafka_conf_set(conf, name, value.c_str(), error, sizeof(error)) !=
        RD_KAFKA_CONF_OK) {
      ADD_FAILURE() << name << ": " << error;
    }
  };
  set("bootstrap.servers", bootstrap);
  // Partitions are assigned, not subscribed to: the group only names the
  // client, nothing is committed.
  set("group.id", StrCat("storyd-test-reader-", ::getpid(), "-", readers++));
  set("enable.auto.commit", "false");
  set("enable.auto.offset.store", "false");
  set("enable.partition.eof", "true");
  set("isolation.level", isolation == Isolation::kReadCommitted
                             ? "read_committed"
                             : "read_uncommitted");
  set("fetch.max.bytes", "52428800");
  set("max.partition.fetch.bytes", "20000000");
  consumer_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof(error));
  if (consumer_ == nullptr) {
    ADD_FAILURE() << "consumer: " << error;
    return;
  }
  rd_kafka_poll_set_consumer(consumer_);
  // The partition count, from the metadata (retried: a topic the daemon
  // creates may not exist yet).
  for (int attempt = 0; attempt < 60 && partitions_ == 0; ++attempt) {
    rd_kafka_topic_t* handle =
        rd_kafka_topic_new(consumer_, topic_.c_str(), nullptr);
    const rd_kafka_metadata_t* metadata = nullptr;
    if (rd_kafka_metadata(consumer_, 0, handle, &metadata, 10000) ==
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (metadata->topic_cnt == 1 &&
          metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        partitions_ = metadata->topics[0].partition_cnt;
      }
      rd_kafka_metadata_destroy(metadata);
    }
    rd_kafka_topic_destroy(handle);
    if (partitions_ == 0) std::this_thread::sleep_for(500ms);
  }
  if (partitions_ == 0) {
    ADD_FAILURE() << "no metadata for topic " << topic_;
    return;
  }
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(partitions_);
  for (int p = 0; p < partitions_; ++p) {
    rd_kafka_topic_partition_list_add(list, topic_.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    reached_[p] = 0;
  }
  rd_kafka_assign(consumer_, list);
  rd_kafka_topic_partition_list_destroy(list);
}

TopicReader::~TopicReader() {
  if (consumer_ == nullptr) return;
  rd_kafka_assign(consumer_, nullptr);
  rd_kafka_consumer_close(consumer_);
  rd_kafka_destroy(consumer_);
}

bool TopicReader::Consume(rd_kafka_message_t* message) {
  bool was_record = false;
  if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    // The offset of an EOF event is the partition's end.
    int64_t& reached = reached_[message->partition];
    reached = std::max(reached, message->offset);
  } else if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    was_record = true;
    Record record;
    record.partition = message->partition;
    record.offset = message->offset;
    int64_t& reached = reached_[message->partition];
    reached = std::max(reached, message->offset + 1);
    if (message->key)
      record.key.assign(static_cast<const char*>(message->key),
                        message->key_len);
    if (message->payload)
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
            value == nullptr
                ? std::string()
                : std::string(static_cast<const char*>(value), size);
      }
    }
    if (!IsMergeRecord(record)) {
      ++article_counts_[JsonField(record.value, "id")];
      ++articles_;
    }
    records_.push_back(std::move(record));
  }
  rd_kafka_message_destroy(message);
  return was_record;
}

void TopicReader::Poll(std::chrono::milliseconds duration) {
  if (consumer_ == nullptr) {
    std::this_thread::sleep_for(duration);
    return;
  }
  auto deadline = Clock::now() + duration;
  while (Clock::now() < deadline) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer_, 100);
    if (message != nullptr) Consume(message);
  }
}

bool TopicReader::ReadToEnd(std::chrono::milliseconds timeout) {
  if (consumer_ == nullptr) return false;
  auto deadline = Clock::now() + timeout;
  std::map<int32_t, int64_t> ends;
  for (int p = 0; p < partitions_; ++p) {
    int64_t low = 0, high = 0;
    while (rd_kafka_query_watermark_offsets(consumer_, topic_.c_str(), p, &low,
                                            &high, 10000) !=
           RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(500ms);
    }
    ends[p] = high;
  }
  auto at_end = [&] {
    for (const auto& [p, end] : ends)
      if (reached_[p] < end) return false;
    return true;
  };
  while (!at_end()) {
    if (Clock::now() > deadline) return false;
    rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer_, 100);
    if (message != nullptr) Consume(message);
  }
  return true;
}

bool TopicReader::WaitFor(const std::function<bool()>& done,
                          std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!done() && Clock::now() < deadline) Poll(250ms);
  return done();
}

bool TopicReader::WaitForArticles(const std::set<std::string>& ids,
                                  std::chrono::milliseconds timeout) {
  // Counts only what is missing, so a long wait stays cheap.
  std::set<std::string> missing = ids;
  return WaitFor(
      [&] {
        for (auto it = missing.begin(); it != missing.end();) {
          it = article_counts_.contains(*it) ? missing.erase(it) : ++it;
        }
        return missing.empty();
      },
      timeout);
}

void TopicReader::ReadUntilIdle(std::chrono::milliseconds idle,
                                std::chrono::milliseconds timeout) {
  if (consumer_ == nullptr) return;
  auto deadline = Clock::now() + timeout;
  auto last = Clock::now();
  while (Clock::now() - last < idle && Clock::now() < deadline) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer_, 100);
    if (message != nullptr && Consume(message)) last = Clock::now();
  }
}

// ---------------------------------------------------------------------------
// StreamProducer

StreamProducer::StreamProducer(const std::string& bootstrap,
                               const std::string& topic, KeyValues records,
                               double records_per_second)
    : topic_(topic), records_(std::move(records)), rate_(records_per_second) {
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const char* name, const char* value) {
    if (rd_kafka_conf_set(conf, name, value, error, sizeof(error)) !=
        RD_KAFKA_CONF_OK) {
      ADD_FAILURE() << name << ": " << error;
    }
  };
  set("bootstrap.servers", bootstrap.c_str());
  set("message.max.bytes", "30000000");
  set("enable.idempotence", "true");
  set("message.timeout.ms", "600000");
  set("linger.ms", "5");
  rd_kafka_conf_set_dr_msg_cb(conf, &StreamProducer::OnDelivery);
  rd_kafka_conf_set_opaque(conf, this);
  producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof(error));
  if (producer_ == nullptr) {
    ADD_FAILURE() << "producer: " << error;
    done_ = true;
    return;
  }
  thread_ = std::thread([this] { Run(); });
}

StreamProducer::~StreamProducer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (producer_ != nullptr) {
    rd_kafka_purge(producer_,
                   RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(producer_, 0);
    rd_kafka_destroy(producer_);
  }
}

void StreamProducer::OnDelivery(rd_kafka_t*, const rd_kafka_message_t* message,
                                void* opaque) {
  auto* self = static_cast<StreamProducer*>(opaque);
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++self->acknowledged_;
  } else {
    ++self->failed_;
    std::lock_guard<std::mutex> lock(self->error_mutex_);
    if (self->error_.empty()) self->error_ = rd_kafka_err2str(message->err);
  }
}

std::string StreamProducer::error() const {
  std::lock_guard<std::mutex> lock(error_mutex_);
  return error_;
}

void StreamProducer::Run() {
  const auto start = Clock::now();
  int64_t last_timestamp = 0;
  for (size_t i = 0; i < records_.size() && !stop_; ++i) {
    auto due = start + std::chrono::microseconds(static_cast<int64_t>(
                           1e6 * static_cast<double>(i) / rate_));
    while (Clock::now() < due && !stop_) {
      rd_kafka_poll(producer_, 0);
      std::this_thread::sleep_for(
          std::min<Clock::duration>(due - Clock::now(), 20ms));
    }
    // Rising timestamps, as a stream's records have.
    int64_t timestamp =
        std::max(last_timestamp + 1,
                 static_cast<int64_t>(
                     std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count()));
    last_timestamp = timestamp;
    const auto& [key, value] = records_[i];
    while (!stop_) {
      rd_kafka_resp_err_t err = rd_kafka_producev(
          producer_, RD_KAFKA_V_TOPIC(topic_.c_str()),
          RD_KAFKA_V_KEY(key.empty() ? nullptr : key.data(), key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
          RD_KAFKA_V_TIMESTAMP(timestamp),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++produced_;
        break;
      }
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        ++failed_;
        std::lock_guard<std::mutex> lock(error_mutex_);
        if (error_.empty()) error_ = rd_kafka_err2str(err);
        break;
      }
      rd_kafka_poll(producer_, 100);
    }
  }
  while (!stop_ && rd_kafka_outq_len(producer_) > 0)
    rd_kafka_flush(producer_, 200);
  done_ = true;
}

bool StreamProducer::Finish(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!done_ && Clock::now() < deadline) std::this_thread::sleep_for(50ms);
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  return acknowledged_ == records_.size() && failed_ == 0;
}

// ---------------------------------------------------------------------------
// HTTP, ports, data

std::string HttpGet(int port, const std::string& path) {
  return RawCommandOutput(StrCat("curl -s -m 5 http://127.0.0.1:", port, path));
}

int HttpStatus(int port, const std::string& path) {
  std::string code =
      CommandOutput(StrCat("curl -s -m 5 -o /dev/null -w '%{http_code}' ",
                           "http://127.0.0.1:", port, path));
  int status = 0;
  return ParseInteger(code, &status) ? status : 0;
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t size = sizeof(address);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

KeyValues DataRecords(const std::string& name) {
  KeyValues records;
  std::ifstream file(std::string(STORYD_TEST_DATA) + "/" + name);
  std::string line;
  while (std::getline(file, line)) {
    if (!line.empty()) records.emplace_back("", line);
  }
  return records;
}

std::string JoinValues(const std::vector<Record>& records) {
  std::string out;
  for (const Record& record : records) out += record.value + "\n";
  return out;
}

std::string JoinValues(const KeyValues& records) {
  std::string out;
  for (const auto& [key, value] : records) out += value + "\n";
  return out;
}

std::string OfflineDedup(const std::string& input) {
  StorydConfig config = DefaultConfig();
  std::istringstream in(input);
  std::ostringstream out, log;
  RunDedup(config, in, out, log);
  return out.str();
}

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

namespace {

// Union-find over ids; the root of a group is the id it was first linked
// under when possible (links go from later to earlier articles).
class Groups {
 public:
  std::string Find(const std::string& id) {
    std::string root = id;
    for (auto it = parent_.find(root);
         it != parent_.end() && it->second != root; it = parent_.find(root)) {
      root = it->second;
    }
    // Path compression.
    std::string at = id;
    while (at != root) {
      std::string next = parent_[at];
      parent_[at] = root;
      at = next;
    }
    return root;
  }
  // `later` joins `earlier`'s group; the root stays earlier's.
  void Link(const std::string& later, const std::string& earlier) {
    std::string a = Find(later), b = Find(earlier);
    if (a != b) parent_[a] = b;
  }

 private:
  std::map<std::string, std::string> parent_;
};

std::string FollowMerges(const std::map<std::string, std::string>& into,
                         std::string story) {
  for (int steps = 0; steps < 100000; ++steps) {
    auto it = into.find(story);
    if (it == into.end() || it->second == story) break;
    story = it->second;
  }
  return story;
}

}  // namespace

std::map<std::string, std::string> CopyRoots(
    const std::vector<Record>& records) {
  Groups groups;
  std::vector<std::string> ids;
  for (const Record& record : records) {
    if (IsMergeRecord(record)) continue;
    ArticleOutput article = ParseArticle(record.value);
    ids.push_back(article.id);
    if (!article.dup_of.empty()) groups.Link(article.id, article.dup_of);
  }
  std::map<std::string, std::string> roots;
  for (const std::string& id : ids) roots[id] = groups.Find(id);
  return roots;
}

std::string ResolveMerges(const std::vector<Record>& records) {
  std::map<std::string, std::string> into;
  Groups groups;
  std::vector<ArticleOutput> articles;
  for (const Record& record : records) {
    if (IsMergeRecord(record)) {
      Merge merge = ParseMerge(record.value);
      if (!merge.story_id.empty() && !merge.into_story_id.empty() &&
          merge.story_id != merge.into_story_id) {
        into[merge.story_id] = merge.into_story_id;
      }
      if (merge.reason == "copy" && !merge.id.empty() &&
          !merge.match_id.empty()) {
        groups.Link(merge.id, merge.match_id);
      }
    } else {
      articles.push_back(ParseArticle(record.value));
      if (!articles.back().dup_of.empty())
        groups.Link(articles.back().id, articles.back().dup_of);
    }
  }
  std::string out;
  for (const ArticleOutput& article : articles) {
    out += "{\"id\":";
    AppendJsonString(article.id, &out);
    out += ",\"story_id\":";
    AppendJsonString(FollowMerges(into, article.story_id), &out);
    out += ",\"dup_of\":";
    std::string root = groups.Find(article.id);
    if (root == article.id) {
      out += "null";
    } else {
      AppendJsonString(root, &out);
    }
    out += "}\n";
  }
  return out;
}

int FingerprintDistance(const std::string& a, const std::string& b) {
  uint64_t x = 0, y = 0;
  if (a.size() != 16 || b.size() != 16) return -1;
  if (std::sscanf(a.c_str(), "%16lx", &x) != 1 ||
      std::sscanf(b.c_str(), "%16lx", &y) != 1) {
    return -1;
  }
  return std::popcount(x ^ y);
}

TopicDescription DescribeTopic(const std::string& bootstrap,
                               const std::string& topic) {
  TopicDescription description;
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), error,
                    sizeof(error));
  rd_kafka_t* admin =
      rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof(error));
  if (admin == nullptr) return description;
  rd_kafka_topic_t* handle = rd_kafka_topic_new(admin, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* metadata = nullptr;
  if (rd_kafka_metadata(admin, 0, handle, &metadata, 10000) ==
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (metadata->topic_cnt == 1 &&
        metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      description.partitions = metadata->topics[0].partition_cnt;
    }
    rd_kafka_metadata_destroy(metadata);
  }
  rd_kafka_topic_destroy(handle);
  if (description.partitions > 0) {
    rd_kafka_ConfigResource_t* resource =
        rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
    rd_kafka_queue_t* queue = rd_kafka_queue_new(admin);
    rd_kafka_DescribeConfigs(admin, &resource, 1, nullptr, queue);
    rd_kafka_event_t* event = rd_kafka_queue_poll(queue, 30000);
    if (event != nullptr) {
      const rd_kafka_DescribeConfigs_result_t* result =
          rd_kafka_event_DescribeConfigs_result(event);
      size_t count = 0;
      const rd_kafka_ConfigResource_t** resources =
          result == nullptr
              ? nullptr
              : rd_kafka_DescribeConfigs_result_resources(result, &count);
      for (size_t r = 0; r < count; ++r) {
        if (rd_kafka_ConfigResource_error(resources[r]) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
          continue;
        }
        size_t entries_count = 0;
        const rd_kafka_ConfigEntry_t** entries =
            rd_kafka_ConfigResource_configs(resources[r], &entries_count);
        for (size_t e = 0; e < entries_count; ++e) {
          const char* value = rd_kafka_ConfigEntry_value(entries[e]);
          description.config[rd_kafka_ConfigEntry_name(entries[e])] =
              value == nullptr ? "" : value;
        }
      }
      rd_kafka_event_destroy(event);
    }
    rd_kafka_queue_destroy(queue);
    rd_kafka_ConfigResource_destroy(resource);
  }
  rd_kafka_destroy(admin);
  return description;
}

// ---------------------------------------------------------------------------
// KafkaTest

void KafkaTest::SetUp() {
  bootstrap_ = Env("STORYD_KAFKA_BOOTSTRAP");
  broker_workdir_ = Env("STORYD_KAFKA_WORKDIR");
  ASSERT_FALSE(bootstrap_.empty())
      << "STORYD_KAFKA_BOOTSTRAP is not set: run tests/run.sh";
  ASSERT_FALSE(broker_workdir_.empty()) << "STORYD_KAFKA_WORKDIR is not set";
  std::random_device random;
  prefix_ =
      StrCat("t", random() % 1000000, "-",
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
  changelog_ = prefix_ + "-changelog";
  dir_ = std::filesystem::temp_directory_path() / prefix_;
  std::filesystem::create_directories(dir_);
}

void KafkaTest::TearDown() {
  if (HasFailure()) {
    std::cout << "configs and daemon logs kept in " << dir_.string() << "\n";
  } else {
    std::filesystem::remove_all(dir_);
  }
}

void KafkaTest::CreateTopic(const std::string& name, int partitions,
                            const std::string& config) {
  std::string command = StrCat(
      STORYD_SOURCE_DIR "/tests/kafka/broker.sh create-topic ", broker_workdir_,
      " ", name, " ", partitions, " ", config, " >/dev/null");
  ASSERT_EQ(RunCommand(command), 0) << command;
}

void KafkaTest::CreateTopics(int partitions) {
  input_ = prefix_ + "-in";
  output_ = prefix_ + "-out";
  dlq_ = prefix_ + "-dlq";
  CreateTopic(input_, partitions, "max.message.bytes=20000000");
  CreateTopic(output_, 2);
  CreateTopic(dlq_, 1, "max.message.bytes=20000000");
}

std::string KafkaTest::WriteConfig(const DaemonOptions& options) {
  std::string path = (dir_ / options.file_name).string();
  std::ofstream file(path);
  file << "[pipeline]\nthreads = " << options.threads
       << "\n[kafka]\ninput_topic = \"" << input_ << "\"\noutput_topic = \""
       << output_ << "\"\ndead_letter_topic = \"" << dlq_
       << "\"\nchangelog_topic = \"" << changelog_ << "\"\ngroup_id = \""
       << prefix_ << "\"\nmax_in_flight = " << options.max_in_flight << "\n";
  if (options.exactly_once.has_value())
    file << "exactly_once = " << (*options.exactly_once ? "true" : "false")
         << "\n";
  if (!options.instance_id.empty())
    file << "instance_id = \"" << options.instance_id << "\"\n";
  if (options.commit_interval_ms.has_value())
    file << "commit_interval_ms = " << *options.commit_interval_ms << "\n";
  if (options.reorder_ms.has_value())
    file << "reorder_ms = " << *options.reorder_ms << "\n";
  if (options.reorder_backlog_ms.has_value())
    file << "reorder_backlog_ms = " << *options.reorder_backlog_ms << "\n";
  file << "\"bootstrap.servers\" = \"" << bootstrap_ << "\"\n";
  if (!options.consumer_properties.empty()) {
    file << "[kafka.consumer]\n";
    for (const auto& [name, value] : options.consumer_properties)
      file << "\"" << name << "\" = \"" << value << "\"\n";
  }
  if (!options.rules_path.empty())
    file << "[boilerplate]\nrules = \"" << options.rules_path << "\"\n";
  file << "[metrics]\nport = " << options.metrics_port << "\n";
  return path;
}

std::string KafkaTest::WriteConfig(int threads, int metrics_port,
                                   int max_in_flight) {
  DaemonOptions options;
  options.threads = threads;
  options.metrics_port = metrics_port;
  options.max_in_flight = max_in_flight;
  return WriteConfig(options);
}

std::unique_ptr<Process> KafkaTest::StartDaemon(const std::string& config,
                                                const std::string& log_name) {
  return std::make_unique<Process>(
      std::vector<std::string>{STORYD_BINARY, "run", "--config", config},
      (dir_ / log_name).string());
}

std::string KafkaTest::Log(const std::string& log_name) const {
  return ReadFile((dir_ / log_name).string());
}

void KafkaTest::Produce(const std::string& topic, const KeyValues& records,
                        std::optional<int32_t> partition) {
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
          RD_KAFKA_V_PARTITION(partition.value_or(RD_KAFKA_PARTITION_UA)),
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

std::vector<Record> KafkaTest::ReadTopic(const std::string& topic, size_t count,
                                         std::chrono::milliseconds idle,
                                         Isolation isolation) {
  TopicReader reader(bootstrap_, topic, isolation);
  auto last = Clock::now();
  size_t seen = 0;
  reader.WaitFor(
      [&] {
        if (reader.records().size() > seen) {
          seen = reader.records().size();
          last = Clock::now();
        }
        return seen >= count || Clock::now() - last >= idle;
      },
      std::chrono::hours(1));
  std::vector<Record> records = reader.records();
  if (records.size() > count) records.resize(count);
  return records;
}

std::unique_ptr<TopicReader> KafkaTest::Reader(const std::string& topic,
                                               Isolation isolation) const {
  return std::make_unique<TopicReader>(bootstrap_, topic, isolation);
}

}  // namespace storyd
