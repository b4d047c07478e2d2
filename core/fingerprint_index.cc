// Copyright 2024 The storyd Authors.

#include "core/fingerprint_index.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <new>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/bits.h"
#include "core/ring_stamp.h"

namespace storyd {

// Slot header; num_tables_ std::atomic<uint32_t> links follow it in memory.
struct FingerprintIndex::Slot {
  std::atomic<uint64_t> stamp{0};
  std::atomic<uint64_t> fingerprint{0};
  std::atomic<uint64_t> seq{0};
};

namespace {

using ring::kDone;
using ring::kLinking;
using ring::kWriting;
using ring::MakeStamp;
using ring::Mix64;
using ring::Readable;
using ring::Takeable;

size_t RoundCapacity(size_t capacity) {
  capacity = std::clamp(capacity, FingerprintIndex::kMinCapacity,
                        FingerprintIndex::kMaxCapacity);
  return std::bit_ceil(capacity);
}

}  // namespace

absl::StatusOr<std::unique_ptr<FingerprintIndex>> FingerprintIndex::Create(
    size_t capacity, int max_distance) {
  if (capacity == 0 || capacity > kMaxCapacity) {
    return absl::InvalidArgumentError(
        absl::StrCat("FingerprintIndex capacity out of range: ", capacity));
  }
  if (max_distance < 0 || max_distance > kMaxDistance) {
    return absl::InvalidArgumentError(absl::StrCat(
        "FingerprintIndex max_distance out of range: ", max_distance));
  }
  return std::make_unique<FingerprintIndex>(capacity, max_distance);
}

FingerprintIndex::FingerprintIndex(size_t capacity, int max_distance)
    : capacity_(RoundCapacity(capacity)),
      mask_(capacity_ - 1),
      max_distance_(std::clamp(max_distance, 0, kMaxDistance)),
      num_blocks_(max_distance_ + 2),
      num_tables_(num_blocks_ * (num_blocks_ - 1) / 2),
      slot_bytes_(
          (sizeof(Slot) + num_tables_ * sizeof(std::atomic<uint32_t>) + 7) &
          ~size_t{7}),
      buckets_per_table_(capacity_ / 4) {
  static_assert(sizeof(std::atomic<uint64_t>) == 8);
  static_assert(sizeof(std::atomic<uint32_t>) == 4);
  // Blocks: the first 64 % B blocks are one bit wider than the rest.
  const int base = 64 / num_blocks_;
  const int extra = 64 % num_blocks_;
  int shift = 0;
  for (int b = 0; b < num_blocks_; ++b) {
    const int width = base + (b < extra ? 1 : 0);
    block_mask_[b] =
        (width == 64 ? ~uint64_t{0} : ((uint64_t{1} << width) - 1) << shift);
    shift += width;
  }
  int t = 0;
  for (int i = 0; i < kMaxBlocks; ++i) {
    for (int j = 0; j < kMaxBlocks; ++j) pair_table_[i][j] = -1;
  }
  for (int i = 0; i < num_blocks_; ++i) {
    for (int j = i + 1; j < num_blocks_; ++j) {
      pair_table_[i][j] = static_cast<int8_t>(t);
      table_mask_[t] = block_mask_[i] | block_mask_[j];
      ++t;
    }
  }
  assert(t == num_tables_);

  // Zero pages (see core/zeroed_array.h) are the empty state of every slot,
  // link and bucket head; slots are page-aligned, so a 64-byte slot is one
  // cache line.
  slots_ = ZeroedArray<std::byte>(capacity_ * slot_bytes_);
  heads_ = ZeroedArray<std::atomic<uint64_t>>(num_tables_ * buckets_per_table_);
}

FingerprintIndex::~FingerprintIndex() = default;

FingerprintIndex::Slot* FingerprintIndex::SlotFor(uint64_t number) const {
  return std::launder(
      reinterpret_cast<Slot*>(slots_.data() + (number & mask_) * slot_bytes_));
}

std::atomic<uint32_t>* FingerprintIndex::LinksOf(Slot* slot) const {
  return std::launder(reinterpret_cast<std::atomic<uint32_t>*>(
      reinterpret_cast<std::byte*>(slot) + sizeof(Slot)));
}

size_t FingerprintIndex::BucketOf(int table, uint64_t fingerprint) const {
  const uint64_t key = fingerprint & table_mask_[table];
  const uint64_t salt =
      (static_cast<uint64_t>(table) + 1) * 0x9e3779b97f4a7c15ULL;
  return static_cast<size_t>(Mix64(key ^ salt)) & (buckets_per_table_ - 1);
}

int FingerprintIndex::FirstMatchingTable(uint64_t diff) const {
  int first = -1;
  for (int b = 0; b < num_blocks_; ++b) {
    if ((diff & block_mask_[b]) != 0) continue;
    if (first < 0) {
      first = b;
    } else {
      return pair_table_[first][b];
    }
  }
  return -1;
}

uint32_t FingerprintIndex::EncodeLink(uint64_t from, uint64_t to) const {
  if (to == 0) return 0;
  const int64_t delta = static_cast<int64_t>(to - from);
  // |delta| >= capacity: one of the two is already expired; end the chain.
  // capacity_ <= 2^30 so every stored delta fits in int32 and is non-zero.
  if (delta <= -static_cast<int64_t>(capacity_) ||
      delta >= static_cast<int64_t>(capacity_) || delta == 0) {
    return 0;
  }
  return static_cast<uint32_t>(static_cast<int32_t>(delta));
}

void FingerprintIndex::Insert(uint64_t fingerprint, uint64_t seq) {
  uint64_t number;
  Slot* slot;
  for (;;) {
    // relaxed: the claim only needs atomicity (each number handed out once);
    // the entry's data is ordered by the stamp protocol below.
    number = cursor_.fetch_add(1, std::memory_order_relaxed);
    slot = SlotFor(number);
    // relaxed: only the expected value for the ownership CAS below.
    uint64_t stamp = slot->stamp.load(std::memory_order_relaxed);
    bool owned = false;
    // Take the slot unless its owner is still writing or linking (a stalled
    // older writer, or a newer one) or it already holds a newer number: then
    // our number is given up and we claim another, never waiting.
    while (Takeable(stamp, number)) {
      // acquire on success: pairs with the previous owner's release store of
      // kDone, so all its stores to this slot happen-before ours (its late
      // link stores cannot overwrite our links). Our release field stores
      // below carry this "writing" stamp to any reader that sees them. relaxed
      // on failure: we only re-examine the value.
      if (slot->stamp.compare_exchange_weak(stamp, MakeStamp(number, kWriting),
                                            std::memory_order_acquire,
                                            std::memory_order_relaxed)) {
        owned = true;
        break;
      }
    }
    if (owned) break;
  }
  // release (a plain store on x86): pairs with the reader's acquire field
  // loads. A reader that loads one of these values synchronizes with the
  // store, so its stamp re-load sees our "writing" stamp (or later) and it
  // discards the node. (Seqlock without fences: ThreadSanitizer does not
  // model std::atomic_thread_fence, and GCC rejects it under -Wtsan.)
  slot->fingerprint.store(fingerprint, std::memory_order_release);
  slot->seq.store(seq, std::memory_order_release);
  // release: a reader that acquires a readable stamp of n sees the fields.
  slot->stamp.store(MakeStamp(number, kLinking), std::memory_order_release);

  // relaxed: a heuristic; if we were preempted so long that our entry already
  // expired, pushing it would only cut chains short for readers.
  if (cursor_.load(std::memory_order_relaxed) - number > capacity_) {
    // release: ends our ownership; pairs with the next owner's acquire CAS.
    slot->stamp.store(MakeStamp(number, kDone), std::memory_order_release);
    return;
  }

  std::atomic<uint32_t>* links = LinksOf(slot);
  for (int t = 0; t < num_tables_; ++t) {
    std::atomic<uint64_t>& head =
        heads_[t * buckets_per_table_ + BucketOf(t, fingerprint)];
    // acquire: pairs with the release of the push that stored `h`, so the
    // chain behind `h` is visible to us and, transitively, to readers that
    // acquire our push.
    uint64_t h = head.load(std::memory_order_acquire);
    for (;;) {
      // release: as for the fields, a reader of a *previous* number of this
      // slot that loads this link must then see a newer stamp. Rewritten
      // only while the CAS fails, i.e. before this node is reachable.
      links[t].store(EncodeLink(number, h), std::memory_order_release);
      // acq_rel on success: release publishes the link and the stamp store
      // above to readers acquiring the head; acquire keeps the release
      // sequence of earlier pushes visible. acquire on failure: as the load.
      if (head.compare_exchange_weak(h, number, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
        break;
      }
    }
  }
  // release: ends our ownership; pairs with the next owner's acquire CAS, so
  // our link stores happen-before (and cannot land after) its stores.
  slot->stamp.store(MakeStamp(number, kDone), std::memory_order_release);
}

void FingerprintIndex::Lookup(uint64_t fingerprint,
                              std::vector<FingerprintMatch>* out) const {
  // The chains of all tables are walked round-robin, one node per table per
  // pass, prefetching each next node, so that the cache misses of the
  // different tables overlap instead of being paid one after the other.
  uint64_t current[kMaxTables];
  size_t head_index[kMaxTables];
  for (int t = 0; t < num_tables_; ++t) {
    head_index[t] = t * buckets_per_table_ + BucketOf(t, fingerprint);
    __builtin_prefetch(&heads_[head_index[t]]);
  }
  int active = 0;
  int8_t tables[kMaxTables];
  for (int t = 0; t < num_tables_; ++t) {
    // acquire: pairs with the release CAS of the push that stored it, making
    // that node's stamp, fields and link (and, transitively, the whole chain
    // behind it) visible.
    current[t] = heads_[head_index[t]].load(std::memory_order_acquire);
    if (current[t] != 0) {
      __builtin_prefetch(SlotFor(current[t]));
      tables[active++] = static_cast<int8_t>(t);
    }
  }
  if (active == 0) return;
  // relaxed: the claim of every node in these chains happens-before the head
  // loads above, so end > number for all of them; a stale value only makes us
  // treat a few more entries as live, which the stamps then check.
  const uint64_t end = cursor_.load(std::memory_order_relaxed);
  // Each chain is bounded by `capacity` steps (belt and braces).
  for (size_t steps = 0; active > 0 && steps < capacity_; ++steps) {
    int still_active = 0;
    for (int a = 0; a < active; ++a) {
      const int t = tables[a];
      const uint64_t number = current[t];
      if (end - number > capacity_) continue;  // Expired (or bogus): stop.
      Slot* slot = SlotFor(number);
      // acquire: pairs with the publishing release store of the stamp.
      const uint64_t stamp = slot->stamp.load(std::memory_order_acquire);
      if (!Readable(stamp, number)) continue;  // Overwritten or being written.
      // acquire (plain loads on x86): pair with the writer's release field
      // stores; if any load sees a later writer's value, the stamp re-load
      // below (which cannot move above them) sees that writer's "writing"
      // stamp.
      const uint64_t fp = slot->fingerprint.load(std::memory_order_acquire);
      const uint64_t seq = slot->seq.load(std::memory_order_acquire);
      const uint32_t link = LinksOf(slot)[t].load(std::memory_order_acquire);
      // relaxed: ordered after the acquire loads above. Within one number the
      // state only moves writing -> linking -> done, so comparing numbers
      // suffices.
      if ((slot->stamp.load(std::memory_order_relaxed) >> 2) != number) {
        continue;
      }
      const uint64_t diff = fingerprint ^ fp;
      const int distance = PopCount64(diff);
      if (distance <= max_distance_ && FirstMatchingTable(diff) == t) {
        out->push_back(FingerprintMatch{seq, fp, distance});
      }
      if (link == 0) continue;
      current[t] = number + static_cast<uint64_t>(static_cast<int64_t>(
                                static_cast<int32_t>(link)));
      __builtin_prefetch(SlotFor(current[t]));
      tables[still_active++] = static_cast<int8_t>(t);
    }
    active = still_active;
  }
}

size_t FingerprintIndex::size() const {
  // relaxed: a statistic; no data is read based on it.
  const uint64_t claimed = cursor_.load(std::memory_order_relaxed) - 1;
  return static_cast<size_t>(std::min<uint64_t>(claimed, capacity_));
}

size_t FingerprintIndex::MemoryBytes() const {
  return sizeof(*this) + capacity_ * slot_bytes_ +
         num_tables_ * buckets_per_table_ * sizeof(std::atomic<uint64_t>);
}

double FingerprintIndex::BytesPerEntry() const {
  return static_cast<double>(MemoryBytes()) / static_cast<double>(capacity_);
}

}  // namespace storyd
