#include "core/features.h"

#include <gtest/gtest.h>
#include <xxhash.h>  // the shared library's XXH3, for the reference

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "core/feature_memo.h"
#include "core/normalized_text_memo.h"
#include "core/term_prior.h"
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

// ComputeFeatures as first written: libxxhash's XXH3 per token and per
// shingle, std::sort, the SimHash of the spread values. Its results are
// persisted (the changelog), so they must never change.
ArticleFeatures ReferenceFeatures(std::string_view text, int shingle_size) {
  ArticleFeatures features;
  std::vector<std::string_view> tokens;
  Tokenize(text, &tokens);
  features.token_count = tokens.size();
  if (tokens.empty()) return features;
  std::vector<uint64_t> hashes;
  for (std::string_view token : tokens)
    hashes.push_back(XXH3_64bits(token.data(), token.size()));
  const size_t width =
      std::min(tokens.size(), static_cast<size_t>(std::max(1, shingle_size)));
  for (size_t i = 0; i + width <= tokens.size(); ++i) {
    features.shingles.push_back(static_cast<uint32_t>(
        XXH3_64bits(hashes.data() + i, width * sizeof(uint64_t))));
  }
  std::sort(features.shingles.begin(), features.shingles.end());
  features.shingles.erase(
      std::unique(features.shingles.begin(), features.shingles.end()),
      features.shingles.end());
  std::vector<uint64_t> spread;
  for (uint64_t x : features.shingles) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    spread.push_back(x ^ (x >> 31));
  }
  features.simhash = SimHash(spread);
  return features;
}

TEST(FeaturesTest, SameAsTheReferenceComputation) {
  std::mt19937_64 rng(13);
  std::vector<std::string> texts = {
      "",
      "one",
      "one two",
      "a a a a a a a a",
      "x y x y x y x y x",
      NormalizeForMatching("Caf\u00e9 \u6771\u4eac\u90fd na\u00efve "
                           "\u041c\u043e\u0441\u043a\u0432\u0430 12 345")};
  for (int words : {2, 3, 10, 400, 3000})
    texts.push_back(RandomText(rng, words));
  std::string repetitive;
  for (int i = 0; i < 2000; ++i) repetitive += i % 3 == 0 ? "la " : "di ";
  texts.push_back(repetitive);
  std::vector<uint32_t> sort_buffer;  // reused, as a worker does
  for (const std::string& text : texts) {
    std::vector<std::string_view> tokens;
    Tokenize(text, &tokens);
    std::vector<uint64_t> hashes;
    TermHashes(tokens, &hashes);
    for (int shingle_size : {0, 1, 2, 3, 5}) {
      ArticleFeatures expected = ReferenceFeatures(text, shingle_size);
      ArticleFeatures got = ComputeFeatures(text, shingle_size);
      EXPECT_EQ(got.shingles, expected.shingles) << text.substr(0, 40);
      EXPECT_EQ(got.simhash, expected.simhash) << text.substr(0, 40);
      EXPECT_EQ(got.token_count, expected.token_count);
      ArticleFeatures from_hashes =
          ComputeFeaturesFromTokenHashes(hashes, shingle_size, &sort_buffer);
      EXPECT_EQ(from_hashes.shingles, expected.shingles);
      EXPECT_EQ(from_hashes.simhash, expected.simhash);
      EXPECT_EQ(from_hashes.token_count, expected.token_count);
    }
  }
}

TEST(SimHashTest, LongInputsCountPastTheByteCounters) {
  // More than 255 hashes: the per-byte counters are flushed on the way.
  std::vector<uint64_t> hashes(1000, 0x8000000000000001ull);
  for (size_t i = 0; i < 499; ++i) hashes[i] = 0;
  EXPECT_EQ(SimHash(hashes), 0x8000000000000001ull);  // 501 of 1000
  hashes[499] = 0;
  EXPECT_EQ(SimHash(hashes), 0u);  // 500 of 1000 is no majority
}

TEST(IntersectionTest, CountsSharedValues) {
  std::vector<uint32_t> a = {1, 3, 5, 7, 9}, b = {2, 3, 4, 5, 10};
  EXPECT_EQ(IntersectionSize(a, b), 2u);
  EXPECT_DOUBLE_EQ(Containment(a, b), 0.4);
}

