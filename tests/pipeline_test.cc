// The two pipeline stages together (core/pipeline.h), single-threaded.
#include "core/pipeline.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "core/article.h"
#include "core/boilerplate.h"
#include "core/copy_detector.h"
#include "core/strings.h"
#include "core/term_prior.h"

namespace storyd {
namespace {

std::vector<std::string> ReadLines(const std::string& name) {
  std::ifstream file(std::string(STORYD_TEST_DATA) + "/" + name);
  EXPECT_TRUE(file.good()) << name;
  std::vector<std::string> lines;
  for (std::string line; std::getline(file, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// One pipeline whose workers defer the story terms of likely copies, or
// do not.
class Pipeline {
 public:
  explicit Pipeline(bool defer)
      : stripper_(*BoilerplateStripper::Load("")),
        detector_(CopyConfig{}),
        processor_(&stripper_, &detector_, &TermPrior::Embedded(),
                   StoryConfig{}.terms),
        assigner_(1 << 16, StoryConfig{}),
        parser_(1 << 20) {
    if (defer) assigner_.DeferCopyStoryTerms(&processor_);
  }

  // The output line, or the problem's message.
  std::string Run(const std::string& record) {
    ProcessedArticle processed;
    processor_.Process(&parser_, seq_++, record, "", nullptr, &processed);
    deferred_ += processed.story_terms_deferred ? 1 : 0;
    auto result = assigner_.Assign(processed);
    if (const auto* problem = std::get_if<InputProblem>(&result)) {
      return "problem: " + problem->reason;
    }
    const Assignment& assignment = std::get<Assignment>(result);
    if (processed.story_terms_deferred &&
        assignment.decision != StoryDecision::kCopy) {
      ++fell_through_;
      if (assignment.decision == StoryDecision::kSameStory) {
        ++fell_through_same_story_;
      }
    }
    return FormatAssignmentJson(assignment);
  }

  int deferred_ = 0;
  int fell_through_ = 0;
  int fell_through_same_story_ = 0;

 private:
  BoilerplateStripper stripper_;
  CopyDetector detector_;
  ArticleProcessor processor_;
  Assigner assigner_;
  ArticleParser parser_;
  uint64_t seq_ = 0;
};

// Deferring the story terms of likely copies changes no output, also when
// the copy decision falls through: before every 20th article comes a
// record with its body but the id of the article before it, which is
// rejected as a duplicate id, so that the article's only earlier match is
// a rejected record and it is no copy; the ordered stage must then extract
// its story terms itself.
TEST(PipelineTest, DeferredStoryTermsChangeNoOutput) {
  std::vector<std::string> input;
  const std::vector<std::string> articles = ReadLines("neardup.jsonl");
  ArticleParser parser(1 << 20);
  std::string previous_id;
  for (size_t i = 0; i < articles.size(); ++i) {
    auto parsed = parser.Parse(articles[i], "");
    ASSERT_TRUE(std::holds_alternative<Article>(parsed));
    const Article& article = std::get<Article>(parsed);
    if (i % 20 == 10) {
      std::string twin = "{\"id\":";
      AppendJsonString(previous_id, &twin);
      twin += ",\"title\":";
      AppendJsonString(article.title, &twin);
      twin += ",\"body\":";
      AppendJsonString(article.body, &twin);
      twin += "}";
      input.push_back(twin);
    }
    input.push_back(articles[i]);
    previous_id = article.id;
  }
  Pipeline eager(/*defer=*/false), lazy(/*defer=*/true);
  int rejected = 0;
  for (const std::string& record : input) {
    const std::string line = eager.Run(record);
    ASSERT_EQ(line, lazy.Run(record)) << record.substr(0, 80);
    rejected += line.starts_with("problem: ") ? 1 : 0;
  }
  EXPECT_EQ(rejected, 50);
  EXPECT_EQ(eager.deferred_, 0);
  // neardup holds about 600 copies.
  EXPECT_GT(lazy.deferred_, 500);
  // Many articles after a rejected twin are copies of earlier articles
  // too (neardup is copy-heavy); the others fall through, and some of
  // those join a story by their deferred terms.
  EXPECT_GE(lazy.fell_through_, 10);
  EXPECT_GT(lazy.fell_through_same_story_, 0)
      << lazy.fell_through_ << " fell through";
}

}  // namespace
}  // namespace storyd
