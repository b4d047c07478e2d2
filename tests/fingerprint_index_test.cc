// Copyright 2024 The storyd Authors.

#include "core/fingerprint_index.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "core/bits.h"
#include "core/ring_stamp.h"
#include "gtest/gtest.h"

namespace storyd {
namespace {

using ring::Mix64;

// Flips exactly `bits` distinct random bits of `base`.
uint64_t FlipBits(uint64_t base, int bits, std::mt19937_64& rng) {
  uint64_t mask = 0;
  while (std::popcount(mask) < bits) mask |= uint64_t{1} << (rng() % 64);
  return base ^ mask;
}

std::vector<uint64_t> Seqs(const std::vector<FingerprintMatch>& matches) {
  std::vector<uint64_t> seqs;
  for (const auto& m : matches) seqs.push_back(m.seq);
  std::sort(seqs.begin(), seqs.end());
  return seqs;
}

TEST(PopCount64Test, AgreesWithStdPopcount) {
  std::mt19937_64 rng(5);
  EXPECT_EQ(PopCount64(0), 0);
  EXPECT_EQ(PopCount64(~uint64_t{0}), 64);
  for (int i = 0; i < 10000; ++i) {
    // Sparse and dense words as well as uniform ones.
    uint64_t x = rng();
    if (i % 3 == 1) x &= rng() & rng();
    if (i % 3 == 2) x |= rng() | rng();
    EXPECT_EQ(PopCount64(x), std::popcount(x)) << x;
  }
}

TEST(FingerprintIndexTest, CreateValidates) {
  EXPECT_FALSE(FingerprintIndex::Create(0, 3).ok());
  EXPECT_FALSE(FingerprintIndex::Create(1024, -1).ok());
  EXPECT_FALSE(FingerprintIndex::Create(1024, 8).ok());
  auto index = FingerprintIndex::Create(1000, 3);
  ASSERT_TRUE(index.ok());
  EXPECT_EQ((*index)->capacity(), 1024u);
  EXPECT_EQ((*index)->num_tables(), 10);
  EXPECT_EQ((*index)->size(), 0u);
}

class FingerprintIndexBruteForceTest : public ::testing::TestWithParam<int> {};

TEST_P(FingerprintIndexBruteForceTest, MatchesBruteForce) {
  const int k = GetParam();
  std::mt19937_64 rng(1234 + k);
  FingerprintIndex index(8192, k);
  std::vector<uint64_t> fps;
  std::vector<uint64_t> bases;
  // Clusters: a base plus copies at exact distances 0..k+1 (several each).
  for (int b = 0; b < 60; ++b) {
    const uint64_t base = rng();
    bases.push_back(base);
    for (int d = 0; d <= k + 1; ++d) {
      for (int c = 0; c < 3; ++c) fps.push_back(FlipBits(base, d, rng));
    }
  }
  // Background noise.
  for (int i = 0; i < 2000; ++i) fps.push_back(rng());
  for (size_t i = 0; i < fps.size(); ++i) index.Insert(fps[i], i);
  ASSERT_EQ(index.size(), fps.size());

  std::vector<uint64_t> queries = bases;
  for (int i = 0; i < 200; ++i) queries.push_back(fps[rng() % fps.size()]);
  for (int i = 0; i < 100; ++i) {
    queries.push_back(FlipBits(bases[rng() % bases.size()], k, rng));
  }
  for (int i = 0; i < 100; ++i) queries.push_back(rng());

  size_t total = 0;
  for (uint64_t q : queries) {
    std::vector<FingerprintMatch> got;
    index.Lookup(q, &got);
    std::vector<uint64_t> want;
    for (size_t i = 0; i < fps.size(); ++i) {
      if (std::popcount(q ^ fps[i]) <= k) want.push_back(i);
    }
    for (const auto& m : got) {
      ASSERT_LT(m.seq, fps.size());
      EXPECT_EQ(m.fingerprint, fps[m.seq]);
      EXPECT_EQ(m.distance, std::popcount(q ^ m.fingerprint));
      EXPECT_LE(m.distance, k);
    }
    // Equal sorted seq lists: all found, none extra, no duplicates.
    ASSERT_EQ(Seqs(got), want) << "query " << q;
    total += got.size();
  }
  EXPECT_GT(total, queries.size());  // The clusters do produce matches.
}

INSTANTIATE_TEST_SUITE_P(AllDistances, FingerprintIndexBruteForceTest,
                         ::testing::Range(0,
                                          FingerprintIndex::kMaxDistance + 1));

TEST(FingerprintIndexTest, ExactDistancesFromBase) {
  std::mt19937_64 rng(7);
  const int k = 3;
  FingerprintIndex index(1024, k);
  const uint64_t base = rng();
  for (int d = 0; d <= k + 1; ++d) {
    index.Insert(FlipBits(base, d, rng), static_cast<uint64_t>(d));
  }
  std::vector<FingerprintMatch> got;
  index.Lookup(base, &got);
  EXPECT_EQ(Seqs(got), (std::vector<uint64_t>{0, 1, 2, 3}));
  for (const auto& m : got) EXPECT_EQ(m.distance, static_cast<int>(m.seq));
}

TEST(FingerprintIndexTest, ExpiryDropsOldestAndMemoryIsBounded) {
  std::mt19937_64 rng(99);
  const size_t capacity = 1024;
  const size_t extra = 300;
  FingerprintIndex index(capacity, 3);
  const size_t memory = index.MemoryBytes();
  std::vector<uint64_t> fps;
  for (size_t i = 0; i < capacity + extra; ++i) {
    fps.push_back(rng());
    index.Insert(fps.back(), i);
  }
  EXPECT_EQ(index.size(), capacity);
  EXPECT_EQ(index.MemoryBytes(), memory);
  std::vector<FingerprintMatch> got;
  for (size_t i = 0; i < fps.size(); ++i) {
    got.clear();
    index.Lookup(fps[i], &got);
    const bool found = std::any_of(got.begin(), got.end(), [&](const auto& m) {
      return m.seq == i && m.distance == 0;
    });
    EXPECT_EQ(found, i >= extra) << "entry " << i;
  }
  // Many more laps: still bounded and still exact for the live window.
  for (size_t i = fps.size(); i < 20 * capacity; ++i) index.Insert(rng(), i);
  EXPECT_EQ(index.MemoryBytes(), memory);
  const uint64_t probe = rng();
  index.Insert(probe, 1ull << 40);
  got.clear();
  index.Lookup(probe, &got);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].seq, 1ull << 40);
}

