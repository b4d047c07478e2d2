// The story tier's view of one article: its content terms with boosted term
// frequencies and prior weights, extracted on the worker threads.
//
// Terms are the Unicode words of the normalized title and cleaned body (one
// ASCII character words dropped). Each occurrence counts `title_boost` in
// the title, `lead_boost` in the first `lead_lines` lines of the body and 1
// elsewhere: the title and lead say what the event is. The prior weight of a
// term is max(0, zipf_ceiling - zipf), with zipf from the TermPrior and
// `unknown_zipf` for words it does not know (names, rare words) and
// `number_zipf` for numbers (years, scores, counts): "the" and
// "said" weigh nothing, "antonov" far more than "russia". Terms with no
// prior weight are dropped here; the ordered stage blends in what the stream
// teaches (StoryIndex).
//
// Thread safety: pure functions over immutable inputs.
#ifndef STORYD_CORE_STORY_TERMS_H_
#define STORYD_CORE_STORY_TERMS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/types/span.h"
#include "core/term_prior.h"

namespace storyd {

struct StoryTermConfig {
  // false turns the story tier off: every article that is no copy starts
  // its own story (the copy tier alone, for comparison).
  bool enabled = true;
  double title_boost = 2.0;
  double lead_boost = 2.0;
  int lead_lines = 2;
  double zipf_ceiling = 6.0;  // words at least this common carry no weight
  double number_zipf = 3.0;   // numbers (all digits) count as this common
  double unknown_zipf =
      1.0;  // words the prior does not know count as this rare
  // The years (1900-2099) written in the title and the first
  // `text_year_chars` bytes of the body are the article's text years (see
  // TextYears); 0 turns them off.
  int text_year_chars = 300;
};

// The years an article's title and lead write out: every run of exactly
// four ASCII digits from 1900 to 2099 that no letter, digit or decimal
// point touches, in the title and the first `max_body_chars` bytes of the
// body. Datelines ("Posted: July 29, 2004", "2013-09-26") put them there,
// so they date an article that has no published_at, if coarsely. So does
// the article's `url`, when its path carries a date, as news sites' often
// do ("/2013/03/14/", "/2013-06-06/", "/20130314/"): those years come
// first. Sorted, unique, at most kMaxTextYears (the URL's, then the earliest
// in the text). `max_body_chars` = 0 turns them all off.
inline constexpr size_t kMaxTextYears = 8;
std::vector<uint16_t> TextYears(std::string_view title, std::string_view body,
                                size_t max_body_chars,
                                std::string_view url = {});

// Two sets of text years (each sorted) date different events: both have
// years and they share none.
bool TextYearsConflict(absl::Span<const uint16_t> a,
                       absl::Span<const uint16_t> b);

struct ArticleTerm {
  uint64_t hash = 0;
  float frequency = 0;  // boosted term frequency
  float prior_idf = 0;  // max(0, zipf_ceiling - zipf)
};

// Extracts the terms of an article, sorted by hash. `normalized_title` and
// `normalized_body` are NormalizeForMatching output; the body's lines are
// the cleaned lines. When `texts` is given, it receives each term's text in
// the same order (for `explain`).
std::vector<ArticleTerm> ExtractStoryTerms(
    std::string_view normalized_title, std::string_view normalized_body,
    const StoryTermConfig& config, const TermPrior& prior,
    std::vector<std::string>* texts = nullptr);

// Buffers ExtractStoryTermsFromTokens reuses from call to call (one per
// thread; the contents mean nothing between calls).
struct StoryTermScratch {
  struct Occurrence {
    uint64_t hash;
    uint32_t token;  // index into the title's tokens, then the body's
    float boost;
  };
  std::vector<std::string_view> title_tokens;
  std::vector<uint64_t> title_hashes;
  std::vector<Occurrence> occurrences, sort_buffer;
};

// The same as ExtractStoryTerms, for a caller that has tokenized the body
// already: `body_tokens` is Tokenize(normalized_body) (views into it) and
// `body_token_hashes` their TermHashes.
std::vector<ArticleTerm> ExtractStoryTermsFromTokens(
    std::string_view normalized_title, std::string_view normalized_body,
    absl::Span<const std::string_view> body_tokens,
    absl::Span<const uint64_t> body_token_hashes, const StoryTermConfig& config,
    const TermPrior& prior, StoryTermScratch* scratch,
    std::vector<std::string>* texts = nullptr);

}  // namespace storyd

#endif  // STORYD_CORE_STORY_TERMS_H_
