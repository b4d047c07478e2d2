// Copyright 2024 The storyd Authors.

#include "core/shingle_window.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace storyd {
namespace {

using Set = std::vector<uint32_t>;

Set Normalize(Set s) {
  std::sort(s.begin(), s.end());
  s.erase(std::unique(s.begin(), s.end()), s.end());
  return s;
}

Set RandomSet(std::mt19937_64& rng, size_t n, uint32_t universe) {
  Set s;
  while (s.size() < n) {
    s.push_back(static_cast<uint32_t>(rng() % universe));
    if (s.size() == n) s = Normalize(s);
  }
  return s;
}

// A random subset keeping each element with probability p.
Set Subset(const Set& s, double p, std::mt19937_64& rng) {
  std::bernoulli_distribution keep(p);
  Set out;
  for (uint32_t v : s) {
    if (keep(rng)) out.push_back(v);
  }
  if (out.empty()) out.push_back(s[0]);
  return out;
}

uint32_t Shared(const Set& a, const Set& b) {
  Set both;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(),
                        std::back_inserter(both));
  return static_cast<uint32_t>(both.size());
}

double BruteContainment(const Set& a, const Set& b) {
  return static_cast<double>(Shared(a, b)) /
         static_cast<double>(std::min(a.size(), b.size()));
}

uint32_t SharedAnchors(const Set& a, const Set& b) {
  const Set qa(a.begin(), a.begin() + std::min<size_t>(16, a.size()));
  const Set qb(b.begin(), b.begin() + std::min<size_t>(16, b.size()));
  return Shared(qa, qb);
}

bool SharesAnchor(const Set& a, const Set& b) {
  return SharedAnchors(a, b) > 0;
}

TEST(ShingleWindowTest, CreateValidates) {
  EXPECT_FALSE(ShingleWindow::Create(0, 16).ok());
  EXPECT_FALSE(ShingleWindow::Create(1024, 0).ok());
  auto w = ShingleWindow::Create(1000, 100);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->arena_words(), 1024u);
  EXPECT_EQ((*w)->max_entries(), 128u);
  EXPECT_FALSE((*w)->Insert(1, {}));
  EXPECT_FALSE((*w)->Insert(1, Set(600, 1)));
}

TEST(ShingleWindowTest, ContainmentIsExactAgainstBruteForce) {
  std::mt19937_64 rng(11);
  ShingleWindow window(1 << 18, 1024);
  std::vector<Set> sets;
  // Small universe so that sets share anchors and overlap in varied amounts.
  for (int i = 0; i < 300; ++i) {
    if (i > 0 && i % 3 == 0) {
      // Variant of an earlier set: subset plus some fresh values.
      Set v = Subset(sets[rng() % sets.size()], 0.7, rng);
      Set extra = RandomSet(rng, 1 + rng() % 50, 200000);
      v.insert(v.end(), extra.begin(), extra.end());
      sets.push_back(Normalize(v));
    } else {
      sets.push_back(RandomSet(rng, 20 + rng() % 400, 200000));
    }
    ASSERT_TRUE(window.Insert(static_cast<uint64_t>(i), sets.back()));
  }
  for (int q = 0; q < 100; ++q) {
    const Set query = q % 2 == 0 ? sets[rng() % sets.size()]
                                 : Subset(sets[rng() % sets.size()], 0.5, rng);
    std::vector<ShingleMatch> got;
    window.Lookup(query, 0.0, 1000, &got);
    std::set<uint64_t> seen;
    for (const auto& m : got) {
      ASSERT_LT(m.seq, sets.size());
      EXPECT_TRUE(seen.insert(m.seq).second) << "duplicate " << m.seq;
      const Set& s = sets[m.seq];
      EXPECT_EQ(m.set_size, s.size());
      EXPECT_EQ(m.shared, Shared(query, s));
      EXPECT_DOUBLE_EQ(m.containment, BruteContainment(query, s));
      EXPECT_TRUE(SharesAnchor(query, s));
    }
    // Every stored set sharing an anchor is reported (chains are short).
    for (size_t i = 0; i < sets.size(); ++i) {
      if (SharesAnchor(query, sets[i])) {
        EXPECT_TRUE(seen.count(i)) << "missing " << i;
      }
    }
    // With a threshold, sets that cannot reach it are not read to the end;
    // every set that does is still reported with its exact count.
    for (double threshold : {0.2, 0.5, 0.8}) {
      std::vector<ShingleMatch> above;
      window.Lookup(query, threshold, 1000, &above);
      std::set<uint64_t> reported;
      for (const auto& m : above) {
        reported.insert(m.seq);
        EXPECT_EQ(m.shared, Shared(query, sets[m.seq]));
        EXPECT_GE(m.containment, threshold);
      }
      for (size_t i = 0; i < sets.size(); ++i) {
        const Set& s = sets[i];
        // (A set sharing one anchor may be skipped unread: CouldReach.)
        if (BruteContainment(query, s) >= threshold &&
            SharedAnchors(query, s) > 1) {
          EXPECT_TRUE(reported.count(i))
              << "missing " << i << " at " << threshold;
        }
      }
    }
    // Containment() agrees for every stored set.
    for (size_t i = 0; i < sets.size(); i += 7) {
      const auto c = window.Containment(query, i);
      ASSERT_TRUE(c.has_value());
      EXPECT_EQ(c->seq, i);
      EXPECT_DOUBLE_EQ(c->containment, BruteContainment(query, sets[i]));
    }
  }
}

