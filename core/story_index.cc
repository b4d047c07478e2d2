#include "core/story_index.h"

#include <algorithm>
#include <array>
#include <bitset>
#include <cmath>

namespace storyd {
namespace {

// The longest posting list a lookup reads (longer ones belong to words so
// common in the window that they tell stories apart poorly, and would make
// lookups slow): such a term adds to the candidates' exact scores but
// makes no story a candidate.
constexpr size_t kMaxPostingScan = 256;
// Postings a lookup reads rather than look a term up in one candidate's
// centroid.
constexpr size_t kPostingsPerCandidateLookup = 16;
constexpr uint64_t kExpiryInterval = 256;  // articles between expiry scans

}  // namespace

double DiscountedScore(double cosine, std::optional<double> hours_apart,
                       bool text_years_conflict, const StoryConfig& config) {
  double score = cosine;
  if (hours_apart.has_value()) {
    const double late = std::max(0.0, *hours_apart - config.time_grace_hours);
    score *= std::exp(-late / config.time_scale_hours);
  } else if (text_years_conflict) {
    score *= config.year_conflict_factor;
  }
  return score;
}

double Cosine(const TermVector& a, const TermVector& b) {
  double dot = 0;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i].first < b[j].first) {
      ++i;
    } else if (b[j].first < a[i].first) {
      ++j;
    } else {
      dot += static_cast<double>(a[i].second) * b[j].second;
      ++i;
      ++j;
    }
  }
  return dot;
}

StoryIndex::StoryIndex(const StoryConfig& config) : config_(config) {}

TermVector StoryIndex::Weigh(absl::Span<const ArticleTerm> terms) const {
  const double articles = scaled_articles_ / scale_;
  const double prior_share =
      config_.prior_articles / (config_.prior_articles + articles);
  // The logarithms an article needs again and again, each computed once,
  // from the same argument and so to the same bits: of the small whole
  // term frequencies, and the stream idf of a term the stream never saw.
  constexpr int kCachedFrequencies = 64;
  std::array<float, kCachedFrequencies + 1> log_frequency;
  std::bitset<kCachedFrequencies + 1> have_log_frequency;
  std::optional<double> unseen_stream_idf;
  TermVector vector;
  vector.reserve(terms.size());
  for (size_t i = 0; i < terms.size(); ++i) {
    const ArticleTerm& term = terms[i];
    double idf = term.prior_idf;
    if (prior_share < 1.0) {
      // The table is large: ask for a later term's slot ahead of its turn.
      constexpr size_t kPrefetchAhead = 8;
      if (i + kPrefetchAhead < terms.size())
        scaled_df_.prefetch(terms[i + kPrefetchAhead].hash);
      auto it = scaled_df_.find(term.hash);
      double stream_idf;
      if (it == scaled_df_.end()) {
        if (!unseen_stream_idf.has_value())
          unseen_stream_idf = std::log((articles + 1.0) / (0.0 + 1.0));
        stream_idf = *unseen_stream_idf;
      } else {
        double df = it->second / scale_;
        stream_idf = std::log((articles + 1.0) / (df + 1.0));
      }
      idf = prior_share * term.prior_idf + (1.0 - prior_share) * stream_idf;
    }
    const float frequency = std::max(1.0f, term.frequency);
    float log_tf;
    if (frequency <= kCachedFrequencies &&
        frequency == static_cast<float>(static_cast<int>(frequency))) {
      const int k = static_cast<int>(frequency);
      if (!have_log_frequency[k]) {
        log_frequency[k] = std::log(frequency);
        have_log_frequency[k] = true;
      }
      log_tf = log_frequency[k];
    } else {
      log_tf = std::log(frequency);
    }
    double weight = (1.0 + log_tf) * idf;
    if (weight > 0) vector.emplace_back(term.hash, static_cast<float>(weight));
  }
  const size_t keep = static_cast<size_t>(std::max(1, config_.max_terms));
  if (vector.size() > keep) {
    std::nth_element(vector.begin(), vector.begin() + keep, vector.end(),
                     [](const auto& a, const auto& b) {
                       return a.second != b.second ? a.second > b.second
                                                   : a.first < b.first;
                     });
    vector.resize(keep);
  }
  // Terms come sorted by hash, and so does the vector unless trimmed.
  if (!std::is_sorted(vector.begin(), vector.end()))
    std::sort(vector.begin(), vector.end());
  double norm2 = 0;
  for (const auto& [hash, weight] : vector)
    norm2 += static_cast<double>(weight) * weight;
  if (norm2 > 0) {
    const double inverse = 1.0 / std::sqrt(norm2);
    for (auto& entry : vector)
      entry.second = static_cast<float>(entry.second * inverse);
  }
  return vector;
}

