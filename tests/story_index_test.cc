#include "core/story_index.h"

#include <gtest/gtest.h>
#include <xxhash.h>  // the shared library's XXH3, for the reference

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/story_terms.h"
#include "core/strings.h"
#include "core/term_prior.h"
#include "core/text_normalizer.h"

namespace storyd {
namespace {

std::vector<ArticleTerm> Terms(const std::string& title,
                               const std::string& body,
                               const StoryConfig& config = StoryConfig{}) {
  return ExtractStoryTerms(NormalizeForMatching(title),
                           NormalizeForMatching(body), config.terms,
                           TermPrior::Embedded());
}

float WeightOf(const TermVector& vector, std::string_view term) {
  for (const auto& [hash, weight] : vector) {
    if (hash == TermHash(term)) return weight;
  }
  return 0;
}

TEST(TermPriorTest, ShippedTableKnowsCommonAndRareWords) {
  const TermPrior& prior = TermPrior::Embedded();
  EXPECT_GT(prior.size(), 100000u);
  ASSERT_TRUE(prior.Zipf(TermHash("the")).has_value());
  EXPECT_GT(*prior.Zipf(TermHash("the")), 7.0f);
  EXPECT_GT(*prior.Zipf(TermHash("said")), *prior.Zipf(TermHash("russia")));
  EXPECT_GT(*prior.Zipf(TermHash("russia")), *prior.Zipf(TermHash("antonov")));
  EXPECT_TRUE(prior.Zipf(TermHash("москва")).has_value());  // not only English
  EXPECT_FALSE(prior.Zipf(TermHash("qxzzyvv")).has_value());
  EXPECT_FALSE(TermPrior::Parse("word\tnot-a-number\n").ok());
}

TEST(TermPriorTest, ParsedTableGivesEachTermItsOwnValue) {
  absl::StatusOr<TermPrior> prior = TermPrior::Parse(
      "# comment\nthe\t7.73\nrare\t0\ncommonest\t12\n"
      "twice\t3\ntwice\t4.5\n");
  ASSERT_TRUE(prior.ok()) << prior.status();
  EXPECT_EQ(prior->size(), 4u);
  EXPECT_FLOAT_EQ(*prior->Zipf(TermHash("the")), 7.73f);
  EXPECT_FLOAT_EQ(*prior->Zipf(TermHash("rare")), 0.0f);
  EXPECT_FLOAT_EQ(*prior->Zipf(TermHash("commonest")), 12.0f);
  EXPECT_FLOAT_EQ(*prior->Zipf(TermHash("twice")), 4.5f);  // the last wins
  EXPECT_FALSE(prior->Zipf(TermHash("absent")).has_value());
  EXPECT_FALSE(TermPrior::Parse("high\t12.01\n").ok());
  EXPECT_FALSE(TermPrior::Parse("w\tnan\n").ok());
  EXPECT_FALSE(TermPrior::Parse("w\tinf\n").ok());
  // Every value the table can hold reads back as centi / 100.
  std::string table;
  for (int centi = 0; centi <= 1200; ++centi) {
    table += "t" + std::to_string(centi) + "\t" + std::to_string(centi / 100) +
             "." + (centi % 100 < 10 ? "0" : "") + std::to_string(centi % 100) +
             "\n";
  }
  absl::StatusOr<TermPrior> every = TermPrior::Parse(table);
  ASSERT_TRUE(every.ok()) << every.status();
  for (int centi = 0; centi <= 1200; ++centi) {
    ASSERT_EQ(every->Zipf(TermHash("t" + std::to_string(centi))),
              static_cast<float>(centi) / 100.0f)
        << centi;
  }
  EXPECT_FALSE(TermPrior().Zipf(TermHash("the")).has_value());
}

// The table linked into the binary (packed at build time, viewed in place)
// is the shipped TSV: the same terms with the same values.
TEST(TermPriorTest, EmbeddedTableIsTheShippedOne) {
  std::ifstream file(std::string(STORYD_SOURCE_DIR) +
                     "/conf/prior/term_prior.tsv");
  ASSERT_TRUE(file.good());
  std::stringstream contents;
  contents << file.rdbuf();
  const std::string table = contents.str();
  absl::StatusOr<TermPrior> parsed = TermPrior::Parse(table);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const TermPrior& embedded = TermPrior::Embedded();
  ASSERT_GT(embedded.size(), 100000u);
  EXPECT_EQ(embedded.size(), parsed->size());
  size_t checked = 0;
  for (std::string_view line : Split(table, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    const uint64_t hash = TermHash(line.substr(0, line.find('\t')));
    ASSERT_EQ(embedded.Zipf(hash), parsed->Zipf(hash)) << line;
    ++checked;
  }
  EXPECT_GE(checked, embedded.size());
  EXPECT_FALSE(embedded.Zipf(TermHash("qxzzyvv")).has_value());
}

// Pack and View round-trip a table, its aside term included, and View
// rejects what Pack did not write.
TEST(TermPriorTest, PackedTableReadsBackInPlace) {
  absl::StatusOr<TermPrior> prior =
      TermPrior::Parse("the\t7.73\nantonov\t2.42\nrare\t0\n");
  ASSERT_TRUE(prior.ok()) << prior.status();
  const std::string packed = prior->Pack();
  // std::string's buffer is allocated, so 8-byte aligned.
  absl::StatusOr<TermPrior> viewed = TermPrior::View(packed);
  ASSERT_TRUE(viewed.ok()) << viewed.status();
  EXPECT_EQ(viewed->size(), 3u);
  EXPECT_FLOAT_EQ(*viewed->Zipf(TermHash("the")), 7.73f);
  EXPECT_FLOAT_EQ(*viewed->Zipf(TermHash("antonov")), 2.42f);
  EXPECT_FLOAT_EQ(*viewed->Zipf(TermHash("rare")), 0.0f);
  EXPECT_FALSE(viewed->Zipf(TermHash("absent")).has_value());
  // A moved table keeps its slots.
  TermPrior moved = std::move(*prior);
  EXPECT_FLOAT_EQ(*moved.Zipf(TermHash("antonov")), 2.42f);
  // And leaves an empty table behind, not a view of the moved slots.
  EXPECT_EQ(prior->size(), 0u);  // NOLINT(bugprone-use-after-move)
  EXPECT_FALSE(prior->Zipf(TermHash("antonov")).has_value());
  TermPrior assigned;
  assigned = std::move(moved);
  EXPECT_FLOAT_EQ(*assigned.Zipf(TermHash("the")), 7.73f);
  EXPECT_FALSE(moved.Zipf(TermHash("the")).has_value());

  absl::StatusOr<TermPrior> empty = TermPrior::View(TermPrior().Pack());
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->size(), 0u);
  EXPECT_FALSE(empty->Zipf(TermHash("the")).has_value());

  EXPECT_FALSE(TermPrior::View("").ok());
  EXPECT_FALSE(TermPrior::View(packed.substr(0, packed.size() - 8)).ok());
  std::string bad_magic = packed;
  bad_magic[0] = 'x';
  EXPECT_FALSE(TermPrior::View(bad_magic).ok());
  std::string odd_count = packed;
  const uint64_t three = 3;
  std::memcpy(odd_count.data() + 8, &three, sizeof(three));
  EXPECT_FALSE(TermPrior::View(odd_count).ok());
}

// A freshly started daemon weighs names and rare terms above common ones.
TEST(StoryIndexTest, ColdStartWeightsFavourRareTerms) {
  StoryIndex index{StoryConfig{}};
  TermVector vector =
      index.Weigh(Terms("",
                        "Russia said Antonov, its ambassador, was recalled. "
                        "Russia said the ambassador left."));
  EXPECT_GT(WeightOf(vector, "antonov"), WeightOf(vector, "ambassador"));
  EXPECT_GT(WeightOf(vector, "ambassador"), WeightOf(vector, "russia"));
  EXPECT_GT(WeightOf(vector, "russia"), WeightOf(vector, "said"));
  EXPECT_EQ(WeightOf(vector, "the"), 0.0f);
}

TEST(StoryIndexTest, TitleAndLeadWeighMore) {
  StoryConfig config;
  StoryIndex index{config};
  TermVector in_title = index.Weigh(
      Terms("Volcano erupts", "x1\nx2\nx3\nThe glacier melted.", config));
  TermVector in_body = index.Weigh(
      Terms("", "x1\nx2\nx3\nThe glacier melted. Volcano erupts.", config));
  EXPECT_GT(WeightOf(in_title, "volcano") / WeightOf(in_title, "glacier"),
            WeightOf(in_body, "volcano") / WeightOf(in_body, "glacier"));
}

TEST(StoryIndexTest, StreamFrequenciesLowerWordsEveryArticleUses) {
  StoryConfig config;
  config.prior_articles = 10;
  StoryIndex index{config};
  std::vector<ArticleTerm> probe = Terms("", "quarterly earnings zanzibar");
  double before = WeightOf(index.Weigh(probe), "earnings") /
                  WeightOf(index.Weigh(probe), "zanzibar");
  for (int i = 0; i < 200; ++i) {
    index.Observe(Terms("", "quarterly earnings rose at company number " +
                                std::to_string(i)),
                  std::nullopt);
  }
  double after = WeightOf(index.Weigh(probe), "earnings") /
                 WeightOf(index.Weigh(probe), "zanzibar");
  EXPECT_LT(after, before * 0.5);
}

TEST(StoryIndexTest, JoinsTheMatchingStoryOnly) {
  StoryConfig config;
  StoryIndex index{config};
  TermVector quake = index.Weigh(
      Terms("Earthquake hits Sumatra",
            "A magnitude 7.6 earthquake struck Padang in Sumatra."));
  TermVector quake2 =
      index.Weigh(Terms("Sumatra quake toll rises",
                        "The Padang earthquake in Sumatra killed hundreds."));
  TermVector election =
      index.Weigh(Terms("Turkmenistan votes",
                        "Turkmen voters elected a parliament in Ashgabat."));
  index.StartStory(1, "quake-1", quake, std::nullopt);
  index.Observe({}, std::nullopt);
  std::optional<StoryMatch> match = index.FindBest(quake2, std::nullopt);
  ASSERT_TRUE(match.has_value());
  EXPECT_EQ(match->story, 1u);
  EXPECT_TRUE(index.Joins(*match));
  std::optional<StoryMatch> other = index.FindBest(election, std::nullopt);
  EXPECT_TRUE(!other.has_value() || !index.Joins(*other));
  ASSERT_NE(index.FirstIdOf(1), nullptr);
  EXPECT_EQ(*index.FirstIdOf(1), "quake-1");
}

// A normalized vector of (term, weight) pairs, sorted by term.
TermVector UnitVector(std::vector<std::pair<uint64_t, float>> terms) {
  std::sort(terms.begin(), terms.end());
  double norm2 = 0;
  for (const auto& [term, weight] : terms) norm2 += weight * weight;
  for (auto& [term, weight] : terms) {
    weight = static_cast<float>(weight / std::sqrt(norm2));
  }
  return terms;
}

// A term in more stories than a lookup reads postings for is skipped, and
// the leading candidates are re-scored exactly. The candidate that wins
// only by that term (B: little shared otherwise, much of the common term)
// must still be reached: the lookup may stop early only when even the
// skipped terms could not lift a candidate to the best score.
TEST(StoryIndexTest, SkippedCommonTermStillCountsForTheBestStory) {
  StoryConfig config;
  StoryIndex index{config};
  constexpr uint64_t kCommon = 1000, kRare1 = 2001, kRare2 = 2002,
                     kRare3 = 2003;
  for (uint64_t i = 0; i < 400; ++i) {
    index.StartStory(10 + i, "filler",
                     UnitVector({{kCommon, 0.5f}, {100000 + i, 0.86f}}),
                     std::nullopt);
  }
  const TermVector a = UnitVector(
      {{kCommon, 0.1f}, {kRare1, 0.58f}, {kRare2, 0.58f}, {kRare3, 0.58f}});
  const TermVector b = UnitVector({{kCommon, 0.9f}, {kRare1, 0.44f}});
  index.StartStory(5000, "a", a, std::nullopt);
  index.StartStory(5001, "b", b, std::nullopt);
  const TermVector article = UnitVector(
      {{kCommon, 0.8f}, {kRare1, 0.35f}, {kRare2, 0.35f}, {kRare3, 0.35f}});
  // Without the common term A leads (0.60 against 0.15); with it B wins.
  ASSERT_GT(Cosine(article, b), Cosine(article, a) + 0.1);
  std::optional<StoryMatch> match = index.FindBest(article, std::nullopt);
  ASSERT_TRUE(match.has_value());
  EXPECT_EQ(match->story, 5001u);
  EXPECT_NEAR(match->cosine, Cosine(article, b), 1e-6);
}

// A skipped term's bound is the largest share the term has in any story.
// Pruning a centroid shrinks its norm and so raises the shares of the
// terms it keeps: the bound must follow, or the story that wins by the
// skipped term is pruned from the candidates by a bound too low.
TEST(StoryIndexTest, PrunedCentroidRaisesTheSkippedTermsBound) {
  StoryConfig config;
  config.max_centroid_terms = 2;  // pruned beyond 4 terms
  StoryIndex index{config};
  constexpr uint64_t kCommon = 1000, kRare = 2000;
  for (uint64_t i = 0; i < 300; ++i) {
    index.StartStory(10 + i, "filler",
                     UnitVector({{kCommon, 0.1f}, {100000 + i, 0.995f}}),
                     std::nullopt);
  }
  // X keeps kCommon and kRare; its common share rises from 0.84 to 0.95.
  const TermVector x = UnitVector({{kCommon, 0.6f},
                                   {kRare, 0.2f},
                                   {3001, 0.19f},
                                   {3002, 0.19f},
                                   {3003, 0.19f}});
  const TermVector x_pruned = UnitVector({{kCommon, 0.6f}, {kRare, 0.2f}});
  const TermVector y = UnitVector({{kCommon, 0.8f}, {kRare, 0.6f}});
  index.StartStory(5000, "x", x, std::nullopt);
  index.StartStory(5001, "y", y, std::nullopt);
  const TermVector article = UnitVector({{kCommon, 0.9f}, {kRare, 0.436f}});
  ASSERT_GT(Cosine(article, x_pruned), Cosine(article, y) + 0.005);
  std::optional<StoryMatch> match = index.FindBest(article, std::nullopt);
  ASSERT_TRUE(match.has_value());
  EXPECT_EQ(match->story, 5000u);
  EXPECT_NEAR(match->cosine, Cosine(article, x_pruned), 1e-6);
}

// FindBest against a brute force over every story: random stories over a
// skewed vocabulary (so that the common terms' posting lists are too long
// to read for candidates, and the bounds, the tail rule and the exact
// re-scores all come into play), grown by later members, their centroids
// pruned to `max_centroid_terms` as the index does. The stories FindBest
// can find are those that share with the article a term whose posting list
// it reads for candidates (one with at most 256 entries) outside the
// article's tail (its lightest terms, with an L2 norm under the
// threshold). Whenever one of those reaches the threshold, FindBest finds
// the best cosine among them, exact; when none does, it reports no
// joinable story either.
void CheckFindBestAgainstBruteForce(size_t max_centroid_terms, uint64_t seed) {
  StoryConfig config;
  config.max_centroid_terms = max_centroid_terms;
  StoryIndex index{config};
  std::mt19937_64 random(seed);
  // Term t is drawn with probability ~ 1 / (t + 1): the first few terms
  // are in most stories.
  std::vector<double> cumulative;
  double total = 0;
  for (int t = 0; t < 3000; ++t) cumulative.push_back(total += 1.0 / (t + 1));
  auto random_vector = [&] {
    std::vector<std::pair<uint64_t, float>> terms;
    std::uniform_int_distribution<int> length(3, 40);
    std::uniform_real_distribution<double> uniform(0, total);
    std::uniform_real_distribution<float> weight(0.05f, 1.0f);
    for (int n = length(random); n > 0; --n) {
      const uint64_t term =
          std::lower_bound(cumulative.begin(), cumulative.end(),
                           uniform(random)) -
          cumulative.begin();
      if (std::none_of(terms.begin(), terms.end(),
                       [&](const auto& entry) { return entry.first == term; }))
        terms.emplace_back(term, weight(random));
    }
    return UnitVector(terms);
  };
  // The centroids as the index keeps them (float sums in the same order,
  // so that pruning keeps the same terms), and each term's posting list
  // length (an entry per insertion into a centroid; pruning leaves them).
  absl::flat_hash_map<uint64_t, absl::flat_hash_map<uint64_t, float>> sums;
  absl::flat_hash_map<uint64_t, size_t> postings_of_term;
  auto add_to = [&](uint64_t key, const TermVector& vector) {
    auto& sum = sums[key];
    for (const auto& [term, weight] : vector) {
      auto [it, inserted] = sum.try_emplace(term, 0.0f);
      it->second += weight;
      postings_of_term[term] += inserted;
    }
    if (sum.size() <= 2 * max_centroid_terms) return;
    std::vector<std::pair<uint64_t, float>> terms(sum.begin(), sum.end());
    std::sort(terms.begin(), terms.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    terms.resize(max_centroid_terms);
    sum = absl::flat_hash_map<uint64_t, float>(terms.begin(), terms.end());
  };
  auto reference_cosine = [&](const TermVector& vector, uint64_t key) {
    const auto& sum = sums.at(key);
    double dot = 0, norm2 = 0;
    for (const auto& [term, weight] : sum)
      norm2 += static_cast<double>(weight) * weight;
    for (const auto& [term, weight] : vector) {
      auto it = sum.find(term);
      if (it != sum.end()) dot += static_cast<double>(weight) * it->second;
    }
    return dot / std::sqrt(norm2);
  };
  // The article's terms that make stories candidates.
  auto finding_terms = [&](const TermVector& vector) {
    std::vector<std::pair<float, uint64_t>> by_weight;
    for (const auto& [term, weight] : vector)
      by_weight.emplace_back(weight, term);
    std::sort(by_weight.begin(), by_weight.end());  // lightest first
    double tail_norm2 = 0;
    std::vector<uint64_t> terms;
    for (const auto& [weight, term] : by_weight) {
      if (tail_norm2 + weight * weight < config.threshold * config.threshold) {
        tail_norm2 += weight * weight;
        continue;
      }
      if (postings_of_term[term] <= 256) terms.push_back(term);
    }
    return terms;
  };
  std::uniform_real_distribution<double> coin(0, 1);
  int checked_joins = 0;
  for (uint64_t seq = 1; seq <= 1500; ++seq) {
    const TermVector vector = random_vector();
    const std::vector<uint64_t> terms = finding_terms(vector);
    double best_cosine = -1;
    for (const auto& entry : sums) {
      const auto& sum = entry.second;  // (clang 14 cannot capture bindings)
      if (std::any_of(terms.begin(), terms.end(),
                      [&](uint64_t term) { return sum.contains(term); }))
        best_cosine =
            std::max(best_cosine, reference_cosine(vector, entry.first));
    }
    std::optional<StoryMatch> match = index.FindBest(vector, std::nullopt);
    if (match.has_value()) {
      EXPECT_NEAR(match->cosine, reference_cosine(vector, match->story), 1e-5);
    }
    if (best_cosine >= config.threshold) {
      ASSERT_TRUE(match.has_value()) << seq;
      EXPECT_NEAR(match->cosine, best_cosine, 1e-5) << seq;
      ++checked_joins;
    } else {
      EXPECT_TRUE(!match.has_value() || !index.Joins(*match)) << seq;
    }
    // Some articles join a random earlier story, so centroids grow.
    const uint64_t joined =
        seq > 10 && coin(random) < 0.3 ? 1 + random() % (seq - 1) : seq;
    if (joined != seq && sums.contains(joined)) {
      add_to(joined, vector);
      index.AddToStory(joined, vector, std::nullopt);
    } else {
      add_to(seq, vector);
      index.StartStory(seq, "s" + std::to_string(seq), vector, std::nullopt);
    }
  }
  // The case the test is for: long lists, and many lookups with a story
  // to join.
  EXPECT_GT(std::count_if(postings_of_term.begin(), postings_of_term.end(),
                          [](const auto& entry) { return entry.second > 256; }),
            3);
  EXPECT_GT(checked_joins, 300);
}

TEST(StoryIndexTest, FindBestAgreesWithBruteForce) {
  CheckFindBestAgainstBruteForce(/*max_centroid_terms=*/1000, /*seed=*/42);
}

TEST(StoryIndexTest, FindBestAgreesWithBruteForceOnPrunedCentroids) {
  CheckFindBestAgainstBruteForce(/*max_centroid_terms=*/25, /*seed=*/7);
}

TEST(StoryTermsTest, TextYearsComeFromTitleAndLead) {
  EXPECT_EQ(
      TextYears("quake hits iran", "posted: november 27, 2005\nmore", 300),
      (std::vector<uint16_t>{2005}));
  // ISO dates, several years, sorted and unique; the title counts too.
  EXPECT_EQ(TextYears("2013 - 09 - 26 vote", "since 1991 and 2013.", 300),
            (std::vector<uint16_t>{1991, 2013}));
  // Not years: other lengths, out of range, parts of words or decimals,
  // and anything past the lead.
  EXPECT_TRUE(
      TextYears("", "12345 1899 2100 ms2008 2008th 3.2008 1,000", 300).empty());
  EXPECT_TRUE(TextYears("", "a long lead and then 2009", 10).empty());
  // A cut inside a number keeps the number whole (here, not a year).
  EXPECT_TRUE(TextYears("", "x 19205", 6).empty());
  EXPECT_TRUE(TextYears("2009", "2009", 0).empty());  // turned off
}

TEST(StoryTermsTest, ADatedUrlPathDatesTheArticle) {
  EXPECT_EQ(TextYears("quake hits iran", "no dateline here", 300,
                      "http://www.nytimes.com/2013/03/14/world/quake.html"),
            (std::vector<uint16_t>{2013}));
  EXPECT_EQ(TextYears("", "", 300,
                      "http://articles.example.com/2013-06-06/sns-20130606_1"),
            (std::vector<uint16_t>{2013}));
  // YYYYMMDD, with the text's own years beside it.
  EXPECT_EQ(TextYears("", "in 2008, too", 300,
                      "https://pressdemocrat.com/article/20130314/articles/1"),
            (std::vector<uint16_t>{2008, 2013}));
  // Not dates: the host, the query, ids of other lengths or that do not
  // read as a date, years touching letters.
  EXPECT_TRUE(
      TextYears("", "", 300, "http://news2013.com/2013850661_x.html").empty());
  EXPECT_TRUE(
      TextYears("", "", 300, "http://2013.example.com/a?year=2013").empty());
  EXPECT_TRUE(
      TextYears("", "", 300, "http://e.com/20131399/apr2009/wwdc12").empty());
  EXPECT_TRUE(TextYears("", "", 300, "no-scheme-or-path").empty());
  // No path at all, only a query or a fragment; a host; a URL in a query.
  EXPECT_TRUE(
      TextYears("", "", 300, "http://example.com?next=/2013/05/x").empty());
  EXPECT_TRUE(TextYears("", "", 300, "https://site.com#!/2012/01/x").empty());
  EXPECT_TRUE(TextYears("", "", 300, "//2013.example.com/a").empty());
  EXPECT_EQ(TextYears("", "", 300, "/news/2014/05/a?ref=http://b.com/2019/"),
            (std::vector<uint16_t>{2014}));
  EXPECT_EQ(TextYears("", "", 300, "//cdn.example.com/2011/06/a"),
            (std::vector<uint16_t>{2011}));
  EXPECT_EQ(TextYears("", "", 300, "www.example.com/2010/06/a"),
            (std::vector<uint16_t>{2010}));
  EXPECT_TRUE(TextYears("", "", 300, "2013.example.com/news").empty());
  // Eight digits that are no date.
  EXPECT_TRUE(TextYears("", "", 300, "http://e.com/20130231/a").empty());
  EXPECT_TRUE(TextYears("", "", 0, "http://e.com/2013/03/14/").empty());
}

TEST(StoryTermsTest, TextYearsConflictOnlyWhenBothDatedAndDisjoint) {
  const std::vector<uint16_t> none, y2008{2008}, y2008_2012{2008, 2012},
      y2013{2013};
  EXPECT_FALSE(TextYearsConflict(none, y2008));
  EXPECT_FALSE(TextYearsConflict(y2008, none));
  EXPECT_FALSE(TextYearsConflict(y2008, y2008_2012));
  EXPECT_FALSE(TextYearsConflict(y2008_2012, y2008));
  EXPECT_TRUE(TextYearsConflict(y2008_2012, y2013));
  EXPECT_TRUE(TextYearsConflict(y2013, y2008));
}

// The same kind of event dated another year scores lower when times are
// missing; a shared year, no years or known times leave the score alone.
TEST(StoryIndexTest, DisjointTextYearsLowerTheScore) {
  StoryConfig config;
  config.year_conflict_factor = 0.5;
  StoryIndex index{config};
  TermVector quake = index.Weigh(Terms("", "Padang earthquake Sumatra"));
  const std::vector<uint16_t> y2005{2005}, y2008{2008}, both{2005, 2008};
  index.StartStory(1, "a", quake, std::nullopt, y2005);
  std::optional<StoryMatch> same = index.FindBest(quake, std::nullopt, y2005);
  std::optional<StoryMatch> other = index.FindBest(quake, std::nullopt, y2008);
  std::optional<StoryMatch> undated = index.FindBest(quake, std::nullopt);
  ASSERT_TRUE(same.has_value() && other.has_value() && undated.has_value());
  EXPECT_NEAR(same->score, same->cosine, 1e-9);
  EXPECT_FALSE(same->year_conflict);
  EXPECT_NEAR(other->score, 0.5 * other->cosine, 1e-9);
  EXPECT_TRUE(other->year_conflict);
  EXPECT_NEAR(undated->score, undated->cosine, 1e-9);
  // A member dated 2008 makes 2008 one of the story's years.
  index.AddToStory(1, quake, std::nullopt, both);
  other = index.FindBest(quake, std::nullopt, y2008);
  ASSERT_TRUE(other.has_value());
  EXPECT_FALSE(other->year_conflict);
  // Known times decide alone.
  index.StartStory(2, "b", quake, int64_t{1000000}, y2005);
  std::optional<StoryMatch> timed = index.FindBest(
      quake, int64_t{1000000 + 3600}, std::vector<uint16_t>{1999});
  ASSERT_TRUE(timed.has_value());
  EXPECT_FALSE(timed->year_conflict);
}

TEST(StoryIndexTest, TimeDistanceLowersTheScore) {
  StoryConfig config;
  StoryIndex index{config};
  TermVector a = index.Weigh(Terms("", "Padang earthquake Sumatra magnitude"));
  index.StartStory(1, "a", a, int64_t{1000000});
  std::optional<StoryMatch> near = index.FindBest(a, int64_t{1000000 + 3600});
  std::optional<StoryMatch> far =
      index.FindBest(a, int64_t{1000000 + 30 * 86400});
  ASSERT_TRUE(near.has_value() && far.has_value());
  EXPECT_NEAR(near->score, near->cosine, 1e-9);  // within the grace period
  ASSERT_TRUE(far->hours_apart.has_value());
  EXPECT_NEAR(*far->hours_apart, 720, 1e-6);
  EXPECT_LT(far->score, 0.01);
}

TEST(StoryIndexTest, InactiveStoriesExpire) {
  StoryConfig config;
  config.window_articles = 300;
  StoryIndex index{config};
  TermVector a = index.Weigh(Terms("", "Padang earthquake Sumatra magnitude"));
  index.StartStory(7, "a", a, std::nullopt);
  for (int i = 0; i < 1024; ++i) index.Observe({}, std::nullopt);
  EXPECT_EQ(index.active_stories(), 0u);
  EXPECT_EQ(index.FirstIdOf(7), nullptr);
  EXPECT_FALSE(index.FindBest(a, std::nullopt).has_value());
}

TEST(TermPriorTest, HashesAreLibxxhashXxh3) {
  // Persisted in the changelog: the inlined XXH3 must agree with the
  // shared library's.
  std::vector<std::string_view> tokens = {"",
                                          "a",
                                          "antonov",
                                          "москва",
                                          "東",
                                          "a-much-longer-token-0123456789"
                                          "abcdefghijklmnopqrstuvwxyz"};
  std::vector<uint64_t> hashes;
  TermHashes(tokens, &hashes);
  ASSERT_EQ(hashes.size(), tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    const uint64_t expected = XXH3_64bits(tokens[i].data(), tokens[i].size());
    EXPECT_EQ(TermHash(tokens[i]), expected) << tokens[i];
    EXPECT_EQ(hashes[i], expected) << tokens[i];
  }
  TermHashes({}, &hashes);
  EXPECT_TRUE(hashes.empty());
}

TEST(TermPriorTest, ParsedTableLookups) {
  absl::StatusOr<TermPrior> prior =
      TermPrior::Parse("# comment\nthe\t7.73\nword\t1\nthe\t7.5\n\nzero\t0\n");
  ASSERT_TRUE(prior.ok());
  EXPECT_EQ(prior->size(), 3u);  // "the" twice: the last line wins
  EXPECT_EQ(prior->Zipf(TermHash("the")), 7.5f);
  EXPECT_EQ(prior->Zipf(TermHash("word")), 1.0f);
  EXPECT_EQ(prior->Zipf(TermHash("zero")), 0.0f);
  EXPECT_FALSE(prior->Zipf(TermHash("absent")).has_value());
  EXPECT_FALSE(prior->Zipf(0).has_value());
  EXPECT_FALSE(TermPrior().Zipf(TermHash("the")).has_value());
  EXPECT_EQ(TermPrior().size(), 0u);
  absl::StatusOr<TermPrior> empty = TermPrior::Parse("");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->Zipf(TermHash("the")).has_value());

  // Many terms: every one found with its value, none invented.
  std::string table;
  for (int i = 0; i < 20000; ++i)
    table +=
        StrCat("t", i, "\t", i % 1200 / 100, ".", i % 100 / 10, i % 10, "\n");
  absl::StatusOr<TermPrior> large = TermPrior::Parse(table);
  ASSERT_TRUE(large.ok());
  EXPECT_EQ(large->size(), 20000u);
  for (int i = 0; i < 20000; ++i) {
    EXPECT_EQ(large->Zipf(TermHash(StrCat("t", i))),
              static_cast<float>(i % 1200) / 100.0f);
    EXPECT_FALSE(large->Zipf(TermHash(StrCat("u", i))).has_value());
  }
}

TEST(StoryTermsTest, LinesTokenizeAsTheWholeText) {
  // Tokenizing a body once serves the shingles and the per-line boosts
  // alike only because no token crosses a line break.
  std::string text = NormalizeForMatching(
      "First line, \u6771\u4eac\nsecond\u0301 line\n\n\u0301third\n"
      "\xC3\n\xE6\x9D\nlast");
  std::vector<std::string_view> whole, by_line;
  Tokenize(text, &whole);
  for (std::string_view line : Split(text, '\n')) Tokenize(line, &by_line);
  EXPECT_EQ(whole, by_line);
}

// ExtractStoryTerms as first written: a running count per term in a hash
// map, line by line.
std::vector<ArticleTerm> ReferenceTerms(std::string_view title,
                                        std::string_view body,
                                        const StoryTermConfig& config,
                                        std::vector<std::string>* texts) {
  absl::flat_hash_map<uint64_t, std::pair<float, std::string_view>> counts;
  auto add_line = [&](std::string_view line, double boost) {
    std::vector<std::string_view> tokens;
    Tokenize(line, &tokens);
    for (std::string_view token : tokens) {
      if (token.size() == 1 && static_cast<unsigned char>(token[0]) < 0x80)
        continue;
      auto& entry = counts[XXH3_64bits(token.data(), token.size())];
      entry.first += static_cast<float>(boost);
      entry.second = token;
    }
  };
  add_line(title, config.title_boost);
  int line_index = 0;
  for (std::string_view line : Split(body, '\n', /*skip_empty=*/true)) {
    add_line(line, line_index < config.lead_lines ? config.lead_boost : 1.0);
    ++line_index;
  }
  std::vector<std::pair<uint64_t, std::string_view>> order;
  for (const auto& [hash, entry] : counts)
    order.emplace_back(hash, entry.second);
  std::sort(order.begin(), order.end());
  std::vector<ArticleTerm> terms;
  texts->clear();
  for (const auto& [hash, text] : order) {
    const bool number = std::all_of(
        text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    double zipf = number ? config.number_zipf
                         : TermPrior::Embedded().Zipf(hash).value_or(
                               static_cast<float>(config.unknown_zipf));
    double prior_idf = config.zipf_ceiling - zipf;
    if (prior_idf <= 0) continue;
    terms.push_back({hash, counts[hash].first, static_cast<float>(prior_idf)});
    texts->emplace_back(text);
  }
  return terms;
}

void ExpectSameTerms(const std::vector<ArticleTerm>& got,
                     const std::vector<ArticleTerm>& expected) {
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].hash, expected[i].hash);
    // Bit for bit: the boosts are summed in the same order.
    EXPECT_EQ(std::memcmp(&got[i].frequency, &expected[i].frequency, 4), 0);
    EXPECT_EQ(std::memcmp(&got[i].prior_idf, &expected[i].prior_idf, 4), 0);
  }
}