// The reader copies a stored set out in chunks of 64 words and compares
// blocks of four values; sizes around those boundaries, dense overlaps and
// interleavings must all give the exact intersection.
TEST(ShingleWindowTest, ContainmentExactAcrossChunkAndBlockBoundaries) {
  std::mt19937_64 rng(23);
  ShingleWindow window(1 << 16, 64);
  const size_t sizes[] = {1,   2,   3,   4,   5,   7,   8,    255,
                          256, 257, 511, 512, 513, 700, 1023, 1025};
  uint64_t seq = 0;
  for (size_t stored_size : sizes) {
    for (size_t query_size : {size_t{1}, size_t{4}, size_t{9}, size_t{300},
                              stored_size, stored_size + 3}) {
      for (uint32_t universe : {2000u, 4000u, 1u << 30}) {
        const uint32_t u = std::max<uint32_t>(
            universe, static_cast<uint32_t>(2 * (stored_size + query_size)));
        const Set stored = RandomSet(rng, stored_size, u);
        const Set query = RandomSet(rng, query_size, u);
        ASSERT_TRUE(window.Insert(++seq, stored));
        const std::optional<ShingleMatch> m = window.Containment(query, seq);
        ASSERT_TRUE(m.has_value());
        EXPECT_EQ(m->shared, Shared(query, stored))
            << stored_size << " " << query_size << " " << u;
        // A subset of the stored set is fully contained.
        const Set part = Subset(stored, 0.5, rng);
        const std::optional<ShingleMatch> p = window.Containment(part, seq);
        ASSERT_TRUE(p.has_value());
        EXPECT_EQ(p->shared, part.size());
        EXPECT_DOUBLE_EQ(p->containment, 1.0);
      }
    }
  }
}

