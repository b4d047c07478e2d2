#include "daemon/kafka_daemon.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <simdjson.h>
#include <systemd/sd-daemon.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_format.h"
#include "core/boilerplate.h"
#include "core/copy_detector.h"
#include "core/pipeline.h"
#include "core/strings.h"
#include "core/term_prior.h"
#include "daemon/http_server.h"
#include "daemon/metrics.h"

namespace storyd {
namespace {

using Clock = std::chrono::steady_clock;

struct KafkaDeleter {
  void operator()(rd_kafka_t* handle) const { rd_kafka_destroy(handle); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDeleter>;

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
using PartitionList =
    std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

// One consumed record on its way through the pipeline.
struct Job {
  uint64_t seq = 0;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  Clock::time_point consumed;
};

// What a produce carries to its delivery report; kept so that a record the
// broker refuses can be produced again.
struct Delivery {
  int32_t partition = 0;  // input partition and offset it answers for
  int64_t offset = 0;
  bool dead_letter = false;
  std::string topic;
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
  Clock::time_point consumed;
};

// Offsets of one input partition between consume and commit.
struct PartitionTrack {
  std::map<int64_t, bool> pending;  // offset -> acknowledged
  int64_t committable = -1;         // highest offset with all before it acked
  int64_t committed = -1;
};

// Workers take jobs from a queue and leave results by sequence number; the
// main thread takes them back in order.
class WorkerPool {
 public:
  WorkerPool(int threads, size_t max_record_bytes,
             const ArticleProcessor* processor, DaemonMetrics* metrics)
      : processor_(processor), metrics_(metrics) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back(
          [this, max_record_bytes] { Work(max_record_bytes); });
    }
  }
  ~WorkerPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    work_ready_.notify_all();
    for (std::thread& thread : threads_) thread.join();
  }

  // The learned boilerplate that jobs taken from now on strip.
  void SetLearned(std::shared_ptr<const LearnedBoilerplate> learned) {
    std::lock_guard<std::mutex> lock(mutex_);
    learned_ = std::move(learned);
  }

  void Submit(std::shared_ptr<Job> job) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(job));
    }
    work_ready_.notify_one();
  }

  // The result for `seq` if it is done; waits up to `wait` for it.
  std::unique_ptr<ProcessedArticle> Take(uint64_t seq,
                                         std::chrono::milliseconds wait) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_ready_.wait_for(lock, wait, [&] { return done_.contains(seq); });
    auto it = done_.find(seq);
    if (it == done_.end()) return nullptr;
    std::unique_ptr<ProcessedArticle> result = std::move(it->second);
    done_.erase(it);
    return result;
  }

 private:
  void Work(size_t max_record_bytes) {
    ArticleParser parser(max_record_bytes);
    while (true) {
      std::shared_ptr<Job> job;
      std::shared_ptr<const LearnedBoilerplate> learned;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        work_ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        job = std::move(queue_.front());
        queue_.pop_front();
        learned = learned_;
      }
      auto start = Clock::now();
      auto result = std::make_unique<ProcessedArticle>();
      processor_->Process(&parser, job->seq, job->value, job->key,
                          learned.get(), result.get());
      metrics_->process_seconds.Observe(
          std::chrono::duration<double>(Clock::now() - start).count());
      {
        std::lock_guard<std::mutex> lock(mutex_);
        done_[job->seq] = std::move(result);
      }
      done_ready_.notify_all();
    }
  }

  const ArticleProcessor* processor_;
  DaemonMetrics* metrics_;
  std::mutex mutex_;
  std::condition_variable work_ready_, done_ready_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::shared_ptr<const LearnedBoilerplate> learned_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<ProcessedArticle>> done_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

