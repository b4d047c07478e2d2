#include "core/article.h"

#include <gtest/gtest.h>

#include <string>

namespace storyd {
namespace {

InputError ErrorOf(const ParsedArticle& parsed) {
  const InputProblem* problem = std::get_if<InputProblem>(&parsed);
  EXPECT_NE(problem, nullptr);
  EXPECT_FALSE(problem == nullptr || problem->reason.empty());
  return problem == nullptr ? InputError::kDuplicateId : problem->error;
}

TEST(ArticleParserTest, ParsesAllFieldsAndIgnoresUnknownOnes) {
  ArticleParser parser(1 << 20);
  ParsedArticle parsed = parser.Parse(
      R"({"id":"a1","title":"T","body":"Body text","url":"http://x","source":"s.example",)"
      R"("published_at":"2021-03-18T09:30:00Z","extra":{"nested":[1,2]}})");
  ASSERT_TRUE(std::holds_alternative<Article>(parsed));
  const Article& a = std::get<Article>(parsed);
  EXPECT_EQ(a.id, "a1");
  EXPECT_EQ(a.title, "T");
  EXPECT_EQ(a.body, "Body text");
  EXPECT_EQ(a.url, "http://x");
  EXPECT_EQ(a.source, "s.example");
  EXPECT_EQ(a.published_at, "2021-03-18T09:30:00Z");
  ASSERT_TRUE(a.published_unix_sec.has_value());
  EXPECT_EQ(*a.published_unix_sec, 1616059800);
}

TEST(ArticleParserTest, TextIsAnAliasOfBodyAndKeyStandsInForId) {
  ArticleParser parser(1 << 20);
  ParsedArticle parsed = parser.Parse(R"({"text":"from text"})", "key-7");
  ASSERT_TRUE(std::holds_alternative<Article>(parsed));
  EXPECT_EQ(std::get<Article>(parsed).id, "key-7");
  EXPECT_EQ(std::get<Article>(parsed).body, "from text");
  ParsedArticle numeric = parser.Parse(R"({"id":42,"body":"b"})");
  ASSERT_TRUE(std::holds_alternative<Article>(numeric));
  EXPECT_EQ(std::get<Article>(numeric).id, "42");
}

TEST(ArticleParserTest, TypedErrors) {
  ArticleParser parser(1000);
  EXPECT_EQ(ErrorOf(parser.Parse("{\"id\":\"x\",")),
            InputError::kMalformedJson);
  EXPECT_EQ(ErrorOf(parser.Parse("not json")), InputError::kMalformedJson);
  EXPECT_EQ(ErrorOf(parser.Parse("[1,2]")), InputError::kNotAnObject);
  EXPECT_EQ(ErrorOf(parser.Parse(R"({"body":"b"})")), InputError::kMissingId);
  EXPECT_EQ(ErrorOf(parser.Parse(R"({"id":"x"})")), InputError::kMissingBody);
  EXPECT_EQ(ErrorOf(parser.Parse(R"({"id":"x","body":"  \n "})")),
            InputError::kEmptyBody);
  EXPECT_EQ(ErrorOf(parser.Parse(R"({"id":"x","body":7})")),
            InputError::kBadFieldType);
  EXPECT_EQ(ErrorOf(parser.Parse(R"({"id":[1],"body":"b"})")),
            InputError::kBadFieldType);
  EXPECT_EQ(ErrorOf(parser.Parse("{\"id\":\"x\",\"body\":\"bad \xff\"}")),
            InputError::kInvalidUtf8);
  std::string big = R"({"id":"x","body":")" + std::string(2000, 'a') + "\"}";
  EXPECT_EQ(ErrorOf(parser.Parse(big)), InputError::kTooLarge);
}

TEST(ArticleParserTest, BadTimestampIsKeptButNotParsed) {
  ArticleParser parser(1 << 20);
  ParsedArticle parsed =
      parser.Parse(R"({"id":"x","body":"b","published_at":"yesterday"})");
  ASSERT_TRUE(std::holds_alternative<Article>(parsed));
  EXPECT_EQ(std::get<Article>(parsed).published_at, "yesterday");
  EXPECT_FALSE(std::get<Article>(parsed).published_unix_sec.has_value());
  EXPECT_EQ(ParseTimestamp("2021-03-18"), 1616025600);
  EXPECT_EQ(ParseTimestamp("2021-03-18T10:00:00+01:00"), 1616058000);
}

TEST(JsonStringTest, Escapes) {
  std::string out;
  AppendJsonString("a\"b\\c\nd\x01", &out);
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\nd\\u0001\"");
}

}  // namespace
}  // namespace storyd