// Lookup stops reading a candidate once the values read rule out the
// threshold (PrefixRulesOut). Its rule against the Chernoff bound computed
// here directly, on a grid of prefixes.
TEST(ShingleWindowTest, PrefixRuleIsTheChernoffBound) {
  EXPECT_FALSE(ShingleWindow::PrefixRulesOut(0, 0, 0.3));
  EXPECT_FALSE(ShingleWindow::PrefixRulesOut(500, 0, 0.0));
  EXPECT_FALSE(ShingleWindow::PrefixRulesOut(500, 500, 0.9));
  // Sets of Jaccard 1 are identical: one unshared value rules them out.
  EXPECT_TRUE(ShingleWindow::PrefixRulesOut(2, 1, 1.0));
  // A typical non-copy: nothing shared in the first chunk's union.
  EXPECT_TRUE(ShingleWindow::PrefixRulesOut(128, 0, 1.0 / 3));
  // Too few values to tell, or a share at the threshold itself.
  EXPECT_FALSE(ShingleWindow::PrefixRulesOut(40, 0, 1.0 / 3));
  EXPECT_FALSE(ShingleWindow::PrefixRulesOut(3000, 1000, 1.0 / 3));
  int ruled_out = 0;
  for (double jaccard : {0.05, 0.2, 1.0 / 3, 0.5, 0.8}) {
    for (size_t u = 1; u <= 2000; u += 7) {
      for (size_t shared = 0; shared <= u; shared += 1 + u / 50) {
        const double x = static_cast<double>(shared) / static_cast<double>(u);
        double divergence = 0;
        if (x < jaccard) {
          divergence = (1 - x) * std::log((1 - x) / (1 - jaccard));
          if (shared > 0) divergence += x * std::log(x / jaccard);
        }
        const double bound = static_cast<double>(u) * divergence;
        if (std::abs(bound - 32) < 1e-9) continue;  // Rounding either way.
        EXPECT_EQ(ShingleWindow::PrefixRulesOut(u, shared, jaccard), bound > 32)
            << u << " " << shared << " " << jaccard;
        ruled_out += bound > 32;
      }
    }
  }
  EXPECT_GT(ruled_out, 1000);
}

// Pairs of random sets at the containment threshold exactly, and one value
// below it: every one at the threshold that shares two anchors is reported
// with its exact count, none below it, whatever the sizes.
TEST(ShingleWindowTest, SetsAtTheThresholdAreAlwaysFound) {
  std::mt19937_64 rng(41);
  struct Sizes {
    size_t query, stored;
  };
  int found = 0;
  for (const Sizes sizes : {Sizes{300, 300}, Sizes{200, 600}, Sizes{600, 200},
                            Sizes{1000, 1000}, Sizes{70, 500}}) {
    for (double threshold : {0.2, 0.5, 0.8}) {
      const size_t smaller = std::min(sizes.query, sizes.stored);
      const size_t at = static_cast<size_t>(
          std::ceil(threshold * static_cast<double>(smaller) - 1e-9));
      for (int trial = 0; trial < 200; ++trial) {
        for (size_t shared : {at, at - 1}) {
          // Distinct random values: shared ones first, then each side's own.
          Set pool =
              RandomSet(rng, sizes.query + sizes.stored - shared, 0xffffffffu);
          std::shuffle(pool.begin(), pool.end(), rng);
          const auto own = pool.begin() + static_cast<ptrdiff_t>(shared);
          Set query(pool.begin(), own);
          Set stored(pool.begin(), own);
          query.insert(query.end(), own,
                       own + static_cast<ptrdiff_t>(sizes.query - shared));
          stored.insert(stored.end(),
                        own + static_cast<ptrdiff_t>(sizes.query - shared),
                        pool.end());
          query = Normalize(query);
          stored = Normalize(stored);
          ASSERT_EQ(Shared(query, stored), shared);
          ShingleWindow window(1 << 12, 64);
          ASSERT_TRUE(window.Insert(7, stored));
          std::vector<ShingleMatch> got;
          window.Lookup(query, threshold, 8, &got);
          if (shared < at) {
            EXPECT_TRUE(got.empty());
          } else if (SharedAnchors(query, stored) > 1) {
            ASSERT_EQ(got.size(), 1u) << sizes.query << " " << sizes.stored
                                      << " " << threshold << " " << trial;
            EXPECT_EQ(got[0].shared, shared);
            ++found;
          }
        }
      }
    }
  }
  EXPECT_GT(found, 1000);
}

