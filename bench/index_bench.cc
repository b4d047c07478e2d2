// Copyright 2024 The storyd Authors.
//
// Benchmarks for FingerprintIndex and ShingleWindow.
//   index_bench --benchmark_counters_tabular=true

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/fingerprint_index.h"
#include "core/ring_stamp.h"
#include "core/shingle_window.h"

namespace storyd {
namespace {

constexpr int kDistance = 3;

using ring::Mix64;

uint64_t StoredFingerprint(uint64_t i) { return Mix64(i + 1); }

// Shared fixtures, owned by main() and passed to the benchmarks (no global
// state): indexes holding n entries (fingerprint Mix64(i + 1), seq i), built
// lazily once per n, and the ShingleWindow with 100k articles.
struct Fixtures {
  std::map<size_t, std::unique_ptr<FingerprintIndex>> indexes;
  std::unique_ptr<ShingleWindow> window;

  FingerprintIndex& IndexWith(size_t n) {
    auto& slot = indexes[n];
    if (slot == nullptr) {
      slot = std::make_unique<FingerprintIndex>(n, kDistance);
      for (size_t i = 0; i < n; ++i) slot->Insert(StoredFingerprint(i), i);
    }
    return *slot;
  }
  ShingleWindow& Window();
};

// Queries: half are stored fingerprints with 0..3 bits flipped (hits), half
// are random (misses; the common case for a de-duplication daemon).
std::vector<uint64_t> Queries(size_t n, size_t count) {
  std::mt19937_64 rng(42);
  std::vector<uint64_t> q;
  q.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    if (i % 2 == 0) {
      uint64_t fp = StoredFingerprint(rng() % n);
      const int flips = static_cast<int>(rng() % (kDistance + 1));
      for (int f = 0; f < flips; ++f) fp ^= uint64_t{1} << (rng() % 64);
      q.push_back(fp);
    } else {
      q.push_back(rng());
    }
  }
  return q;
}

void BM_FingerprintLookup(benchmark::State& state, Fixtures* fx) {
  const size_t n = static_cast<size_t>(state.range(0));
  FingerprintIndex& index = fx->IndexWith(n);
  const std::vector<uint64_t> queries = Queries(n, 1 << 16);
  std::vector<FingerprintMatch> out;
  size_t i = 0;
  size_t matches = 0;
  for (auto _ : state) {
    out.clear();
    index.Lookup(queries[i++ & (queries.size() - 1)], &out);
    matches += out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["matches_per_lookup"] =
      static_cast<double>(matches) / static_cast<double>(state.iterations());
}

void BM_FingerprintBytesPerEntry(benchmark::State& state, Fixtures* fx) {
  const size_t n = static_cast<size_t>(state.range(0));
  FingerprintIndex& index = fx->IndexWith(n);
  for (auto _ : state) benchmark::DoNotOptimize(index.MemoryBytes());
  state.counters["bytes_per_slot"] = index.BytesPerEntry();
  state.counters["bytes_per_entry_held"] =
      static_cast<double>(index.MemoryBytes()) / static_cast<double>(n);
  state.counters["capacity"] = static_cast<double>(index.capacity());
  state.counters["MiB"] = static_cast<double>(index.MemoryBytes()) / (1 << 20);
}

// Latency distribution of single lookups at n entries, one timed call each.
void BM_FingerprintLookupLatency(benchmark::State& state, Fixtures* fx) {
  const size_t n = static_cast<size_t>(state.range(0));
  FingerprintIndex& index = fx->IndexWith(n);
  const std::vector<uint64_t> queries = Queries(n, 200'000);
  std::vector<int64_t> ns(queries.size());
  std::vector<FingerprintMatch> out;
  for (auto _ : state) {
    for (size_t i = 0; i < queries.size(); ++i) {
      out.clear();
      const auto start = std::chrono::steady_clock::now();
      index.Lookup(queries[i], &out);
      const auto stop = std::chrono::steady_clock::now();
      benchmark::DoNotOptimize(out.data());
      ns[i] = std::chrono::duration_cast<std::chrono::nanoseconds>(stop - start)
                  .count();
    }
  }
  std::sort(ns.begin(), ns.end());
  auto pct = [&](double p) {
    return static_cast<double>(ns[static_cast<size_t>(p * (ns.size() - 1))]);
  };
  state.counters["p50_ns"] = pct(0.50);
  state.counters["p90_ns"] = pct(0.90);
  state.counters["p99_ns"] = pct(0.99);
  state.counters["p999_ns"] = pct(0.999);
  state.counters["max_ns"] = static_cast<double>(ns.back());
}

// Steady-state inserts into a full index (each insert expires the oldest).
void BM_FingerprintInsert(benchmark::State& state, Fixtures*) {
  const size_t n = static_cast<size_t>(state.range(0));
  FingerprintIndex index(n, kDistance);
  size_t i = 0;
  for (; i < index.capacity(); ++i) index.Insert(StoredFingerprint(i), i);
  for (auto _ : state) {
    index.Insert(StoredFingerprint(i), i);
    ++i;
  }
}

// ShingleWindow with 100k articles of ~400 shingles.
constexpr size_t kArticles = 100'000;

std::vector<uint32_t> ArticleSet(uint64_t id) {
  std::mt19937_64 rng(id * 7919 + 1);
  std::vector<uint32_t> s(350 + rng() % 100);
  for (auto& v : s) v = static_cast<uint32_t>(rng());
  std::sort(s.begin(), s.end());
  s.erase(std::unique(s.begin(), s.end()), s.end());
  return s;
}

ShingleWindow& Fixtures::Window() {
  if (window == nullptr) {
    window = std::make_unique<ShingleWindow>(size_t{1} << 26, size_t{1} << 17);
    for (uint64_t id = 0; id < kArticles; ++id) {
      window->Insert(id, ArticleSet(id));
    }
  }
  return *window;
}

// Queries: even ones are a random half of a stored article (a hit with
// containment 1), odd ones are unrelated articles (misses).
std::vector<std::vector<uint32_t>> ShingleQueries(size_t count) {
  std::mt19937_64 rng(5);
  std::vector<std::vector<uint32_t>> q;
  for (size_t i = 0; i < count; ++i) {
    if (i % 2 == 0) {
      std::vector<uint32_t> s = ArticleSet(rng() % kArticles), half;
      for (uint32_t v : s) {
        if (rng() & 1) half.push_back(v);
      }
      q.push_back(std::move(half));
    } else {
      q.push_back(ArticleSet(kArticles + 1000 + i));
    }
  }
  return q;
}

void BM_ShingleLookup(benchmark::State& state, Fixtures* fx) {
  ShingleWindow& window = fx->Window();
  const auto queries = ShingleQueries(1024);
  std::vector<ShingleMatch> out;
  size_t i = 0, matches = 0;
  for (auto _ : state) {
    out.clear();
    window.Lookup(queries[i++ & 1023], 0.5, 8, &out);
    matches += out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["matches_per_lookup"] =
      static_cast<double>(matches) / static_cast<double>(state.iterations());
  state.counters["MiB"] = static_cast<double>(window.MemoryBytes()) / (1 << 20);
}

void BM_ShingleContainment(benchmark::State& state, Fixtures* fx) {
  ShingleWindow& window = fx->Window();
  const auto queries = ShingleQueries(1024);
  std::mt19937_64 rng(6);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        window.Containment(queries[i & 1023], rng() % kArticles));
    ++i;
  }
}

void BM_ShingleInsert(benchmark::State& state, Fixtures*) {
  ShingleWindow window(size_t{1} << 24, size_t{1} << 15);
  std::vector<std::vector<uint32_t>> sets;
  for (uint64_t id = 0; id < 256; ++id) sets.push_back(ArticleSet(id));
  uint64_t seq = 0;
  for (auto _ : state) {
    window.Insert(seq, sets[seq & 255]);
    ++seq;
  }
}

void RegisterAll(Fixtures* fx) {
  using benchmark::RegisterBenchmark;
  RegisterBenchmark("BM_FingerprintLookup", BM_FingerprintLookup, fx)
      ->Arg(1'000'000)
      ->Arg(10'000'000);
  RegisterBenchmark("BM_FingerprintBytesPerEntry", BM_FingerprintBytesPerEntry,
                    fx)
      ->Arg(1'000'000)
      ->Arg(10'000'000);
  RegisterBenchmark("BM_FingerprintLookupLatency", BM_FingerprintLookupLatency,
                    fx)
      ->Arg(1'000'000)
      ->Arg(10'000'000)
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond);
  RegisterBenchmark("BM_FingerprintInsert", BM_FingerprintInsert, fx)
      ->Arg(1'000'000)
      ->Arg(10'000'000);
  RegisterBenchmark("BM_ShingleLookup", BM_ShingleLookup, fx);
  RegisterBenchmark("BM_ShingleContainment", BM_ShingleContainment, fx);
  RegisterBenchmark("BM_ShingleInsert", BM_ShingleInsert, fx);
}

}  // namespace
}  // namespace storyd

int main(int argc, char** argv) {
  storyd::Fixtures fixtures;
  storyd::RegisterAll(&fixtures);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
