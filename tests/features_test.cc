#include "core/features.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "core/text_normalizer.h"

namespace storyd {
namespace {

std::string RandomText(std::mt19937_64& rng, int words) {
  std::string text;
  for (int i = 0; i < words; ++i) {
    text += "w" + std::to_string(rng() % 5000) + " ";
  }
  return text;
}

TEST(SimHashTest, BitIsMajorityOfFeatureBits) {
  EXPECT_EQ(SimHash({}), 0u);
  EXPECT_EQ(SimHash({0xF0F0u}), 0xF0F0u);
  // Majority per bit: two of three set -> set.
  EXPECT_EQ(SimHash({0b110, 0b011, 0b010}), 0b010u);
}

TEST(FeaturesTest, IdenticalAndTypographicVariantsMatchExactly) {
  std::string a =
      "The \u201cquick\u201d brown fox \u2014 jumps over the lazy dog";
  std::string b = "the \"quick\" brown fox - jumps over the LAZY dog";
  ArticleFeatures fa =
      ComputeFeatures(NormalizeForMatching(FoldTypography(a)), 3);
  ArticleFeatures fb =
      ComputeFeatures(NormalizeForMatching(FoldTypography(b)), 3);
  EXPECT_EQ(fa.simhash, fb.simhash);
  EXPECT_EQ(fa.shingles, fb.shingles);
  EXPECT_EQ(fa.token_count, 9u);
  EXPECT_EQ(fa.shingles.size(), 7u);
}

TEST(FeaturesTest, SmallEditsGiveSmallDistanceUnrelatedTextsLarge) {
  std::mt19937_64 rng(7);
  std::string original = RandomText(rng, 400);
  std::string edited = original;
  edited.replace(100, 6, "edited");
  ArticleFeatures fo = ComputeFeatures(original, 3);
  ArticleFeatures fe = ComputeFeatures(edited, 3);
  ArticleFeatures fu = ComputeFeatures(RandomText(rng, 400), 3);
  EXPECT_LE(HammingDistance(fo.simhash, fe.simhash), 6);
  EXPECT_GE(HammingDistance(fo.simhash, fu.simhash), 16);
  EXPECT_GT(Containment(fo.shingles, fe.shingles), 0.95);
  EXPECT_LT(Containment(fo.shingles, fu.shingles), 0.05);
}

TEST(FeaturesTest, TrimmedCopyIsContained) {
  std::mt19937_64 rng(11);
  std::string original = RandomText(rng, 300);
  std::string trimmed = original.substr(0, original.size() / 2);
  ArticleFeatures fo = ComputeFeatures(original, 3);
  ArticleFeatures ft = ComputeFeatures(trimmed, 3);
  EXPECT_GT(Containment(fo.shingles, ft.shingles), 0.97);
  EXPECT_EQ(Containment(fo.shingles, ft.shingles),
            Containment(ft.shingles, fo.shingles));
}

TEST(FeaturesTest, ShortAndEmptyTexts) {
  ArticleFeatures two = ComputeFeatures("hello world", 3);
  EXPECT_EQ(two.shingles.size(), 1u);  // one shingle of both tokens
  ArticleFeatures none = ComputeFeatures("!!! ...", 3);
  EXPECT_TRUE(none.shingles.empty());
  EXPECT_EQ(none.simhash, 0u);
  EXPECT_EQ(Containment(none.shingles, two.shingles), 0.0);
}

TEST(IntersectionTest, CountsSharedValues) {
  std::vector<uint32_t> a = {1, 3, 5, 7, 9}, b = {2, 3, 4, 5, 10};
  EXPECT_EQ(IntersectionSize(a, b), 2u);
  EXPECT_DOUBLE_EQ(Containment(a, b), 0.4);
}

}  // namespace
}  // namespace storyd
