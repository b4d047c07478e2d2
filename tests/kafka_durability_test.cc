// Durability of `storyd run` against a real Apache Kafka broker (see
// kafka_test_support.h): the index restored from the changelog topic after
// SIGKILL and SIGTERM, exactly-once and at-least-once delivery, a broker
// outage the daemon rides out by itself, two daemons sharing one group and
// one index, and the restore of a changelog of 100,000 articles.
//
// Waits poll with generous deadlines; nothing asserts on speed. Durations
// worth knowing (restore time) are printed.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/article.h"
#include "core/pipeline.h"
#include "core/scoring.h"
#include "core/strings.h"
#include "tests/kafka_test_support.h"

namespace storyd {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string DataFile(const std::string& name) {
  return ReadFile(std::string(STORYD_TEST_DATA) + "/" + name);
}

// The "id" of every record's JSON.
std::set<std::string> Ids(const KeyValues& records) {
  std::set<std::string> ids;
  for (const auto& [key, value] : records) ids.insert(JsonField(value, "id"));
  return ids;
}

// An input record as the dev files have them.
std::string ArticleJson(std::string_view id, std::string_view title,
                        std::string_view body) {
  std::string out = "{\"id\":";
  AppendJsonString(id, &out);
  out += ",\"title\":";
  AppendJsonString(title, &out);
  out += ",\"body\":";
  AppendJsonString(body, &out);
  out += "}";
  return out;
}

size_t WordCount(std::string_view text) {
  return Split(text, ' ', true).size();
}

// `body` with its middle word replaced: a copy a few SimHash bits away.
std::string EditMiddleWord(const std::string& body) {
  std::vector<std::string_view> words = Split(body, ' ');
  size_t middle = words.size() / 2;
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += ' ';
    out += i == middle ? std::string_view("zanzibarite") : words[i];
  }
  return out;
}

// `count` articles of 60-120 random words from a fixed vocabulary of 3,000
// made-up words, ids "syn-0000000" on; the same for every run.
KeyValues SyntheticArticles(size_t count) {
  std::mt19937_64 random(20240611);
  const std::string consonants = "bcdfghklmnprstvz";
  const std::string vowels = "aeiou";
  std::set<std::string> unique;
  std::vector<std::string> vocabulary;
  while (vocabulary.size() < 3000) {
    std::string word;
    int syllables = 2 + static_cast<int>(random() % 3);
    for (int s = 0; s < syllables; ++s) {
      word += consonants[random() % consonants.size()];
      word += vowels[random() % vowels.size()];
    }
    if (random() % 2 == 0) word += consonants[random() % consonants.size()];
    if (unique.insert(word).second) vocabulary.push_back(word);
  }
  auto word = [&] { return vocabulary[random() % vocabulary.size()]; };
  KeyValues records;
  records.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    std::string id = std::to_string(i);
    id = "syn-" + std::string(7 - std::min<size_t>(7, id.size()), '0') + id;
    std::string title;
    for (int w = 0, n = 4 + static_cast<int>(random() % 5); w < n; ++w)
      title += (w == 0 ? "" : " ") + word();
    std::string body;
    int sentence = 0;
    for (int w = 0, n = 60 + static_cast<int>(random() % 61); w < n; ++w) {
      std::string next = word();
      if (sentence == 0) next[0] = static_cast<char>(next[0] - 'a' + 'A');
      body += (w == 0 ? "" : " ") + next;
      if (++sentence >= 8 + static_cast<int>(random() % 9) || w == n - 1) {
        body += ".";
        sentence = 0;
      }
    }
    records.emplace_back("", ArticleJson(id, title, body));
  }
  return records;
}

// Starts the shared broker again when it goes out of scope, whatever
// happened in between: other tests need it.
class BrokerGuard {
 public:
  explicit BrokerGuard(std::string workdir) : workdir_(std::move(workdir)) {}
  ~BrokerGuard() {
    std::string command =
        StrCat(STORYD_SOURCE_DIR "/tests/kafka/broker.sh start ", workdir_,
               " >/dev/null");
    if (RunCommand(command) != 0)
      std::cerr << "could not start the broker again: " << command << "\n";
  }

 private:
  std::string workdir_;
};

class KafkaDurabilityTest : public KafkaTest {
 protected:
  DaemonOptions Options(bool exactly_once, const std::string& instance,
                        int metrics_port = 0) {
    DaemonOptions options;
    options.threads = 2;
    options.exactly_once = exactly_once;
    options.instance_id = StrCat(prefix_, "-", instance);
    options.metrics_port = metrics_port;
    options.file_name = StrCat(instance, ".toml");
    return options;
  }

