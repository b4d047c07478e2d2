#include "daemon/consumer_lag.h"

#include <gtest/gtest.h>

#include <string>

namespace storyd {
namespace {

// The shape of librdkafka's statistics (STATISTICS.md), with the fields
// the lag is read from and a few it ignores.
std::string Statistics(const std::string& partitions) {
  return R"({"name": "rdkafka#consumer-1", "type": "consumer",
             "topics": {"news-in": {"topic": "news-in", "partitions": {)" +
         partitions + "}}}}";
}

struct PartitionStats {
  int id = 0;
  long committed_offset = -1001;
  long app_offset = -1001;
  long eof_offset = -1001;
  long ls_offset = -1001;
  long consumer_lag = -1;
  std::string fetch_state = "active";
};

std::string Partition(const PartitionStats& p) {
  return "\"" + std::to_string(p.id) +
         "\": {\"partition\": " + std::to_string(p.id) +
         ", \"fetch_state\": \"" + p.fetch_state +
         "\", \"committed_offset\": " + std::to_string(p.committed_offset) +
         ", \"app_offset\": " + std::to_string(p.app_offset) +
         ", \"eof_offset\": " + std::to_string(p.eof_offset) +
         ", \"hi_offset\": " + std::to_string(p.ls_offset) +
         ", \"ls_offset\": " + std::to_string(p.ls_offset) +
         ", \"consumer_lag\": " + std::to_string(p.consumer_lag) + "}";
}

TEST(ConsumerLagTest, CountsFromTheLastConsumedRecord) {
  // Partition 0: the committed offset was read at the assignment (30) and
  // transactions never move it, so librdkafka's own lag (20) keeps growing;
  // the application is at 40.
  auto lag = ConsumerLagFromStatistics(
      Statistics(
          Partition({.id = 0,
                     .committed_offset = 30,
                     .app_offset = 40,
                     .ls_offset = 50,
                     .consumer_lag = 20}) +
          "," +
          Partition(
              {.id = 1, .app_offset = 50, .eof_offset = 50, .ls_offset = 50})),
      "news-in");
  EXPECT_EQ(lag, (std::map<int32_t, int64_t>{{0, 10}, {1, 0}}));
}

TEST(ConsumerLagTest, BeforeAnyRecordCountsFromTheCommittedOffset) {
  auto lag = ConsumerLagFromStatistics(
      Statistics(Partition({.id = 3, .committed_offset = 30, .ls_offset = 50})),
      "news-in");
  EXPECT_EQ(lag, (std::map<int32_t, int64_t>{{3, 20}}));
}

TEST(ConsumerLagTest, AnIdlePartitionAtItsEndIsNotBehind) {
  // Nothing was ever consumed from partitions 1 and 2: only their
  // end-of-partition events say where the consumer is.
  auto lag = ConsumerLagFromStatistics(
      Statistics(
          Partition(
              {.id = 0, .app_offset = 3, .eof_offset = 3, .ls_offset = 3}) +
          "," + Partition({.id = 1, .eof_offset = 0, .ls_offset = 0}) + "," +
          Partition({.id = 2, .eof_offset = 4, .ls_offset = 6})),
      "news-in");
  EXPECT_EQ(lag, (std::map<int32_t, int64_t>{{0, 0}, {1, 0}, {2, 2}}));
}

TEST(ConsumerLagTest, LeavesOutPartitionsItDoesNotFetch) {
  // Revoked (their offsets stay frozen in the statistics), not assigned,
  // or still looking up where to start.
  auto lag = ConsumerLagFromStatistics(
      Statistics(Partition({.id = 0,
                            .app_offset = 40,
                            .ls_offset = 90,
                            .fetch_state = "stopped"}) +
                 "," +
                 Partition({.id = 1, .ls_offset = 90, .fetch_state = "none"}) +
                 "," +
                 Partition({.id = 2,
                            .committed_offset = 5,
                            .ls_offset = 90,
                            .fetch_state = "offset-query"}) +
                 "," + Partition({.id = 3, .app_offset = 80, .ls_offset = 90})),
      "news-in");
  EXPECT_EQ(lag, (std::map<int32_t, int64_t>{{3, 10}}));
}

TEST(ConsumerLagTest, LeavesOutPartitionsWithoutAPosition) {
  // A partition just assigned, not fetched yet; librdkafka's internal
  // unassigned partition (-1); an unknown end.
  auto lag = ConsumerLagFromStatistics(
      Statistics(Partition({.id = 0, .ls_offset = 12}) + "," +
                 Partition({.id = -1}) + "," +
                 Partition({.id = 3, .app_offset = 5})),
      "news-in");
  EXPECT_TRUE(lag.empty());
}

TEST(ConsumerLagTest, OtherTopicsAndUnreadableStatisticsGiveNothing) {
  EXPECT_TRUE(
      ConsumerLagFromStatistics(
          Statistics(Partition({.id = 0, .app_offset = 1, .ls_offset = 4})),
          "other-topic")
          .empty());
  EXPECT_TRUE(ConsumerLagFromStatistics("{\"topics\": [", "news-in").empty());
  EXPECT_TRUE(ConsumerLagFromStatistics("", "news-in").empty());
  EXPECT_TRUE(ConsumerLagFromStatistics("{}", "news-in").empty());
}

}  // namespace
}  // namespace storyd
