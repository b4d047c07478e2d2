#include "core/scoring.h"

#include <gtest/gtest.h>

namespace storyd {
namespace {

TEST(ScoringTest, HandComputedExample) {
  const char* gold = "a\t1\tg1\nb\t1\tg1\nc\t2\tg3\n";
  const char* output = R"({"id":"a","story_id":"x","dup_of":null})"
                       "\n"
                       R"({"id":"b","story_id":"y","dup_of":"a"})"
                       "\n"
                       R"({"id":"c","story_id":"y","dup_of":null})"
                       "\n";
  absl::StatusOr<QualityReport> report = ScoreRun(gold, output);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->articles, 3u);
  EXPECT_EQ(report->missing, 0u);
  EXPECT_NEAR(report->story_bcubed_p, 2.0 / 3, 1e-9);
  EXPECT_NEAR(report->story_bcubed_r, 2.0 / 3, 1e-9);
  EXPECT_NEAR(report->story_bcubed_f1, 2.0 / 3, 1e-9);
  EXPECT_NEAR(report->story_pair_f1, 0.0, 1e-9);
  EXPECT_NEAR(report->story_ari, -0.5, 1e-9);
  EXPECT_NEAR(report->dup_bcubed_f1, 1.0, 1e-9);
  EXPECT_EQ(report->stories_predicted, 2u);
  EXPECT_EQ(report->stories_gold, 2u);
}

TEST(ScoringTest, MissingRepeatedAndUnparsable) {
  const char* gold = "a\t1\ta\nb\t1\ta\n";
  const char* output = R"({"id":"a","story_id":"s","dup_of":null})"
                       "\n"
                       R"({"id":"a","story_id":"s","dup_of":null})"
                       "\n"
                       "garbage\n";
  absl::StatusOr<QualityReport> report = ScoreRun(gold, output);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->missing, 1u);
  EXPECT_EQ(report->repeated, 1u);
  EXPECT_EQ(report->unparsable_lines, 1u);
  EXPECT_NEAR(report->story_bcubed_r, 0.5, 1e-9);  // b is a singleton
  EXPECT_NEAR(report->dup_bcubed_p, 1.0, 1e-9);
  EXPECT_NEAR(report->dup_bcubed_r, 0.5, 1e-9);
}

TEST(ScoringTest, RejectsMalformedGold) {
  EXPECT_FALSE(ScoreRun("a\t1\n", "").ok());
}

TEST(ScoringTest, FormatsLikeTheReferenceScorer) {
  absl::StatusOr<QualityReport> report =
      ScoreRun("a\t1\ta\n", R"({"id":"a","story_id":"s","dup_of":null})");
  ASSERT_TRUE(report.ok());
  std::string text = FormatQualityReport(*report);
  EXPECT_NE(text.find("story_bcubed_f1    1.0000\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("n                  1\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace storyd
