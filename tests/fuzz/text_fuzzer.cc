// libFuzzer target: typography folding, NFKC case folding, tokenization,
// boilerplate stripping, features and text years (also from a URL) on
// arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/boilerplate.h"
#include "core/default_rules.h"
#include "core/features.h"
#include "core/story_terms.h"
#include "core/text_normalizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const storyd::BoilerplateStripper* stripper = [] {
    auto loaded = storyd::BoilerplateStripper::FromRules(
        storyd::DefaultBoilerplateRules());
    if (!loaded.ok()) __builtin_trap();
    return new storyd::BoilerplateStripper(std::move(*loaded));
  }();
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string folded = storyd::FoldTypography(input);
  storyd::StrippedText stripped = stripper->Strip(folded);
  if (stripped.text.size() > folded.size() + 1) __builtin_trap();
  // A memo of line verdicts (kept across inputs, as a worker keeps it
  // across articles) changes nothing.
  static storyd::LineVerdictMemo* memo = new storyd::LineVerdictMemo;
  storyd::StrippedText memoized = stripper->Strip(folded, true, memo);
  if (memoized.text != stripped.text || memoized.removed != stripped.removed)
    __builtin_trap();
  std::string normalized = storyd::NormalizeForMatching(stripped.text);
  std::vector<std::string_view> tokens;
  storyd::Tokenize(normalized, &tokens);
  for (std::string_view token : tokens) {
    if (token.empty() || token.data() < normalized.data() ||
        token.data() + token.size() > normalized.data() + normalized.size()) {
      __builtin_trap();
    }
  }
  // HasMoreWordsThan stops early but must agree with the full count.
  if (storyd::HasMoreWordsThan(normalized, tokens.size()) ||
      (!tokens.empty() &&
       !storyd::HasMoreWordsThan(normalized, tokens.size() - 1))) {
    __builtin_trap();
  }
  storyd::ArticleFeatures features = storyd::ComputeFeatures(normalized, 3);
  if (features.shingles.size() > tokens.size() + 1) __builtin_trap();
  // Text years: sorted, unique, bounded, in range, from any title, body or
  // URL, and any cut of the body.
  const std::vector<uint16_t> years =
      storyd::TextYears(input, normalized, 1 + size % 512, input);
  if (years.size() > storyd::kMaxTextYears) __builtin_trap();
  for (size_t i = 0; i < years.size(); ++i) {
    if (years[i] < 1900 || years[i] > 2099) __builtin_trap();
    if (i > 0 && years[i - 1] >= years[i]) __builtin_trap();
  }
  return 0;
}
