#include "daemon/kafka_daemon.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_format.h"
#include "core/boilerplate.h"
#include "core/copy_detector.h"
#include "core/pipeline.h"
#include "core/state_record.h"
#include "core/strings.h"
#include "core/term_prior.h"
#include "daemon/changelog.h"
#include "daemon/consumer_lag.h"
#include "daemon/http_server.h"
#include "daemon/metrics.h"
#include "daemon/reorder_buffer.h"
#include "daemon/worker_pool.h"

namespace storyd {
namespace {

using Clock = std::chrono::steady_clock;

struct KafkaDeleter {
  void operator()(rd_kafka_t* handle) const { rd_kafka_destroy(handle); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDeleter>;

struct QueueDeleter {
  void operator()(rd_kafka_queue_t* queue) const {
    rd_kafka_queue_destroy(queue);
  }
};
using QueueHandle = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
using PartitionList =
    std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

// rd_kafka_message_destroy is thread-safe: a Job releases its record on
// whichever thread drops it last.
struct MessageDeleter {
  void operator()(rd_kafka_message_t* message) const {
    rd_kafka_message_destroy(message);
  }
};
using KafkaMessage = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;

// One consumed record on its way through the pipeline: an input record, or
// another instance's change from the changelog (`state`), which takes its
// turn in the ordered stage without a worker.
// (PoolJob's seq and timestamp; its payload and key view `message`.)
struct Job : PoolJob {
  int32_t partition = 0;
  int64_t offset = 0;
  // The input record itself, until the ordered stage is done with it: a
  // worker parses its key and bytes where librdkafka fetched them, and a
  // dead letter copies them. Copying 2-4 KB a record on the main thread was its
  // largest single cost after the ordered stage (8 % of its samples at
  // saturation). Every Job is gone before the consumer is.
  KafkaMessage message;
  Clock::time_point consumed;
  std::optional<StateRecord> state;

  // Points the pool's views at the record's bytes.
  void SetMessage(KafkaMessage record) {
    message = std::move(record);
    if (message->payload != nullptr) {
      payload = {static_cast<const char*>(message->payload), message->len};
    }
    if (message->key != nullptr) {
      key = {static_cast<const char*>(message->key), message->key_len};
    }
  }
};

// What a produce carries to its delivery report; kept so that a record the
// broker refuses can be produced again.
struct Delivery {
  enum Kind { kOutput, kDeadLetter, kChangelog, kMerge };
  Kind kind = kOutput;
  int32_t partition = -1;  // input partition and offset it answers for;
  int64_t offset = -1;     // -1 when it answers for none
  // One of the config's topic names, which outlive every delivery: a
  // pointer, as the main loop makes two deliveries a record.
  const std::string* topic = nullptr;
  int32_t topic_partition = RD_KAFKA_PARTITION_UA;
  std::string key;
  std::optional<std::string> value;  // nullopt: a tombstone
  // The storyd-instance header (changelog records), added when produced.
  bool instance_header = false;
  std::vector<std::pair<std::string, std::string>> headers;  // any others
  // When the input record it answers for was consumed (partition >= 0).
  Clock::time_point consumed;
};

// Offsets of one input partition between consume and commit.
struct PartitionTrack {
  std::map<int64_t, int> pending;  // offset -> deliveries not yet acked
  int64_t committable = -1;        // highest offset with all before it acked
  int64_t committed = -1;
};

// The decision of a restored article, kept a while so that an input record
// delivered again after a crash (at least once) gets the same answer.
struct Replay {
  int32_t partition = -1;
  int64_t offset = -1;
  Assignment assignment;  // formatted only when it is replayed
};

class KafkaDaemon {
 public:
  KafkaDaemon(const StorydConfig& config, std::ostream& out, std::ostream& log)
      : config_(config), out_(out), log_(log) {}
  ~KafkaDaemon() {
    // Clients first, then the mock cluster, then the handle it lives in.
    // Buffered records belong to the consumer (empty after a clean drain).
    DropBuffered();
    pool_.reset();
    // Jobs hold input records, which must go before their consumer.
    jobs_.clear();
    submitted_.clear();
    consumer_queue_.reset();
    consumer_.reset();
    changelog_consumer_.reset();
    producer_.reset();
    if (mock_cluster_ != nullptr) rd_kafka_mock_cluster_destroy(mock_cluster_);
    mock_owner_.reset();
  }

  int Run(const DaemonOptions& options);

  // Called by the signal thread.
  void RequestStop() { stop_requested_.store(true); }
  void RequestRuleReload() { reload_requested_.store(true); }

 private:
  enum class Role { kInput, kProducer, kChangelog };

  absl::Status SetUp(const DaemonOptions& options);
  absl::Status StartEmbeddedBroker(int partitions);
  absl::StatusOr<KafkaHandle> CreateClient(Role role);
  // The producer, with its transactions initialized when exactly once.
  absl::Status StartProducer();
  // Fresh indexes, processor and workers.
  void ResetPipeline();
  // Lets the workers wake the main loop when its next result is done.
  void SetWaker();
  // Reads the changelog into the fresh indexes.
  absl::Status Restore();
  void ConsumeLoop();
  // Holds a consumed record until ReleaseInOrder hands it on (takes it).
  void Buffer(rd_kafka_message_t* message, Clock::time_point consumed);
  // Submits buffered records in timestamp order across partitions, each
  // partition's own order kept (ReorderBuffer says when a record is due);
  // `all` releases everything.
  void ReleaseInOrder(bool all);
  void DropBuffered();
  // Makes a job of a record, for ReleaseInOrder to hand to the workers.
  void Submit(KafkaMessage message, Clock::time_point consumed);
  // Queues another instance's change for the ordered stage.
  void SubmitChange(ChangelogEntry&& entry);
  // Applies a change from the changelog under `seq`; `live`: while running
  // (splits are looked for and announced), not while restoring.
  void ApplyChange(uint64_t seq, StateRecord& record, bool own, bool live);
  // Runs the ordered stage for every result that is ready, in order.
  void EmitReady(std::chrono::milliseconds wait);
  // The changelog records of one accepted article and the tombstones of
  // what this instance forgot.
  void ProduceChanges(const Job& job, const ProcessedArticle& processed,
                      const Assignment& assignment, TermVector vector);
  void ProduceChangelog(std::string key, std::optional<std::string> value);
  // This instance wrote the shingle record of `id`; tombstones the oldest
  // such record once it is past the shingle window.
  void RememberOwnShingles(const std::string& id);
  void AnnounceMerge(const MergeRecord& merge);
  void Produce(std::unique_ptr<Delivery> delivery);
  void OnDelivery(const rd_kafka_message_t* message);
  void Acknowledge(int32_t partition, int64_t offset);
  void Track(int32_t partition, int64_t offset);
  // At least once: commits the offsets acknowledged so far.
  void Commit(bool synchronous);
  // Exactly once: sends the offsets of everything emitted into the open
  // transaction and commits it; on an abortable error, aborts and rewinds.
  void CommitTransaction();
  // Fetches the output topics' metadata into the producer before use.
  void WarmUpProducer();
  void BeginTransactionIfNeeded();
  // After an aborted transaction: forgets everything not committed,
  // restores the state from the changelog and goes back to the committed
  // input offsets.
  void Rewind();
  // Processes, produces and commits everything consumed so far.
  void Drain();
  // Reads the boilerplate rules file again (SIGHUP). A file that does not
  // load is reported and the rules in use stay. Otherwise everything
  // consumed so far is drained first (processed with the rules it was
  // consumed under, produced and committed), so that no worker is reading
  // the rules while they are replaced. False when the drain's transaction
  // aborted: the caller asks again after the rewind, and the records read
  // again then get the new rules.
  bool ReloadRules();
  void UpdateBackpressure();
  // Tells the reorder merge which assigned partitions have records to read
  // (it waits longer for their first) and which are at their end (it does
  // not wait for them), from the positions they will be read from and the
  // broker's end offsets. `positions`: the committed offsets when the
  // caller has them, else nullptr. Without an answer, the merge waits as
  // for any partition that has given nothing.
  void FindBacklogs(const rd_kafka_topic_partition_list_t* positions);
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
  std::atomic<bool> reload_requested_{false};
  std::atomic<bool> restored_{false};
  std::atomic<bool> assigned_any_{false};
  std::string instance_id_;
  bool exactly_once_ = true;

  KafkaHandle mock_owner_;
  rd_kafka_mock_cluster_t* mock_cluster_ = nullptr;
  KafkaHandle consumer_;
  // The consumer's queue, for workers to cut the main loop's poll short.
  QueueHandle consumer_queue_;
  KafkaHandle changelog_consumer_;
  KafkaHandle producer_;
  std::unique_ptr<ChangelogReader> changelog_;

  std::unique_ptr<BoilerplateStripper> stripper_;
  std::unique_ptr<CopyDetector> detector_;
  std::unique_ptr<ArticleProcessor> processor_;
  std::unique_ptr<Assigner> assigner_;
  std::unique_ptr<WorkerPool> pool_;

  uint64_t next_seq_ = 0;      // next sequence number to hand out
  uint64_t next_to_emit_ = 0;  // next sequence number for the ordered stage
  // The jobs of seqs next_to_emit_ to next_seq_ - 1, in seq order, until
  // emitted: seqs are handed out one after another and emitted in order.
  std::deque<std::shared_ptr<Job>> jobs_;
  std::map<int32_t, PartitionTrack> partitions_;
  std::vector<int32_t> assigned_;
  // Jobs for the workers, submitted together at the end of a release.
  std::vector<std::shared_ptr<const PoolJob>> submitted_;
  ReorderBuffer<rd_kafka_message_t*> reorder_{
      std::chrono::milliseconds(config_.kafka.reorder_ms),
      std::chrono::milliseconds(config_.kafka.reorder_backlog_ms), 2048};
  int64_t in_flight_ = 0;  // consumed, not yet acknowledged
  bool paused_ = false;

  // Exactly once: the open transaction and the input offsets it covers.
  bool transaction_open_ = false;
  bool transaction_failed_ = false;  // a record of it was not delivered
  bool rewind_needed_ = false;
  bool fatal_ = false;  // the producer is fenced or broken for good
  std::map<int32_t, int64_t> transaction_offsets_;  // next offset to read

  // Shingle sets of other instances' articles, until their article record.
  absl::flat_hash_map<std::string, std::vector<uint32_t>> pending_shingles_;
  // This instance's articles whose shingle records are live, oldest first.
  std::deque<std::string> own_window_ids_;
  // Restored decisions, for input records delivered again; bounded.
  absl::flat_hash_map<std::string, Replay> replays_;
  std::deque<std::string> replay_order_;

  Clock::time_point last_commit_ = Clock::now();
  Clock::time_point last_progress_ = Clock::now();
  Clock::time_point last_watchdog_ = Clock::now();
  uint64_t watchdog_usec_ = 0;
  uint64_t acknowledged_ = 0;
  uint64_t acknowledgements_ = 0;       // Acknowledge calls
  uint64_t acknowledgements_seen_ = 0;  // by NotifyWatchdog
};

absl::StatusOr<KafkaHandle> KafkaDaemon::CreateClient(Role role) {
  const rd_kafka_type_t type =
      role == Role::kProducer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER;
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
  // What the changelog reader depends on, whatever the config says for
  // consumers: assigned, never subscribed, so its group is never joined
  // or committed to; a restore ends at the partition's end (the EOF
  // event); only committed changes count.
  const std::map<std::string, std::string> changelog_reader_properties = {
      {"group.id", StrCat(config_.kafka.group_id, "-changelog-", instance_id_)},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"enable.partition.eof", "true"},
      {"isolation.level", "read_committed"}};
  // storyd's defaults first; the config's properties override them.
  std::map<std::string, std::string> properties = {{"client.id", "storyd"}};
  if (role == Role::kInput) {
    properties["group.id"] = config_.kafka.group_id;
    properties["enable.auto.commit"] = "false";
    properties["enable.auto.offset.store"] = "false";
    properties["auto.offset.reset"] = "earliest";
    properties["statistics.interval.ms"] = "5000";
    // The reorder merge stops waiting for a partition at its end.
    properties["enable.partition.eof"] = "true";
    properties["isolation.level"] = "read_committed";
    // A crashed instance's partitions move on after this long. Heartbeats
    // come from librdkafka's own thread, so a long restore does not miss
    // them (max.poll.interval.ms guards the main loop).
    properties["session.timeout.ms"] = "10000";
  } else if (role == Role::kChangelog) {
    // (Its essentials, changelog_reader_properties, come last, below.)
    // Other instances' changes should arrive while they still matter.
    properties["fetch.wait.max.ms"] = "10";
  } else {
    properties["enable.idempotence"] = "true";
    // Exactly once, an output is visible when its transaction commits, and
    // the commit sends what is still waiting at once (a flush does not
    // linger): batching for up to half the commit interval delays nothing
    // a read_committed consumer sees. It cut storyd's CPU a record by a
    // tenth to an eighth at saturation (fewer, larger produce requests for
    // librdkafka's broker thread and for the broker), p99 latency the
    // same. At least once a record is visible when it lands: 5 ms.
    properties["linger.ms"] =
        exactly_once_
            ? std::to_string(std::max(5, config_.kafka.commit_interval_ms / 2))
            : "5";
    // Dead letters carry the original bytes, however large they were.
    properties["message.max.bytes"] = "67108864";
    if (exactly_once_) {
      properties["transactional.id"] =
          StrCat(config_.kafka.group_id, "-", instance_id_);
      // Right after a commit the coordinator may still be writing the
      // previous transaction's markers and answers the next transaction's
      // first requests with CONCURRENT_TRANSACTIONS; librdkafka retries
      // after retry.backoff.ms, and the default 100 ms held the ordered
      // stage that long several times a second (the p99 latency). The Java
      // client uses 20 ms for these retries.
      properties["retry.backoff.ms"] = "20";
    }
  }
  for (const auto& [name, value] : config_.kafka.common)
    properties[name] = value;
  for (const auto& [name, value] : type == RD_KAFKA_CONSUMER
                                       ? config_.kafka.consumer
                                       : config_.kafka.producer) {
    properties[name] = value;
  }
  if (role == Role::kChangelog) {
    for (const auto& [name, value] : changelog_reader_properties)
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
  if (role == Role::kInput) {
    rd_kafka_conf_set_rebalance_cb(conf, &KafkaDaemon::RebalanceCallback);
    rd_kafka_conf_set_stats_cb(conf, &KafkaDaemon::StatisticsCallback);
  } else if (role == Role::kProducer) {
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
        {k.dead_letter_topic, 1},
        {k.changelog_topic, 1}}) {
    rd_kafka_resp_err_t err =
        rd_kafka_mock_topic_create(mock_cluster_, topic.c_str(), count, 1);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::InternalError(StrCat("embedded broker: topic ", topic, ": ",
                                        rd_kafka_err2str(err)));
    }
  }
  return absl::OkStatus();
}

void KafkaDaemon::ResetPipeline() {
  pool_.reset();
  detector_ = std::make_unique<CopyDetector>(config_.copy);
  // Their pages would otherwise be zeroed under the first second of load.
  detector_->PrefaultTables();
  processor_ = std::make_unique<ArticleProcessor>(
      stripper_.get(), detector_.get(), &TermPrior::Embedded(),
      config_.story.terms, config_.learner);
  processor_->set_keep_shingles(true);  // for the changelog
  assigner_ = std::make_unique<Assigner>(config_.copy.fingerprint_capacity,
                                         config_.story, config_.learner);
  assigner_->KeepForgotten(true);  // their changelog records get tombstones
  assigner_->DeferCopyStoryTerms(processor_.get());
  assigner_->ShortcutIdenticalCopies(processor_.get(),
                                     config_.copy.window_articles);
  metrics_.copy_index_bytes.store(detector_->MemoryBytes());
  next_seq_ = next_to_emit_ = 0;
  jobs_.clear();
  pending_shingles_.clear();
  own_window_ids_.clear();
  replays_.clear();
  replay_order_.clear();
  submitted_.clear();
  pool_ = std::make_unique<WorkerPool>(EffectiveThreads(config_),
                                       config_.max_record_bytes,
                                       processor_.get(), &metrics_);
  SetWaker();
}

void KafkaDaemon::SetWaker() {
  if (pool_ == nullptr || consumer_queue_ == nullptr) return;
  rd_kafka_queue_t* queue = consumer_queue_.get();
  pool_->SetWaker([queue] { rd_kafka_queue_yield(queue); });
}

absl::Status KafkaDaemon::StartProducer() {
  absl::StatusOr<KafkaHandle> producer = CreateClient(Role::kProducer);
  if (!producer.ok()) return producer.status();
  producer_ = std::move(*producer);
  transaction_open_ = transaction_failed_ = false;
  transaction_offsets_.clear();
  if (!exactly_once_) return absl::OkStatus();
  // Fences an earlier run under the same transactional.id and aborts what
  // it left open. Waits for the broker as long as it takes.
  while (true) {
    rd_kafka_error_t* error =
        rd_kafka_init_transactions(producer_.get(), 30000);
    if (error == nullptr) return absl::OkStatus();
    std::string text = rd_kafka_error_string(error);
    bool retriable = rd_kafka_error_is_retriable(error);
    rd_kafka_error_destroy(error);
    if (!retriable)
      return absl::UnavailableError(StrCat("transactions: ", text));
    log_ << "storyd: initializing transactions: " << text << "; retrying"
         << std::endl;
    if (stop_requested_.load())
      return absl::CancelledError("stopped while initializing transactions");
  }
}

void KafkaDaemon::WarmUpProducer() {
  // The producer learns a topic's partitions on the first record it is
  // given, and the first transaction's commit waited for that (about 0.7 s
  // on a local broker, with the ordered stage stopped). Asking now costs
  // nothing later; a failure only means the first records wait, as before.
  for (const std::string& topic :
       {config_.kafka.output_topic, config_.kafka.dead_letter_topic,
        config_.kafka.changelog_topic}) {
    TopicPartitionCount(producer_.get(), topic, 5000).IgnoreError();
  }
}

absl::Status KafkaDaemon::SetUp(const DaemonOptions& options) {
  absl::StatusOr<BoilerplateStripper> stripper =
      BoilerplateStripper::Load(config_.rules_path);
  if (!stripper.ok()) return stripper.status();
  stripper_ = std::make_unique<BoilerplateStripper>(std::move(*stripper));
  instance_id_ = config_.kafka.instance_id;
  if (instance_id_.empty()) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    instance_id_ = host[0] != 0 ? host : "storyd";
  }
  exactly_once_ = config_.kafka.exactly_once;