  // Polls /readyz until it answers 200; false if the daemon exits or
  // `timeout` passes. `saw_503` tells whether it answered 503 before.
  bool WaitReady(Process* daemon, int port, std::chrono::milliseconds timeout,
                 bool* saw_503 = nullptr) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline && daemon->Running()) {
      int status = HttpStatus(port, "/readyz");
      if (status == 200) return true;
      if (status == 503 && saw_503 != nullptr) *saw_503 = true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  // Every id in `ids` has exactly one article record (at least one when
  // `at_least_once`), and no record names an id outside `ids`.
  void ExpectEachOnce(const std::map<std::string, int>& counts,
                      const std::set<std::string>& ids, bool at_least_once) {
    size_t missing = 0, repeated = 0, unknown = 0;
    for (const std::string& id : ids) {
      auto it = counts.find(id);
      int n = it == counts.end() ? 0 : it->second;
      if (n == 0) {
        if (++missing <= 10) ADD_FAILURE() << id << " has no output";
      } else if (n > 1 && !at_least_once) {
        if (++repeated <= 10) {
          ADD_FAILURE() << id << " was emitted " << n << " times";
        }
      }
    }
    for (const auto& [id, n] : counts) {
      if (ids.contains(id)) continue;
      if (++unknown <= 10) {
        ADD_FAILURE() << "output for an id that was never input: '" << id
                      << "'";
      }
    }
    EXPECT_EQ(missing, 0u) << "inputs without an output";
    if (!at_least_once) {
      EXPECT_EQ(repeated, 0u) << "inputs emitted twice";
    }
    EXPECT_EQ(unknown, 0u);
  }

  // The dead-letter topic is empty (every input here is valid).
  void ExpectNoDeadLetters() {
    auto dead = Reader(dlq_);
    EXPECT_TRUE(dead->ReadToEnd(60s));
    EXPECT_EQ(dead->records().size(), 0u)
        << (dead->records().empty() ? "" : dead->records()[0].value);
  }

  // Copy and story B-cubed F1 of `outputs` (merges applied) against the
  // offline `storyd dedup` of `inputs`, both scored on `gold`.
  void ExpectScoresNearOffline(const std::vector<Record>& outputs,
                               const KeyValues& inputs,
                               const std::string& gold) {
    absl::StatusOr<QualityReport> online =
        ScoreRun(gold, ResolveMerges(outputs));
    absl::StatusOr<QualityReport> offline =
        ScoreRun(gold, OfflineDedup(JoinValues(inputs)));
    ASSERT_TRUE(online.ok() && offline.ok());
    EXPECT_EQ(online->missing, 0u);
    EXPECT_NEAR(online->dup_bcubed_f1, offline->dup_bcubed_f1, 0.01)
        << "online\n"
        << FormatQualityReport(*online) << "offline\n"
        << FormatQualityReport(*offline);
    EXPECT_NEAR(online->story_bcubed_f1, offline->story_bcubed_f1, 0.01)
        << "online\n"
        << FormatQualityReport(*online) << "offline\n"
        << FormatQualityReport(*offline);
    std::cout << "copy B-cubed F1 " << online->dup_bcubed_f1 << " (offline "
              << offline->dup_bcubed_f1 << "), story B-cubed F1 "
              << online->story_bcubed_f1 << " (offline "
              << offline->story_bcubed_f1 << ")\n";
  }

  // Copies with new ids of articles in `originals` (output records): for
  // half of them the same body under another title (0 SimHash bits away),
  // for the other half the body with one word changed (a few bits).
  // `copy_of` maps each copy's id to its original's.
  KeyValues CopiesOf(const std::vector<Record>& originals,
                     const KeyValues& inputs, size_t count,
                     std::map<std::string, std::string>* copy_of,
                     std::set<std::string>* edited) {
    std::map<std::string, std::string> input_by_id;
    for (const auto& [key, value] : inputs)
      input_by_id[JsonField(value, "id")] = value;
    KeyValues copies;
    for (const Record& record : originals) {
      if (copies.size() >= count) break;
      std::string id = JsonField(record.value, "id");
      auto input = input_by_id.find(id);
      if (input == input_by_id.end()) continue;
      std::string body = JsonField(input->second, "body");
      bool edit = copies.size() % 2 == 1;
      // Edited copies of long articles only: one word is a small change.
      if (edit && WordCount(body) < 150) continue;
      std::string copy_id = StrCat("copy", copies.size(), "-", id);
      (*copy_of)[copy_id] = id;
      if (edit) edited->insert(copy_id);
      copies.emplace_back(
          "", ArticleJson(copy_id, StrCat("Republished story ", copies.size()),
                          edit ? EditMiddleWord(body) : body));
    }
    return copies;
  }

  // Each copy comes out as a copy of its original's group: dup_of set, to
  // an article in `before` (output before the restart) or the group's root.
  void ExpectCopiesFound(const std::vector<Record>& outputs,
                         const std::map<std::string, std::string>& copy_of,
                         const std::set<std::string>& edited,
                         const std::set<std::string>& before) {
    std::map<std::string, ArticleOutput> by_id;
    for (const Record& record : outputs) {
      if (IsMergeRecord(record)) continue;
      ArticleOutput article = ParseArticle(record.value);
      by_id.emplace(article.id, article);
    }
    std::map<std::string, std::string> roots = CopyRoots(outputs);
    int near = 0;
    for (const auto& [copy, original] : copy_of) {
      auto it = by_id.find(copy);
      if (it == by_id.end()) {
        ADD_FAILURE() << "no output for copy " << copy;
        continue;
      }
      const ArticleOutput& out = it->second;
      int distance =
          FingerprintDistance(out.fingerprint, by_id[original].fingerprint);
      if (edited.contains(copy) && distance >= 0 && distance <= 3) ++near;
      EXPECT_FALSE(out.dup_of.empty())
          << copy << " (" << (edited.contains(copy) ? "edited" : "same body")
          << ", " << distance << " SimHash bits from " << original
          << ") was not found as a copy: decision " << out.decision
          << ", story " << out.story_id;
      if (out.dup_of.empty()) continue;
      EXPECT_EQ(roots[copy], roots[original])
          << copy << " is a copy of " << out.dup_of << ", not of " << original
          << "'s group";
      EXPECT_TRUE(before.contains(out.dup_of) || out.dup_of == roots[original])
          << copy << " points at " << out.dup_of
          << ", which was not output before the restart";
    }
    std::cout << copy_of.size() << " copies checked, " << edited.size()
              << " of them edited (" << near
              << " within 3 SimHash bits of their original)\n";
  }

  // Logs of a daemon that restored its state from the changelog: the
  // number of records restored, or -1 (a failure) without the log lines.
  int64_t ExpectRestoreLogged(const std::string& log_name) {
    std::string log = Log(log_name);
    EXPECT_TRUE(Contains(log, "storyd: restoring state from " + changelog_))
        << log;
    static const std::regex kRestored(
        R"(storyd: restored (\d+) records in ([0-9.eE+-]+) s \(([0-9.eE+-]+) records/s\))");
    std::smatch match;
    if (!std::regex_search(log, match, kRestored)) {
      ADD_FAILURE() << "no 'storyd: restored N records in S s (R records/s)' "
                       "line in "
                    << log_name << "\n"
                    << log;
      return -1;
    }
    std::cout << log_name << ": restored " << match[1] << " records in "
              << match[2] << " s (" << match[3] << " records/s)\n";
    return std::stoll(match[1]);
  }

  void KillMidStreamAndRestart(bool exactly_once);
  void TerminateMidStreamAndRestart(bool exactly_once);

  // A daemon (log "first.log") consuming a live stream of a dev file.
  struct MidStream {
    KeyValues records;
    std::set<std::string> ids;
    std::string config;
    std::unique_ptr<TopicReader> uncommitted;  // the output, as it comes
    std::unique_ptr<Process> daemon;
    std::unique_ptr<StreamProducer> stream;
  };
  // Starts it and returns once `outputs` outputs are out (or it exited).
  void StartMidStream(const std::string& data_file, int partitions,
                      bool exactly_once, double records_per_second,
                      size_t outputs, MidStream* run);
  // Starts the daemon again with the same config (log "second.log") and
  // waits until the stream is produced and every input has its output.
  void RestartAndWaitForAll(MidStream& run, std::unique_ptr<Process>* second,
                            std::unique_ptr<TopicReader>* committed);
};