TEST(FeatureMemoTest, ReturnsWhatWasStoredForTheSameTextOnly) {
  FeatureMemo memo(8);
  const FeatureMemo::Key key = FeatureMemo::KeyOf("the first text", 3);
  EXPECT_EQ(memo.Find(key), nullptr);
  CopyFeatures features;
  features.simhash = 0x1234;
  features.shingle_set_hash = 0x5678;
  features.shingles = {1, 5, 9};
  memo.Store(key, features);
  const CopyFeatures* found = memo.Find(key);
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->simhash, 0x1234u);
  EXPECT_EQ(found->shingle_set_hash, 0x5678u);
  EXPECT_EQ(found->shingles, features.shingles);
  EXPECT_EQ(memo.hits(), 1u);
  // Another text, or the same text at another shingle size, is another key.
  EXPECT_EQ(memo.Find(FeatureMemo::KeyOf("the first text.", 3)), nullptr);
  EXPECT_EQ(memo.Find(FeatureMemo::KeyOf("the first text", 2)), nullptr);
}

// Short-line hashes kept with a text's features are given back for the
// same text and word limit only, not counted as hits, and not kept when
// there are too many or when the features come without them.
TEST(FeatureMemoTest, KeepsShortLinesWithTheFeatures) {
  FeatureMemo memo(8);
  const FeatureMemo::Key key = FeatureMemo::KeyOf("a text", 3);
  CopyFeatures features;
  features.shingles = {1, 2};
  features.short_lines = {7, 8};
  features.short_line_words = 12;
  memo.Store(key, features);
  const std::vector<uint64_t>* lines = memo.FindShortLines(key, 12);
  ASSERT_NE(lines, nullptr);
  EXPECT_EQ(*lines, features.short_lines);
  EXPECT_EQ(memo.FindShortLines(key, 8), nullptr);
  EXPECT_EQ(memo.FindShortLines(FeatureMemo::KeyOf("a text.", 3), 12), nullptr);
  EXPECT_EQ(memo.hits(), 0u);
  EXPECT_EQ(memo.short_line_hits(), 1u);
  features.short_lines.assign(FeatureMemo::kMaxShortLines, 9);
  memo.Store(key, features);
  ASSERT_NE(memo.FindShortLines(key, 12), nullptr);
  features.short_lines.assign(FeatureMemo::kMaxShortLines + 1, 9);
  memo.Store(key, features);
  EXPECT_EQ(memo.FindShortLines(key, 12), nullptr);
  ASSERT_NE(memo.Find(key), nullptr);
  features.short_lines = {7};
  memo.Store(key, features);
  ASSERT_NE(memo.FindShortLines(key, 12), nullptr);
  features.short_line_words = 0;
  memo.Store(key, features);
  EXPECT_EQ(memo.FindShortLines(key, 12), nullptr);
}

TEST(FeatureMemoTest, KeepsTheLastTextOfEachSlotAndCanBeTurnedOff) {
  FeatureMemo memo(3);  // rounded up to 4 slots
  EXPECT_EQ(memo.slots(), 4u);
  CopyFeatures features;
  std::vector<FeatureMemo::Key> keys;
  for (int i = 0; i < 64; ++i) {
    keys.push_back(FeatureMemo::KeyOf("text " + std::to_string(i), 3));
    features.simhash = static_cast<uint64_t>(i);
    memo.Store(keys.back(), features);
  }
  int found = 0;
  for (int i = 0; i < 64; ++i) {
    if (const CopyFeatures* hit = memo.Find(keys[static_cast<size_t>(i)])) {
      EXPECT_EQ(hit->simhash, static_cast<uint64_t>(i));
      ++found;
    }
  }
  EXPECT_GE(found, 1);
  EXPECT_LE(found, 4);
  EXPECT_NE(memo.Find(keys.back()), nullptr);  // the newest is always kept

  // A set too large to keep is computed again each time.
  CopyFeatures large;
  large.shingles.resize(FeatureMemo::kMaxShingles + 1);
  const FeatureMemo::Key long_text = FeatureMemo::KeyOf("a long text", 3);
  memo.Store(long_text, large);
  EXPECT_EQ(memo.Find(long_text), nullptr);

  // However many large sets come, the memo holds at most its budget; the
  // newest is always kept, older ones make room for it, and what it holds
  // it returns.
  FeatureMemo budgeted(FeatureMemo::kDefaultSlots);
  CopyFeatures big;
  big.shingles.resize(FeatureMemo::kMaxShingles);
  std::vector<FeatureMemo::Key> big_keys;
  for (int i = 0; i < 4096; ++i) {
    big_keys.push_back(FeatureMemo::KeyOf(std::to_string(i), 3));
    big.simhash = static_cast<uint64_t>(i);
    budgeted.Store(big_keys.back(), big);
    EXPECT_LE(budgeted.held_shingles(), FeatureMemo::kBudgetShingles);
    const CopyFeatures* hit = budgeted.Find(big_keys.back());
    ASSERT_NE(hit, nullptr);
    EXPECT_EQ(hit->simhash, static_cast<uint64_t>(i));
  }
  size_t held = 0;
  for (size_t i = 0; i < big_keys.size(); ++i) {
    if (const CopyFeatures* hit = budgeted.Find(big_keys[i])) {
      EXPECT_EQ(hit->simhash, i);
      ++held;
    }
  }
  const size_t fit = FeatureMemo::kBudgetShingles / FeatureMemo::kMaxShingles;
  EXPECT_LE(held, fit);
  EXPECT_GE(held, fit / 2);  // the clock empties slots only as needed

  FeatureMemo off(0);
  off.Store(keys[0], features);
  EXPECT_EQ(off.Find(keys[0]), nullptr);
}