class KafkaDaemon {
 public:
  KafkaDaemon(const StorydConfig& config, std::ostream& out, std::ostream& log)
      : config_(config), out_(out), log_(log) {}
  ~KafkaDaemon() {
    // Clients first, then the mock cluster, then the handle it lives in.
    // Buffered records belong to the consumer (empty after a clean drain).
    for (auto& [partition, queue] : reorder_) {
      for (Buffered& buffered : queue)
        rd_kafka_message_destroy(buffered.message);
    }
    pool_.reset();
    consumer_.reset();
    producer_.reset();
    if (mock_cluster_ != nullptr) rd_kafka_mock_cluster_destroy(mock_cluster_);
    mock_owner_.reset();
  }

  int Run(const DaemonOptions& options);

  // Called by the signal thread.
  void RequestStop() { stop_requested_.store(true); }

 private:
  absl::Status SetUp(const DaemonOptions& options);
  absl::Status StartEmbeddedBroker(int partitions);
  absl::StatusOr<KafkaHandle> CreateClient(rd_kafka_type_t type);
  void ConsumeLoop();
  // Holds a consumed record until ReleaseInOrder hands it on (takes it).
  void Buffer(rd_kafka_message_t* message);
  // Submits buffered records in timestamp order across partitions, each
  // partition's own order kept: the head with the smallest timestamp goes
  // first once every assigned partition has a record waiting, once the
  // oldest has waited kafka.reorder_ms, or once the buffer is full; `all`
  // releases everything.
  void ReleaseInOrder(bool all);
  void Submit(rd_kafka_message_t* message);
  // Runs the ordered stage for every result that is ready, in order.
  void EmitReady(std::chrono::milliseconds wait);
  void Produce(std::unique_ptr<Delivery> delivery);
  void OnDelivery(const rd_kafka_message_t* message);
  void Acknowledge(int32_t partition, int64_t offset);
  void Commit(bool synchronous);
  // Processes, produces and commits everything consumed so far.
  void Drain();
  void UpdateBackpressure();
  void Rebalance(rd_kafka_resp_err_t error,
                 rd_kafka_topic_partition_list_t* partitions);
  void OnStatistics(std::string_view json);
  void NotifyWatchdog();
  HttpResponse Serve(const std::string& path);

  static void DeliveryCallback(rd_kafka_t*, const rd_kafka_message_t* message,
                               void* opaque) {
    static_cast<KafkaDaemon*>(opaque)->OnDelivery(message);
  }
  static void RebalanceCallback(rd_kafka_t*, rd_kafka_resp_err_t error,
                                rd_kafka_topic_partition_list_t* partitions,
                                void* opaque) {
    static_cast<KafkaDaemon*>(opaque)->Rebalance(error, partitions);
  }
  static int StatisticsCallback(rd_kafka_t*, char* json, size_t length,
                                void* opaque) {
    static_cast<KafkaDaemon*>(opaque)->OnStatistics(
        std::string_view(json, length));
    return 0;  // librdkafka frees the buffer
  }

  StorydConfig config_;  // a copy: the embedded broker sets bootstrap.servers
  std::ostream& out_;
  std::ostream& log_;
  DaemonMetrics metrics_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> ready_{false};

  KafkaHandle mock_owner_;
  rd_kafka_mock_cluster_t* mock_cluster_ = nullptr;
  KafkaHandle consumer_;
  KafkaHandle producer_;

  std::unique_ptr<BoilerplateStripper> stripper_;
  std::unique_ptr<CopyDetector> detector_;
  std::unique_ptr<ArticleProcessor> processor_;
  std::unique_ptr<Assigner> assigner_;
  std::unique_ptr<WorkerPool> pool_;

  uint64_t next_seq_ = 0;      // next sequence number to hand out
  uint64_t next_to_emit_ = 0;  // next sequence number for the ordered stage
  absl::flat_hash_map<uint64_t, std::shared_ptr<Job>>
      jobs_;  // by seq, until emitted
  std::map<int32_t, PartitionTrack> partitions_;
  std::vector<int32_t> assigned_;
  struct Buffered {
    rd_kafka_message_t* message;
    Clock::time_point arrived;
  };
  std::map<int32_t, std::deque<Buffered>> reorder_;  // by partition
  size_t buffered_ = 0;
  int64_t in_flight_ = 0;  // consumed, not yet acknowledged
  bool paused_ = false;
  Clock::time_point last_commit_ = Clock::now();
  Clock::time_point last_progress_ = Clock::now();
  Clock::time_point last_watchdog_ = Clock::now();
  uint64_t watchdog_usec_ = 0;
  uint64_t acknowledged_ = 0;
};

