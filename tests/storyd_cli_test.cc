// Runs the storyd binary as a user would: bad input lines, exit codes,
// strip and explain.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/strings.h"

namespace storyd {
namespace {

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

class StorydCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("storyd_cli_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& content) {
    std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  static std::string Slurp(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    std::stringstream s;
    s << file.rdbuf();
    return s.str();
  }

  RunResult Run(const std::string& args) {
    std::string out = (dir_ / "stdout").string(),
                err = (dir_ / "stderr").string();
    std::string command =
        std::string(STORYD_BINARY) + " " + args + " >" + out + " 2>" + err;
    int status = std::system(command.c_str());
    RunResult result;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = Slurp(out);
    result.err = Slurp(err);
    return result;
  }

  std::filesystem::path dir_;
};

TEST_F(StorydCliTest, BadLinesAreReportedCountedAndSkipped) {
  std::string five_mb(5 * 1024 * 1024, 'x');
  std::string input =
      R"({"id":"good-1","body":"A perfectly ordinary article about a river flood in town."})"
      "\n"
      "{not json\n"  // line 2
      R"({"body":"no id here"})"
      "\n"  // line 3
      R"({"id":"no-body"})"
      "\n"                                                // line 4
      "{\"id\":\"bad-utf8\",\"body\":\"caf\xc3\x28\"}\n"  // line 5
      R"({"id":"empty","body":""})"
      "\n"  // line 6
      "{\"id\":\"huge\",\"body\":\"" +
      five_mb +
      "\"}\n"  // line 7
      R"({"id":"good-1","body":"The same id again, a second time."})"
      "\n"  // line 8
      "\n"
      R"({"id":"good-2","body":"Another article, on a different matter entirely."})"
      "\n";
  std::string in = Write("in.jsonl", input);
  RunResult r = Run("dedup --input " + in);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  for (const char* expected :
       {"line 2: malformed_json", "line 3: missing_id", "line 4: missing_body",
        "line 5: invalid_utf8", "line 6: empty_body", "line 7: too_large",
        "line 8: duplicate_id",
        "9 records, 2 articles, 0 copies, 7 rejected"}) {
    EXPECT_TRUE(Contains(r.err, expected)) << expected << "\n" << r.err;
  }
  std::vector<std::string_view> lines = Split(r.out, '\n', true);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_TRUE(StartsWith(lines[0], R"({"id":"good-1","story_id":"s)"));
  EXPECT_TRUE(StartsWith(lines[1], R"({"id":"good-2",)"));
  for (std::string_view line : lines) {
    for (const char* field : {"\"dup_of\":", "\"score\":", "\"fingerprint\":\"",
                              "\"method\":", "\"published_at\":"}) {
      EXPECT_TRUE(Contains(line, field)) << field;
    }
  }
}

TEST_F(StorydCliTest, CopiesPointAtTheirOriginalThroughStdinAndStdout) {
  std::string text =
      "Rescue teams searched through the night for survivors of the landslide "
      "that buried "
      "a mountain village, officials said on Sunday, as rain continued to "
      "fall.";
  std::string input = R"({"id":"orig","body":")" + text + "\"}\n" +
                      R"({"id":"copy","body":"Advertisement\n)" + text +
                      "\\nLeave a Reply\"}\n";
  std::string in = Write("in.jsonl", input);
  RunResult r = Run("dedup < " + in);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, R"("id":"copy")")) << r.out;
  EXPECT_TRUE(Contains(
      r.out,
      R"("decision":"copy","story_score":null,"dup_of":"orig","match_id":"orig")"))
      << r.out;
}

TEST_F(StorydCliTest, StripShowsCleanTextAndRemovals) {
  RunResult r = Run("strip --input " STORYD_TEST_DATA "/seeds.jsonl");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string_view> lines = Split(r.out, '\n', true);
  EXPECT_EQ(lines.size(), 5u);
  EXPECT_FALSE(Contains(r.out, "\"text\":\"[ad_1]"));
  EXPECT_TRUE(Contains(r.out, "\"removed\":[\"[ad_1]\""));
}