std::optional<StoryMatch> StoryIndex::FindBest(
    const TermVector& vector, std::optional<int64_t> unix_seconds,
    absl::Span<const uint16_t> text_years) const {
  // Dot products with every story that shares a term, from the postings.
  // They are exact unless a posting list was skipped as too long to read;
  // only then are candidates re-scored, with the skipped terms looked up
  // in their centroids.
  //
  // Terms go heaviest first. The lightest terms whose weights have an L2
  // norm below the threshold (the "tail") only add to stories already
  // found: by Cauchy-Schwarz a story that shares nothing but tail terms has
  // a cosine below that norm, so it can never be joined. This keeps the
  // many light background terms from making every story that shares one a
  // candidate. (Only the reported best score of an article that starts a
  // story can differ.)
  std::vector<std::pair<float, uint64_t>> by_weight;
  by_weight.reserve(vector.size());
  for (const auto& [term, weight] : vector)
    by_weight.emplace_back(weight, term);
  std::sort(by_weight.begin(), by_weight.end(), std::greater<>());
  size_t tail_start = by_weight.size();
  double tail_norm2 = 0;
  const double bound2 = config_.threshold * config_.threshold;
  while (tail_start > 0) {
    const double weight = by_weight[tail_start - 1].first;
    if (tail_norm2 + weight * weight >= bound2) break;
    tail_norm2 += weight * weight;
    --tail_start;
  }
  if (dot_by_slot_.size() < slot_key_.size()) {
    dot_by_slot_.resize(slot_key_.size(), 0.0);
  }
  // The lists to read, and room for every slot they could touch; the lists
  // too long to read for candidates come after.
  std::vector<std::pair<float, const PostingList*>> lists;
  lists.reserve(by_weight.size());
  std::vector<std::pair<uint64_t, float>> long_lists;  // terms, weights
  size_t posting_count = 0;
  size_t head_lists = 0;  // the lists before the tail's
  for (size_t i = 0; i < by_weight.size(); ++i) {
    const auto [weight, term] = by_weight[i];
    auto posting = postings_.find(term);
    if (posting == postings_.end()) continue;
    const PostingList& list = posting->second;
    if (list.entries.size() > kMaxPostingScan) {
      long_lists.emplace_back(term, weight);
      continue;
    }
    if (i < tail_start) ++head_lists;
    lists.emplace_back(weight, &list);
    posting_count += list.entries.size();
  }
  touched_slots_.resize(posting_count);
  // Local copies: the compiler cannot keep members in registers across the
  // stores into the scratch arrays.
  double* const dots = dot_by_slot_.data();
  uint32_t* const touched = touched_slots_.data();
  size_t touched_count = 0;
  // Without branches on the data: whether a posting finds a new slot is a
  // coin toss the branch predictor loses about half the time. Products are
  // positive (a posting's weight is 0 only once dropped from its centroid),
  // so a slot is new while its dot is 0, and adding 0 leaves a dot as it is.
  auto read = [&](const PostingList& list, double weight, bool finds) {
    for (const Posting& entry : list.entries) {
      const double product = weight * entry.weight;
      double& dot = dots[entry.slot];
      const bool fresh = dot == 0;
      const bool counts = !(fresh && !finds);
      touched[touched_count] = entry.slot;
      touched_count += fresh & counts & (product > 0);
      dot += counts ? product : 0.0;
    }
  };
  for (size_t l = 0; l < lists.size(); ++l)
    read(*lists[l].second, lists[l].first, l < head_lists);
  // A long list only adds to the candidates found. It is read when that
  // costs less than looking the term up in the centroid of each candidate
  // re-scored below (a cache miss for each, against a streamed read per
  // posting); otherwise its term is "skipped" and bounded instead.
  bool skipped_a_posting = false;
  double skipped_norm2 = 0;      // of the skipped terms' weights
  double skipped_share_sum = 0;  // their weights times their max_share
  std::vector<std::pair<uint64_t, float>> skipped;  // terms, weights
  for (const auto& [term, weight] : long_lists) {
    const PostingList& list = postings_.find(term)->second;
    if (list.entries.size() <= kPostingsPerCandidateLookup * touched_count) {
      read(list, weight, false);
      continue;
    }
    skipped_a_posting = true;
    skipped_norm2 += static_cast<double>(weight) * weight;
    skipped_share_sum += weight * list.max_share;
    skipped.emplace_back(term, weight);
  }
  touched_slots_.resize(touched_count);
  // Ranked by cosine, then key, so that the choice never depends on the
  // order the slots were touched in.
  struct Candidate {
    double negative_cosine;  // of the postings read
    uint64_t key;
    double dot;  // of the postings read
    bool operator<(const Candidate& other) const {
      return negative_cosine != other.negative_cosine
                 ? negative_cosine < other.negative_cosine
                 : key < other.key;
    }
  };
  std::vector<Candidate> ranked;
  ranked.reserve(touched_slots_.size());
  for (uint32_t slot : touched_slots_) {
    const double dot = dots[slot];
    dots[slot] = 0;
    const uint64_t key = slot_key_[slot];
    if (key == kNoStory) continue;  // expired; its postings linger
    ranked.push_back({-dot / std::sqrt(slot_norm2_[slot]), key, dot});
  }
  // A candidate's score: its cosine, discounted by the time apart (when
  // both have times) or by the year factor.
  auto score_of = [&](const Story& story, StoryMatch* match) {
    if (unix_seconds.has_value() && story.first_time.has_value()) {
      int64_t seconds = 0;
      if (*unix_seconds < *story.first_time) {
        seconds = *story.first_time - *unix_seconds;
      } else if (*unix_seconds > *story.last_time) {
        seconds = *unix_seconds - *story.last_time;
      }
      match->hours_apart = static_cast<double>(seconds) / 3600.0;
    } else {
      match->year_conflict = config_.year_conflict_factor != 1.0 &&
                             TextYearsConflict(text_years, story.text_years);
    }
    match->score = DiscountedScore(match->cosine, match->hours_apart,
                                   match->year_conflict, config_);
  };
  // Candidates are re-scored exactly in order of falling cosine read, until
  // the bound below says none left can win. They are taken from a heap in
  // order (smallest -cosine, then key, first), because the loop usually
  // stops after a few. (The work is bounded by the postings read: no cap on
  // the candidates is needed, and none makes the result approximate.)
  auto after = [](const Candidate& a, const Candidate& b) { return b < a; };
  // The exact cosine of a candidate is its cosine from the postings read
  // plus what the skipped terms add: at most the norm of their weights
  // (Cauchy-Schwarz) and at most the sum of each weight times the term's
  // largest share in any story (0 when none was skipped), with a margin for
  // rounding. A candidate whose bound is under the best score so far cannot
  // win.
  const double unread_bound =
      skipped_a_posting
          ? std::min(std::sqrt(skipped_norm2), skipped_share_sum) + 1e-9
          : 0.0;
  // It adds the skipped terms' products, looked up in the centroid, to the
  // dot of the postings read (which holds every other shared term: the
  // candidate was found before the tail's lists were read).
  auto exact_cosine = [&](const Story& story, const Candidate& candidate) {
    if (!skipped_a_posting) return -candidate.negative_cosine;
    double dot = candidate.dot;
    for (const auto& [term, weight] : skipped) {
      auto it = story.centroid.find(term);
      if (it != story.centroid.end())
        dot += static_cast<double>(weight) * it->second.weight;
    }
    return dot / std::sqrt(story.norm2);
  };
  // The leading candidate's exact cosine, once computed for the pruning
  // below, is not computed again in the loop.
  std::optional<std::pair<uint64_t, double>> leading_exact;
  if (ranked.size() > 1) {
    // Thousands of stories may share a term with the article, and the loop
    // below stops at the first whose bound is under the best score so far,
    // which is at least the leading candidate's score: the others need not
    // go into the heap.
    const Candidate& first = *std::min_element(ranked.begin(), ranked.end());
    const Story& story = stories_.at(first.key);
    StoryMatch leading;
    leading.cosine = exact_cosine(story, first);
    leading_exact.emplace(first.key, leading.cosine);
    score_of(story, &leading);
    std::erase_if(ranked, [&](const Candidate& candidate) {
      return -candidate.negative_cosine + unread_bound < leading.score;
    });
  }
  std::make_heap(ranked.begin(), ranked.end(), after);
  std::optional<StoryMatch> best;
  while (!ranked.empty()) {
    std::pop_heap(ranked.begin(), ranked.end(), after);
    const Candidate candidate = ranked.back();
    const uint64_t key = candidate.key;
    ranked.pop_back();
    const Story& story = stories_.at(key);
    StoryMatch match;
    match.story = key;
    // Candidates come by falling cosine read and a score never exceeds its
    // cosine: once the bound drops below the best score, nothing left can
    // win.
    if (best.has_value() &&
        -candidate.negative_cosine + unread_bound < best->score)
      break;
    match.cosine = leading_exact.has_value() && leading_exact->first == key
                       ? leading_exact->second
                       : exact_cosine(story, candidate);
    score_of(story, &match);
    if (!best.has_value() || match.score > best->score ||
        (match.score == best->score && key < best->story)) {
      best = match;
    }
  }
  return best;
}