// The harness's reading of merges (no broker needed): chains are followed,
// and a merge by copy joins the losing canonical article's copy group to
// match_id's.
TEST(MergeResolutionTest, FollowsChainsAndJoinsCopyGroups) {
  auto record = [](std::string value, bool merge) {
    Record r;
    r.value = std::move(value);
    if (merge) r.headers["storyd-record-type"] = "story_merge";
    return r;
  };
  std::vector<Record> records = {
      record(R"({"id":"a","story_id":"sa","dup_of":null})", false),
      record(R"({"id":"a2","story_id":"sa","dup_of":"a"})", false),
      record(R"({"id":"b","story_id":"sb","dup_of":null})", false),
      record(R"({"id":"c","story_id":"sc","dup_of":null})", false),
      record(R"({"id":"c2","story_id":"sc","dup_of":"c"})", false),
      record(R"({"type":"story_merge","story_id":"sc","into_story_id":"sb",)"
             R"("canonical_id":"c","into_canonical_id":"b","reason":"copy",)"
             R"("id":"c","match_id":"a2"})",
             true),
      // A copy-only merge: the story stays, the copy groups join.
      record(R"({"id":"d","story_id":"sa","dup_of":null})", false),
      record(R"({"type":"story_merge","story_id":"sa","into_story_id":"sa",)"
             R"("canonical_id":"a","into_canonical_id":"a","reason":"copy",)"
             R"("id":"d","match_id":"a"})",
             true),
      record(R"({"type":"story_merge","story_id":"sb","into_story_id":"sa",)"
             R"("canonical_id":"b","into_canonical_id":"a",)"
             R"("reason":"same_story","match_id":"a"})",
             true)};
  EXPECT_EQ(ArticleRecords(records).size(), 6u);
  EXPECT_EQ(MergeRecords(records).size(), 3u);
  std::map<std::string, std::pair<std::string, std::string>> resolved =
      Decisions(ResolveMerges(records));
  using Decision = std::pair<std::string, std::string>;
  EXPECT_EQ(resolved["a"], Decision("sa", "null"));
  EXPECT_EQ(resolved["a2"], Decision("sa", "a"));
  EXPECT_EQ(resolved["b"], Decision("sa", "null"));
  EXPECT_EQ(resolved["c"], Decision("sa", "a"));
  EXPECT_EQ(resolved["c2"], Decision("sa", "a"));
  EXPECT_EQ(resolved["d"], Decision("sa", "a"));
  EXPECT_EQ(CountArticles(records),
            (std::map<std::string, int>{
                {"a", 1}, {"a2", 1}, {"b", 1}, {"c", 1}, {"c2", 1}, {"d", 1}}));
}

void KafkaDurabilityTest::StartMidStream(const std::string& data_file,
                                         int partitions, bool exactly_once,
                                         double records_per_second,
                                         size_t outputs, MidStream* run) {
  CreateTopics(partitions);
  run->records = DataRecords(data_file);
  run->ids = Ids(run->records);
  const int port = FreePort();
  run->config = WriteConfig(Options(exactly_once, "daemon", port));
  run->uncommitted = Reader(output_, Isolation::kReadUncommitted);
  run->daemon = StartDaemon(run->config, "first.log");
  // The stream starts once the daemon consumes, so it is surely mid-stream
  // when stopped, however long the start took.
  ASSERT_TRUE(WaitReady(run->daemon.get(), port, 180s)) << Log("first.log");
  run->stream = std::make_unique<StreamProducer>(
      bootstrap_, input_, run->records, records_per_second);
  Process* daemon = run->daemon.get();
  TopicReader* uncommitted = run->uncommitted.get();
  ASSERT_TRUE(uncommitted->WaitFor(
      [&] { return uncommitted->articles() >= outputs || !daemon->Running(); },
      180s))
      << Log("first.log");
}