TEST_F(StorydCliTest, ExplainGivesDistancesAndDecision) {
  std::string text =
      "The central bank raised interest rates by half a point on Thursday, its "
      "third "
      "increase this year, citing persistent inflation in food and energy "
      "prices.";
  std::string a = Write("a.json", R"({"id":"a","body":")" + text + "\"}");
  std::string b =
      Write("b.json", R"({"id":"b","body":"[ad_1]\n)" + text + "\"}");
  std::string c = Write(
      "c.json", R"({"id":"c","body":"A storm hit the coast overnight."})");
  RunResult same = Run("explain " + a + " " + b);
  EXPECT_EQ(same.exit_code, 0) << same.err;
  EXPECT_TRUE(Contains(same.out, "hamming distance: 0 bits")) << same.out;
  EXPECT_TRUE(Contains(same.out, "containment 1.0000")) << same.out;
  EXPECT_TRUE(Contains(same.out, "- [ad_1]")) << same.out;
  EXPECT_TRUE(Contains(same.out, "copy decision: COPY")) << same.out;
  RunResult different = Run("explain " + a + " " + c);
  EXPECT_TRUE(Contains(different.out, "copy decision: NOT A COPY"))
      << different.out;
}

TEST_F(StorydCliTest, ConfigErrorsAreClear) {
  std::string bad = Write("bad.toml", "[copy]\nmin_containment = 7\n");
  RunResult r = Run("dedup --config " + bad + " --input /dev/null");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Contains(r.err, "copy.min_containment")) << r.err;
  std::string typo = Write("typo.toml", "[copy]\nmin_contaiment = 0.5\n");
  r = Run("dedup --config " + typo + " --input /dev/null");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Contains(r.err, "unknown config key 'copy.min_contaiment'"))
      << r.err;
  std::string backlog =
      Write("backlog.toml", "[kafka]\nreorder_backlog_ms = -5\n");
  r = Run("dedup --config " + backlog + " --input /dev/null");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Contains(r.err, "kafka.reorder_backlog_ms")) << r.err;
  std::string shipped = STORYD_SOURCE_DIR "/conf/storyd.toml";
  r = Run("dedup --config " + shipped + " --input /dev/null");
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(StorydCliTest, EvaluatePrintsQualityFigures) {
  RunResult r = Run("evaluate --input " STORYD_TEST_DATA
                    "/seeds.jsonl --gold " STORYD_TEST_DATA "/seeds.gold.tsv");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "story_bcubed_f1    1.0000")) << r.out;
  EXPECT_TRUE(Contains(r.out, "dup_bcubed_f1      1.0000")) << r.out;
  EXPECT_TRUE(Contains(r.out, "articles_per_s")) << r.out;
}

TEST_F(StorydCliTest, ExplainShowsTheStoryDecision) {
  std::ifstream seeds(STORYD_TEST_DATA "/seeds.jsonl");
  std::string first, second;
  std::getline(seeds, first);
  std::getline(seeds, second);
  RunResult r =
      Run("explain " + Write("a.json", first) + " " + Write("b.json", second));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "copy decision: NOT A COPY")) << r.out;
  EXPECT_TRUE(Contains(r.out, "antonov")) << r.out;
  EXPECT_TRUE(Contains(r.out, "time distance 11.5 hours")) << r.out;
  EXPECT_TRUE(Contains(r.out, "story decision: SAME STORY")) << r.out;
}

// Without times, explain applies the text years as the story index does.
TEST_F(StorydCliTest, ExplainShowsConflictingTextYears) {
  const std::string body =
      "Rescuers searched the rubble after the earthquake struck the "
      "mountain town of Arcadia, officials said, and aftershocks rattled the "
      "valley through the night.";
  auto article = [&](const std::string& id, const std::string& title) {
    return Write(id + ".json", R"({"id":")" + id + R"(","title":")" + title +
                                   R"(","body":")" + body + R"("})");
  };
  std::string a = article("y1", "Arcadia earthquake of 2008");
  std::string b = article("y2", "Arcadia earthquake of 2012");
  std::string c = article("y3", "Arcadia earthquake, 2008");
  RunResult r = Run("explain " + a + " " + b);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(
      Contains(r.out, "text years: A 2008, B 2012: none shared, score x 0.50"))
      << r.out;
  r = Run("explain " + a + " " + c);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "text years: A 2008, B 2008\n")) << r.out;
}

TEST_F(StorydCliTest, ScoreCommand) {
  std::string gold = Write("gold.tsv", "a\t1\ta\nb\t1\ta\n");
  std::string out =
      Write("out.jsonl", R"({"id":"a","story_id":"s","dup_of":null})"
                         "\n"
                         R"({"id":"b","story_id":"s","dup_of":"a"})"
                         "\n");
  RunResult r = Run("score " + gold + " " + out);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "dup_bcubed_f1      1.0000")) << r.out;
}

}  // namespace
}  // namespace storyd
