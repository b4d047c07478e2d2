// Text normalization and tokenization for storyd.
//
// Two stages, applied in this order by the pipeline:
//
//   1. FoldTypography: what a scraper varies without changing the text.
//      HTML entities are decoded (&amp;, &nbsp;, &#8217;, ...), curly quotes
//      become ' and ", dashes become -, exotic spaces become one space,
//      zero-width characters and soft hyphens vanish, runs of spaces
//      collapse. Case and letters are kept, so boilerplate rules and
//      `storyd strip` work on text an operator can read.
//   2. NormalizeForMatching: Unicode NFKC with case folding (utf8proc), on
//      already folded text. ASCII-only text takes a fast path.
//
// Tokenize then splits normalized text into Unicode words: runs of letters,
// digits and combining marks. Han, Hiragana and Katakana characters, which
// are written without spaces, become one token each, so shingles over them
// are character n-grams.
//
// Example:
//   std::string folded = FoldTypography("Caf\u00e9 &amp; \u201cbar\u201d");
//   // folded == "Café & \"bar\""
//   std::string norm = NormalizeForMatching(folded);  // "café & \"bar\""
//   std::vector<std::string_view> words;
//   Tokenize(norm, &words);                             // {"café", "bar"}
//
// Thread safety: all functions are pure and may be called concurrently.
// Input must be valid UTF-8 (the JSON codec guarantees it); invalid bytes
// are passed through or dropped, never read out of bounds.
#ifndef STORYD_CORE_TEXT_NORMALIZER_H_
#define STORYD_CORE_TEXT_NORMALIZER_H_

#include <string>
#include <string_view>
#include <vector>

namespace storyd {

// Decodes HTML entities, folds typography and collapses horizontal
// whitespace; keeps line breaks ('\n'), drops '\r'. Leading and trailing
// spaces of each line are removed.
std::string FoldTypography(std::string_view text);

// Unicode NFKC + case folding of `text`.
std::string NormalizeForMatching(std::string_view text);

// Appends the words of normalized `text` to *tokens (views into `text`).
void Tokenize(std::string_view text, std::vector<std::string_view>* tokens);

// True when Tokenize would find more than `limit` words in `text`; stops
// in the 64-byte block that holds the word after the limit (a text with
// non-ASCII bytes is scanned again from its start, up to that word) and
// allocates nothing.
bool HasMoreWordsThan(std::string_view text, size_t limit);

// True when `text` is well-formed UTF-8.
bool IsValidUtf8(std::string_view text);

}  // namespace storyd

#endif  // STORYD_CORE_TEXT_NORMALIZER_H_
