// The changelog's records: encoding, decoding of corrupt values, and the
// ordered stage's restore and split detection built on them.
#include "core/state_record.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "core/boilerplate.h"
#include "core/copy_detector.h"
#include "core/pipeline.h"
#include "core/term_prior.h"

namespace storyd {
namespace {

ArticleRecord SampleArticle() {
  ArticleRecord record;
  Assignment& a = record.assignment;
  a.id = "article-7";
  a.canonical_id = "article-1";
  a.story_id = StoryIdFor(a.canonical_id);
  a.decision = StoryDecision::kCopy;
  a.dup_of = "article-2";
  a.match_id = "article-3";
  a.score = 0.8125;
  a.method = CopyMethod::kContainment;
  a.hamming = 4;
  a.fingerprint = 0xfedcba9876543210ULL;
  a.published_at = "2021-03-18T09:00:00Z";
  record.source_partition = 3;
  record.source_offset = 123456789;
  record.timestamp_ms = 1700000000123;
  record.published_unix_sec = 1616058000;
  return record;
}

TEST(StateRecordTest, ArticleRecordsRoundTrip) {
  ArticleRecord copy = SampleArticle();
  ArticleRecord original = SampleArticle();
  original.assignment.id = "article-1";
  original.assignment.decision = StoryDecision::kNew;
  original.assignment.dup_of.reset();
  original.assignment.match_id.reset();
  original.assignment.story_score = 0.125;
  original.assignment.hamming = -1;
  original.source_partition = -1;
  original.source_offset = -1;
  original.published_unix_sec.reset();
  original.timestamp_ms = -5;
  original.vector = {{1, 0.5f}, {99, 0.25f}, {~uint64_t{0}, 0.75f}};
  original.text_years = {1999, 2021};
  for (const ArticleRecord& record : {copy, original}) {
    const Assignment& a = record.assignment;
    absl::StatusOr<StateRecord> decoded =
        DecodeStateRecord(ArticleKey(a.id), EncodeArticleRecord(record));
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    const ArticleRecord* back = std::get_if<ArticleRecord>(&*decoded);
    ASSERT_NE(back, nullptr);
    // The output record it answers a replay with is the same, byte for byte.
    EXPECT_EQ(FormatAssignmentJson(back->assignment), FormatAssignmentJson(a));
    EXPECT_EQ(back->source_partition, record.source_partition);
    EXPECT_EQ(back->source_offset, record.source_offset);
    EXPECT_EQ(back->timestamp_ms, record.timestamp_ms);
    EXPECT_EQ(back->published_unix_sec, record.published_unix_sec);
    EXPECT_EQ(back->vector, record.vector);
    EXPECT_EQ(back->text_years, record.text_years);
  }
}

TEST(StateRecordTest, ShingleMergeAndTombstoneRecordsRoundTrip) {
  ShingleRecord shingles{"x", {0, 1, 7, 1u << 20, UINT32_MAX}};
  auto decoded =
      DecodeStateRecord(ShingleKey("x"), EncodeShingleRecord(shingles));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(std::get<ShingleRecord>(*decoded).shingles, shingles.shingles);
  EXPECT_EQ(std::get<ShingleRecord>(*decoded).id, "x");

  MergeRecord merge{"b-first", "a-first", MergeReason::kCopy,
                    "b-7",     "a-3",     0.9};
  decoded = DecodeStateRecord(MergeKey("b-7"), EncodeMergeRecord(merge));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  const MergeRecord& back = std::get<MergeRecord>(*decoded);
  EXPECT_EQ(back.canonical_id, "b-first");
  EXPECT_EQ(back.into_canonical_id, "a-first");
  EXPECT_EQ(back.article_id, "b-7");
  EXPECT_EQ(back.match_id, "a-3");
  EXPECT_EQ(back.reason, MergeReason::kCopy);
  EXPECT_EQ(back.score, 0.9);
  EXPECT_EQ(FormatMergeJson(back),
            "{\"type\":\"story_merge\",\"story_id\":\"" +
                StoryIdFor("b-first") + "\",\"into_story_id\":\"" +
                StoryIdFor("a-first") +
                "\",\"canonical_id\":\"b-first\",\"into_canonical_id\":"
                "\"a-first\",\"reason\":\"copy\",\"id\":\"b-7\",\"match_id\":"
                "\"a-3\",\"score\":0.9000}");

  decoded = DecodeStateRecord(ShingleKey("x"), std::nullopt);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(std::get<StateTombstone>(*decoded).key, "w:x");
}

TEST(StateRecordTest, CorruptRecordsAreErrorsNotCrashes) {
  ArticleRecord record = SampleArticle();
  record.vector = {{5, 0.5f}, {6, 0.5f}};
  const std::string value = EncodeArticleRecord(record);
  // Every truncation and every single-byte change is either decoded or an
  // error (the fuzz target does the rest).
  for (size_t size = 0; size < value.size(); ++size) {
    EXPECT_FALSE(DecodeStateRecord(ArticleKey("a"), value.substr(0, size)).ok())
        << size;
  }
  for (size_t at = 0; at < value.size(); ++at) {
    std::string changed = value;
    changed[at] = static_cast<char>(changed[at] ^ 0xff);
    (void)DecodeStateRecord(ArticleKey("a"), changed);
  }
  EXPECT_FALSE(DecodeStateRecord("x:1", value).ok());
  EXPECT_FALSE(DecodeStateRecord("", value).ok());
  // A value whose kind does not match its key.
  EXPECT_FALSE(DecodeStateRecord(ShingleKey("a"), value).ok());
  EXPECT_FALSE(DecodeStateRecord(ArticleKey("a"), value + "x").ok());
  // Found by the fuzzer: a ten-byte varint whose last byte overflowed 64
  // bits, and a delta that wrapped the running value around.
  const std::string overflow =
      "W\x01-------------\xff\xff\xff\xff\xff\xff\xff\xff\xff--------";
  EXPECT_FALSE(DecodeStateRecord(ShingleKey("id"), overflow).ok());
  std::string wrap = "W\x01\x02\x05";
  for (int i = 0; i < 9; ++i) wrap.push_back('\xff');
  wrap.push_back('\x01');  // 2^64 - 1: wraps 5 around to 4
  EXPECT_FALSE(DecodeStateRecord(ShingleKey("id"), wrap).ok());
  // Shingles must increase.
  std::string shingles = EncodeShingleRecord({"s", {5, 9}});
  shingles.back() = 0;
  EXPECT_FALSE(DecodeStateRecord(ShingleKey("s"), shingles).ok());
}

// One storyd instance's offline pipeline, single-threaded.
class Instance {
 public:
  explicit Instance(size_t history = 1 << 16)
      : stripper_(*BoilerplateStripper::Load("")),
        detector_(CopyConfig{}),
        processor_(&stripper_, &detector_, &TermPrior::Embedded(),
                   StoryConfig{}.terms),
        assigner_(history, StoryConfig{}),
        parser_(1 << 20) {
    processor_.set_keep_shingles(true);
  }

