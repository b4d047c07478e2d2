#include "core/boilerplate.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/article.h"
#include "core/default_rules.h"
#include "core/strings.h"
#include "core/text_normalizer.h"

namespace storyd {
namespace {

BoilerplateStripper ShippedRules() {
  absl::StatusOr<BoilerplateStripper> stripper = BoilerplateStripper::FromFile(
      STORYD_SOURCE_DIR "/conf/boilerplate.rules");
  EXPECT_TRUE(stripper.ok()) << stripper.status();
  return std::move(*stripper);
}

std::vector<Article> ReadArticles(const std::string& name) {
  std::ifstream file(std::string(STORYD_TEST_DATA) + "/" + name);
  EXPECT_TRUE(file.good()) << name;
  std::vector<Article> articles;
  ArticleParser parser(1 << 24);
  std::string line;
  while (std::getline(file, line)) {
    ParsedArticle parsed = parser.Parse(line);
    EXPECT_TRUE(std::holds_alternative<Article>(parsed));
    if (auto* article = std::get_if<Article>(&parsed))
      articles.push_back(*article);
  }
  return articles;
}

TEST(BoilerplateRulesTest, ReportsBadRulesWithLineNumbers) {
  auto bad_kind = BoilerplateStripper::FromRules("# c\n\nfoo bar\n");
  ASSERT_FALSE(bad_kind.ok());
  EXPECT_TRUE(Contains(std::string(bad_kind.status().message()), "line 3"))
      << bad_kind.status();
  auto bad_regex = BoilerplateStripper::FromRules("line-re (unclosed\n");
  ASSERT_FALSE(bad_regex.ok());
  EXPECT_TRUE(Contains(std::string(bad_regex.status().message()), "bad regex"));
  // A pattern that parses but is too big to compile is named by its line,
  // also with good patterns before and after it.
  std::string too_big = "line-re fine\nline-re ";
  for (int i = 0; i < 1000; ++i) too_big += StrCat("q", i, "\\w{1000}|");
  too_big += "x\nline-re also fine\n";
  auto big_regex = BoilerplateStripper::FromRules(too_big);
  ASSERT_FALSE(big_regex.ok());
  EXPECT_TRUE(
      Contains(std::string(big_regex.status().message()), "line 2: bad regex"))
      << big_regex.status();
  EXPECT_FALSE(
      BoilerplateStripper::FromRules("option line-max-words zero\n").ok());
  EXPECT_FALSE(BoilerplateStripper::FromRules("line\n").ok());
  EXPECT_FALSE(BoilerplateStripper::FromFile("/nonexistent/rules").ok());
}

TEST(BoilerplateRulesTest, EachRuleKind) {
  auto stripper = BoilerplateStripper::FromRules(
      "line Leave a Reply\n"
      "line-re (?i)share (on|via) \\w+\n"
      "inline [sponsored]\n"
      "inline-re ^date \\d{4}-\\d{2}-\\d{2} N?(?P<keep>[A-Z])\n");
  ASSERT_TRUE(stripper.ok()) << stripper.status();
  EXPECT_EQ(stripper->rule_count(), 4u);
  StrippedText out = stripper->Strip(
      "date 2021-03-18 NAfter the attack, talks began.\n"
      "LEAVE A REPLY\n"
      "Share on Facebook\n"
      "The minister [SPONSORED] said so.\n"
      "[sponsored]\n"
      "date 2021-03-18 New York was quiet.");
  EXPECT_EQ(out.text,
            "After the attack, talks began.\nThe minister said so.\nNew York "
            "was quiet.");
  EXPECT_EQ(out.removed.size(), 6u);
}

TEST(BoilerplateRulesTest, LineRulesNeverTakeLongLines) {
  auto stripper = BoilerplateStripper::FromRules(
      "option line-max-words 5\nline-re (?i)copyright .*\n");
  ASSERT_TRUE(stripper.ok());
  StrippedText out = stripper->Strip(
      "Copyright Getty Images\n"
      "Copyright law was changed by parliament on Tuesday after a long "
      "debate.");
  EXPECT_EQ(out.text,
            "Copyright law was changed by parliament on Tuesday after a long "
            "debate.");
}

// The word limit counts words as Tokenize does (accented words are one
// word, each Han character one); blank and whitespace-only lines vanish.
TEST(BoilerplateRulesTest, WordLimitCountsTokenizerWords) {
  auto stripper = BoilerplateStripper::FromRules(
      "option line-max-words 5\nline-re (?i)copyright.*\n");
  ASSERT_TRUE(stripper.ok());
  StrippedText out = stripper->Strip(
      "\nCopyright one two three four\n"
      "Copyright one two three four five\n"
      "  \t \n\n"
      "Copyright \u00e9t\u00e9 caf\u00e9 na\u00efve x\r\n"
      "Copyright \u4e2d\u6587\u5b57\u8a5e\n"
      "Copyright \u4e2d\u6587\u5b57\u8a5e\u5178\n");
  EXPECT_EQ(out.text,
            "Copyright one two three four five\n"
            "Copyright \u4e2d\u6587\u5b57\u8a5e\u5178");
  EXPECT_EQ(out.removed,
            (std::vector<std::string>{"Copyright one two three four",
                                      "Copyright \u00e9t\u00e9 caf\u00e9 "
                                      "na\u00efve x",
                                      "Copyright \u4e2d\u6587\u5b57\u8a5e"}));
}

// FromRules checks every line-re pattern compiled alone as well; Load("")
// leaves that out for the built-in rules, which pass it here.
TEST(BoilerplateRulesTest, BuiltInRulesAreTheShippedFileAndPassEveryCheck) {
  auto built_in = BoilerplateStripper::FromRules(DefaultBoilerplateRules());
  ASSERT_TRUE(built_in.ok()) << built_in.status();
  EXPECT_EQ(built_in->rule_count(), ShippedRules().rule_count());
  EXPECT_GT(built_in->rule_count(), 40u);
  auto loaded = BoilerplateStripper::Load("");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->rule_count(), built_in->rule_count());
  EXPECT_EQ(loaded->rules_hash64(), built_in->rules_hash64());
  const std::string text =
      "Advertisement\nThe minister spoke.\nShare this article\n[ad_1]Rates "
      "rose.";
  EXPECT_EQ(loaded->Strip(text).text, built_in->Strip(text).text);
  EXPECT_EQ(loaded->Strip(text).text, "The minister spoke.\nRates rose.");
}

// The seed articles: every marker the design notes name is removed, and
// every line of the reporting is kept.
TEST(SeedStripTest, RemovesMarkersAndKeepsEveryReportingLine) {
  const std::vector<std::string> markers = {
      "[ad_1]",
      "[ad_2]",
      "Leave a Reply",
      "image caption",
      "copyright Getty Images",
      "The BBC is not responsible for the content of external sites",
      "View original tweet on Twitter",
      "PC: Reuters",
      "date 2021-03-18"};
  // Lines of the seeds that are boilerplate as a whole.
  const std::vector<std::string> boilerplate_lines = {
      "74 copyright Getty Images",
      "PC: Reuters",
      "Leave a Reply",
      "[ad_1]",
      "[ad_2]",
      "KEEP READING:",
      "Source link",
      "Please enter your comment!",
      "Please enter your name here",
      "The BBC is not responsible for the content of external sites.View "
      "original tweet on "
      "Twitter"};
  BoilerplateStripper stripper = ShippedRules();
  std::vector<Article> seeds = ReadArticles("seeds.jsonl");
  ASSERT_EQ(seeds.size(), 5u);
  for (const Article& seed : seeds) {
    const std::string folded = FoldTypography(seed.body);
    StrippedText out = stripper.Strip(folded);
    for (const std::string& marker : markers) {
      EXPECT_FALSE(ContainsIgnoreCase(out.text, marker))
          << seed.id << ": " << marker;
    }
    for (std::string_view line : Split(folded, '\n')) {
      line = StripAsciiWhitespace(line);
      if (line.empty()) continue;
      bool boilerplate = false;
      for (const std::string& b : boilerplate_lines) boilerplate |= line == b;
      // A caption marker goes, the caption text stays.
      if (StartsWith(line, "image caption ")) line.remove_prefix(14);
      if (StartsWith(line, "date 2021-03-18 N")) {
        line.remove_prefix(std::string_view("date 2021-03-18 N").size());
      }
      if (boilerplate) {
        EXPECT_FALSE(Contains(out.text, line)) << seed.id << ": kept " << line;
      } else {
        EXPECT_TRUE(Contains(out.text, line)) << seed.id << ": lost " << line;
      }
    }
  }
}

// Real news text (ECB+): stripping takes nothing that reads like a sentence.
TEST(RealTextStripTest, KeepsArticleSentences) {
  BoilerplateStripper stripper = ShippedRules();
  size_t lines = 0, removed_lines = 0;
  for (const Article& article : ReadArticles("ecbplus.jsonl")) {
    std::string folded = FoldTypography(article.body);
    for (std::string_view line : Split(folded, '\n')) {
      if (!StripAsciiWhitespace(line).empty()) ++lines;
    }
    StrippedText out = stripper.Strip(folded);
    for (const std::string& removed : out.removed) {
      ++removed_lines;
      std::vector<std::string_view> words;
      Tokenize(removed, &words);
      // A removed span is short and is not a sentence ending in a period
      // after several words.
      EXPECT_LE(words.size(), 12u) << article.id << ": " << removed;
      EXPECT_FALSE(words.size() >= 6 && EndsWith(removed, "."))
          << article.id << ": " << removed;
    }
  }
  // Only a sliver of real text is boilerplate.
  EXPECT_LT(removed_lines * 100, lines) << removed_lines << " of " << lines;
}

// The injected boilerplate of the near-duplicate set is gone after
// stripping: no line of it survives in any article.
TEST(RealTextStripTest, RemovesInjectedBoilerplate) {
  BoilerplateStripper stripper = ShippedRules();
  const std::vector<std::string> injected = {
      "Subscribe to our newsletter",
      "Sign up for our daily briefing",
      "Posted in World News",
      "Like Loading...",
      "Share this:",
      "Click to share on Twitter (Opens in new window)",
      "Your email address will not be published",
      "Image copyright Getty Images",
      "Continue reading below",
      "Updated 3 hours ago",
      "Email this article",
      "Cancel reply"};
  for (const Article& article : ReadArticles("neardup.jsonl")) {
    StrippedText out = stripper.Strip(FoldTypography(article.body));
    for (std::string_view line : Split(out.text, '\n')) {
      for (const std::string& marker : injected) {
        EXPECT_FALSE(line == marker || StartsWith(line, marker))
            << article.id << ": " << line;
      }
    }
  }
}

// A worker's memo of line verdicts changes no result: every dev article
// stripped twice with one memo (the second pass all hits, the first many)
// gives what stripping without it gives, removed spans included.
TEST(LineVerdictMemoTest, ChangesNoResult) {
  BoilerplateStripper stripper = ShippedRules();
  LineVerdictMemo memo;
  size_t articles = 0;
  for (int pass = 0; pass < 2; ++pass) {
    for (const std::string name : {"neardup.jsonl", "ecbplus.jsonl"}) {
      for (const Article& article : ReadArticles(name)) {
        const std::string folded = FoldTypography(article.body);
        const bool record_removed = articles % 2 == 0;
        StrippedText plain = stripper.Strip(folded, record_removed);
        StrippedText memoized = stripper.Strip(folded, record_removed, &memo);
        ASSERT_EQ(plain.text, memoized.text) << article.id;
        ASSERT_EQ(plain.removed, memoized.removed) << article.id;
        ++articles;
      }
    }
  }
  EXPECT_GT(articles, 3000u);
}

// The memo keeps paragraphs too, with whether an inline rule may apply:
// a long line with an inline match is edited on every pass, one without
// is kept whole, and a line that the edit leaves as boilerplate goes.
TEST(LineVerdictMemoTest, RemembersLongLinesWithTheirInlineVerdicts) {
  auto stripper =
      BoilerplateStripper::FromRules("inline-re \\[ad\\]\nline Read more\n");
  ASSERT_TRUE(stripper.ok());
  const std::string paragraph(300, 'x');
  const std::string text = "The talks [ad] began late on Monday, " + paragraph +
                           "\nThe talks began late on Monday, " + paragraph +
                           "\nRead more [ad]\nRead more [ad]";
  const std::string expected = "The talks began late on Monday, " + paragraph +
                               "\nThe talks began late on Monday, " + paragraph;
  LineVerdictMemo memo;
  for (int pass = 0; pass < 3; ++pass) {
    StrippedText stripped = stripper->Strip(text, true, &memo);
    EXPECT_EQ(stripped.text, expected) << "pass " << pass;
    EXPECT_EQ(stripped.removed,
              (std::vector<std::string>{"[ad]", "[ad]", "Read more", "[ad]",
                                        "Read more"}))
        << "pass " << pass;
  }
}

// Verdicts are tied to the rules they came from: a memo filled by one set
// of rules gives no verdict to a stripper with others, also when those
// replace the first ones in place (a reload).
TEST(LineVerdictMemoTest, ForgetsVerdictsOfOtherRules) {
  auto print_rule = BoilerplateStripper::FromRules("line Print\n");
  auto no_rule = BoilerplateStripper::FromRules("line Leave a Reply\n");
  ASSERT_TRUE(print_rule.ok() && no_rule.ok());
  LineVerdictMemo memo;
  const std::string text = "Print\nLeave a Reply\nThe talks began.";
  EXPECT_EQ(print_rule->Strip(text, false, &memo).text,
            "Leave a Reply\nThe talks began.");
  EXPECT_EQ(no_rule->Strip(text, false, &memo).text, "Print\nThe talks began.");
  EXPECT_EQ(print_rule->Strip(text, false, &memo).text,
            "Leave a Reply\nThe talks began.");
  *print_rule = std::move(*no_rule);
  EXPECT_EQ(print_rule->Strip(text, false, &memo).text,
            "Print\nThe talks began.");
}

}  // namespace
}  // namespace storyd
