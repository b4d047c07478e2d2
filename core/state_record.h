// The changelog: the index changes that make storyd's state durable and
// shared, one Kafka record each, in a compacted topic.
//
// Record kinds, told apart by the key's prefix and the value's first byte:
//
//   key "a:<id>"  ArticleRecord   an accepted article: its decision (the
//                                 output record's fields), its fingerprint,
//                                 and for non-copies its story vector; the
//                                 input position and timestamp it came from
//   key "w:<id>"  ShingleRecord   the article's shingle set, while it is in
//                                 the shingle window (non-copies only)
//   key "m:<id>"  MergeRecord     article <id> was found to be in another
//                                 instance's story or copy group: its story
//                                 was merged into that one
//
// A null value under a key is a tombstone: the article left the window
// ("w:") or the fingerprint horizon ("a:"), so compaction drops it and the
// topic stays bounded.
//
// Values are little-endian binary with LEB128 varints, version byte 1:
//   ArticleRecord  'A' 1 varint(partition + 1) varint(offset + 1)
//                  zigzag(timestamp_ms) u8 decision u8 method u8 flags
//                  u64 fingerprint f64 story_score f64 score u8 hamming + 1
//                  [zigzag published_unix_sec] str canonical_id [str dup_of]
//                  [str match_id] str published_at varint n (u64 term, f32
//                  weight) x n [varint m varint(year) x m]
//   ShingleRecord  'W' 1 varint n varint(delta) x n   (sorted, delta-coded)
//   MergeRecord    'M' 1 str canonical_id str into_canonical_id u8 reason
//                  str match_id f64 score        (article_id is the key's)
// where str = varint length + bytes, and flags bit 0 = story_score present,
// 1 = dup_of, 2 = match_id, 3 = published_unix_sec, 4 = text years (a
// later addition: records without it decode as before). Decoding checks every
// length against the value, so a corrupt record is an error, never a crash.
#ifndef STORYD_CORE_STATE_RECORD_H_
#define STORYD_CORE_STATE_RECORD_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "core/pipeline.h"
#include "core/story_index.h"

namespace storyd {

struct ArticleRecord {
  Assignment assignment;          // as output; assignment.id is the article id
  int32_t source_partition = -1;  // input position, -1 when unknown
  int64_t source_offset = -1;
  int64_t timestamp_ms = 0;  // the input record's timestamp
  std::optional<int64_t> published_unix_sec;
  TermVector vector;                 // the story vector; empty for copies
  std::vector<uint16_t> text_years;  // TextYears; empty for copies
};

struct ShingleRecord {
  std::string id;
  std::vector<uint32_t> shingles;  // sorted, unique
};

enum class MergeReason : uint8_t { kCopy = 0, kSameStory = 1 };
std::string_view MergeReasonName(MergeReason reason);

struct MergeRecord {
  std::string canonical_id;       // the story that was merged away
  std::string into_canonical_id;  // the story it now belongs to
  MergeReason reason = MergeReason::kSameStory;
  std::string article_id;  // the article of the merged story that matched
  std::string match_id;    // the article on the winning side it matched
  double score = 0;        // copy or story score of that match
};

// A tombstone: the key's record is gone.
struct StateTombstone {
  std::string key;
};

using StateRecord =
    std::variant<ArticleRecord, ShingleRecord, MergeRecord, StateTombstone>;

std::string ArticleKey(std::string_view id);
std::string ShingleKey(std::string_view id);
std::string MergeKey(std::string_view article_id);

std::string EncodeArticleRecord(const ArticleRecord& record);
std::string EncodeShingleRecord(const ShingleRecord& record);
std::string EncodeMergeRecord(const MergeRecord& record);

// Decodes one changelog record; a null value (`value` == nullopt) is a
// tombstone. Errors name what is wrong.
absl::StatusOr<StateRecord> DecodeStateRecord(
    std::string_view key, std::optional<std::string_view> value);

// The announcement of a merge on the output topic (one line of JSON):
//   {"type":"story_merge","story_id":...,"into_story_id":...,
//    "canonical_id":...,"into_canonical_id":...,"reason":"copy"|
//    "same_story","id":...,"match_id":...,"score":...}
// where "id" (on the merged story's side) matched "match_id" (on the
// winning side); for "copy", the two are copies of each other, so their
// copy groups are one.
std::string FormatMergeJson(const MergeRecord& merge);

}  // namespace storyd

#endif  // STORYD_CORE_STATE_RECORD_H_
