// Copyright 2024 The storyd Authors.

#include "core/fingerprint_index.h"

#include <algorithm>
#include <bit>
#include <cassert>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/bits.h"
#include "core/ring_stamp.h"

namespace storyd {

namespace {

using ring::Mix64;

// Slot words: the stamp, the fingerprint and the seq (two words each, low
// first), then the packed links. Every word is a std::atomic<uint32_t>; a
// 64-bit field read as two halves is still consistent because the stamp
// re-check discards any slot a later writer touched.
constexpr size_t kStampWord = 0;
constexpr size_t kFingerprintWord = 1;
constexpr size_t kSeqWord = 3;
constexpr size_t kLinkWord = 5;

// The 32-bit stamp: the low kStampNumberBits bits of the slot number, then
// two state bits (the states of core/ring_stamp.h). Numbers are compared
// modulo 2^kStampNumberBits, which is sound while no thread stalls for more
// than 2^(kStampNumberBits - 1) inserts between two steps (see the header).
constexpr int kStampNumberBits = 30;
constexpr uint32_t kStampNumberMask = (uint32_t{1} << kStampNumberBits) - 1;
constexpr uint32_t kDone = ring::kDone;
constexpr uint32_t kLinking = ring::kLinking;
constexpr uint32_t kWriting = ring::kWriting;

uint32_t MakeStamp(uint64_t number, uint32_t state) {
  return ((static_cast<uint32_t>(number) & kStampNumberMask) << 2) | state;
}

bool SameNumber(uint32_t stamp, uint64_t number) {
  return (stamp >> 2) == (static_cast<uint32_t>(number) & kStampNumberMask);
}

// The fields of slot `number` are published (linking or done).
bool Readable(uint32_t stamp, uint64_t number) {
  return SameNumber(stamp, number) && (stamp & 3) != kWriting;
}

// A writer with `number` may take the slot: its owner finished and holds an
// older number (modular: up to 2^29 older counts as older).
bool Takeable(uint32_t stamp, uint64_t number) {
  const uint32_t older_by =
      (static_cast<uint32_t>(number) - (stamp >> 2)) & kStampNumberMask;
  return (stamp & 3) == kDone && older_by != 0 &&
         older_by < (uint32_t{1} << (kStampNumberBits - 1));
}

uint64_t Join(uint32_t low, uint32_t high) {
  return (static_cast<uint64_t>(high) << 32) | low;
}

// The slot number whose low 32 bits are `low`, among the 2^32 numbers below
// `end`; 0 for an empty head.
uint64_t NumberBelow(uint32_t low, uint64_t end) {
  if (low == 0) return 0;
  return end - static_cast<uint32_t>(static_cast<uint32_t>(end) - low);
}

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
      // A link is a signed difference in (-capacity, capacity).
      link_bits_(std::bit_width(capacity_)),
      slot_words_(kLinkWord + (num_tables_ * link_bits_ + 31) / 32),
      buckets_per_table_(capacity_ / 4) {
  static_assert(sizeof(std::atomic<uint32_t>) == 4);
  static_assert(kMaxCapacity <= (size_t{1} << (kStampNumberBits - 3)));
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
  // link and bucket head.
  slots_ = ZeroedArray<std::atomic<uint32_t>>(capacity_ * slot_words_);
  heads_ = ZeroedArray<std::atomic<uint32_t>>(num_tables_ * buckets_per_table_);
}

FingerprintIndex::~FingerprintIndex() = default;

std::atomic<uint32_t>* FingerprintIndex::SlotFor(uint64_t number) const {
  return slots_.data() + (number & mask_) * slot_words_;
}

void FingerprintIndex::PrefetchSlot(uint64_t number, int table) const {
  // A reader needs the stamp, the fingerprint and this table's link: the
  // slot's first cache line, and the one holding the link if that differs.
  const std::atomic<uint32_t>* slot = SlotFor(number);
  __builtin_prefetch(slot);
  __builtin_prefetch(slot + kLinkWord +
                     static_cast<size_t>(table) * link_bits_ / 32);
}

uint32_t FingerprintIndex::LoadLink(const std::atomic<uint32_t>* slot,
                                    int table) const {
  const size_t bit = static_cast<size_t>(table) * link_bits_;
  const std::atomic<uint32_t>* words = slot + kLinkWord + bit / 32;
  const int shift = static_cast<int>(bit % 32);
  // acquire (plain loads on x86): pair with the owner's release stores, as
  // for the other fields (seqlock read side).
  uint64_t bits = words[0].load(std::memory_order_acquire) >> shift;
  if (shift + link_bits_ > 32) {
    bits |= static_cast<uint64_t>(words[1].load(std::memory_order_acquire))
            << (32 - shift);
  }
  return static_cast<uint32_t>(bits) & ((uint32_t{1} << link_bits_) - 1);
}

void FingerprintIndex::StoreLink(std::atomic<uint32_t>* slot, int table,
                                 uint32_t link) const {
  const size_t bit = static_cast<size_t>(table) * link_bits_;
  std::atomic<uint32_t>* words = slot + kLinkWord + bit / 32;
  const int shift = static_cast<int>(bit % 32);
  const uint64_t field_mask = ((uint64_t{1} << link_bits_) - 1) << shift;
  const uint64_t field = static_cast<uint64_t>(link) << shift;
  // Only the owner writes a slot's words, so a read-modify-write of the
  // word(s) shared with the other tables' links loses nothing. relaxed
  // loads: our own (or, through the acquire CAS, the previous owner's)
  // stores. release stores: as for the fields.
  for (int w = 0; w < (shift + link_bits_ > 32 ? 2 : 1); ++w) {
    const uint32_t keep = ~static_cast<uint32_t>(field_mask >> (32 * w));
    const uint32_t value = static_cast<uint32_t>(field >> (32 * w));
    words[w].store((words[w].load(std::memory_order_relaxed) & keep) | value,
                   std::memory_order_release);
  }
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
  // Every stored delta fits in link_bits_ as two's complement and is
  // non-zero.
  if (delta <= -static_cast<int64_t>(capacity_) ||
      delta >= static_cast<int64_t>(capacity_) || delta == 0) {
    return 0;
  }
  return static_cast<uint32_t>(delta) & ((uint32_t{1} << link_bits_) - 1);
}

uint64_t FingerprintIndex::DecodeLink(uint64_t from, uint32_t link) const {
  // Sign-extend the link_bits_-bit difference.
  const int unused = 32 - link_bits_;
  const int32_t delta = static_cast<int32_t>(link << unused) >> unused;
  return from + static_cast<uint64_t>(static_cast<int64_t>(delta));
}

void FingerprintIndex::PrefetchHeads(uint64_t fingerprint,
                                     size_t* head_index) const {
  for (int t = 0; t < num_tables_; ++t) {
    head_index[t] = t * buckets_per_table_ + BucketOf(t, fingerprint);
    __builtin_prefetch(&heads_[head_index[t]]);
  }
}

void FingerprintIndex::Insert(uint64_t fingerprint, uint64_t seq) {
  // Loaded now, the heads' misses overlap with the slot's claim.
  size_t head_index[kMaxTables];
  PrefetchHeads(fingerprint, head_index);
  uint64_t number;
  std::atomic<uint32_t>* slot;
  for (;;) {
    // relaxed: the claim only needs atomicity (each number handed out once);
    // the entry's data is ordered by the stamp protocol below.
    number = cursor_.fetch_add(1, std::memory_order_relaxed);
    // A head stores the low 32 bits of a number and 0 means empty: a number
    // with zero low bits is given up (one in 2^32).
    if (static_cast<uint32_t>(number) == 0) continue;
    slot = SlotFor(number);
    // relaxed: only the expected value for the ownership CAS below.
    uint32_t stamp = slot[kStampWord].load(std::memory_order_relaxed);
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
      if (slot[kStampWord].compare_exchange_weak(
              stamp, MakeStamp(number, kWriting), std::memory_order_acquire,
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
  slot[kFingerprintWord].store(static_cast<uint32_t>(fingerprint),
                               std::memory_order_release);
  slot[kFingerprintWord + 1].store(static_cast<uint32_t>(fingerprint >> 32),
                                   std::memory_order_release);
  slot[kSeqWord].store(static_cast<uint32_t>(seq), std::memory_order_release);
  slot[kSeqWord + 1].store(static_cast<uint32_t>(seq >> 32),
                           std::memory_order_release);
  // release: a reader that acquires a readable stamp of n sees the fields.
  slot[kStampWord].store(MakeStamp(number, kLinking),
                         std::memory_order_release);

  // relaxed: a heuristic; if we were preempted so long that our entry already
  // expired, pushing it would only cut chains short for readers.
  if (cursor_.load(std::memory_order_relaxed) - number > capacity_) {
    // release: ends our ownership; pairs with the next owner's acquire CAS.
    slot[kStampWord].store(MakeStamp(number, kDone), std::memory_order_release);
    return;
  }

  for (int t = 0; t < num_tables_; ++t) {
    std::atomic<uint32_t>& head = heads_[head_index[t]];
    // acquire: pairs with the release of the push that stored `h`, so the
    // chain behind `h` is visible to us and, transitively, to readers that
    // acquire our push.
    uint32_t h = head.load(std::memory_order_acquire);
    for (;;) {
      // The head's full number is the one nearest to ours with those low
      // bits: live heads are within `capacity` of it either way.
      const uint64_t h_number =
          h == 0 ? 0
                 : number + static_cast<uint64_t>(
                                static_cast<int64_t>(static_cast<int32_t>(
                                    h - static_cast<uint32_t>(number))));
      // release: as for the fields, a reader of a *previous* number of this
      // slot that loads this link must then see a newer stamp. Rewritten
      // only while the CAS fails, i.e. before this node is reachable.
      StoreLink(slot, t, EncodeLink(number, h_number));
      // acq_rel on success: release publishes the link and the stamp store
      // above to readers acquiring the head; acquire keeps the release
      // sequence of earlier pushes visible. acquire on failure: as the load.
      if (head.compare_exchange_weak(h, static_cast<uint32_t>(number),
                                     std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
        break;
      }
    }
  }
  // release: ends our ownership; pairs with the next owner's acquire CAS, so
  // our link stores happen-before (and cannot land after) its stores.
  slot[kStampWord].store(MakeStamp(number, kDone), std::memory_order_release);
}

void FingerprintIndex::Lookup(uint64_t fingerprint,
                              std::vector<FingerprintMatch>* out) const {
  // The chains of all tables are walked round-robin, one node per table per
  // pass, prefetching each next node, so that the cache misses of the
  // different tables overlap instead of being paid one after the other.
  uint32_t head_low[kMaxTables];
  uint64_t current[kMaxTables];
  size_t head_index[kMaxTables];
  PrefetchHeads(fingerprint, head_index);
  for (int t = 0; t < num_tables_; ++t) {
    // acquire: pairs with the release CAS of the push that stored it, making
    // that node's stamp, fields and link (and, transitively, the whole chain
    // behind it) visible.
    head_low[t] = heads_[head_index[t]].load(std::memory_order_acquire);
  }
  // relaxed: the claim of every node in these chains happens-before the head
  // loads above, so end > number for all of them; a stale value only makes us
  // treat a few more entries as live, which the stamps then check.
  const uint64_t end = cursor_.load(std::memory_order_relaxed);
  int active = 0;
  int8_t tables[kMaxTables];
  for (int t = 0; t < num_tables_; ++t) {
    current[t] = NumberBelow(head_low[t], end);
    if (current[t] != 0) {
      PrefetchSlot(current[t], t);
      tables[active++] = static_cast<int8_t>(t);
    }
  }
  // Each chain is bounded by `capacity` steps (belt and braces).
  for (size_t steps = 0; active > 0 && steps < capacity_; ++steps) {
    int still_active = 0;
    for (int a = 0; a < active; ++a) {
      const int t = tables[a];
      const uint64_t number = current[t];
      if (end - number > capacity_) continue;  // Expired (or bogus): stop.
      const std::atomic<uint32_t>* slot = SlotFor(number);
      // acquire: pairs with the publishing release store of the stamp.
      const uint32_t stamp = slot[kStampWord].load(std::memory_order_acquire);
      if (!Readable(stamp, number)) continue;  // Overwritten or being written.
      // acquire (plain loads on x86): pair with the writer's release field
      // stores; if any load sees a later writer's value, the stamp re-load
      // below (which cannot move above them) sees that writer's "writing"
      // stamp.
      const uint64_t fp =
          Join(slot[kFingerprintWord].load(std::memory_order_acquire),
               slot[kFingerprintWord + 1].load(std::memory_order_acquire));
      const uint64_t seq =
          Join(slot[kSeqWord].load(std::memory_order_acquire),
               slot[kSeqWord + 1].load(std::memory_order_acquire));
      const uint32_t link = LoadLink(slot, t);
      // relaxed: ordered after the acquire loads above. Within one number the
      // state only moves writing -> linking -> done, so comparing numbers
      // suffices.
      if (!SameNumber(slot[kStampWord].load(std::memory_order_relaxed),
                      number)) {
        continue;
      }
      const uint64_t diff = fingerprint ^ fp;
      const int distance = PopCount64(diff);
      if (distance <= max_distance_ && FirstMatchingTable(diff) == t) {
        out->push_back(FingerprintMatch{seq, fp, distance});
      }
      if (link == 0) continue;
      current[t] = DecodeLink(number, link);
      PrefetchSlot(current[t], t);
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
  return sizeof(*this) +
         capacity_ * slot_words_ * sizeof(std::atomic<uint32_t>) +
         num_tables_ * buckets_per_table_ * sizeof(std::atomic<uint32_t>);
}

double FingerprintIndex::BytesPerEntry() const {
  return static_cast<double>(MemoryBytes()) / static_cast<double>(capacity_);
}

}  // namespace storyd
