// The two pipeline stages together (core/pipeline.h), single-threaded.
#include "core/pipeline.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "core/article.h"
#include "core/boilerplate.h"
#include "core/boilerplate_learner.h"
#include "core/copy_detector.h"
#include "core/strings.h"
#include "core/term_prior.h"
#include "core/text_normalizer.h"

namespace storyd {
namespace {

std::vector<std::string> ReadLines(const std::string& name) {
  std::ifstream file(std::string(STORYD_TEST_DATA) + "/" + name);
  EXPECT_TRUE(file.good()) << name;
  std::vector<std::string> lines;
  for (std::string line; std::getline(file, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// An input record with this id, title and body.
std::string RecordJson(const std::string& id, const std::string& title,
                       const std::string& body) {
  std::string record = "{\"id\":";
  AppendJsonString(id, &record);
  record += ",\"title\":";
  AppendJsonString(title, &record);
  record += ",\"body\":";
  AppendJsonString(body, &record);
  record += "}";
  return record;
}

// One pipeline whose workers defer the story terms of likely copies, or
// do not.
class Pipeline {
 public:
  explicit Pipeline(bool defer, bool shortcut_identical = false,
                    const CopyConfig& copy = CopyConfig{})
      : stripper_(*BoilerplateStripper::Load("")),
        detector_(copy),
        processor_(&stripper_, &detector_, &TermPrior::Embedded(),
                   StoryConfig{}.terms),
        assigner_(1 << 16, StoryConfig{}),
        parser_(1 << 20) {
    if (defer) assigner_.DeferCopyStoryTerms(&processor_);
    if (shortcut_identical) {
      assigner_.ShortcutIdenticalCopies(&processor_, kIdenticalHorizon);
    }
  }
  static constexpr size_t kIdenticalHorizon = 200;

  // The output line, or the problem's message.
  std::string Run(const std::string& record) {
    ProcessedArticle processed;
    processor_.Process(&parser_, seq_++, record, "", nullptr, &processed,
                       scratch_);
    deferred_ += processed.story_terms_deferred ? 1 : 0;
    skipped_ += processed.skipped_search != SkippedSearch::kNone ? 1 : 0;
    auto result = assigner_.Assign(processed);
    if (const auto* problem = std::get_if<InputProblem>(&result)) {
      return "problem: " + problem->reason;
    }
    const Assignment& assignment = std::get<Assignment>(result);
    if (processed.story_terms_deferred &&
        assignment.decision != StoryDecision::kCopy) {
      ++fell_through_;
      if (assignment.decision == StoryDecision::kSameStory) {
        ++fell_through_same_story_;
      }
    }
    return FormatAssignmentJson(assignment);
  }

  // The output lines of `records` as `storyd dedup` makes them: each batch
  // of `batch` indexed (in an order shuffled within the batch, as several
  // threads would), then searched for earlier articles, then assigned; and
  // the next batch indexed and searched before this one is assigned (as
  // its workers may be, while the ordered stage assigns this one).
  std::vector<std::string> RunBatches(const std::vector<std::string>& records,
                                      size_t batch, std::mt19937_64* rng) {
    assigner_.SearchEarlierOnly(batch);
    ProcessScratch scratch;
    auto process = [&](size_t first) {
      const size_t count = std::min(batch, records.size() - first);
      std::vector<ProcessedArticle> processed(count);
      std::vector<size_t> order(count);
      for (size_t i = 0; i < count; ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), *rng);
      for (size_t i : order) {
        processor_.Index(&parser_, first + i, records[first + i], "", nullptr,
                         &processed[i], &scratch);
      }
      std::shuffle(order.begin(), order.end(), *rng);
      for (size_t i : order) processor_.SearchEarlier(&processed[i], batch);
      return processed;
    };
    std::vector<std::string> lines;
    std::vector<ProcessedArticle> current = process(0);
    for (size_t first = 0; first < records.size(); first += batch) {
      std::vector<ProcessedArticle> next;
      if (first + batch < records.size()) next = process(first + batch);
      for (ProcessedArticle& article : current) {
        skipped_ += article.skipped_search != SkippedSearch::kNone ? 1 : 0;
        auto result = assigner_.Assign(article);
        const auto* problem = std::get_if<InputProblem>(&result);
        lines.push_back(problem != nullptr ? "problem: " + problem->reason
                                           : FormatAssignmentJson(
                                                 std::get<Assignment>(result)));
      }
      current = std::move(next);
    }
    return lines;
  }

  int deferred_ = 0;
  int skipped_ = 0;
  uint64_t identical_decisions() const {
    return assigner_.identical_decisions();
  }
  int fell_through_ = 0;
  int fell_through_same_story_ = 0;
  // Run's worker buffers, kept from record to record (its feature memo
  // with them), or null for fresh ones each time.
  ProcessScratch* scratch_ = nullptr;

 private:
  BoilerplateStripper stripper_;
  CopyDetector detector_;
  ArticleProcessor processor_;
  Assigner assigner_;
  ArticleParser parser_;
  uint64_t seq_ = 0;
};

// Deferring the story terms of likely copies changes no output, also when
// the copy decision falls through: before every 20th article comes a
// record with its body but the id of the article before it, which is
// rejected as a duplicate id, so that the article's only earlier match is
// a rejected record and it is no copy; the ordered stage must then extract
// its story terms itself.
TEST(PipelineTest, DeferredStoryTermsChangeNoOutput) {
  std::vector<std::string> input;
  const std::vector<std::string> articles = ReadLines("neardup.jsonl");
  ArticleParser parser(1 << 20);
  std::string previous_id;
  for (size_t i = 0; i < articles.size(); ++i) {
    auto parsed = parser.Parse(articles[i], "");
    ASSERT_TRUE(std::holds_alternative<Article>(parsed));
    const Article& article = std::get<Article>(parsed);
    if (i % 20 == 10) {
      input.push_back(RecordJson(previous_id, article.title, article.body));
    }
    input.push_back(articles[i]);
    previous_id = article.id;
  }
  Pipeline eager(/*defer=*/false), lazy(/*defer=*/true);
  int rejected = 0;
  for (const std::string& record : input) {
    const std::string line = eager.Run(record);
    ASSERT_EQ(line, lazy.Run(record)) << record.substr(0, 80);
    rejected += line.starts_with("problem: ") ? 1 : 0;
  }
  EXPECT_EQ(rejected, 50);
  EXPECT_EQ(eager.deferred_, 0);
  // neardup holds about 600 copies.
  EXPECT_GT(lazy.deferred_, 500);
  // Many articles after a rejected twin are copies of earlier articles
  // too (neardup is copy-heavy); the others fall through, and some of
  // those join a story by their deferred terms.
  EXPECT_GE(lazy.fell_through_, 10);
  EXPECT_GT(lazy.fell_through_same_story_, 0)
      << lazy.fell_through_ << " fell through";
}

// neardup, with these records among its articles:
// - before every 20th article, one with its body under the previous
//   article's id, rejected as a duplicate id (the article's only earlier
//   match is then a rejected record, so it is no copy);
// - every fourth article re-sent verbatim (a new id) 1-3 times, once right
//   away and the others 300 and 450 articles later;
// - with `variations`, the re-sends under another title, and before every
//   50th article a record that does not parse.
std::vector<std::string> NeardupWithResends(bool variations) {
  const std::vector<std::string> articles = ReadLines("neardup.jsonl");
  ArticleParser parser(1 << 20);
  std::vector<std::string> input;
  std::vector<std::pair<size_t, std::string>> later;  // (due index, record)
  std::string previous_id;
  for (size_t i = 0; i < articles.size(); ++i) {
    auto parsed = parser.Parse(articles[i], "");
    EXPECT_TRUE(std::holds_alternative<Article>(parsed));
    if (!std::holds_alternative<Article>(parsed)) continue;
    const Article& article = std::get<Article>(parsed);
    const std::string title =
        variations ? "Other words " + std::to_string(i) : article.title;
    auto resend = [&](const std::string& id) {
      return RecordJson(id, title, article.body);
    };
    if (i % 20 == 10) {
      input.push_back(RecordJson(previous_id, article.title, article.body));
    }
    if (variations && i % 50 == 25) {
      input.push_back("{\"id\": \"broken-" + article.id);
    }
    input.push_back(articles[i]);
    if (i % 4 == 0) {
      for (size_t c = 1; c <= 1 + i % 3; ++c) {
        const std::string record = resend(StrCat(article.id, "/", c));
        if (c == 1) {
          input.push_back(record);
        } else {
          later.emplace_back(i + 150 * c, record);
        }
      }
    }
    while (!later.empty() && later.front().first <= i) {
      input.push_back(later.front().second);
      later.erase(later.begin());
    }
    previous_id = article.id;
  }
  for (const auto& [due, record] : later) input.push_back(record);
  return input;
}

// A worker's memos of cleaned texts and of features
// (ProcessScratch::normalized_texts, feature_memo) change no output, with story
// terms deferred for likely copies and not. The input (NeardupWithResends, with
// variations) has re-sends past a 128-article window, and articles whose text
// the memo knows from a rejected twin: no copies, they need their story terms,
// from tokens the memo did not make.
TEST(PipelineTest, FeatureMemoChangesNoOutput) {
  const std::vector<std::string> input =
      NeardupWithResends(/*variations=*/true);
  CopyConfig small;
  small.window_articles = 128;
  small.window_arena_words = 1 << 18;
  for (bool defer : {false, true}) {
    Pipeline fresh(defer, /*shortcut_identical=*/true, small);
    Pipeline memo(defer, /*shortcut_identical=*/true, small);
    ProcessScratch scratch;
    memo.scratch_ = &scratch;
    for (const std::string& record : input) {
      ASSERT_EQ(fresh.Run(record), memo.Run(record))
          << "defer " << defer << ": " << record.substr(0, 80);
    }
    // The re-sends (about 500), the twins and neardup's own verbatim
    // copies.
    EXPECT_GT(scratch.feature_memo.hits(), 500u) << "defer " << defer;
    EXPECT_GT(scratch.normalized_texts.hits(), 500u) << "defer " << defer;
  }
}

// A processor on the shipped rules and default copy indexes, keeping its
// articles' shingles, with a parser: for tests that call it directly.
struct OneProcessor {
  OneProcessor() { processor.set_keep_shingles(true); }
  OneProcessor(const OneProcessor&) = delete;
  OneProcessor& operator=(const OneProcessor&) = delete;

  BoilerplateStripper stripper = *BoilerplateStripper::Load("");
  CopyDetector detector{CopyConfig{}};
  ArticleProcessor processor{&stripper, &detector, &TermPrior::Embedded(),
                             StoryConfig{}.terms};
  ArticleParser parser{1 << 20};
};

// The memo also gives a copy the learner's short-line hashes of its text,
// the same as hashing them again: on re-sent neardup articles, with
// learned lines taken out of some texts (so that a text's memo entry can
// be of the text without them) and without.
TEST(PipelineTest, FeatureMemoGivesTheShortLinesOfEachText) {
  const std::vector<std::string> input =
      NeardupWithResends(/*variations=*/true);
  OneProcessor setup;
  ArticleProcessor& processor = setup.processor;
  ArticleParser& parser = setup.parser;
  // Learn the short lines that recur most: each record its own group.
  LearnerConfig learner_config;
  BoilerplateLearner learner(learner_config);
  for (size_t i = 0; i < input.size(); ++i) {
    ProcessedArticle processed;
    processor.Process(&parser, i, input[i], "", nullptr, &processed);
    learner.Observe(i, processed.short_lines);
  }
  std::shared_ptr<const LearnedBoilerplate> learned = learner.Snapshot();
  ASSERT_GT(learned->size(), 0u);
  ProcessScratch scratch;
  size_t with_short_lines = 0;
  for (const LearnedBoilerplate* lines :
       {learned.get(), static_cast<const LearnedBoilerplate*>(nullptr)}) {
    for (size_t i = 0; i < input.size(); ++i) {
      ProcessedArticle memo, fresh;
      processor.Process(&parser, i, input[i], "", lines, &memo, &scratch);
      processor.Process(&parser, i, input[i], "", lines, &fresh);
      ASSERT_EQ(memo.short_lines, fresh.short_lines) << input[i].substr(0, 80);
      ASSERT_EQ(memo.fingerprint, fresh.fingerprint);
      ASSERT_EQ(memo.shingles, fresh.shingles);
      with_short_lines += memo.short_lines.empty() ? 0 : 1;
    }
  }
  EXPECT_GT(with_short_lines, input.size());
  EXPECT_GT(scratch.feature_memo.hits(), 500u);
  // The second pass (no learned lines) finds every text's short lines.
  EXPECT_GT(scratch.feature_memo.short_line_hits(), input.size() / 2);
}

// The memo's key is the text the features are computed from: after the
// learned boilerplate lines are removed, which the same body can have or
// not as the learner learns.
TEST(PipelineTest, FeatureMemoKeysTheTextAfterLearnedLinesLeave) {
  OneProcessor setup;
  ArticleProcessor& processor = setup.processor;
  ArticleParser& parser = setup.parser;
  const std::string prompt = "Follow our live coverage of the summit";
  const std::string body =
      "The ministers met in Geneva on Tuesday to discuss the ceasefire.\n" +
      prompt +
      "\nThey agreed to meet again next week, the spokesman said, after "
      "talks that lasted late into the night.";
  // The prompt learned as boilerplate: seen in enough copy groups.
  LearnerConfig learner_config;
  BoilerplateLearner learner(learner_config);
  const std::vector<uint64_t> prompt_hashes = ShortLineHashes(
      NormalizeForMatching(prompt), learner_config.max_line_words);
  ASSERT_EQ(prompt_hashes.size(), 1u);
  for (uint64_t group = 0; group < learner_config.min_groups; ++group) {
    learner.Observe(group, prompt_hashes);
  }
  std::shared_ptr<const LearnedBoilerplate> learned = learner.Snapshot();
  ASSERT_TRUE(learned->Contains(prompt_hashes[0]));

  ProcessScratch scratch, fresh;
  ProcessedArticle before, after, expected;
  processor.Process(&parser, 0, RecordJson("a", "Talks", body), "", nullptr,
                    &before, &scratch);
  processor.Process(&parser, 1, RecordJson("b", "Talks", body), "",
                    learned.get(), &after, &scratch);
  processor.Process(&parser, 2, RecordJson("c", "Talks", body), "",
                    learned.get(), &expected, &fresh);
  EXPECT_EQ(after.fingerprint, expected.fingerprint);
  EXPECT_EQ(after.shingles, expected.shingles);
  EXPECT_NE(before.shingles, expected.shingles);
  EXPECT_EQ(scratch.feature_memo.hits(), 0u);
  // The text without the prompt is now in the memo, from "b"; its entry
  // holds no short-line hashes of the text with the prompt: a record of
  // the shorter text gets its own.
  const std::string shorter_body =
      "The ministers met in Geneva on Tuesday to discuss the ceasefire.\n"
      "They agreed to meet again next week, the spokesman said, after "
      "talks that lasted late into the night.";
  ProcessedArticle shorter, shorter_fresh;
  processor.Process(&parser, 3, RecordJson("d", "Talks", shorter_body), "",
                    nullptr, &shorter, &scratch);
  processor.Process(&parser, 4, RecordJson("e", "Talks", shorter_body), "",
                    nullptr, &shorter_fresh, &fresh);
  EXPECT_EQ(scratch.feature_memo.hits(), 1u);
  EXPECT_EQ(shorter.short_lines, shorter_fresh.short_lines);
  EXPECT_EQ(shorter.short_lines.size(), 1u);
}

// A worker's memo of cleaned texts (ProcessScratch::normalized_texts) is
// keyed by the rules too: after a reload to rules that remove a line, the
// same body is cleaned again, and its features are those of the new rules.
TEST(PipelineTest, NormalizedTextMemoKeysTheRules) {
  const std::string body =
      "The ministers met in Geneva on Tuesday to discuss the ceasefire.\n"
      "Read the full report on our partner site\n"
      "They agreed to meet again next week, the spokesman said, after "
      "talks that lasted late into the night.";
  BoilerplateStripper shipped = *BoilerplateStripper::Load("");
  BoilerplateStripper reloaded = *BoilerplateStripper::FromRules(
      "line Read the full report on our partner site\n");
  CopyDetector detector{CopyConfig{}};
  ArticleParser parser{1 << 20};
  ArticleProcessor before_reload(&shipped, &detector, &TermPrior::Embedded(),
                                 StoryConfig{}.terms);
  ArticleProcessor after_reload(&reloaded, &detector, &TermPrior::Embedded(),
                                StoryConfig{}.terms);
  before_reload.set_keep_shingles(true);
  after_reload.set_keep_shingles(true);

  ProcessScratch scratch;
  ProcessedArticle first, second, again, expected;
  before_reload.Process(&parser, 0, RecordJson("a", "Talks", body), "", nullptr,
                        &first, &scratch);
  before_reload.Process(&parser, 1, RecordJson("b", "Talks", body), "", nullptr,
                        &second, &scratch);
  EXPECT_EQ(scratch.normalized_texts.hits(), 1u);
  EXPECT_EQ(second.shingles, first.shingles);
  after_reload.Process(&parser, 2, RecordJson("c", "Talks", body), "", nullptr,
                       &again, &scratch);
  after_reload.Process(&parser, 3, RecordJson("d", "Talks", body), "", nullptr,
                       &expected);
  EXPECT_EQ(scratch.normalized_texts.hits(), 1u);
  EXPECT_EQ(again.shingles, expected.shingles);
  EXPECT_EQ(again.fingerprint, expected.fingerprint);
  EXPECT_NE(again.shingles, first.shingles);
}

// Leaving the SimHash index unsearched for verbatim copies changes no
// decision: the input (NeardupWithResends) has verbatim re-sends several
// hundred articles later (past the 200-article memory of identical sets,
// so that the ordered stage searches the SimHash index itself), and the
// rejected twins (a verbatim copy whose only identical earlier set is a
// rejected record, which the memory does not hold either).
TEST(PipelineTest, IdenticalCopiesShortcutChangesNoOutput) {
  const std::vector<std::string> input =
      NeardupWithResends(/*variations=*/false);
  Pipeline full(/*defer=*/true), shortcut(/*defer=*/true,
                                          /*shortcut_identical=*/true);
  int copies = 0;
  for (const std::string& record : input) {
    const std::string line = full.Run(record);
    ASSERT_EQ(line, shortcut.Run(record)) << record.substr(0, 80);
    copies += line.find("\"decision\":\"copy\"") != std::string::npos;
  }
  EXPECT_EQ(full.skipped_, 0);
  EXPECT_GT(shortcut.skipped_, 300) << copies << " copies";
  EXPECT_EQ(full.identical_decisions(), 0u);
  EXPECT_GT(shortcut.identical_decisions(), 300u);
}

// Offline runs index a batch, then search each article for earlier ones
// (ArticleProcessor::Index, SearchEarlier): whatever order a batch's
// articles were indexed in, the lines are those of one article at a time.
// The input is the one above (re-sent copies, duplicate ids).
TEST(PipelineTest, IndexedBatchesSearchedForEarlierArticlesChangeNoOutput) {
  const std::vector<std::string> articles = ReadLines("neardup.jsonl");
  std::vector<std::string> input;
  for (size_t i = 0; i < articles.size(); ++i) {
    input.push_back(articles[i]);
    if (i % 3 == 0) {
      // A verbatim copy with a new id, a few articles later.
      const size_t at = articles[i].find("\",");
      input.push_back(articles[i].substr(0, at) + "/2" +
                      articles[i].substr(at));
    }
    if (i % 25 == 7) input.push_back(articles[i]);  // a duplicate id
  }
  Pipeline one_at_a_time(/*defer=*/true, /*shortcut_identical=*/true);
  std::vector<std::string> expected;
  for (const std::string& record : input) {
    expected.push_back(one_at_a_time.Run(record));
  }
  for (uint64_t seed : {1, 2, 3}) {
    std::mt19937_64 rng(seed);
    Pipeline batched(/*defer=*/true, /*shortcut_identical=*/true);
    const std::vector<std::string> lines = batched.RunBatches(input, 64, &rng);
    ASSERT_EQ(lines.size(), expected.size());
    for (size_t i = 0; i < lines.size(); ++i) {
      ASSERT_EQ(lines[i], expected[i]) << "seed " << seed << ", line " << i;
    }
    EXPECT_GT(batched.skipped_, 300);
  }
}

// The two ways the ordered stage decides a verbatim copy whose worker
// skipped the SimHash search, with a shingle window of 128 articles and
// identical sets remembered for 200, so that originals leave both while
// the SimHash index keeps them:
//  * a copy of an article F that matched an original only the SimHash
//    index still held gets that original from F's decision (M);
//  * a copy whose only identical article in the window is a rejected
//    record (a duplicate id) gets its original from the ordered stage's own
//    search of the SimHash index.
TEST(PipelineTest, IdenticalCopiesOfForgottenOriginals) {
  const std::vector<std::string> articles = ReadLines("ecbplus.jsonl");
  ASSERT_GT(articles.size(), 600u);
  ArticleParser parser(1 << 20);
  auto article_at = [&](size_t i) {
    return std::get<Article>(parser.Parse(articles[i], ""));
  };
  auto resend = [](const Article& article, const std::string& id) {
    return RecordJson(id, "", article.body);
  };
  CopyConfig small;
  small.window_articles = 128;
  small.window_arena_words = 1 << 18;
  Pipeline full(/*defer=*/true, /*shortcut_identical=*/false, small);
  Pipeline shortcut(/*defer=*/true, /*shortcut_identical=*/true, small);
  std::vector<std::string> records;
  auto run = [&](const std::string& record) {
    const std::string line = full.Run(record);
    EXPECT_EQ(line, shortcut.Run(record)) << record.substr(0, 60);
    records.push_back(record);
    return line;
  };
  const Article original = article_at(0);
  run(articles[0]);
  for (size_t i = 2; i < 300; ++i) run(articles[i]);
  // Past the window: found by its fingerprint alone.
  std::string line = run(resend(original, "c1"));
  EXPECT_NE(line.find("\"dup_of\":\"" + original.id + "\""), std::string::npos)
      << line;
  EXPECT_NE(line.find("\"method\":\"simhash\""), std::string::npos) << line;
  // c1 in the window: the worker stops there, c1 is remembered for the
  // set, and c2 and c3 are decided from c1's decision.
  const int skipped = shortcut.skipped_;
  for (const char* id : {"c2", "c3"}) {
    line = run(resend(original, id));
    EXPECT_NE(line.find("\"match_id\":\"" + original.id + "\""),
              std::string::npos)
        << line;
  }
  EXPECT_EQ(shortcut.skipped_, skipped + 2);
  EXPECT_EQ(shortcut.identical_decisions(), 2u);
  EXPECT_EQ(full.identical_decisions(), 0u);

  const Article second = article_at(1);
  run(articles[1]);
  for (size_t i = 300; i < 600; ++i) run(articles[i]);
  // A record with the second article's text under an id already seen.
  line = run(resend(second, article_at(599).id));
  EXPECT_TRUE(line.starts_with("problem: ")) << line;
  const int skipped_before_c4 = shortcut.skipped_;
  const uint64_t decided_before_c4 = shortcut.identical_decisions();
  line = run(resend(second, "c4"));
  EXPECT_EQ(shortcut.skipped_, skipped_before_c4 + 1);
  EXPECT_EQ(shortcut.identical_decisions(), decided_before_c4);
  EXPECT_NE(line.find("\"dup_of\":\"" + second.id + "\""), std::string::npos)
      << line;

  // The same records as `storyd dedup` runs them (ArticleProcessor::Index
  // and SearchEarlier, batches of 16 indexed in shuffled order, the next
  // batch indexed before one is assigned) give the same lines, the ordered
  // stage's own search included (c4, whose only identical article in the
  // window is the rejected record). With a window that keeps every article
  // here: at the window's edge a batch evicts its own older entries before
  // it searches, and which ones depends on the order its articles were
  // indexed in (docs/architecture.md).
  CopyConfig large = small;
  large.window_articles = 1024;
  large.window_arena_words = 1 << 22;
  Pipeline one_at_a_time(/*defer=*/true, /*shortcut_identical=*/true, large);
  std::vector<std::string> expected;
  for (const std::string& record : records) {
    expected.push_back(one_at_a_time.Run(record));
  }
  for (uint64_t seed : {1, 2}) {
    std::mt19937_64 rng(seed);
    Pipeline batched(/*defer=*/true, /*shortcut_identical=*/true, large);
    const std::vector<std::string> batched_lines =
        batched.RunBatches(records, 16, &rng);
    ASSERT_EQ(batched_lines.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      ASSERT_EQ(batched_lines[i], expected[i])
          << "seed " << seed << ", line " << i;
    }
    EXPECT_GE(batched.identical_decisions(), 2u);
  }
}

}  // namespace
}  // namespace storyd