void KafkaDurabilityTest::RestartAndWaitForAll(
    MidStream& run, std::unique_ptr<Process>* second,
    std::unique_ptr<TopicReader>* committed) {
  const auto restart = Clock::now();
  *second = StartDaemon(run.config, "second.log");
  ASSERT_TRUE(run.stream->Finish(180s)) << run.stream->error();
  *committed = Reader(output_);
  ASSERT_TRUE((*committed)->WaitForArticles(run.ids, 300s))
      << (*committed)->article_counts().size() << " of " << run.ids.size()
      << " ids out\n"
      << Log("second.log");
  std::cout << "every input out " << SecondsSince(restart)
            << " s after the restart\n";
}

// SIGKILL while records stream in, then a restart with the same config.
void KafkaDurabilityTest::KillMidStreamAndRestart(bool exactly_once) {
  MidStream run;
  StartMidStream("neardup.jsonl", 4, exactly_once, 120, 250, &run);
  if (HasFatalFailure()) return;
  const KeyValues& records = run.records;
  const std::set<std::string>& ids = run.ids;
  auto& uncommitted = run.uncommitted;
  auto& first = run.daemon;
  StreamProducer& stream = *run.stream;
  ASSERT_TRUE(first->Running()) << Log("first.log");
  const size_t produced_at_kill = stream.produced();
  first->Kill();
  std::cout << "SIGKILL after " << uncommitted->articles()
            << " outputs (read_uncommitted), " << produced_at_kill << " of "
            << records.size() << " inputs produced\n";
  EXPECT_LT(produced_at_kill, records.size()) << "the kill was not mid-stream";

  // What was committed before the crash (read_committed stops at the killed
  // daemon's open transaction, if any).
  auto before_reader = Reader(output_);
  before_reader->ReadUntilIdle(5s, 60s);
  const std::vector<Record> before = ArticleRecords(before_reader->records());
  std::set<std::string> before_ids;
  for (const Record& record : before)
    before_ids.insert(JsonField(record.value, "id"));
  ASSERT_GE(before.size(), 50u) << "too little was committed before the kill\n"
                                << Log("first.log");

  std::unique_ptr<Process> second;
  std::unique_ptr<TopicReader> committed;
  RestartAndWaitForAll(run, &second, &committed);
  if (HasFatalFailure()) return;

  // Copies of articles output before the crash.
  std::map<std::string, std::string> copy_of;
  std::set<std::string> edited;
  KeyValues copies = CopiesOf(before, records, 30, &copy_of, &edited);
  ASSERT_GE(copies.size(), 10u);
  Produce(input_, copies);
  std::set<std::string> all_ids = ids;
  for (const auto& [copy, original] : copy_of) all_ids.insert(copy);
  ASSERT_TRUE(committed->WaitForArticles(all_ids, 180s)) << Log("second.log");
  EXPECT_TRUE(second->Running()) << Log("second.log");
  second->Signal(SIGTERM);
  EXPECT_EQ(second->Wait(60s), 0) << Log("second.log");
  ASSERT_TRUE(committed->ReadToEnd(60s));

  const std::vector<Record>& outputs = committed->records();
  ExpectEachOnce(committed->article_counts(), all_ids, !exactly_once);
  if (!exactly_once) {
    // An article emitted twice has the same story both times.
    std::map<std::string, std::set<std::string>> stories;
    size_t repeats = 0;
    for (const Record& record : ArticleRecords(outputs)) {
      ArticleOutput article = ParseArticle(record.value);
      stories[article.id].insert(article.story_id);
    }
    for (const auto& [id, n] : committed->article_counts()) {
      if (n < 2) continue;
      ++repeats;
      EXPECT_EQ(stories[id].size(), 1u)
          << id << " was emitted " << n << " times with different stories";
    }
    std::cout << repeats << " articles were emitted more than once\n";
  }
  EXPECT_TRUE(MergeRecords(outputs).empty()) << "one daemon merged stories";
  ExpectNoDeadLetters();

  // Scores on the stream, against the offline run of the same input.
  std::vector<Record> stream_outputs;
  for (const Record& record : outputs) {
    if (!copy_of.contains(JsonField(record.value, "id")))
      stream_outputs.push_back(record);
  }
  ExpectScoresNearOffline(stream_outputs, records,
                          DataFile("neardup.gold.tsv"));
  ExpectCopiesFound(outputs, copy_of, edited, before_ids);

  const int64_t restored = ExpectRestoreLogged("second.log");
  if (exactly_once) {
    // Every article committed before the crash has its changelog record.
    EXPECT_GE(restored, static_cast<int64_t>(before.size()));
  }
  TopicDescription changelog = DescribeTopic(bootstrap_, changelog_);
  EXPECT_EQ(changelog.partitions, 1) << changelog_;
  EXPECT_EQ(changelog.config["cleanup.policy"], "compact") << changelog_;
}

TEST_F(KafkaDurabilityTest, SigkillMidStreamExactlyOnce) {
  KillMidStreamAndRestart(/*exactly_once=*/true);
}

