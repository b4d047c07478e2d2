#include "core/story_terms.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "core/strings.h"
#include "core/text_normalizer.h"

namespace storyd {
namespace {

bool IsNumber(std::string_view token) {
  return !token.empty() && std::all_of(token.begin(), token.end(), [](char c) {
    return c >= '0' && c <= '9';
  });
}

}  // namespace

std::vector<ArticleTerm> ExtractStoryTerms(std::string_view normalized_title,
                                           std::string_view normalized_body,
                                           const StoryTermConfig& config,
                                           const TermPrior& prior,
                                           std::vector<std::string>* texts) {
  struct Accumulated {
    float frequency = 0;
    std::string_view text;
  };
  absl::flat_hash_map<uint64_t, Accumulated> counts;
  std::vector<std::string_view> tokens;
  auto add_line = [&](std::string_view line, double boost) {
    tokens.clear();
    Tokenize(line, &tokens);
    for (std::string_view token : tokens) {
      if (token.size() == 1 && static_cast<unsigned char>(token[0]) < 0x80)
        continue;
      Accumulated& entry = counts[TermHash(token)];
      entry.frequency += static_cast<float>(boost);
      entry.text = token;
    }
  };
  add_line(normalized_title, config.title_boost);
  int line_index = 0;
  for (std::string_view line :
       Split(normalized_body, '\n', /*skip_empty=*/true)) {
    add_line(line, line_index < config.lead_lines ? config.lead_boost : 1.0);
    ++line_index;
  }
  std::vector<ArticleTerm> terms;
  std::vector<std::pair<uint64_t, std::string_view>> term_texts;
  terms.reserve(counts.size());
  for (const auto& [hash, entry] : counts) {
    double zipf = IsNumber(entry.text)
                      ? config.number_zipf
                      : prior.Zipf(hash).value_or(
                            static_cast<float>(config.unknown_zipf));
    double prior_idf = config.zipf_ceiling - zipf;
    if (prior_idf <= 0) continue;
    terms.push_back({hash, entry.frequency, static_cast<float>(prior_idf)});
    if (texts != nullptr) term_texts.emplace_back(hash, entry.text);
  }
  std::sort(terms.begin(), terms.end(),
            [](const ArticleTerm& a, const ArticleTerm& b) {
              return a.hash < b.hash;
            });
  if (texts != nullptr) {
    std::sort(term_texts.begin(), term_texts.end());
    texts->clear();
    for (const auto& [hash, text] : term_texts) texts->emplace_back(text);
  }
  return terms;
}

}  // namespace storyd
