#include "core/copy_detector.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace storyd {
namespace {

CopyConfig SmallConfig() {
  CopyConfig config;
  config.fingerprint_capacity = 1 << 12;
  config.window_articles = 1 << 12;
  config.window_arena_words = 1 << 20;
  return config;
}

std::string RandomText(std::mt19937_64& rng, int words) {
  std::string text;
  for (int i = 0; i < words; ++i)
    text += "w" + std::to_string(rng() % 20000) + " ";
  return text;
}

// A copy with a few word edits and, sometimes, a trimmed tail.
std::string CopyOf(const std::string& text, std::mt19937_64& rng) {
  std::vector<std::string> words;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    words.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  for (int e = 0; e < 3; ++e)
    words[rng() % words.size()] = "edit" + std::to_string(rng() % 100);
  if (rng() % 2) words.resize(words.size() * 3 / 4);
  std::string out;
  for (const std::string& w : words) out += w + " ";
  return out;
}

TEST(CopyDetectorTest, FindsCopiesNotUnrelatedTexts) {
  CopyDetector detector(SmallConfig());
  std::mt19937_64 rng(1);
  std::string original = RandomText(rng, 300);
  std::vector<CopyCandidate> found;
  detector.InsertAndFind(0, ComputeFeatures(original, 3), &found);
  EXPECT_TRUE(found.empty());
  detector.InsertAndFind(1, ComputeFeatures(RandomText(rng, 300), 3), &found);
  EXPECT_TRUE(found.empty());
  detector.InsertAndFind(2, ComputeFeatures(CopyOf(original, rng), 3), &found);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].seq, 0u);
  EXPECT_EQ(found[0].method, CopyMethod::kContainment);
  EXPECT_GT(found[0].score, 0.9);
}

TEST(CopyResolverTest, EarlierWinsAndLaterViewsAreMerged) {
  CopyResolver resolver(16);
  // Article 0 saw 1 as a copy (1 had not been inserted when it searched);
  // article 1 saw nothing. The resolver still makes 1 a copy of 0.
  std::vector<CopyCandidate> found0 = {{1, 0.9, -1, CopyMethod::kContainment}};
  EXPECT_FALSE(resolver.Resolve(0, 0xAB, found0).original_seq.has_value());
  CopyDecision d1 = resolver.Resolve(1, 0xAF, {});
  ASSERT_TRUE(d1.original_seq.has_value());
  EXPECT_EQ(*d1.original_seq, 0u);
  EXPECT_EQ(d1.best.hamming, 1);
  // Article 2 matches copy 1 best: its original is still 0.
  std::vector<CopyCandidate> found2 = {{0, 0.6, -1, CopyMethod::kContainment},
                                       {1, 0.8, -1, CopyMethod::kContainment}};
  CopyDecision d2 = resolver.Resolve(2, 0xAB, found2);
  EXPECT_EQ(*d2.original_seq, 0u);
  EXPECT_EQ(*d2.matched_seq, 1u);
  // A rejected record is never an original.
  resolver.Reject(3, {});
  std::vector<CopyCandidate> found4 = {{3, 1.0, -1, CopyMethod::kContainment}};
  EXPECT_FALSE(resolver.Resolve(4, 0, found4).original_seq.has_value());
}