TEST_F(KafkaDurabilityTest, SigkillMidStreamAtLeastOnce) {
  KillMidStreamAndRestart(/*exactly_once=*/false);
}

// SIGTERM while records stream in drains everything: the restarted daemon
// emits nothing twice, in either delivery mode.
void KafkaDurabilityTest::TerminateMidStreamAndRestart(bool exactly_once) {
  MidStream run;
  StartMidStream("ecbplus.jsonl", 2, exactly_once, 150, 200, &run);
  if (HasFatalFailure()) return;
  const KeyValues& records = run.records;
  const std::set<std::string>& ids = run.ids;
  auto& uncommitted = run.uncommitted;
  auto& first = run.daemon;
  const size_t produced_at_stop = run.stream->produced();
  first->Signal(SIGTERM);
  std::cout << "SIGTERM after " << uncommitted->articles()
            << " outputs (read_uncommitted), " << produced_at_stop << " of "
            << records.size() << " inputs produced\n";
  EXPECT_LT(produced_at_stop, records.size()) << "the stop was not mid-stream";
  EXPECT_EQ(first->Wait(60s), 0) << Log("first.log");

  std::unique_ptr<Process> second;
  std::unique_ptr<TopicReader> committed;
  RestartAndWaitForAll(run, &second, &committed);
  if (HasFatalFailure()) return;
  second->Signal(SIGTERM);
  EXPECT_EQ(second->Wait(60s), 0) << Log("second.log");
  ASSERT_TRUE(committed->ReadToEnd(60s));
  ASSERT_TRUE(uncommitted->ReadToEnd(60s));

  ExpectEachOnce(committed->article_counts(), ids, /*at_least_once=*/false);
  std::cout << committed->articles() << " article records read_committed, "
            << uncommitted->articles() << " read_uncommitted\n";
  if (!exactly_once) {
    // Without transactions there is nothing to abort: what any consumer
    // reads is what was committed.
    EXPECT_EQ(uncommitted->articles(), committed->articles());
  }
  ExpectNoDeadLetters();
  ExpectRestoreLogged("second.log");
}

TEST_F(KafkaDurabilityTest, SigtermMidStreamExactlyOnce) {
  TerminateMidStreamAndRestart(/*exactly_once=*/true);
}

TEST_F(KafkaDurabilityTest, SigtermMidStreamAtLeastOnce) {
  TerminateMidStreamAndRestart(/*exactly_once=*/false);
}

// The broker dies (SIGKILL) under a daemon that consumes a live stream and
// comes back 10 s later at the same address; the daemon recovers by itself.
TEST_F(KafkaDurabilityTest, BrokerOutageLosesAndRepeatsNothing) {
  CreateTopics(2);
  const KeyValues records = DataRecords("ecbplus.jsonl");
  const std::set<std::string> ids = Ids(records);
  // The stream goes on through the outage (the first 600 records, 24 s at
  // 25 a second) and after it (the rest, started once the broker is back),
  // however long the broker takes to start.
  const KeyValues during(records.begin(), records.begin() + 600);
  const KeyValues after(records.begin() + 600, records.end());
  const int port = FreePort();
  auto daemon =
      StartDaemon(WriteConfig(Options(/*exactly_once=*/true, "daemon", port)),
                  "daemon.log");
  BrokerGuard guard(broker_workdir_);
  auto uncommitted = Reader(output_, Isolation::kReadUncommitted);
  ASSERT_TRUE(WaitReady(daemon.get(), port, 180s)) << Log("daemon.log");
  StreamProducer stream(bootstrap_, input_, during, 25);
  ASSERT_TRUE(uncommitted->WaitFor(
      [&] { return uncommitted->articles() >= 100 || !daemon->Running(); },
      180s))
      << Log("daemon.log");
  ASSERT_TRUE(daemon->Running()) << Log("daemon.log");
  const std::string broker_sh = STORYD_SOURCE_DIR "/tests/kafka/broker.sh";
  ASSERT_EQ(RunCommand(StrCat(broker_sh, " kill ", broker_workdir_)), 0);
  const size_t produced_at_kill = stream.produced();
  std::cout << "broker killed after " << uncommitted->articles() << " outputs, "
            << produced_at_kill << " of " << records.size()
            << " inputs produced\n";
  EXPECT_LT(produced_at_kill, during.size()) << "the outage was not mid-stream";
  std::this_thread::sleep_for(10s);
  auto restart = Clock::now();
  std::string address =
      CommandOutput(StrCat(broker_sh, " start ", broker_workdir_));
  ASSERT_EQ(address, bootstrap_) << "the broker came back elsewhere";
  std::cout << "broker back after " << SecondsSince(restart) << " s\n";
  EXPECT_TRUE(daemon->Running()) << Log("daemon.log");
  StreamProducer stream_after(bootstrap_, input_, after, 50);
  ASSERT_TRUE(stream.Finish(300s))
      << stream.acknowledged() << " of " << during.size()
      << " inputs acknowledged: " << stream.error();
  ASSERT_TRUE(stream_after.Finish(300s))
      << stream_after.acknowledged() << " of " << after.size()
      << " inputs acknowledged: " << stream_after.error();
  auto committed = Reader(output_);
  ASSERT_TRUE(committed->WaitForArticles(ids, 300s))
      << committed->article_counts().size() << " of " << ids.size()
      << " ids out\n"
      << Log("daemon.log");
  std::cout << "all outputs " << SecondsSince(restart)
            << " s after the broker restart\n";
  EXPECT_TRUE(daemon->Running()) << Log("daemon.log");
  daemon->Signal(SIGTERM);
  EXPECT_EQ(daemon->Wait(60s), 0) << Log("daemon.log");
  ASSERT_TRUE(committed->ReadToEnd(60s));
  ExpectEachOnce(committed->article_counts(), ids, /*at_least_once=*/false);
  ExpectNoDeadLetters();
}

