// Copyright 2024 The storyd Authors.

#include "core/shingle_window.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <functional>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <xxhash.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/ring_stamp.h"

namespace storyd {

struct ShingleWindow::Record {
  std::atomic<uint64_t> stamp{0};
  std::atomic<uint64_t> seq{0};
  std::atomic<uint64_t> offset{0};
  std::atomic<uint64_t> checksum{0};
  std::atomic<uint64_t> content_hash{0};
  std::atomic<uint32_t> len{0};
  std::atomic<uint32_t> num_anchors{0};
  // Anchor node i: its value and its link (signed node-number difference).
  std::atomic<uint32_t> anchor[kMaxAnchors] = {};
  std::atomic<uint32_t> next[kMaxAnchors] = {};
};

struct alignas(64) ShingleWindow::SeqGroup {
  static constexpr int kCells = 8;
  std::atomic<uint64_t> cell[kCells] = {};  // Record numbers; 0 = empty.
};

namespace {

constexpr uint64_t kAnchorShift = 4;  // Node number = record << 4 | index.
static_assert((uint64_t{1} << kAnchorShift) == ShingleWindow::kMaxAnchors);

using ring::kDone;
using ring::kLinking;
using ring::kWriting;
using ring::MakeStamp;
using ring::Mix64;
using ring::Readable;
using ring::Takeable;

// Checksum of a set's words, stored with the record and recomputed by
// readers: catches a stalled writer of an *older* arena claim finishing its
// stores into a newer set's words (the claim cursor cannot see that). A sum
// of independently mixed (position, word) pairs rather than a chain, so the
// reader's loop has no serial dependency through a multiply per word.
inline uint64_t ChecksumTerm(uint64_t position, uint32_t w) {
  uint64_t h = ((position << 32) | w) * 0x9e3779b97f4a7c15ULL;
  h ^= h >> 29;
  return h * 0xbf58476d1ce4e5b9ULL;
}
constexpr uint64_t kChecksumSeed = 0x243f6a8885a308d3ULL;

// Words a reader copies out of the arena at a time (on the stack).
constexpr size_t kReadChunk = 64;

// Counts the values of `chunk` (sorted, unique) that occur in
// query[*pos, n) (sorted, unique) and advances *pos past every query value
// below the chunk's last value, so that the next chunk of the same set can
// continue from there.
uint32_t CountSharedInChunk(const uint32_t* query, size_t n, size_t* pos,
                            const uint32_t* chunk, size_t m) {
  uint32_t shared = 0;
  size_t i = *pos;
  size_t j = 0;
#if defined(__SSE2__)
  // Blocks of four against four: every pair of lanes compared at once. The
  // values within each set are unique, so a query lane matches at most one
  // chunk lane and the lanes set in the OR of the four comparisons are the
  // matches. The block whose last value is smaller cannot match anything
  // after the other block, so it advances (both on a tie).
  while (i + 4 <= n && j + 4 <= m) {
    const __m128i a =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(query + i));
    const __m128i b =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(chunk + j));
    const __m128i eq = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi32(a, b),
                     _mm_cmpeq_epi32(a, _mm_shuffle_epi32(b, 0x39))),
        _mm_or_si128(_mm_cmpeq_epi32(a, _mm_shuffle_epi32(b, 0x4e)),
                     _mm_cmpeq_epi32(a, _mm_shuffle_epi32(b, 0x93))));
    // Bits set in the 4-bit lane mask, from a table of 16 nibbles
    // (std::popcount is a libgcc call without -mpopcnt).
    const int lanes = _mm_movemask_ps(_mm_castsi128_ps(eq));
    shared +=
        static_cast<uint32_t>((0x4332322132212110ULL >> (4 * lanes)) & 0xf);
    const uint32_t a_last = query[i + 3];
    const uint32_t b_last = chunk[j + 3];
    i += a_last <= b_last ? 4 : 0;
    j += b_last <= a_last ? 4 : 0;
  }