TEST(FingerprintIndexTest, MemoryPerEntry) {
  // Slot: stamp, fingerprint and seq in 5 words, then 10 links of
  // bit_width(capacity) bits; plus 10 tables * 4 bytes / 4 of bucket heads.
  FingerprintIndex small(1 << 16, 3);  // 170 link bits: 6 words.
  EXPECT_GE(small.BytesPerEntry(), 44.0 + 10.0);
  EXPECT_LE(small.BytesPerEntry(), 44.0 + 10.0 + 0.01);
  // The 10 M-entry ring (2^24 slots) stays within 64 bytes per entry. The
  // arrays are untouched zero pages, so this costs no resident memory.
  FingerprintIndex large(10'000'000, 3);  // 250 link bits: 8 words.
  EXPECT_EQ(large.capacity(), size_t{1} << 24);
  EXPECT_GE(large.BytesPerEntry(), 52.0 + 10.0);
  EXPECT_LE(large.BytesPerEntry(), 64.0);
}

// Links are packed at bit_width(capacity) bits and may straddle two words;
// chains whose nodes are up to a full ring apart must still be followed.
TEST(FingerprintIndexTest, LinksAcrossTheWholeRing) {
  for (size_t capacity : {size_t{16}, size_t{64}, size_t{1} << 12}) {
    for (int distance : {0, 1, 3, 7}) {
      FingerprintIndex index(capacity, distance);
      // Entry 1 and the last entry of the ring share every bucket; in
      // between, fingerprints far from both fill the ring.
      const uint64_t shared = 0x0123456789abcdefULL;
      index.Insert(shared, 1);
      std::mt19937_64 rng(capacity + distance);
      for (size_t i = 2; i < capacity; ++i) index.Insert(rng(), i);
      index.Insert(shared, capacity);
      std::vector<FingerprintMatch> got;
      index.Lookup(shared, &got);
      std::vector<uint64_t> seqs;
      for (const FingerprintMatch& m : got) {
        if (m.fingerprint == shared) seqs.push_back(m.seq);
      }
      std::sort(seqs.begin(), seqs.end());
      EXPECT_EQ(seqs, (std::vector<uint64_t>{1, capacity}))
          << capacity << " " << distance;
      // One more insert expires entry 1.
      index.Insert(rng(), capacity + 1);
      got.clear();
      index.Lookup(shared, &got);
      seqs.clear();
      for (const FingerprintMatch& m : got) {
        if (m.fingerprint == shared) seqs.push_back(m.seq);
      }
      EXPECT_EQ(seqs, (std::vector<uint64_t>{capacity}));
    }
  }
}

