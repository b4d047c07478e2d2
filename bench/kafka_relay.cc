// The baseline for storyd's end-to-end figures: a relay that consumes the
// input topic and produces every record unchanged to the output topic, with
// the same delivery discipline as storyd (offsets committed only after the
// broker acknowledged the record), and no processing at all.
//
//   kafka_relay BROKERS INPUT_TOPIC OUTPUT_TOPIC GROUP COUNT
//
// Exits once COUNT records have been acknowledged, printing records/s.
#include <librdkafka/rdkafka.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

namespace {

struct Acks {
  long long acknowledged = 0;
  std::map<int32_t, int64_t> committable;  // partition -> highest acked offset
};

struct Tag {
  int32_t partition;
  int64_t offset;
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto* acks = static_cast<Acks*>(opaque);
  auto* tag = static_cast<Tag*>(message->_private);
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++acks->acknowledged;
    int64_t& highest = acks->committable[tag->partition];
    if (tag->offset > highest) highest = tag->offset;
  } else {
    std::fprintf(stderr, "kafka_relay: delivery failed: %s\n",
                 rd_kafka_err2str(message->err));
  }
  delete tag;
}

rd_kafka_t* Client(rd_kafka_type_t type,
                   const std::map<std::string, std::string>& properties,
                   Acks* acks) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  for (const auto& [name, value] : properties) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error,
                          sizeof(error)) != RD_KAFKA_CONF_OK) {
      std::fprintf(stderr, "kafka_relay: %s\n", error);
      std::exit(2);
    }
  }
  if (acks != nullptr) {
    rd_kafka_conf_set_dr_msg_cb(conf, &OnDelivery);
    rd_kafka_conf_set_opaque(conf, acks);
  }
  rd_kafka_t* handle = rd_kafka_new(type, conf, error, sizeof(error));
  if (handle == nullptr) {
    std::fprintf(stderr, "kafka_relay: %s\n", error);
    std::exit(2);
  }
  return handle;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr,
                 "usage: kafka_relay BROKERS INPUT OUTPUT GROUP COUNT\n");
    return 2;
  }
  const std::string brokers = argv[1], input = argv[2], output = argv[3],
                    group = argv[4];
  const long long count = std::atoll(argv[5]);
  Acks acks;
  // The same client settings storyd uses.
  rd_kafka_t* producer = Client(RD_KAFKA_PRODUCER,
                                {{"bootstrap.servers", brokers},
                                 {"enable.idempotence", "true"},
                                 {"linger.ms", "5"},
                                 {"message.max.bytes", "67108864"}},
                                &acks);
  rd_kafka_t* consumer = Client(RD_KAFKA_CONSUMER,
                                {{"bootstrap.servers", brokers},
                                 {"group.id", group},
                                 {"enable.auto.commit", "false"},
                                 {"enable.auto.offset.store", "false"},
                                 {"auto.offset.reset", "earliest"}},
                                nullptr);
  rd_kafka_poll_set_consumer(consumer);
  rd_kafka_topic_partition_list_t* topics =
      rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, input.c_str(),
                                    RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(consumer, topics);
  rd_kafka_topic_partition_list_destroy(topics);

  const auto start = std::chrono::steady_clock::now();
  auto last_commit = start;
  while (acks.acknowledged < count) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer, 5);
    if (message != nullptr) {
      if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        auto* tag = new Tag{message->partition, message->offset};
        while (rd_kafka_producev(
                   producer, RD_KAFKA_V_TOPIC(output.c_str()),
                   RD_KAFKA_V_KEY(message->key, message->key_len),
                   RD_KAFKA_V_VALUE(message->payload, message->len),
                   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                   RD_KAFKA_V_OPAQUE(tag),
                   RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
          rd_kafka_poll(producer, 50);
        }
      }
      rd_kafka_message_destroy(message);
    }
    rd_kafka_poll(producer, 0);
    auto now = std::chrono::steady_clock::now();
    if (now - last_commit > std::chrono::seconds(1) &&
        !acks.committable.empty()) {
      rd_kafka_topic_partition_list_t* offsets =
          rd_kafka_topic_partition_list_new(4);
      for (const auto& [partition, offset] : acks.committable) {
        rd_kafka_topic_partition_list_add(offsets, input.c_str(), partition)
            ->offset = offset + 1;
      }
      rd_kafka_commit(consumer, offsets, 1);
      rd_kafka_topic_partition_list_destroy(offsets);
      last_commit = now;
    }
  }
  rd_kafka_flush(producer, 10000);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const long long cpu_us =
      (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000000LL +
      usage.ru_utime.tv_usec + usage.ru_stime.tv_usec;
  std::printf(
      "kafka_relay: %lld records in %.2f s, %.0f records/s, cpu_us %lld\n",
      acks.acknowledged, seconds,
      static_cast<double>(acks.acknowledged) / seconds, cpu_us);
  rd_kafka_consumer_close(consumer);
  rd_kafka_destroy(consumer);
  rd_kafka_destroy(producer);
  return 0;
}