#endif
  // The rest of the chunk one value at a time. A query value already
  // matched above is below the chunk values still to come (both sets are
  // unique), so nothing is counted twice.
  for (; j < m; ++j) {
    const uint32_t w = chunk[j];
    while (i < n && query[i] < w) ++i;
    if (i < n && query[i] == w) {
      ++shared;
      ++i;
    }
  }
  *pos = i;
  return shared;
}

size_t RoundPow2(size_t v, size_t lo, size_t hi) {
  return std::bit_ceil(std::clamp(v, lo, hi));
}

// Link stored in node `from` pointing to node `to`; 0 if none or if the two
// are `limit` or more apart (then one of them is expired).
uint32_t EncodeLink(uint64_t from, uint64_t to, uint64_t limit) {
  if (to == 0) return 0;
  const int64_t delta = static_cast<int64_t>(to - from);
  if (delta == 0 || delta <= -static_cast<int64_t>(limit) ||
      delta >= static_cast<int64_t>(limit)) {
    return 0;
  }
  return static_cast<uint32_t>(static_cast<int32_t>(delta));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ShingleWindow>> ShingleWindow::Create(
    size_t arena_words, size_t max_entries) {
  if (arena_words == 0 || arena_words > kMaxArenaWords) {
    return absl::InvalidArgumentError(
        absl::StrCat("ShingleWindow arena_words out of range: ", arena_words));
  }
  if (max_entries == 0 || max_entries > kMaxEntries) {
    return absl::InvalidArgumentError(
        absl::StrCat("ShingleWindow max_entries out of range: ", max_entries));
  }
  return std::make_unique<ShingleWindow>(arena_words, max_entries);
}

ShingleWindow::ShingleWindow(size_t arena_words, size_t max_entries)
    : arena_words_(RoundPow2(arena_words, kMinArenaWords, kMaxArenaWords)),
      arena_mask_(arena_words_ - 1),
      max_entries_(RoundPow2(max_entries, kMinEntries, kMaxEntries)),
      record_mask_(max_entries_ - 1),
      anchor_buckets_(8 * max_entries_),
      // Zero pages are the all-empty state of every structure.
      arena_(arena_words_),
      records_(max_entries_),
      anchor_heads_(anchor_buckets_),
      seq_groups_(max_entries_) {}

ShingleWindow::~ShingleWindow() = default;

ShingleWindow::Record& ShingleWindow::RecordFor(uint64_t number) const {
  return records_[number & record_mask_];
}

size_t ShingleWindow::AnchorBucket(uint32_t anchor) const {
  return static_cast<size_t>(Mix64(anchor)) & (anchor_buckets_ - 1);
}

ShingleWindow::SeqGroup& ShingleWindow::SeqGroupFor(uint64_t seq) const {
  return seq_groups_[Mix64(seq ^ 0x5bd1e9955bd1e995ULL) & record_mask_];
}

bool ShingleWindow::Insert(uint64_t seq, absl::Span<const uint32_t> shingles) {
  if (shingles.empty() || shingles.size() > arena_words_ / 2) return false;
  const uint32_t len = static_cast<uint32_t>(shingles.size());
  // The anchors' bucket heads and the seq group are random cache lines of
  // megabytes: start loading them now, so that their misses overlap with
  // each other and with the writes below instead of coming one by one.
  const uint32_t num_anchors =
      static_cast<uint32_t>(std::min<size_t>(kMaxAnchors, len));
  for (uint32_t i = 0; i < num_anchors; ++i) {
    __builtin_prefetch(&anchor_heads_[AnchorBucket(shingles[i])], /*rw=*/1);
  }
  __builtin_prefetch(&SeqGroupFor(seq), /*rw=*/1);

  uint64_t number;
  for (;;) {
    // relaxed: the claim only needs atomicity; data is ordered by the stamp.
    number = record_cursor_.fetch_add(1, std::memory_order_relaxed);
    // relaxed: only the expected value for the ownership CAS below.
    uint64_t stamp = RecordFor(number).stamp.load(std::memory_order_relaxed);
    bool owned = false;
    // Owner still writing/linking (stalled) or already newer: give it up.
    while (Takeable(stamp, number)) {
      // acquire on success: pairs with the previous owner's release of kDone
      // so its late stores cannot land after ours. Our release stores below
      // carry the "writing" stamp to any reader that sees them.
      if (RecordFor(number).stamp.compare_exchange_weak(
              stamp, MakeStamp(number, kWriting), std::memory_order_acquire,
              std::memory_order_relaxed)) {
        owned = true;
        break;
      }
    }
    if (owned) break;
  }
  Record& rec = RecordFor(number);

  // relaxed: atomicity only; the release word stores below carry the claim
  // to readers (see "Arena seqlock argument" in the header).
  const uint64_t offset =
      word_cursor_.fetch_add(len, std::memory_order_relaxed);
  // All stores below are release (plain stores on x86) and pair with the
  // readers' acquire loads: a reader that loads any value stored below also
  // sees our "writing" stamp and our arena claim, and discards what it read.
  // (Seqlock without fences: ThreadSanitizer does not model
  // std::atomic_thread_fence, and GCC rejects it under -Wtsan.)
  uint64_t checksum = kChecksumSeed;
  for (uint32_t i = 0; i < len; ++i) {
    arena_[(offset + i) & arena_mask_].store(shingles[i],
                                             std::memory_order_release);
    checksum += ChecksumTerm(i, shingles[i]);
  }
  rec.seq.store(seq, std::memory_order_release);
  rec.offset.store(offset, std::memory_order_release);
  rec.checksum.store(checksum, std::memory_order_release);
  rec.content_hash.store(ContentHash(shingles), std::memory_order_release);
  rec.len.store(len, std::memory_order_release);
  rec.num_anchors.store(num_anchors, std::memory_order_release);
  for (uint32_t i = 0; i < num_anchors; ++i) {
    rec.anchor[i].store(shingles[i], std::memory_order_release);
  }
  // release: a reader acquiring a readable stamp of r sees everything above.
  rec.stamp.store(MakeStamp(number, kLinking), std::memory_order_release);

  const uint64_t link_limit = max_entries_ << kAnchorShift;
  for (uint32_t i = 0; i < num_anchors; ++i) {
    const uint64_t node = (number << kAnchorShift) | i;
    std::atomic<uint64_t>& head = anchor_heads_[AnchorBucket(shingles[i])];
    // acquire: pairs with the release CAS of the push that stored `h`.
    uint64_t h = head.load(std::memory_order_acquire);
    for (;;) {
      // release: a reader of a previous number of this record that loads
      // this link must then see a newer stamp. Rewritten only while the CAS
      // fails, i.e. before the node is reachable.
      rec.next[i].store(EncodeLink(node, h, link_limit),
                        std::memory_order_release);
      // acq_rel on success: release publishes link and record to readers
      // that acquire the head; acquire continues the chain's visibility.
      if (head.compare_exchange_weak(h, node, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
        break;
      }
    }
  }

  // release: ends our ownership of the record (links are final); pairs with
  // the next owner's acquire CAS.
  rec.stamp.store(MakeStamp(number, kDone), std::memory_order_release);

  // Seq table: replace an empty or expired cell, else the oldest record.
  SeqGroup& group = SeqGroupFor(seq);
  for (int attempt = 0; attempt < 2 * SeqGroup::kCells; ++attempt) {
    // relaxed: only used to pick a victim; readers validate by stamp.
    const uint64_t end = record_cursor_.load(std::memory_order_relaxed);
    int victim = 0;
    uint64_t victim_value = ~uint64_t{0};
    for (int c = 0; c < SeqGroup::kCells; ++c) {
      // relaxed: a hint for choosing the victim; the CAS checks it.
      const uint64_t v = group.cell[c].load(std::memory_order_relaxed);
      if (v == 0 || end - v > max_entries_) {
        victim = c;
        victim_value = v;
        break;
      }
      if (v < victim_value) {
        victim = c;
        victim_value = v;
      }
    }
    // release: a reader acquiring this cell sees our published stamp.
    if (group.cell[victim].compare_exchange_strong(victim_value, number,
                                                   std::memory_order_release,
                                                   std::memory_order_relaxed)) {
      break;
    }
  }
  return true;
}

std::optional<ShingleWindow::RecordView> ShingleWindow::ReadRecord(
    uint64_t number, size_t node_index, AnchorNode* node) const {
  // relaxed: a stale value only delays the expiry decision; stamps decide.
  const uint64_t end = record_cursor_.load(std::memory_order_relaxed);
  if (number == 0 || end - number > max_entries_) return std::nullopt;
  const Record& rec = RecordFor(number);
  // acquire: pairs with the publishing release store of the stamp.
  const uint64_t stamp = rec.stamp.load(std::memory_order_acquire);
  if (!Readable(stamp, number)) return std::nullopt;
  if (node != nullptr) {
    // acquire (plain loads on x86): as the fields below.
    node->value = rec.anchor[node_index].load(std::memory_order_acquire);
    node->link = rec.next[node_index].load(std::memory_order_acquire);
  }
  RecordView view;
  view.number = number;
  // acquire (plain loads on x86): pair with the writer's release stores; a
  // value from a later writer makes the stamp re-load below differ.
  view.seq = rec.seq.load(std::memory_order_acquire);
  view.offset = rec.offset.load(std::memory_order_acquire);
  view.len = rec.len.load(std::memory_order_acquire);
  view.checksum = rec.checksum.load(std::memory_order_acquire);
  view.content_hash = rec.content_hash.load(std::memory_order_acquire);
  // relaxed: ordered after the acquire loads above; within one number the
  // state only moves writing -> linking -> done.
  if ((rec.stamp.load(std::memory_order_relaxed) >> 2) != number) {
    return std::nullopt;
  }
  return view;
}

std::optional<uint32_t> ShingleWindow::Intersect(
    absl::Span<const uint32_t> shingles, const RecordView& view,
    uint32_t enough) const {
  // relaxed: early-out only; the check after the loop is the real one.
  if (word_cursor_.load(std::memory_order_relaxed) - view.offset >
      arena_words_) {
    return std::nullopt;
  }
  uint32_t shared = 0;
  size_t query_pos = 0;
  uint64_t checksum = kChecksumSeed;
  // Two accumulators keep the multiplies of neighbouring words independent.
  uint64_t checksum_odd = 0;
  uint32_t chunk[kReadChunk];
  // The least Jaccard index of sets sharing `enough` values.
  const double min_jaccard =
      enough == 0 ? 0.0
                  : static_cast<double>(enough) /
                        static_cast<double>(shingles.size() + view.len -
                                            std::min<size_t>(enough, view.len));
  // Reads every word (also after the query is exhausted) for the checksum,
  // unless the count cannot reach `enough`.
  for (uint32_t base = 0; base < view.len; base += kReadChunk) {
    const size_t m = std::min<size_t>(kReadChunk, view.len - base);
    for (size_t k = 0; k < m; ++k) {
      // acquire (a plain load on x86): pairs with the writers' release word
      // stores; if this is a later claim's word, that claim is visible to
      // the cursor load below (see "Arena seqlock argument" in the header).
      chunk[k] = arena_[(view.offset + base + k) & arena_mask_].load(
          std::memory_order_acquire);
    }
    size_t k = 0;
    for (; k + 2 <= m; k += 2) {
      checksum += ChecksumTerm(base + k, chunk[k]);
      checksum_odd += ChecksumTerm(base + k + 1, chunk[k + 1]);
    }
    if (k < m) checksum += ChecksumTerm(base + k, chunk[k]);
    shared += CountSharedInChunk(shingles.data(), shingles.size(), &query_pos,
                                 chunk, m);
    // Most candidates are no copy: once even sharing every value still to
    // come could not make `enough`, the rest of the set need not be read.
    // The words read are checked against the cursor as below (the result
    // may be remembered for identical sets); the checksum, which needs
    // every word, is not: a stalled writer's late stores (see the header)
    // can only make such a candidate look less like a copy.
    const size_t still_possible =
        std::min<size_t>(shingles.size() - query_pos, view.len - (base + m));
    // Or once the values read, a random sample of the union, make a
    // Jaccard index that could give `enough` implausible: most candidates
    // share a sentence or two, and this stops after the first chunk or two
    // instead of after about half of the set.
    if (shared + still_possible < enough ||
        (shared < enough && base + m < view.len &&
         PrefixRulesOut(query_pos + base + m - shared, shared, min_jaccard))) {
      // relaxed: ordered after the acquire word loads above.
      if (word_cursor_.load(std::memory_order_relaxed) - view.offset >
          arena_words_) {
        return std::nullopt;
      }
      return shared;
    }
  }
  checksum += checksum_odd;
  // relaxed: ordered after the acquire word loads above.
  if (word_cursor_.load(std::memory_order_relaxed) - view.offset >
      arena_words_) {
    return std::nullopt;
  }
  if (checksum != view.checksum) return std::nullopt;
  return shared;
}

uint64_t ShingleWindow::ContentHash(absl::Span<const uint32_t> shingles) {
  return XXH3_64bits(shingles.data(), shingles.size() * sizeof(uint32_t));
}

std::optional<ShingleMatch> ShingleWindow::Match(
    absl::Span<const uint32_t> shingles, uint64_t query_hash,
    const RecordView& view, double min_containment,
    std::vector<KnownSet>* known) const {
  if (shingles.empty() || view.len == 0) return std::nullopt;
  const size_t denom = std::min<size_t>(shingles.size(), view.len);
  auto reaches = [&](size_t shared) {
    return static_cast<double>(shared) / static_cast<double>(denom) >=
           min_containment;
  };
  // The least shared count that reaches min_containment (as compared by
  // the callers).
  uint32_t enough = 0;
  if (min_containment > 0) {
    enough = static_cast<uint32_t>(std::min<double>(
        std::ceil(min_containment * static_cast<double>(denom)),
        static_cast<double>(denom) + 1));
    while (enough > 0 && reaches(enough - 1)) --enough;
    while (enough <= denom && !reaches(enough)) ++enough;
  }
  // Reported only while the set's words are still in the arena, as when
  // they are read. relaxed: as the cursor checks in Intersect.
  auto in_arena = [&] {
    return word_cursor_.load(std::memory_order_relaxed) - view.offset <=
           arena_words_;
  };
  const KnownSet* seen = nullptr;
  if (known != nullptr) {
    for (const KnownSet& k : *known) {
      if (k.len == view.len && k.content_hash == view.content_hash) {
        seen = &k;
        break;
      }
    }
  }
  std::optional<uint32_t> shared;
  if (view.len == shingles.size() && view.content_hash == query_hash) {
    // An identical set (the commonest copy: a syndicated story verbatim) is
    // known from the record alone; its words need not be read.
    if (in_arena()) shared = view.len;
  } else if (seen != nullptr) {
    // The same set as a candidate already intersected in this lookup
    // (copies of one copy): the same count.
    if (in_arena()) shared = seen->shared;
  } else {
    shared = Intersect(shingles, view, enough);
    if (shared.has_value() && known != nullptr) {
      known->push_back({view.content_hash, view.len, *shared});
    }
  }
  if (!shared.has_value()) return std::nullopt;
  return ShingleMatch{view.seq,
                      static_cast<double>(*shared) / static_cast<double>(denom),
                      *shared, view.len};
}

void ShingleWindow::Lookup(absl::Span<const uint32_t> shingles,
                           double min_containment, size_t max_candidates,
                           std::vector<ShingleMatch>* out, uint64_t before_seq,
                           uint64_t order_slack) const {
  if (shingles.empty() || max_candidates == 0) return;
  struct Hit {
    RecordView view;
    uint32_t shared_anchors;
    uint32_t chain;  // the query anchor whose chain gave it
  };
  std::vector<Hit> hits;
  std::vector<KnownSet> known;
  const uint64_t query_hash = ContentHash(shingles);
  // For a lookup of earlier entries only: per chain, the largest seqs below
  // before_seq read so far (a min-heap of at most kMaxChainWalk).
  const bool earlier_only = before_seq != UINT64_MAX;
  auto block_of = [order_slack](uint64_t seq) {
    return order_slack == 0 ? seq : seq / order_slack;
  };
  // A backstop should a caller break the push-order promise: with it kept,
  // the earlier nodes a chain is read for past its largest earlier seqs
  // are the rest of the least one's block. (Later nodes are skipped
  // uncounted: an offline run has at most two batches of them.)
  const size_t max_earlier_walk =
      kMaxChainWalk + 2 * static_cast<size_t>(order_slack);
  struct Largest {
    std::array<uint64_t, kMaxChainWalk> seqs;
    size_t size = 0;
    size_t read = 0;  // earlier nodes read
    bool full() const { return size == kMaxChainWalk; }
    uint64_t least() const { return seqs[0]; }
  };
  std::array<Largest, kMaxAnchors> largest;
  // Records a hit for one chain node; the chain's next node, or nullopt
  // where the chain ends (cut by expiry or an overwrite, or read far
  // enough).
  auto visit = [&](uint64_t node, uint32_t anchor,
                   uint32_t chain) -> std::optional<uint64_t> {
    // Every node in the chain was claimed before the head load (acquire),
    // so its record is expired, overwritten or readable as a snapshot.
    AnchorNode anchor_node;
    const std::optional<RecordView> view = ReadRecord(
        node >> kAnchorShift, node & (kMaxAnchors - 1), &anchor_node);
    if (!view.has_value()) return std::nullopt;  // The chain is cut.
    if (view->seq < before_seq) {
      if (earlier_only) {
        Largest& kept = largest[chain];
        if (kept.full() && block_of(view->seq) < block_of(kept.least())) {
          // Every node further down was pushed before this one, so it is in
          // this one's block or an earlier one: none is among the largest.
          return std::nullopt;
        }
        if (++kept.read > max_earlier_walk) return std::nullopt;
        if (!kept.full()) {
          kept.seqs[kept.size++] = view->seq;
          std::push_heap(kept.seqs.begin(), kept.seqs.begin() + kept.size,
                         std::greater<>());
        } else if (view->seq > kept.least()) {
          std::pop_heap(kept.seqs.begin(), kept.seqs.end(), std::greater<>());
          kept.seqs.back() = view->seq;
          std::push_heap(kept.seqs.begin(), kept.seqs.end(), std::greater<>());
        }
      }
      if (anchor_node.value == anchor) hits.push_back(Hit{*view, 1, chain});
    }
    if (anchor_node.link == 0) return std::nullopt;
    return node + static_cast<uint64_t>(static_cast<int64_t>(
                      static_cast<int32_t>(anchor_node.link)));
  };
  // The anchors' chains are walked together, one node of each in turn, and
  // each chain's next record is prefetched: a chain is a pointer chase (one
  // cache miss after another), but different chains are independent, so
  // their misses overlap. The hits do not depend on the walking order.
  struct Chain {
    uint64_t node;
    uint32_t anchor;
    uint32_t id;
    uint32_t steps;
  };
  std::array<Chain, kMaxAnchors> chains;
  size_t live = 0;
  const size_t num_anchors = std::min(kMaxAnchors, shingles.size());
  for (size_t a = 0; a < num_anchors; ++a) {
    // acquire: pairs with the release CAS of the push that stored the head,
    // making the chain behind it (stamps, fields, links) visible.
    const uint64_t head = anchor_heads_[AnchorBucket(shingles[a])].load(
        std::memory_order_acquire);
    if (head != 0) {
      chains[live++] = Chain{head, shingles[a], static_cast<uint32_t>(a), 0};
    }
  }
  while (live > 0) {
    for (size_t c = 0; c < live;) {
      Chain& chain = chains[c];
      const std::optional<uint64_t> next =
          visit(chain.node, chain.anchor, chain.id);
      // Without before_seq every node read counts towards the cap; with
      // it, the chain ends in visit once its largest earlier seqs are
      // known (with no slack: at its first earlier node past the cap), or
      // at the backstop.
      if (!next.has_value() ||
          (!earlier_only && ++chain.steps == kMaxChainWalk)) {
        chain = chains[--live];  // Done; the last chain takes its place.
        continue;
      }
      chain.node = *next;
      const Record& rec = RecordFor(*next >> kAnchorShift);
      const size_t index = *next & (kMaxAnchors - 1);
      __builtin_prefetch(&rec.stamp);
      __builtin_prefetch(&rec.anchor[index]);
      __builtin_prefetch(&rec.next[index]);
      ++c;
    }
  }
  if (earlier_only) {
    // A chain's hits past its kMaxChainWalk largest earlier seqs go.
    std::erase_if(hits, [&](const Hit& hit) {
      const Largest& kept = largest[hit.chain];
      return kept.full() && hit.view.seq < kept.least();
    });
  }
  if (hits.empty()) return;
  // Aggregate by record number: count of query anchors each record shares.
  // A small open-addressing table of record numbers rather than a sort: a
  // copy-heavy stream gives hundreds of hits a lookup (each earlier copy
  // once per anchor). The hits are compacted in place, first sighting
  // first; their order does not matter (the candidates are ranked below).
  const size_t table_size = std::bit_ceil(2 * hits.size());
  std::vector<uint32_t> slot_hit(table_size, UINT32_MAX);
  size_t unique = 0;
  for (size_t i = 0; i < hits.size(); ++i) {
    const uint64_t number = hits[i].view.number;
    size_t slot = static_cast<size_t>(Mix64(number)) & (table_size - 1);
    while (slot_hit[slot] != UINT32_MAX &&
           hits[slot_hit[slot]].view.number != number) {
      slot = (slot + 1) & (table_size - 1);
    }
    if (slot_hit[slot] != UINT32_MAX) {
      ++hits[slot_hit[slot]].shared_anchors;
    } else {
      slot_hit[slot] = static_cast<uint32_t>(unique);
      hits[unique++] = hits[i];
    }
  }
  hits.resize(unique);
  const size_t take = std::min(max_candidates, hits.size());
  auto first_candidate = [](const Hit& a, const Hit& b) {
    if (a.shared_anchors != b.shared_anchors) {
      return a.shared_anchors > b.shared_anchors;
    }
    if (a.view.seq != b.view.seq) return a.view.seq < b.view.seq;
    return a.view.number < b.view.number;
  };
  // The leading `take` in order: a selection, then a sort of those alone
  // (a copy-heavy stream gives hundreds of distinct hits; a heap over all
  // of them cost more). The order is total, so the result is the same.
  if (take < hits.size()) {
    std::nth_element(hits.begin(), hits.begin() + take, hits.end(),
                     first_candidate);
  }
  std::sort(hits.begin(), hits.begin() + take, first_candidate);
  for (size_t i = 0; i < take; ++i) {
    if (!CouldReach(shingles.size(), hits[i].view.len, hits[i].shared_anchors,
                    min_containment)) {
      continue;
    }
    const std::optional<ShingleMatch> m =
        Match(shingles, query_hash, hits[i].view, min_containment, &known);
    if (m.has_value() && m->containment >= min_containment) out->push_back(*m);
  }
}

bool ShingleWindow::PrefixRulesOut(size_t union_prefix, size_t shared_prefix,
                                   double min_jaccard) {
  // Shingle values are hashes, so the union's values up to any value are a
  // uniform random sample of the union, and the shared ones among U of them
  // are hypergeometric with mean U J (J the sets' Jaccard index). By the
  // Chernoff bound (which holds for sampling without replacement), U draws
  // with a share x < J0 <= J have a chance below exp(-U KL(x || J0)). A
  // set at the containment threshold itself is thus lost with a chance
  // below e^-32 (2^-46) per check, a real copy (far above it) with far less.
  if (union_prefix == 0 || min_jaccard <= 0 || shared_prefix >= union_prefix) {
    return false;
  }
  if (min_jaccard >= 1) return true;  // Identical sets share every value.
  constexpr double kLogRisk = 32;
  const double u = static_cast<double>(union_prefix);
  const double x = static_cast<double>(shared_prefix) / u;
  if (x >= min_jaccard) return false;
  // Cheap bounds first: (J0 - x)^2 / (2 J0) <= KL(x || J0) <= -ln(1 - J0)
  // <= J0 / (1 - J0).
  if (u * min_jaccard / (1 - min_jaccard) <= kLogRisk) return false;
  const double gap = min_jaccard - x;
  if (u * gap * gap / (2 * min_jaccard) > kLogRisk) return true;
  const double divergence =
      (shared_prefix == 0 ? 0.0 : x * std::log(x / min_jaccard)) +
      (1 - x) * std::log((1 - x) / (1 - min_jaccard));
  return u * divergence > kLogRisk;
}

bool ShingleWindow::CouldReach(size_t query_size, size_t candidate_size,
                               uint32_t shared_anchors,
                               double min_containment) {
  // If the containment were at least min_containment, the Jaccard index J
  // would be at least c*m / (q + n - c*m) (m the smaller size). Every shared
  // shingle among the 16 smallest values of the union is an anchor of both
  // sets, so the shared anchors are at least a sample of 16 draws with mean
  // 16 J. Sharing at most one anchor when 16 J >= 5 has probability below
  // 1.5 % at the threshold itself and far less for real copies: such a
  // candidate is skipped without reading its set. Small sets (fewer than
  // 16 anchors) are always read.
  if (shared_anchors > 1 || query_size < kMaxAnchors ||
      candidate_size < kMaxAnchors) {
    return true;
  }
  const double smaller =
      static_cast<double>(std::min(query_size, candidate_size));
  const double shared = min_containment * smaller;
  const double jaccard =
      shared / (static_cast<double>(query_size + candidate_size) - shared);
  return kMaxAnchors * jaccard < 5.0;
}

std::optional<ShingleMatch> ShingleWindow::Containment(
    absl::Span<const uint32_t> shingles, uint64_t seq,
    std::vector<KnownSet>* known) const {
  const SeqGroup& group = SeqGroupFor(seq);
  for (int c = 0; c < SeqGroup::kCells; ++c) {
    // acquire: pairs with the writer's release CAS, so the record's published
    // stamp is visible to ReadRecord.
    const uint64_t number = group.cell[c].load(std::memory_order_acquire);
    if (number == 0) continue;
    const std::optional<RecordView> view = ReadRecord(number);
    if (!view.has_value() || view->seq != seq) continue;
    return Match(shingles, ContentHash(shingles), *view,
                 /*min_containment=*/0, known);
  }
  return std::nullopt;
}

std::optional<uint64_t> ShingleWindow::FindIdenticalEarlier(
    absl::Span<const uint32_t> shingles, uint64_t content_hash,
    uint64_t seq) const {
  if (shingles.empty()) return std::nullopt;
  const uint32_t anchor = shingles[0];
  // acquire: as in Lookup.
  uint64_t node =
      anchor_heads_[AnchorBucket(anchor)].load(std::memory_order_acquire);
  for (size_t steps = 0; node != 0 && steps < kMaxIdenticalWalk; ++steps) {
    AnchorNode anchor_node;
    const std::optional<RecordView> view = ReadRecord(
        node >> kAnchorShift, node & (kMaxAnchors - 1), &anchor_node);
    if (!view.has_value()) break;  // The chain is cut.
    // An equal set has this anchor first; the words must still be in the
    // arena, as for the identical sets Match reports.
    if (anchor_node.value == anchor && view->seq < seq &&
        view->len == shingles.size() && view->content_hash == content_hash &&
        word_cursor_.load(std::memory_order_relaxed) - view->offset <=
            arena_words_) {
      return view->seq;
    }
    if (anchor_node.link == 0) break;
    node += static_cast<uint64_t>(
        static_cast<int64_t>(static_cast<int32_t>(anchor_node.link)));
  }
  return std::nullopt;
}

void ShingleWindow::PrefaultTables() {
  anchor_heads_.Prefault();
  seq_groups_.Prefault();
}

size_t ShingleWindow::MemoryBytes() const {
  return sizeof(*this) + arena_words_ * sizeof(std::atomic<uint32_t>) +
         max_entries_ * sizeof(Record) +
         anchor_buckets_ * sizeof(std::atomic<uint64_t>) +
         max_entries_ * sizeof(SeqGroup);
}

}  // namespace storyd
