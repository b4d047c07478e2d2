// Daemon metrics in the Prometheus text format (version 0.0.4).
//
// Counters and histograms are lock-free atomics updated on the hot path;
// per-partition consumer lag comes from librdkafka statistics and sits
// behind a mutex (it changes once per statistics interval).
//
// Thread safety: every method may be called from any thread.
#ifndef STORYD_DAEMON_METRICS_H_
#define STORYD_DAEMON_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace storyd {

// A latency histogram with fixed bucket bounds (seconds).
class LatencyHistogram {
 public:
  static constexpr std::array<double, 12> kBounds = {
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
      0.005,   0.01,   0.025,   0.1,    1.0,   10.0};

  void Observe(double seconds);
  // Appends the histogram's lines for metric `name` with `labels`
  // (e.g. `stage="parse"`).
  void Render(std::string_view name, std::string_view labels,
              std::string* out) const;

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_nanos_{0};
};

struct DaemonMetrics {
  std::atomic<uint64_t> articles_consumed{0};
  std::atomic<uint64_t> articles_emitted{0};
  std::atomic<uint64_t> copies{0};
  std::atomic<uint64_t> new_stories{0};
  std::atomic<uint64_t> same_story{0};
  std::atomic<uint64_t> dead_letters{0};
  std::atomic<uint64_t> delivery_failures{0};
  std::atomic<uint64_t> commits{0};
  std::atomic<uint64_t> state_records_restored{0};  // changelog, at start
  std::atomic<uint64_t> state_records_applied{0};   // other instances' changes
  std::atomic<uint64_t> story_merges{0};
  std::atomic<uint64_t> replays{0};  // inputs answered from restored state
  std::atomic<uint64_t> transaction_aborts{0};
  std::atomic<uint64_t> rule_reloads{0};          // SIGHUP, rules swapped
  std::atomic<uint64_t> rule_reload_failures{0};  // SIGHUP, rules kept
  std::atomic<int64_t> in_flight{0};
  std::atomic<int64_t> paused{0};
  std::atomic<uint64_t> fingerprint_entries{0};
  std::atomic<uint64_t> active_stories{0};
  std::atomic<uint64_t> copy_index_bytes{0};
  LatencyHistogram process_seconds;  // worker stage: parse to features
  LatencyHistogram assign_seconds;   // ordered stage: copy and story decision
  LatencyHistogram
      end_to_end_seconds;           // consumed to acknowledged by the broker
  LatencyHistogram commit_seconds;  // one transaction commit (exactly once)

  // Replaces the per-partition consumer lag (from librdkafka statistics).
  void SetConsumerLag(std::map<int32_t, int64_t> lag);

  std::string RenderPrometheus() const;

 private:
  mutable std::mutex lag_mutex_;
  std::map<int32_t, int64_t> consumer_lag_;
};

}  // namespace storyd

#endif  // STORYD_DAEMON_METRICS_H_
