// Copyright 2024 The storyd Authors.
//
// ShingleWindow: the shingle sets of the most recent articles, kept within a
// fixed word budget, with an index on each set's "anchors" so that a query can
// find earlier articles that share anchors and compute the exact containment
// |A n B| / min(|A|, |B|).
//
// A set is a sorted, de-duplicated vector of 32-bit shingle hashes.  Its
// anchors are its first (smallest) min(16, size) values; two sets with large
// containment very likely share some of them (for a subset made of half of a
// set, about half of the subset's anchors are anchors of the full set).
//
// Storage.  Three rings, all of std::atomic so that ThreadSanitizer sees no
// data race, and relaxed loads compile to plain loads on x86:
//  * Records: max_entries records (a power of two), claimed by fetch_add on a
//    64-bit record cursor (record numbers start at 1).  A record holds a
//    64-bit stamp (seqlock: r << 2 | state, state 3 = writing, 1 = linking,
//    0 = done, exactly as in FingerprintIndex), the seq, the set's 64-bit
//    arena offset, length and 64-bit checksum, and 16 anchor nodes (anchor
//    value + 32-bit signed link to the next node of its bucket).  The anchor
//    node i of record r has node number 16 r + i, so nodes expire and are
//    validated together with their record.  Record ownership works as in
//    FingerprintIndex: CAS (acquire) from a "done" stamp with an older
//    number, otherwise give the number up and claim another one.
//  * Arena: arena_words 32-bit words (a power of two).  A writer claims `len`
//    words with fetch_add on a 64-bit word cursor; word p lives at
//    p & (arena_words - 1), so a set may wrap around the end of the array and
//    no space is skipped.
//  * Anchor buckets: a power of two >= 8 * max_entries of 64-bit heads (node
//    numbers, 0 = empty), chains prepended by CAS as in FingerprintIndex.
//  * Seq table: max_entries groups of 8 cells holding record numbers, found by
//    hash(seq); used by Containment(). A writer replaces an empty or expired
//    cell, else the oldest record of the group (which is nearest to expiry).
//
// Arena seqlock argument.  Writer: (1) claim = word_cursor.fetch_add(len)
// (relaxed), (2) release stores of the words, later (3) release store of the
// record stamp.  Reader: a validated record gives (offset, len); acquire loads
// of the words while intersecting; then a relaxed load of word_cursor (it
// cannot move above the acquire loads); the result is kept only if
// word_cursor - offset <= arena_words.  If any word the reader loaded was
// stored by a *later* writer W' (whose claim covers position
// p + k * arena_words for some k >= 1), the reader's acquire load
// synchronizes with W''s release store (2), so W''s claim (1) happens-before
// the reader's cursor load, which therefore returns at least W''s claim end
// > offset + arena_words, and the result is discarded.  Conversely, while
// word_cursor - offset <= arena_words no claim has covered any word of
// [offset, offset + len) a second time, and the record's stamp acquire (3)
// made the original words visible.  So a reported containment is always
// computed on exactly the words of the record it names, with one exception:
// a writer of an *older* claim that stalls after its claim while more than
// arena_words words are claimed after it may finish its stores late, into the
// words of a newer set, and the claim cursor cannot reveal that.  For this
// case each record stores a 64-bit checksum of its words, which readers
// recompute while intersecting (they read every word); a mismatch discards
// the result.  A torn result then survives only if the checksums collide
// (probability about 2^-64 per such event).  (The fence form —
// claim; release fence; relaxed stores / relaxed loads; acquire fence;
// cursor load — is equivalent, but ThreadSanitizer does not model fences and
// GCC rejects them under -fsanitize=thread -Werror.  Release stores and
// acquire loads are plain MOVs on x86-64.)  Record fields and anchor nodes use
// the same release-store / acquire-load seqlock as FingerprintIndex.
//
// Anchor chain cap.  A lookup walks at most kMaxChainWalk (64) nodes per
// query anchor, newest first; an anchor shared by more recent articles than
// that (boilerplate shingles) only yields its 64 newest.  This bounds a
// lookup to 16 * 64 node visits plus max_candidates intersections.  A
// lookup for earlier entries only (`before_seq`) counts only those, and
// with an `order_slack` it reads a chain until it has the 64 with the
// largest seqs below before_seq: a chain's order is its pushes', which
// follows seq order only block by block when several threads insert a
// batch.
//
// Thread safety
//   Insert, Lookup, Containment and MemoryBytes may be called concurrently
//   from any number of threads without external synchronization.  Insert is
//   lock-free (CAS retries only); readers never block and never retry.
//   What a reader may assume:
//   * Every reported ShingleMatch was computed on a consistent snapshot of one
//     record: seq, set_size and the words it intersected all belong to the
//     same Insert call; a set overwritten while being read is skipped, never
//     reported torn (see the argument above for the one checksum-guarded
//     case).
//   * An Insert that completed before the read started and whose record and
//     arena words are still inside their rings is found (Lookup: if it shares
//     an anchor with the query and is within the chain cap; Containment: if
//     its seq-table cell was not evicted by a group of more than 8 live seqs).
//   * An entry concurrently being overwritten, or an Insert concurrent with
//     the read, may or may not be seen.
//   * Corner case: as in FingerprintIndex, a writer preempted for more than
//     max_entries inserts between publishing and pushing its anchors may cut
//     a chain short for readers until the cut entries expire.
//
// Invariants
//   * arena_words_, max_entries_ are powers of two; stamps only grow.
//   * A record's fields and anchor values change only while its stamp is
//     "writing", its links only while "linking", and only by its owner; a
//     node's link is written before the node is pushed, and is final once
//     reachable.  The checksum equals the words the owner stored.
//   * Every non-zero link is the difference of two node numbers less than
//     16 * max_entries apart (fits in int32; 0 means end of chain).
//   * A record r is live while record_cursor - r <= max_entries and its set is
//     readable while word_cursor - offset <= arena_words.