// The resolver's memory of identical sets (CopyResolver::
// EnableIdenticalSets): each set with the first accepted article that had
// it, and what that article matched with a score of 1, for the horizon.
TEST(CopyResolverTest, IdenticalSetsAreDecidedLikeTheirFirstArticle) {
  CopyResolver resolver(1024);
  resolver.EnableIdenticalSets(10);
  constexpr uint64_t kSet = 0xabc, kFingerprint = 0x1234;
  EXPECT_FALSE(resolver.ResolveIdentical(0, kSet, kFingerprint, {}));
  CopyDecision original = resolver.Resolve(0, 0x9999, {});
  resolver.RememberIdentical(0, 0x777, 0x9999, original);
  // Article 1 contains article 0's set (score 1) and is the first with
  // its own set.
  const std::vector<CopyCandidate> to_zero = {
      {0, 1.0, -1, CopyMethod::kContainment}};
  CopyDecision first = resolver.Resolve(1, kFingerprint, to_zero);
  ASSERT_EQ(first.matched_seq, std::optional<uint64_t>(0));
  resolver.RememberIdentical(1, kSet, kFingerprint, first);

  EXPECT_FALSE(resolver.ResolveIdentical(2, kSet, kFingerprint ^ 1, {}));
  EXPECT_FALSE(resolver.ResolveIdentical(2, 0, kFingerprint, {}));
  EXPECT_EQ(resolver.identical_decisions(), 0u);
  // Whatever its worker found (here a later article, and article 1 with a
  // score below 1), article 2 is decided like article 1: a copy of 0.
  const std::vector<CopyCandidate> found = {
      {1, 0.9, -1, CopyMethod::kContainment},
      {5, 1.0, -1, CopyMethod::kContainment}};
  std::optional<CopyDecision> second =
      resolver.ResolveIdentical(2, kSet, kFingerprint, found);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->matched_seq, std::optional<uint64_t>(0));
  EXPECT_EQ(second->original_seq, std::optional<uint64_t>(0));
  EXPECT_EQ(second->best.score, 1.0);
  EXPECT_EQ(second->best.hamming, HammingDistance(kFingerprint, 0x9999));
  EXPECT_EQ(resolver.identical_decisions(), 1u);
  // The later match it found still reaches article 5.
  CopyDecision fifth = resolver.Resolve(5, kFingerprint, {});
  EXPECT_EQ(fifth.original_seq, std::optional<uint64_t>(0));
  // A later article with the set does not replace the first.
  resolver.RememberIdentical(6, kSet, kFingerprint, fifth);
  EXPECT_TRUE(resolver.ResolveIdentical(11, kSet, kFingerprint, {}));
  // Another set under the same fingerprint is not this one.
  EXPECT_FALSE(resolver.ResolveIdentical(11, kSet ^ 1, kFingerprint, {}));
  // Ten articles after the first, the set is forgotten.
  EXPECT_FALSE(resolver.ResolveIdentical(12, kSet, kFingerprint, {}));
}

// An article decided elsewhere (another instance, through the changelog)
// with the fingerprint makes the resolver forget the set, until an article
// decided here is remembered for it again.
TEST(CopyResolverTest, IdenticalSetsForgottenForArticlesDecidedElsewhere) {
  CopyResolver resolver(1024);
  resolver.EnableIdenticalSets(100);
  resolver.RememberIdentical(0, 0xabc, 7, resolver.Resolve(0, 7, {}));
  EXPECT_TRUE(resolver.ResolveIdentical(1, 0xabc, 7, {}));
  resolver.Restore(2, std::nullopt, 7);
  resolver.ForgetIdentical(7);
  EXPECT_FALSE(resolver.ResolveIdentical(3, 0xabc, 7, {}));
  const std::vector<CopyCandidate> to_two = {
      {2, 1.0, -1, CopyMethod::kContainment}};
  CopyDecision third = resolver.Resolve(3, 7, to_two);
  resolver.RememberIdentical(3, 0xabc, 7, third);
  std::optional<CopyDecision> fourth =
      resolver.ResolveIdentical(4, 0xabc, 7, {});
  ASSERT_TRUE(fourth.has_value());
  EXPECT_EQ(fourth->matched_seq, std::optional<uint64_t>(2));
  // The forgotten entry's expiry leaves the new one alone.
  EXPECT_TRUE(resolver.ResolveIdentical(101, 0xabc, 7, {}));
  EXPECT_FALSE(resolver.ResolveIdentical(104, 0xabc, 7, {}));
}

