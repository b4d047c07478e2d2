#include "daemon/worker_pool.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/article.h"
#include "core/boilerplate.h"
#include "core/copy_detector.h"
#include "core/term_prior.h"
#include "daemon/metrics.h"

namespace storyd {
namespace {

// Input records as the daemon hands them to the pool: the pool only views
// their bytes, so the test keeps them.
struct Records {
  explicit Records(size_t count) {
    std::ifstream in(std::string(STORYD_TEST_DATA) + "/neardup.jsonl");
    std::string line;
    while (lines.size() < count && std::getline(in, line)) {
      lines.push_back(line);
    }
    // A malformed record among them: it must come back as a problem, in
    // its place.
    lines[lines.size() / 2] = "{\"id\": \"broken\", \"body\": ";
  }
  std::shared_ptr<const PoolJob> Job(uint64_t seq) const {
    auto job = std::make_shared<PoolJob>();
    job->seq = seq;
    job->timestamp_ms = static_cast<int64_t>(1000 + seq);
    job->payload = lines[seq];
    return job;
  }
  std::vector<std::string> lines;
};

struct Pipeline {
  BoilerplateStripper stripper = *BoilerplateStripper::Load("");
  CopyDetector detector{CopyConfig{}};
  ArticleProcessor processor{&stripper, &detector, &TermPrior::Embedded(),
                             StoryConfig{}.terms};
  DaemonMetrics metrics;
};

// Every result comes back under its own seq, whichever worker made it and
// however the jobs were batched: the same article, fingerprint and
// timestamp as one processor working alone gives.
TEST(WorkerPoolTest, ResultsComeBackBySeq) {
  const Records records(400);
  Pipeline alone;
  ArticleParser parser(1 << 20);
  std::vector<ProcessedArticle> expected(records.lines.size());
  for (uint64_t seq = 0; seq < records.lines.size(); ++seq) {
    alone.processor.Process(&parser, seq, records.lines[seq], "", nullptr,
                            &expected[seq]);
  }

  Pipeline shared;
  WorkerPool pool(3, 1 << 20, &shared.processor, &shared.metrics);
  std::vector<std::shared_ptr<const PoolJob>> batch;
  uint64_t submitted = 0;
  for (size_t size : {1, 7, 64, 128, 200}) {
    for (size_t i = 0; i < size && submitted < records.lines.size(); ++i) {
      batch.push_back(records.Job(submitted++));
    }
    pool.SubmitAll(&batch);
    EXPECT_TRUE(batch.empty());
  }
  ASSERT_EQ(submitted, records.lines.size());
  for (uint64_t seq = 0; seq < submitted; ++seq) {
    std::unique_ptr<ProcessedArticle> result =
        pool.Take(seq, std::chrono::milliseconds(10000));
    ASSERT_NE(result, nullptr) << seq;
    EXPECT_EQ(result->timestamp_ms, static_cast<int64_t>(1000 + seq));
    EXPECT_EQ(result->problem.has_value(), expected[seq].problem.has_value())
        << seq;
    if (expected[seq].problem.has_value()) continue;
    EXPECT_EQ(result->article.id, expected[seq].article.id);
    EXPECT_EQ(result->fingerprint, expected[seq].fingerprint) << seq;
    // Taken once only.
    EXPECT_EQ(pool.Take(seq, std::chrono::milliseconds(0)), nullptr);
  }
  EXPECT_TRUE(expected[records.lines.size() / 2].problem.has_value());
}

// The handshake that lets the main thread sleep in its poll: after
// Needing(seq) says the result is not there yet, the worker that leaves it
// calls the waker. A lost wake-up would hang the daemon's loop for its
// poll timeout; here it fails the wait.
TEST(WorkerPoolTest, WakesTheMainThreadForTheResultItNeeds) {
  const Records records(300);
  Pipeline shared;
  WorkerPool pool(2, 1 << 20, &shared.processor, &shared.metrics);
  std::mutex mutex;
  std::condition_variable woken;
  uint64_t wakes = 0;
  pool.SetWaker([&] {
    std::lock_guard<std::mutex> lock(mutex);
    ++wakes;
    woken.notify_all();
  });
  std::vector<std::shared_ptr<const PoolJob>> batch;
  for (uint64_t seq = 0; seq < records.lines.size(); ++seq) {
    batch.push_back(records.Job(seq));
    if (batch.size() == 16) pool.SubmitAll(&batch);
  }
  pool.SubmitAll(&batch);
  size_t waited = 0;
  for (uint64_t seq = 0; seq < records.lines.size(); ++seq) {
    uint64_t wakes_before;
    {
      std::lock_guard<std::mutex> lock(mutex);
      wakes_before = wakes;
    }
    if (!pool.Needing(seq)) {
      ++waited;
      std::unique_lock<std::mutex> lock(mutex);
      // Some later wake may also have come; the result is what counts.
      ASSERT_TRUE(woken.wait_for(lock, std::chrono::seconds(10),
                                 [&] { return wakes > wakes_before; }))
          << "no wake-up for seq " << seq;
    }
    pool.Needing(WorkerPool::kNone);
    ASSERT_NE(pool.Take(seq, std::chrono::milliseconds(10000)), nullptr) << seq;
  }
  // Two workers on 300 records leave the main thread ahead of them now
  // and then; the test is empty if it never waited.
  EXPECT_GT(waited, 0u);
}

}  // namespace
}  // namespace storyd
