// Copyright 2024 The storyd Authors.
//
// FingerprintIndex: a bounded, lock-free index of the most recent 64-bit
// SimHash fingerprints that answers "which entries are within k bits of this
// fingerprint" (Hamming distance).
//
// Design (Manku, Jain, Das Sarma, "Detecting near-duplicates for web
// crawling", WWW 2007; block permutation + pigeonhole).  The 64 bits are split
// into B = k + 2 blocks of near-equal width.  Two fingerprints within k bits
// differ in at most k blocks, so they agree exactly on at least two.  There is
// one hash table per pair of blocks (C(B, 2) tables; 10 for k = 3) keyed by
// the bits of the two blocks.  A lookup probes one bucket per table, walks its
// chain and checks popcount(a ^ b) <= k.  An entry is reported only from the
// table of the *first* pair (i, j) of blocks that match exactly, so results
// carry no duplicates without needing a set.
//
// Storage and expiry.  Entries live in a ring of `capacity` slots (a power of
// two).  A writer claims a global slot number with fetch_add on a 64-bit
// cursor; the array index is `number & (capacity - 1)`.  Slot numbers start at
// 1 and 0 means "none".  A slot is an array of 32-bit words: a 32-bit stamp,
// the fingerprint and the caller's seq (two words each), then one "next" link
// per table, packed at L = bit_width(capacity) bits each.  A link is the
// signed difference (next slot number - this slot number) in L-bit two's
// complement; 0 ends the chain.  Each table has capacity / 4 bucket heads of
// 32 bits: the low 32 bits of a slot number (0 = empty; a writer gives up
// the one number in 2^32 whose low bits are 0).  A reader takes the head's
// number as the one below the cursor with those low bits; a writer as the
// one nearest to its own number.  Both are exact for every live entry,
// which is within `capacity` (<= 2^27) of either.  An entry with slot number
// n is live while cursor - n <= capacity, i.e. the index keeps the
// `capacity` most recently claimed slots (FIFO by claim order) and expiry is
// just overwriting.
//
// Memory: per entry, 4 * (5 + ceil(tables * L / 32)) bytes of slot plus
// 4 * tables / 4 bytes of bucket heads.  For k = 3 (10 tables): 62 bytes at
// 2^22 and 2^24 slots, 58 at 2^20; see MemoryBytes() and BytesPerEntry().
// (Slots are not cache-line aligned, so a node may cost two cache lines
// instead of one: the price of the 64 -> 52 bytes. The arrays sit on
// transparent huge pages where the kernel allows (core/zeroed_array.h), so
// the random node loads of a lookup rarely miss the TLB as well.)
//
// Stamp protocol (a seqlock per slot).  stamp = (n mod 2^30) << 2 | state,
// with state
// 3 = "writing": slot number n's fields are being stored (not readable);
// 1 = "linking": fields published, the owner is pushing n into the tables;
// 0 = "done": the owner has finished (stamp 0 is "slot number 0, done").
// A writer takes a slot by CAS (acquire) from a "done" stamp with an older
// number; if the slot is still writing or linking (a stalled writer still
// owns it) or already holds a newer number, the writer gives its number up and
// claims a fresh one, so no writer ever waits for another and no stalled
// writer's late stores can land in a newer entry.  After the CAS the writer
// stores the fields with release ordering, release-stores "linking", then
// CAS-prepends the slot number to one bucket per table (storing the link
// first, also with release; CAS acq_rel), and release-stores "done".
//
// A reader loads a bucket head (acquire), then for each node: loads the stamp
// (acquire) and requires it to hold the expected slot number in a readable
// (linking or done) state, loads the fields and the link (acquire) and re-loads
// the stamp. If any of those loads returned a value stored by a later writer of
// the slot, it synchronized with that release store, so that writer's earlier
// "writing" CAS happens-before the re-load, which therefore differs, and the
// node is discarded: no torn entry is ever reported.  This is the fence-free
// form of the seqlock (release stores / acquire loads of the data), chosen
// because ThreadSanitizer does not model std::atomic_thread_fence (and GCC
// rejects it under -fsanitize=thread -Werror).  On x86-64 release stores and
// acquire loads are plain MOVs, so it costs nothing there.
//
// Chains.  A chain lists the entries of one bucket in the order their pushes
// succeeded (a Treiber-style prepend, never a removal), newest first.  Because
// a slot number is claimed before the push, a node claimed earlier may be
// linked after a node claimed later, so a link may point to a *larger* slot
// number; it never points to the node itself and every push happens once, so
// a chain seen through validated nodes never repeats a node.  Links are
// written only before the push that publishes them and are never rewritten
// while the slot keeps its number.  A link to a node more than `capacity`
// numbers away is stored as 0 (that node is already expired).  Readers stop a
// chain at the first node that is expired (cursor - n > capacity), whose stamp
// does not match, or after `capacity` steps (a belt-and-braces bound).
//
// Thread safety
//   Insert, Lookup, size and MemoryBytes may be called concurrently from any
//   number of threads without external synchronization.  Insert is lock-free
//   (a writer only retries a CAS, or re-claims a slot number when the slot it
//   got is owned by a stalled writer); Lookup never blocks, never retries and
//   allocates only by growing *out.
//   What a reader may assume:
//   * Every reported match is an (fingerprint, seq) pair exactly as passed to
//     one Insert call, with distance == popcount(query ^ fingerprint) <= k.
//   * Each entry is reported at most once per Lookup.
//   * An Insert that completed before Lookup started (happens-before) and whose
//     slot number is among the last `capacity` claimed is found.
//   * At the expiry boundary an entry may be missed: the one being
//     overwritten by a concurrent writer, or one whose slot number fell out of
//     the window while the reader walked.  An Insert that is concurrent with
//     the Lookup may or may not be seen.
//   * Stamps and heads hold slot numbers modulo 2^30 and 2^32.  Readers and
//     writers compare them correctly unless a thread stalls for more than
//     2^29 inserts (hours at full speed) in the middle of one step, and
//     unless a bucket that received no push for 2^31 inserts is pushed to
//     (impossible to arrange without choosing billions of fingerprints to
//     miss it); then a reader may follow a chain of another bucket (it can
//     only report true matches, possibly twice) or a writer may cut a chain
//     short.
//   * Corner case: a writer preempted for more than `capacity` inserts while
//     pushing its entry into the tables (it re-checks expiry once before)
//     may push an already expired node; readers then stop that bucket's chain
//     early and can miss older live entries of that one bucket until they
//     expire.  Such a writer also keeps its slot, so other writers skip it.
//
// Invariants
//   * capacity_ is a power of two in [16, 2^27]; stamps of a slot only grow
//     (modulo 2^30).
//   * A slot's fields change only while its stamp is "writing", its links
//     only while it is "linking", and only by its owner (the writer whose CAS
//     set "writing"); ownership passes on only from "done", by an acquire CAS.
//   * links[t] of slot n is written only before n is pushed into table t, so
//     it is final once n is reachable in table t.
//   * Every non-zero bucket head and link decodes to a slot number that was
//     claimed and published before the push that stored it.
//   * Slot numbers are never 0; cursor_ - 1 numbers have been claimed.