// An article that found a verbatim copy decided from the memory is decided
// as if it had found that copy's first article (the same set, earlier).
TEST(CopyResolverTest, ACopyDecidedFromTheMemoryStandsForItsFirstArticle) {
  CopyResolver resolver(1024);
  resolver.EnableIdenticalSets(100);
  resolver.RememberIdentical(0, 0x777, 1, resolver.Resolve(0, 1, {}));
  CopyDecision first = resolver.Resolve(1, 2, {});  // another text
  resolver.RememberIdentical(1, 0xabc, 2, first);
  ASSERT_TRUE(resolver.ResolveIdentical(2, 0xabc, 2, {}));
  ASSERT_TRUE(resolver.ResolveIdentical(3, 0xabc, 2, {}));
  // Article 4 is a near copy of text 0xabc; its search reached copy 3
  // only.
  const std::vector<CopyCandidate> found = {
      {3, 0.7, -1, CopyMethod::kContainment}};
  CopyDecision fourth = resolver.Resolve(4, 5, found);
  EXPECT_EQ(fourth.matched_seq, std::optional<uint64_t>(1));
  EXPECT_EQ(fourth.original_seq, std::optional<uint64_t>(1));
  EXPECT_EQ(fourth.best.score, 0.7);
}

// A first article that scored below 1 (or was an original) is itself the
// match.
TEST(CopyResolverTest, IdenticalSetsWithoutAPerfectMatch) {
  CopyResolver resolver(1024);
  resolver.EnableIdenticalSets(100);
  resolver.RememberIdentical(0, 0x777, 1, resolver.Resolve(0, 1, {}));
  const std::vector<CopyCandidate> near = {
      {0, 0.8, -1, CopyMethod::kContainment}};
  CopyDecision first = resolver.Resolve(1, 2, near);
  resolver.RememberIdentical(1, 0xabc, 2, first);
  std::optional<CopyDecision> second =
      resolver.ResolveIdentical(2, 0xabc, 2, {});
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->matched_seq, std::optional<uint64_t>(1));
  EXPECT_EQ(second->original_seq, std::optional<uint64_t>(0));
  EXPECT_EQ(second->best.method, CopyMethod::kContainment);
  EXPECT_EQ(second->best.hamming, 0);
  std::optional<CopyDecision> of_original =
      resolver.ResolveIdentical(3, 0x777, 1, {});
  ASSERT_TRUE(of_original.has_value());
  EXPECT_EQ(of_original->original_seq, std::optional<uint64_t>(0));
}

// The worker's side: once the window gives an earlier identical set, the
// SimHash index is left alone; a set that is no exact copy is searched.
TEST(CopyDetectorTest, IdenticalSetSkipsTheSearch) {
  CopyDetector detector(SmallConfig());
  std::mt19937_64 rng(3);
  const std::string text = RandomText(rng, 200);
  const std::string near_copy = CopyOf(text, rng);
  std::vector<CopyCandidate> found;
  EXPECT_EQ(detector.InsertAndFind(0, ComputeFeatures(text, 3), &found,
                                   /*skip_identical=*/true),
            SkippedSearch::kNone);
  EXPECT_EQ(detector.InsertAndFind(1, ComputeFeatures(near_copy, 3), &found,
                                   /*skip_identical=*/true),
            SkippedSearch::kNone);
  found.clear();
  // The first anchor's chain gives seq 0 at once: nothing else is searched,
  // so the near copy (seq 1) is not among the candidates.
  EXPECT_EQ(detector.InsertAndFind(2, ComputeFeatures(text, 3), &found,
                                   /*skip_identical=*/true),
            SkippedSearch::kAll);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].seq, 0u);
  EXPECT_EQ(found[0].score, 1.0);
  EXPECT_EQ(found[0].hamming, -1);  // no fingerprint search filled it in
  found.clear();
  EXPECT_EQ(detector.InsertAndFind(3, ComputeFeatures(CopyOf(text, rng), 3),
                                   &found, /*skip_identical=*/true),
            SkippedSearch::kNone);
  EXPECT_EQ(found.size(), 3u);
  found.clear();
  EXPECT_EQ(detector.InsertAndFind(4, ComputeFeatures(text, 3), &found),
            SkippedSearch::kNone);
  EXPECT_GE(found.size(), 3u);
  // Only an earlier identical set counts: a later one is no reason.
  CopyDetector other(SmallConfig());
  other.Insert(10, ComputeFeatures(text, 3).simhash,
               ComputeFeatures(text, 3).shingles);
  found.clear();
  EXPECT_EQ(other.InsertAndFind(5, ComputeFeatures(text, 3), &found,
                                /*skip_identical=*/true),
            SkippedSearch::kNone);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].seq, 10u);
  EXPECT_EQ(found[0].hamming, 0);  // the fingerprint search ran
}

