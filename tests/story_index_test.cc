#include "core/story_index.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/story_terms.h"
#include "core/term_prior.h"
#include "core/text_normalizer.h"

namespace storyd {
namespace {

std::vector<ArticleTerm> Terms(const std::string& title,
                               const std::string& body,
                               const StoryConfig& config = StoryConfig{}) {
  return ExtractStoryTerms(NormalizeForMatching(title),
                           NormalizeForMatching(body), config.terms,
                           TermPrior::Embedded());
}

float WeightOf(const TermVector& vector, std::string_view term) {
  for (const auto& [hash, weight] : vector) {
    if (hash == TermHash(term)) return weight;
  }
  return 0;
}

TEST(TermPriorTest, ShippedTableKnowsCommonAndRareWords) {
  const TermPrior& prior = TermPrior::Embedded();
  EXPECT_GT(prior.size(), 100000u);
  ASSERT_TRUE(prior.Zipf(TermHash("the")).has_value());
  EXPECT_GT(*prior.Zipf(TermHash("the")), 7.0f);
  EXPECT_GT(*prior.Zipf(TermHash("said")), *prior.Zipf(TermHash("russia")));
  EXPECT_GT(*prior.Zipf(TermHash("russia")), *prior.Zipf(TermHash("antonov")));
  EXPECT_TRUE(prior.Zipf(TermHash("москва")).has_value());  // not only English
  EXPECT_FALSE(prior.Zipf(TermHash("qxzzyvv")).has_value());
  EXPECT_FALSE(TermPrior::Parse("word\tnot-a-number\n").ok());
}

// A freshly started daemon weighs names and rare terms above common ones.
TEST(StoryIndexTest, ColdStartWeightsFavourRareTerms) {
  StoryIndex index{StoryConfig{}};
  TermVector vector =
      index.Weigh(Terms("",
                        "Russia said Antonov, its ambassador, was recalled. "
                        "Russia said the ambassador left."));
  EXPECT_GT(WeightOf(vector, "antonov"), WeightOf(vector, "ambassador"));
  EXPECT_GT(WeightOf(vector, "ambassador"), WeightOf(vector, "russia"));
  EXPECT_GT(WeightOf(vector, "russia"), WeightOf(vector, "said"));
  EXPECT_EQ(WeightOf(vector, "the"), 0.0f);
}

TEST(StoryIndexTest, TitleAndLeadWeighMore) {
  StoryConfig config;
  StoryIndex index{config};
  TermVector in_title = index.Weigh(
      Terms("Volcano erupts", "x1\nx2\nx3\nThe glacier melted.", config));
  TermVector in_body = index.Weigh(
      Terms("", "x1\nx2\nx3\nThe glacier melted. Volcano erupts.", config));
  EXPECT_GT(WeightOf(in_title, "volcano") / WeightOf(in_title, "glacier"),
            WeightOf(in_body, "volcano") / WeightOf(in_body, "glacier"));
}

TEST(StoryIndexTest, StreamFrequenciesLowerWordsEveryArticleUses) {
  StoryConfig config;
  config.prior_articles = 10;
  StoryIndex index{config};
  std::vector<ArticleTerm> probe = Terms("", "quarterly earnings zanzibar");
  double before = WeightOf(index.Weigh(probe), "earnings") /
                  WeightOf(index.Weigh(probe), "zanzibar");
  for (int i = 0; i < 200; ++i) {
    index.Observe(Terms("", "quarterly earnings rose at company number " +
                                std::to_string(i)),
                  std::nullopt);
  }
  double after = WeightOf(index.Weigh(probe), "earnings") /
                 WeightOf(index.Weigh(probe), "zanzibar");
  EXPECT_LT(after, before * 0.5);
}

TEST(StoryIndexTest, JoinsTheMatchingStoryOnly) {
  StoryConfig config;
  StoryIndex index{config};
  TermVector quake = index.Weigh(
      Terms("Earthquake hits Sumatra",
            "A magnitude 7.6 earthquake struck Padang in Sumatra."));
  TermVector quake2 =
      index.Weigh(Terms("Sumatra quake toll rises",
                        "The Padang earthquake in Sumatra killed hundreds."));
  TermVector election =
      index.Weigh(Terms("Turkmenistan votes",
                        "Turkmen voters elected a parliament in Ashgabat."));
  index.StartStory(1, "quake-1", quake, std::nullopt);
  index.Observe({}, std::nullopt);
  std::optional<StoryMatch> match = index.FindBest(quake2, std::nullopt);
  ASSERT_TRUE(match.has_value());
  EXPECT_EQ(match->story, 1u);
  EXPECT_TRUE(index.Joins(*match));
  std::optional<StoryMatch> other = index.FindBest(election, std::nullopt);
  EXPECT_TRUE(!other.has_value() || !index.Joins(*other));
  ASSERT_NE(index.FirstIdOf(1), nullptr);
  EXPECT_EQ(*index.FirstIdOf(1), "quake-1");
}

TEST(StoryIndexTest, TimeDistanceLowersTheScore) {
  StoryConfig config;
  StoryIndex index{config};
  TermVector a = index.Weigh(Terms("", "Padang earthquake Sumatra magnitude"));
  index.StartStory(1, "a", a, int64_t{1000000});
  std::optional<StoryMatch> near = index.FindBest(a, int64_t{1000000 + 3600});
  std::optional<StoryMatch> far =
      index.FindBest(a, int64_t{1000000 + 30 * 86400});
  ASSERT_TRUE(near.has_value() && far.has_value());
  EXPECT_NEAR(near->score, near->cosine, 1e-9);  // within the grace period
  ASSERT_TRUE(far->hours_apart.has_value());
  EXPECT_NEAR(*far->hours_apart, 720, 1e-6);
  EXPECT_LT(far->score, 0.01);
}

TEST(StoryIndexTest, InactiveStoriesExpire) {
  StoryConfig config;
  config.window_articles = 300;
  StoryIndex index{config};
  TermVector a = index.Weigh(Terms("", "Padang earthquake Sumatra magnitude"));
  index.StartStory(7, "a", a, std::nullopt);
  for (int i = 0; i < 1024; ++i) index.Observe({}, std::nullopt);
  EXPECT_EQ(index.active_stories(), 0u);
  EXPECT_EQ(index.FirstIdOf(7), nullptr);
  EXPECT_FALSE(index.FindBest(a, std::nullopt).has_value());
}

}  // namespace
}  // namespace storyd