// Copies of one set are intersected once per lookup and the count reused;
// every copy must still be reported, each with the exact count, and a copy
// whose words left the arena must not be.
TEST(ShingleWindowTest, CopiesOfOneSetAllReportedWithTheExactCount) {
  std::mt19937_64 rng(31);
  const Set stored = RandomSet(rng, 400, 1u << 30);
  Set query = Subset(stored, 0.8, rng);
  const Set extra = RandomSet(rng, 30, 1u << 30);
  query.insert(query.end(), extra.begin(), extra.end());
  query = Normalize(query);
  {
    ShingleWindow window(1 << 16, 64);
    for (uint64_t seq = 1; seq <= 5; ++seq) {
      ASSERT_TRUE(window.Insert(seq, stored));
    }
    std::vector<ShingleMatch> got;
    window.Lookup(query, 0.5, 64, &got);
    ASSERT_EQ(got.size(), 5u);
    for (const ShingleMatch& m : got) {
      EXPECT_EQ(m.shared, Shared(query, stored));
      EXPECT_EQ(m.set_size, stored.size());
    }
  }
  {
    // An arena of 1024 words holds three sets of 300: the first one
    // inserted is overwritten by the fourth. It is inserted under the
    // largest seq, so it is the last candidate, after its copies were
    // intersected: the remembered count must not report it.
    ShingleWindow window(1024, 64);
    for (uint64_t seq = 4; seq >= 1; --seq) {
      ASSERT_TRUE(
          window.Insert(seq, Set(stored.begin(), stored.begin() + 300)));
    }
    std::vector<ShingleMatch> got;
    window.Lookup(query, 0.5, 64, &got);
    std::vector<uint64_t> seqs;
    for (const ShingleMatch& m : got) seqs.push_back(m.seq);
    std::sort(seqs.begin(), seqs.end());
    EXPECT_EQ(seqs, (std::vector<uint64_t>{1, 2, 3}));
  }
  {
    // Containment by seq, carrying the sets intersected between calls (as
    // the fingerprint index's candidates are confirmed): every copy gets
    // the exact count, from one intersection; an overwritten copy none.
    ShingleWindow window(1024, 64);
    const Set trimmed(stored.begin(), stored.begin() + 300);
    for (uint64_t seq = 1; seq <= 4; ++seq) {
      ASSERT_TRUE(window.Insert(seq, trimmed));
    }
    std::vector<ShingleWindow::KnownSet> known;
    EXPECT_FALSE(window.Containment(query, 1, &known).has_value());
    for (uint64_t seq = 2; seq <= 4; ++seq) {
      const std::optional<ShingleMatch> m =
          window.Containment(query, seq, &known);
      ASSERT_TRUE(m.has_value()) << seq;
      EXPECT_EQ(m->seq, seq);
      EXPECT_EQ(m->shared, Shared(query, trimmed));
      EXPECT_EQ(m->set_size, trimmed.size());
    }
    EXPECT_EQ(known.size(), 1u);
    // Carried back to the overwritten one, the count is still not given.
    EXPECT_FALSE(window.Containment(query, 1, &known).has_value());
  }
}

TEST(ShingleWindowTest, TrimmedCopiesAreFoundUnrelatedAreNot) {
  std::mt19937_64 rng(12);
  ShingleWindow window(1 << 20, 4096);
  std::vector<Set> sets;
  for (int i = 0; i < 1000; ++i) {
    sets.push_back(RandomSet(rng, 300 + rng() % 200, 0xffffffffu));
    ASSERT_TRUE(window.Insert(1000 + i, sets.back()));
  }
  for (int i = 0; i < 1000; i += 10) {
    const Set& s = sets[i];
    // The article's first half of text: a random half of its shingles.
    const Set half = Subset(s, 0.5, rng);
    // The literal sorted prefix of 50%.
    const Set prefix(s.begin(), s.begin() + s.size() / 2);
    for (const Set* q : {&half, &prefix}) {
      std::vector<ShingleMatch> got;
      window.Lookup(*q, 0.9, 8, &got);
      ASSERT_EQ(got.size(), 1u) << i;
      EXPECT_EQ(got[0].seq, 1000u + i);
      EXPECT_DOUBLE_EQ(got[0].containment, 1.0);
      EXPECT_EQ(got[0].shared, q->size());
      EXPECT_EQ(got[0].set_size, s.size());
    }
    const auto c = window.Containment(half, 1000 + i);
    ASSERT_TRUE(c.has_value());
    EXPECT_DOUBLE_EQ(c->containment, 1.0);
  }
  for (int i = 0; i < 100; ++i) {
    const Set unrelated = RandomSet(rng, 400, 0xffffffffu);
    std::vector<ShingleMatch> got;
    window.Lookup(unrelated, 0.1, 8, &got);
    EXPECT_TRUE(got.empty());
  }
  EXPECT_FALSE(window.Containment(sets[0], 424242).has_value());
}

