// The story tier: groups articles that report the same news event.
//
// Each article becomes a sparse weighted term vector: for each of its terms
// (core/story_terms.h), weight = (1 + ln boosted_tf) * idf, where idf blends
// the shipped prior with document frequencies learned from the stream:
//
//   idf = a * prior_idf + (1 - a) * ln((N + 1) / (df + 1)),  a = n0 / (n0 + N)
//
// N and df decay with a half-life in articles, so the stream's notion of
// "common" follows the news. The top `max_terms` terms are kept and the
// vector is L2-normalized.
//
// A story is the sum of its members' vectors (a centroid, capped to its
// heaviest `max_centroid_terms` terms) with an inverted index from terms to
// the active stories. An article joins the story whose centroid has the
// highest cosine with its vector, discounted by time distance when both
// have times:
//
//   score = cosine * exp(-max(0, hours_apart - grace) / time_scale)
//
// if that score reaches `threshold`; otherwise it starts a new story.
//
// When the article or the story has no time, the years their texts are
// dated with stand in (TextYears: datelines in the title and lead): an
// article whose text years share none with the story's (the union of its
// members') has its score multiplied by `year_conflict_factor`. Reports of
// one event are dated alike; the same kind of event in another year (a
// second earthquake, another season's playoff win) shares their words but
// not their dates. Years alone are coarse, so this only weakens a match.
// Stories with no new member for `window_hours` of stream time (or
// `window_articles` articles, for streams without times) expire, which bounds
// memory.
//
// Thread safety: not thread-safe. The story index belongs to the ordered
// stage of the pipeline: a story decision depends on every earlier decision
// (centroids move), so the total order is what makes it deterministic.
// Workers do the expensive part (tokenizing, prior lookups) in parallel.
#ifndef STORYD_CORE_STORY_INDEX_H_
#define STORYD_CORE_STORY_INDEX_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/types/span.h"
#include "core/story_terms.h"

namespace storyd {

struct StoryConfig {
  StoryTermConfig terms;
  int max_terms = 60;            // terms kept per article vector
  double prior_articles = 5000;  // n0: the prior's weight, in articles
  double df_half_life_articles = 200000;
  size_t max_df_terms = 1 << 20;  // stream document-frequency table bound
  double threshold = 0.23;        // least score to join a story
  double time_grace_hours = 24;
  double time_scale_hours = 72;
  double window_hours = 168;        // story expiry in stream time
  size_t window_articles = 200000;  // story expiry in articles
  size_t max_centroid_terms = 300;
  // Score factor when the article's text years and the story's are disjoint
  // (and times are missing); 1 turns it off.
  double year_conflict_factor = 0.5;
};

// A normalized sparse vector, sorted by term hash.
using TermVector = std::vector<std::pair<uint64_t, float>>;

double Cosine(const TermVector& a, const TermVector& b);

// The score of an article against a story from their cosine: discounted
// by exp(-max(0, hours_apart - time_grace_hours) / time_scale_hours) when
// both have times, else by year_conflict_factor when their text years
// conflict (TextYearsConflict). StoryIndex::FindBest and `storyd explain`
// both score with it.
double DiscountedScore(double cosine, std::optional<double> hours_apart,
                       bool text_years_conflict, const StoryConfig& config);

struct StoryMatch {
  uint64_t story = 0;  // the story's key: its first article's sequence number
  double score = 0;    // time-discounted cosine
  double cosine = 0;
  std::optional<double> hours_apart;
  bool year_conflict = false;  // the year factor applied
};

class StoryIndex {
 public:
  explicit StoryIndex(const StoryConfig& config);

  // The article's weighted vector under the current document frequencies.
  TermVector Weigh(absl::Span<const ArticleTerm> terms) const;

  // The best-scoring active story for `vector` among those it finds
  // (nullopt when it finds none); it joins that story when Joins() says so.
  // It finds the stories that share with `vector` a term outside its tail
  // (its lightest terms, with an L2 norm under the threshold) that is in at
  // most 256 stories: a story found by nothing else cannot reach the
  // threshold unless common words carry it. Scores are exact, whatever the
  // length of the lists. `text_years` are the article's TextYears (sorted).
  std::optional<StoryMatch> FindBest(
      const TermVector& vector, std::optional<int64_t> unix_seconds,
      absl::Span<const uint16_t> text_years = {}) const;
  bool Joins(const StoryMatch& match) const {
    return match.score >= config_.threshold;
  }
  const StoryConfig& config() const { return config_; }

