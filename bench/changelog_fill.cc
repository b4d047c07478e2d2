// Fills a changelog topic with what N articles leave in it after
// compaction, for measuring restore (bench/restore.sh): no tombstones, no
// superseded records, one "a:" record per article and a "w:" record for each
// of the most recent `window` non-copies, in the order the daemon writes them
// (kafka_daemon.cc, ProduceChanges).
//
//   changelog_fill BROKERS TOPIC ARTICLES [--seed=N] [--copies=0.3]
//                  [--story-size=8] [--window=131072] [--shingles=400]
//                  [--vocabulary=1048576] [--zipf-offset=30]
//                  [--articles-per-day=100000] [--instance=fill]
//
// The mix:
//   copies      (--copies of the articles) "a:" only, no vector: dup_of and
//               match_id an original among the last 20000 non-copies, its
//               canonical id, its fingerprint with 0-3 bits flipped
//               (method simhash, hamming = the bits flipped).
//   non-copies  grouped into stories of --story-size articles on average:
//               each one starts a story with probability 1 / story-size
//               (decision new, canonical id its own), or else joins one of
//               the 256 most recent stories (same_story, canonical id the
//               story's first article), so stories interleave as in a news
//               stream. Each has a 60-term vector, L2-normalized, sorted by
//               term hash: 45 terms from its story's pool of 90 and 15 from
//               the whole vocabulary. Term ranks are drawn from
//               --vocabulary terms with P(rank r) ~ 1 / (r + --zipf-offset)
//               and hashed, so common terms recur across stories. The
//               default offset 30 puts 0.3% / 2.5% / 13% / 33% of the term
//               occurrences on the top 1 / 10 / 100 / 1000 terms (the top
//               one in 16% of the vectors), close to the vectors of the dev
//               corpora (tests/data: 0.35% / 2.4% / 11% / 40%, top term in
//               19%, over only 871 vectors); offset 1 is plain Zipf, much
//               heavier at the head (1.3% / 8% / 24% / 43%, top term in
//               78%), which makes long posting lists in the story index.
//   shingles    ~400 (300-500) sorted unique random uint32, only for the last
//               --window non-copies, just before their "a:" record.
// Published times advance by --articles-per-day; ids are "fill-<n>".
//
// Prints to stdout one line: articles, records (a:, w:), bytes of keys and
// values (uncompressed) and the time taken.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_format.h"
#include "core/state_record.h"
#include "core/strings.h"
#include "daemon/changelog.h"

namespace storyd {
namespace {

struct Options {
  std::string brokers;
  std::string topic;
  uint64_t articles = 0;
  uint64_t seed = 1;
  double copies = 0.3;
  double story_size = 8;
  uint64_t window = 131072;
  int shingles = 400;
  uint64_t vocabulary = 1 << 20;
  double zipf_offset = 30;
  double articles_per_day = 100000;
  std::string instance = "fill";
};

constexpr int kTerms = 60;
constexpr int kPoolTerms = 90;
constexpr int kTermsFromPool = 45;
constexpr size_t kOpenStories = 256;
constexpr size_t kCopyHorizon = 20000;  // originals a copy may copy
constexpr int32_t kInputPartitions = 4;
constexpr int64_t kStartUnixSeconds = 1704067200;  // 2024-01-01T00:00:00Z

[[noreturn]] void Usage() {
  std::fprintf(stderr,
               "usage: changelog_fill BROKERS TOPIC ARTICLES [--seed=N] "
               "[--copies=F] [--story-size=F] [--window=N] [--shingles=N] "
               "[--vocabulary=N] [--zipf-offset=F] [--articles-per-day=F] "
               "[--instance=ID]\n");
  std::exit(2);
}

Options ParseOptions(int argc, char** argv) {
  Options options;
  std::vector<std::string_view> positional;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (!StartsWith(arg, "--")) {
      positional.push_back(arg);
      continue;
    }
    size_t equals = arg.find('=');
    if (equals == std::string_view::npos) Usage();
    std::string_view name = arg.substr(2, equals - 2);
    std::string value(arg.substr(equals + 1));
    bool ok = true;
    if (name == "seed") {
      ok = ParseInteger(value, &options.seed);
    } else if (name == "copies") {
      options.copies = std::atof(value.c_str());
      ok = options.copies >= 0 && options.copies < 1;
    } else if (name == "story-size") {
      options.story_size = std::atof(value.c_str());
      ok = options.story_size >= 1;
    } else if (name == "window") {
      ok = ParseInteger(value, &options.window);
    } else if (name == "shingles") {
      ok = ParseInteger(value, &options.shingles) && options.shingles >= 4;
    } else if (name == "vocabulary") {
      ok = ParseInteger(value, &options.vocabulary) &&
           options.vocabulary >= 2 * kPoolTerms;
    } else if (name == "zipf-offset") {
      options.zipf_offset = std::atof(value.c_str());
      ok = options.zipf_offset >= 1;
    } else if (name == "articles-per-day") {
      options.articles_per_day = std::atof(value.c_str());
      ok = options.articles_per_day > 0;
    } else if (name == "instance") {
      options.instance = value;
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "changelog_fill: bad option %s\n", argv[i]);
      Usage();
    }
  }
  if (positional.size() != 3) Usage();
  options.brokers = std::string(positional[0]);
  options.topic = std::string(positional[1]);
  if (!ParseInteger(positional[2], &options.articles) || options.articles == 0)
    Usage();
  return options;
}