  // Decides one article; returns its changelog record.
  ArticleRecord Process(const std::string& json, int64_t timestamp_ms) {
    ProcessedArticle processed;
    processor_.Process(&parser_, seq_++, json, "", nullptr, &processed);
    processed.timestamp_ms = timestamp_ms;
    TermVector vector;
    auto result = assigner_.Assign(processed, &vector);
    EXPECT_TRUE(std::holds_alternative<Assignment>(result));
    ArticleRecord record;
    record.assignment = std::get<Assignment>(result);
    record.timestamp_ms = timestamp_ms;
    record.published_unix_sec = processed.article.published_unix_sec;
    if (record.assignment.decision != StoryDecision::kCopy)
      record.vector = std::move(vector);
    shingles_[record.assignment.id] = processed.shingles;
    return record;
  }

  // Applies another instance's record (as the daemon does); returns the
  // merge it finds, if any.
  std::optional<MergeRecord> Apply(const ArticleRecord& record,
                                   const std::vector<uint32_t>& shingles) {
    uint64_t seq = seq_++;
    std::vector<CopyCandidate> copies;
    detector_.Find(seq, record.assignment.fingerprint, shingles, &copies);
    std::optional<MergeRecord> merge = assigner_.FindSplit(record, copies);
    EXPECT_TRUE(assigner_.ApplyArticle(seq, record, /*own=*/false));
    detector_.Insert(seq, record.assignment.fingerprint, shingles);
    if (merge.has_value()) assigner_.ApplyMerge(*merge);
    return merge;
  }

  const std::vector<uint32_t>& shingles(const std::string& id) {
    return shingles_[id];
  }
  Assigner& assigner() { return assigner_; }

