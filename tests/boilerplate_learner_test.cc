#include "core/boilerplate_learner.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <fstream>
#include <string>
#include <vector>

#include "core/article.h"
#include "core/strings.h"
#include "core/text_normalizer.h"

namespace storyd {
namespace {

LearnerConfig Config() {
  LearnerConfig config;
  config.min_groups = 3;
  config.max_line_words = 8;
  return config;
}

TEST(BoilerplateLearnerTest, LearnsLinesRecurringAcrossDifferentTexts) {
  LearnerConfig config = Config();
  BoilerplateLearner learner(config);
  const std::string prompt = "join our whatsapp channel for breaking news";
  for (uint64_t group = 1; group <= 2; ++group) {
    learner.Observe(
        group, ShortLineHashes(prompt + "\nstory " + std::to_string(group), 8));
  }
  EXPECT_EQ(learner.learned_lines(), 0u);
  learner.Observe(3, ShortLineHashes(prompt, 8));
  EXPECT_EQ(learner.learned_lines(), 1u);

  std::string text =
      "the harbour reopened on monday\n" + prompt + "\nofficials said so";
  std::shared_ptr<const LearnedBoilerplate> snapshot = learner.Snapshot();
  EXPECT_EQ(RemoveLearnedLines(*snapshot, 8, &text), 1u);
  EXPECT_EQ(text, "the harbour reopened on monday\nofficials said so");
}

TEST(BoilerplateLearnerTest, CopiesOfOneTextCountOnce) {
  BoilerplateLearner learner(Config());
  for (int copy = 0; copy < 10; ++copy) {
    learner.Observe(/*copy_group=*/7, ShortLineHashes("he was 95.", 8));
  }
  EXPECT_EQ(learner.learned_lines(), 0u);
}

TEST(BoilerplateLearnerTest, LongLinesAreNeverLearned) {
  BoilerplateLearner learner(Config());
  const std::string sentence =
      "the council voted on tuesday to close the old bridge for repairs until "
      "spring";
  for (uint64_t group = 1; group <= 10; ++group) {
    learner.Observe(group, ShortLineHashes(sentence, 8));
  }
  EXPECT_EQ(learner.learned_lines(), 0u);
  EXPECT_TRUE(ShortLineHashes(sentence, 8).empty());
}

TEST(BoilerplateLearnerTest, PunctuationAndSpacingDoNotMatter) {
  EXPECT_EQ(ShortLineHashes("share this:", 8),
            ShortLineHashes("share   this", 8));
  EXPECT_NE(ShortLineHashes("share this", 8), ShortLineHashes("share that", 8));
}

// The hashes come from the words of each line alone: each line tokenized
// by itself, its words hashed in a chain when it has 1..max_words of them.
// Checked on every dev article (several languages' punctuation, long and
// short lines) and on edge cases of line breaks and blank lines.
std::vector<uint64_t> ReferenceShortLineHashes(std::string_view text,
                                               size_t max_words) {
  std::vector<uint64_t> hashes;
  for (std::string_view line : Split(text, '\n')) {
    std::vector<std::string_view> words;
    Tokenize(line, &words);
    if (words.empty() || words.size() > max_words) continue;
    uint64_t hash = 0x9e3779b97f4a7c15ull;
    for (std::string_view word : words)
      hash = XXH3_64bits_withSeed(word.data(), word.size(), hash);
    hashes.push_back(hash == 0 ? 1 : hash);
  }
  return hashes;
}

TEST(BoilerplateLearnerTest, ShortLineHashesAreThoseOfEachLineAlone) {
  std::vector<std::string> texts = {"",
                                    "\n",
                                    "one",
                                    "one\n",
                                    "\n\none two\n\n",
                                    " , \n-- three four --\n.",
                                    "a b c d e f g h i j k l\na b c d e f g h "
                                    "i j k l m\nend",
                                    "über straße\n東京 大阪\n"};
  for (const char* name : {"neardup.jsonl", "ecbplus.jsonl"}) {
    std::ifstream file(std::string(STORYD_TEST_DATA) + "/" + name);
    ArticleParser parser(1 << 24);
    std::string line;
    while (std::getline(file, line)) {
      ParsedArticle parsed = parser.Parse(line);
      if (auto* article = std::get_if<Article>(&parsed))
        texts.push_back(NormalizeForMatching(FoldTypography(article->body)));
    }
  }
  ASSERT_GT(texts.size(), 1900u);
  for (const std::string& text : texts) {
    for (size_t max_words : {1, 5, 12}) {
      ASSERT_EQ(ShortLineHashes(text, max_words),
                ReferenceShortLineHashes(text, max_words))
          << max_words << " " << text;
    }
  }
}

TEST(BoilerplateLearnerTest, MemoryStaysBounded) {
  LearnerConfig config = Config();
  config.max_tracked_lines = 1024;
  BoilerplateLearner learner(config);
  for (uint64_t i = 0; i < 20000; ++i) {
    learner.Observe(i, ShortLineHashes("line number " + std::to_string(i), 8));
    ASSERT_LE(learner.tracked_lines(), config.max_tracked_lines);
  }
  EXPECT_EQ(learner.learned_lines(), 0u);
  EXPECT_GT(learner.tracked_lines(), 0u);
}

}  // namespace
}  // namespace storyd