// A daemon that stalls past the transaction timeout (a VM pause, a swap
// storm) finds its open transaction aborted by the broker and its producer
// fenced. It rewinds by itself: its state again from the changelog, its
// input again from the committed offsets; nothing is lost or repeated.
//
// The daemon is stalled, not the broker: a stalled broker resumes with the
// client's retry and its own timeout sweep racing, and the retry can commit
// the transaction before the sweep aborts it. A running broker sweeps every
// second (tests/kafka/broker.sh), so the stall below outlasts the 3 s timeout
// and a sweep whatever the timing.
TEST_F(KafkaDurabilityTest, AnAbortedTransactionRewindsWithoutLossOrRepeats) {
  CreateTopics(2);
  const KeyValues records = DataRecords("neardup.jsonl");
  const std::set<std::string> ids = Ids(records);
  const int port = FreePort();
  const std::string config =
      WriteConfig(Options(/*exactly_once=*/true, "daemon", port));
  std::ofstream(config, std::ios::app)
      << "[kafka.producer]\n\"transaction.timeout.ms\" = 3000\n";
  auto daemon = StartDaemon(config, "daemon.log");
  // The daemon runs again whatever happens to the test.
  struct Resume {
    pid_t pid;
    ~Resume() { kill(pid, SIGCONT); }
  } resume{daemon->pid()};
  auto aborts = [&] {
    const std::string metrics = HttpGet(port, "/metrics");
    const std::string name = "\nstoryd_transaction_aborts_total ";
    const size_t at = metrics.find(name);
    return at == std::string::npos
               ? -1
               : std::atoi(metrics.c_str() + at + name.size());
  };
  auto uncommitted = Reader(output_, Isolation::kReadUncommitted);
  ASSERT_TRUE(WaitReady(daemon.get(), port, 180s)) << Log("daemon.log");
  ASSERT_EQ(aborts(), 0) << Log("daemon.log");
  // 40 s of input: room for the stalls below.
  StreamProducer stream(bootstrap_, input_, records, 25);
  ASSERT_TRUE(uncommitted->WaitFor(
      [&] { return uncommitted->articles() >= 50 || !daemon->Running(); },
      180s))
      << Log("daemon.log");
  // A transaction is open most of the time at 25 records/s and 100 ms
  // commits; a stall that fell between two finds none, and stalls again.
  int stalls = 0;
  for (; stalls < 4 && aborts() == 0; ++stalls) {
    ASSERT_LT(stream.produced(), stream.total()) << "the stream ran out";
    ASSERT_EQ(kill(daemon->pid(), SIGSTOP), 0);
    std::this_thread::sleep_for(8s);
    ASSERT_EQ(kill(daemon->pid(), SIGCONT), 0);
    const auto resumed = Clock::now();
    while (aborts() == 0 && Clock::now() - resumed < 5s) {
      std::this_thread::sleep_for(200ms);
    }
  }
  std::cout << "aborted after " << stalls << " stall(s)\n";
  EXPECT_GT(aborts(), 0) << "no transaction was aborted: the rewind was not "
                            "exercised\n"
                         << Log("daemon.log");
  ASSERT_TRUE(stream.Finish(300s)) << stream.error();
  auto committed = Reader(output_);
  ASSERT_TRUE(committed->WaitForArticles(ids, 300s))
      << committed->article_counts().size() << " of " << ids.size()
      << " ids out\n"
      << Log("daemon.log");
  EXPECT_TRUE(daemon->Running()) << Log("daemon.log");
  daemon->Signal(SIGTERM);
  EXPECT_EQ(daemon->Wait(60s), 0) << Log("daemon.log");
  ASSERT_TRUE(committed->ReadToEnd(60s));
  ExpectEachOnce(committed->article_counts(), ids, /*at_least_once=*/false);
  ExpectNoDeadLetters();
}

// Expiry keeps the compacted changelog bounded: a shingle set leaves it when
// its article leaves the shingle window, an article record when it leaves
// the fingerprint horizon (a tombstone each, which compaction acts on).
TEST_F(KafkaDurabilityTest, ExpiryWritesTombstones) {
  CreateTopics(2);
  // Distinct articles, none a copy: each leaves a shingle set.
  const KeyValues records = SyntheticArticles(2000);
  const std::set<std::string> ids = Ids(records);
  constexpr size_t kHorizon = 1024;  // the smallest both settings take
  const std::string config =
      WriteConfig(Options(/*exactly_once=*/true, "daemon"));
  std::ofstream(config, std::ios::app)
      << "[copy]\nfingerprint_capacity = " << kHorizon
      << "\nwindow_articles = " << kHorizon << "\n";
  auto daemon = StartDaemon(config, "daemon.log");
  Produce(input_, records);
  auto committed = Reader(output_);
  ASSERT_TRUE(committed->WaitForArticles(ids, 300s)) << Log("daemon.log");
  daemon->Signal(SIGTERM);
  EXPECT_EQ(daemon->Wait(60s), 0) << Log("daemon.log");

  size_t shingle_sets = 0, articles = 0, shingle_tombstones = 0,
         article_tombstones = 0;
  for (const Record& record : ReadTopic(changelog_, SIZE_MAX, 10s)) {
    const bool tombstone = record.value.empty();
    if (record.key.starts_with("w:")) {
      ++(tombstone ? shingle_tombstones : shingle_sets);
    } else if (record.key.starts_with("a:")) {
      ++(tombstone ? article_tombstones : articles);
    }
  }
  std::cout << articles << " article records, " << shingle_sets
            << " shingle sets; tombstones: " << article_tombstones
            << " articles, " << shingle_tombstones << " shingle sets\n";
  EXPECT_EQ(articles, ids.size());
  ASSERT_GT(shingle_sets, kHorizon);
  EXPECT_EQ(shingle_tombstones, shingle_sets - kHorizon);
  EXPECT_EQ(article_tombstones, articles - kHorizon);
}