uint64_t Mix(uint64_t x) {  // splitmix64's finalizer
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class Generator {
 public:
  explicit Generator(const Options& options)
      : options_(options),
        random_(options.seed),
        log_span_(std::log(
            (static_cast<double>(options.vocabulary) + options.zipf_offset) /
            options.zipf_offset)) {}

  // A term hash, its rank r in [0, vocabulary) drawn with probability
  // ~ 1 / (r + offset): r + offset is log-uniform.
  uint64_t Term() {
    double rank = options_.zipf_offset * std::exp(Uniform() * log_span_) -
                  options_.zipf_offset;
    return Mix(static_cast<uint64_t>(rank) ^ 0x5f3759dfULL);
  }

  double Uniform() { return std::uniform_real_distribution<double>()(random_); }
  uint64_t Below(uint64_t n) {
    return std::uniform_int_distribution<uint64_t>(0, n - 1)(random_);
  }
  uint64_t Bits() { return random_(); }

  std::vector<uint64_t> StoryPool() {
    std::vector<uint64_t> pool;
    while (pool.size() < kPoolTerms) {
      uint64_t term = Term();
      if (std::find(pool.begin(), pool.end(), term) == pool.end())
        pool.push_back(term);
    }
    return pool;
  }

  TermVector Vector(std::vector<uint64_t>& pool) {
    // A partial shuffle picks the pool's share; the rest come from the
    // vocabulary, skipping repeats.
    for (int i = 0; i < kTermsFromPool; ++i)
      std::swap(pool[i], pool[i + Below(pool.size() - i)]);
    std::vector<uint64_t> terms(pool.begin(), pool.begin() + kTermsFromPool);
    while (terms.size() < kTerms) {
      uint64_t term = Term();
      if (std::find(terms.begin(), terms.end(), term) == terms.end())
        terms.push_back(term);
    }
    std::sort(terms.begin(), terms.end());
    TermVector vector;
    vector.reserve(kTerms);
    double norm2 = 0;
    for (uint64_t term : terms) {
      // Heavier-tailed than uniform, like tf-idf weights.
      float weight = static_cast<float>(-std::log(1.0 - Uniform()) + 0.05);
      vector.emplace_back(term, weight);
      norm2 += static_cast<double>(weight) * weight;
    }
    const float inverse = static_cast<float>(1.0 / std::sqrt(norm2));
    for (auto& [term, weight] : vector) weight *= inverse;
    return vector;
  }

  std::vector<uint32_t> Shingles() {
    const int spread = options_.shingles / 4;
    const size_t count =
        options_.shingles - spread + Below(2 * static_cast<uint64_t>(spread));
    std::vector<uint32_t> shingles;
    shingles.reserve(count + 16);
    while (shingles.size() < count) {
      while (shingles.size() < count)
        shingles.push_back(static_cast<uint32_t>(Bits()));
      std::sort(shingles.begin(), shingles.end());
      shingles.erase(std::unique(shingles.begin(), shingles.end()),
                     shingles.end());
    }
    return shingles;
  }

 private:
  const Options& options_;
  std::mt19937_64 random_;
  const double log_span_;
};

std::string FormatUtc(int64_t unix_seconds) {
  std::time_t time = static_cast<std::time_t>(unix_seconds);
  std::tm parts{};
  gmtime_r(&time, &parts);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

struct Counts {
  uint64_t delivered = 0;
  uint64_t failed = 0;
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto* counts = static_cast<Counts*>(opaque);
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++counts->delivered;
  } else {
    if (counts->failed++ == 0) {
      std::fprintf(stderr, "changelog_fill: delivery failed: %s\n",
                   rd_kafka_err2str(message->err));
    }
  }
}

rd_kafka_t* Producer(const Options& options, Counts* counts) {
  const std::map<std::string, std::string> properties = {
      {"bootstrap.servers", options.brokers},
      {"client.id", "changelog_fill"},
      // Idempotence keeps the order across retries: "w:" before its "a:".
      {"enable.idempotence", "true"},
      {"linger.ms", "50"},
      {"batch.size", "1000000"},
      {"batch.num.messages", "100000"},
      {"compression.type", "lz4"},
      {"queue.buffering.max.messages", "1000000"},
      {"queue.buffering.max.kbytes", "1048576"},
  };
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  for (const auto& [name, value] : properties) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error,
                          sizeof(error)) != RD_KAFKA_CONF_OK) {
      std::fprintf(stderr, "changelog_fill: %s\n", error);
      std::exit(2);
    }
  }
  rd_kafka_conf_set_dr_msg_cb(conf, &OnDelivery);
  rd_kafka_conf_set_opaque(conf, counts);
  rd_kafka_t* producer =
      rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof(error));
  if (producer == nullptr) {
    std::fprintf(stderr, "changelog_fill: %s\n", error);
    std::exit(2);
  }
  return producer;
}

