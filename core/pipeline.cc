#include "core/pipeline.h"

#include <xxhash.h>

#include <algorithm>

#include "core/state_record.h"
#include "core/strings.h"
#include "core/text_normalizer.h"

namespace storyd {

ArticleProcessor::ArticleProcessor(const BoilerplateStripper* stripper,
                                   CopyDetector* detector,
                                   const TermPrior* prior,
                                   const StoryTermConfig& story_terms,
                                   const LearnerConfig& learner)
    : stripper_(stripper),
      detector_(detector),
      prior_(prior),
      story_terms_(story_terms),
      learner_(learner) {}

std::string_view StoryDecisionName(StoryDecision decision) {
  switch (decision) {
    case StoryDecision::kNew:
      return "new";
    case StoryDecision::kCopy:
      return "copy";
    case StoryDecision::kSameStory:
      return "same_story";
  }
  return "new";
}

namespace {

// The title as story terms and text years read it.
std::string NormalizedTitle(const Article& article) {
  return NormalizeForMatching(FoldTypography(article.title));
}

}  // namespace

std::vector<ArticleTerm> ArticleProcessor::StoryTerms(
    const Article& article, std::string_view normalized_body,
    std::vector<std::string>* texts) const {
  return ExtractStoryTerms(NormalizedTitle(article), normalized_body,
                           story_terms_, *prior_, texts);
}

std::vector<uint16_t> ArticleProcessor::TextYearsOf(
    const Article& article, std::string_view normalized_body) const {
  return TextYears(NormalizedTitle(article), normalized_body,
                   static_cast<size_t>(story_terms_.text_year_chars),
                   article.url);
}

StrippedText ArticleProcessor::Clean(const Article& article,
                                     bool record_removed,
                                     LineVerdictMemo* memo) const {
  return stripper_->Strip(FoldTypography(article.body), record_removed, memo);
}

ArticleFeatures ArticleProcessor::Features(
    std::string_view normalized_body) const {
  return ComputeFeatures(normalized_body, detector_->config().shingle_size);
}

bool ArticleProcessor::Prepare(ArticleParser* parser, uint64_t seq,
                               std::string_view record, std::string_view key,
                               const LearnedBoilerplate* learned,
                               ProcessedArticle* out, std::string* normalized,
                               ProcessScratch* scratch) const {
  out->seq = seq;
  scratch->tokens_current = false;
  out->candidates.clear();
  out->shingle_set_hash = 0;
  out->skipped_search = SkippedSearch::kNone;
  out->search_pending = false;
  out->story_terms.clear();
  out->text_years.clear();
  out->story_terms_deferred = false;
  out->deferred_body.clear();
  out->shingles.clear();
  ParsedArticle parsed = parser->Parse(record, key);
  if (InputProblem* problem = std::get_if<InputProblem>(&parsed)) {
    out->problem = std::move(*problem);
    return false;
  }
  out->problem.reset();
  out->article = std::move(std::get<Article>(parsed));
  // A body this worker cleaned already (a verbatim copy) is not cleaned
  // again.
  const NormalizedTextMemo::Key text_key =
      NormalizedTextMemo::KeyOf(out->article.body, stripper_->rules_hash64());
  if (std::optional<std::string_view> known =
          scratch->normalized_texts.Find(text_key)) {
    normalized->assign(*known);
  } else {
    StrippedText cleaned =
        Clean(out->article, /*record_removed=*/false, &scratch->line_verdicts);
    *normalized = NormalizeForMatching(cleaned.text);
    scratch->normalized_texts.Store(text_key, *normalized);
  }
  const int shingle_size = detector_->config().shingle_size;
  FeatureMemo::Key memo_key = FeatureMemo::KeyOf(*normalized, shingle_size);
  // Whether out->short_lines are those of the text under memo_key.
  bool short_lines_of_key = false;
  out->short_lines.clear();
  if (learner_.enabled) {
    // The learner counts every short line; the ones it already knows as
    // boilerplate leave before fingerprinting and term extraction.
    const size_t max_words = learner_.max_line_words;
    if (const std::vector<uint64_t>* known_lines =
            scratch->feature_memo.FindShortLines(memo_key, max_words)) {
      out->short_lines = *known_lines;
    } else {
      out->short_lines = ShortLineHashes(*normalized, max_words);
    }
    short_lines_of_key = true;
    // out->short_lines hold the hash of every line RemoveLearnedLines
    // would remove, so a text none of whose short lines is learned (most
    // texts) is not scanned and copied again for nothing.
    if (learned != nullptr &&
        std::any_of(
            out->short_lines.begin(), out->short_lines.end(),
            [learned](uint64_t hash) { return learned->Contains(hash); }) &&
        RemoveLearnedLines(*learned, max_words, normalized) > 0) {
      memo_key = FeatureMemo::KeyOf(*normalized, shingle_size);
      short_lines_of_key = false;
    }
  }
  if (const CopyFeatures* known = scratch->feature_memo.Find(memo_key)) {
    // A text this worker has fingerprinted already: a verbatim copy. Its
    // tokens are made only if its story terms are wanted (Finish).
    out->fingerprint = known->simhash;
    out->shingle_set_hash =
        skip_identical_fingerprints_ ? known->shingle_set_hash : 0;
    out->shingles = known->shingles;
    return true;
  }
  // The body is tokenized and its tokens hashed once, for both the copy
  // features and the story terms (what Features and StoryTerms do apart).
  TokenizeBody(*normalized, scratch);
  ArticleFeatures features = ComputeFeaturesFromTokenHashes(
      scratch->token_hashes, shingle_size, &scratch->shingle_buffer);
  CopyFeatures computed;
  computed.simhash = features.simhash;
  computed.shingle_set_hash =
      features.shingles.empty() ? 0
                                : ShingleWindow::ContentHash(features.shingles);
  computed.shingles = std::move(features.shingles);
  if (short_lines_of_key) {
    computed.short_lines = out->short_lines;
    computed.short_line_words = learner_.max_line_words;
  }
  scratch->feature_memo.Store(memo_key, computed);
  out->fingerprint = computed.simhash;
  out->shingle_set_hash =
      skip_identical_fingerprints_ ? computed.shingle_set_hash : 0;
  out->shingles = std::move(computed.shingles);
  return true;
}

void ArticleProcessor::TokenizeBody(std::string_view normalized,
                                    ProcessScratch* scratch) {
  scratch->tokens.clear();
  Tokenize(normalized, &scratch->tokens);
  TermHashes(scratch->tokens, &scratch->token_hashes);
  scratch->tokens_current = true;
}

void ArticleProcessor::Finish(std::string* normalized, ProcessedArticle* out,
                              ProcessScratch* scratch) const {
  const uint64_t seq = out->seq;
  const bool matched_earlier = std::any_of(
      out->candidates.begin(), out->candidates.end(),
      [seq](const CopyCandidate& candidate) { return candidate.seq < seq; });
  if (story_terms_.enabled && defer_copy_story_terms_ && matched_earlier) {
    // Most likely a copy, which inherits its story: see
    // ProcessedArticle::story_terms_deferred.
    out->story_terms_deferred = true;
    out->deferred_body = std::move(*normalized);
  } else {
    if (story_terms_.enabled) {
      if (!scratch->tokens_current) TokenizeBody(*normalized, scratch);
      const std::string title = NormalizedTitle(out->article);
      out->story_terms = ExtractStoryTermsFromTokens(
          title, *normalized, scratch->tokens, scratch->token_hashes,
          story_terms_, *prior_, &scratch->story_terms);
      out->text_years = TextYears(
          title, *normalized, static_cast<size_t>(story_terms_.text_year_chars),
          out->article.url);
    }
    out->deferred_body.clear();
  }
  if (!keep_shingles_ && !out->search_pending &&
      out->skipped_search == SkippedSearch::kNone) {
    out->shingles.clear();
  }
  out->article.body.clear();
  out->article.body.shrink_to_fit();
}

void ArticleProcessor::Process(ArticleParser* parser, uint64_t seq,
                               std::string_view record, std::string_view key,
                               const LearnedBoilerplate* learned,
                               ProcessedArticle* out,
                               ProcessScratch* scratch) const {
  std::optional<ProcessScratch> own_scratch;
  if (scratch == nullptr) {
    // One article: the memos would only cost their allocation.
    own_scratch.emplace();
    own_scratch->feature_memo = FeatureMemo(0);
    own_scratch->normalized_texts = NormalizedTextMemo(0);
    own_scratch->line_verdicts = LineVerdictMemo(/*enabled=*/false);
    scratch = &*own_scratch;
  }
  std::string normalized;
  if (!Prepare(parser, seq, record, key, learned, out, &normalized, scratch)) {
    return;
  }
  // Insert first, then search: see core/copy_detector.h.
  detector_->Insert(seq, out->fingerprint, out->shingles);
  out->skipped_search =
      detector_->Find(seq, out->fingerprint, out->shingles, &out->candidates,
                      {.skip_identical = skip_identical_fingerprints_,
                       .content_hash = out->shingle_set_hash});
  Finish(&normalized, out, scratch);
}

void ArticleProcessor::Index(ArticleParser* parser, uint64_t seq,
                             std::string_view record, std::string_view key,
                             const LearnedBoilerplate* learned,
                             ProcessedArticle* out,
                             ProcessScratch* scratch) const {
  std::string normalized;
  if (!Prepare(parser, seq, record, key, learned, out, &normalized, scratch)) {
    return;
  }
  detector_->Insert(seq, out->fingerprint, out->shingles);
  // A verbatim copy of an article indexed already needs no search: it is
  // decided from that article's decision (Assigner::ShortcutIdentical-
  // Copies). Any other article gets its story terms now, while its tokens
  // are in cache: whether it is a copy is known only after its search,
  // and a copy's terms go unused.
  if (skip_identical_fingerprints_ &&
      detector_->FindIdenticalEarlier(seq, out->shingles, out->shingle_set_hash,
                                      &out->candidates)) {
    out->skipped_search = SkippedSearch::kAll;
  } else {
    out->search_pending = true;
  }
  Finish(&normalized, out, scratch);
}

void ArticleProcessor::SearchEarlier(ProcessedArticle* out,
                                     uint64_t order_slack) const {
  if (!out->search_pending) return;
  out->search_pending = false;
  out->skipped_search = detector_->Find(
      out->seq, out->fingerprint, out->shingles, &out->candidates,
      {.skip_identical = skip_identical_fingerprints_,
       .earlier_only = true,
       .order_slack = order_slack,
       .content_hash = out->shingle_set_hash});
  if (!keep_shingles_ && out->skipped_search == SkippedSearch::kNone) {
    out->shingles.clear();
  }
}

std::string StoryIdFor(std::string_view canonical_id) {
  std::string id = "s";
  AppendHex16(XXH3_64bits(canonical_id.data(), canonical_id.size()), &id);
  return id;
}

std::string FormatAssignmentJson(const Assignment& a) {
  std::string out;
  out.reserve(256);
  auto field = [&](std::string_view name) {
    out.append(out.empty() ? "{\"" : ",\"");
    out.append(name);
    out.append("\":");
  };
  auto optional_string = [&](std::string_view name,
                             const std::optional<std::string>& value) {
    field(name);
    if (value.has_value()) {
      AppendJsonString(*value, &out);
    } else {
      out.append("null");
    }
  };
  field("id");
  AppendJsonString(a.id, &out);
  field("story_id");
  AppendJsonString(a.story_id, &out);
  field("canonical_id");
  AppendJsonString(a.canonical_id, &out);
  field("decision");
  AppendJsonString(StoryDecisionName(a.decision), &out);
  field("story_score");
  if (a.story_score.has_value()) {
    AppendFixed(*a.story_score, 4, &out);
  } else {
    out.append("null");
  }
  optional_string("dup_of", a.dup_of);
  optional_string("match_id", a.match_id);
  field("score");
  AppendFixed(a.score, 4, &out);
  field("method");
  AppendJsonString(CopyMethodName(a.method), &out);
  field("hamming");
  out.append(a.hamming >= 0 ? StrCat(a.hamming) : "null");
  field("fingerprint");
  out.push_back('"');
  AppendHex16(a.fingerprint, &out);
  out.push_back('"');
  optional_string("published_at",
                  a.published_at.empty()
                      ? std::nullopt
                      : std::optional<std::string>(a.published_at));
  out.push_back('}');
  return out;
}

Assigner::Assigner(size_t history, const StoryConfig& story,
                   const LearnerConfig& learner)
    : resolver_(history),
      stories_(story),
      learner_(learner),
      recent_(history) {}

void Assigner::Remember(const RecentArticle& article) {
  recent_.Add(article, keep_forgotten_ ? &forgotten_ : nullptr);
}

std::string_view Assigner::MergedCanonical(
    std::string_view canonical_id) const {
  // Merges point at an earlier story, so chains end; the bound guards
  // against a changelog that says otherwise.
  std::string_view current = canonical_id;
  for (int hop = 0; hop < 64; ++hop) {
    auto it =
        merged_into_.find(absl::string_view(current.data(), current.size()));
    if (it == merged_into_.end()) break;
    current = it->second;
  }
  return current;
}

std::optional<int64_t> Assigner::TimestampOf(std::string_view id) const {
  std::optional<uint64_t> seq = SeqOf(id);
  std::optional<RecentArticle> remembered =
      seq.has_value() ? Recall(*seq) : std::nullopt;
  if (!remembered.has_value()) return std::nullopt;
  return remembered->timestamp_ms;
}

std::optional<uint64_t> Assigner::SeqOf(std::string_view id) const {
  return recent_.SeqOf(id);
}

void Assigner::Skip(const ProcessedArticle& processed) {
  resolver_.Reject(processed.seq, processed.candidates);
}

bool Assigner::ApplyArticle(uint64_t seq, const ArticleRecord& record,
                            bool own) {
  const Assignment& a = record.assignment;
  if (recent_.Contains(a.id)) return false;
  std::optional<uint64_t> original_seq;
  std::optional<RecentArticle> original;
  if (a.dup_of.has_value()) {
    original_seq = SeqOf(*a.dup_of);
    if (original_seq.has_value()) original = Recall(*original_seq);
  }
  resolver_.Restore(seq, original_seq, a.fingerprint);
  // Later copies of its text are searched, not decided like an article
  // remembered here (CopyResolver::ForgetIdentical).
  resolver_.ForgetIdentical(a.fingerprint);
  uint64_t story = seq;
  if (a.decision == StoryDecision::kCopy) {
    if (original.has_value()) {
      story = original->story;
    } else {
      story = stories_.KeyOf(a.canonical_id).value_or(seq);
    }
  } else {
    std::optional<uint64_t> active = stories_.KeyOf(a.canonical_id);
    if (active.has_value()) {
      story = *active;
      stories_.AddToStory(story, record.vector, record.published_unix_sec,
                          record.text_years);
    } else {
      // Its story expired here, or its first article is not in the
      // changelog any more: start it again under its own canonical id, so
      // its story id stays the same.
      stories_.StartStory(seq, a.canonical_id, record.vector,
                          record.published_unix_sec, record.text_years);
    }
    std::vector<ArticleTerm> terms;
    terms.reserve(record.vector.size());
    for (const auto& [term, weight] : record.vector)
      terms.push_back({term, 1.0f, 0.0f});
    stories_.Observe(terms, record.published_unix_sec);
  }
  Remember({.seq = seq,
            .id = a.id,
            .canonical_id = a.canonical_id,
            .story = story,
            .timestamp_ms = record.timestamp_ms,
            .own = own});
  return true;
}

std::optional<MergeRecord> Assigner::FindSplit(
    const ArticleRecord& record, absl::Span<const CopyCandidate> copies) const {
  const Assignment& a = record.assignment;
  if (a.decision == StoryDecision::kCopy) return std::nullopt;
  const std::string_view remote = MergedCanonical(a.canonical_id);
  MergeRecord merge;
  std::optional<RecentArticle> local;  // an article of the other story
  // A copy of one of ours is the strongest sign; the best one decides. The
  // article is no copy where it was decided, so any copy of ours is in
  // another copy group: a copy-only merge when the story is the same.
  // Only this instance's own decisions are second-guessed here: the other
  // instance's articles among themselves are its business.
  for (const CopyCandidate& candidate : copies) {
    std::optional<RecentArticle> remembered = Recall(candidate.seq);
    if (!remembered.has_value() || !remembered->own) continue;
    if (!local.has_value() || candidate.score > merge.score) {
      local = remembered;
      merge.reason = MergeReason::kCopy;
      merge.match_id = remembered->id;
      merge.score = candidate.score;
    }
  }
  if (!local.has_value() && a.decision == StoryDecision::kNew &&
      !record.vector.empty()) {
    std::optional<StoryMatch> match = stories_.FindBest(
        record.vector, record.published_unix_sec, record.text_years);
    if (match.has_value() && stories_.Joins(*match)) {
      std::optional<RecentArticle> first = Recall(match->story);
      const std::string* first_id = stories_.FirstIdOf(match->story);
      if (first.has_value() && first->own && first_id != nullptr &&
          MergedCanonical(*first_id) != remote) {
        local = first;
        merge.reason = MergeReason::kSameStory;
        merge.match_id = first->id;
        merge.score = match->score;
      }
    }
  }
  if (!local.has_value()) return std::nullopt;
  // The other story's first article decides its age.
  const std::string_view other = MergedCanonical(local->canonical_id);
  const int64_t other_timestamp =
      TimestampOf(other).value_or(local->timestamp_ms);
  const int64_t remote_timestamp =
      TimestampOf(remote).value_or(record.timestamp_ms);
  const bool remote_earlier =
      std::pair(remote_timestamp, remote) < std::pair(other_timestamp, other);
  if (remote == other || a.decision == StoryDecision::kSameStory) {
    // Only the copy groups were split. An article that joined a story
    // elsewhere keeps it: merging two whole stories over one article that
    // chose another would join what the single-instance order keeps apart.
    merge.canonical_id = merge.into_canonical_id = remote;
    merge.article_id = a.id;
  } else if (remote_earlier) {
    merge.canonical_id = other;
    merge.into_canonical_id = remote;
    merge.article_id = merge.match_id;
    merge.match_id = a.id;
  } else {
    merge.canonical_id = remote;
    merge.into_canonical_id = other;
    merge.article_id = a.id;
  }
  return merge;
}

void Assigner::ApplyMerge(const MergeRecord& merge) {
  if (merge.canonical_id == merge.into_canonical_id ||
      MergedCanonical(merge.into_canonical_id) == merge.canonical_id) {
    return;  // already one story, or it would make a cycle
  }
  merged_into_[merge.canonical_id] = merge.into_canonical_id;
}

std::variant<Assignment, InputProblem> Assigner::Assign(
    const ProcessedArticle& processed, TermVector* story_vector) {
  if (processed.problem.has_value()) {
    resolver_.Reject(processed.seq, processed.candidates);
    return *processed.problem;
  }
  const Article& article = processed.article;
  if (recent_.Contains(article.id)) {
    resolver_.Reject(processed.seq, processed.candidates);
    return InputProblem{InputError::kDuplicateId,
                        StrCat("id '", article.id, "' was already processed")};
  }
  // A verbatim copy of an article remembered for its set is decided from
  // that article's decision (CopyResolver::ResolveIdentical); any other
  // article on its candidates, completed here by the search its worker
  // skipped (ShortcutIdenticalCopies).
  std::optional<CopyDecision> identical =
      resolver_.ResolveIdentical(processed.seq, processed.shingle_set_hash,
                                 processed.fingerprint, processed.candidates);
  CopyDecision decision;
  if (identical.has_value()) {
    decision = *identical;
  } else {
    absl::Span<const CopyCandidate> candidates = processed.candidates;
    std::vector<CopyCandidate> completed;
    if (copy_source_ != nullptr &&
        processed.skipped_search == SkippedSearch::kFingerprints) {
      completed = processed.candidates;
      copy_source_->FindByFingerprint(processed.seq, processed.fingerprint,
                                      processed.shingles, &completed,
                                      completion_search_.earlier_only);
      candidates = completed;
    } else if (copy_source_ != nullptr &&
               processed.skipped_search == SkippedSearch::kAll) {
      // The worker has only the copy its first anchor's chain gave.
      copy_source_->Find(processed.seq, processed.fingerprint,
                         processed.shingles, &completed, completion_search_);
      candidates = completed;
    }
    decision =
        resolver_.Resolve(processed.seq, processed.fingerprint, candidates);
    resolver_.RememberIdentical(processed.seq, processed.shingle_set_hash,
                                processed.fingerprint, decision);
  }
  Assignment assignment;
  assignment.id = article.id;
  assignment.fingerprint = processed.fingerprint;
  assignment.published_at = article.published_at;
  assignment.canonical_id = article.id;
  const std::optional<RecentArticle> original =
      decision.original_seq.has_value() ? Recall(*decision.original_seq)
                                        : std::nullopt;
  const std::optional<RecentArticle> matched =
      decision.matched_seq.has_value() ? Recall(*decision.matched_seq)
                                       : std::nullopt;
  // A copy's lines count under its original: only lines that recur across
  // different texts are boilerplate.
  learner_.Observe(decision.original_seq.value_or(processed.seq),
                   processed.short_lines);
  uint64_t story = processed.seq;
  if (original.has_value() && matched.has_value()) {
    // A copy inherits its original's story without a second search, and
    // teaches the document frequencies nothing new.
    assignment.dup_of = original->id;
    assignment.match_id = matched->id;
    assignment.canonical_id = original->canonical_id;
    assignment.score = decision.best.score;
    assignment.method = decision.best.method;
    assignment.hamming = decision.best.hamming;
    assignment.decision = StoryDecision::kCopy;
    story = original->story;
  } else if (!stories_.config().terms.enabled) {
    assignment.decision = StoryDecision::kNew;
  } else {
    const std::vector<ArticleTerm>* terms = &processed.story_terms;
    const std::vector<uint16_t>* text_years = &processed.text_years;
    std::vector<ArticleTerm> deferred_terms;
    std::vector<uint16_t> deferred_years;
    if (processed.story_terms_deferred && story_terms_source_ != nullptr) {
      // The worker took it for a copy; it is none after all.
      deferred_terms =
          story_terms_source_->StoryTerms(article, processed.deferred_body);
      deferred_years =
          story_terms_source_->TextYearsOf(article, processed.deferred_body);
      terms = &deferred_terms;
      text_years = &deferred_years;
    }
    TermVector vector = stories_.Weigh(*terms);
    std::optional<StoryMatch> match =
        stories_.FindBest(vector, article.published_unix_sec, *text_years);
    const std::string* first_id = match.has_value() && stories_.Joins(*match)
                                      ? stories_.FirstIdOf(match->story)
                                      : nullptr;
    if (first_id != nullptr) {
      assignment.decision = StoryDecision::kSameStory;
      assignment.canonical_id = *first_id;
      assignment.story_score = match->score;
      story = match->story;
      stories_.AddToStory(story, vector, article.published_unix_sec,
                          *text_years);
    } else {
      assignment.decision = StoryDecision::kNew;
      assignment.story_score = match.has_value() ? match->score : 0.0;
      stories_.StartStory(story, article.id, vector, article.published_unix_sec,
                          *text_years);
    }
    stories_.Observe(*terms, article.published_unix_sec);
    if (story_vector != nullptr) *story_vector = std::move(vector);
  }
  // MergedCanonical may return a view of its own argument.
  assignment.canonical_id =
      std::string(MergedCanonical(assignment.canonical_id));
  assignment.story_id = StoryIdFor(assignment.canonical_id);
  Remember({.seq = processed.seq,
            .id = assignment.id,
            .canonical_id = assignment.canonical_id,
            .story = story,
            .timestamp_ms = processed.timestamp_ms,
            .own = true});
  return assignment;
}

}  // namespace storyd