TEST(NormalizedTextMemoTest, ReturnsWhatWasStoredForTheSameBodyAndRules) {
  NormalizedTextMemo memo(8);
  const NormalizedTextMemo::Key key =
      NormalizedTextMemo::KeyOf("The <b>raw</b> body", 1);
  EXPECT_FALSE(memo.Find(key).has_value());
  memo.Store(key, "the raw body");
  std::optional<std::string_view> found = memo.Find(key);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(*found, "the raw body");
  EXPECT_EQ(memo.hits(), 1u);
  // Another body, or the same body under other rules, is another key.
  EXPECT_FALSE(memo.Find(NormalizedTextMemo::KeyOf("The <b>raw</b> body.", 1)));
  EXPECT_FALSE(memo.Find(NormalizedTextMemo::KeyOf("The <b>raw</b> body", 2)));
  // An empty text is a text.
  const NormalizedTextMemo::Key empty = NormalizedTextMemo::KeyOf("[ad]", 1);
  memo.Store(empty, "");
  ASSERT_TRUE(memo.Find(empty).has_value());
  EXPECT_EQ(*memo.Find(empty), "");
}

TEST(NormalizedTextMemoTest, KeepsTheNewestWithinItsBudget) {
  NormalizedTextMemo memo(NormalizedTextMemo::kDefaultSlots);
  const std::string too_long(NormalizedTextMemo::kMaxTextBytes + 1, 'x');
  const NormalizedTextMemo::Key long_key =
      NormalizedTextMemo::KeyOf(too_long, 1);
  memo.Store(long_key, too_long);
  EXPECT_FALSE(memo.Find(long_key).has_value());
  EXPECT_EQ(memo.held_bytes(), 0u);

  std::vector<NormalizedTextMemo::Key> keys;
  for (int i = 0; i < 4096; ++i) {
    std::string text(NormalizedTextMemo::kMaxTextBytes, 'a');
    text += std::to_string(i);
    text.resize(NormalizedTextMemo::kMaxTextBytes);
    text[0] = static_cast<char>('a' + i % 26);
    keys.push_back(NormalizedTextMemo::KeyOf(std::to_string(i), 1));
    memo.Store(keys.back(), text);
    EXPECT_LE(memo.held_bytes(), NormalizedTextMemo::kBudgetBytes);
    std::optional<std::string_view> found = memo.Find(keys.back());
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(*found, text);
  }
  size_t held = 0;
  for (const NormalizedTextMemo::Key& key : keys)
    held += memo.Find(key) ? 1 : 0;
  const size_t fit =
      NormalizedTextMemo::kBudgetBytes / NormalizedTextMemo::kMaxTextBytes;
  EXPECT_LE(held, fit);
  EXPECT_GE(held, fit / 2);

  NormalizedTextMemo off(0);
  off.Store(keys[0], "text");
  EXPECT_FALSE(off.Find(keys[0]).has_value());
}

}  // namespace
}  // namespace storyd
