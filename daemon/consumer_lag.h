// Consumer lag per input partition, read from librdkafka's statistics JSON
// (STATISTICS.md: topics.<name>.partitions.<id>).
#ifndef STORYD_DAEMON_CONSUMER_LAG_H_
#define STORYD_DAEMON_CONSUMER_LAG_H_

#include <cstdint>
#include <map>
#include <string_view>

namespace storyd {

// Messages between what the application was given and the end of each
// partition of `topic` this consumer fetches (its last stable offset: the
// daemon reads committed records only). The position is past the last
// message consumed, at the last end-of-partition event (an idle partition
// is not behind), or, before either, the committed offset the fetch started
// from. Not librdkafka's own `consumer_lag`: it counts from the committed
// offset alone, which transactional commits (the producer's) never update.
// Partitions not being fetched (fetch_state other than "active"), and those
// without a known position or end, are left out; so is everything when the
// JSON cannot be read.
std::map<int32_t, int64_t> ConsumerLagFromStatistics(std::string_view json,
                                                     std::string_view topic);

}  // namespace storyd

#endif  // STORYD_DAEMON_CONSUMER_LAG_H_