  // Starts a story keyed by `first_seq`, or adds a member to one.
  void StartStory(uint64_t first_seq, std::string first_id,
                  const TermVector& vector, std::optional<int64_t> unix_seconds,
                  absl::Span<const uint16_t> text_years = {});
  void AddToStory(uint64_t story, const TermVector& vector,
                  std::optional<int64_t> unix_seconds,
                  absl::Span<const uint16_t> text_years = {});

  // The first article id of an active story (nullptr once expired).
  const std::string* FirstIdOf(uint64_t story) const;
  // The key of the active story whose first article is `first_id`.
  std::optional<uint64_t> KeyOf(const std::string& first_id) const;

  // Learns an article's terms into the stream document frequencies, moves
  // the clocks and expires inactive stories. Call once per distinct article.
  void Observe(absl::Span<const ArticleTerm> terms,
               std::optional<int64_t> unix_seconds);

  size_t active_stories() const { return stories_.size(); }

  // While bulk loading (a restore: StartStory, AddToStory and Observe
  // only), the inverted index is not kept up; it is built once when bulk
  // loading ends. FindBest must not be called meanwhile.
  void SetBulkLoading(bool bulk);
  double articles_seen() const { return articles_; }

 private:
  struct Story {
    std::string first_id;
    uint32_t slot = 0;  // its index in the per-slot arrays below
    struct Term {
      float weight = 0;
      uint32_t posting = 0;  // its entry in postings_[term]
    };
    absl::flat_hash_map<uint64_t, Term> centroid;
    double norm2 = 0;
    uint64_t members = 0;
    uint64_t last_update = 0;  // articles_ counter at the last member
    std::optional<int64_t> first_time, last_time;
    // The union of its members' text years, sorted (at most
    // kMaxStoryYears; later years beyond that are not kept).
    std::vector<uint16_t> text_years;
  };
  static constexpr size_t kMaxStoryYears = 16;

  void Add(Story* story, const TermVector& vector,
           std::optional<int64_t> unix_seconds,
           absl::Span<const uint16_t> text_years);
  void PruneCentroid(Story* story);
  void ExpireStories();
  void PruneDocumentFrequencies();

  StoryConfig config_;
  absl::flat_hash_map<uint64_t, Story> stories_;
  absl::flat_hash_map<std::string, uint64_t> key_by_first_id_;
  bool bulk_loading_ = false;
  // A story's weight for a term, copied from its centroid so that FindBest
  // reads posting lists front to back instead of looking each story up.
  struct Posting {
    uint32_t slot;  // the story's slot
    float weight;
  };
  void RebuildPostings();
  uint32_t TakeSlot(uint64_t key);

  // Stories are also numbered densely ("slots") so that FindBest can sum
  // dot products in a flat array. An expired story's slot is only reused
  // after RebuildPostings, which drops the postings that still name it.
  static constexpr uint64_t kNoStory = ~uint64_t{0};
  std::vector<uint64_t> slot_key_;       // slot -> story key, or kNoStory
  std::vector<double> slot_norm2_;       // slot -> the story's norm2
  std::vector<uint32_t> free_slots_;     // reusable now
  std::vector<uint32_t> expired_slots_;  // reusable after RebuildPostings
  // FindBest's scratch (the index is single-threaded): a dot product per
  // slot, zero between calls, and the slots it touched.
  mutable std::vector<double> dot_by_slot_;
  mutable std::vector<uint32_t> touched_slots_;
  struct PostingList {
    std::vector<Posting> entries;  // oldest first
    // At least the largest share weight / sqrt(norm2) of the term in any
    // of these stories' centroids: it bounds what the term can add to a
    // cosine when the list is too long to read. Raised as shares grow (a
    // story's norm only falls when its centroid is pruned), made exact
    // again by RebuildPostings.
    double max_share = 0;
  };
  // Raises the max_share of each of `terms`' lists to the story's share.
  template <typename TermRange>
  void RaiseShares(const Story& story, const TermRange& terms);
  absl::flat_hash_map<uint64_t, PostingList> postings_;  // term -> stories
  size_t posting_entries_ = 0;
  // Decayed document frequencies, scaled by 2^(articles / half-life) so that
  // decay never touches the table; divided back on use.
  absl::flat_hash_map<uint64_t, double> scaled_df_;
  double scaled_articles_ = 0;
  double scale_ = 1;
  double articles_ = 0;                 // articles observed (undecayed count)
  std::optional<int64_t> stream_time_;  // latest article time seen
};

}  // namespace storyd

#endif  // STORYD_CORE_STORY_INDEX_H_
