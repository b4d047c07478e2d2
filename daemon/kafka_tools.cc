#include "daemon/kafka_tools.h"

#include <librdkafka/rdkafka.h>
#include <simdjson.h>

#include <chrono>
#include <istream>
#include <memory>
#include <ostream>
#include <random>
#include <string>

#include "core/article.h"
#include "core/strings.h"

namespace storyd {
namespace {

struct KafkaDeleter {
  void operator()(rd_kafka_t* handle) const { rd_kafka_destroy(handle); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDeleter>;

KafkaHandle Create(rd_kafka_type_t type,
                   const std::map<std::string, std::string>& properties,
                   std::ostream& log) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  for (const auto& [name, value] : properties) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error,
                          sizeof(error)) != RD_KAFKA_CONF_OK) {
      log << "storyd: kafka property '" << name << "': " << error << "\n";
      rd_kafka_conf_destroy(conf);
      return nullptr;
    }
  }
  rd_kafka_t* handle = rd_kafka_new(type, conf, error, sizeof(error));
  if (handle == nullptr) {
    log << "storyd: " << error << "\n";
    rd_kafka_conf_destroy(conf);
  }
  return KafkaHandle(handle);
}

struct DeliveryCount {
  size_t delivered = 0;
  size_t failed = 0;
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto* count = static_cast<DeliveryCount*>(opaque);
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++count->delivered;
  } else {
    ++count->failed;
  }
}

// A paced load is a latency measurement: its records are stamped when they
// are handed to the client, so the client's start (the broker connection,
// the topic's metadata, the idempotent producer's id, which a fresh broker
// allocates from its controller) would count as the consumer's latency.
// This waits for the metadata, then gives the producer id half a second.
void WarmUp(rd_kafka_t* producer, const std::string& topic) {
  rd_kafka_topic_t* handle =
      rd_kafka_topic_new(producer, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* metadata = nullptr;
  if (handle != nullptr &&
      rd_kafka_metadata(producer, 0, handle, &metadata, 10000) ==
          RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_metadata_destroy(metadata);
  }
  if (handle != nullptr) rd_kafka_topic_destroy(handle);
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  while (std::chrono::steady_clock::now() < until) rd_kafka_poll(producer, 10);
}

}  // namespace

int RunProduce(const ProduceOptions& options, std::istream& in,
               std::ostream& log) {
  DeliveryCount count;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  if (rd_kafka_conf_set(conf, "bootstrap.servers", options.brokers.c_str(),
                        error, sizeof(error)) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "message.max.bytes", "20000000", error,
                        sizeof(error)) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "enable.idempotence", "true", error,
                        sizeof(error)) != RD_KAFKA_CONF_OK) {
    log << "storyd: " << error << "\n";
    rd_kafka_conf_destroy(conf);
    return 2;
  }
  rd_kafka_conf_set_dr_msg_cb(conf, &OnDelivery);
  rd_kafka_conf_set_opaque(conf, &count);
  KafkaHandle producer(
      rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof(error)));
  if (producer == nullptr) {
    log << "storyd: " << error << "\n";
    rd_kafka_conf_destroy(conf);
    return 2;
  }
  if (options.rate > 0) WarmUp(producer.get(), options.topic);
  simdjson::dom::parser parser;
  std::string line;
  size_t sent = 0;
  const auto start = std::chrono::steady_clock::now();
  while (std::getline(in, line)) {
    if (options.rate > 0) {
      // Paced: record n goes out at start + n / rate.
      auto due =
          start +
          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
              std::chrono::duration<double>(static_cast<double>(sent) /
                                            options.rate));
      while (std::chrono::steady_clock::now() < due)
        rd_kafka_poll(producer.get(), 1);
    }
    if (StripAsciiWhitespace(line).empty()) continue;
    std::string key;
    simdjson::dom::element root;
    std::string_view id;
    if (options.key_by_id &&
        parser.parse(line).get(root) == simdjson::SUCCESS &&
        root["id"].get(id) == simdjson::SUCCESS) {
      key.assign(id);
    }
    while (true) {
      rd_kafka_resp_err_t err = rd_kafka_producev(
          producer.get(), RD_KAFKA_V_TOPIC(options.topic.c_str()),
          RD_KAFKA_V_KEY(key.empty() ? nullptr : key.data(), key.size()),
          RD_KAFKA_V_VALUE(line.data(), line.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        log << "storyd: produce: " << rd_kafka_err2str(err) << "\n";
        return 3;
      }
      rd_kafka_poll(producer.get(), 100);
    }
    ++sent;
    rd_kafka_poll(producer.get(), 0);
  }
  rd_kafka_flush(producer.get(), 60000);
  log << "storyd produce: " << count.delivered << " of " << sent
      << " records delivered to " << options.topic << "\n";
  return count.delivered == sent && count.failed == 0 ? 0 : 3;
}

int RunConsume(const ConsumeOptions& options, std::ostream& out,
               std::ostream& log) {
  std::random_device random;
  KafkaHandle consumer =
      Create(RD_KAFKA_CONSUMER,
             {{"bootstrap.servers", options.brokers},
              {"group.id", StrCat("storyd-consume-", random())},
              {"auto.offset.reset", "earliest"},
              {"enable.auto.commit", "false"},
              {"isolation.level", "read_committed"}},
             log);
  if (consumer == nullptr) return 2;
  rd_kafka_poll_set_consumer(consumer.get());
  rd_kafka_topic_partition_list_t* topics =
      rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, options.topic.c_str(),
                                    RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(consumer.get(), topics);
  rd_kafka_topic_partition_list_destroy(topics);
  size_t received = 0;
  auto last = std::chrono::steady_clock::now();
  while (options.count == 0 || received < options.count) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer.get(), 200);
    if (message == nullptr) {
      if (std::chrono::steady_clock::now() - last >
          std::chrono::milliseconds(options.idle_timeout_ms)) {
        break;
      }
      continue;
    }
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      last = std::chrono::steady_clock::now();
      ++received;
      std::string line(static_cast<const char*>(message->payload),
                       message->len);
      if (options.with_timestamps) {
        rd_kafka_timestamp_type_t type;
        int64_t timestamp = rd_kafka_message_timestamp(message, &type);
        std::string key_json, value_json;
        AppendJsonString(
            message->key == nullptr
                ? std::string_view()
                : std::string_view(static_cast<const char*>(message->key),
                                   message->key_len),
            &key_json);
        AppendJsonString(line, &value_json);
        line = StrCat("{\"timestamp\":", timestamp, ",\"key\":", key_json,
                      ",\"value\":", value_json, "}");
      } else if (options.with_headers) {
        std::string headers_json = "{";
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
            if (i > 0) headers_json += ",";
            AppendJsonString(name, &headers_json);
            headers_json += ":";
            AppendJsonString(
                std::string_view(static_cast<const char*>(value), size),
                &headers_json);
          }
        }
        headers_json += "}";
        std::string value_json;
        AppendJsonString(line, &value_json);
        line = StrCat("{\"headers\":", headers_json, ",\"value\":", value_json,
                      "}");
      }
      out << line << "\n";
    } else if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      log << "storyd: consume: " << rd_kafka_message_errstr(message) << "\n";
    }
    rd_kafka_message_destroy(message);
  }
  out.flush();
  rd_kafka_consumer_close(consumer.get());
  log << "storyd consume: " << received << " records from " << options.topic
      << "\n";
  return options.count == 0 || received >= options.count ? 0 : 1;
}

}  // namespace storyd
