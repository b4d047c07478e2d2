// The story index at scale: a synthetic stream of N articles through
// StoryIndex (find the best story, join it or start one, learn document
// frequencies, expire), printing every million articles the time per
// article and the index's heap bytes (mallinfo2) per article it holds.
//
//   story_bench [articles=10000000]
//
// The stream: 1 in 6 articles starts a new event; the others report one of
// the 2,000 most recent events (recent ones more often). An article's terms
// are 36 draws from its event's pool of 48 terms plus 24 from a 2^20-term
// vocabulary (weighing less), with random weights; vectors are
// L2-normalized as
// StoryIndex::Weigh makes them. The index runs with the shipped defaults
// (expiry after 200,000 articles without a new member).
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "core/ring_stamp.h"
#include "core/story_index.h"

namespace storyd {
namespace {

using Clock = std::chrono::steady_clock;

size_t HeapBytes() { return mallinfo2().uordblks; }

struct Stream {
  std::mt19937_64 rng{42};
  std::vector<uint64_t> event_seeds;  // the events so far

  // The next article's terms (sorted by hash) and its vector.
  void Next(std::vector<ArticleTerm>* terms, TermVector* vector) {
    if (event_seeds.empty() || rng() % 6 == 0) event_seeds.push_back(rng());
    // Recent events are reported more often.
    const size_t recent = std::min<size_t>(event_seeds.size(), 2000);
    const size_t back = static_cast<size_t>(
        std::pow(static_cast<double>(rng() % 1000) / 1000, 3) * recent);
    const uint64_t event = event_seeds[event_seeds.size() - 1 - back];
    terms->clear();
    for (int i = 0; i < 36; ++i)
      terms->push_back({ring::Mix64(event + rng() % 48), 1.0f, 3.0f});
    for (int i = 0; i < 24; ++i)
      terms->push_back({ring::Mix64(rng() % (1 << 20)), 0.0f, 2.0f});
    std::sort(terms->begin(), terms->end(),
              [](const ArticleTerm& a, const ArticleTerm& b) {
                return a.hash < b.hash;
              });
    terms->erase(std::unique(terms->begin(), terms->end(),
                             [](const ArticleTerm& a, const ArticleTerm& b) {
                               return a.hash == b.hash;
                             }),
                 terms->end());
    vector->clear();
    double norm2 = 0;
    for (const ArticleTerm& term : *terms) {
      // Event terms weigh more than the background (frequency 0 marks it).
      float weight = (term.frequency > 0 ? 0.6f : 0.1f) +
                     static_cast<float>(rng() % 1000) / 2500.0f;
      vector->emplace_back(term.hash, weight);
      norm2 += static_cast<double>(weight) * weight;
    }
    const float scale = static_cast<float>(1.0 / std::sqrt(norm2));
    for (auto& [term, weight] : *vector) weight *= scale;
  }
};

int Run(uint64_t articles) {
  const size_t heap_before = HeapBytes();
  StoryIndex index{StoryConfig{}};
  Stream stream;
  std::vector<ArticleTerm> terms;
  TermVector vector;
  uint64_t joined = 0;
  std::printf(
      "| articles | ns/article (last 1 M) | active stories | index heap | "
      "bytes per active story | bytes per article in the window |\n"
      "|---:|---:|---:|---:|---:|---:|\n");
  auto start = Clock::now();
  for (uint64_t seq = 0; seq < articles; ++seq) {
    stream.Next(&terms, &vector);
    std::optional<StoryMatch> match = index.FindBest(vector, std::nullopt);
    if (match.has_value() && index.Joins(*match)) {
      index.AddToStory(match->story, vector, std::nullopt);
      ++joined;
    } else {
      index.StartStory(seq, "a" + std::to_string(seq), vector, std::nullopt);
    }
    index.Observe(terms, std::nullopt);
    if ((seq + 1) % 1000000 == 0) {
      const double ns =
          std::chrono::duration<double, std::nano>(Clock::now() - start)
              .count() /
          1e6;
      const size_t heap = HeapBytes() - heap_before;
      // The window: articles since the oldest active story could still be
      // joined (StoryConfig::window_articles).
      const double window = std::min<double>(static_cast<double>(seq + 1),
                                             StoryConfig{}.window_articles);
      std::printf("| %llu | %.0f | %zu | %.1f MB | %.0f | %.0f |\n",
                  static_cast<unsigned long long>(seq + 1), ns,
                  index.active_stories(), heap / 1e6,
                  static_cast<double>(heap) /
                      std::max<size_t>(1, index.active_stories()),
                  heap / window);
      std::fflush(stdout);
      start = Clock::now();
    }
  }
  std::printf("(%llu of %llu articles joined a story)\n",
              static_cast<unsigned long long>(joined),
              static_cast<unsigned long long>(articles));
  return 0;
}

}  // namespace
}  // namespace storyd

int main(int argc, char** argv) {
  uint64_t articles = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 10000000;
  return storyd::Run(articles);
}
