#include "core/pipeline.h"

#include <xxhash.h>

#include "absl/strings/str_format.h"
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

std::vector<ArticleTerm> ArticleProcessor::StoryTerms(
    const Article& article, std::string_view normalized_body,
    std::vector<std::string>* texts) const {
  std::string title = NormalizeForMatching(FoldTypography(article.title));
  return ExtractStoryTerms(title, normalized_body, story_terms_, *prior_,
                           texts);
}

StrippedText ArticleProcessor::Clean(const Article& article,
                                     bool record_removed) const {
  return stripper_->Strip(FoldTypography(article.body), record_removed);
}

ArticleFeatures ArticleProcessor::Features(
    std::string_view normalized_body) const {
  return ComputeFeatures(normalized_body, detector_->config().shingle_size);
}

void ArticleProcessor::Process(ArticleParser* parser, uint64_t seq,
                               std::string_view record, std::string_view key,
                               const LearnedBoilerplate* learned,
                               ProcessedArticle* out) const {
  out->seq = seq;
  out->candidates.clear();
  ParsedArticle parsed = parser->Parse(record, key);
  if (InputProblem* problem = std::get_if<InputProblem>(&parsed)) {
    out->problem = std::move(*problem);
    return;
  }
  out->problem.reset();
  out->article = std::move(std::get<Article>(parsed));
  StrippedText cleaned = Clean(out->article, /*record_removed=*/false);
  std::string normalized = NormalizeForMatching(cleaned.text);
  out->short_lines.clear();
  if (learner_.enabled) {
    // The learner counts every short line; the ones it already knows as
    // boilerplate leave before fingerprinting and term extraction.
    out->short_lines = ShortLineHashes(normalized, learner_.max_line_words);
    if (learned != nullptr) {
      RemoveLearnedLines(*learned, learner_.max_line_words, &normalized);
    }
  }
  ArticleFeatures features = Features(normalized);
  out->fingerprint = features.simhash;
  detector_->InsertAndFind(seq, features, &out->candidates);
  out->story_terms = StoryTerms(out->article, normalized);
  out->article.body.clear();
  out->article.body.shrink_to_fit();
}

std::string StoryIdFor(std::string_view canonical_id) {
  return absl::StrFormat("s%016x",
                         XXH3_64bits(canonical_id.data(), canonical_id.size()));
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
  out.append(a.story_score.has_value() ? absl::StrFormat("%.4f", *a.story_score)
                                       : "null");
  optional_string("dup_of", a.dup_of);
  optional_string("match_id", a.match_id);
  field("score");
  out.append(absl::StrFormat("%.4f", a.score));
  field("method");
  AppendJsonString(CopyMethodName(a.method), &out);
  field("hamming");
  out.append(a.hamming >= 0 ? StrCat(a.hamming) : "null");
  field("fingerprint");
  out.append(absl::StrFormat("\"%016x\"", a.fingerprint));
  optional_string("published_at",
                  a.published_at.empty()
                      ? std::nullopt
                      : std::optional<std::string>(a.published_at));
  out.push_back('}');
  return out;
}

Assigner::Assigner(size_t history, const StoryConfig& story,
                   const LearnerConfig& learner)
    : history_(std::max<size_t>(history, 1)),
      resolver_(history),
      stories_(story),
      learner_(learner) {}

const Assigner::Remembered* Assigner::Recall(uint64_t seq) const {
  auto it = recent_.find(seq);
  return it == recent_.end() ? nullptr : &it->second;
}

void Assigner::Remember(uint64_t seq, Remembered remembered) {
  recent_.emplace(seq, std::move(remembered));
  recent_order_.push_back(seq);
  if (recent_order_.size() > history_) {
    auto oldest = recent_.find(recent_order_.front());
    seen_ids_.erase(oldest->second.id);
    recent_.erase(oldest);
    recent_order_.pop_front();
  }
}

std::variant<Assignment, InputProblem> Assigner::Assign(
    const ProcessedArticle& processed) {
  if (processed.problem.has_value()) {
    resolver_.Reject(processed.seq, processed.candidates);
    return *processed.problem;
  }
  const Article& article = processed.article;
  if (!seen_ids_.insert(article.id).second) {
    resolver_.Reject(processed.seq, processed.candidates);
    return InputProblem{InputError::kDuplicateId,
                        StrCat("id '", article.id, "' was already processed")};
  }
  CopyDecision decision = resolver_.Resolve(
      processed.seq, processed.fingerprint, processed.candidates);
  Assignment assignment;
  assignment.id = article.id;
  assignment.fingerprint = processed.fingerprint;
  assignment.published_at = article.published_at;
  assignment.canonical_id = article.id;
  const Remembered* original = decision.original_seq.has_value()
                                   ? Recall(*decision.original_seq)
                                   : nullptr;
  const Remembered* matched = decision.matched_seq.has_value()
                                  ? Recall(*decision.matched_seq)
                                  : nullptr;
  // A copy's lines count under its original: only lines that recur across
  // different texts are boilerplate.
  learner_.Observe(decision.original_seq.value_or(processed.seq),
                   processed.short_lines);
  uint64_t story = processed.seq;
  if (original != nullptr && matched != nullptr) {
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
  } else {
    TermVector vector = stories_.Weigh(processed.story_terms);
    std::optional<StoryMatch> match =
        stories_.FindBest(vector, article.published_unix_sec);
    const std::string* first_id = match.has_value() && stories_.Joins(*match)
                                      ? stories_.FirstIdOf(match->story)
                                      : nullptr;
    if (first_id != nullptr) {
      assignment.decision = StoryDecision::kSameStory;
      assignment.canonical_id = *first_id;
      assignment.story_score = match->score;
      story = match->story;
      stories_.AddToStory(story, vector, article.published_unix_sec);
    } else {
      assignment.decision = StoryDecision::kNew;
      assignment.story_score = match.has_value() ? match->score : 0.0;
      stories_.StartStory(story, article.id, vector,
                          article.published_unix_sec);
    }
    stories_.Observe(processed.story_terms, article.published_unix_sec);
  }
  assignment.story_id = StoryIdFor(assignment.canonical_id);
  Remember(processed.seq, {assignment.id, assignment.canonical_id, story});
  return assignment;
}

}  // namespace storyd
