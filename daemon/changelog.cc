#include "daemon/changelog.h"

#include <chrono>
#include <memory>
#include <thread>

#include "absl/strings/str_format.h"
#include "core/strings.h"

namespace storyd {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

absl::Status EnsureChangelogTopic(rd_kafka_t* client,
                                  const std::string& topic) {
  char error[512];
  rd_kafka_NewTopic_t* new_topic =
      rd_kafka_NewTopic_new(topic.c_str(), 1, -1, error, sizeof(error));
  if (new_topic == nullptr) {
    return absl::InvalidArgumentError(
        StrCat("changelog topic '", topic, "': ", error));
  }
  rd_kafka_NewTopic_set_config(new_topic, "cleanup.policy", "compact");
  rd_kafka_AdminOptions_t* options =
      rd_kafka_AdminOptions_new(client, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(options, 30000, error,
                                              sizeof(error));
  rd_kafka_queue_t* queue = rd_kafka_queue_new(client);
  rd_kafka_CreateTopics(client, &new_topic, 1, options, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, 60000);
  absl::Status status = absl::OkStatus();
  if (event == nullptr) {
    status = absl::UnavailableError(
        StrCat("changelog topic '", topic, "': no answer from the broker"));
  } else if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    status = absl::UnavailableError(StrCat(
        "changelog topic '", topic, "': ", rd_kafka_event_error_string(event)));
  } else {
    size_t count = 0;
    const rd_kafka_topic_result_t** results =
        rd_kafka_CreateTopics_result_topics(
            rd_kafka_event_CreateTopics_result(event), &count);
    for (size_t i = 0; i < count; ++i) {
      rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR &&
          err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        const char* text = rd_kafka_topic_result_error_string(results[i]);
        status = absl::UnavailableError(
            StrCat("changelog topic '", topic,
                   "': ", text != nullptr ? text : rd_kafka_err2str(err)));
      }
    }
  }
  if (event != nullptr) rd_kafka_event_destroy(event);
  rd_kafka_queue_destroy(queue);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_NewTopic_destroy(new_topic);
  return status;
}

ChangelogReader::ChangelogReader(rd_kafka_t* consumer, std::string topic,
                                 std::string instance_id)
    : consumer_(consumer),
      topic_(std::move(topic)),
      instance_id_(std::move(instance_id)) {}

bool ChangelogReader::Decode(rd_kafka_message_t* message, ChangelogEntry* entry,
                             bool skip_own) {
  if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    ++eof_partitions_;
    return false;
  }
  if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (log_ != nullptr) {
      *log_ << "storyd: changelog: " << rd_kafka_message_errstr(message)
            << std::endl;
    }
    return false;
  }
  // The writer first: a running instance reads its own records back and
  // has nothing to learn from them.
  bool own = false;
  rd_kafka_headers_t* headers = nullptr;
  const void* writer = nullptr;
  size_t writer_size = 0;
  if (rd_kafka_message_headers(message, &headers) ==
          RD_KAFKA_RESP_ERR_NO_ERROR &&
      rd_kafka_header_get_last(headers, kInstanceHeader, &writer,
                               &writer_size) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    own = std::string_view(static_cast<const char*>(writer), writer_size) ==
          instance_id_;
  }
  if (own && skip_own) return false;
  std::string_view key(static_cast<const char*>(message->key),
                       message->key != nullptr ? message->key_len : 0);
  std::optional<std::string_view> value;
  if (message->payload != nullptr) {
    value = std::string_view(static_cast<const char*>(message->payload),
                             message->len);
  }
  absl::StatusOr<StateRecord> record = DecodeStateRecord(key, value);
  if (!record.ok()) {
    // Not ours to repair: skip it, say so once per record.
    ++corrupt_records_;
    if (log_ != nullptr) {
      *log_ << "storyd: changelog offset " << message->offset << ": "
            << record.status().message() << "; skipped" << std::endl;
    }
    return false;
  }
  entry->record = std::move(*record);
  entry->own = own;
  return true;
}

