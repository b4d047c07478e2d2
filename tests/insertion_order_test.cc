// Copyright 2024 The storyd Authors.

#include "core/insertion_order.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <thread>
#include <vector>

namespace storyd {
namespace {

// Workers take a batch's articles in seq order, as RunDedup's do, "index"
// each (a flag), mark it and wait: once the wait returns, every earlier
// article of the batch is indexed and its flag visible. Some articles are
// rejected before indexing and only marked. Runs under ThreadSanitizer in
// CI.
TEST(InsertionOrderConcurrencyTest, AWaitSeesEveryEarlierArticleIndexed) {
  constexpr int kThreads = 8;
  constexpr size_t kBatch = 200;
  InsertionOrder order(kBatch);
  uint64_t first_seq = 1000;
  for (int round = 0; round < 20; ++round) {
    const size_t count = round % 3 == 0 ? kBatch : kBatch / 2 + round;
    auto indexed = std::make_unique<std::atomic<bool>[]>(count);
    std::atomic<size_t> next{0}, violations{0};
    order.StartBatch(first_seq, count);
    auto work = [&](int worker) {
      std::mt19937 rng(static_cast<unsigned>(worker * 7919 + round));
      for (size_t i = next.fetch_add(1); i < count; i = next.fetch_add(1)) {
        const uint64_t seq = first_seq + i;
        if (rng() % 4 == 0)
          std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
        if (i % 17 != 5) indexed[i].store(true, std::memory_order_relaxed);
        order.MarkIndexed(seq);
        order.WaitForEarlier(seq);
        for (size_t j = 0; j < i; ++j) {
          if (j % 17 != 5 && !indexed[j].load(std::memory_order_relaxed)) {
            violations.fetch_add(1);
          }
        }
      }
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < kThreads; ++t) pool.emplace_back(work, t);
    for (std::thread& thread : pool) thread.join();
    EXPECT_EQ(violations.load(), 0u) << "round " << round;
    first_seq += count;
  }
}

TEST(InsertionOrderTest, SeqsOutsideTheBatchNeitherWaitNorCount) {
  InsertionOrder order(4);
  EXPECT_EQ(order.order_slack(), 4u);
  order.StartBatch(10, 3);
  order.WaitForEarlier(10);  // the batch's first: nothing earlier in it
  order.WaitForEarlier(5);   // an earlier batch's: indexed already
  order.MarkIndexed(9);      // ignored
  order.MarkIndexed(13);     // ignored
  order.MarkIndexed(10);
  order.MarkIndexed(11);
  order.WaitForEarlier(12);
  order.MarkIndexed(12);
  order.WaitForEarlier(50);  // past the batch: all of it
}

}  // namespace
}  // namespace storyd