absl::StatusOr<KafkaHandle> KafkaDaemon::CreateClient(rd_kafka_type_t type) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  auto set = [&](const std::string& name,
                 const std::string& value) -> absl::Status {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error,
                          sizeof(error)) != RD_KAFKA_CONF_OK) {
      return absl::InvalidArgumentError(
          StrCat("kafka property '", name, "': ", error));
    }
    return absl::OkStatus();
  };
  // storyd's defaults first; the config's properties override them.
  std::map<std::string, std::string> properties = {{"client.id", "storyd"}};
  if (type == RD_KAFKA_CONSUMER) {
    properties["group.id"] = config_.kafka.group_id;
    properties["enable.auto.commit"] = "false";
    properties["enable.auto.offset.store"] = "false";
    properties["auto.offset.reset"] = "earliest";
    properties["statistics.interval.ms"] = "5000";
    properties["enable.partition.eof"] = "false";
  } else {
    properties["enable.idempotence"] = "true";
    properties["linger.ms"] = "5";
    // Dead letters carry the original bytes, however large they were.
    properties["message.max.bytes"] = "67108864";
  }
  for (const auto& [name, value] : config_.kafka.common)
    properties[name] = value;
  for (const auto& [name, value] : type == RD_KAFKA_CONSUMER
                                       ? config_.kafka.consumer
                                       : config_.kafka.producer) {
    properties[name] = value;
  }
  for (const auto& [name, value] : properties) {
    absl::Status status = set(name, value);
    if (!status.ok()) {
      rd_kafka_conf_destroy(conf);
      return status;
    }
  }
  rd_kafka_conf_set_opaque(conf, this);
  if (type == RD_KAFKA_CONSUMER) {
    rd_kafka_conf_set_rebalance_cb(conf, &KafkaDaemon::RebalanceCallback);
    rd_kafka_conf_set_stats_cb(conf, &KafkaDaemon::StatisticsCallback);
  } else {
    rd_kafka_conf_set_dr_msg_cb(conf, &KafkaDaemon::DeliveryCallback);
  }
  rd_kafka_t* handle = rd_kafka_new(type, conf, error, sizeof(error));
  if (handle == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(StrCat("kafka client: ", error));
  }
  return KafkaHandle(handle);
}

absl::Status KafkaDaemon::StartEmbeddedBroker(int partitions) {
  // The mock cluster needs a client instance to live in; it speaks the
  // Kafka protocol on a loopback port that any client can use.
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  // This handle never connects anywhere; keep it from warning about that.
  rd_kafka_conf_set(conf, "log_level", "3", error, sizeof(error));
  rd_kafka_t* owner =
      rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof(error));
  if (owner == nullptr)
    return absl::InternalError(StrCat("embedded broker: ", error));
  mock_owner_.reset(owner);
  mock_cluster_ = rd_kafka_mock_cluster_new(owner, 1);
  if (mock_cluster_ == nullptr)
    return absl::InternalError("embedded broker: cannot start");
  const KafkaConfig& k = config_.kafka;
  for (const auto& [topic, count] :
       {std::pair<std::string, int>{k.input_topic, partitions},
        {k.output_topic, partitions},
        {k.dead_letter_topic, 1}}) {
    rd_kafka_resp_err_t err =
        rd_kafka_mock_topic_create(mock_cluster_, topic.c_str(), count, 1);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::InternalError(StrCat("embedded broker: topic ", topic, ": ",
                                        rd_kafka_err2str(err)));
    }
  }
  return absl::OkStatus();
}

