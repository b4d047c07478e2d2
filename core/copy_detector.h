// The copy tier: decides which earlier article, if any, an article is a copy
// of.
//
// Two indexes, two horizons:
//   FingerprintIndex  64-bit SimHash, Hamming radius k (3 by default), a
//                     long horizon at ~64 bytes per article.
//   ShingleWindow     the exact shingle sets of recent articles with an
//                     anchor index. A candidate from either index is
//                     confirmed by exact shingle containment
//                     |A ∩ B| / min(|A|, |B|) >= min_containment, so recall
//                     does not rest on k: boilerplate left over, edits and
//                     trimmed tails push copies far past 3 bits but keep
//                     containment high. A fingerprint match whose set has
//                     left the window is accepted on the SimHash alone.
//
// Concurrency and determinism. Every article carries a sequence number in a
// total order (ingest order offline, partition/offset in the daemon). Each
// worker calls CopyDetector::InsertAndFind, which inserts the article
// *before* it looks up. For two copies processed at the same moment, at
// least one of them therefore sees the other. Matching is symmetric, so a
// single-threaded CopyResolver, fed in sequence order, merges both views:
// the candidates an article found among earlier ones, and those that
// earlier articles found among later ones. The earlier article always wins,
// and the result does not depend on thread timing while no search is
// capped. The window's search is (candidates, chain nodes); offline runs
// therefore search only once every earlier article is indexed, and for
// earlier articles only (Find's earlier_only; ArticleProcessor::Index and
// SearchEarlier).
//
// Thread safety: CopyDetector is safe for concurrent use; CopyResolver is
// not (it is the ordered stage) and must be fed in increasing seq order.
#ifndef STORYD_CORE_COPY_DETECTOR_H_
#define STORYD_CORE_COPY_DETECTOR_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/types/span.h"
#include "core/features.h"
#include "core/fingerprint_index.h"
#include "core/shingle_window.h"
#include "core/zeroed_array.h"

namespace storyd {

struct CopyConfig {
  int shingle_size = 3;
  int max_hamming = 3;             // fast SimHash radius k
  double min_containment = 0.5;    // copy threshold on shingle containment
  size_t min_shared_shingles = 3;  // unless both sets are equal
  size_t fingerprint_capacity = 1 << 22;  // articles in the SimHash index
  size_t window_articles = 1 << 17;       // articles in the shingle window
  size_t window_arena_words = 1 << 25;    // 32-bit shingle hashes kept
  size_t max_candidates = 64;             // containment checks per lookup
};

enum class CopyMethod { kNone, kContainment, kSimHash };
std::string_view CopyMethodName(CopyMethod method);

struct CopyCandidate {
  uint64_t seq = 0;
  double score = 0;  // containment, or 1 - distance/64 for kSimHash
  int hamming = -1;  // when known
  CopyMethod method = CopyMethod::kNone;
};

// What a worker's search left out (CopyDetector::Find with skip_identical).
enum class SkippedSearch {
  kNone,  // the window and the SimHash index were both searched
  // The window's search gave an earlier article with the very same set;
  // the SimHash index was left alone.
  kFingerprints,
  // The window's first anchor chain gave an earlier article with the very
  // same set (ShingleWindow::FindIdenticalEarlier); neither the rest of the
  // window nor the SimHash index was searched.
  kAll,
};

// How CopyDetector::Find searches (see there).
struct FindOptions {
  // Stop at an earlier article with the very same set.
  bool skip_identical = false;
  // Find only articles before the searched one, indexed block by block of
  // `order_slack` seqs.
  bool earlier_only = false;
  uint64_t order_slack = 0;
  // ShingleWindow::ContentHash of the shingles, when the caller has it
  // (0: Find computes it if it needs it).
  uint64_t content_hash = 0;
};

class CopyDetector {
 public:
  explicit CopyDetector(const CopyConfig& config);

