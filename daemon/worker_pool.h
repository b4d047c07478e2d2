// The daemon's workers: they parse, strip and fingerprint consumed records
// in parallel, and the main thread takes the results back in sequence order
// for the ordered stage.
//
// Thread safety: SubmitAll, Needing, Take, SetLearned and SetWaker are for
// one thread (the daemon's main loop); the workers are the pool's own.
#ifndef STORYD_DAEMON_WORKER_POOL_H_
#define STORYD_DAEMON_WORKER_POOL_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/boilerplate_learner.h"
#include "core/pipeline.h"
#include "daemon/metrics.h"

namespace storyd {

// What a worker reads of a consumed record. The bytes belong to whoever
// made the job (the daemon's Job keeps its librdkafka message): they must
// live as long as the job, which the pool holds until a worker is done.
struct PoolJob {
  uint64_t seq = 0;
  int64_t timestamp_ms = 0;
  std::string_view payload;
  std::string_view key;
};

class WorkerPool {
 public:
  // `processor` and `metrics` outlive the pool; records over
  // `max_record_bytes` become input problems.
  WorkerPool(int threads, size_t max_record_bytes,
             const ArticleProcessor* processor, DaemonMetrics* metrics);
  // Stops the workers; jobs not taken yet are dropped.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // The learned boilerplate that jobs taken from now on strip.
  void SetLearned(std::shared_ptr<const LearnedBoilerplate> learned);

  // Queues `jobs` (and empties it) with one wake-up: a batch that came
  // with one fetch is worked off without a sleep and a wake per record.
  void SubmitAll(std::vector<std::shared_ptr<const PoolJob>>* jobs);

  // The main thread sleeps in the consumer's poll while a worker finishes
  // the result it needs next: `wake` (which cuts that poll short) is called
  // when the result for the seq last passed to Needing is done.
  void SetWaker(std::function<void()> wake);

  // Tells the workers which result the main thread waits for (kNone: none)
  // and whether it is done already. Either this sees the result, or the
  // worker that leaves it sees `seq` and wakes the main thread (both sides
  // go through the mutex).
  static constexpr uint64_t kNone = ~uint64_t{0};
  bool Needing(uint64_t seq);

  // The result for `seq` if it is done; waits up to `wait` for it.
  std::unique_ptr<ProcessedArticle> Take(uint64_t seq,
                                         std::chrono::milliseconds wait);

 private:
  void Work(size_t max_record_bytes);

  const ArticleProcessor* processor_;
  DaemonMetrics* metrics_;
  std::mutex mutex_;
  std::condition_variable work_ready_, done_ready_;
  std::deque<std::shared_ptr<const PoolJob>> queue_;
  std::shared_ptr<const LearnedBoilerplate> learned_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<ProcessedArticle>> done_;
  std::atomic<uint64_t> needed_{kNone};
  std::function<void()> wake_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace storyd

#endif  // STORYD_DAEMON_WORKER_POOL_H_
