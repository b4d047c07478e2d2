#include "core/story_terms.h"

#include <algorithm>

#include "core/radix_sort.h"
#include "core/text_normalizer.h"

namespace storyd {
namespace {

bool IsNumber(std::string_view token) {
  return !token.empty() && std::all_of(token.begin(), token.end(), [](char c) {
    return c >= '0' && c <= '9';
  });
}

// Where the body's lead ends: just past its first `lead_lines` non-empty
// lines (tokens never cross a line break).
size_t LeadEnd(std::string_view body, int lead_lines) {
  size_t pos = 0;
  for (int lines = 0; lines < lead_lines && pos < body.size();) {
    const size_t end = body.find('\n', pos);
    if (end == std::string_view::npos) return body.size();
    if (end > pos) ++lines;
    pos = end + 1;
  }
  return pos;
}

}  // namespace

std::vector<ArticleTerm> ExtractStoryTerms(std::string_view normalized_title,
                                           std::string_view normalized_body,
                                           const StoryTermConfig& config,
                                           const TermPrior& prior,
                                           std::vector<std::string>* texts) {
  std::vector<std::string_view> tokens;
  Tokenize(normalized_body, &tokens);
  std::vector<uint64_t> hashes;
  TermHashes(tokens, &hashes);
  StoryTermScratch scratch;
  return ExtractStoryTermsFromTokens(normalized_title, normalized_body, tokens,
                                     hashes, config, prior, &scratch, texts);
}

std::vector<ArticleTerm> ExtractStoryTermsFromTokens(
    std::string_view normalized_title, std::string_view normalized_body,
    absl::Span<const std::string_view> body_tokens,
    absl::Span<const uint64_t> body_token_hashes, const StoryTermConfig& config,
    const TermPrior& prior, StoryTermScratch* scratch,
    std::vector<std::string>* texts) {
  // Every counted occurrence, then sorted by hash (stably: each term's
  // boosts are summed in text order, as a running count would) and merged.
  std::vector<std::string_view>& title_tokens = scratch->title_tokens;
  title_tokens.clear();
  Tokenize(normalized_title, &title_tokens);
  TermHashes(title_tokens, &scratch->title_hashes);
  std::vector<StoryTermScratch::Occurrence>& occurrences = scratch->occurrences;
  occurrences.clear();
  auto add = [&](std::string_view token, uint64_t hash, size_t index,
                 double boost) {
    if (token.size() == 1 && static_cast<unsigned char>(token[0]) < 0x80)
      return;
    occurrences.push_back(
        {hash, static_cast<uint32_t>(index), static_cast<float>(boost)});
  };
  for (size_t i = 0; i < title_tokens.size(); ++i)
    add(title_tokens[i], scratch->title_hashes[i], i, config.title_boost);
  const size_t lead_end = LeadEnd(normalized_body, config.lead_lines);
  for (size_t i = 0; i < body_tokens.size(); ++i) {
    const bool lead = static_cast<size_t>(body_tokens[i].data() -
                                          normalized_body.data()) < lead_end;
    add(body_tokens[i], body_token_hashes[i], title_tokens.size() + i,
        lead ? config.lead_boost : 1.0);
  }
  SortByKey(&occurrences, &scratch->sort_buffer,
            [](const StoryTermScratch::Occurrence& o) { return o.hash; });
  auto text_of = [&](uint32_t index) {
    return index < title_tokens.size()
               ? title_tokens[index]
               : body_tokens[index - title_tokens.size()];
  };

  std::vector<ArticleTerm> terms;
  if (texts != nullptr) texts->clear();
  for (size_t i = 0; i < occurrences.size();) {
    const uint64_t hash = occurrences[i].hash;
    float frequency = 0;
    size_t end = i;
    for (; end < occurrences.size() && occurrences[end].hash == hash; ++end)
      frequency += occurrences[end].boost;
    // The last occurrence's text, as a running count would keep.
    const std::string_view text = text_of(occurrences[end - 1].token);
    i = end;
    double zipf = IsNumber(text) ? config.number_zipf
                                 : prior.Zipf(hash).value_or(
                                       static_cast<float>(config.unknown_zipf));
    double prior_idf = config.zipf_ceiling - zipf;
    if (prior_idf <= 0) continue;
    terms.push_back({hash, frequency, static_cast<float>(prior_idf)});
    if (texts != nullptr) texts->emplace_back(text);
  }
  return terms;
}

}  // namespace storyd
