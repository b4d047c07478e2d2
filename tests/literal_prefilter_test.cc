#include "core/literal_prefilter.h"

#include <gtest/gtest.h>
#include <re2/set.h>

#include <random>
#include <string>
#include <vector>

namespace storyd {
namespace {

RE2::Options Options() {
  RE2::Options options;
  options.set_log_errors(false);
  return options;
}

// The inline rules as conf/boilerplate.rules ships them, in the form the
// stripper gives them to its RE2::Set.
const std::vector<std::string>& ShippedInlinePatterns() {
  static const auto* patterns = new std::vector<std::string>{
      R"(\[(?i:ad|ads|advert|advertisement)_?\d*\])",
      R"((?i)view original (tweet|post) on (twitter|x|facebook|instagram)\.?)",
      R"(^(?i:image|photo|picture|video|media) (?i:caption)s?:?\s*)",
      R"((?i:The\ BBC\ is\ not\ responsible\ for\ the\ content\ of\ external\ sites\.))",
      R"(^[A-Z][A-Z .'-]{1,40}(, [A-Z][a-z]{2,8}\.? \d{1,2})? \((?:Reuters|AP|AFP|dpa|UPI|Xinhua|Bloomberg|IANS|PTI|ANI)\)\s*-+\s*)",
      R"(^date \d{4}-\d{2}-\d{2} N?(?P<keep>[A-Z]))",
  };
  return *patterns;
}

struct Both {
  LiteralPrefilter prefilter;
  std::unique_ptr<RE2::Set> set;
};

Both Build(const std::vector<std::string>& patterns) {
  Both both;
  both.set = std::make_unique<RE2::Set>(Options(), RE2::UNANCHORED);
  for (const std::string& pattern : patterns) {
    EXPECT_TRUE(both.prefilter.Add(pattern, Options())) << pattern;
    EXPECT_GE(both.set->Add(pattern, nullptr), 0) << pattern;
  }
  both.prefilter.Compile();
  EXPECT_TRUE(both.set->Compile());
  return both;
}

// The one property that keeps stripping byte-identical: whenever some
// pattern matches, the prefilter lets the text through.
void ExpectSound(const Both& both, const std::string& text) {
  if (both.set->Match(text, nullptr)) {
    EXPECT_TRUE(both.prefilter.MayMatch(text)) << "'" << text << "'";
  }
}

TEST(LiteralPrefilterTest, ShippedRulesFilterOrdinaryLines) {
  Both both = Build(ShippedInlinePatterns());
  EXPECT_TRUE(both.prefilter.filters());
  EXPECT_FALSE(both.prefilter.MayMatch(""));
  EXPECT_FALSE(both.prefilter.MayMatch(
      "The minister said on Tuesday that talks would resume next week."));
  EXPECT_FALSE(both.prefilter.MayMatch("Short line"));
  for (const std::string text :
       {"Shares fell [ad] sharply", "[ADVERTISEMENT_2]",
        "View Original Tweet on X", "VIDEO CAPTION: Crowds gather",
        "LONDON (Reuters) - Prices rose", "date 2021-03-18 NAfter",
        "the bbc is NOT responsible for the content of external sites."}) {
    EXPECT_TRUE(both.set->Match(text, nullptr)) << text;
    EXPECT_TRUE(both.prefilter.MayMatch(text)) << text;
  }
}

TEST(LiteralPrefilterTest, AtomsAtEveryOffsetAndBlockBoundary) {
  Both both = Build(ShippedInlinePatterns());
  const std::vector<std::string> pieces = {
      "[Ad]",           "[ads12]",
      "LONDON (AP) - ", "date 2020-01-02 N",
      "Photo caption ", "view original post on x",
      "(PTI)",          "[advert_]"};
  for (const std::string& piece : pieces) {
    for (size_t before = 0; before < 40; ++before) {
      for (size_t after : {0, 1, 2, 15, 16, 17}) {
        std::string text =
            std::string(before, 'a') + piece + std::string(after, 'b');
        ExpectSound(both, text);
        // The piece alone at the start, where the anchored rules match.
        ExpectSound(both, piece + std::string(before, ' '));
      }
    }
  }
}

TEST(LiteralPrefilterTest, RandomLinesAgreeWithTheRegexSet) {
  Both both = Build(ShippedInlinePatterns());
  const std::vector<std::string> fragments = {
      "(",
      ")",
      "[",
      "]",
      "ad",
      "AD",
      "date ",
      "DATE ",
      "2021-03-18 ",
      "N",
      "Reuters",
      "(Reuters)",
      " - ",
      "-",
      "view original ",
      "tweet",
      " on ",
      "X",
      "caption",
      "Video ",
      "image ",
      "The BBC is not responsible",
      " ",
      "for the content of external sites.",
      "\xc3\xa9",
      "\xe2\x84\xaa",
      "LONDON",
      ", Jan. 5",
      "a",
      "Z",
      "_",
      "7",
      "\t",
      "\xff",
      "[ad]",
      " (AP) - ",
      "Bloomberg",
      "(Xinhua)",
      "s",
      ":"};
  std::mt19937 random(20240607);
  int matched = 0, passed = 0;
  for (int trial = 0; trial < 100000; ++trial) {
    std::string text;
    const int count = static_cast<int>(random() % 12);
    for (int k = 0; k < count; ++k)
      text += fragments[random() % fragments.size()];
    const bool match = both.set->Match(text, nullptr);
    const bool may = both.prefilter.MayMatch(text);
    matched += match;
    passed += may;
    if (match) {
      EXPECT_TRUE(may) << "'" << text << "'";
    }
  }
  EXPECT_GT(matched, 100);
  EXPECT_LT(passed, 100000);  // it does filter
}

TEST(LiteralPrefilterTest, NonAsciiTextAlwaysPasses) {
  // (?i)k also matches U+212A KELVIN SIGN, which a byte-wise search for
  // "k" would miss: texts with non-ASCII bytes are never filtered.
  Both both = Build({"(?i)kelvin"});
  EXPECT_TRUE(both.prefilter.filters());
  const std::string kelvin =
      "\xe2\x84\xaa"
      "elvin scale";
  EXPECT_TRUE(both.set->Match(kelvin, nullptr));
  EXPECT_TRUE(both.prefilter.MayMatch(kelvin));
  EXPECT_TRUE(both.prefilter.MayMatch(std::string(40, 'a') + "\xc3\xa9"));
  EXPECT_FALSE(both.prefilter.MayMatch("celsius scale, no match here"));
  EXPECT_TRUE(both.prefilter.MayMatch("The KELVIN scale"));
}

TEST(LiteralPrefilterTest, PatternsWithoutAtomsDisableFiltering) {
  Both both = Build({"\\[ad\\]", "\\d+"});
  EXPECT_FALSE(both.prefilter.filters());
  EXPECT_TRUE(both.prefilter.MayMatch("no digits and no marker"));
  Both anything = Build({"x*"});
  EXPECT_TRUE(anything.prefilter.MayMatch(""));
}

TEST(LiteralPrefilterTest, NoPatternsMatchNothing) {
  LiteralPrefilter prefilter;
  prefilter.Compile();
  EXPECT_FALSE(prefilter.MayMatch("anything at all"));
}

TEST(LiteralPrefilterTest, RejectedPatternKeepsItConservative) {
  LiteralPrefilter prefilter;
  EXPECT_FALSE(prefilter.Add("(unclosed", Options()));
  EXPECT_TRUE(prefilter.Add("\\[ad\\]", Options()));
  prefilter.Compile();
  EXPECT_FALSE(prefilter.filters());
  EXPECT_TRUE(prefilter.MayMatch("plain text"));
}

TEST(LiteralPrefilterTest, UncompiledPassesEverything) {
  LiteralPrefilter prefilter;
  EXPECT_TRUE(prefilter.Add("\\[ad\\]", Options()));
  EXPECT_TRUE(prefilter.MayMatch("plain text"));
}

}  // namespace
}  // namespace storyd