void StoryIndex::StartStory(uint64_t first_seq, std::string first_id,
                            const TermVector& vector,
                            std::optional<int64_t> unix_seconds,
                            absl::Span<const uint16_t> text_years) {
  Story& story = stories_[first_seq];
  // A restarted key keeps its slot (its postings are still valid for it).
  const uint32_t slot = story.first_id.empty() && story.members == 0
                            ? TakeSlot(first_seq)
                            : story.slot;
  story = Story{};
  story.slot = slot;
  key_by_first_id_[first_id] = first_seq;
  story.first_id = std::move(first_id);
  Add(&story, vector, unix_seconds, text_years);
}

uint32_t StoryIndex::TakeSlot(uint64_t key) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slot_key_.size());
    slot_key_.push_back(kNoStory);
    slot_norm2_.push_back(0);
  }
  slot_key_[slot] = key;
  slot_norm2_[slot] = 0;
  return slot;
}

void StoryIndex::AddToStory(uint64_t key, const TermVector& vector,
                            std::optional<int64_t> unix_seconds,
                            absl::Span<const uint16_t> text_years) {
  auto it = stories_.find(key);
  if (it != stories_.end()) Add(&it->second, vector, unix_seconds, text_years);
}

std::optional<uint64_t> StoryIndex::KeyOf(const std::string& first_id) const {
  auto it = key_by_first_id_.find(first_id);
  if (it == key_by_first_id_.end()) return std::nullopt;
  return it->second;
}

