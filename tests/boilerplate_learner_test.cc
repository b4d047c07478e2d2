#include "core/boilerplate_learner.h"

#include <gtest/gtest.h>

#include <string>

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
