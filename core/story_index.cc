#include "core/story_index.h"

#include <algorithm>
#include <array>
#include <bitset>
#include <cmath>

namespace storyd {
namespace {

// Candidate stories scored exactly per lookup, after a first pass over the
// postings; and the longest posting list read in that first pass (longer
// ones belong to words so common in the window that they tell stories
// apart poorly, and would make lookups slow).
constexpr size_t kMaxCandidates = 64;
constexpr size_t kMaxPostingScan = 256;
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
  // They are exact unless a posting list was too long to read; only then
  // are the leading candidates recomputed term by term.
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
  touched_slots_.clear();
  bool skipped_a_posting = false;
  double skipped_norm2 = 0;  // of the article's terms whose postings were
                             // skipped
  for (size_t i = 0; i < by_weight.size(); ++i) {
    const auto [weight, term] = by_weight[i];
    auto posting = postings_.find(term);
    if (posting == postings_.end()) continue;
    if (posting->second.size() > kMaxPostingScan) {
      skipped_a_posting = true;
      skipped_norm2 += static_cast<double>(weight) * weight;
      continue;
    }
    const bool tail = i >= tail_start;
    for (const Posting& entry : posting->second) {
      if (entry.weight == 0) continue;  // dropped from its centroid
      const double product = static_cast<double>(weight) * entry.weight;
      double& dot = dot_by_slot_[entry.slot];
      // Products are positive, so a slot is found once its dot is not 0.
      if (dot == 0) {
        if (tail) continue;
        touched_slots_.push_back(entry.slot);
      }
      dot += product;
    }
  }
  // Ranked by cosine, then key, so that the choice never depends on the
  // order the slots were touched in.
  std::vector<std::pair<double, uint64_t>> ranked;
  ranked.reserve(touched_slots_.size());
  for (uint32_t slot : touched_slots_) {
    const double dot = dot_by_slot_[slot];
    dot_by_slot_[slot] = 0;
    const uint64_t key = slot_key_[slot];
    if (key == kNoStory) continue;  // expired; its postings linger
    ranked.emplace_back(-dot / std::sqrt(slot_norm2_[slot]), key);
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
  // Only the leading kMaxCandidates can win: the score never exceeds the
  // cosine, and the first candidates are re-scored exactly below. They are
  // taken from a heap in order (smallest -cosine, then key, first), because
  // without a skipped posting the loop usually stops after one or two.
  auto after = [](const std::pair<double, uint64_t>& a,
                  const std::pair<double, uint64_t>& b) { return a > b; };
  // The exact cosine of a candidate is its cosine from the postings read
  // plus at most the norm of the article's skipped terms (Cauchy-Schwarz;
  // 0 when none was skipped), with a margin for rounding: a candidate whose
  // bound is under the best score so far cannot win.
  const double unread_bound =
      skipped_a_posting ? std::sqrt(skipped_norm2) + 1e-9 : 0.0;
  auto exact_cosine = [&](const Story& story, double read_cosine) {
    if (!skipped_a_posting) return read_cosine;
    double dot = 0;
    for (const auto& [term, weight] : vector) {
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
    const auto [negative_cosine, key] =
        *std::min_element(ranked.begin(), ranked.end());
    const Story& story = stories_.at(key);
    StoryMatch leading;
    leading.cosine = exact_cosine(story, -negative_cosine);
    leading_exact.emplace(key, leading.cosine);
    score_of(story, &leading);
    std::erase_if(ranked, [&](const std::pair<double, uint64_t>& candidate) {
      return -candidate.first + unread_bound < leading.score;
    });
  }
  std::make_heap(ranked.begin(), ranked.end(), after);
  std::optional<StoryMatch> best;
  for (size_t taken = 0; taken < kMaxCandidates && !ranked.empty(); ++taken) {
    std::pop_heap(ranked.begin(), ranked.end(), after);
    const auto [negative_cosine, key] = ranked.back();
    ranked.pop_back();
    const Story& story = stories_.at(key);
    StoryMatch match;
    match.story = key;
    // Candidates come by falling cosine read and a score never exceeds its
    // cosine: once the bound drops below the best score, nothing left can
    // win.
    if (best.has_value() && -negative_cosine + unread_bound < best->score)
      break;
    match.cosine = leading_exact.has_value() && leading_exact->first == key
                       ? leading_exact->second
                       : exact_cosine(story, -negative_cosine);
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
    std::vector<Posting>& list = postings_[term];
    if (inserted) {
      entry.posting = static_cast<uint32_t>(list.size());
      list.push_back({story->slot, entry.weight});
      ++posting_entries_;
    } else {
      list[entry.posting].weight = entry.weight;
    }
  }
  slot_norm2_[story->slot] = story->norm2;
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
      postings_[terms[i].first][terms[i].second.posting].weight = 0;
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
    for (auto& [term, entry] : story.centroid) {
      std::vector<Posting>& list = postings_[term];
      entry.posting = static_cast<uint32_t>(list.size());
      list.push_back({story.slot, entry.weight});
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
