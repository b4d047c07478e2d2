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

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAsciiLetter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// Calls visit(start, end) for each maximal run of ASCII digits in `text`.
template <typename Visit>
void ForEachDigitRun(std::string_view text, Visit visit) {
  for (size_t i = 0; i < text.size();) {
    if (!IsDigit(text[i])) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < text.size() && IsDigit(text[end])) ++end;
    visit(i, end);
    i = end;
  }
}

// The number the `count` digits at text[from] write.
int DigitsValue(std::string_view text, size_t from, size_t count) {
  int value = 0;
  for (size_t k = from; k < from + count; ++k)
    value = value * 10 + (text[k] - '0');
  return value;
}

bool IsYear(int value) { return value >= 1900 && value <= 2099; }

// Appends the years in `text` to *years (unsorted, possibly repeated).
void AppendYears(std::string_view text, std::vector<uint16_t>* years) {
  ForEachDigitRun(text, [&](size_t start, size_t end) {
    if (end - start != 4) return;
    // Not part of a word ("ms08", "2011th") or a decimal ("3.1999").
    if (start > 0 &&
        (IsAsciiLetter(text[start - 1]) ||
         (text[start - 1] == '.' && start > 1 && IsDigit(text[start - 2])))) {
      return;
    }
    if (end < text.size() && (IsAsciiLetter(text[end]) ||
                              (text[end] == '.' && end + 1 < text.size() &&
                               IsDigit(text[end + 1])))) {
      return;
    }
    const int year = DigitsValue(text, start, 4);
    if (IsYear(year)) years->push_back(static_cast<uint16_t>(year));
  });
}

// Appends the years that date a URL's path: runs of four digits as in
// AppendYears ("/2013/03/14/", "/2013-06-06/"), and runs of eight that read
// as a date, YYYYMMDD ("/article/20130314/"). The host and the query are
// left out: they name a site or a request, not when it published.
void AppendUrlYears(std::string_view url, std::vector<uint16_t>* years) {
  // Where the path starts: after "scheme://host" or "//host" (an absolute
  // or protocol-relative URL), at once for "/path", else after a leading
  // host ("www.example.com/path"). A "://" after the first '/', '?' or '#'
  // is part of the path or the query.
  size_t path_start = 0;
  const size_t first_delimiter = url.find_first_of("/?#");
  const size_t scheme = url.find("://");
  if (scheme != std::string_view::npos && scheme < first_delimiter) {
    path_start = url.find_first_of("/?#", scheme + 3);
  } else if (url.substr(0, 2) == "//") {
    path_start = url.find_first_of("/?#", 2);
  } else if (first_delimiter != 0) {
    path_start = first_delimiter;
  }
  if (path_start >= url.size() || url[path_start] != '/') return;  // npos too
  const std::string_view path =
      url.substr(path_start, url.find_first_of("?#", path_start) - path_start);
  AppendYears(path, years);
  // Days in each month (February's leap day allowed every year: this only
  // tells a date from an id).
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31};
  ForEachDigitRun(path, [&](size_t start, size_t end) {
    if (end - start != 8) return;
    const int year = DigitsValue(path, start, 4),
              month = DigitsValue(path, start + 4, 2),
              day = DigitsValue(path, start + 6, 2);
    if (IsYear(year) && month >= 1 && month <= 12 && day >= 1 &&
        day <= kDays[month - 1]) {
      years->push_back(static_cast<uint16_t>(year));
    }
  });
}

}  // namespace

std::vector<uint16_t> TextYears(std::string_view title, std::string_view body,
                                size_t max_body_chars, std::string_view url) {
  std::vector<uint16_t> years;
  if (max_body_chars == 0) return years;
  // The address's date first: it is when the article was published.
  AppendUrlYears(url, &years);
  AppendYears(title, &years);
  // A cut inside a run of digits would make a shorter number of it: the
  // run is kept whole. (Only ASCII counts, so any byte is a safe cut.)
  size_t cut = std::min(max_body_chars, body.size());
  while (cut < body.size() && IsDigit(body[cut])) ++cut;
  AppendYears(body.substr(0, cut), &years);
  std::vector<uint16_t> kept;
  for (uint16_t year : years) {
    if (kept.size() == kMaxTextYears) break;
    if (std::find(kept.begin(), kept.end(), year) == kept.end())
      kept.push_back(year);
  }
  std::sort(kept.begin(), kept.end());
  return kept;
}

bool TextYearsConflict(absl::Span<const uint16_t> a,
                       absl::Span<const uint16_t> b) {
  if (a.empty() || b.empty()) return false;
  // Both sorted: a merge walk finds a shared year.
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] == b[j]) return false;
    if (a[i] < b[j]) {
      ++i;
    } else {
      ++j;
    }
  }
  return true;
}

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
  // Occurrences ahead of the loop (a few terms' worth) are prefetched.
  constexpr size_t kPrefetchAhead = 16;
  for (size_t i = 0; i < occurrences.size();) {
    const uint64_t hash = occurrences[i].hash;
    if (i + kPrefetchAhead < occurrences.size())
      prior.Prefetch(occurrences[i + kPrefetchAhead].hash);
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