TEST(StoryTermsTest, SameAsTheReferenceExtraction) {
  std::mt19937_64 rng(17);
  const std::vector<std::string> words = {
      "the", "said",   "russia", "antonov", "a", "b",  "1",          "2024",
      "007", "москва", "東",     "café",    "x", "zz", "unknownword"};
  std::vector<std::pair<std::string, std::string>> articles = {
      {"", ""}, {"title only", ""}, {"", "\n\n"}, {"t", "a\nb"}};
  for (int n = 0; n < 60; ++n) {
    auto text = [&](int count, bool lines) {
      std::string out;
      for (int i = 0; i < count; ++i) {
        out += words[rng() % words.size()];
        out += lines && rng() % 6 == 0 ? (rng() % 2 ? "\n" : "\n\n") : " ";
      }
      return out;
    };
    articles.emplace_back(text(static_cast<int>(rng() % 8), true),
                          text(static_cast<int>(rng() % 600), true));
  }
  StoryTermConfig plain, odd, no_lead;
  odd.title_boost = 1.7;  // sums that depend on their order in a float
  odd.lead_boost = 1.3;
  odd.lead_lines = 3;
  no_lead.lead_lines = 0;
  StoryTermScratch scratch;  // reused, as a worker does
  for (const auto& [raw_title, raw_body] : articles) {
    const std::string title = NormalizeForMatching(raw_title);
    const std::string body = NormalizeForMatching(raw_body);
    std::vector<std::string_view> tokens;
    Tokenize(body, &tokens);
    std::vector<uint64_t> hashes;
    TermHashes(tokens, &hashes);
    for (const StoryTermConfig* config : {&plain, &odd, &no_lead}) {
      std::vector<std::string> expected_texts, texts, texts_from_tokens;
      std::vector<ArticleTerm> expected =
          ReferenceTerms(title, body, *config, &expected_texts);
      ExpectSameTerms(ExtractStoryTerms(title, body, *config,
                                        TermPrior::Embedded(), &texts),
                      expected);
      EXPECT_EQ(texts, expected_texts);
      ExpectSameTerms(ExtractStoryTermsFromTokens(
                          title, body, tokens, hashes, *config,
                          TermPrior::Embedded(), &scratch, &texts_from_tokens),
                      expected);
      EXPECT_EQ(texts_from_tokens, expected_texts);
    }
  }
}