#ifndef STORYD_CORE_FINGERPRINT_INDEX_H_
#define STORYD_CORE_FINGERPRINT_INDEX_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "core/zeroed_array.h"

namespace storyd {

// One result of FingerprintIndex::Lookup.
struct FingerprintMatch {
  uint64_t seq;          // The seq passed to Insert.
  uint64_t fingerprint;  // The fingerprint passed to Insert.
  int distance;          // popcount(query ^ fingerprint).
};

class FingerprintIndex {
 public:
  static constexpr int kMaxDistance = 7;
  static constexpr size_t kMinCapacity = 16;
  static constexpr size_t kMaxCapacity = size_t{1} << 27;

  // Validating factory: InvalidArgument if capacity is 0 or above
  // kMaxCapacity, or max_distance is outside [0, kMaxDistance].
  static absl::StatusOr<std::unique_ptr<FingerprintIndex>> Create(
      size_t capacity, int max_distance);

  // Keeps the `capacity` most recent entries (rounded up to a power of two,
  // at least kMinCapacity). REQUIRES: 0 < capacity <= kMaxCapacity,
  // 0 <= max_distance <= kMaxDistance (out-of-range values are clamped).
  FingerprintIndex(size_t capacity, int max_distance);
  ~FingerprintIndex();

  FingerprintIndex(const FingerprintIndex&) = delete;
  FingerprintIndex& operator=(const FingerprintIndex&) = delete;