  // Indexes the article under `seq`, then appends to *out every indexed
  // article (earlier or later in seq order, never `seq` itself) that passes
  // the copy test against it. With `skip_identical`, the search stops once
  // the shingle window has given an earlier article with the very same set
  // (see Find); returns what it left out.
  SkippedSearch InsertAndFind(uint64_t seq, const ArticleFeatures& features,
                              std::vector<CopyCandidate>* out,
                              bool skip_identical = false);
  // The two halves of InsertAndFind, for articles decided elsewhere (the
  // changelog): index one, or search for one without indexing it.
  // `shingles` may be empty (the fingerprint alone).
  void Insert(uint64_t seq, uint64_t fingerprint,
              absl::Span<const uint32_t> shingles);
  // With `skip_identical`: a verbatim copy of a syndicated story finds in
  // the SimHash index every earlier copy of it (a chain as long as the
  // story is popular, each confirmed in the window), where the window has
  // already given it one; and the window's search reads every other
  // version of the story again, where its first anchor's chain gives an
  // earlier copy at once. So Find appends only that copy when the chain
  // gives one (kAll), else leaves the SimHash index alone when the window's
  // search gives one (kFingerprints). CopyResolver::ResolveIdentical then
  // decides the article, or, when that remembers no such set, the ordered
  // stage searches what was left out (Find, or FindByFingerprint).
  //
  // Skipping keeps the concurrency rule: the earliest article with a set
  // (in seq order) finds no earlier one with it, so it searches in full,
  // and for any later article one of the two sees the other. A later copy
  // that skips is decided from that earliest article's decision, and a
  // candidate that is such a copy stands for it (CopyResolver).
  //
  // With `earlier_only`, only articles before `seq` are found: for a search
  // made once every earlier article is indexed, the articles having been
  // indexed block by block of `order_slack` seqs (blocks starting at
  // multiples of it, any order within one; ArticleProcessor::Index), which
  // then finds what it would find with one thread, whatever the thread
  // count.
  SkippedSearch Find(uint64_t seq, uint64_t fingerprint,
                     absl::Span<const uint32_t> shingles,
                     std::vector<CopyCandidate>* out,
                     const FindOptions& options = {}) const;
  // Find's first step with skip_identical: appends an article before `seq`
  // whose shingle set is `shingles` itself, if the window gives one at once
  // (ShingleWindow::FindIdenticalEarlier), and says whether it did.
  // `content_hash` as in FindOptions.
  bool FindIdenticalEarlier(uint64_t seq, absl::Span<const uint32_t> shingles,
                            uint64_t content_hash,
                            std::vector<CopyCandidate>* out) const;
  // The SimHash half of Find: appends the fingerprint matches not in *out
  // yet (confirmed by containment while in the window) and sets the
  // Hamming distance of those that are.
  void FindByFingerprint(uint64_t seq, uint64_t fingerprint,
                         absl::Span<const uint32_t> shingles,
                         std::vector<CopyCandidate>* out,
                         bool earlier_only = false) const;

  // The copy test for two feature sets (used by `explain` and tests).
  CopyCandidate Compare(const ArticleFeatures& a,
                        const ArticleFeatures& b) const;

  const CopyConfig& config() const { return config_; }
  size_t fingerprint_entries() const { return fingerprints_.size(); }
  size_t MemoryBytes() const;
  // Backs the indexes' hash-addressed tables with memory now, so that their
  // first writes do not fault under load (the daemon, before it is ready).
  // Call before the detector is shared.
  void PrefaultTables() {
    fingerprints_.PrefaultBuckets();
    window_.PrefaultTables();
  }

 private:
  bool Accept(const ShingleMatch& match, size_t query_size) const;
  // FindByFingerprint, where the candidates from out[first] on are this
  // search's (their Hamming distances are filled in, not added twice).
  void AddFingerprintMatches(uint64_t seq, uint64_t fingerprint,
                             absl::Span<const uint32_t> shingles, size_t first,
                             std::vector<CopyCandidate>* out,
                             bool earlier_only) const;

  CopyConfig config_;
  FingerprintIndex fingerprints_;
  ShingleWindow window_;
};

// The decision for one article.
struct CopyDecision {
  std::optional<uint64_t> original_seq;  // root of its copy group
  std::optional<uint64_t> matched_seq;   // the article it matched best
  CopyCandidate best;                    // score and method of that match;
                                         // best.hamming is the distance to
                                         // the matched article, -1 when
                                         // its fingerprint is forgotten
};

class CopyResolver {
 public:
  // history: how many recent articles' roots are remembered.
  explicit CopyResolver(size_t history);

  // Decides article `seq` from the candidates its worker found.
  // REQUIRES: called once per seq, in increasing seq order.
  CopyDecision Resolve(uint64_t seq, uint64_t fingerprint,
                       absl::Span<const CopyCandidate> found);

  // Marks `seq` as rejected input: it is never an original or a match.
  // REQUIRES: in the same seq order as Resolve.
  void Reject(uint64_t seq, absl::Span<const CopyCandidate> found);

  // Records article `seq` as decided elsewhere: a copy of `original_seq`
  // (its group's root), or an original. REQUIRES: in the same seq order.
  void Restore(uint64_t seq, std::optional<uint64_t> original_seq,
               uint64_t fingerprint);