#ifndef STORYD_CORE_SHINGLE_WINDOW_H_
#define STORYD_CORE_SHINGLE_WINDOW_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/zeroed_array.h"

namespace storyd {

// One result of ShingleWindow::Lookup / Containment.
struct ShingleMatch {
  uint64_t seq;        // The stored article's seq.
  double containment;  // shared / min(query size, set_size).
  uint32_t shared;     // |query n stored set|.
  uint32_t set_size;   // |stored set|.
};

class ShingleWindow {
 public:
  static constexpr size_t kMaxAnchors = 16;
  static constexpr size_t kMaxChainWalk = 64;
  static constexpr size_t kMinArenaWords = 64;
  static constexpr size_t kMinEntries = 4;
  static constexpr size_t kMaxArenaWords = size_t{1} << 34;
  static constexpr size_t kMaxEntries = size_t{1} << 26;

  // Validating factory: InvalidArgument if either size is 0 or above its
  // maximum.
  static absl::StatusOr<std::unique_ptr<ShingleWindow>> Create(
      size_t arena_words, size_t max_entries);

  // Both sizes are rounded up to powers of two (and clamped to [min, max]).
  // The anchor table has 8 * max_entries buckets.
  ShingleWindow(size_t arena_words, size_t max_entries);
  ~ShingleWindow();

  ShingleWindow(const ShingleWindow&) = delete;
  ShingleWindow& operator=(const ShingleWindow&) = delete;

  // Stores the set under `seq` and indexes its anchors. Lock-free. Returns
  // false (and stores nothing) if the set is empty or larger than
  // arena_words() / 2. REQUIRES: shingles sorted ascending and unique;
  // seqs should be unique among live entries (Containment returns any one).
  bool Insert(uint64_t seq, absl::Span<const uint32_t> shingles);

  // Appends a match for each live entry that shares at least one anchor with
  // `shingles` and has containment >= min_containment, considering at most
  // max_candidates entries: most shared anchors first, ties by smaller seq.
  // Entries from `before_seq` on are left out, and do not count towards a
  // chain's cap. With `order_slack` s > 0, the caller promises that an
  // entry pushed after another is in the same block of s seqs or a later
  // one (blocks start at multiples of s: seq order, but for inversions
  // within aligned batches of s): each chain then yields the
  // kMaxChainWalk entries with the largest seqs below before_seq (and any
  // tied with the least of them), whatever order the batches' entries were
  // pushed in (see "Anchor chain cap"). Never blocks. REQUIRES: shingles
  // sorted ascending and unique; out != nullptr.
  void Lookup(absl::Span<const uint32_t> shingles, double min_containment,
              size_t max_candidates, std::vector<ShingleMatch>* out,
              uint64_t before_seq = UINT64_MAX, uint64_t order_slack = 0) const;

  // The seq of a live entry below `seq` whose set is `shingles` itself (by
  // size and ContentHash: `content_hash`), found on the first anchor's
  // chain within its kMaxIdenticalWalk newest nodes; nullopt if none is.
  // Cheaper than Lookup for a verbatim copy, which finds its earlier copies
  // there first. Never blocks. REQUIRES: shingles sorted ascending, unique.
  std::optional<uint64_t> FindIdenticalEarlier(
      absl::Span<const uint32_t> shingles, uint64_t content_hash,
      uint64_t seq) const;
  static constexpr size_t kMaxIdenticalWalk = 16;