absl::Status KafkaDaemon::SetUp(const DaemonOptions& options) {
  absl::StatusOr<BoilerplateStripper> stripper =
      BoilerplateStripper::Load(config_.rules_path);
  if (!stripper.ok()) return stripper.status();
  stripper_ = std::make_unique<BoilerplateStripper>(std::move(*stripper));
  detector_ = std::make_unique<CopyDetector>(config_.copy);
  processor_ = std::make_unique<ArticleProcessor>(
      stripper_.get(), detector_.get(), &TermPrior::Embedded(),
      config_.story.terms, config_.learner);
  assigner_ = std::make_unique<Assigner>(config_.copy.fingerprint_capacity,
                                         config_.story, config_.learner);
  metrics_.copy_index_bytes.store(detector_->MemoryBytes());

  if (options.embedded_broker) {
    absl::Status status = StartEmbeddedBroker(options.embedded_partitions);
    if (!status.ok()) return status;
    std::string bootstrap = rd_kafka_mock_cluster_bootstraps(mock_cluster_);
    config_.kafka.common["bootstrap.servers"] = bootstrap;
    out_ << "storyd: embedded broker at " << bootstrap << std::endl;
  }
  absl::StatusOr<KafkaHandle> producer = CreateClient(RD_KAFKA_PRODUCER);
  if (!producer.ok()) return producer.status();
  producer_ = std::move(*producer);
  absl::StatusOr<KafkaHandle> consumer = CreateClient(RD_KAFKA_CONSUMER);
  if (!consumer.ok()) return consumer.status();
  consumer_ = std::move(*consumer);
  rd_kafka_poll_set_consumer(consumer_.get());
  PartitionList topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(
      topics.get(), config_.kafka.input_topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer_.get(), topics.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(StrCat("subscribe: ", rd_kafka_err2str(err)));
  }
  pool_ = std::make_unique<WorkerPool>(EffectiveThreads(config_),
                                       config_.max_record_bytes,
                                       processor_.get(), &metrics_);
  return absl::OkStatus();
}

void KafkaDaemon::Submit(rd_kafka_message_t* message) {
  auto job = std::make_shared<Job>();
  job->seq = next_seq_++;
  job->partition = message->partition;
  job->offset = message->offset;
  if (message->key != nullptr)
    job->key.assign(static_cast<const char*>(message->key), message->key_len);
  if (message->payload != nullptr) {
    job->value.assign(static_cast<const char*>(message->payload), message->len);
  }
  job->consumed = Clock::now();
  partitions_[job->partition].pending[job->offset] = false;
  ++in_flight_;
  metrics_.articles_consumed.fetch_add(1, std::memory_order_relaxed);
  jobs_[job->seq] = job;
  pool_->Submit(std::move(job));
}

