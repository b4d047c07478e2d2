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
  for (auto [key, value] : partitions) {
    int64_t partition_id = -1;
    // "-1" is librdkafka's internal unassigned partition.
    if (value["partition"].get(partition_id) != simdjson::SUCCESS ||
        partition_id < 0) {
      continue;
    }
    int64_t partition_lag = -1;
    if (value["consumer_lag"].get(partition_lag) != simdjson::SUCCESS) continue;
    if (partition_lag < 0) {
      // Offsets librdkafka does not know yet are negative (-1001).
      int64_t end = -1, consumed = -1, at_end = -1;
      if (value["ls_offset"].get(end) != simdjson::SUCCESS || end < 0) continue;
      if (value["app_offset"].get(consumed) != simdjson::SUCCESS) consumed = -1;
      if (value["eof_offset"].get(at_end) != simdjson::SUCCESS) at_end = -1;
      const int64_t position = std::max(consumed, at_end);
      if (position < 0) continue;
      partition_lag = std::max<int64_t>(0, end - position);
    }
    lag[static_cast<int32_t>(partition_id)] = partition_lag;
  }
  return lag;
}

}  // namespace storyd