  if (options.embedded_broker) {
    absl::Status status = StartEmbeddedBroker(options.embedded_partitions);
    if (!status.ok()) return status;
    std::string bootstrap = rd_kafka_mock_cluster_bootstraps(mock_cluster_);
    config_.kafka.common["bootstrap.servers"] = bootstrap;
    out_ << "storyd: embedded broker at " << bootstrap << std::endl;
    if (exactly_once_) {
      // The mock cluster drops transactional offsets: a demo, not a test of
      // delivery guarantees.
      out_ << "storyd: the embedded broker runs at least once" << std::endl;
      exactly_once_ = false;
    }
  }
  // The clients are created before anything talks to the broker, so a bad
  // property fails at once.
  absl::StatusOr<KafkaHandle> consumer = CreateClient(Role::kInput);
  if (!consumer.ok()) return consumer.status();
  absl::StatusOr<KafkaHandle> changelog = CreateClient(Role::kChangelog);
  if (!changelog.ok()) return changelog.status();
  absl::Status status = StartProducer();
  if (!status.ok()) return status;
  changelog_consumer_ = std::move(*changelog);
  rd_kafka_poll_set_consumer(changelog_consumer_.get());
  if (!options.embedded_broker) {
    status =
        EnsureChangelogTopic(producer_.get(), config_.kafka.changelog_topic);
    if (!status.ok()) return status;
  }
  WarmUpProducer();
  ResetPipeline();
  status = Restore();
  if (!status.ok()) return status;