void KafkaDaemon::EmitReady(std::chrono::milliseconds wait) {
  while (next_to_emit_ < next_seq_) {
    std::unique_ptr<ProcessedArticle> processed =
        pool_->Take(next_to_emit_, wait);
    if (processed == nullptr) break;
    wait = std::chrono::milliseconds(0);
    auto job_entry = jobs_.find(next_to_emit_);
    std::shared_ptr<Job> job = std::move(job_entry->second);
    jobs_.erase(job_entry);
    ++next_to_emit_;

    auto start = Clock::now();
    std::variant<Assignment, InputProblem> result =
        assigner_->Assign(*processed);
    metrics_.assign_seconds.Observe(
        std::chrono::duration<double>(Clock::now() - start).count());
    auto delivery = std::make_unique<Delivery>();
    delivery->partition = job->partition;
    delivery->offset = job->offset;
    delivery->consumed = job->consumed;
    if (const InputProblem* problem = std::get_if<InputProblem>(&result)) {
      // Dead letter: the original bytes, the reason in headers.
      delivery->dead_letter = true;
      delivery->topic = config_.kafka.dead_letter_topic;
      delivery->key = job->key;
      delivery->value = std::move(job->value);
      delivery->headers = {
          {"storyd-error", std::string(InputErrorName(problem->error))},
          {"storyd-reason", problem->reason},
          {"storyd-source-topic", config_.kafka.input_topic},
          {"storyd-source-partition", std::to_string(job->partition)},
          {"storyd-source-offset", std::to_string(job->offset)}};
      metrics_.dead_letters.fetch_add(1, std::memory_order_relaxed);
    } else {
      const Assignment& assignment = std::get<Assignment>(result);
      delivery->topic = config_.kafka.output_topic;
      delivery->key = assignment.id;
      delivery->value = FormatAssignmentJson(assignment);
      switch (assignment.decision) {
        case StoryDecision::kCopy:
          metrics_.copies.fetch_add(1, std::memory_order_relaxed);
          break;
        case StoryDecision::kNew:
          metrics_.new_stories.fetch_add(1, std::memory_order_relaxed);
          break;
        case StoryDecision::kSameStory:
          metrics_.same_story.fetch_add(1, std::memory_order_relaxed);
          break;
      }
    }
    Produce(std::move(delivery));
  }
  // Workers strip what the ordered stage has learned so far.
  pool_->SetLearned(assigner_->LearnedSnapshot());
}

void KafkaDaemon::Produce(std::unique_ptr<Delivery> delivery) {
  std::vector<rd_kafka_vu_t> values;
  values.push_back(
      {.vtype = RD_KAFKA_VTYPE_TOPIC, .u = {.cstr = delivery->topic.c_str()}});
  rd_kafka_vu_t key{.vtype = RD_KAFKA_VTYPE_KEY, .u = {}};
  key.u.mem.ptr = delivery->key.data();
  key.u.mem.size = delivery->key.size();
  values.push_back(key);
  rd_kafka_vu_t value{.vtype = RD_KAFKA_VTYPE_VALUE, .u = {}};
  value.u.mem.ptr = delivery->value.data();
  value.u.mem.size = delivery->value.size();
  values.push_back(value);
  for (const auto& [name, text] : delivery->headers) {
    rd_kafka_vu_t header{.vtype = RD_KAFKA_VTYPE_HEADER, .u = {}};
    header.u.header.name = name.c_str();
    header.u.header.val = text.data();
    header.u.header.size = static_cast<ssize_t>(text.size());
    values.push_back(header);
  }
  rd_kafka_vu_t flags{.vtype = RD_KAFKA_VTYPE_MSGFLAGS,
                      .u = {.i = RD_KAFKA_MSG_F_COPY}};
  values.push_back(flags);
  rd_kafka_vu_t opaque{.vtype = RD_KAFKA_VTYPE_OPAQUE,
                       .u = {.ptr = delivery.get()}};
  values.push_back(opaque);
  while (true) {
    rd_kafka_error_t* error =
        rd_kafka_produceva(producer_.get(), values.data(), values.size());
    if (error == nullptr) {
      delivery.release();  // owned by the delivery report now
      return;
    }
    rd_kafka_resp_err_t code = rd_kafka_error_code(error);
    std::string text = rd_kafka_error_string(error);
    rd_kafka_error_destroy(error);
    if (code == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      // The producer queue is full: serve delivery reports, then retry.
      rd_kafka_poll(producer_.get(), 100);
      continue;
    }
    log_ << "storyd: produce to " << delivery->topic << " failed: " << text
         << "; retrying" << std::endl;
    metrics_.delivery_failures.fetch_add(1, std::memory_order_relaxed);
    rd_kafka_poll(producer_.get(), 500);
  }
}

