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
// head is not earlier) or when the last record it gave was later: within
// a partition timestamps do not go back (CreateTime from a producer, or
// LogAppendTime), so its next record cannot be earlier either. Only a
// partition that has given nothing later holds the head back, and then at
// most `window`; a full buffer, or `all`, releases at once.
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

  ReorderBuffer(std::chrono::milliseconds window, size_t max_buffered)
      : window_(window), max_buffered_(max_buffered) {}

  // The partitions that records can come from. A partition no longer
  // assigned forgets its last timestamp (its records may come from another
  // position next time); its waiting records stay until taken.
  void SetAssigned(std::vector<int32_t> partitions) {
    for (auto it = last_timestamp_.begin(); it != last_timestamp_.end();) {
      bool kept = false;
      for (int32_t partition : partitions) kept |= partition == it->first;
      it = kept ? std::next(it) : last_timestamp_.erase(it);
    }
    assigned_ = std::move(partitions);
  }

  void Push(Entry entry) {
    int64_t& last =
        last_timestamp_.try_emplace(entry.partition, entry.timestamp_ms)
            .first->second;
    last = std::max(last, entry.timestamp_ms);
    queues_[entry.partition].push_back(std::move(entry));
    ++size_;
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
    const Entry& head = first->front();
    const bool due = all || window_.count() == 0 || size_ >= max_buffered_ ||
                     now - oldest >= window_ || NothingEarlierToCome(head);
    if (!due) return std::nullopt;
    Entry taken = std::move(first->front());
    first->pop_front();
    --size_;
    return taken;
  }

  // Takes every waiting record, in no particular order (to release them),
  // and forgets the partitions' last timestamps: after a seek back they
  // give earlier records again.
  std::vector<Record> TakeAll() {
    std::vector<Record> records;
    records.reserve(size_);
    for (auto& [partition, queue] : queues_) {
      for (Entry& entry : queue) records.push_back(std::move(entry.record));
    }
    queues_.clear();
    last_timestamp_.clear();
    size_ = 0;
    return records;
  }

  size_t size() const { return size_; }

 private:
  // No assigned partition can still give a record that sorts before `head`.
  bool NothingEarlierToCome(const Entry& head) const {
    if (assigned_.empty()) return false;
    for (int32_t partition : assigned_) {
      if (partition == head.partition) continue;
      auto queue = queues_.find(partition);
      if (queue != queues_.end() && !queue->second.empty()) continue;
      auto last = last_timestamp_.find(partition);
      if (last == last_timestamp_.end()) return false;
      // An equal timestamp sorts first only from a lower partition.
      if (last->second < head.timestamp_ms ||
          (last->second == head.timestamp_ms && partition < head.partition)) {
        return false;
      }
    }
    return true;
  }

  std::chrono::milliseconds window_;
  size_t max_buffered_;
  std::vector<int32_t> assigned_;
  std::map<int32_t, std::deque<Entry>> queues_;  // by partition
  std::map<int32_t, int64_t> last_timestamp_;    // by partition
  size_t size_ = 0;
};

}  // namespace storyd

#endif  // STORYD_DAEMON_REORDER_BUFFER_H_