const std::string* StoryIndex::FirstIdOf(uint64_t key) const {
  auto it = stories_.find(key);
  return it == stories_.end() ? nullptr : &it->second.first_id;
}

void StoryIndex::Add(Story* story, const TermVector& vector,
                     std::optional<int64_t> unix_seconds,
                     absl::Span<const uint16_t> text_years) {
  for (uint16_t year : text_years) {
    auto at = std::lower_bound(story->text_years.begin(),
                               story->text_years.end(), year);
    if (at != story->text_years.end() && *at == year) continue;
    if (story->text_years.size() >= kMaxStoryYears) break;
    story->text_years.insert(at, year);
  }
  for (const auto& [term, weight] : vector) {
    auto [it, inserted] = story->centroid.try_emplace(term);
    Story::Term& entry = it->second;
    const double before = entry.weight;
    entry.weight += weight;
    story->norm2 +=
        static_cast<double>(entry.weight) * entry.weight - before * before;
    if (bulk_loading_) continue;
    std::vector<Posting>& list = postings_[term].entries;
    if (inserted) {
      entry.posting = static_cast<uint32_t>(list.size());
      list.push_back({story->slot, entry.weight});
      ++posting_entries_;
    } else {
      list[entry.posting].weight = entry.weight;
    }
  }
  slot_norm2_[story->slot] = story->norm2;
  // Only the article's terms gain share: the others' weights stay while
  // the norm grows.
  if (!bulk_loading_) RaiseShares(*story, vector);
  ++story->members;
  story->last_update = static_cast<uint64_t>(articles_);
  if (unix_seconds.has_value()) {
    story->first_time =
        std::min(story->first_time.value_or(*unix_seconds), *unix_seconds);
    story->last_time =
        std::max(story->last_time.value_or(*unix_seconds), *unix_seconds);
  }
  if (story->centroid.size() > 2 * config_.max_centroid_terms)
    PruneCentroid(story);
}