  // A set intersected earlier in one search, by size and content hash:
  // copies of one text share their set, so the later ones need no second
  // intersection.
  struct KnownSet {
    uint64_t content_hash;
    uint32_t len;
    uint32_t shared;
  };

  // Containment between `shingles` and the live entry stored under `seq`, or
  // nullopt if there is none (expired, overwritten, evicted from the seq
  // table, or concurrently being written). `known` (may be null) carries the
  // sets intersected so far between calls for one query. REQUIRES: shingles
  // sorted, unique.
  std::optional<ShingleMatch> Containment(
      absl::Span<const uint32_t> shingles, uint64_t seq,
      std::vector<KnownSet>* known = nullptr) const;

  // Bytes allocated (arena, records, anchor heads, seq table, object).
  size_t MemoryBytes() const;

  // Backs the hash-addressed tables (anchor heads, seq table) with memory
  // now (ZeroedArray::Prefault): the first few thousand inserts write all
  // of their pages. The arena and records fill in order and are left to
  // their first writes. Call before the window is shared.
  void PrefaultTables();

  // True when the smallest `union_prefix` values of the union of two sets of
  // hash values, `shared_prefix` of them in both sets, rule out a Jaccard
  // index of `min_jaccard` or more for the whole sets: such a prefix has a
  // chance below 2^-46 (see the .cc). Lookup stops reading a candidate's set
  // then. Pure; public for its tests.
  static bool PrefixRulesOut(size_t union_prefix, size_t shared_prefix,
                             double min_jaccard);

  // XXH3 of a set's words: equal hashes and sizes mean equal sets (but for
  // a 2^-64 chance), so Match need not read an identical set, and the copy
  // resolver knows verbatim copies by it.
  static uint64_t ContentHash(absl::Span<const uint32_t> shingles);

  size_t arena_words() const { return arena_words_; }
  size_t max_entries() const { return max_entries_; }

 private:
  struct Record;
  struct SeqGroup;
  // A validated snapshot of a record.
  struct RecordView {
    uint64_t number;
    uint64_t seq;
    uint64_t offset;
    uint64_t checksum;
    uint64_t content_hash;
    uint32_t len;
  };

  Record& RecordFor(uint64_t number) const;
  // False when `shared_anchors` makes a containment of min_containment
  // implausible (see the .cc), so the candidate's set need not be read.
  static bool CouldReach(size_t query_size, size_t candidate_size,
                         uint32_t shared_anchors, double min_containment);
  size_t AnchorBucket(uint32_t anchor) const;
  SeqGroup& SeqGroupFor(uint64_t seq) const;
  // Reads record `number` consistently; nullopt if expired or overwritten.
  // With `node` non-null, also reads anchor node `node_index` of the record
  // (its value and link) in the same consistent snapshot.
  struct AnchorNode {
    uint32_t value = 0;
    uint32_t link = 0;
  };
  std::optional<RecordView> ReadRecord(uint64_t number, size_t node_index = 0,
                                       AnchorNode* node = nullptr) const;
  // |shingles n set of view|, or nullopt if the words were overwritten.
  // Stops reading once the two sets cannot share `enough` values any more,
  // or once the values read make it implausible (PrefixRulesOut), and then
  // returns a count below `enough` (0: always the exact count).
  std::optional<uint32_t> Intersect(absl::Span<const uint32_t> shingles,
                                    const RecordView& view,
                                    uint32_t enough) const;
  // `known` (may be null) remembers intersections for the rest of a lookup.
  // A match whose containment is below `min_containment` may be reported
  // with a lower one (its set was not read to the end); 0 reads every set
  // whole.
  std::optional<ShingleMatch> Match(absl::Span<const uint32_t> shingles,
                                    uint64_t query_hash, const RecordView& view,
                                    double min_containment,
                                    std::vector<KnownSet>* known) const;

  const size_t arena_words_;
  const uint64_t arena_mask_;
  const size_t max_entries_;
  const uint64_t record_mask_;
  const size_t anchor_buckets_;

  // Next record number to claim; starts at 1.
  alignas(64) std::atomic<uint64_t> record_cursor_{1};
  // Next arena word position to claim; starts at 0.
  alignas(64) std::atomic<uint64_t> word_cursor_{0};

  ZeroedArray<std::atomic<uint32_t>> arena_;
  ZeroedArray<Record> records_;
  ZeroedArray<std::atomic<uint64_t>> anchor_heads_;
  ZeroedArray<SeqGroup> seq_groups_;
};

}  // namespace storyd

#endif  // STORYD_CORE_SHINGLE_WINDOW_H_