void KafkaDaemon::OnDelivery(const rd_kafka_message_t* message) {
  std::unique_ptr<Delivery> delivery(static_cast<Delivery*>(message->_private));
  if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // Not acknowledged: produce again, so that nothing is lost; the input
    // offset stays uncommitted until it is.
    log_ << "storyd: delivery to " << delivery->topic
         << " failed: " << rd_kafka_err2str(message->err) << "; producing again"
         << std::endl;
    metrics_.delivery_failures.fetch_add(1, std::memory_order_relaxed);
    Produce(std::move(delivery));
    return;
  }
  if (!delivery->dead_letter)
    metrics_.articles_emitted.fetch_add(1, std::memory_order_relaxed);
  metrics_.end_to_end_seconds.Observe(
      std::chrono::duration<double>(Clock::now() - delivery->consumed).count());
  Acknowledge(delivery->partition, delivery->offset);
}

void KafkaDaemon::Acknowledge(int32_t partition, int64_t offset) {
  --in_flight_;
  ++acknowledged_;
  last_progress_ = Clock::now();
  auto track = partitions_.find(partition);
  if (track == partitions_.end()) return;
  PartitionTrack& t = track->second;
  auto it = t.pending.find(offset);
  if (it != t.pending.end()) it->second = true;
  // Everything acknowledged from the front can be committed.
  while (!t.pending.empty() && t.pending.begin()->second) {
    t.committable = t.pending.begin()->first;
    t.pending.erase(t.pending.begin());
  }
}

void KafkaDaemon::Commit(bool synchronous) {
  PartitionList offsets(
      rd_kafka_topic_partition_list_new(static_cast<int>(partitions_.size())));
  for (auto& [partition, track] : partitions_) {
    if (track.committable > track.committed) {
      rd_kafka_topic_partition_list_add(offsets.get(),
                                        config_.kafka.input_topic.c_str(),
                                        partition)
          ->offset = track.committable + 1;  // the next offset to read
      track.committed = track.committable;
    }
  }
  last_commit_ = Clock::now();
  if (offsets->cnt == 0) return;
  rd_kafka_resp_err_t err =
      rd_kafka_commit(consumer_.get(), offsets.get(), synchronous ? 0 : 1);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR &&
      err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    log_ << "storyd: offset commit failed: " << rd_kafka_err2str(err)
         << std::endl;
    return;
  }
  metrics_.commits.fetch_add(1, std::memory_order_relaxed);
}

void KafkaDaemon::Buffer(rd_kafka_message_t* message) {
  reorder_[message->partition].push_back({message, Clock::now()});
  ++buffered_;
}

void KafkaDaemon::ReleaseInOrder(bool all) {
  constexpr size_t kMaxBuffered = 2048;
  const auto window = std::chrono::milliseconds(config_.kafka.reorder_ms);
  while (buffered_ > 0) {
    std::deque<Buffered>* first = nullptr;
    int64_t first_timestamp = 0;
    Clock::time_point oldest = Clock::time_point::max();
    bool every_partition_waiting = !assigned_.empty();
    for (int32_t partition : assigned_) {
      auto it = reorder_.find(partition);
      if (it == reorder_.end() || it->second.empty())
        every_partition_waiting = false;
    }
    for (auto& [partition, queue] : reorder_) {
      if (queue.empty()) continue;
      rd_kafka_timestamp_type_t type;
      int64_t timestamp =
          rd_kafka_message_timestamp(queue.front().message, &type);
      // Ties go to the lower partition (the map is ordered).
      if (first == nullptr || timestamp < first_timestamp) {
        first = &queue;
        first_timestamp = timestamp;
      }
      oldest = std::min(oldest, queue.front().arrived);
    }
    const bool due = all || window.count() == 0 || every_partition_waiting ||
                     buffered_ >= kMaxBuffered ||
                     Clock::now() - oldest >= window;
    if (!due) return;
    rd_kafka_message_t* message = first->front().message;
    first->pop_front();
    --buffered_;
    Submit(message);
    rd_kafka_message_destroy(message);
  }
}

