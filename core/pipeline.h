// The per-article pipeline, split into its two stages:
//
//   ArticleProcessor (parallel)  parse -> fold typography -> strip
//                                boilerplate -> normalize -> features ->
//                                insert into and search the copy indexes
//                                -> story terms (core/story_terms.h)
//   Assigner (ordered)           duplicate-id check, copy decision, story
//                                decision (core/story_index.h), output record
//
// Workers run ArticleProcessor::Process on any thread; one thread feeds the
// results to Assigner::Assign in sequence order. The offline `storyd dedup`
// and the Kafka daemon both drive these two stages.
//
// Output record (one JSON object per line, fields in this order):
//   id           the article id
//   story_id     the canonical story: "s" + 16 hex digits of XXH3-64 of the
//                story's first article id; stable across runs and replays
//   canonical_id the story's first article id
//   decision     how the story was decided: "new" (first article of a new
//                story), "copy" (a copy inherits its original's story
//                without a second search) or "same_story" (an independent
//                report matched an active story)
//   story_score  for "same_story", the time-discounted cosine with the
//                story's centroid; for "new", the best score that fell short
//                of the threshold (0 when no story shared a term); null for
//                "copy"
//   dup_of       id of the original this article is a copy of (the first
//                article of its copy group), or null
//   match_id     id of the article it matched best (its original or an
//                earlier copy of it), or null
//   score        the copy score: containment of the best match (or
//                1 - hamming/64 when decided by SimHash alone); 0 when the
//                article is no copy
//   method       "containment", "simhash" or "none"
//   hamming      Hamming distance to match_id's fingerprint, or null
//   fingerprint  the article's 64-bit SimHash, 16 hex digits
//   published_at as given in the input, or null
//
// Thread safety: ArticleProcessor::Process may run on many threads at once
// (the processor is immutable; the CopyDetector is concurrent). Assigner is
// single-threaded.
#ifndef STORYD_CORE_PIPELINE_H_
#define STORYD_CORE_PIPELINE_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "core/article.h"
#include "core/boilerplate.h"
#include "core/boilerplate_learner.h"
#include "core/copy_detector.h"
#include "core/feature_memo.h"
#include "core/features.h"
#include "core/normalized_text_memo.h"
#include "core/recent_articles.h"
#include "core/story_index.h"
#include "core/story_terms.h"
#include "core/term_prior.h"

namespace storyd {

// Everything the worker stage learns about one input record.
struct ProcessedArticle {
  uint64_t seq = 0;
  std::optional<InputProblem> problem;  // set when the record is rejected
  Article article;                      // body cleared after processing
  uint64_t fingerprint = 0;
  std::vector<CopyCandidate> candidates;
  std::vector<ArticleTerm> story_terms;
  std::vector<uint16_t> text_years;  // TextYears of the title and lead
  // Set when the worker left story_terms and text_years empty because the
  // article matched an earlier one: a copy needs neither, and copies are
  // the commonest articles of a news stream. `deferred_body` then keeps the
  // normalized cleaned body, from which the ordered stage extracts them if
  // the article turns out to be no copy (its match was rejected or
  // forgotten). See Assigner::DeferCopyStoryTerms.
  bool story_terms_deferred = false;
  std::string deferred_body;
  std::vector<uint64_t> short_lines;  // for the boilerplate learner
  // The shingle set, kept when the processor is asked to (for the
  // changelog) and when a search was skipped.
  std::vector<uint32_t> shingles;
  // ShingleWindow::ContentHash of the set (0 when empty), and what the
  // worker left unsearched because the window gave an earlier article with
  // the same set (Assigner::ShortcutIdenticalCopies).
  uint64_t shingle_set_hash = 0;
  SkippedSearch skipped_search = SkippedSearch::kNone;
  int64_t timestamp_ms = 0;  // the input record's timestamp (daemon)
  // Between ArticleProcessor::Index and SearchEarlier: the copy search is
  // still to come (shingles are kept for it).
  bool search_pending = false;
};

// What a worker keeps from article to article in ArticleProcessor::Process
// (one per thread): buffers, whose contents mean nothing between calls,
// and two memos, of copy features and of line verdicts, which only save
// work (a hit gives what the computation would).
struct ProcessScratch {
  // The tokens of the last body prepared, and their hashes; stale when its
  // features came from the memo (tokens_current false).
  std::vector<std::string_view> tokens;
  std::vector<uint64_t> token_hashes;
  bool tokens_current = false;
  NormalizedTextMemo normalized_texts;
  FeatureMemo feature_memo;
  LineVerdictMemo line_verdicts;
  std::vector<uint32_t> shingle_buffer;
  StoryTermScratch story_terms;
};

// Runs the parallel stage.
class ArticleProcessor {
 public:
  ArticleProcessor(const BoilerplateStripper* stripper, CopyDetector* detector,
                   const TermPrior* prior, const StoryTermConfig& story_terms,
                   const LearnerConfig& learner = LearnerConfig{});

