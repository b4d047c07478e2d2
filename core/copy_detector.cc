#include "core/copy_detector.h"

#include <algorithm>
#include <utility>

namespace storyd {

std::string_view CopyMethodName(CopyMethod method) {
  switch (method) {
    case CopyMethod::kNone:
      return "none";
    case CopyMethod::kContainment:
      return "containment";
    case CopyMethod::kSimHash:
      return "simhash";
  }
  return "none";
}

CopyDetector::CopyDetector(const CopyConfig& config)
    : config_(config),
      fingerprints_(config.fingerprint_capacity, config.max_hamming),
      window_(config.window_arena_words, config.window_articles) {}

size_t CopyDetector::MemoryBytes() const {
  return fingerprints_.MemoryBytes() + window_.MemoryBytes();
}

bool CopyDetector::Accept(const ShingleMatch& match, size_t query_size) const {
  if (match.containment < config_.min_containment) return false;
  // A couple of shared stock phrases make a tiny set look "contained";
  // demand a few shared shingles unless the two sets are the same.
  bool identical = match.shared == match.set_size && match.shared == query_size;
  return identical || match.shared >= config_.min_shared_shingles;
}

SkippedSearch CopyDetector::InsertAndFind(uint64_t seq,
                                          const ArticleFeatures& features,
                                          std::vector<CopyCandidate>* out,
                                          bool skip_identical) {
  // Insert first, then look up: see the header for why this order makes
  // concurrent copies agree.
  Insert(seq, features.simhash, features.shingles);
  return Find(seq, features.simhash, features.shingles, out,
              {.skip_identical = skip_identical});
}

void CopyDetector::Insert(uint64_t seq, uint64_t fingerprint,
                          absl::Span<const uint32_t> shingles) {
  // The set goes in before the fingerprint, so a reader that sees the
  // fingerprint (acquire) also sees the set and confirms by containment;
  // the other order let a racing reader fall back to the SimHash alone and
  // made the output depend on timing.
  if (!shingles.empty()) window_.Insert(seq, shingles);
  fingerprints_.Insert(fingerprint, seq);
}

SkippedSearch CopyDetector::Find(uint64_t seq, uint64_t fingerprint,
                                 absl::Span<const uint32_t> shingles,
                                 std::vector<CopyCandidate>* out,
                                 const FindOptions& options) const {
  const size_t first = out->size();
  if (options.skip_identical &&
      FindIdenticalEarlier(seq, shingles, options.content_hash, out)) {
    return SkippedSearch::kAll;
  }
  std::vector<ShingleMatch> shingle_matches;
  if (!shingles.empty()) {
    window_.Lookup(shingles, config_.min_containment, config_.max_candidates,
                   &shingle_matches, options.earlier_only ? seq : UINT64_MAX,
                   options.order_slack);
  }
  bool identical_earlier = false;
  for (const ShingleMatch& match : shingle_matches) {
    if (match.seq == seq || !Accept(match, shingles.size())) continue;
    out->push_back(
        {match.seq, match.containment, -1, CopyMethod::kContainment});
    identical_earlier |= match.seq < seq && match.shared == match.set_size &&
                         match.shared == shingles.size();
  }
  if (options.skip_identical && identical_earlier) {
    return SkippedSearch::kFingerprints;
  }
  AddFingerprintMatches(seq, fingerprint, shingles, first, out,
                        options.earlier_only);
  return SkippedSearch::kNone;
}

bool CopyDetector::FindIdenticalEarlier(uint64_t seq,
                                        absl::Span<const uint32_t> shingles,
                                        uint64_t content_hash,
                                        std::vector<CopyCandidate>* out) const {
  if (shingles.empty()) return false;
  const std::optional<uint64_t> identical = window_.FindIdenticalEarlier(
      shingles,
      content_hash != 0 ? content_hash : ShingleWindow::ContentHash(shingles),
      seq);
  if (!identical.has_value()) return false;
  out->push_back({*identical, 1.0, -1, CopyMethod::kContainment});
  return true;
}

void CopyDetector::FindByFingerprint(uint64_t seq, uint64_t fingerprint,
                                     absl::Span<const uint32_t> shingles,
                                     std::vector<CopyCandidate>* out,
                                     bool earlier_only) const {
  AddFingerprintMatches(seq, fingerprint, shingles, 0, out, earlier_only);
}

void CopyDetector::AddFingerprintMatches(uint64_t seq, uint64_t fingerprint,
                                         absl::Span<const uint32_t> shingles,
                                         size_t first,
                                         std::vector<CopyCandidate>* out,
                                         bool earlier_only) const {
  std::vector<FingerprintMatch> fingerprint_matches;
  fingerprints_.Lookup(fingerprint, &fingerprint_matches);
  if (fingerprint_matches.empty()) return;
  // The candidates found before this lookup (the window's, at most
  // max_candidates), by seq: a fingerprint match among them only gets its
  // Hamming distance. The lookup reports each entry once, so the matches
  // added below need no such check. (Checking everything added made a
  // popular text's full search quadratic: with 21,000 copies of one text
  // in the fingerprint horizon, 4.4e8 comparisons a search.)
  std::vector<std::pair<uint64_t, size_t>> found_before;
  found_before.reserve(out->size() - first);
  for (size_t i = first; i < out->size(); ++i)
    found_before.emplace_back((*out)[i].seq, i);
  std::sort(found_before.begin(), found_before.end());
  // The copies of a popular text all match, with one set between them:
  // it is intersected once.
  std::vector<ShingleWindow::KnownSet> intersected;
  for (const FingerprintMatch& match : fingerprint_matches) {
    if (match.seq == seq || (earlier_only && match.seq > seq)) continue;
    // The first candidate with this seq, as a scan in order would find.
    auto known = std::lower_bound(found_before.begin(), found_before.end(),
                                  std::pair<uint64_t, size_t>{match.seq, 0});
    if (known != found_before.end() && known->first == match.seq) {
      (*out)[known->second].hamming = match.distance;
      continue;
    }
    // Confirm by containment while the candidate's set is in the window;
    // past the window the fingerprint alone decides.
    std::optional<ShingleMatch> confirmed =
        shingles.empty()
            ? std::nullopt
            : window_.Containment(shingles, match.seq, &intersected);
    if (confirmed.has_value()) {
      if (Accept(*confirmed, shingles.size())) {
        out->push_back({match.seq, confirmed->containment, match.distance,
                        CopyMethod::kContainment});
      }
    } else {
      out->push_back({match.seq, 1.0 - match.distance / 64.0, match.distance,
                      CopyMethod::kSimHash});
    }
  }
}

CopyCandidate CopyDetector::Compare(const ArticleFeatures& a,
                                    const ArticleFeatures& b) const {
  CopyCandidate result;
  result.hamming = HammingDistance(a.simhash, b.simhash);
  ShingleMatch match;
  match.shared =
      static_cast<uint32_t>(IntersectionSize(a.shingles, b.shingles));
  match.set_size = static_cast<uint32_t>(b.shingles.size());
  match.containment = Containment(a.shingles, b.shingles);
  result.score = match.containment;
  if (!a.shingles.empty() && !b.shingles.empty() &&
      Accept(match, a.shingles.size())) {
    result.method = CopyMethod::kContainment;
  }
  return result;
}

CopyResolver::CopyResolver(size_t history)
    : roots_(std::max<size_t>(history, 1)) {}

void CopyResolver::RecordLaterMatches(uint64_t seq,
                                      absl::Span<const CopyCandidate> found) {
  for (const CopyCandidate& candidate : found) {
    if (candidate.seq <= seq) continue;
    CopyCandidate reverse = candidate;
    reverse.seq = seq;
    found_by_earlier_[candidate.seq].push_back(reverse);
  }
}

std::optional<uint64_t> CopyResolver::RootOf(uint64_t seq) const {
  const RootSlot& slot = SlotOf(seq);
  if (slot.seq_plus_one != seq + 1)
    return seq;  // forgotten: the match stands for itself
  if (slot.root == kRejected) return std::nullopt;
  return slot.root;
}

void CopyResolver::Reject(uint64_t seq, absl::Span<const CopyCandidate> found) {
  RecordLaterMatches(seq, found);
  found_by_earlier_.erase(seq);
  SlotOf(seq) = {seq + 1, kRejected, 0};
}

void CopyResolver::Restore(uint64_t seq, std::optional<uint64_t> original_seq,
                           uint64_t fingerprint) {
  // Matches later articles found against this one do not change a decision
  // that was made elsewhere; they are dropped.
  found_by_earlier_.erase(seq);
  uint64_t root = seq;
  if (original_seq.has_value()) root = RootOf(*original_seq).value_or(seq);
  SlotOf(seq) = {seq + 1, root, fingerprint};
}

void CopyResolver::ExpireIdentical(uint64_t seq) {
  while (!first_of_copy_order_.empty() &&
         seq - first_of_copy_order_.front() > identical_horizon_) {
    first_of_copy_.erase(first_of_copy_order_.front());
    first_of_copy_order_.pop_front();
  }
  while (!identical_order_.empty() &&
         seq - identical_order_.front().first > identical_horizon_) {
    const auto [first_seq, fingerprint] = identical_order_.front();
    identical_order_.pop_front();
    auto it = identical_.find(fingerprint);
    if (it != identical_.end() && it->second.first_seq == first_seq) {
      identical_.erase(it);
    }
  }
}

std::optional<CopyDecision> CopyResolver::ResolveIdentical(
    uint64_t seq, uint64_t set_hash, uint64_t fingerprint,
    absl::Span<const CopyCandidate> found) {
  if (identical_horizon_ == 0 || set_hash == 0) return std::nullopt;
  ExpireIdentical(seq);
  auto it = identical_.find(fingerprint);
  if (it == identical_.end() || it->second.set_hash != set_hash ||
      it->second.first_seq >= seq) {
    return std::nullopt;
  }
  const IdenticalSet& set = it->second;
  CopyCandidate match =
      set.match_seq != kNoMatch
          ? CopyCandidate{set.match_seq, 1.0, -1, set.match_method}
          : CopyCandidate{set.first_seq, 1.0, -1, CopyMethod::kContainment};
  // F and M were accepted, so neither is rejected; a forgotten one stands
  // for itself, as in Resolve.
  const std::optional<uint64_t> root = RootOf(match.seq);
  if (!root.has_value()) return std::nullopt;
  RecordLaterMatches(seq, found);
  found_by_earlier_.erase(seq);
  CopyDecision decision;
  decision.matched_seq = match.seq;
  decision.original_seq = *root;
  decision.best = match;
  Conclude(seq, fingerprint, &decision);
  first_of_copy_.emplace(seq, set.first_seq);
  first_of_copy_order_.push_back(seq);
  ++identical_decisions_;
  return decision;
}

void CopyResolver::RememberIdentical(uint64_t seq, uint64_t set_hash,
                                     uint64_t fingerprint,
                                     const CopyDecision& decision) {
  if (identical_horizon_ == 0 || set_hash == 0) return;
  ExpireIdentical(seq);
  if (identical_.contains(fingerprint)) return;  // F stays the first
  IdenticalSet set;
  set.first_seq = seq;
  set.set_hash = set_hash;
  if (decision.matched_seq.has_value() && decision.best.score == 1.0) {
    set.match_seq = *decision.matched_seq;
    set.match_method = decision.best.method;
  }
  identical_.emplace(fingerprint, set);
  identical_order_.emplace_back(seq, fingerprint);
}

CopyDecision CopyResolver::Resolve(uint64_t seq, uint64_t fingerprint,
                                   absl::Span<const CopyCandidate> found) {
  RecordLaterMatches(seq, found);
  CopyDecision decision;
  auto consider = [&](CopyCandidate candidate) {
    if (candidate.seq >= seq) return;
    if (auto first = first_of_copy_.find(candidate.seq);
        first != first_of_copy_.end()) {
      candidate.seq = first->second;  // the same set, earlier
    }
    std::optional<uint64_t> root = RootOf(candidate.seq);
    if (!root.has_value()) return;
    // Highest score wins; on a tie the earlier article.
    if (!decision.matched_seq.has_value() ||
        candidate.score > decision.best.score ||
        (candidate.score == decision.best.score &&
         candidate.seq < *decision.matched_seq)) {
      decision.matched_seq = candidate.seq;
      decision.original_seq = *root;
      decision.best = candidate;
    }
  };
  for (const CopyCandidate& candidate : found) consider(candidate);
  if (auto it = found_by_earlier_.find(seq); it != found_by_earlier_.end()) {
    for (const CopyCandidate& candidate : it->second) consider(candidate);
    found_by_earlier_.erase(it);
  }
  Conclude(seq, fingerprint, &decision);
  return decision;
}

void CopyResolver::Conclude(uint64_t seq, uint64_t fingerprint,
                            CopyDecision* decision) {
  if (decision->matched_seq.has_value()) {
    // Computed here, not taken from the candidate, so that the output does
    // not depend on which of the two articles found the other.
    const RootSlot& matched = SlotOf(*decision->matched_seq);
    decision->best.hamming =
        matched.seq_plus_one == *decision->matched_seq + 1
            ? HammingDistance(fingerprint, matched.fingerprint)
            : -1;
  }
  SlotOf(seq) = {seq + 1, decision->original_seq.value_or(seq), fingerprint};
}

}  // namespace storyd