  // Adds (fingerprint, seq), expiring the oldest entry if full. Lock-free.
  void Insert(uint64_t fingerprint, uint64_t seq);

  // Appends every live entry within max_distance() bits of `fingerprint`, each
  // once, in no particular order. Never blocks. REQUIRES: out != nullptr.
  void Lookup(uint64_t fingerprint, std::vector<FingerprintMatch>* out) const;

  // Live entries: min(slot numbers claimed, capacity). Approximate while
  // inserts are in flight.
  size_t size() const;

  // Bytes allocated by the index (slots, bucket heads and the object).
  size_t MemoryBytes() const;

  // Backs the bucket heads with memory now (ZeroedArray::Prefault): hashing
  // spreads the first inserts over all of them. The slots fill in order and
  // are left to their first writes. Call before the index is shared.
  void PrefaultBuckets() { heads_.Prefault(); }

  // MemoryBytes() / capacity().
  double BytesPerEntry() const;

  size_t capacity() const { return capacity_; }
  int max_distance() const { return max_distance_; }
  int num_tables() const { return num_tables_; }

 private:
  static constexpr int kMaxBlocks = kMaxDistance + 2;
  static constexpr int kMaxTables = kMaxBlocks * (kMaxBlocks - 1) / 2;

  // The slot_words_ words of slot `number` (see the .cc for the layout).
  std::atomic<uint32_t>* SlotFor(uint64_t number) const;
  void PrefetchSlot(uint64_t number, int table) const;
  // Sets head_index[t] to the bucket head of `fingerprint` in each table and
  // starts loading them: random cache lines of tens of MB, whose misses
  // then overlap instead of coming one per table.
  void PrefetchHeads(uint64_t fingerprint, size_t* head_index) const;
  // The packed link of `table` in a slot (0: none).
  uint32_t LoadLink(const std::atomic<uint32_t>* slot, int table) const;
  // Owner only: stores the packed link of `table`.
  void StoreLink(std::atomic<uint32_t>* slot, int table, uint32_t link) const;
  size_t BucketOf(int table, uint64_t fingerprint) const;
  // Index of the table of the first pair of blocks on which two fingerprints
  // whose XOR is `diff` agree, or -1 if fewer than two blocks agree.
  int FirstMatchingTable(uint64_t diff) const;
  // Link value stored in slot `from` that points to slot `to` (0: none).
  uint32_t EncodeLink(uint64_t from, uint64_t to) const;
  // The slot number a non-zero link stored in slot `from` points to.
  uint64_t DecodeLink(uint64_t from, uint32_t link) const;

  const size_t capacity_;
  const uint64_t mask_;
  const int max_distance_;
  const int num_blocks_;
  const int num_tables_;
  const int link_bits_;
  const size_t slot_words_;
  const size_t buckets_per_table_;
  uint64_t block_mask_[kMaxBlocks];
  uint64_t table_mask_[kMaxTables];
  int8_t pair_table_[kMaxBlocks][kMaxBlocks];

  // Next slot number to claim; starts at 1.
  alignas(64) std::atomic<uint64_t> cursor_{1};

  // capacity_ slots of slot_words_ words each.
  ZeroedArray<std::atomic<uint32_t>> slots_;
  // num_tables_ * buckets_per_table_ heads, each the low 32 bits of a slot
  // number; 0 = empty bucket.
  ZeroedArray<std::atomic<uint32_t>> heads_;
};

}  // namespace storyd

#endif  // STORYD_CORE_FINGERPRINT_INDEX_H_
