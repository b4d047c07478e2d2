// Copyright 2024 The storyd Authors.
#include "core/recent_articles.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

namespace storyd {
namespace {

RecentArticle Article(uint64_t seq, const std::string& id,
                      const std::string& canonical_id, bool own = true) {
  return {.seq = seq,
          .id = id,
          .canonical_id = canonical_id,
          .story = seq * 10,
          .timestamp_ms = static_cast<int64_t>(seq) * 1000,
          .own = own};
}

TEST(RecentArticlesTest, FindsBySeqAndById) {
  RecentArticles recent(8);
  std::string a = "a", b = "b", c = "c";
  recent.Add(Article(1, a, a), nullptr);
  recent.Add(Article(2, b, a), nullptr);
  recent.Add(Article(5, c, c, /*own=*/false), nullptr);  // 3 and 4 skipped

  std::optional<RecentArticle> found = recent.Find(2);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, "b");
  EXPECT_EQ(found->canonical_id, "a");
  EXPECT_EQ(found->story, 20u);
  EXPECT_EQ(found->timestamp_ms, 2000);
  EXPECT_TRUE(found->own);
  found = recent.Find(5);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->canonical_id, "c");
  EXPECT_FALSE(found->own);
  EXPECT_FALSE(recent.Find(0).has_value());
  EXPECT_FALSE(recent.Find(3).has_value());
  EXPECT_FALSE(recent.Find(4).has_value());
  EXPECT_FALSE(recent.Find(6).has_value());

  EXPECT_EQ(recent.SeqOf("a"), 1u);
  EXPECT_EQ(recent.SeqOf("c"), 5u);
  EXPECT_FALSE(recent.SeqOf("d").has_value());
  EXPECT_TRUE(recent.Contains("b"));
}

TEST(RecentArticlesTest, ForgetsTheOldestAndReportsOwnOnes) {
  RecentArticles recent(2);
  std::vector<std::string> forgotten;
  std::vector<std::string> ids = {"one", "two", "three", "four"};
  recent.Add(Article(1, ids[0], ids[0], /*own=*/false), &forgotten);
  recent.Add(Article(2, ids[1], ids[1]), &forgotten);
  recent.Add(Article(3, ids[2], ids[2]), &forgotten);
  EXPECT_TRUE(forgotten.empty());  // "one" was another instance's
  EXPECT_FALSE(recent.Contains("one"));
  EXPECT_FALSE(recent.Find(1).has_value());
  recent.Add(Article(4, ids[3], ids[3]), &forgotten);
  EXPECT_EQ(forgotten, std::vector<std::string>{"two"});
  EXPECT_EQ(recent.size(), 2u);
  EXPECT_EQ(recent.SeqOf("four"), 4u);
  // A forgotten id may come again.
  recent.Add(Article(7, ids[0], ids[0]), nullptr);
  EXPECT_EQ(recent.SeqOf("one"), 7u);
}

TEST(RecentArticlesTest, KeepsIdsLongerThanAChunk) {
  RecentArticles recent(4);
  const std::string long_id(200000, 'x');
  const std::string canonical = "first";
  recent.Add(Article(1, canonical, canonical), nullptr);
  recent.Add(Article(2, long_id, canonical), nullptr);
  std::optional<RecentArticle> found = recent.Find(2);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, long_id);
  EXPECT_EQ(found->canonical_id, "first");
  EXPECT_EQ(recent.SeqOf(long_id), 2u);
  EXPECT_EQ(recent.Find(1)->id, "first");
}

TEST(RecentArticlesTest, MemoryLevelsOffAtCapacity) {
  RecentArticles recent(1000);
  size_t at_capacity = 0;
  for (uint64_t seq = 0; seq < 200000; ++seq) {
    const std::string id = "article-" + std::to_string(seq);
    const std::string canonical = "story-" + std::to_string(seq / 3);
    recent.Add(Article(seq, id, canonical), nullptr);
    if (seq == 10000) at_capacity = recent.MemoryBytes();
  }
  EXPECT_EQ(recent.size(), 1000u);
  // Chunks of forgotten ids are freed: memory does not grow with the stream.
  EXPECT_LE(recent.MemoryBytes(), at_capacity + 64 * 1024);
}

// Against a reference model, with skipped sequence numbers, forgetting,
// and a 4-bit id hash so that most ids collide with a remembered one.
TEST(RecentArticlesTest, MatchesAModelWithCollidingIds) {
  for (int hash_bits : {4, 64}) {
    SCOPED_TRACE(hash_bits);
    constexpr size_t kCapacity = 50;
    RecentArticles recent(kCapacity, hash_bits);
    std::map<uint64_t, std::pair<std::string, std::string>> by_seq;
    std::map<std::string, uint64_t> by_id;
    std::mt19937_64 random(7);
    uint64_t seq = 0;
    std::vector<std::string> forgotten;
    for (int step = 0; step < 20000; ++step) {
      seq += 1 + (random() % 4 == 0 ? random() % 5 : 0);
      // Ids repeat after they are forgotten.
      std::string id = "id" + std::to_string(random() % 400);
      if (by_id.count(id)) continue;
      std::string canonical =
          random() % 2 ? id : "canonical" + std::to_string(random() % 50);
      recent.Add(Article(seq, id, canonical), &forgotten);
      by_seq[seq] = {id, canonical};
      by_id[id] = seq;
      if (by_seq.size() > kCapacity) {
        by_id.erase(by_seq.begin()->second.first);
        ASSERT_FALSE(forgotten.empty());
        ASSERT_EQ(forgotten.back(), by_seq.begin()->second.first);
        by_seq.erase(by_seq.begin());
      }
      // Probe a few sequence numbers and ids, present or not.
      for (int probe = 0; probe < 4; ++probe) {
        const uint64_t probe_seq = seq - random() % (3 * kCapacity);
        std::optional<RecentArticle> found = recent.Find(probe_seq);
        auto expected = by_seq.find(probe_seq);
        ASSERT_EQ(found.has_value(), expected != by_seq.end()) << probe_seq;
        if (found.has_value()) {
          ASSERT_EQ(found->id, expected->second.first);
          ASSERT_EQ(found->canonical_id, expected->second.second);
        }
        const std::string probe_id = "id" + std::to_string(random() % 400);
        std::optional<uint64_t> found_seq = recent.SeqOf(probe_id);
        auto expected_seq = by_id.find(probe_id);
        ASSERT_EQ(found_seq.has_value(), expected_seq != by_id.end());
        if (found_seq.has_value()) {
          ASSERT_EQ(*found_seq, expected_seq->second);
        }
      }
    }
    EXPECT_EQ(recent.size(), kCapacity);
  }
}

}  // namespace
}  // namespace storyd