  // Processes one raw record (JSON bytes; `key` stands in for a missing id).
  // Lines in `learned` (may be null) are dropped after the rules.
  // `scratch` (may be null) is the calling thread's own.
  void Process(ArticleParser* parser, uint64_t seq, std::string_view record,
               std::string_view key, const LearnedBoilerplate* learned,
               ProcessedArticle* out, ProcessScratch* scratch = nullptr) const;

  // Process in two halves, for an offline run: Index does everything but
  // the copy search (story terms are extracted unless the article is a
  // verbatim copy of one indexed already, which needs no search);
  // SearchEarlier, called once every earlier article is indexed, the copy
  // search, for earlier articles only. Each search then finds what it would
  // find on one thread, whatever the thread count: the symmetric rule of
  // core/copy_detector.h does not survive the window's caps.
  // `order_slack` is the batch size; batches start at its multiples
  // (ShingleWindow::Lookup).
  void Index(ArticleParser* parser, uint64_t seq, std::string_view record,
             std::string_view key, const LearnedBoilerplate* learned,
             ProcessedArticle* out, ProcessScratch* scratch) const;
  void SearchEarlier(ProcessedArticle* out, uint64_t order_slack) const;

  // The cleaning half of Process, for `storyd strip` and `explain`.
  StrippedText Clean(const Article& article, bool record_removed,
                     LineVerdictMemo* memo = nullptr) const;
  // Keep each article's shingle set in ProcessedArticle::shingles. Set
  // before any Process call.
  void set_keep_shingles(bool keep) { keep_shingles_ = keep; }
  // Copy features of a normalized cleaned body (NormalizeForMatching).
  ArticleFeatures Features(std::string_view normalized_body) const;
  // Story terms of the title and a normalized cleaned body.
  std::vector<ArticleTerm> StoryTerms(
      const Article& article, std::string_view normalized_body,
      std::vector<std::string>* texts = nullptr) const;
  // Text years of the title and a normalized cleaned body (TextYears).
  std::vector<uint16_t> TextYearsOf(const Article& article,
                                    std::string_view normalized_body) const;

 private:
  // Only the Assigner that completes the deferred terms turns deferring on
  // (Assigner::DeferCopyStoryTerms), so that the two cannot be set apart.
  friend class Assigner;

  const BoilerplateStripper* stripper_;
  CopyDetector* detector_;
  const TermPrior* prior_;
  StoryTermConfig story_terms_;
  LearnerConfig learner_;
  bool keep_shingles_ = false;
  bool defer_copy_story_terms_ = false;
  bool skip_identical_fingerprints_ = false;
  // Process's front half, to the copy features (false: a rejected record;
  // the body's tokens are left in `scratch` unless its features came from
  // the memo), and its back half, after the copy search: story terms or
  // their deferral.
  bool Prepare(ArticleParser* parser, uint64_t seq, std::string_view record,
               std::string_view key, const LearnedBoilerplate* learned,
               ProcessedArticle* out, std::string* normalized,
               ProcessScratch* scratch) const;
  void Finish(std::string* normalized, ProcessedArticle* out,
              ProcessScratch* scratch) const;
  static void TokenizeBody(std::string_view normalized,
                           ProcessScratch* scratch);
};

enum class StoryDecision { kNew, kCopy, kSameStory };
std::string_view StoryDecisionName(StoryDecision decision);

// The decision for one article, ready to print or produce.
struct Assignment {
  std::string id;
  std::string story_id;
  std::string canonical_id;
  std::optional<std::string> dup_of;
  std::optional<std::string> match_id;
  StoryDecision decision = StoryDecision::kNew;
  std::optional<double> story_score;
  double score = 0;
  CopyMethod method = CopyMethod::kNone;
  int hamming = -1;
  uint64_t fingerprint = 0;
  std::string published_at;
};

// Story id of a story whose first article is `canonical_id`.
std::string StoryIdFor(std::string_view canonical_id);

// The output record as one line of JSON (no trailing newline).
std::string FormatAssignmentJson(const Assignment& assignment);

struct ArticleRecord;
struct MergeRecord;

// Runs the ordered stage.
class Assigner {
 public:
  // history: how many recent articles can still be matched (ids, roots).
  Assigner(size_t history, const StoryConfig& story,
           const LearnerConfig& learner = LearnerConfig{});

  // Returns the assignment, or the problem when the record is rejected
  // (bad input, or an id already seen). `story_vector` (may be null)
  // receives the article's story vector when it is no copy, for the
  // changelog. REQUIRES: increasing seq order across Assign, Skip and
  // ApplyArticle.
  std::variant<Assignment, InputProblem> Assign(
      const ProcessedArticle& processed, TermVector* story_vector = nullptr);

