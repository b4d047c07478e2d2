#include "daemon/consumer_lag.h"

#include <simdjson.h>

#include <algorithm>

namespace storyd {

std::map<int32_t, int64_t> ConsumerLagFromStatistics(std::string_view json,
                                                     std::string_view topic) {
  std::map<int32_t, int64_t> lag;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS)
    return lag;
  simdjson::dom::object partitions;
  if (root["topics"][topic]["partitions"].get(partitions) != simdjson::SUCCESS)
    return lag;
  for (auto field : partitions) {
    const simdjson::dom::element value = field.value;
    int64_t partition_id = -1;
    // "-1" is librdkafka's internal unassigned partition.
    if (value["partition"].get(partition_id) != simdjson::SUCCESS ||
        partition_id < 0) {
      continue;
    }
    // The statistics list every partition of the topic; those this
    // consumer does not fetch (never assigned, or revoked: their offsets
    // stay frozen) are another instance's to report.
    std::string_view fetch_state;
    if (value["fetch_state"].get(fetch_state) == simdjson::SUCCESS &&
        fetch_state != "active") {
      continue;
    }
    // Offsets librdkafka does not know (yet) are negative (-1001).
    auto offset = [&value](const char* name) {
      int64_t v = -1;
      return value[name].get(v) == simdjson::SUCCESS ? v : int64_t{-1};
    };
    const int64_t end = offset("ls_offset");
    if (end < 0) continue;
    // Where the application is: past the last record it was given, at the
    // end it was told of, or, before either, at the committed offset the
    // fetch started from. librdkafka's own consumer_lag counts from that
    // committed offset only, which transactions never move after the
    // assignment: it would grow for ever under exactly once.
    const int64_t position =
        std::max({offset("app_offset"), offset("eof_offset"),
                  offset("committed_offset")});
    if (position < 0) continue;
    lag[static_cast<int32_t>(partition_id)] =
        std::max<int64_t>(0, end - position);
  }
  return lag;
}

}  // namespace storyd