 private:
  BoilerplateStripper stripper_;
  CopyDetector detector_;
  ArticleProcessor processor_;
  Assigner assigner_;
  ArticleParser parser_;
  uint64_t seq_ = 0;
  std::map<std::string, std::vector<uint32_t>> shingles_;
};

std::vector<std::string> Seeds() {
  std::ifstream file(std::string(STORYD_TEST_DATA) + "/seeds.jsonl");
  std::vector<std::string> lines;
  for (std::string line; std::getline(file, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  EXPECT_EQ(lines.size(), 5u);
  return lines;
}

std::string WithId(std::string json, const std::string& id) {
  size_t at = json.find("\"id\"");
  size_t start = json.find('"', json.find(':', at) + 1);
  size_t end = json.find('"', start + 1);
  return json.replace(start + 1, end - start - 1, id);
}

TEST(AssignerStateTest, RestoredStateKeepsStoriesAndFindsCopies) {
  std::vector<std::string> seeds = Seeds();
  Instance before;
  std::vector<ArticleRecord> records;
  for (size_t i = 0; i < seeds.size(); ++i)
    records.push_back(before.Process(seeds[i], 1000 + i));

  // A new instance restores them in changelog order (with the shingle
  // sets, as the daemon does)...
  Instance after;
  for (const ArticleRecord& record : records) {
    auto decoded = DecodeStateRecord(ArticleKey(record.assignment.id),
                                     EncodeArticleRecord(record));
    ASSERT_TRUE(decoded.ok());
    after.Apply(std::get<ArticleRecord>(*decoded),
                before.shingles(record.assignment.id));
  }
  // ...and decides a copy of the first seed, and a new report of the same
  // event, as the instance that saw them would.
  std::string copy = WithId(seeds[0], "copy-of-first");
  ArticleRecord expected = before.Process(copy, 5000);
  ArticleRecord restored = after.Process(copy, 5000);
  EXPECT_EQ(FormatAssignmentJson(restored.assignment),
            FormatAssignmentJson(expected.assignment));
  EXPECT_EQ(restored.assignment.decision, StoryDecision::kCopy);
  EXPECT_EQ(restored.assignment.dup_of, records[0].assignment.id);
  EXPECT_EQ(restored.assignment.story_id, records[0].assignment.story_id);
  // An id restored is a duplicate id.
  Instance again;
  EXPECT_TRUE(again.assigner().ApplyArticle(0, records[0], true));
  EXPECT_FALSE(again.assigner().ApplyArticle(1, records[0], true));
}

// Articles leaving the history are reported for tombstones only when
// asked for: offline nothing takes them, and a long run would pile them up.
TEST(AssignerStateTest, ForgottenIdsOnlyKeptWhenAskedFor) {
  std::vector<std::string> seeds = Seeds();
  Instance offline(/*history=*/2);
  Instance daemon(/*history=*/2);
  daemon.assigner().KeepForgotten(true);
  for (const std::string& seed : seeds) {
    offline.Process(seed, 1000);
    daemon.Process(seed, 1000);
  }
  EXPECT_TRUE(offline.assigner().TakeForgotten().empty());
  const std::vector<std::string> forgotten = daemon.assigner().TakeForgotten();
  ASSERT_EQ(forgotten.size(), seeds.size() - 2);
  EXPECT_TRUE(daemon.assigner().TakeForgotten().empty());
}

TEST(AssignerStateTest, BothInstancesMergeARaceTheSameWay) {
  std::vector<std::string> seeds = Seeds();
  // Instance A sees the original first; B sees a copy of it at the same
  // moment, before A's change reached it: two stories.
  Instance a, b;
  ArticleRecord original = a.Process(seeds[0], 1000);
  ArticleRecord copy = b.Process(WithId(seeds[0], "late-copy"), 1001);
  ASSERT_EQ(original.assignment.decision, StoryDecision::kNew);
  ASSERT_EQ(copy.assignment.decision, StoryDecision::kNew);

  std::optional<MergeRecord> on_a =
      a.Apply(copy, b.shingles(copy.assignment.id));
  std::optional<MergeRecord> on_b =
      b.Apply(original, a.shingles(original.assignment.id));
  ASSERT_TRUE(on_a.has_value());
  ASSERT_TRUE(on_b.has_value());
  // The earlier article's story wins, whoever detects it.
  for (const MergeRecord& merge : {*on_a, *on_b}) {
    EXPECT_EQ(merge.canonical_id, "late-copy");
    EXPECT_EQ(merge.into_canonical_id, original.assignment.id);
    EXPECT_EQ(merge.article_id, "late-copy");
    EXPECT_EQ(merge.match_id, original.assignment.id);
    EXPECT_EQ(merge.reason, MergeReason::kCopy);
  }
  // From now on both name the story by the winner.
  for (Instance* instance : {&a, &b}) {
    ArticleRecord next =
        instance->Process(WithId(seeds[0], "after-merge"), 2000);
    EXPECT_EQ(next.assignment.story_id, original.assignment.story_id);
  }
}

}  // namespace
}  // namespace storyd
