// Copyright 2024 The storyd Authors.
//
// InsertionOrder: lets a worker's copy search wait until every earlier
// article of its batch is in the copy indexes.
//
// Why: a search's candidates are capped (the shingle window reads at most
// copy.max_candidates sets a lookup). When workers search while earlier
// articles are still being indexed, which earlier articles a capped search
// reaches depends on timing, and so can a copy decision (a popular story
// whose copies each carry their own edits: the first article's second copy
// missed it on 4 threads, and 2,000 records named another original). An
// offline run (`storyd dedup`) indexes every article of a batch, waits for
// the earlier ones, and searches for earlier articles only: each search
// then finds what it would find on one thread.
//
// Articles are handed out in seq order (ParallelFor's counter), and an
// article is marked before its own wait, so the earliest unmarked article
// never waits: no deadlock. A worker mostly waits for an article another
// worker took just before its own.
//
// Thread safety: StartBatch while no worker runs; MarkIndexed and
// WaitForEarlier from any number of threads.
#ifndef STORYD_CORE_INSERTION_ORDER_H_
#define STORYD_CORE_INSERTION_ORDER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace storyd {

class InsertionOrder {
 public:
  // Batches of at most `max_batch` articles.
  explicit InsertionOrder(size_t max_batch);

  // A batch of `count` articles, seqs first_seq .. first_seq + count - 1;
  // every earlier article is indexed. REQUIRES: count <= max_batch.
  void StartBatch(uint64_t first_seq, size_t count);
  // Article `seq` is in the indexes, or never will be (a rejected record).
  // Seqs outside the batch are ignored.
  void MarkIndexed(uint64_t seq);
  // Returns once every article of the batch before `seq` is marked.
  void WaitForEarlier(uint64_t seq);

  // How far the order in which a run's articles enter the indexes strays
  // from seq order: the largest batch (ShingleWindow::Lookup's slack).
  uint64_t order_slack() const { return max_batch_; }

 private:
  const size_t max_batch_;
  uint64_t first_seq_ = 0;
  size_t count_ = 0;
  std::unique_ptr<std::atomic<bool>[]> indexed_;
  // Every article of the batch below first_seq_ + marked_prefix_ is marked.
  std::atomic<size_t> marked_prefix_{0};
};

}  // namespace storyd

#endif  // STORYD_CORE_INSERTION_ORDER_H_