void KafkaDaemon::Drain() {
  // Every consumed record is processed, produced and acknowledged, then the
  // offsets are committed. Bounded only by the broker: records are never
  // given up on.
  ReleaseInOrder(/*all=*/true);
  auto last_report = Clock::now();
  while (in_flight_ > 0) {
    EmitReady(std::chrono::milliseconds(20));
    rd_kafka_poll(producer_.get(), 50);
    if (Clock::now() - last_report > std::chrono::seconds(10)) {
      log_ << "storyd: draining, " << in_flight_ << " records in flight"
           << std::endl;
      last_report = Clock::now();
    }
  }
  rd_kafka_flush(producer_.get(), 10000);
  Commit(/*synchronous=*/true);
}

void KafkaDaemon::UpdateBackpressure() {
  const int64_t limit = static_cast<int64_t>(config_.kafka.max_in_flight);
  bool pause = !paused_ && in_flight_ >= limit;
  bool resume = paused_ && in_flight_ <= limit / 2;
  if (!pause && !resume) return;
  PartitionList list(
      rd_kafka_topic_partition_list_new(static_cast<int>(assigned_.size())));
  for (int32_t partition : assigned_) {
    rd_kafka_topic_partition_list_add(
        list.get(), config_.kafka.input_topic.c_str(), partition);
  }
  if (pause) {
    rd_kafka_pause_partitions(consumer_.get(), list.get());
  } else {
    rd_kafka_resume_partitions(consumer_.get(), list.get());
  }
  paused_ = pause;
  metrics_.paused.store(paused_ ? 1 : 0);
}

void KafkaDaemon::Rebalance(rd_kafka_resp_err_t error,
                            rd_kafka_topic_partition_list_t* partitions) {
  if (error == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    assigned_.clear();
    for (int i = 0; i < partitions->cnt; ++i)
      assigned_.push_back(partitions->elems[i].partition);
    rd_kafka_assign(consumer_.get(), partitions);
    paused_ = false;
    ready_.store(true);
    log_ << "storyd: assigned " << partitions->cnt << " partition(s) of "
         << config_.kafka.input_topic << std::endl;
    return;
  }
  // Revoked: finish and commit what was consumed from these partitions
  // before another consumer takes them over.
  log_ << "storyd: partitions revoked; draining " << in_flight_ << " record(s)"
       << std::endl;
  Drain();
  partitions_.clear();
  assigned_.clear();
  rd_kafka_assign(consumer_.get(), nullptr);
}

void KafkaDaemon::OnStatistics(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS)
    return;
  simdjson::dom::object partitions;
  if (root["topics"][config_.kafka.input_topic]["partitions"].get(partitions) !=
      simdjson::SUCCESS) {
    return;
  }
  std::map<int32_t, int64_t> lag;
  for (auto [key, value] : partitions) {
    int64_t partition_lag = -1;
    int64_t partition_id = -1;
    if (value["partition"].get(partition_id) != simdjson::SUCCESS ||
        partition_id < 0)
      continue;
    if (value["consumer_lag"].get(partition_lag) != simdjson::SUCCESS ||
        partition_lag < 0) {
      continue;
    }
    lag[static_cast<int32_t>(partition_id)] = partition_lag;
  }
  metrics_.SetConsumerLag(std::move(lag));
}

void KafkaDaemon::NotifyWatchdog() {
  if (watchdog_usec_ == 0) return;
  auto now = Clock::now();
  if (now - last_watchdog_ < std::chrono::microseconds(watchdog_usec_ / 2))
    return;
  // Only while the pipeline makes progress: idle (nothing in flight) or
  // something acknowledged within the watchdog interval.
  bool progressing =
      in_flight_ == 0 ||
      now - last_progress_ < std::chrono::microseconds(watchdog_usec_);
  if (!progressing) return;
  sd_notify(0, "WATCHDOG=1");
  last_watchdog_ = now;
}