  consumer_ = std::move(*consumer);
  rd_kafka_poll_set_consumer(consumer_.get());
  consumer_queue_.reset(rd_kafka_queue_get_consumer(consumer_.get()));
  SetWaker();
  PartitionList topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(
      topics.get(), config_.kafka.input_topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer_.get(), topics.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(StrCat("subscribe: ", rd_kafka_err2str(err)));
  }
  return absl::OkStatus();
}

absl::Status KafkaDaemon::Restore() {
  restored_.store(false);
  changelog_ = std::make_unique<ChangelogReader>(
      changelog_consumer_.get(), config_.kafka.changelog_topic, instance_id_);
  assigner_->SetRestoring(true);
  absl::Status status = changelog_->Restore(
      [this](ChangelogEntry&& entry) {
        uint64_t seq = next_seq_++;
        ApplyChange(seq, entry.record, entry.own, /*live=*/false);
        next_to_emit_ = next_seq_;
        metrics_.state_records_restored.fetch_add(1, std::memory_order_relaxed);
        NotifyWatchdog();
      },
      log_, stop_requested_);
  assigner_->SetRestoring(false);
  if (!status.ok()) return status;
  // Tombstones for what the restore already pushed out of the history.
  for (std::string& id : assigner_->TakeForgotten())
    ProduceChangelog(ArticleKey(id), std::nullopt);
  restored_.store(true);
  return absl::OkStatus();
}

void KafkaDaemon::Submit(KafkaMessage message, Clock::time_point consumed) {
  auto job = std::make_shared<Job>();
  job->seq = next_seq_++;
  job->partition = message->partition;
  job->offset = message->offset;
  rd_kafka_timestamp_type_t timestamp_type;
  job->timestamp_ms =
      rd_kafka_message_timestamp(message.get(), &timestamp_type);
  job->SetMessage(std::move(message));
  job->consumed = consumed;
  ++in_flight_;
  metrics_.articles_consumed.fetch_add(1, std::memory_order_relaxed);
  jobs_.push_back(job);
  submitted_.push_back(std::move(job));
}

void KafkaDaemon::SubmitChange(ChangelogEntry&& entry) {
  if (entry.own) return;  // applied when it was made
  auto job = std::make_shared<Job>();
  job->seq = next_seq_++;
  job->state = std::move(entry.record);
  jobs_.push_back(std::move(job));
}

void KafkaDaemon::ApplyChange(uint64_t seq, StateRecord& record, bool own,
                              bool live) {
  if (ShingleRecord* shingles = std::get_if<ShingleRecord>(&record)) {
    // Written just before its article record; held until that arrives.
    if (pending_shingles_.size() > 65536) pending_shingles_.clear();
    pending_shingles_[shingles->id] = std::move(shingles->shingles);
    return;
  }
  if (const MergeRecord* merge = std::get_if<MergeRecord>(&record)) {
    assigner_->ApplyMerge(*merge);
    return;
  }
  ArticleRecord* article = std::get_if<ArticleRecord>(&record);
  if (article == nullptr) return;  // a tombstone: the rings expire by age
  const Assignment& a = article->assignment;
  std::vector<uint32_t> shingles;
  if (auto it = pending_shingles_.find(a.id); it != pending_shingles_.end()) {
    shingles = std::move(it->second);
    pending_shingles_.erase(it);
  }
  std::optional<MergeRecord> merge;
  if (live && a.decision != StoryDecision::kCopy) {
    // Another instance started a story: is it one of ours under another
    // id (a race between the two)?
    std::vector<CopyCandidate> copies;
    detector_->Find(seq, a.fingerprint, shingles, &copies);
    merge = assigner_->FindSplit(*article, copies);
  }
  if (!assigner_->ApplyArticle(seq, *article, own)) return;
  detector_->Insert(seq, a.fingerprint, shingles);
  if (own && !shingles.empty()) {
    RememberOwnShingles(a.id);
  }
  if (article->source_partition >= 0) {
    constexpr size_t kMaxReplays = 1 << 16;
    std::string id = a.id;
    Replay& replay = replays_[id];
    replay = {article->source_partition, article->source_offset,
              std::move(article->assignment)};  // `a` is moved from now
    replay_order_.push_back(std::move(id));
    if (replay_order_.size() > kMaxReplays) {
      replays_.erase(replay_order_.front());
      replay_order_.pop_front();
    }
  }
  if (merge.has_value()) {
    assigner_->ApplyMerge(*merge);
    AnnounceMerge(*merge);
  }
}

void KafkaDaemon::EmitReady(std::chrono::milliseconds wait) {
  while (next_to_emit_ < next_seq_ && !rewind_needed_) {
    if (jobs_.front()->state.has_value()) {
      std::shared_ptr<Job> job = std::move(jobs_.front());
      jobs_.pop_front();
      ApplyChange(next_to_emit_++, *job->state, /*own=*/false, /*live=*/true);
      metrics_.state_records_applied.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    std::unique_ptr<ProcessedArticle> processed =
        pool_->Take(next_to_emit_, wait);
    if (processed == nullptr) break;
    wait = std::chrono::milliseconds(0);
    std::shared_ptr<Job> job = std::move(jobs_.front());
    jobs_.pop_front();
    ++next_to_emit_;

    auto delivery = std::make_unique<Delivery>();
    delivery->partition = job->partition;
    delivery->offset = job->offset;
    delivery->consumed = job->consumed;
    if (!processed->problem.has_value()) {
      auto replay = replays_.find(processed->article.id);
      if (replay != replays_.end() &&
          replay->second.partition == job->partition &&
          replay->second.offset == job->offset) {
        // Delivered again after a crash: its decision is already durable;
        // answer as before.
        assigner_->Skip(*processed);
        delivery->topic = &config_.kafka.output_topic;
        delivery->key = processed->article.id;
        delivery->value = FormatAssignmentJson(replay->second.assignment);
        metrics_.replays.fetch_add(1, std::memory_order_relaxed);
        Track(job->partition, job->offset);
        Produce(std::move(delivery));
        continue;
      }
    }

    auto start = Clock::now();
    TermVector vector;
    std::variant<Assignment, InputProblem> result =
        assigner_->Assign(*processed, &vector);
    metrics_.assign_seconds.Observe(
        std::chrono::duration<double>(Clock::now() - start).count());
    if (const InputProblem* problem = std::get_if<InputProblem>(&result)) {
      // Dead letter: the original bytes, the reason in headers.
      delivery->kind = Delivery::kDeadLetter;
      delivery->topic = &config_.kafka.dead_letter_topic;
      delivery->key = std::string(job->key);
      delivery->value = std::string(job->payload);
      delivery->headers = {
          {"storyd-error", std::string(InputErrorName(problem->error))},
          {"storyd-reason", problem->reason},
          {"storyd-source-topic", config_.kafka.input_topic},
          {"storyd-source-partition", std::to_string(job->partition)},
          {"storyd-source-offset", std::to_string(job->offset)}};
      metrics_.dead_letters.fetch_add(1, std::memory_order_relaxed);
      Track(job->partition, job->offset);
      Produce(std::move(delivery));
      continue;
    }
    const Assignment& assignment = std::get<Assignment>(result);
    delivery->topic = &config_.kafka.output_topic;
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
    // The changelog records first: at least once, the input offset waits
    // for all of them.
    ProduceChanges(*job, *processed, assignment, std::move(vector));
    Track(job->partition, job->offset);
    Produce(std::move(delivery));
  }
  // Workers strip what the ordered stage has learned so far.
  pool_->SetLearned(assigner_->LearnedSnapshot());
}

void KafkaDaemon::ProduceChanges(const Job& job,
                                 const ProcessedArticle& processed,
                                 const Assignment& assignment,
                                 TermVector vector) {
  const bool copy = assignment.decision == StoryDecision::kCopy;
  if (!copy && !processed.shingles.empty()) {
    // A copy's set is its original's, near enough: only originals keep
    // theirs in the changelog.
    ProduceChangelog(ShingleKey(assignment.id),
                     EncodeShingleRecord({assignment.id, processed.shingles}));
    RememberOwnShingles(assignment.id);
  }
  ArticleRecord record;
  record.assignment = assignment;
  record.source_partition = job.partition;
  record.source_offset = job.offset;
  record.timestamp_ms = job.timestamp_ms;
  record.published_unix_sec = processed.article.published_unix_sec;
  if (!copy) {
    record.vector = std::move(vector);
    record.text_years = processed.text_years;
  }
  ProduceChangelog(ArticleKey(assignment.id), EncodeArticleRecord(record));
  for (std::string& id : assigner_->TakeForgotten())
    ProduceChangelog(ArticleKey(id), std::nullopt);
}

void KafkaDaemon::RememberOwnShingles(const std::string& id) {
  own_window_ids_.push_back(id);
  if (own_window_ids_.size() > config_.copy.window_articles) {
    // It left the shingle window: its set leaves the changelog.
    ProduceChangelog(ShingleKey(own_window_ids_.front()), std::nullopt);
    own_window_ids_.pop_front();
  }
}

void KafkaDaemon::ProduceChangelog(std::string key,
                                   std::optional<std::string> value) {
  auto delivery = std::make_unique<Delivery>();
  delivery->kind = Delivery::kChangelog;
  delivery->topic = &config_.kafka.changelog_topic;
  // One partition: every instance reads one total order of changes.
  delivery->topic_partition = 0;
  delivery->key = std::move(key);
  delivery->value = std::move(value);
  delivery->instance_header = true;
  Produce(std::move(delivery));
}

void KafkaDaemon::AnnounceMerge(const MergeRecord& merge) {
  log_ << "storyd: merge: " << merge.article_id << " (" << merge.canonical_id
       << ") into " << merge.into_canonical_id << " by "
       << MergeReasonName(merge.reason) << " of " << merge.match_id
       << std::endl;
  metrics_.story_merges.fetch_add(1, std::memory_order_relaxed);
  ProduceChangelog(MergeKey(merge.article_id), EncodeMergeRecord(merge));
  auto delivery = std::make_unique<Delivery>();
  delivery->kind = Delivery::kMerge;
  delivery->topic = &config_.kafka.output_topic;
  delivery->key = StoryIdFor(merge.canonical_id);
  delivery->value = FormatMergeJson(merge);
  delivery->headers = {{kRecordTypeHeader, "story_merge"}};
  Produce(std::move(delivery));
}

void KafkaDaemon::Produce(std::unique_ptr<Delivery> delivery) {
  BeginTransactionIfNeeded();
  // Inline room for every record storyd writes (a dead letter's five
  // headers included): no allocation in a call made twice a record.
  absl::InlinedVector<rd_kafka_vu_t, 16> values;
  values.push_back(
      {.vtype = RD_KAFKA_VTYPE_TOPIC, .u = {.cstr = delivery->topic->c_str()}});
  if (delivery->topic_partition != RD_KAFKA_PARTITION_UA) {
    values.push_back({.vtype = RD_KAFKA_VTYPE_PARTITION,
                      .u = {.i32 = delivery->topic_partition}});
  }
  rd_kafka_vu_t key{.vtype = RD_KAFKA_VTYPE_KEY, .u = {}};
  key.u.mem.ptr = delivery->key.data();
  key.u.mem.size = delivery->key.size();
  values.push_back(key);
  rd_kafka_vu_t value{.vtype = RD_KAFKA_VTYPE_VALUE, .u = {}};
  if (delivery->value.has_value()) {  // else a tombstone: a null value
    value.u.mem.ptr = delivery->value->data();
    value.u.mem.size = delivery->value->size();
  }
  values.push_back(value);
  auto add_header = [&values](const char* name, std::string_view text) {
    rd_kafka_vu_t header{.vtype = RD_KAFKA_VTYPE_HEADER, .u = {}};
    header.u.header.name = name;
    header.u.header.val = text.data();
    header.u.header.size = static_cast<ssize_t>(text.size());
    values.push_back(header);
  };
  if (delivery->instance_header) add_header(kInstanceHeader, instance_id_);
  for (const auto& [name, text] : delivery->headers)
    add_header(name.c_str(), text);
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
    log_ << "storyd: produce to " << *delivery->topic << " failed: " << text
         << "; retrying" << std::endl;
    metrics_.delivery_failures.fetch_add(1, std::memory_order_relaxed);
    if (exactly_once_) {
      // The transaction cannot hold this record: abort it and start over.
      transaction_failed_ = true;
      rewind_needed_ = true;
      return;
    }
    rd_kafka_poll(producer_.get(), 500);
  }
}

void KafkaDaemon::OnDelivery(const rd_kafka_message_t* message) {
  std::unique_ptr<Delivery> delivery(static_cast<Delivery*>(message->_private));
  if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    log_ << "storyd: delivery to " << *delivery->topic
         << " failed: " << rd_kafka_err2str(message->err) << std::endl;
    metrics_.delivery_failures.fetch_add(1, std::memory_order_relaxed);
    if (exactly_once_) {
      // The transaction is incomplete: it aborts at its commit, and the
      // input is read again from the committed offsets.
      transaction_failed_ = true;
      return;
    }
    // Not acknowledged: produce again, so that nothing is lost; the input
    // offset stays uncommitted until it is.
    Produce(std::move(delivery));
    return;
  }
  if (delivery->kind == Delivery::kOutput)
    metrics_.articles_emitted.fetch_add(1, std::memory_order_relaxed);
  if (delivery->partition < 0) return;  // answers for no input record
  metrics_.end_to_end_seconds.Observe(
      std::chrono::duration<double>(Clock::now() - delivery->consumed).count());
  Acknowledge(delivery->partition, delivery->offset);
}