// Two daemons in one group share the index through the changelog; stories a
// race split are merged on the output topic. Then one stops mid-stream and
// the other takes its partitions over.
TEST_F(KafkaDurabilityTest, TwoDaemonsShareTheIndexAndHandOver) {
  CreateTopics(4);
  const KeyValues records = DataRecords("neardup.jsonl");
  const std::set<std::string> ids = Ids(records);
  const int port_a = FreePort();
  int port_b = FreePort();
  while (port_b == port_a) port_b = FreePort();
  // Transactions every 50 ms: each instance learns the other's decisions
  // sooner (see below).
  DaemonOptions options_a = Options(true, "a", port_a);
  DaemonOptions options_b = Options(true, "b", port_b);
  options_a.commit_interval_ms = options_b.commit_interval_ms = 50;
  auto a = StartDaemon(WriteConfig(options_a), "a.log");
  auto b = StartDaemon(WriteConfig(options_b), "b.log");
  // Both hold partitions before the input comes, so both do work.
  ASSERT_TRUE(WaitReady(a.get(), port_a, 180s)) << Log("a.log");
  ASSERT_TRUE(WaitReady(b.get(), port_b, 180s)) << Log("b.log");
  auto uncommitted = Reader(output_, Isolation::kReadUncommitted);
  auto committed = Reader(output_);
  {
    // A live feed, as the daemons serve one: 50 articles a second (the dev
    // file's events then unfold in 20 seconds, where real ones take hours).
    // Each instance sees the other's decisions a transaction later (50 ms
    // and a fetch); a backlog replayed at full speed would put hundreds of
    // the other's articles in that gap, which a real feed of the same
    // events never does.
    StreamProducer feed(bootstrap_, input_, records, 50);
    ASSERT_TRUE(feed.Finish(180s)) << feed.error();
  }
  ASSERT_TRUE(committed->WaitForArticles(ids, 300s))
      << committed->article_counts().size() << " of " << ids.size()
      << " ids out\n"
      << Log("a.log") << Log("b.log");
  // Merges may follow the last article.
  committed->ReadUntilIdle(5s, 60s);
  const std::vector<Record> first_batch = committed->records();
  ExpectEachOnce(CountArticles(first_batch), ids, /*at_least_once=*/false);
  ExpectScoresNearOffline(first_batch, records, DataFile("neardup.gold.tsv"));

  // A second batch, ECB+ articles not in the first, as a live stream; one
  // daemon stops in the middle of it.
  KeyValues second_batch;
  for (const auto& record : DataRecords("ecbplus.jsonl")) {
    if (!ids.contains(JsonField(record.second, "id")))
      second_batch.push_back(record);
  }
  const std::set<std::string> second_ids = Ids(second_batch);
  StreamProducer stream(bootstrap_, input_, second_batch, 60);
  auto second_batch_out = [&] {
    size_t out = 0;
    for (const std::string& id : second_ids)
      out += uncommitted->article_counts().contains(id);
    return out;
  };
  ASSERT_TRUE(
      uncommitted->WaitFor([&] { return second_batch_out() >= 60; }, 180s))
      << Log("a.log") << Log("b.log");
  const size_t produced_at_stop = stream.produced();
  a->Signal(SIGTERM);
  EXPECT_EQ(a->Wait(60s), 0) << Log("a.log");
  std::cout << "daemon a stopped with " << produced_at_stop << " of "
            << second_batch.size() << " second-batch inputs produced\n";
  EXPECT_LT(produced_at_stop + 100, second_batch.size())
      << "the stop was not mid-stream";
  ASSERT_TRUE(stream.Finish(180s)) << stream.error();
  ASSERT_TRUE(committed->WaitForArticles(second_ids, 300s))
      << Log("a.log") << Log("b.log");
  EXPECT_TRUE(b->Running());
  b->Signal(SIGTERM);
  EXPECT_EQ(b->Wait(60s), 0) << Log("b.log");
  ASSERT_TRUE(committed->ReadToEnd(60s));

  std::set<std::string> all_ids = ids;
  all_ids.insert(second_ids.begin(), second_ids.end());
  ExpectEachOnce(committed->article_counts(), all_ids,
                 /*at_least_once=*/false);
  ExpectNoDeadLetters();

  // Every merge is announced as the spec says: the later story joins the
  // earlier one (inputs were produced in file order with rising times).
  std::map<std::string, size_t> position;
  for (const auto& [key, value] : records)
    position.emplace(JsonField(value, "id"), position.size());
  for (const auto& [key, value] : second_batch)
    position.emplace(JsonField(value, "id"), position.size());
  // Each rule's violations: how many, and the first one.
  std::map<std::string, std::pair<size_t, std::string>> violations;
  auto check = [&](bool ok, const std::string& rule, const Record& record) {
    if (ok) return;
    auto& [count, example] = violations[rule];
    if (count++ == 0) example = record.value;
  };
  size_t merges = 0, copy_merges = 0;
  for (const Record& record : committed->records()) {
    bool by_header = record.headers.contains("storyd-record-type") &&
                     record.headers.at("storyd-record-type") == "story_merge";
    bool by_type = JsonField(record.value, "type") == "story_merge";
    check(by_header == by_type,
          "header storyd-record-type: story_merge if and only if "
          "\"type\":\"story_merge\"",
          record);
    if (!by_header && !by_type) continue;
    ++merges;
    Merge merge = ParseMerge(record.value);
    if (merge.reason == "copy") ++copy_merges;
    check(merge.reason == "copy" || merge.reason == "same_story",
          "reason is copy or same_story", record);
    check(!merge.into_story_id.empty() && !merge.match_id.empty(),
          "into_story_id and match_id are set", record);
    check(merge.story_id == StoryIdFor(merge.canonical_id) &&
              merge.into_story_id == StoryIdFor(merge.into_canonical_id),
          "story ids are those of the canonical ids", record);
    check(merge.story_id != merge.into_story_id || merge.reason == "copy",
          "only copy merges keep the story (story_id == into_story_id)",
          record);
    if (merge.story_id == merge.into_story_id) continue;
    auto loser = position.find(merge.canonical_id);
    auto winner = position.find(merge.into_canonical_id);
    check(loser != position.end() && winner != position.end() &&
              winner->second < loser->second,
          "the story of the earlier article wins", record);
  }
  for (const auto& [rule, violation] : violations) {
    ADD_FAILURE() << violation.first << " of " << merges
                  << " merge records break the rule: " << rule
                  << "\nfirst: " << violation.second;
  }
  std::cout << merges << " story merges announced (" << copy_merges
            << " by copy)\n";
}