void StoryIndex::PruneCentroid(Story* story) {
  std::vector<std::pair<uint64_t, Story::Term>> terms(story->centroid.begin(),
                                                      story->centroid.end());
  std::sort(terms.begin(), terms.end(), [](const auto& a, const auto& b) {
    return a.second.weight != b.second.weight
               ? a.second.weight > b.second.weight
               : a.first < b.first;
  });
  // The dropped terms' postings weigh nothing from now on; ExpireStories
  // compacts them away.
  if (!bulk_loading_) {
    for (size_t i = config_.max_centroid_terms; i < terms.size(); ++i)
      postings_[terms[i].first].entries[terms[i].second.posting].weight = 0;
  }
  terms.resize(config_.max_centroid_terms);
  std::sort(terms.begin(), terms.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  absl::flat_hash_map<uint64_t, Story::Term> kept;
  kept.reserve(terms.size());
  story->norm2 = 0;
  for (const auto& [term, entry] : terms) {
    kept.emplace(term, entry);
    story->norm2 += static_cast<double>(entry.weight) * entry.weight;
  }
  story->centroid = std::move(kept);
  slot_norm2_[story->slot] = story->norm2;
  // A smaller norm: every kept term's share grew.
  if (!bulk_loading_) RaiseShares(*story, terms);
}

template <typename TermRange>
void StoryIndex::RaiseShares(const Story& story, const TermRange& terms) {
  const double inverse_norm = 1.0 / std::sqrt(story.norm2);
  for (const auto& [term, unused] : terms) {
    const double share = story.centroid.at(term).weight * inverse_norm;
    double& max_share = postings_[term].max_share;
    max_share = std::max(max_share, share);
  }
}

void StoryIndex::SetBulkLoading(bool bulk) {
  if (bulk_loading_ && !bulk) {
    bulk_loading_ = false;
    RebuildPostings();
  }
  bulk_loading_ = bulk;
}

void StoryIndex::RebuildPostings() {
  // In key order, so that posting lists come out the same on every run.
  postings_.clear();
  posting_entries_ = 0;
  // No posting names an expired story's slot any more.
  free_slots_.insert(free_slots_.end(), expired_slots_.begin(),
                     expired_slots_.end());
  expired_slots_.clear();
  std::vector<uint64_t> keys;
  keys.reserve(stories_.size());
  for (const auto& [key, story] : stories_) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  for (uint64_t key : keys) {
    Story& story = stories_.at(key);
    const double inverse_norm = 1.0 / std::sqrt(story.norm2);
    for (auto& [term, entry] : story.centroid) {
      PostingList& list = postings_[term];
      entry.posting = static_cast<uint32_t>(list.entries.size());
      list.entries.push_back({story.slot, entry.weight});
      list.max_share = std::max(list.max_share, entry.weight * inverse_norm);
      ++posting_entries_;
    }
  }
}

void StoryIndex::Observe(absl::Span<const ArticleTerm> terms,
                         std::optional<int64_t> unix_seconds) {
  articles_ += 1;
  scale_ = std::exp2(articles_ / config_.df_half_life_articles);
  if (scale_ > 1e100) {
    // Divide the scale back into the table before it overflows.
    for (auto& [term, df] : scaled_df_) df /= scale_;
    scaled_articles_ /= scale_;
    articles_ = 0;
    scale_ = 1;
  }
  for (const ArticleTerm& term : terms) scaled_df_[term.hash] += scale_;
  scaled_articles_ += scale_;
  if (scaled_df_.size() > config_.max_df_terms) PruneDocumentFrequencies();
  if (unix_seconds.has_value()) {
    stream_time_ =
        std::max(stream_time_.value_or(*unix_seconds), *unix_seconds);
  }
  if (static_cast<uint64_t>(articles_) % kExpiryInterval == 0) ExpireStories();
}

void StoryIndex::PruneDocumentFrequencies() {
  // Keep the most frequent half; ties broken by hash, so the result is the
  // same on every run.
  std::vector<std::pair<double, uint64_t>> entries;
  entries.reserve(scaled_df_.size());
  for (const auto& [term, df] : scaled_df_) entries.emplace_back(-df, term);
  // Only which entries are kept matters: partitioning around the median
  // picks the same half under this total order as a full sort would.
  const size_t keep = config_.max_df_terms / 2;
  std::nth_element(entries.begin(), entries.begin() + keep, entries.end());
  entries.resize(keep);
  scaled_df_.clear();
  for (const auto& [negative_df, term] : entries)
    scaled_df_.emplace(term, -negative_df);
}

void StoryIndex::ExpireStories() {
  const uint64_t now = static_cast<uint64_t>(articles_);
  std::vector<uint64_t> expired;
  size_t centroid_terms = 0;
  for (const auto& [key, story] : stories_) {
    bool idle_articles = now - story.last_update > config_.window_articles;
    bool idle_time = stream_time_.has_value() && story.last_time.has_value() &&
                     static_cast<double>(*stream_time_ - *story.last_time) >
                         config_.window_hours * 3600.0;
    if (idle_articles || idle_time) {
      expired.push_back(key);
    } else {
      centroid_terms += story.centroid.size();
    }
  }
  for (uint64_t key : expired) {
    auto it = stories_.find(key);
    auto by_id = key_by_first_id_.find(it->second.first_id);
    if (by_id != key_by_first_id_.end() && by_id->second == key)
      key_by_first_id_.erase(by_id);
    slot_key_[it->second.slot] = kNoStory;
    expired_slots_.push_back(it->second.slot);
    stories_.erase(it);
  }
  if (!bulk_loading_ && posting_entries_ > 2 * centroid_terms + 4096) {
    RebuildPostings();
  }
}

}  // namespace storyd