TEST(StoryIndexTest, WeighIsTheDocumentedFormula) {
  // Whole and fractional frequencies, small and large: the logarithms of
  // the small whole ones are computed once per article and must come out
  // to the same bits.
  StoryConfig config;
  config.max_terms = 1000;
  StoryIndex index(config);
  std::vector<ArticleTerm> terms;
  for (int i = 0; i < 150; ++i) {
    float frequency = i < 70 ? static_cast<float>(i % 70) : 0.7f * i;
    terms.push_back({1000u + i, frequency, 0.5f + 0.03f * i});
  }
  // One article seen: its terms have df 1, the others none.
  std::vector<ArticleTerm> seen(terms.begin(), terms.begin() + 40);
  index.Observe(seen, std::nullopt);
  const double articles = 1.0;
  const double prior_share =
      config.prior_articles / (config.prior_articles + articles);
  std::vector<double> expected;
  double norm2 = 0;
  for (size_t i = 0; i < terms.size(); ++i) {
    const double df = i < seen.size() ? 1.0 : 0.0;
    const double idf =
        prior_share * terms[i].prior_idf +
        (1.0 - prior_share) * std::log((articles + 1.0) / (df + 1.0));
    const float weight = static_cast<float>(
        (1.0 + std::log(std::max(1.0f, terms[i].frequency))) * idf);
    expected.push_back(weight);
    norm2 += static_cast<double>(weight) * weight;
  }
  TermVector vector = index.Weigh(terms);
  ASSERT_EQ(vector.size(), terms.size());
  const double inverse = 1.0 / std::sqrt(norm2);
  for (size_t i = 0; i < terms.size(); ++i) {
    EXPECT_EQ(vector[i].first, terms[i].hash);
    EXPECT_EQ(vector[i].second, static_cast<float>(expected[i] * inverse)) << i;
  }
}

}  // namespace
}  // namespace storyd
