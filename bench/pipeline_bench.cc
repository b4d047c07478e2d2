// Google Benchmark programs for the per-article stages and the whole
// offline pipeline, on the shipped dev articles (tests/data). BENCHMARKS.md
// lists the figures and how to reproduce them.
#include <benchmark/benchmark.h>
#include <time.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/article.h"
#include "core/boilerplate.h"
#include "core/boilerplate_learner.h"
#include "core/copy_detector.h"
#include "core/default_rules.h"
#include "core/features.h"
#include "core/pipeline.h"
#include "core/story_index.h"
#include "core/story_terms.h"
#include "core/term_prior.h"
#include "core/text_normalizer.h"
#include "daemon/config.h"
#include "daemon/offline_commands.h"

namespace storyd {
namespace {

// The dev articles (neardup then ecbplus), parsed once.
const std::vector<Article>& DevArticles() {
  static const std::vector<Article>* articles = [] {
    auto* out = new std::vector<Article>;
    ArticleParser parser(1 << 24);
    for (const char* name : {"neardup.jsonl", "ecbplus.jsonl"}) {
      std::ifstream file(std::string(STORYD_TEST_DATA) + "/" + name);
      std::string line;
      while (std::getline(file, line)) {
        ParsedArticle parsed = parser.Parse(line);
        if (auto* article = std::get_if<Article>(&parsed))
          out->push_back(*article);
      }
    }
    return out;
  }();
  return *articles;
}

const BoilerplateStripper& Stripper() {
  static const BoilerplateStripper* stripper = new BoilerplateStripper(
      *BoilerplateStripper::FromRules(DefaultBoilerplateRules()));
  return *stripper;
}

// Appends article `a` re-sent as its copy number `copy` (id "<id>-<copy>")
// to *input as one JSON Lines record.
void AppendCopyRecord(const Article& a, int copy, std::string* input) {
  *input += "{\"id\":";
  AppendJsonString(a.id + "-" + std::to_string(copy), input);
  *input += ",\"body\":";
  AppendJsonString(a.body, input);
  *input += "}\n";
}

// Input for the whole-pipeline runs: the dev articles `copies` times with
// unique ids, as JSON Lines.
std::string PipelineInput(int copies) {
  std::string input;
  for (int c = 0; c < copies; ++c) {
    for (const Article& a : DevArticles()) AppendCopyRecord(a, c, &input);
  }
  return input;
}

void BM_FoldAndStrip(benchmark::State& state) {
  const auto& articles = DevArticles();
  size_t bytes = 0, i = 0;
  for (auto _ : state) {
    const Article& a = articles[i++ % articles.size()];
    benchmark::DoNotOptimize(Stripper().Strip(FoldTypography(a.body), false));
    bytes += a.body.size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_FoldAndStrip);

void BM_NormalizeForMatching(benchmark::State& state) {
  const auto& articles = DevArticles();
  size_t bytes = 0, i = 0;
  for (auto _ : state) {
    const Article& a = articles[i++ % articles.size()];
    benchmark::DoNotOptimize(NormalizeForMatching(a.body));
    bytes += a.body.size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_NormalizeForMatching);

// The dev articles' bodies, normalized (the input of the stages after it).
const std::vector<std::string>& NormalizedDevBodies() {
  static const std::vector<std::string>* bodies = [] {
    auto* out = new std::vector<std::string>;
    for (const Article& a : DevArticles())
      out->push_back(NormalizeForMatching(a.body));
    return out;
  }();
  return *bodies;
}

// The boilerplate learner's pass over every article: the hashes of its
// short lines (ns/article).
void BM_ShortLineHashes(benchmark::State& state) {
  const std::vector<std::string>& normalized = NormalizedDevBodies();
  size_t bytes = 0, i = 0;
  for (auto _ : state) {
    const std::string& text = normalized[i++ % normalized.size()];
    benchmark::DoNotOptimize(ShortLineHashes(text, 12));
    bytes += text.size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_ShortLineHashes);

void BM_FeaturesAndSimHash(benchmark::State& state) {
  const std::vector<std::string>& normalized = NormalizedDevBodies();
  size_t bytes = 0, i = 0;
  for (auto _ : state) {
    const std::string& text = normalized[i++ % normalized.size()];
    benchmark::DoNotOptimize(ComputeFeatures(text, 3));
    bytes += text.size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["ns/article"] = benchmark::Counter(
      static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_FeaturesAndSimHash);

void BM_StoryTerms(benchmark::State& state) {
  std::vector<std::string> normalized;
  for (const Article& a : DevArticles())
    normalized.push_back(NormalizeForMatching(a.body));
  StoryTermConfig config;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        ExtractStoryTerms("", normalized[i++ % normalized.size()], config,
                          TermPrior::Embedded()));
  }
  state.counters["ns/article"] = benchmark::Counter(
      static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_StoryTerms);

// The ordered stage's story work per article: weigh, find the best story,
// join or start one, learn the document frequencies.
void BM_StoryAssignment(benchmark::State& state) {
  StoryConfig config;
  std::vector<std::vector<ArticleTerm>> terms;
  for (const Article& a : DevArticles()) {
    terms.push_back(ExtractStoryTerms("", NormalizeForMatching(a.body),
                                      config.terms, TermPrior::Embedded()));
  }
  StoryIndex index(config);
  uint64_t seq = 0;
  for (auto _ : state) {
    const auto& t = terms[seq % terms.size()];
    TermVector vector = index.Weigh(t);
    std::optional<StoryMatch> match = index.FindBest(vector, std::nullopt);
    if (match.has_value() && index.Joins(*match)) {
      index.AddToStory(match->story, vector, std::nullopt);
    } else {
      index.StartStory(seq, "id", vector, std::nullopt);
    }
    index.Observe(t, std::nullopt);
    ++seq;
  }
  state.counters["active_stories"] =
      static_cast<double>(index.active_stories());
  state.counters["ns/article"] = benchmark::Counter(
      static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_StoryAssignment);

// CPU time of the whole process (every thread), in seconds.
double ProcessCpuSeconds() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) +
         1e-9 * static_cast<double>(now.tv_nsec);
}

// The whole offline pipeline (`storyd dedup`) on 5 copies of the dev
// articles (9,940 articles, unique ids), with 1 and 2 worker threads.
// articles/s is wall-clock; the ordered stage runs on a thread of its own
// beside the workers, so a run uses more than `threads` cores, and
// articles/cpu_s (articles per second of CPU time, all threads) is the
// figure per core.
void BM_OfflinePipeline(benchmark::State& state) {
  static const std::string input = PipelineInput(5);
  StorydConfig config = DefaultConfig();
  config.threads = static_cast<int>(state.range(0));
  size_t articles = 0;
  double cpu_seconds = 0;
  for (auto _ : state) {
    std::istringstream in(input);
    std::ostringstream out, log;
    const double cpu_before = ProcessCpuSeconds();
    RunDedup(config, in, out, log, DedupInput::kComplete);
    cpu_seconds += ProcessCpuSeconds() - cpu_before;
    articles += 5 * DevArticles().size();
  }
  state.counters["articles/s"] = benchmark::Counter(
      static_cast<double>(articles), benchmark::Counter::kIsRate);
  state.counters["articles/cpu_s"] =
      cpu_seconds > 0 ? static_cast<double>(articles) / cpu_seconds : 0.0;
  state.SetBytesProcessed(
      static_cast<int64_t>(input.size() * state.iterations()));
}
BENCHMARK(BM_OfflinePipeline)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Popular stories: the first 10 dev articles, each re-sent verbatim
// `copies` times (new ids), interleaved, as wire stories reach an
// aggregator from hundreds of outlets. Every copy finds its earlier
// copies; the cost per copy should not grow with their number.
// `window_articles` > 0 shrinks the shingle window, and with it the
// ordered stage's memory of identical sets, so that copies keep coming
// after a text's first copy has left it: each such copy's full search
// meets every earlier copy in the fingerprint index.
void RunPopularStories(benchmark::State& state, int copies,
                       size_t window_articles) {
  constexpr int kStories = 10;
  std::string input;
  for (int c = 0; c < copies; ++c) {
    for (int s = 0; s < kStories; ++s) {
      AppendCopyRecord(DevArticles()[static_cast<size_t>(s)], c, &input);
    }
  }
  StorydConfig config = DefaultConfig();
  config.threads = 1;
  if (window_articles > 0) config.copy.window_articles = window_articles;
  size_t articles = 0;
  for (auto _ : state) {
    std::istringstream in(input);
    std::ostringstream out, log;
    RunDedup(config, in, out, log);
    articles += static_cast<size_t>(copies) * kStories;
  }
  state.counters["articles/s"] = benchmark::Counter(
      static_cast<double>(articles), benchmark::Counter::kIsRate);
}

void BM_PopularStories(benchmark::State& state) {
  RunPopularStories(state, static_cast<int>(state.range(0)), 0);
}
BENCHMARK(BM_PopularStories)
    ->Arg(100)
    ->Arg(1000)
    ->Arg(3000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// 3,000 copies of each of 10 texts with a window of 1,024 articles: a
// full search every ~100 copies of a text, each meeting up to 3,000
// earlier copies (quadratic in them until 2026-12-07).
void BM_PopularStoriesPastTheWindow(benchmark::State& state) {
  RunPopularStories(state, static_cast<int>(state.range(0)), 1024);
}
BENCHMARK(BM_PopularStoriesPastTheWindow)
    ->Arg(3000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace storyd

BENCHMARK_MAIN();