TEST(ShingleWindowTest, CandidatesOrderedBySharedAnchorsThenSeq) {
  ShingleWindow window(1 << 12, 64);
  Set base;
  for (uint32_t v = 1; v <= 40; ++v) base.push_back(v);
  // seq 5: shares all anchors; seq 3 and 4: share 8; seq 2: shares 8 too.
  ASSERT_TRUE(window.Insert(5, base));
  Set tail(base.begin() + 8, base.end());
  ASSERT_TRUE(window.Insert(4, tail));
  ASSERT_TRUE(window.Insert(3, tail));
  ASSERT_TRUE(window.Insert(2, tail));
  std::vector<ShingleMatch> got;
  window.Lookup(base, 0.0, 2, &got);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].seq, 5u);
  EXPECT_EQ(got[1].seq, 2u);
}

TEST(ShingleWindowTest, OverwrittenSetsAreNeverReported) {
  std::mt19937_64 rng(13);
  // Arena holds ~10 sets of 100; records ring holds 64.
  ShingleWindow window(1024, 64);
  const size_t memory = window.MemoryBytes();
  std::vector<Set> sets;
  for (int i = 0; i < 500; ++i) {
    sets.push_back(RandomSet(rng, 100, 5000));  // Heavy anchor sharing.
    ASSERT_TRUE(window.Insert(i, sets.back()));
  }
  EXPECT_EQ(window.MemoryBytes(), memory);
  for (int i = 0; i < 500; ++i) {
    std::vector<ShingleMatch> got;
    window.Lookup(sets[i], 0.0, 100, &got);
    for (const auto& m : got) {
      // Only sets still in the arena: the last 1024 words = 10 sets.
      EXPECT_GE(m.seq, 490u);
      EXPECT_DOUBLE_EQ(m.containment, BruteContainment(sets[i], sets[m.seq]));
    }
    const auto c = window.Containment(sets[i], i);
    EXPECT_EQ(c.has_value(), i >= 490) << i;
    if (i >= 490) {
      bool self = false;
      for (const auto& m : got) self |= m.seq == static_cast<uint64_t>(i);
      EXPECT_TRUE(self) << i;
    }
  }
}