absl::StatusOr<int> TopicPartitionCount(rd_kafka_t* client,
                                        const std::string& topic,
                                        int timeout_ms) {
  rd_kafka_topic_t* handle = rd_kafka_topic_new(client, topic.c_str(), nullptr);
  if (handle == nullptr) {
    return absl::InternalError(StrCat("cannot make a handle for ", topic));
  }
  const rd_kafka_metadata_t* metadata = nullptr;
  rd_kafka_resp_err_t err =
      rd_kafka_metadata(client, 0, handle, &metadata, timeout_ms);
  rd_kafka_topic_destroy(handle);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(rd_kafka_err2str(err));
  }
  absl::StatusOr<int> partitions =
      absl::UnavailableError("no partitions in the answer");
  if (metadata->topic_cnt == 1) {
    if (metadata->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      partitions =
          absl::UnavailableError(rd_kafka_err2str(metadata->topics[0].err));
    } else if (metadata->topics[0].partition_cnt > 0) {
      partitions = metadata->topics[0].partition_cnt;
    }
  }
  rd_kafka_metadata_destroy(metadata);
  return partitions;
}

absl::Status ChangelogReader::Restore(
    const std::function<void(ChangelogEntry&&)>& apply, std::ostream& log,
    const std::atomic<bool>& stop) {
  log_ = &log;
  auto start = Clock::now();
  log << "storyd: restoring state from " << topic_ << std::endl;
  // Learn the partitions (one, as the daemon creates it; more if someone
  // made it so) and read them all from the start.
  while (true) {
    absl::StatusOr<int> partitions =
        TopicPartitionCount(consumer_, topic_, 10000);
    if (partitions.ok()) {
      partitions_ = *partitions;
      break;
    }
    log << "storyd: changelog " << topic_ << " not available yet ("
        << partitions.status().message() << "); retrying" << std::endl;
    std::this_thread::sleep_for(std::chrono::seconds(1));
    if (stop.load()) return absl::CancelledError("stopped while restoring");
  }
  rd_kafka_topic_partition_list_t* assignment =
      rd_kafka_topic_partition_list_new(partitions_);
  for (int p = 0; p < partitions_; ++p) {
    rd_kafka_topic_partition_list_add(assignment, topic_.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_resp_err_t err = rd_kafka_assign(consumer_, assignment);
  rd_kafka_topic_partition_list_destroy(assignment);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(
        StrCat("changelog assign: ", rd_kafka_err2str(err)));
  }
  eof_partitions_ = 0;
  uint64_t records = 0;
  auto last_report = Clock::now();
  ChangelogEntry entry;
  while (eof_partitions_ < partitions_) {
    if (stop.load()) return absl::CancelledError("stopped while restoring");
    rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer_, 100);
    if (message == nullptr) continue;
    if (Decode(message, &entry, /*skip_own=*/false)) {
      ++records;
      apply(std::move(entry));
    }
    rd_kafka_message_destroy(message);
    if (Clock::now() - last_report > std::chrono::seconds(2)) {
      log << absl::StrFormat(
                 "storyd: restoring: %d records in %.1f s (%.0f records/s)",
                 records, SecondsSince(start),
                 records / std::max(SecondsSince(start), 1e-9))
          << std::endl;
      last_report = Clock::now();
    }
  }
  const double seconds = SecondsSince(start);
  log << absl::StrFormat(
             "storyd: restored %d records in %.2f s (%.0f records/s)", records,
             seconds, records / std::max(seconds, 1e-9))
      << std::endl;
  return absl::OkStatus();
}

size_t ChangelogReader::Poll(const std::function<void(ChangelogEntry&&)>& apply,
                             size_t max_records) {
  size_t read = 0;
  ChangelogEntry entry;
  while (read < max_records) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer_, 0);
    if (message == nullptr) break;
    if (Decode(message, &entry, /*skip_own=*/true)) {
      ++read;
      apply(std::move(entry));
    }
    rd_kafka_message_destroy(message);
  }
  return read;
}

}  // namespace storyd