void KafkaDaemon::Track(int32_t partition, int64_t offset) {
  ++partitions_[partition].pending[offset];
  if (exactly_once_) transaction_offsets_[partition] = offset + 1;
}

void KafkaDaemon::Acknowledge(int32_t partition, int64_t offset) {
  ++acknowledgements_;  // progress, for the watchdog
  auto track = partitions_.find(partition);
  if (track == partitions_.end()) return;
  PartitionTrack& t = track->second;
  auto it = t.pending.find(offset);
  if (it == t.pending.end() || --it->second > 0) return;
  --in_flight_;
  ++acknowledged_;
  // Everything acknowledged from the front can be committed.
  while (!t.pending.empty() && t.pending.begin()->second == 0) {
    t.committable = t.pending.begin()->first;
    t.pending.erase(t.pending.begin());
  }
}

void KafkaDaemon::BeginTransactionIfNeeded() {
  if (!exactly_once_ || transaction_open_) return;
  rd_kafka_error_t* error = rd_kafka_begin_transaction(producer_.get());
  if (error != nullptr) {
    // Only possible when the producer is fenced or broken.
    log_ << "storyd: begin transaction: " << rd_kafka_error_string(error)
         << std::endl;
    rd_kafka_error_destroy(error);
    fatal_ = true;
    rewind_needed_ = true;
    return;
  }
  transaction_open_ = true;
}