  // Verbatim copies, decided without a search (see
  // CopyDetector::Find's skip_identical).
  //
  // For every accepted article decided by Resolve, the resolver remembers
  // for `identical_horizon` articles its shingle set (by
  // ShingleWindow::ContentHash), unless an earlier one with the same set
  // is remembered: so each set is remembered with the first accepted
  // article F that had it, F's fingerprint, and, when F matched an earlier
  // article M with a score of 1, M. A later article A with the same set is
  // decided from that alone: a copy of M when there is one (A scores 1
  // against it as F did, and M is earlier than F), else of F (A scores 1
  // against F). Its worker's candidates play no part in the decision, so
  // the decision depends only on F's, made in seq order, never on what a
  // worker happened to find: this holds whether or not A's worker searched
  // the SimHash index. It can differ from what A's own search would have
  // chosen when that search reached a perfect match F's missed (the
  // window's caps, or eviction since), which the output then does not name.
  // 0 turns the memory off (the default).
  void EnableIdenticalSets(size_t identical_horizon) {
    identical_horizon_ = identical_horizon;
  }
  // Decides `seq` from the remembered set (see above), or returns nullopt
  // when none within the horizon has `set_hash` (0: no set) and
  // `fingerprint` (then call Resolve). `found` (what its worker found) only
  // gives later articles their matches, as in Resolve.
  // REQUIRES: in the same seq order as Resolve.
  std::optional<CopyDecision> ResolveIdentical(
      uint64_t seq, uint64_t set_hash, uint64_t fingerprint,
      absl::Span<const CopyCandidate> found);
  // Remembers an accepted article's set after Resolve (see above).
  void RememberIdentical(uint64_t seq, uint64_t set_hash, uint64_t fingerprint,
                         const CopyDecision& decision);
  // Forgets the set remembered under `fingerprint`, if any: an article
  // decided elsewhere (another instance) may be a better match for its
  // later copies than the remembered one, so they are searched again.
  void ForgetIdentical(uint64_t fingerprint) { identical_.erase(fingerprint); }
  // A candidate that ResolveIdentical decided (a verbatim copy of F) scores
  // against any article exactly as F does, and F is earlier: Resolve takes
  // F in its place. So whichever copies of a popular text an article's
  // capped search reached, it is decided as if it had reached F.

  // Articles ResolveIdentical decided so far.
  uint64_t identical_decisions() const { return identical_decisions_; }

 private:
  // All zero = empty, so the ring can sit on untouched zero pages.
  struct RootSlot {
    uint64_t seq_plus_one = 0;
    uint64_t root = 0;  // kRejected for rejected input
    uint64_t fingerprint = 0;
  };
  static constexpr uint64_t kRejected = UINT64_MAX - 1;

  void RecordLaterMatches(uint64_t seq, absl::Span<const CopyCandidate> found);
  // Fills in the Hamming distance to the match and records the decision.
  void Conclude(uint64_t seq, uint64_t fingerprint, CopyDecision* decision);
  // Root of an earlier article, or nullopt when it was rejected.
  std::optional<uint64_t> RootOf(uint64_t seq) const;

  RootSlot& SlotOf(uint64_t seq) const { return roots_[seq % roots_.size()]; }

  ZeroedArray<RootSlot> roots_;
  // Matches that earlier articles found against later ones, keyed by the
  // later article's seq; consumed when that article is resolved.
  absl::flat_hash_map<uint64_t, std::vector<CopyCandidate>> found_by_earlier_;

  // Keyed by fingerprint (a function of the set), so that an article
  // decided elsewhere, whose set may be unknown here, can be forgotten;
  // the set hash tells sets with one fingerprint apart (the first stays).
  struct IdenticalSet {
    uint64_t first_seq = 0;  // F
    uint64_t set_hash = 0;
    uint64_t match_seq = kNoMatch;  // M, when F scored 1
    CopyMethod match_method = CopyMethod::kNone;
  };
  static constexpr uint64_t kNoMatch = UINT64_MAX;
  // Drops the sets whose first article is more than the horizon before
  // `seq`.
  void ExpireIdentical(uint64_t seq);
  size_t identical_horizon_ = 0;
  absl::flat_hash_map<uint64_t, IdenticalSet> identical_;
  // (first_seq, fingerprint) in seq order, for expiry.
  std::deque<std::pair<uint64_t, uint64_t>> identical_order_;
  // Articles ResolveIdentical decided -> their F, for the horizon (in seq
  // order in first_of_copy_order_, for expiry).
  absl::flat_hash_map<uint64_t, uint64_t> first_of_copy_;
  std::deque<uint64_t> first_of_copy_order_;
  uint64_t identical_decisions_ = 0;
};

}  // namespace storyd

#endif  // STORYD_CORE_COPY_DETECTOR_H_