// FindIdenticalEarlier gives only a live, earlier entry with the very same
// set: not a later one, not one that shares the first anchor alone, not one
// whose words the arena has overwritten.
TEST(ShingleWindowTest, FindIdenticalEarlierOnlyGivesTheSameSetEarlier) {
  std::mt19937_64 rng(15);
  ShingleWindow window(1024, 64);  // the arena holds ~10 sets of 100
  const Set set = RandomSet(rng, 100, 1u << 30);
  const uint64_t hash = ShingleWindow::ContentHash(set);
  EXPECT_FALSE(window.FindIdenticalEarlier(set, hash, 10).has_value());
  ASSERT_TRUE(window.Insert(5, set));
  EXPECT_EQ(window.FindIdenticalEarlier(set, hash, 10), 5u);
  EXPECT_FALSE(window.FindIdenticalEarlier(set, hash, 5).has_value());
  EXPECT_FALSE(window.FindIdenticalEarlier(set, hash, 3).has_value());
  // A superset with the same first anchor is not the same set.
  Set superset = set;
  superset.push_back(set.back() + 1);
  ASSERT_TRUE(window.Insert(6, superset));
  EXPECT_FALSE(
      window.FindIdenticalEarlier(superset, ShingleWindow::ContentHash(set), 10)
          .has_value());
  EXPECT_EQ(window.FindIdenticalEarlier(
                superset, ShingleWindow::ContentHash(superset), 10),
            6u);
  // The newest equal set on the chain is given.
  ASSERT_TRUE(window.Insert(7, set));
  EXPECT_EQ(window.FindIdenticalEarlier(set, hash, 10), 7u);
  EXPECT_EQ(window.FindIdenticalEarlier(set, hash, 7), 5u);
  // Once other sets have overwritten its words, the set is gone.
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(window.Insert(100 + i, RandomSet(rng, 100, 1u << 30)));
  }
  EXPECT_FALSE(window.FindIdenticalEarlier(set, hash, 1000).has_value());
}

// A lookup for earlier entries only, with an order slack, reads each chain
// as if its entries had been pushed in seq order: entries pushed in
// shuffled order within batches (as RunDedup's workers index them) give the
// same matches as the same entries pushed in order. 300 sets share their
// 16 smallest values, so every anchor chain is far longer than the cap.
TEST(ShingleWindowTest,
     EarlierOnlyLookupDoesNotDependOnPushOrderWithinBatches) {
  std::mt19937_64 rng(16);
  constexpr size_t kSets = 300, kBatch = 32;
  // 20 smallest values in common, then 40 of which each set replaces 5.
  const Set common = RandomSet(rng, 20, 1u << 20);
  Set body = RandomSet(rng, 40, 1u << 22);
  for (uint32_t& v : body) v += 1u << 20;
  std::vector<Set> sets;
  for (size_t i = 0; i < kSets; ++i) {
    Set set = common;
    for (size_t k = 0; k < body.size(); ++k) {
      set.push_back(k < 5 ? (1u << 23) + static_cast<uint32_t>(i * 5 + k)
                          : body[k]);
    }
    sets.push_back(Normalize(set));
  }
  ShingleWindow in_order(1 << 20, 1024), shuffled(1 << 20, 1024);
  for (size_t i = 0; i < kSets; ++i) ASSERT_TRUE(in_order.Insert(i, sets[i]));
  for (size_t first = 0; first < kSets; first += kBatch) {
    std::vector<size_t> batch;
    for (size_t i = first; i < std::min(kSets, first + kBatch); ++i)
      batch.push_back(i);
    std::shuffle(batch.begin(), batch.end(), rng);
    for (size_t i : batch) ASSERT_TRUE(shuffled.Insert(i, sets[i]));
  }
  auto matches = [](const ShingleWindow& window, const Set& set, uint64_t seq,
                    uint64_t slack) {
    std::vector<ShingleMatch> got;
    window.Lookup(set, 0.5, 64, &got, seq, slack);
    std::vector<std::pair<uint64_t, uint32_t>> out;
    for (const ShingleMatch& m : got) out.emplace_back(m.seq, m.shared);
    std::sort(out.begin(), out.end());
    return out;
  };
  size_t differ_without_slack = 0;
  for (size_t seq = 0; seq < kSets; seq += 7) {
    const auto expected = matches(in_order, sets[seq], seq, 0);
    for (const auto& [match_seq, shared] : expected) EXPECT_LT(match_seq, seq);
    EXPECT_EQ(matches(shuffled, sets[seq], seq, kBatch), expected) << seq;
    differ_without_slack += matches(shuffled, sets[seq], seq, 0) != expected;
  }
  // Without the slack the shuffled chains do give other entries.
  EXPECT_GT(differ_without_slack, 0u);
}