void KafkaDaemon::CommitTransaction() {
  last_commit_ = Clock::now();
  if (!transaction_open_ || rewind_needed_) return;
  // Measured on every path out: the ordered stage waits this long.
  struct Timer {
    LatencyHistogram* histogram;
    Clock::time_point start = Clock::now();
    ~Timer() {
      histogram->Observe(
          std::chrono::duration<double>(Clock::now() - start).count());
    }
  } timer{&metrics_.commit_seconds};
  rd_kafka_error_t* error = nullptr;
  if (!transaction_offsets_.empty()) {
    PartitionList offsets(rd_kafka_topic_partition_list_new(
        static_cast<int>(transaction_offsets_.size())));
    for (const auto& [partition, next] : transaction_offsets_) {
      rd_kafka_topic_partition_list_add(
          offsets.get(), config_.kafka.input_topic.c_str(), partition)
          ->offset = next;
    }
    rd_kafka_consumer_group_metadata_t* group =
        rd_kafka_consumer_group_metadata(consumer_.get());
    // Retriable errors (a broker away) are retried until it is back.
    while (true) {
      error = rd_kafka_send_offsets_to_transaction(producer_.get(),
                                                   offsets.get(), group, 30000);
      if (error == nullptr || !rd_kafka_error_is_retriable(error)) break;
      log_ << "storyd: sending offsets: " << rd_kafka_error_string(error)
           << "; retrying" << std::endl;
      rd_kafka_error_destroy(error);
      error = nullptr;
    }
    rd_kafka_consumer_group_metadata_destroy(group);
  }
  while (error == nullptr && transaction_failed_ == false) {
    error = rd_kafka_commit_transaction(producer_.get(), 30000);
    if (error == nullptr) break;
    if (!rd_kafka_error_is_retriable(error)) break;
    log_ << "storyd: committing transaction: " << rd_kafka_error_string(error)
         << "; retrying" << std::endl;
    rd_kafka_error_destroy(error);
    error = nullptr;
  }
  if (error == nullptr && !transaction_failed_) {
    transaction_open_ = false;
    transaction_offsets_.clear();
    metrics_.commits.fetch_add(1, std::memory_order_relaxed);
    // Every record of the transaction is delivered: nothing of it is in
    // flight any more.
    for (auto& [partition, track] : partitions_) {
      for (const auto& [offset, unacknowledged] : track.pending) {
        if (unacknowledged > 0) --in_flight_;
      }
      track.pending.clear();
    }
    return;
  }
  if (error != nullptr) {
    log_ << "storyd: transaction failed: " << rd_kafka_error_string(error)
         << std::endl;
    if (rd_kafka_error_is_fatal(error)) fatal_ = true;
    if (rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__FENCED) {
      log_ << "storyd: fenced: the broker timed the transaction out, or "
              "another instance runs with transactional.id "
           << config_.kafka.group_id << "-" << instance_id_
           << " (give each instance its own kafka.instance_id)" << std::endl;
    }
    rd_kafka_error_destroy(error);
  }
  rewind_needed_ = true;
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

void KafkaDaemon::Buffer(rd_kafka_message_t* message,
                         Clock::time_point consumed) {
  rd_kafka_timestamp_type_t type;
  reorder_.Push({.record = message,
                 .partition = message->partition,
                 .timestamp_ms = rd_kafka_message_timestamp(message, &type),
                 .arrived = consumed});
}

void KafkaDaemon::ReleaseInOrder(bool all) {
  while (auto entry = reorder_.PopDue(Clock::now(), all)) {
    Submit(KafkaMessage(entry->record), entry->arrived);
  }
  pool_->SubmitAll(&submitted_);
}

void KafkaDaemon::DropBuffered() {
  for (rd_kafka_message_t* message : reorder_.TakeAll())
    rd_kafka_message_destroy(message);
}

void KafkaDaemon::Drain() {
  // Every consumed record is processed and produced, then committed (with
  // the transaction, or as acknowledged offsets). Bounded only by the
  // broker: records are never given up on.
  ReleaseInOrder(/*all=*/true);
  auto last_report = Clock::now();
  auto report = [&] {
    // A long drain (a revocation, a SIGHUP, a stop) keeps the watchdog fed
    // while acknowledgements come.
    NotifyWatchdog();
    if (Clock::now() - last_report < std::chrono::seconds(10)) return;
    log_ << "storyd: draining, " << in_flight_ << " records in flight"
         << std::endl;
    last_report = Clock::now();
  };
  if (exactly_once_) {
    while (next_to_emit_ < next_seq_ && !rewind_needed_) {
      EmitReady(std::chrono::milliseconds(20));
      rd_kafka_poll(producer_.get(), 0);
      report();
    }
    CommitTransaction();
    return;
  }
  while (in_flight_ > 0) {
    EmitReady(std::chrono::milliseconds(20));
    rd_kafka_poll(producer_.get(), 50);
    report();
  }
  rd_kafka_flush(producer_.get(), 10000);
  Commit(/*synchronous=*/true);
}

bool KafkaDaemon::ReloadRules() {
  const std::string& path = config_.rules_path;
  absl::StatusOr<BoilerplateStripper> loaded = BoilerplateStripper::Load(path);
  const std::string source =
      path.empty() ? std::string("the built-in rules") : path;
  if (!loaded.ok()) {
    metrics_.rule_reload_failures.fetch_add(1, std::memory_order_relaxed);
    log_ << "storyd: SIGHUP: keeping the current boilerplate rules: "
         << loaded.status().message() << std::endl;
    return true;
  }
  Drain();
  // The pool is idle only once every submitted record is out; an abort
  // during the drain leaves that to the rewind.
  if (rewind_needed_ || next_to_emit_ < next_seq_) return false;
  // Workers reach the rules only through jobs, which are handed over under
  // the pool's lock: the next job sees the new rules whole.
  *stripper_ = std::move(*loaded);
  metrics_.rule_reloads.fetch_add(1, std::memory_order_relaxed);
  log_ << "storyd: SIGHUP: reloaded " << stripper_->rule_count()
       << " boilerplate rules from " << source << std::endl;
  return true;
}

void KafkaDaemon::Rewind() {
  metrics_.transaction_aborts.fetch_add(1, std::memory_order_relaxed);
  log_ << "storyd: transaction aborted; restoring the state and reading the "
          "input again from the committed offsets"
       << std::endl;
  sd_notify(0, "STATUS=restoring after an aborted transaction");
  restored_.store(false);
  while (!fatal_ && transaction_open_) {
    rd_kafka_error_t* error =
        rd_kafka_abort_transaction(producer_.get(), 30000);
    if (error == nullptr) break;
    log_ << "storyd: abort transaction: " << rd_kafka_error_string(error)
         << std::endl;
    if (!rd_kafka_error_is_retriable(error)) fatal_ = true;
    rd_kafka_error_destroy(error);
  }
  rd_kafka_poll(producer_.get(), 0);  // the aborted records' reports
  if (fatal_) {
    // Fenced or broken: a new producer under the same transactional.id.
    rd_kafka_purge(producer_.get(),
                   RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(producer_.get(), 0);
    producer_.reset();
    absl::Status status = StartProducer();
    if (!status.ok()) {
      log_ << "storyd: " << status.message() << std::endl;
      stop_requested_.store(true);
      return;
    }
    WarmUpProducer();
  }
  transaction_open_ = transaction_failed_ = fatal_ = rewind_needed_ = false;
  transaction_offsets_.clear();
  DropBuffered();
  partitions_.clear();
  in_flight_ = 0;
  ResetPipeline();
  absl::Status status = Restore();
  if (!status.ok()) {
    log_ << "storyd: " << status.message() << std::endl;
    stop_requested_.store(true);
    return;
  }
  if (assigned_.empty()) return;
  PartitionList positions(
      rd_kafka_topic_partition_list_new(static_cast<int>(assigned_.size())));
  for (int32_t partition : assigned_) {
    rd_kafka_topic_partition_list_add(
        positions.get(), config_.kafka.input_topic.c_str(), partition);
  }
  while (rd_kafka_committed(consumer_.get(), positions.get(), 30000) !=
         RD_KAFKA_RESP_ERR_NO_ERROR) {
    log_ << "storyd: reading committed offsets; retrying" << std::endl;
    if (stop_requested_.load()) return;
  }
  for (int i = 0; i < positions->cnt; ++i) {
    if (positions->elems[i].offset < 0)
      positions->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_error_t* error =
      rd_kafka_seek_partitions(consumer_.get(), positions.get(), 30000);
  if (error != nullptr) {
    log_ << "storyd: seek: " << rd_kafka_error_string(error) << std::endl;
    rd_kafka_error_destroy(error);
  }
  FindBacklogs(positions.get());
}

void KafkaDaemon::FindBacklogs(
    const rd_kafka_topic_partition_list_t* positions) {
  if (assigned_.empty() || config_.kafka.reorder_ms == 0) return;
  constexpr int kTimeoutMs = 5000;
  auto list_of = [&](int64_t offset) {
    PartitionList list(
        rd_kafka_topic_partition_list_new(static_cast<int>(assigned_.size())));
    for (int32_t partition : assigned_) {
      rd_kafka_topic_partition_list_add(
          list.get(), config_.kafka.input_topic.c_str(), partition)
          ->offset = offset;
    }
    return list;
  };
  PartitionList committed;
  if (positions != nullptr) {
    committed.reset(rd_kafka_topic_partition_list_copy(positions));
  } else {
    committed = list_of(RD_KAFKA_OFFSET_INVALID);
    if (rd_kafka_committed(consumer_.get(), committed.get(), kTimeoutMs) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      return;
    }
  }
  // Where a partition with no committed offset starts reading.
  char reset[32] = "";
  size_t reset_size = sizeof(reset);
  if (rd_kafka_conf_get(rd_kafka_conf(consumer_.get()), "auto.offset.reset",
                        reset, &reset_size) != RD_KAFKA_CONF_OK) {
    reset[0] = '\0';
  }
  const bool reset_to_start = std::string_view(reset) == "smallest" ||
                              std::string_view(reset) == "earliest" ||
                              std::string_view(reset) == "beginning";
  bool needs_starts = false;
  for (int i = 0; i < committed->cnt; ++i) {
    int64_t& offset = committed->elems[i].offset;
    if (offset == RD_KAFKA_OFFSET_INVALID) {
      offset = reset_to_start ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
    }
    needs_starts |= offset == RD_KAFKA_OFFSET_BEGINNING;
  }
  // The offsets "by time" of the special times END and BEGINNING are the
  // log's end (for read_committed: its last stable offset) and start.
  PartitionList ends = list_of(RD_KAFKA_OFFSET_END);
  PartitionList starts = list_of(RD_KAFKA_OFFSET_BEGINNING);
  if (rd_kafka_offsets_for_times(consumer_.get(), ends.get(), kTimeoutMs) !=
          RD_KAFKA_RESP_ERR_NO_ERROR ||
      (needs_starts &&
       rd_kafka_offsets_for_times(consumer_.get(), starts.get(), kTimeoutMs) !=
           RD_KAFKA_RESP_ERR_NO_ERROR)) {
    return;
  }
  auto entry_of = [&](const PartitionList& list, int32_t partition) {
    return rd_kafka_topic_partition_list_find(
        list.get(), config_.kafka.input_topic.c_str(), partition);
  };
  const auto now = Clock::now();
  int backlogs = 0;
  for (int32_t partition : assigned_) {
    const rd_kafka_topic_partition_t* from = entry_of(committed, partition);
    const rd_kafka_topic_partition_t* end = entry_of(ends, partition);
    if (from == nullptr || end == nullptr ||
        end->err != RD_KAFKA_RESP_ERR_NO_ERROR || end->offset < 0) {
      continue;  // unknown: the merge waits as for any silent partition
    }
    int64_t position = from->offset;
    if (position == RD_KAFKA_OFFSET_END) position = end->offset;
    if (position == RD_KAFKA_OFFSET_BEGINNING) {
      const rd_kafka_topic_partition_t* start = entry_of(starts, partition);
      if (start == nullptr || start->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        continue;
      }
      position = start->offset;
    }
    if (position < 0) continue;  // another logical offset: unknown
    if (position >= end->offset) {
      reorder_.MarkAtEnd(partition);
    } else {
      reorder_.MarkBacklog(partition, now);
      ++backlogs;
    }
  }
  if (backlogs > 0) {
    log_ << "storyd: " << backlogs << " of " << assigned_.size()
         << " partition(s) have records to read; merging them in timestamp "
            "order"
         << std::endl;
  }
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
    reorder_.SetAssigned(assigned_);
    rd_kafka_assign(consumer_.get(), partitions);
    paused_ = false;
    log_ << "storyd: assigned " << partitions->cnt << " partition(s) of "
         << config_.kafka.input_topic << std::endl;
    FindBacklogs(nullptr);
    assigned_any_.store(true);
    return;
  }
  // Revoked: finish and commit what was consumed from these partitions
  // before another consumer takes them over.
  log_ << "storyd: partitions revoked; draining " << in_flight_ << " record(s)"
       << std::endl;
  Drain();
  partitions_.clear();
  assigned_.clear();
  reorder_.SetAssigned(assigned_);
  rd_kafka_assign(consumer_.get(), nullptr);
}

void KafkaDaemon::OnStatistics(std::string_view json) {
  metrics_.SetConsumerLag(
      ConsumerLagFromStatistics(json, config_.kafka.input_topic));
}

void KafkaDaemon::NotifyWatchdog() {
  if (watchdog_usec_ == 0) return;
  auto now = Clock::now();
  // Called at least once a loop: the time of the last acknowledgement to
  // within a loop, without a clock read per delivery.
  if (acknowledgements_ != acknowledgements_seen_) {
    acknowledgements_seen_ = acknowledgements_;
    last_progress_ = now;
  }
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
    // Ready once the state is restored and the group has answered.
    if (!restored_.load())
      return {503, "text/plain", "not ready: restoring state\n"};
    return assigned_any_.load()
               ? HttpResponse{200, "text/plain", "ready\n"}
               : HttpResponse{503, "text/plain", "not ready: joining group\n"};
  }
  return {404, "text/plain", "not found\n"};
}

// Records taken from the consumer in one pass of the main loop, at most.
constexpr int kMaxPollBatch = 256;

void KafkaDaemon::ConsumeLoop() {
  sd_notify(0, "READY=1\nSTATUS=consuming");
  while (!stop_requested_.load()) {
    if (rewind_needed_) {
      Rewind();
      continue;
    }
    if (reload_requested_.exchange(false) && !ReloadRules()) {
      reload_requested_.store(true);
      continue;
    }
    // Sleeps until a record comes, the result the ordered stage needs next
    // is done (a worker cuts the poll short), or a timeout: 5 ms while
    // records wait in the reorder buffer (their window) or for a
    // transaction, else 100 ms. Then takes what else has come, so that a
    // fetch's records go to the workers together.
    const bool result_due = pool_->Needing(
        next_to_emit_ < next_seq_ ? next_to_emit_ : WorkerPool::kNone);
    int timeout_ms = in_flight_ > 0 || reorder_.size() > 0 ? 5 : 100;
    if (result_due) timeout_ms = 0;
    // One clock read for the batch: after the first poll, which may wait,
    // the rest are taken at once.
    std::optional<Clock::time_point> polled;
    for (int taken = 0; taken < kMaxPollBatch; ++taken) {
      rd_kafka_message_t* message =
          rd_kafka_consumer_poll(consumer_.get(), taken == 0 ? timeout_ms : 0);
      if (message == nullptr) break;
      if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (!polled.has_value()) polled = Clock::now();
        Buffer(message, *polled);
        continue;
      }
      if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        reorder_.MarkAtEnd(message->partition);
      } else {
        log_ << "storyd: consumer: " << rd_kafka_message_errstr(message)
             << std::endl;
      }
      rd_kafka_message_destroy(message);
    }
    pool_->Needing(WorkerPool::kNone);
    // Other instances' changes take their turn with the input.
    changelog_->Poll(
        [this](ChangelogEntry&& entry) { SubmitChange(std::move(entry)); },
        1024);
    ReleaseInOrder(/*all=*/false);
    EmitReady(std::chrono::milliseconds(0));
    rd_kafka_poll(producer_.get(), 0);
    UpdateBackpressure();
    if (Clock::now() - last_commit_ >
        std::chrono::milliseconds(config_.kafka.commit_interval_ms)) {
      if (exactly_once_) {
        CommitTransaction();
      } else {
        Commit(/*synchronous=*/false);
      }
    }
    metrics_.in_flight.store(in_flight_, std::memory_order_relaxed);
    metrics_.fingerprint_entries.store(detector_->fingerprint_entries(),
                                       std::memory_order_relaxed);
    metrics_.active_stories.store(assigner_->active_stories(),
                                  std::memory_order_relaxed);
    NotifyWatchdog();
  }
}

