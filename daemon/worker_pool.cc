#include "daemon/worker_pool.h"

#include <utility>

#include "core/article.h"

namespace storyd {

using Clock = std::chrono::steady_clock;

WorkerPool::WorkerPool(int threads, size_t max_record_bytes,
                       const ArticleProcessor* processor,
                       DaemonMetrics* metrics)
    : processor_(processor), metrics_(metrics) {
  for (int t = 0; t < threads; ++t) {
    threads_.emplace_back([this, max_record_bytes] { Work(max_record_bytes); });
  }
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

void WorkerPool::SetLearned(std::shared_ptr<const LearnedBoilerplate> learned) {
  std::lock_guard<std::mutex> lock(mutex_);
  learned_ = std::move(learned);
}

void WorkerPool::SubmitAll(std::vector<std::shared_ptr<const PoolJob>>* jobs) {
  if (jobs->empty()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (std::shared_ptr<const PoolJob>& job : *jobs) {
      queue_.push_back(std::move(job));
    }
  }
  if (jobs->size() == 1) {
    work_ready_.notify_one();
  } else {
    work_ready_.notify_all();
  }
  jobs->clear();
}

void WorkerPool::SetWaker(std::function<void()> wake) {
  std::lock_guard<std::mutex> lock(mutex_);
  wake_ = std::move(wake);
}

bool WorkerPool::Needing(uint64_t seq) {
  needed_.store(seq);
  if (seq == kNone) return false;
  std::lock_guard<std::mutex> lock(mutex_);
  return done_.contains(seq);
}

std::unique_ptr<ProcessedArticle> WorkerPool::Take(
    uint64_t seq, std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mutex_);
  done_ready_.wait_for(lock, wait, [&] { return done_.contains(seq); });
  auto it = done_.find(seq);
  if (it == done_.end()) return nullptr;
  std::unique_ptr<ProcessedArticle> result = std::move(it->second);
  done_.erase(it);
  return result;
}

void WorkerPool::Work(size_t max_record_bytes) {
  ArticleParser parser(max_record_bytes);
  ProcessScratch scratch;
  while (true) {
    std::shared_ptr<const PoolJob> job;
    std::shared_ptr<const LearnedBoilerplate> learned;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      learned = learned_;
    }
    auto start = Clock::now();
    auto result = std::make_unique<ProcessedArticle>();
    processor_->Process(&parser, job->seq, job->payload, job->key,
                        learned.get(), result.get(), &scratch);
    result->timestamp_ms = job->timestamp_ms;
    metrics_->process_seconds.Observe(
        std::chrono::duration<double>(Clock::now() - start).count());
    std::function<void()> wake;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_[job->seq] = std::move(result);
      if (needed_.load() == job->seq) wake = wake_;
    }
    done_ready_.notify_all();
    if (wake) wake();
  }
}

}  // namespace storyd