// Concurrency: the fingerprint of every entry is derived from its seq, so any
// reader can check that a reported (fingerprint, seq) pair is not torn.
// seq = thread << 40 | counter << 4 | variant; fingerprint =
// Mix64(seq >> 4) with the `variant` low bits flipped (distance <= 3).
uint64_t Generated(uint64_t seq) {
  const uint64_t variant = seq & 0xf;
  return Mix64(seq >> 4) ^ ((uint64_t{1} << variant) - 1);
}

void CheckMatch(const FingerprintMatch& m, uint64_t query, int k) {
  ASSERT_EQ(m.fingerprint, Generated(m.seq)) << "torn entry";
  ASSERT_EQ(m.distance, std::popcount(query ^ m.fingerprint));
  ASSERT_LE(m.distance, k);
}

void RunConcurrent(size_t capacity, int rounds, int per_round,
                   bool expect_own_found) {
  constexpr int kThreads = 8;
  constexpr int k = 3;
  FingerprintIndex index(capacity, k);
  std::atomic<uint64_t> failures{0};
  std::atomic<uint64_t> reported{0};
  for (int round = 0; round < rounds; ++round) {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t, round] {
        std::vector<FingerprintMatch> got;
        std::vector<uint64_t> mine;
        for (int i = 0; i < per_round; ++i) {
          const uint64_t counter = static_cast<uint64_t>(round) * per_round + i;
          const uint64_t seq =
              (static_cast<uint64_t>(t) << 40) | (counter << 4) | (i % 4);
          index.Insert(Generated(seq), seq);
          mine.push_back(seq);
          // Look up another thread's likely-recent cluster and our own.
          const uint64_t other =
              (static_cast<uint64_t>((t + 1) % kThreads) << 40) |
              (counter << 4);
          for (uint64_t q : {Generated(other), Generated(seq)}) {
            got.clear();
            index.Lookup(q, &got);
            for (const auto& m : got) CheckMatch(m, q, k);
            reported.fetch_add(got.size(), std::memory_order_relaxed);
          }
        }
        if (expect_own_found) {
          for (uint64_t seq : mine) {
            got.clear();
            index.Lookup(Generated(seq), &got);
            const bool found =
                std::any_of(got.begin(), got.end(),
                            [&](const auto& m) { return m.seq == seq; });
            if (!found) failures.fetch_add(1, std::memory_order_relaxed);
          }
        }
      });
    }
    for (auto& th : threads) th.join();
    if (expect_own_found) {
      ASSERT_EQ(failures.load(), 0u) << "round " << round;
    }
  }
  // The readers did see (and check) concurrent entries.
  EXPECT_GT(reported.load(), static_cast<uint64_t>(rounds));
  // After all threads joined, everything in the window is found exactly.
  if (expect_own_found) {
    std::vector<FingerprintMatch> got;
    for (int t = 0; t < kThreads; ++t) {
      for (int c = 0; c < rounds * per_round; c += 37) {
        const uint64_t seq = (static_cast<uint64_t>(t) << 40) |
                             (static_cast<uint64_t>(c) << 4) |
                             (c % per_round % 4);
        got.clear();
        index.Lookup(Generated(seq), &got);
        EXPECT_TRUE(std::any_of(got.begin(), got.end(), [&](const auto& m) {
          return m.seq == seq;
        })) << seq;
      }
    }
  }
}

TEST(FingerprintIndexConcurrencyTest, InsertAndLookupNoExpiry) {
  // 8 threads * 150 rounds * 12 = 14400 entries fit in 32768 slots.
  RunConcurrent(1 << 15, 150, 12, /*expect_own_found=*/true);
}

TEST(FingerprintIndexConcurrencyTest, InsertAndLookupWithOverwrites) {
  // A tiny ring lapped many times: readers race with overwriting writers and
  // must never report a torn entry.
  RunConcurrent(64, 100, 40, /*expect_own_found=*/false);
}

}  // namespace
}  // namespace storyd