// A changelog of 100,000 articles: how long a fresh daemon takes to be
// ready, and that what it restored finds copies.
TEST_F(KafkaDurabilityTest, RestoresAHundredThousandArticles) {
  constexpr size_t kArticles = 100000;
  CreateTopics(4);
  const KeyValues articles = SyntheticArticles(kArticles);
  const std::set<std::string> ids = Ids(articles);
  ASSERT_EQ(ids.size(), kArticles);
  const int port = FreePort();
  const std::string config = WriteConfig(Options(true, "daemon", port));
  auto start = Clock::now();
  Produce(input_, articles);
  std::cout << "produced " << kArticles << " articles in "
            << SecondsSince(start) << " s\n";

  start = Clock::now();
  auto first = StartDaemon(config, "first.log");
  auto committed = Reader(output_);
  ASSERT_TRUE(committed->WaitFor(
      [&] { return committed->articles() >= kArticles || !first->Running(); },
      900s))
      << committed->articles() << " outputs\n"
      << Log("first.log");
  ASSERT_TRUE(committed->WaitForArticles(ids, 60s));
  std::cout << "first daemon: " << kArticles << " articles out in "
            << SecondsSince(start) << " s\n";
  first->Signal(SIGTERM);
  EXPECT_EQ(first->Wait(120s), 0) << Log("first.log");

  start = Clock::now();
  auto second = StartDaemon(config, "restore.log");
  bool saw_503 = false;
  ASSERT_TRUE(WaitReady(second.get(), port, 600s, &saw_503))
      << Log("restore.log");
  const double ready_seconds = SecondsSince(start);
  std::cout << "restore of " << kArticles << " articles: " << ready_seconds
            << " s from start until /readyz answered 200\n";
  EXPECT_TRUE(saw_503) << "/readyz never answered 503 while restoring";
  EXPECT_GE(ExpectRestoreLogged("restore.log"),
            static_cast<int64_t>(kArticles));

  // Copies (new ids, same bodies) of 100 restored articles.
  KeyValues copies;
  std::map<std::string, std::string> copy_of;
  for (size_t i = 0; i < 100; ++i) {
    const std::string& original = articles[i * (kArticles / 100) + 7].second;
    std::string id = JsonField(original, "id");
    std::string copy_id = "copy-" + id;
    copy_of[copy_id] = id;
    copies.emplace_back("", ArticleJson(copy_id, StrCat("Republished ", i),
                                        JsonField(original, "body")));
  }
  Produce(input_, copies);
  std::set<std::string> copy_ids;
  for (const auto& [copy, original] : copy_of) copy_ids.insert(copy);
  ASSERT_TRUE(committed->WaitForArticles(copy_ids, 300s)) << Log("restore.log");
  std::map<std::string, std::string> dup_of;
  for (const Record& record : committed->records()) {
    if (IsMergeRecord(record)) continue;
    ArticleOutput article = ParseArticle(record.value);
    if (copy_of.contains(article.id)) dup_of[article.id] = article.dup_of;
  }
  int found = 0;
  for (const auto& [copy, original] : copy_of) {
    EXPECT_EQ(dup_of[copy], original)
        << copy << " is not a copy of its original";
    found += dup_of[copy] == original;
  }
  std::cout << found << " of 100 copies found as copies of their originals\n";
  second->Signal(SIGTERM);
  EXPECT_EQ(second->Wait(120s), 0) << Log("restore.log");
  ExpectEachOnce(
      committed->article_counts(),
      [&] {
        std::set<std::string> all = ids;
        all.insert(copy_ids.begin(), copy_ids.end());
        return all;
      }(),
      /*at_least_once=*/false);
}

}  // namespace
}  // namespace storyd
