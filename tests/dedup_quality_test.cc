// End-to-end quality of the offline engine on the shipped dev data, and its
// determinism across thread counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/scoring.h"
#include "daemon/config.h"
#include "daemon/offline_commands.h"

namespace storyd {
namespace {

std::string ReadData(const std::string& name) {
  std::ifstream file(std::string(STORYD_TEST_DATA) + "/" + name);
  EXPECT_TRUE(file.good()) << name;
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

std::string Dedup(const std::string& input, int threads,
                  bool story_tier = true) {
  StorydConfig config = DefaultConfig();
  config.threads = threads;
  config.story.terms.enabled = story_tier;
  std::istringstream in(input);
  std::ostringstream out, log;
  EXPECT_EQ(RunDedup(config, in, out, log, DedupInput::kComplete), kExitOk)
      << log.str();
  return out.str();
}

QualityReport Score(const std::string& gold_name, const std::string& output) {
  absl::StatusOr<QualityReport> report = ScoreRun(ReadData(gold_name), output);
  EXPECT_TRUE(report.ok()) << report.status();
  return report.value_or(QualityReport{});
}

// `dedup` sizes its SimHash index and histories to an input that ends
// within its read-ahead (RunDedup); with a slot for every record nothing
// expires, so the decisions are those of the configured size: the same
// articles followed by enough rejected records to pass the read-ahead
// (the configured size) get the same output.
TEST(DedupQualityTest, AShortInputIsDecidedAsAtTheConfiguredSize) {
  const std::string articles = ReadData("neardup.jsonl");
  std::string longer = articles;
  for (int i = 0; i < 70000; ++i) longer += "{\"id\": 5}\n";
  StorydConfig config = DefaultConfig();
  config.threads = 2;
  std::istringstream short_in(articles), long_in(longer);
  std::ostringstream short_out, long_out, log;
  EXPECT_EQ(RunDedup(config, short_in, short_out, log, DedupInput::kComplete),
            kExitOk);
  EXPECT_EQ(RunDedup(config, long_in, long_out, log, DedupInput::kComplete),
            kExitRejectedInput);
  EXPECT_EQ(short_out.str(), long_out.str());
  EXPECT_NE(log.str().find("70000 rejected"), std::string::npos)
      << log.str().substr(log.str().size() - 300);
}

TEST(DedupQualityTest, NearDuplicateSetMeetsTheCopyTargets) {
  std::string output = Dedup(ReadData("neardup.jsonl"), 2);
  QualityReport report = Score("neardup.gold.tsv", output);
  EXPECT_EQ(report.missing, 0u);
  EXPECT_GE(report.dup_bcubed_f1, 0.98) << FormatQualityReport(report);
  EXPECT_GE(report.dup_bcubed_p, 0.995) << FormatQualityReport(report);
}

TEST(DedupQualityTest, EcbPlusCopiesArePrecise) {
  QualityReport report =
      Score("ecbplus.gold.tsv", Dedup(ReadData("ecbplus.jsonl"), 2));
  EXPECT_EQ(report.missing, 0u);
  EXPECT_GE(report.dup_bcubed_p, 0.995) << FormatQualityReport(report);
  EXPECT_GE(report.dup_bcubed_f1, 0.98) << FormatQualityReport(report);
}

TEST(DedupQualityTest, SeedsAreNotCopiesOfEachOther) {
  std::string output = Dedup(ReadData("seeds.jsonl"), 2);
  QualityReport report = Score("seeds.gold.tsv", output);
  EXPECT_EQ(report.articles, 5u);
  EXPECT_EQ(report.missing, 0u);
  EXPECT_DOUBLE_EQ(report.dup_bcubed_f1, 1.0) << output;
  EXPECT_EQ(output.find("\"decision\":\"copy\""), std::string::npos) << output;
  // A fresh start on the five seeds alone: one story.
  EXPECT_EQ(report.stories_predicted, 1u) << output;
  EXPECT_DOUBLE_EQ(report.story_bcubed_f1, 1.0) << output;
}

// Regression guards for the story tier at the quality it reaches today
// (issue target: 0.95 on both; docs/architecture.md has the current figures).
TEST(DedupQualityTest, StoryClusteringQuality) {
  QualityReport ecb =
      Score("ecbplus.gold.tsv", Dedup(ReadData("ecbplus.jsonl"), 2));
  EXPECT_GE(ecb.story_bcubed_f1, 0.895) << FormatQualityReport(ecb);
  QualityReport near =
      Score("neardup.gold.tsv", Dedup(ReadData("neardup.jsonl"), 2));
  EXPECT_GE(near.story_bcubed_f1, 0.91) << FormatQualityReport(near);
  EXPECT_GE(near.dup_bcubed_f1, 0.98) << FormatQualityReport(near);
}

// The value of a string field in one output line ("" when absent).
std::string FieldOf(const std::string& line, const std::string& field) {
  const std::string key = "\"" + field + "\":\"";
  const size_t at = line.find(key);
  if (at == std::string::npos) return "";
  const size_t start = at + key.size();
  return line.substr(start, line.find('"', start) - start);
}

// The five seeds among eight reports of other events of March and April
// 2021 about the same countries and people (sanctions over Navalny, the
// Twitter slowdown, the US intelligence report on the 2020 election, Biden
// on Cuomo in the same interview as the "killer" remark, the Alaska talks,
// Sputnik V, Lavrov in China, the US ambassador leaving Moscow), in time
// order: the acceptance's hard negatives. Written for the project
// (tests/data/README.md). The seeds must stay one story, and no other
// event's report may join it, with one known exception today: the
// intelligence report of 16 March, which the seeds cite as the background
// of Biden's remark, is the story's first article (the BBC seed shares its
// "Biden", "Putin", "authorised", "sway", "intelligence" at a cosine of 0.24
// against a threshold of 0.23; names the prior's 2021-era word counts
// rate rare weigh most while the stream is too short to learn them).
TEST(DedupQualityTest, RelatedStoriesStayOutOfTheSeedStory) {
  std::istringstream output(Dedup(ReadData("seeds_related.jsonl"), 2));
  std::map<std::string, std::string> story_of;
  for (std::string line; std::getline(output, line);) {
    story_of[FieldOf(line, "id")] = FieldOf(line, "story_id");
  }
  ASSERT_EQ(story_of.size(), 13u);
  const std::string seed_story = story_of["seed-000"];
  std::set<std::string> other_stories;
  for (const auto& [id, story] : story_of) {
    if (id.starts_with("seed-")) {
      EXPECT_EQ(story, seed_story) << id;
    } else if (id != "rel-odni") {
      EXPECT_NE(story, seed_story) << id;
      other_stories.insert(story);
    }
  }
  // The other seven events are seven stories.
  EXPECT_EQ(other_stories.size(), 7u);
  QualityReport report = Score("seeds_related.gold.tsv",
                               Dedup(ReadData("seeds_related.jsonl"), 1));
  EXPECT_GE(report.story_bcubed_f1, 0.93) << FormatQualityReport(report);
}

TEST(DedupQualityTest, WithoutTheStoryTierCopiesAreTheSame) {
  // story.enabled = false: the copy tier alone, to compare its cost.
  std::string input = ReadData("neardup.jsonl");
  QualityReport with = Score("neardup.gold.tsv", Dedup(input, 2));
  std::string output = Dedup(input, 2, /*story_tier=*/false);
  QualityReport without = Score("neardup.gold.tsv", output);
  EXPECT_DOUBLE_EQ(without.dup_bcubed_f1, with.dup_bcubed_f1);
  EXPECT_EQ(output.find("same_story"), std::string::npos);
  // Each copy group is its own story: one story per article that is no
  // copy.
  size_t copies = 0;
  for (size_t at = output.find("\"decision\":\"copy\"");
       at != std::string::npos;
       at = output.find("\"decision\":\"copy\"", at + 1)) {
    ++copies;
  }
  EXPECT_EQ(without.stories_predicted, without.articles - copies);
}

TEST(DedupQualityTest, OutputIsByteIdenticalWhateverTheThreadCount) {
  std::string input = ReadData("neardup.jsonl") + ReadData("seeds.jsonl");
  std::string one = Dedup(input, 1);
  EXPECT_EQ(one, Dedup(input, 4));
  EXPECT_EQ(one, Dedup(input, 8));
  EXPECT_EQ(one, Dedup(input, 1));
}

// The same with verbatim copies a few articles apart (re-sent with new
// ids), which workers on different threads find in each other's windows
// while the ordered stage decides them from the first article with their
// text (Assigner::ShortcutIdenticalCopies). Runs under ThreadSanitizer in
// CI.
TEST(DedupQualityTest, VerbatimCopiesAreDecidedAlikeWhateverTheThreadCount) {
  std::istringstream articles(ReadData("neardup.jsonl"));
  std::vector<std::string> lines;
  for (std::string line; std::getline(articles, line);) lines.push_back(line);
  auto resent = [&](size_t i, const std::string& suffix) {
    const size_t id_end = lines[i].find("\",");
    return lines[i].substr(0, id_end) + suffix + lines[i].substr(id_end);
  };
  std::string input;
  for (size_t i = 0; i < lines.size(); ++i) {
    input += lines[i] + "\n";
    if (i >= 3) input += resent(i - 3, "/2") + "\n";
    if (i >= 40 && i % 2 == 0) input += resent(i - 40, "/3") + "\n";
  }
  ASSERT_EQ(input.find("\"id\":"), 1u);
  std::string one = Dedup(input, 1);
  EXPECT_EQ(one, Dedup(input, 4));
  EXPECT_EQ(one, Dedup(input, 8));
  QualityReport report = Score("neardup.gold.tsv", one);
  EXPECT_EQ(report.missing, 0u);
}

// Popular stories: 12 texts, each re-sent 250 times (past the window's 64
// candidates a search, so that which copies a worker's search reaches
// depends on timing), interleaved with the rest of neardup.
TEST(DedupQualityTest, PopularStoriesAreDecidedAlikeWhateverTheThreadCount) {
  std::istringstream articles(ReadData("neardup.jsonl"));
  std::vector<std::string> lines;
  for (std::string line; std::getline(articles, line);) lines.push_back(line);
  auto resent = [&](size_t i, size_t copy) {
    const size_t id_end = lines[i].find("\",");
    return lines[i].substr(0, id_end) + "/" + std::to_string(copy) +
           lines[i].substr(id_end);
  };
  std::string input;
  for (size_t copy = 0; copy < 250; ++copy) {
    for (size_t text = 0; text < 12; ++text) {
      input += resent(text * 7, copy) + "\n";
    }
    input += lines[12 * 7 + copy] + "\n";
  }
  std::string one = Dedup(input, 1);
  EXPECT_EQ(one, Dedup(input, 4));
  EXPECT_EQ(one, Dedup(input, 8));
}

// Popular stories whose copies each carry their own edits (two words
// replaced), so that no two sets are equal and every copy is decided on
// its own search: 4 texts x 300 copies, interleaved. Past the window's 64
// candidates and 64 nodes a chain, which earlier copies a search reaches
// must not depend on which later ones other threads indexed first
// (ArticleProcessor::Index and SearchEarlier). Before 2026-12-07, 4 threads
// named another original for whole copy groups.
TEST(DedupQualityTest,
     CopiesWithTheirOwnEditsAreDecidedAlikeWhateverTheThreadCount) {
  std::istringstream articles(ReadData("neardup.jsonl"));
  std::vector<std::string> lines;
  for (std::string line; std::getline(articles, line);) lines.push_back(line);
  std::mt19937_64 rng(11);
  auto edited = [&](size_t i, size_t copy) {
    std::string line = lines[i];
    const size_t id_end = line.find("\",");
    line.insert(id_end, "/" + std::to_string(copy));
    // Two lower-case words of the body's first 600 bytes, replaced.
    const size_t body = line.find("\"body\": \"");
    std::vector<size_t> words;
    for (size_t p = body + 9; p < std::min(line.size(), body + 600); ++p) {
      if (line[p - 1] == ' ' &&
          std::islower(static_cast<unsigned char>(line[p])))
        words.push_back(p);
    }
    for (int edit = 0; edit < 2 && !words.empty(); ++edit) {
      const size_t start = words[rng() % words.size()];
      size_t end = start;
      while (std::islower(static_cast<unsigned char>(line[end]))) ++end;
      line.replace(start, end - start, "zq" + std::to_string(rng() % 100000));
      words.clear();  // positions moved: pick the second one afresh
      for (size_t p = body + 9; p < std::min(line.size(), body + 600); ++p) {
        if (line[p - 1] == ' ' &&
            std::islower(static_cast<unsigned char>(line[p])))
          words.push_back(p);
      }
    }
    return line;
  };
  std::string input;
  for (size_t copy = 0; copy < 300; ++copy) {
    for (size_t text = 0; text < 4; ++text) {
      input += edited(text * 11, copy) + "\n";
    }
  }
  std::string one = Dedup(input, 1);
  EXPECT_EQ(one, Dedup(input, 4));
  EXPECT_EQ(one, Dedup(input, 8));
  // Each text's copies form one group under its first copy.
  std::istringstream out(one);
  size_t originals = 0;
  for (std::string line; std::getline(out, line);) {
    originals += line.find("\"dup_of\":null") != std::string::npos ? 1 : 0;
  }
  EXPECT_EQ(originals, 4u);
}

}  // namespace
}  // namespace storyd