int Fill(const Options& options) {
  Counts counts;
  rd_kafka_t* producer = Producer(options, &counts);
  uint64_t records = 0, bytes = 0;
  auto produce = [&](const std::string& key, const std::string& value) {
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_producev(
                producer, RD_KAFKA_V_TOPIC(options.topic.c_str()),
                RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_KEY(key.data(), key.size()),
                RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_HEADER(kInstanceHeader, options.instance.data(),
                                  options.instance.size()),
                RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(producer, 10);
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::fprintf(stderr, "changelog_fill: produce: %s\n",
                   rd_kafka_err2str(err));
      std::exit(1);
    }
    ++records;
    bytes += key.size() + value.size();
    rd_kafka_poll(producer, 0);
  };

  Generator generator(options);
  // Which articles are copies is drawn first: the shingle window is the
  // last `window` non-copies, so their count must be known up front.
  std::vector<bool> is_copy(options.articles);
  uint64_t non_copies = 0;
  for (uint64_t n = 0; n < options.articles; ++n) {
    is_copy[n] = n > 0 && generator.Uniform() < options.copies;
    if (!is_copy[n]) ++non_copies;
  }
  const uint64_t first_windowed =
      non_copies > options.window ? non_copies - options.window : 0;

  struct Story {
    std::string first_id;
    std::vector<uint64_t> pool;
  };
  struct Original {
    std::string id;
    std::string canonical_id;
    uint64_t fingerprint;
  };
  std::vector<Story> stories;
  std::vector<Original> originals;  // non-copies, in order
  originals.reserve(non_copies);
  uint64_t shingle_records = 0;
  const double seconds_per_article = 86400.0 / options.articles_per_day;
  const auto start = std::chrono::steady_clock::now();

  for (uint64_t n = 0; n < options.articles; ++n) {
    const int64_t ingested =
        kStartUnixSeconds +
        static_cast<int64_t>(static_cast<double>(n) * seconds_per_article);
    ArticleRecord record;
    Assignment& a = record.assignment;
    a.id = StrCat("fill-", n);
    record.source_partition = static_cast<int32_t>(n % kInputPartitions);
    record.source_offset = static_cast<int64_t>(n / kInputPartitions);
    record.timestamp_ms =
        ingested * 1000 + static_cast<int64_t>(generator.Below(1000));
    // Published up to an hour before it arrived.
    record.published_unix_sec =
        ingested - static_cast<int64_t>(generator.Below(3600));
    a.published_at = FormatUtc(*record.published_unix_sec);

    if (is_copy[n]) {
      const size_t horizon = std::min(originals.size(), kCopyHorizon);
      const Original& original =
          originals[originals.size() - 1 - generator.Below(horizon)];
      const int flips = static_cast<int>(generator.Below(4));
      uint64_t fingerprint = original.fingerprint;
      for (int flipped = 0; flipped < flips;) {
        uint64_t bit = uint64_t{1} << generator.Below(64);
        if ((fingerprint ^ original.fingerprint) & bit) continue;
        fingerprint ^= bit;
        ++flipped;
      }
      a.decision = StoryDecision::kCopy;
      a.canonical_id = original.canonical_id;
      a.dup_of = original.id;
      a.match_id = original.id;
      a.method = CopyMethod::kSimHash;
      a.hamming = flips;
      a.score = 1.0 - flips / 64.0;
      a.fingerprint = fingerprint;
    } else {
      Story* story;
      if (stories.empty() || generator.Uniform() < 1.0 / options.story_size) {
        stories.push_back({a.id, generator.StoryPool()});
        story = &stories.back();
        a.decision = StoryDecision::kNew;
        a.story_score = 0.23 * generator.Uniform();
      } else {
        const size_t open = std::min(stories.size(), kOpenStories);
        story = &stories[stories.size() - 1 - generator.Below(open)];
        a.decision = StoryDecision::kSameStory;
        a.story_score = 0.23 + 0.77 * generator.Uniform();
      }
      a.canonical_id = story->first_id;
      a.fingerprint = generator.Bits();
      record.vector = generator.Vector(story->pool);
      if (originals.size() >= first_windowed) {
        produce(ShingleKey(a.id),
                EncodeShingleRecord({a.id, generator.Shingles()}));
        ++shingle_records;
      }
      originals.push_back({a.id, a.canonical_id, a.fingerprint});
      // A story stops taking members once it has left the open set; its
      // pool is no longer needed.
      if (stories.size() > kOpenStories) {
        std::vector<uint64_t>().swap(
            stories[stories.size() - 1 - kOpenStories].pool);
      }
    }
    a.story_id = StoryIdFor(a.canonical_id);
    produce(ArticleKey(a.id), EncodeArticleRecord(record));
  }
  const double produced_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  rd_kafka_resp_err_t err = rd_kafka_flush(producer, 600 * 1000);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  rd_kafka_destroy(producer);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR || counts.failed > 0 ||
      counts.delivered != records) {
    std::fprintf(
        stderr, "changelog_fill: %llu of %llu records delivered (%s)\n",
        static_cast<unsigned long long>(counts.delivered),
        static_cast<unsigned long long>(records), rd_kafka_err2str(err));
    return 1;
  }
  std::printf(
      "%s\n",
      absl::StrFormat("changelog_fill: articles=%d copies=%d stories=%d "
                      "records=%d a=%d w=%d bytes=%d (%.1f MB keys+values) in "
                      "%.1f s (%.1f s producing, %.0f records/s)",
                      options.articles, options.articles - non_copies,
                      stories.size(), records, options.articles,
                      shingle_records, bytes, bytes / 1e6, seconds,
                      produced_seconds, records / std::max(seconds, 1e-9))
          .c_str());
  return 0;
}

}  // namespace
}  // namespace storyd

int main(int argc, char** argv) {
  return storyd::Fill(storyd::ParseOptions(argc, argv));
}