HttpResponse KafkaDaemon::Serve(const std::string& path) {
  if (path == "/metrics") {
    // The gauges are the main loop's to update: this runs on the HTTP
    // thread and must not read the loop's own counters.
    return {200, "text/plain; version=0.0.4; charset=utf-8",
            metrics_.RenderPrometheus()};
  }
  if (path == "/healthz") return {200, "text/plain", "ok\n"};
  if (path == "/readyz") {
    return ready_.load() ? HttpResponse{200, "text/plain", "ready\n"}
                         : HttpResponse{503, "text/plain", "not ready\n"};
  }
  return {404, "text/plain", "not found\n"};
}

void KafkaDaemon::ConsumeLoop() {
  sd_notify(0, "READY=1\nSTATUS=consuming");
  while (!stop_requested_.load()) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(
        consumer_.get(), in_flight_ > 0 || buffered_ > 0 ? 5 : 100);
    if (message != nullptr) {
      if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        Buffer(message);
      } else {
        if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          log_ << "storyd: consumer: " << rd_kafka_message_errstr(message)
               << std::endl;
        }
        rd_kafka_message_destroy(message);
      }
    }
    ReleaseInOrder(/*all=*/false);
    EmitReady(std::chrono::milliseconds(0));
    rd_kafka_poll(producer_.get(), 0);
    UpdateBackpressure();
    if (Clock::now() - last_commit_ >
        std::chrono::milliseconds(config_.kafka.commit_interval_ms)) {
      Commit(/*synchronous=*/false);
    }
    metrics_.in_flight.store(in_flight_, std::memory_order_relaxed);
    metrics_.fingerprint_entries.store(detector_->fingerprint_entries(),
                                       std::memory_order_relaxed);
    NotifyWatchdog();
  }
}

int KafkaDaemon::Run(const DaemonOptions& options) {
  absl::Status status = SetUp(options);
  if (!status.ok()) {
    log_ << "storyd: " << status.message() << std::endl;
    return 2;
  }
  HttpServer http([this](const std::string& path) { return Serve(path); });
  if (config_.metrics.port > 0) {
    status = http.Start(config_.metrics.address, config_.metrics.port);
    if (!status.ok()) {
      log_ << "storyd: " << status.message() << std::endl;
      return 2;
    }
    log_ << "storyd: metrics on http://" << config_.metrics.address << ":"
         << http.port() << "/metrics" << std::endl;
  }
  if (sd_watchdog_enabled(0, &watchdog_usec_) <= 0) watchdog_usec_ = 0;
  log_ << "storyd: consuming " << config_.kafka.input_topic << " -> "
       << config_.kafka.output_topic
       << " (dead letters: " << config_.kafka.dead_letter_topic << ")"
       << std::endl;
  ConsumeLoop();

  sd_notify(0, "STOPPING=1\nSTATUS=draining");
  log_ << "storyd: stopping; draining " << in_flight_ << " record(s)"
       << std::endl;
  Drain();
  rd_kafka_consumer_close(consumer_.get());
  log_ << "storyd: stopped after " << metrics_.articles_consumed.load()
       << " records, " << metrics_.articles_emitted.load() << " outputs, "
       << metrics_.dead_letters.load() << " dead letters" << std::endl;
  http.Stop();
  pool_.reset();
  return 0;
}

}  // namespace

int RunDaemon(const StorydConfig& config, const DaemonOptions& options,
              std::ostream& out, std::ostream& log) {
  // SIGTERM and SIGINT are taken by a thread of their own (sigwait), so no
  // handler needs global state; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  KafkaDaemon daemon(config, out, log);
  std::atomic<bool> finished{false};
  std::thread signal_thread([&] {
    timespec tick{0, 200 * 1000 * 1000};
    while (!finished.load()) {
      int signal = sigtimedwait(&signals, nullptr, &tick);
      if (signal == SIGTERM || signal == SIGINT) {
        daemon.RequestStop();
        return;
      }
    }
  });
  int code = daemon.Run(options);
  finished.store(true);
  signal_thread.join();
  return code;
}

}  // namespace storyd
