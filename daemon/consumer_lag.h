// Consumer lag per input partition, read from librdkafka's statistics JSON
// (STATISTICS.md: topics.<name>.partitions.<id>).
#ifndef STORYD_DAEMON_CONSUMER_LAG_H_
#define STORYD_DAEMON_CONSUMER_LAG_H_

#include <cstdint>
#include <map>
#include <string_view>

namespace storyd {

// Messages between what the application was given and the end of each
// assigned partition of `topic` (its last stable offset: the daemon reads
// committed records only). librdkafka's own `consumer_lag` counts from the
// consumer's committed offset, which transactions do not update; then the
// lag counts from the last message consumed, or from the end-of-partition
// event when the partition gave nothing (an idle partition is not behind).
// Partitions without a known position are left out; so is everything when
// the JSON cannot be read.
std::map<int32_t, int64_t> ConsumerLagFromStatistics(std::string_view json,
                                                     std::string_view topic);

}  // namespace storyd

#endif  // STORYD_DAEMON_CONSUMER_LAG_H_