int KafkaDaemon::Run(const DaemonOptions& options) {
  // The endpoint comes first, so that /readyz can say "restoring".
  HttpServer http([this](const std::string& path) { return Serve(path); });
  if (config_.metrics.port > 0) {
    absl::Status status =
        http.Start(config_.metrics.address, config_.metrics.port);
    if (!status.ok()) {
      log_ << "storyd: " << status.message() << std::endl;
      return 2;
    }
    log_ << "storyd: metrics on http://" << config_.metrics.address << ":"
         << http.port() << "/metrics" << std::endl;
  }
  sd_notify(0, "STATUS=restoring state");
  // The watchdog covers the restore too (NotifyWatchdog while applying).
  if (sd_watchdog_enabled(0, &watchdog_usec_) <= 0) watchdog_usec_ = 0;
  absl::Status status = SetUp(options);
  if (!status.ok()) {
    log_ << "storyd: " << status.message() << std::endl;
    http.Stop();
    return status.code() == absl::StatusCode::kCancelled ? 0 : 2;
  }
  log_ << "storyd: consuming " << config_.kafka.input_topic << " -> "
       << config_.kafka.output_topic
       << " (dead letters: " << config_.kafka.dead_letter_topic
       << "; changelog: " << config_.kafka.changelog_topic << "; "
       << (exactly_once_ ? "exactly once" : "at least once") << ", instance "
       << instance_id_ << ")" << std::endl;
  ConsumeLoop();

  sd_notify(0, "STOPPING=1\nSTATUS=draining");
  log_ << "storyd: stopping; draining " << in_flight_ << " record(s)"
       << std::endl;
  Drain();
  if (rewind_needed_) {
    log_ << "storyd: the last transaction was aborted; its input is read "
            "again on the next start"
         << std::endl;
  }
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
  // SIGTERM, SIGINT and SIGHUP are taken by a thread of their own
  // (sigwait), so no handler needs global state; block them before any
  // thread starts. SIGHUP reloads the boilerplate rules (systemctl reload).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
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
      if (signal == SIGHUP) daemon.RequestRuleReload();
    }
  });
  int code = daemon.Run(options);
  finished.store(true);
  signal_thread.join();
  return code;
}

}  // namespace storyd
