#include "core/text_normalizer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace storyd {
namespace {

std::vector<std::string> Words(std::string_view text) {
  std::string normalized = NormalizeForMatching(FoldTypography(text));
  std::vector<std::string_view> views;
  Tokenize(normalized, &views);
  return std::vector<std::string>(views.begin(), views.end());
}

TEST(FoldTypographyTest, DecodesEntities) {
  EXPECT_EQ(FoldTypography(
                "Fish &amp; Chips &lt;b&gt; &#8220;x&#x201D; &quot;q&quot;"),
            "Fish & Chips <b> \"x\" \"q\"");
  EXPECT_EQ(FoldTypography("a&nbsp;b"), "a b");
  // Unknown or malformed entities stay as they are.
  EXPECT_EQ(FoldTypography("AT&T &bogus; & done &#;"),
            "AT&T &bogus; & done &#;");
}

TEST(FoldTypographyTest, FoldsQuotesDashesAndSpaces) {
  EXPECT_EQ(FoldTypography(
                "\u201cIt\u2019s\u201d \u2014 she said \u2013 \u2018ok\u2019"),
            "\"It's\" - she said - 'ok'");
  EXPECT_EQ(FoldTypography("a\u00a0\u00a0b\u2009c\u200bd\u00ade"), "a b cde");
  EXPECT_EQ(FoldTypography("wait\u2026"), "wait...");
  EXPECT_EQ(FoldTypography("  two   spaces \t tab\r\nnext  line  "),
            "two spaces tab\nnext line");
}

TEST(NormalizeForMatchingTest, NfkcAndCaseFold) {
  EXPECT_EQ(NormalizeForMatching("Hello WORLD"), "hello world");
  EXPECT_EQ(NormalizeForMatching("Stra\u00dfe"), "strasse");
  EXPECT_EQ(NormalizeForMatching("\ufb01ne"), "fine");           // ligature
  EXPECT_EQ(NormalizeForMatching("\uff21\uff22\uff23"), "abc");  // fullwidth
  EXPECT_EQ(NormalizeForMatching("e\u0301"), "\u00e9");          // composed
  EXPECT_EQ(NormalizeForMatching("\u041c\u041e\u0421\u041a\u0412\u0410"),
            "\u043c\u043e\u0441\u043a\u0432\u0430");  // МОСКВА
}

TEST(TokenizeTest, UnicodeWords) {
  EXPECT_EQ(
      Words("Über die Brücke, sagte Müller."),
      (std::vector<std::string>{"über", "die", "brücke", "sagte", "müller"}));
  EXPECT_EQ(Words("¿Dónde está el niño? São Paulo, ação."),
            (std::vector<std::string>{"dónde", "está", "el", "niño", "são",
                                      "paulo", "ação"}));
  EXPECT_EQ(
      Words("Посол России вернулся в Москву"),
      (std::vector<std::string>{"посол", "россии", "вернулся", "в", "москву"}));
  EXPECT_EQ(Words("It's 2021-03-18: Biden's remark"),
            (std::vector<std::string>{"it", "s", "2021", "03", "18", "biden",
                                      "s", "remark"}));
}

TEST(TokenizeTest, CjkByCharacter) {
  EXPECT_EQ(
      Words("俄罗斯召回大使"),
      (std::vector<std::string>{"俄", "罗", "斯", "召", "回", "大", "使"}));
  EXPECT_EQ(Words("東京タワー abc"),
            (std::vector<std::string>{"東", "京", "タ", "ワ", "ー", "abc"}));
}

TEST(Utf8Test, Validates) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("caf\u00e9 \U0001F600"));
  EXPECT_FALSE(IsValidUtf8("bad \xff byte"));
  EXPECT_FALSE(IsValidUtf8("cut \xe2\x82"));
}

}  // namespace
}  // namespace storyd