TEST(ShingleWindowTest, RecordRingExpiry) {
  std::mt19937_64 rng(14);
  ShingleWindow window(1 << 16, 16);  // Arena large; only 16 records live.
  std::vector<Set> sets;
  for (int i = 0; i < 40; ++i) {
    sets.push_back(RandomSet(rng, 50, 1u << 30));
    ASSERT_TRUE(window.Insert(i, sets.back()));
  }
  for (int i = 0; i < 40; ++i) {
    std::vector<ShingleMatch> got;
    window.Lookup(sets[i], 0.5, 4, &got);
    EXPECT_EQ(got.size(), i >= 24 ? 1u : 0u) << i;
    EXPECT_EQ(window.Containment(sets[i], i).has_value(), i >= 24) << i;
  }
}

// Concurrency: every set is a deterministic function of its seq so readers
// can verify any reported match exactly.
Set SetForSeq(uint64_t seq) {
  std::mt19937_64 rng(seq >> 2);  // Four seqs share a base set...
  Set s = RandomSet(rng, 30 + rng() % 60, 4000);
  // ...and differ by dropping a seq-dependent stride of elements.
  const size_t stride = 2 + (seq & 3);
  Set out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i % stride != 1) out.push_back(s[i]);
  }
  return out;
}

void RunConcurrent(size_t arena_words, size_t max_entries, int rounds,
                   int per_round, bool expect_own_found) {
  constexpr int kThreads = 8;
  ShingleWindow window(arena_words, max_entries);
  std::atomic<uint64_t> failures{0};
  std::atomic<uint64_t> torn{0};
  std::atomic<uint64_t> reported{0};
  for (int round = 0; round < rounds; ++round) {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t, round] {
        std::vector<ShingleMatch> got;
        std::vector<uint64_t> mine;
        for (int i = 0; i < per_round; ++i) {
          const uint64_t seq = (static_cast<uint64_t>(t) << 40) |
                               (static_cast<uint64_t>(round * per_round + i));
          const Set s = SetForSeq(seq);
          window.Insert(seq, s);
          mine.push_back(seq);
          const Set q = SetForSeq(seq ^ (uint64_t{1} << 40));  // Neighbour.
          got.clear();
          window.Lookup(q, 0.0, 16, &got);
          reported.fetch_add(got.size(), std::memory_order_relaxed);
          for (const auto& m : got) {
            const Set other = SetForSeq(m.seq);
            if (m.set_size != other.size() || m.shared != Shared(q, other) ||
                m.containment != BruteContainment(q, other)) {
              torn.fetch_add(1, std::memory_order_relaxed);
            }
          }
          const auto c = window.Containment(q, seq ^ (uint64_t{1} << 40));
          if (c.has_value() && c->shared != Shared(q, SetForSeq(c->seq))) {
            torn.fetch_add(1, std::memory_order_relaxed);
          }
        }
        if (expect_own_found) {
          for (uint64_t seq : mine) {
            const Set s = SetForSeq(seq);
            const auto c = window.Containment(s, seq);
            if (!c.has_value() || c->containment != 1.0) {
              failures.fetch_add(1, std::memory_order_relaxed);
            }
          }
        }
      });
    }
    for (auto& th : threads) th.join();
    ASSERT_EQ(torn.load(), 0u) << "round " << round;
    ASSERT_EQ(failures.load(), 0u) << "round " << round;
  }
  // The readers did see (and check) concurrent entries.
  EXPECT_GT(reported.load(), static_cast<uint64_t>(rounds));
}

TEST(ShingleWindowConcurrencyTest, InsertAndLookupNoExpiry) {
  // 8 * 60 * 8 = 3840 sets of <= 90 words fit in 2^20 words / 8192 records.
  RunConcurrent(1 << 20, 8192, 60, 8, /*expect_own_found=*/true);
}

TEST(ShingleWindowConcurrencyTest, InsertAndLookupWithOverwrites) {
  // Tiny rings lapped constantly: never a torn result.
  RunConcurrent(512, 16, 100, 16, /*expect_own_found=*/false);
}

}  // namespace
}  // namespace storyd
