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

std::string Partition(int id, long consumer_lag, long app_offset,
                      long eof_offset, long ls_offset) {
  return "\"" + std::to_string(id) +
         "\": {\"partition\": " + std::to_string(id) +
         ", \"fetch_state\": \"active\", " +
         "\"committed_offset\": -1001, \"app_offset\": " +
         std::to_string(app_offset) +
         ", \"eof_offset\": " + std::to_string(eof_offset) +
         ", \"hi_offset\": " + std::to_string(ls_offset) +
         ", \"ls_offset\": " + std::to_string(ls_offset) +
         ", \"consumer_lag\": " + std::to_string(consumer_lag) + "}";
}

TEST(ConsumerLagTest, TakesLibrdkafkasLagWhenItKnowsTheCommittedOffset) {
  auto lag = ConsumerLagFromStatistics(
      Statistics(Partition(0, 7, 40, -1001, 50)), "news-in");
  EXPECT_EQ(lag, (std::map<int32_t, int64_t>{{0, 7}}));
}

TEST(ConsumerLagTest, CountsFromTheLastConsumedRecordUnderTransactions) {
  auto lag =
      ConsumerLagFromStatistics(Statistics(Partition(0, -1, 40, -1001, 50) +
                                           "," + Partition(1, -1, 50, 50, 50)),
                                "news-in");
  EXPECT_EQ(lag, (std::map<int32_t, int64_t>{{0, 10}, {1, 0}}));
}

TEST(ConsumerLagTest, AnIdlePartitionAtItsEndIsNotBehind) {
  // Nothing was ever consumed from partition 1: only its end-of-partition
  // event says where the consumer is.
  auto lag =
      ConsumerLagFromStatistics(Statistics(Partition(0, -1, 3, 3, 3) + "," +
                                           Partition(1, -1, -1001, 0, 0) + "," +
                                           Partition(2, -1, -1001, 4, 6)),
                                "news-in");
  EXPECT_EQ(lag, (std::map<int32_t, int64_t>{{0, 0}, {1, 0}, {2, 2}}));
}

TEST(ConsumerLagTest, LeavesOutPartitionsWithoutAPosition) {
  // A partition just assigned, not fetched yet; librdkafka's internal
  // unassigned partition (-1); an unknown end.
  auto lag = ConsumerLagFromStatistics(
      Statistics(Partition(0, -1, -1001, -1001, 12) + "," +
                 Partition(-1, -1, -1001, -1001, -1001) + "," +
                 Partition(3, -1, 5, -1001, -1001)),
      "news-in");
  EXPECT_TRUE(lag.empty());
}

TEST(ConsumerLagTest, OtherTopicsAndUnreadableStatisticsGiveNothing) {
  EXPECT_TRUE(ConsumerLagFromStatistics(
                  Statistics(Partition(0, 3, 1, -1001, 4)), "other-topic")
                  .empty());
  EXPECT_TRUE(ConsumerLagFromStatistics("{\"topics\": [", "news-in").empty());
  EXPECT_TRUE(ConsumerLagFromStatistics("", "news-in").empty());
  EXPECT_TRUE(ConsumerLagFromStatistics("{}", "news-in").empty());
}

}  // namespace
}  // namespace storyd
