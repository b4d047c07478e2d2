#include "daemon/reorder_buffer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <tuple>
#include <vector>

namespace storyd {
namespace {

using Buffer = ReorderBuffer<std::string>;
using Clock = Buffer::Clock;
using std::chrono::milliseconds;

constexpr milliseconds kBacklog(2000);

Buffer::Entry Record(const std::string& name, int32_t partition,
                     int64_t timestamp_ms, Clock::time_point arrived) {
  return {.record = name,
          .partition = partition,
          .timestamp_ms = timestamp_ms,
          .arrived = arrived};
}

std::vector<std::string> TakeDue(Buffer& buffer, Clock::time_point now) {
  std::vector<std::string> taken;
  while (auto entry = buffer.PopDue(now, /*all=*/false))
    taken.push_back(entry->record);
  return taken;
}

TEST(ReorderBufferTest, HoldsARecordWhileAnotherPartitionHasGivenNothing) {
  const Clock::time_point t0 = Clock::now();
  Buffer buffer(milliseconds(200), kBacklog, 100);
  buffer.SetAssigned({0, 1});
  buffer.Push(Record("a", 0, 1000, t0));
  EXPECT_TRUE(TakeDue(buffer, t0 + milliseconds(10)).empty());
  // Partition 1 gives an earlier record: it goes first.
  buffer.Push(Record("b", 1, 900, t0 + milliseconds(10)));
  EXPECT_EQ(TakeDue(buffer, t0 + milliseconds(10)),
            (std::vector<std::string>{"b"}));
  // Partition 1 is empty now, but its last record was earlier than "a":
  // something earlier may still come, so "a" waits for the window.
  EXPECT_TRUE(TakeDue(buffer, t0 + milliseconds(20)).empty());
  EXPECT_EQ(TakeDue(buffer, t0 + milliseconds(200)),
            (std::vector<std::string>{"a"}));
}

TEST(ReorderBufferTest, AnEmptyPartitionPastTheHeadDoesNotHoldItBack) {
  const Clock::time_point t0 = Clock::now();
  Buffer buffer(milliseconds(200), kBacklog, 100);
  buffer.SetAssigned({0, 1});
  buffer.Push(Record("b1", 1, 1000, t0));
  buffer.Push(Record("b2", 1, 1200, t0));
  buffer.Push(Record("a1", 0, 1100, t0));
  // b1 and a1 go; b2 waits: partition 0 may still give 1100..1199.
  EXPECT_EQ(TakeDue(buffer, t0), (std::vector<std::string>{"b1", "a1"}));
  buffer.Push(Record("a2", 0, 1300, t0));
  // Partition 0 is past 1200 now: b2 goes, and a2 waits for partition 1.
  EXPECT_EQ(TakeDue(buffer, t0), (std::vector<std::string>{"b2"}));
  buffer.Push(Record("b3", 1, 1300, t0));
  // Equal timestamps: the lower partition first. Then b3 waits: partition 0
  // may still give another record of 1300, which would sort before it.
  EXPECT_EQ(TakeDue(buffer, t0), (std::vector<std::string>{"a2"}));
  EXPECT_TRUE(TakeDue(buffer, t0).empty());
  buffer.Push(Record("a3", 0, 1301, t0));
  EXPECT_EQ(TakeDue(buffer, t0), (std::vector<std::string>{"b3"}));
}

TEST(ReorderBufferTest, AllAndAFullBufferReleaseAtOnce) {
  const Clock::time_point t0 = Clock::now();
  Buffer buffer(milliseconds(200), kBacklog, 3);
  buffer.SetAssigned({0, 1});
  buffer.Push(Record("a1", 0, 10, t0));
  buffer.Push(Record("a2", 0, 20, t0));
  EXPECT_TRUE(TakeDue(buffer, t0).empty());
  buffer.Push(Record("a3", 0, 30, t0));
  // Full: the earliest goes until the buffer is below its bound again.
  EXPECT_EQ(TakeDue(buffer, t0), (std::vector<std::string>{"a1"}));
  auto entry = buffer.PopDue(t0, /*all=*/true);
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->record, "a2");
}

TEST(ReorderBufferTest, WithoutAssignmentOrWindowRecordsGoInFetchOrder) {
  const Clock::time_point t0 = Clock::now();
  Buffer no_window(milliseconds(0), kBacklog, 100);
  no_window.SetAssigned({0, 1});
  no_window.Push(Record("a", 0, 50, t0));
  EXPECT_EQ(TakeDue(no_window, t0), (std::vector<std::string>{"a"}));

  Buffer unassigned(milliseconds(200), kBacklog, 100);
  unassigned.Push(Record("a", 0, 50, t0));
  EXPECT_TRUE(TakeDue(unassigned, t0).empty());
  EXPECT_EQ(TakeDue(unassigned, t0 + milliseconds(200)),
            (std::vector<std::string>{"a"}));
}

TEST(ReorderBufferTest, TakeAllForgetsTheLastTimestamps) {
  const Clock::time_point t0 = Clock::now();
  Buffer buffer(milliseconds(200), kBacklog, 100);
  buffer.SetAssigned({0, 1});
  buffer.Push(Record("b", 1, 5000, t0));
  buffer.Push(Record("a", 0, 100, t0));
  EXPECT_EQ(TakeDue(buffer, t0), (std::vector<std::string>{"a"}));
  EXPECT_EQ(buffer.TakeAll(), (std::vector<std::string>{"b"}));
  EXPECT_EQ(buffer.size(), 0u);
  // After a seek back, partition 1's 5000 no longer vouches for it.
  buffer.Push(Record("a", 0, 200, t0));
  EXPECT_TRUE(TakeDue(buffer, t0).empty());
}

TEST(ReorderBufferTest, AReassignedPartitionForgetsItsLastTimestamp) {
  const Clock::time_point t0 = Clock::now();
  Buffer buffer(milliseconds(200), kBacklog, 100);
  buffer.SetAssigned({0, 1});
  buffer.Push(Record("b", 1, 5000, t0));
  EXPECT_EQ(buffer.TakeAll().size(), 1u);
  buffer.SetAssigned({0, 1});
  buffer.Push(Record("b", 1, 5000, t0));
  EXPECT_EQ(TakeDue(buffer, t0).size(), 0u);  // partition 0: nothing yet
  buffer.Push(Record("a", 0, 6000, t0));
  EXPECT_EQ(TakeDue(buffer, t0), (std::vector<std::string>{"b"}));
  buffer.SetAssigned({0});  // partition 1 revoked
  buffer.SetAssigned({0, 1});
  // Partition 1 was given back and has said nothing since.
  EXPECT_TRUE(TakeDue(buffer, t0).empty());
}

TEST(ReorderBufferTest, APartitionAtItsEndHoldsNothingBack) {
  const Clock::time_point t0 = Clock::now();
  Buffer buffer(milliseconds(200), kBacklog, 100);
  buffer.SetAssigned({0, 1});
  buffer.MarkAtEnd(1);  // a quiet partition
  buffer.Push(Record("a1", 0, 1000, t0));
  EXPECT_EQ(TakeDue(buffer, t0), (std::vector<std::string>{"a1"}));
  // A record comes to partition 1: it is no longer at its end, and its
  // last record (900) is earlier than a2, which waits for it again.
  buffer.Push(Record("b1", 1, 900, t0));
  buffer.Push(Record("a2", 0, 1100, t0));
  EXPECT_EQ(TakeDue(buffer, t0), (std::vector<std::string>{"b1"}));
  EXPECT_TRUE(TakeDue(buffer, t0 + milliseconds(10)).empty());
  buffer.MarkAtEnd(1);
  EXPECT_EQ(TakeDue(buffer, t0 + milliseconds(10)),
            (std::vector<std::string>{"a2"}));
  // The end of a partition no longer assigned is not news.
  buffer.SetAssigned({0});
  buffer.MarkAtEnd(1);
  buffer.SetAssigned({0, 1});
  buffer.Push(Record("a3", 0, 1200, t0));
  EXPECT_TRUE(TakeDue(buffer, t0).empty());
}

TEST(ReorderBufferTest, ABacklogHoldsTheOthersLongerUntilItsFirstRecord) {
  const Clock::time_point t0 = Clock::now();
  Buffer buffer(milliseconds(200), kBacklog, 100);
  buffer.SetAssigned({0, 1, 2});
  buffer.MarkBacklog(1, t0);  // records to read, none fetched yet
  buffer.MarkAtEnd(2);
  buffer.Push(Record("a1", 0, 1000, t0));
  buffer.Push(Record("a2", 0, 1100, t0));
  // Past the window, not past the backlog window.
  EXPECT_TRUE(TakeDue(buffer, t0 + milliseconds(1000)).empty());
  // Partition 1's first fetch comes late, with earlier records: the
  // merge order holds.
  buffer.Push(Record("b1", 1, 500, t0 + milliseconds(1500)));
  buffer.Push(Record("b2", 1, 1050, t0 + milliseconds(1500)));
  // Partition 1 is live now, and a2 has waited longer than the ordinary
  // window for it: all four go.
  EXPECT_EQ(TakeDue(buffer, t0 + milliseconds(1500)),
            (std::vector<std::string>{"b1", "a1", "b2", "a2"}));
  // A record that comes now waits the ordinary window for partition 1.
  const Clock::time_point t1 = t0 + milliseconds(1600);
  buffer.Push(Record("a3", 0, 1200, t1));
  EXPECT_TRUE(TakeDue(buffer, t1 + milliseconds(199)).empty());
  EXPECT_EQ(TakeDue(buffer, t1 + milliseconds(200)),
            (std::vector<std::string>{"a3"}));
}

TEST(ReorderBufferTest, ABacklogThatDoesNotComeStopsCountingAsOne) {
  const Clock::time_point t0 = Clock::now();
  Buffer buffer(milliseconds(200), kBacklog, 100);
  buffer.SetAssigned({0, 1});
  buffer.MarkBacklog(1, t0);
  buffer.Push(Record("a1", 0, 1000, t0));
  EXPECT_TRUE(TakeDue(buffer, t0 + kBacklog - milliseconds(1)).empty());
  EXPECT_EQ(TakeDue(buffer, t0 + kBacklog), (std::vector<std::string>{"a1"}));
  // Later records wait the ordinary window for the silent partition, not
  // the backlog window.
  const Clock::time_point t1 = t0 + kBacklog + milliseconds(500);
  buffer.Push(Record("a2", 0, 2000, t1));
  EXPECT_TRUE(TakeDue(buffer, t1 + milliseconds(100)).empty());
  EXPECT_EQ(TakeDue(buffer, t1 + milliseconds(200)),
            (std::vector<std::string>{"a2"}));
  // A partition that has given records is no backlog's first: MarkBacklog
  // leaves it as it is.
  buffer.Push(Record("b1", 1, 2100, t1));
  buffer.MarkBacklog(1, t1);
  buffer.Push(Record("a3", 0, 2200, t1));
  EXPECT_EQ(TakeDue(buffer, t1), (std::vector<std::string>{"b1"}));
  EXPECT_EQ(TakeDue(buffer, t1 + milliseconds(200)),
            (std::vector<std::string>{"a3"}));
}

// Within every partition timestamps do not go back; fetches interleave the
// partitions at random. Whenever the buffer releases a record before its
// window is up, it must be the one a merge of the complete partitions puts
// next: the released order is the timestamp order, ties by partition.
TEST(ReorderBufferTest, ReleasesTheMergeOrderOfMonotonePartitions) {
  std::mt19937 random(7);
  for (int round = 0; round < 200; ++round) {
    const int partitions = 1 + static_cast<int>(random() % 4);
    std::vector<std::vector<std::tuple<int64_t, int32_t, std::string>>> streams(
        partitions);
    std::vector<std::tuple<int64_t, int32_t, std::string>> expected;
    for (int p = 0; p < partitions; ++p) {
      int64_t timestamp = random() % 5;
      const int count = static_cast<int>(random() % 30);
      for (int i = 0; i < count; ++i) {
        timestamp += random() % 4;  // equal timestamps happen
        std::string name = std::to_string(p) + ":" + std::to_string(i);
        streams[p].emplace_back(timestamp, p, name);
        expected.emplace_back(timestamp, p, name);
      }
    }
    std::stable_sort(expected.begin(), expected.end(),
                     [](const auto& a, const auto& b) {
                       return std::tie(std::get<0>(a), std::get<1>(a)) <
                              std::tie(std::get<0>(b), std::get<1>(b));
                     });
    const Clock::time_point t0 = Clock::now();
    Buffer buffer(milliseconds(200), kBacklog, 1000);
    std::vector<int32_t> assigned;
    for (int p = 0; p < partitions; ++p) assigned.push_back(p);
    buffer.SetAssigned(assigned);
    std::vector<size_t> next(partitions, 0);
    std::vector<std::string> released;
    size_t left = expected.size();
    while (left > 0) {
      const int p = static_cast<int>(random() % partitions);
      if (next[p] == streams[p].size()) continue;
      const auto& [timestamp, partition, name] = streams[p][next[p]++];
      buffer.Push(Record(name, partition, timestamp, t0));
      --left;
      // Its last record given, the partition reaches its end (EOF).
      if (next[p] == streams[p].size()) buffer.MarkAtEnd(p);
      for (const std::string& name : TakeDue(buffer, t0))
        released.push_back(name);
    }
    // Every partition at its end: nothing waits for the window.
    for (int p = 0; p < partitions; ++p) {
      if (streams[p].empty()) buffer.MarkAtEnd(p);
    }
    for (const std::string& name : TakeDue(buffer, t0))
      released.push_back(name);
    ASSERT_EQ(released.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i)
      ASSERT_EQ(released[i], std::get<2>(expected[i])) << "round " << round;
  }
}

}  // namespace
}  // namespace storyd