  // From now on `processor` leaves the story terms of an article that
  // matched an earlier one to this stage (ProcessedArticle::
  // story_terms_deferred), and Assign extracts them with it when the
  // article is no copy after all. Call before `processor` processes
  // anything; it must outlive this.
  void DeferCopyStoryTerms(ArticleProcessor* processor) {
    processor->defer_copy_story_terms_ = true;
    story_terms_source_ = processor;
  }

  // From now on this stage decides an article whose exact shingle set an
  // earlier accepted article had, within `horizon` articles, from that
  // article's decision (CopyResolver::ResolveIdentical: a verbatim copy,
  // the commonest article of a news stream), and `processor`'s workers do
  // not search for an article whose set the window gave them in an earlier
  // one (CopyDetector::Find: the SimHash chain grows with every copy of a
  // popular story, and the window's search re-reads every other version
  // of it); when such an article is not remembered here, this stage
  // searches for it what its worker skipped. Call before `processor`
  // processes anything; it must outlive this.
  void ShortcutIdenticalCopies(ArticleProcessor* processor, size_t horizon) {
    processor->skip_identical_fingerprints_ = true;
    copy_source_ = processor->detector_;
    resolver_.EnableIdenticalSets(horizon);
  }

  // For an offline run whose workers call ArticleProcessor::Index and
  // SearchEarlier: when this stage completes a worker's search, it also
  // searches for earlier articles only (`order_slack` as for those).
  void SearchEarlierOnly(uint64_t order_slack) {
    completion_search_ = {.earlier_only = true, .order_slack = order_slack};
  }

  // Articles decided as verbatim copies of a remembered set so far.
  uint64_t identical_decisions() const {
    return resolver_.identical_decisions();
  }

  // Passes over a record without deciding it: its decision is already in
  // the state (a replayed input record). Keeps the sequence order.
  void Skip(const ProcessedArticle& processed);

  // Applies an article decided by an earlier run of this instance (restore)
  // or by another instance (the changelog). Its copy and story decision
  // stand as recorded. `own`: this instance wrote it, so this instance
  // tombstones it once it is forgotten (TakeForgotten). Returns false, and
  // changes nothing, when the id is already known.
  bool ApplyArticle(uint64_t seq, const ArticleRecord& record, bool own);
  // Around a restore (ApplyArticle and ApplyMerge only, no FindSplit): the
  // story index builds its inverted index once at the end.
  void SetRestoring(bool restoring) { stories_.SetBulkLoading(restoring); }
  size_t active_stories() const { return stories_.active_stories(); }

  // For an article another instance decided as no copy: the merge with
  // what this instance decided, when that differs: it is a copy of one of
  // this instance's articles (reason copy; a copy-only merge, with the
  // same story on both sides, unless the article started its story), or
  // it started a story that matches one of this instance's stories
  // (reason same_story). `copies` are its matches in
  // this instance's copy index. The story whose first article is earlier
  // (input timestamp, then id) wins, so every instance that sees the split
  // decides it alike.
  std::optional<MergeRecord> FindSplit(
      const ArticleRecord& record,
      absl::Span<const CopyCandidate> copies) const;

  // From now on, the merged story's articles get the winner's story id.
  void ApplyMerge(const MergeRecord& merge);

  // The sequence number of a remembered article.
  std::optional<uint64_t> SeqOf(std::string_view id) const;

  // Ids of this instance's articles that left the history since the last
  // call (their changelog records can be tombstoned).
  // Only kept after KeepForgotten(true) (the daemon, which tombstones
  // them): offline nothing takes them, and they would pile up.
  std::vector<std::string> TakeForgotten() { return std::move(forgotten_); }
  void KeepForgotten(bool keep) { keep_forgotten_ = keep; }

  // The boilerplate lines learned so far (see core/boilerplate_learner.h).
  std::shared_ptr<const LearnedBoilerplate> LearnedSnapshot() {
    return learner_.Snapshot();
  }

 private:
  // The input timestamp of a remembered article.
  std::optional<int64_t> TimestampOf(std::string_view id) const;
  // The story an id now belongs to, after merges.
  std::string_view MergedCanonical(std::string_view canonical_id) const;
  std::optional<RecentArticle> Recall(uint64_t seq) const {
    return recent_.Find(seq);
  }
  void Remember(const RecentArticle& article);

  CopyResolver resolver_;
  StoryIndex stories_;
  const ArticleProcessor* story_terms_source_ = nullptr;
  const CopyDetector* copy_source_ = nullptr;
  // How this stage completes a worker's skipped search.
  FindOptions completion_search_;
  BoilerplateLearner learner_;
  // The last `history` accepted articles (the constructor's): a duplicate
  // id is caught within that horizon. Memory grows with what was seen, up to
  // the bound.
  RecentArticles recent_;
  std::vector<std::string> forgotten_;
  bool keep_forgotten_ = false;
  // Merged stories: canonical id -> the canonical id it was merged into.
  absl::flat_hash_map<std::string, std::string> merged_into_;
};

}  // namespace storyd

#endif  // STORYD_CORE_PIPELINE_H_
