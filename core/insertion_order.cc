// Copyright 2024 The storyd Authors.

#include "core/insertion_order.h"

#include <algorithm>
#include <thread>

namespace storyd {

InsertionOrder::InsertionOrder(size_t max_batch)
    : max_batch_(std::max<size_t>(max_batch, 1)),
      indexed_(std::make_unique<std::atomic<bool>[]>(max_batch_)) {}

void InsertionOrder::StartBatch(uint64_t first_seq, size_t count) {
  count = std::min(count, max_batch_);
  for (size_t i = 0; i < count; ++i) {
    indexed_[i].store(false, std::memory_order_relaxed);
  }
  first_seq_ = first_seq;
  count_ = count;
  marked_prefix_.store(0, std::memory_order_relaxed);
}

void InsertionOrder::MarkIndexed(uint64_t seq) {
  if (seq < first_seq_ || seq - first_seq_ >= count_) return;
  // release: the article's index inserts happen-before a waiter's reads.
  indexed_[seq - first_seq_].store(true, std::memory_order_release);
}

void InsertionOrder::WaitForEarlier(uint64_t seq) {
  if (seq <= first_seq_) return;
  const size_t needed =
      static_cast<size_t>(std::min<uint64_t>(seq - first_seq_, count_));
  size_t prefix = marked_prefix_.load(std::memory_order_acquire);
  while (prefix < needed) {
    // acquire: pairs with MarkIndexed's release.
    if (indexed_[prefix].load(std::memory_order_acquire)) {
      ++prefix;
      continue;
    }
    std::this_thread::yield();  // an earlier article is being indexed
  }
  // Share what was learned; the prefix only grows.
  size_t known = marked_prefix_.load(std::memory_order_relaxed);
  while (known < prefix && !marked_prefix_.compare_exchange_weak(
                               known, prefix, std::memory_order_release,
                               std::memory_order_relaxed)) {
  }
}

}  // namespace storyd