// Past the first anchor's chain's newest nodes, the window's search gives
// the identical set, and only the SimHash index is left alone.
TEST(CopyDetectorTest, IdenticalSetBeyondTheChainWalkSkipsTheFingerprints) {
  CopyDetector detector(SmallConfig());
  std::mt19937_64 rng(5);
  const std::string text = RandomText(rng, 200);
  std::vector<CopyCandidate> found;
  detector.InsertAndFind(0, ComputeFeatures(text, 3), &found);
  // Near copies that keep the first anchor push seq 0 down its chain.
  const ArticleFeatures original = ComputeFeatures(text, 3);
  uint64_t seq = 1;
  for (size_t pushed = 0; pushed <= ShingleWindow::kMaxIdenticalWalk;) {
    const ArticleFeatures copy = ComputeFeatures(CopyOf(text, rng), 3);
    if (copy.shingles.empty() || copy.shingles[0] != original.shingles[0] ||
        copy.shingles == original.shingles) {
      continue;
    }
    detector.Insert(seq++, copy.simhash, copy.shingles);
    ++pushed;
  }
  found.clear();
  EXPECT_EQ(detector.InsertAndFind(seq, original, &found,
                                   /*skip_identical=*/true),
            SkippedSearch::kFingerprints);
  EXPECT_TRUE(std::any_of(found.begin(), found.end(),
                          [](const CopyCandidate& c) { return c.seq == 0; }));
}

// The concurrency rule: copies processed at the same moment on 8 threads
// end with exactly one original per group, the earliest article. Runs
// under ThreadSanitizer in CI.
TEST(CopyDetectorConcurrencyTest, EveryGroupEndsWithOneOriginal) {
  constexpr int kThreads = 8, kGroups = 12, kCopies = 6, kRounds = 15;
  std::mt19937_64 rng(42);
  for (int round = 0; round < kRounds; ++round) {
    std::vector<ArticleFeatures> features;
    std::vector<int> group_of;
    for (int g = 0; g < kGroups; ++g) {
      std::string original = RandomText(rng, 120);
      for (int c = 0; c < kCopies; ++c) {
        features.push_back(
            ComputeFeatures(c == 0 ? original : CopyOf(original, rng), 3));
        group_of.push_back(g);
      }
    }
    // Shuffle so that copies of one group get nearby sequence numbers and
    // are processed at the same moment on different threads.
    std::vector<size_t> order(features.size());
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);

    CopyDetector detector(SmallConfig());
    std::vector<std::vector<CopyCandidate>> found(order.size());
    std::atomic<size_t> next{0};
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        ready.fetch_add(1);
        while (ready.load() < kThreads) {
        }
        for (size_t seq = next.fetch_add(1); seq < order.size();
             seq = next.fetch_add(1)) {
          detector.InsertAndFind(seq, features[order[seq]], &found[seq]);
        }
      });
    }
    for (std::thread& thread : threads) thread.join();

    CopyResolver resolver(1024);
    std::vector<int> originals(kGroups, 0);
    std::vector<int64_t> first_seq(kGroups, -1);
    for (size_t seq = 0; seq < order.size(); ++seq) {
      int group = group_of[order[seq]];
      if (first_seq[group] < 0) first_seq[group] = static_cast<int64_t>(seq);
      CopyDecision decision =
          resolver.Resolve(seq, features[order[seq]].simhash, found[seq]);
      if (!decision.original_seq.has_value()) {
        ++originals[group];
        EXPECT_EQ(static_cast<int64_t>(seq), first_seq[group])
            << "round " << round;
      } else {
        EXPECT_EQ(group_of[order[*decision.original_seq]], group)
            << "round " << round;
        EXPECT_EQ(static_cast<int64_t>(*decision.original_seq),
                  first_seq[group]);
      }
    }
    for (int g = 0; g < kGroups; ++g)
      EXPECT_EQ(originals[g], 1) << "round " << round;
  }
}

}  // namespace
}  // namespace storyd
