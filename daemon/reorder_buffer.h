#ifndef STORYD_DAEMON_REORDER_BUFFER_H_
#define STORYD_DAEMON_REORDER_BUFFER_H_

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <iterator>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace storyd {

// Merges the records of several input partitions into one stream in
// timestamp order, each partition's own order kept, so that story
// decisions follow event order rather than how fetches interleaved.
//
// The head with the smallest timestamp (ties: the lower partition) is due
// once no record still to come from another assigned partition can sort
// before it. A partition rules that out when it has a record waiting (its
// head is not earlier), when the last record it gave was later (within a
// partition timestamps do not go back: CreateTime from a producer, or
// LogAppendTime), or when it is at the end of its log (MarkAtEnd: the
// consumer reached the end after its last record, or it had nothing to read
// when assigned): what is written to it from now on is stamped later. The
// last is what Kafka Streams does by default (KIP-695): wait for data a
// partition has, not for data it may get, so that a quiet partition does
// not hold every record of the others back.
//
// Any other partition holds the head back, for at most `window` since the
// oldest waiting record arrived; one known to have records on the broker
// that it has not given yet since it was assigned or rewound (MarkBacklog)
// for at most `backlog_window`: its first fetch may come late, and a
// backlog is where the order matters most (a restart, a rebalance). A full
// buffer, or `all`, releases at once.
//
// Record is what the caller keeps per record (a message handle); the
// buffer never looks into it.
template <typename Record>
class ReorderBuffer {
 public:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    Record record;
    int32_t partition = 0;
    int64_t timestamp_ms = 0;
    Clock::time_point arrived;
  };

  // A zero `window` takes records in fetch order.
  ReorderBuffer(std::chrono::milliseconds window,
                std::chrono::milliseconds backlog_window, size_t max_buffered)
      : window_(window),
        backlog_window_(std::max(window, backlog_window)),
        max_buffered_(max_buffered) {}

  // The partitions that records can come from. A partition no longer
  // assigned forgets what it gave (its records may come from another
  // position next time); its waiting records stay until taken.
  void SetAssigned(std::vector<int32_t> partitions) {
    for (auto it = states_.begin(); it != states_.end();) {
      bool kept = false;
      for (int32_t partition : partitions) kept |= partition == it->first;
      it = kept ? std::next(it) : states_.erase(it);
    }
    assigned_ = std::move(partitions);
  }

  void Push(Entry entry) {
    PartitionState& state = states_[entry.partition];
    state.last_timestamp_ms =
        std::max(state.last_timestamp_ms.value_or(entry.timestamp_ms),
                 entry.timestamp_ms);
    state.at_end = false;
    state.backlog_since.reset();
    queues_[entry.partition].push_back(std::move(entry));
    ++size_;
  }

  // `partition` is at the end of its log (the consumer's end-of-partition
  // event, or nothing to read at its position): until it gives another
  // record, it holds nothing back.
  void MarkAtEnd(int32_t partition) {
    if (!IsAssigned(partition)) return;
    PartitionState& state = states_[partition];
    state.at_end = true;
    state.backlog_since.reset();
  }

  // `partition` has records on the broker past its position (as found
  // at `now`): until it gives one, for up to `backlog_window` from `now`,
  // it holds the others back. For a partition that has given nothing since
  // it was assigned or rewound.
  void MarkBacklog(int32_t partition, Clock::time_point now) {
    if (!IsAssigned(partition)) return;
    PartitionState& state = states_[partition];
    if (state.last_timestamp_ms.has_value()) return;
    state.backlog_since = now;
    state.at_end = false;
  }

  // The next record due at `now`, if any; `all` takes every record in
  // order regardless.
  std::optional<Entry> PopDue(Clock::time_point now, bool all) {
    std::deque<Entry>* first = nullptr;
    Clock::time_point oldest = Clock::time_point::max();
    for (auto& [partition, queue] : queues_) {
      if (queue.empty()) continue;
      // Ties go to the lower partition (the map is ordered).
      if (first == nullptr ||
          queue.front().timestamp_ms < first->front().timestamp_ms) {
        first = &queue;
      }
      oldest = std::min(oldest, queue.front().arrived);
    }
    if (first == nullptr) return std::nullopt;
    const bool due = all || window_.count() == 0 || size_ >= max_buffered_ ||
                     now - oldest >= MaxWait(first->front(), now);
    if (!due) return std::nullopt;
    Entry taken = std::move(first->front());
    first->pop_front();
    --size_;
    return taken;
  }

  // Takes every waiting record, in no particular order (to release them),
  // and forgets what the partitions gave: after a seek back they give
  // earlier records again.
  std::vector<Record> TakeAll() {
    std::vector<Record> records;
    records.reserve(size_);
    for (auto& [partition, queue] : queues_) {
      for (Entry& entry : queue) records.push_back(std::move(entry.record));
    }
    queues_.clear();
    states_.clear();
    size_ = 0;
    return records;
  }

  size_t size() const { return size_; }

 private:
  // What the merge knows of a partition since it was assigned or rewound.
  struct PartitionState {
    std::optional<int64_t> last_timestamp_ms;  // of the latest record
    bool at_end = false;  // at the end of its log since that record
    // Since when it is known to have records on the broker, none given.
    std::optional<Clock::time_point> backlog_since;
  };
  // How long `head` may wait for the other partitions: not at all, for
  // `window`, or for `backlog_window` (the longest wait among them). A
  // backlog that has not come within `backlog_window` of being found no
  // longer counts as one, so that a partition whose records never come
  // (uncommitted, or a lost leader) does not delay every record for long.
  std::chrono::milliseconds MaxWait(const Entry& head,
                                    Clock::time_point now) const {
    if (assigned_.empty()) return window_;
    std::chrono::milliseconds wait{0};
    for (int32_t partition : assigned_) {
      if (partition == head.partition) continue;
      auto queue = queues_.find(partition);
      if (queue != queues_.end() && !queue->second.empty()) continue;
      auto found = states_.find(partition);
      const PartitionState* state =
          found == states_.end() ? nullptr : &found->second;
      if (state != nullptr && state->at_end) continue;
      if (state != nullptr && state->backlog_since.has_value() &&
          now - *state->backlog_since < backlog_window_) {
        return backlog_window_;
      }
      // Nothing known of it (or a backlog that did not come), or its last
      // record sorts before the head: an equal timestamp sorts first only
      // from a lower partition.
      const std::optional<int64_t> last =
          state == nullptr ? std::nullopt : state->last_timestamp_ms;
      if (!last.has_value() || *last < head.timestamp_ms ||
          (*last == head.timestamp_ms && partition < head.partition)) {
        wait = window_;
      }
    }
    return wait;
  }
  bool IsAssigned(int32_t partition) const {
    return std::find(assigned_.begin(), assigned_.end(), partition) !=
           assigned_.end();
  }

  std::chrono::milliseconds window_;
  std::chrono::milliseconds backlog_window_;
  size_t max_buffered_;
  std::vector<int32_t> assigned_;
  std::map<int32_t, std::deque<Entry>> queues_;  // by partition
  std::map<int32_t, PartitionState> states_;     // by partition
  size_t size_ = 0;
};

}  // namespace storyd

#endif  // STORYD_DAEMON_REORDER_BUFFER_H_
