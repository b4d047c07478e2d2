#include "core/state_record.h"

#include <cstring>

#include "absl/strings/str_format.h"
#include "core/strings.h"

namespace storyd {
namespace {

constexpr uint8_t kVersion = 1;
constexpr uint8_t kHasStoryScore = 1, kHasDupOf = 2, kHasMatchId = 4,
                  kHasPublished = 8, kHasTextYears = 16;

class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}
  void Byte(uint8_t value) { out_->push_back(static_cast<char>(value)); }
  void Varint(uint64_t value) {
    while (value >= 0x80) {
      Byte(static_cast<uint8_t>(value) | 0x80);
      value >>= 7;
    }
    Byte(static_cast<uint8_t>(value));
  }
  void Zigzag(int64_t value) {
    Varint((static_cast<uint64_t>(value) << 1) ^
           static_cast<uint64_t>(value >> 63));
  }
  template <typename T>
  void Fixed(T value) {
    char bytes[sizeof(T)];
    std::memcpy(bytes, &value, sizeof(T));  // x86-64: little-endian
    out_->append(bytes, sizeof(T));
  }
  void String(std::string_view text) {
    Varint(text.size());
    out_->append(text);
  }

 private:
  std::string* out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool done() const { return in_.empty(); }
  uint8_t Byte() {
    if (in_.empty()) return Fail(), 0;
    uint8_t value = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return value;
  }
  uint64_t Varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t byte = Byte();
      if (!ok_) return 0;
      // The tenth byte holds the 64th bit only; more would be lost.
      if (shift == 63 && byte > 1) return Fail(), 0;
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    return Fail(), 0;
  }
  int64_t Zigzag() {
    uint64_t value = Varint();
    return static_cast<int64_t>((value >> 1) ^ (~(value & 1) + 1));
  }
  template <typename T>
  T Fixed() {
    T value{};
    if (in_.size() < sizeof(T)) return Fail(), value;
    std::memcpy(&value, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return value;
  }
  std::string String() {
    uint64_t size = Varint();
    if (!ok_ || size > in_.size()) return Fail(), std::string();
    std::string text(in_.substr(0, size));
    in_.remove_prefix(size);
    return text;
  }
  // A count of items of at least `item_bytes` each that must fit.
  uint64_t Count(size_t item_bytes) {
    uint64_t count = Varint();
    if (!ok_ || count > in_.size() / item_bytes) return Fail(), 0;
    return count;
  }

 private:
  void Fail() {
    ok_ = false;
    in_ = {};
  }
  std::string_view in_;
  bool ok_ = true;
};

absl::Status Corrupt(std::string_view key, std::string_view what) {
  return absl::DataLossError(StrCat("changelog record '", key, "': ", what));
}

absl::StatusOr<StateRecord> DecodeArticle(std::string_view key,
                                          std::string_view id, Reader& in) {
  ArticleRecord record;
  Assignment& a = record.assignment;
  a.id = std::string(id);
  record.source_partition = static_cast<int32_t>(in.Varint()) - 1;
  record.source_offset = static_cast<int64_t>(in.Varint()) - 1;
  record.timestamp_ms = in.Zigzag();
  uint8_t decision = in.Byte();
  uint8_t method = in.Byte();
  uint8_t flags = in.Byte();
  if (decision > static_cast<uint8_t>(StoryDecision::kSameStory) ||
      method > static_cast<uint8_t>(CopyMethod::kSimHash)) {
    return Corrupt(key, "unknown decision or method");
  }
  a.decision = static_cast<StoryDecision>(decision);
  a.method = static_cast<CopyMethod>(method);
  a.fingerprint = in.Fixed<uint64_t>();
  double story_score = in.Fixed<double>();
  if (flags & kHasStoryScore) a.story_score = story_score;
  a.score = in.Fixed<double>();
  a.hamming = static_cast<int>(in.Byte()) - 1;
  if (flags & kHasPublished) record.published_unix_sec = in.Zigzag();
  a.canonical_id = in.String();
  if (flags & kHasDupOf) a.dup_of = in.String();
  if (flags & kHasMatchId) a.match_id = in.String();
  a.published_at = in.String();
  uint64_t terms = in.Count(sizeof(uint64_t) + sizeof(float));
  record.vector.reserve(terms);
  for (uint64_t i = 0; i < terms; ++i) {
    uint64_t term = in.Fixed<uint64_t>();
    float weight = in.Fixed<float>();
    record.vector.emplace_back(term, weight);
  }
  if (flags & kHasTextYears) {
    uint64_t years = in.Count(1);
    record.text_years.reserve(years);
    for (uint64_t i = 0; i < years; ++i)
      record.text_years.push_back(static_cast<uint16_t>(in.Varint()));
  }
  if (!in.ok() || !in.done()) return Corrupt(key, "truncated article record");
  a.story_id = StoryIdFor(a.canonical_id);
  return record;
}

absl::StatusOr<StateRecord> DecodeShingles(std::string_view key,
                                           std::string_view id, Reader& in) {
  ShingleRecord record;
  record.id = std::string(id);
  uint64_t count = in.Count(1);
  record.shingles.reserve(count);
  uint64_t value = 0;
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t delta = in.Varint();
    if (i > 0 && delta == 0) return Corrupt(key, "shingles not increasing");
    // Checked before adding, so that a huge delta cannot wrap around.
    if (delta > UINT32_MAX - value) return Corrupt(key, "shingle out of range");
    value += delta;
    record.shingles.push_back(static_cast<uint32_t>(value));
  }
  if (!in.ok() || !in.done()) return Corrupt(key, "truncated shingle record");
  return record;
}

absl::StatusOr<StateRecord> DecodeMerge(std::string_view key,
                                        std::string_view id, Reader& in) {
  MergeRecord record;
  record.article_id = std::string(id);
  record.canonical_id = in.String();
  record.into_canonical_id = in.String();
  uint8_t reason = in.Byte();
  if (reason > static_cast<uint8_t>(MergeReason::kSameStory))
    return Corrupt(key, "unknown merge reason");
  record.reason = static_cast<MergeReason>(reason);
  record.match_id = in.String();
  record.score = in.Fixed<double>();
  if (!in.ok() || !in.done()) return Corrupt(key, "truncated merge record");
  return record;
}

}  // namespace

std::string_view MergeReasonName(MergeReason reason) {
  return reason == MergeReason::kCopy ? "copy" : "same_story";
}

std::string ArticleKey(std::string_view id) { return StrCat("a:", id); }
std::string ShingleKey(std::string_view id) { return StrCat("w:", id); }
std::string MergeKey(std::string_view article_id) {
  return StrCat("m:", article_id);
}

std::string EncodeArticleRecord(const ArticleRecord& record) {
  const Assignment& a = record.assignment;
  std::string out;
  out.reserve(96 + a.canonical_id.size() * 3 + record.vector.size() * 12);
  Writer w(&out);
  w.Byte('A');
  w.Byte(kVersion);
  w.Varint(static_cast<uint64_t>(record.source_partition + 1));
  w.Varint(static_cast<uint64_t>(record.source_offset + 1));
  w.Zigzag(record.timestamp_ms);
  w.Byte(static_cast<uint8_t>(a.decision));
  w.Byte(static_cast<uint8_t>(a.method));
  uint8_t flags = (a.story_score.has_value() ? kHasStoryScore : 0) |
                  (a.dup_of.has_value() ? kHasDupOf : 0) |
                  (a.match_id.has_value() ? kHasMatchId : 0) |
                  (record.published_unix_sec.has_value() ? kHasPublished : 0) |
                  (!record.text_years.empty() ? kHasTextYears : 0);
  w.Byte(flags);
  w.Fixed<uint64_t>(a.fingerprint);
  w.Fixed<double>(a.story_score.value_or(0));
  w.Fixed<double>(a.score);
  w.Byte(static_cast<uint8_t>(std::clamp(a.hamming + 1, 0, 255)));
  if (record.published_unix_sec.has_value())
    w.Zigzag(*record.published_unix_sec);
  w.String(a.canonical_id);
  if (a.dup_of.has_value()) w.String(*a.dup_of);
  if (a.match_id.has_value()) w.String(*a.match_id);
  w.String(a.published_at);
  w.Varint(record.vector.size());
  for (const auto& [term, weight] : record.vector) {
    w.Fixed<uint64_t>(term);
    w.Fixed<float>(weight);
  }
  if (!record.text_years.empty()) {
    w.Varint(record.text_years.size());
    for (uint16_t year : record.text_years) w.Varint(year);
  }
  return out;
}

std::string EncodeShingleRecord(const ShingleRecord& record) {
  std::string out;
  out.reserve(4 + record.shingles.size() * 4);
  Writer w(&out);
  w.Byte('W');
  w.Byte(kVersion);
  w.Varint(record.shingles.size());
  uint32_t previous = 0;
  for (uint32_t shingle : record.shingles) {
    w.Varint(shingle - previous);
    previous = shingle;
  }
  return out;
}

std::string EncodeMergeRecord(const MergeRecord& record) {
  std::string out;
  Writer w(&out);
  w.Byte('M');
  w.Byte(kVersion);
  w.String(record.canonical_id);
  w.String(record.into_canonical_id);
  w.Byte(static_cast<uint8_t>(record.reason));
  w.String(record.match_id);
  w.Fixed<double>(record.score);
  return out;
}

absl::StatusOr<StateRecord> DecodeStateRecord(
    std::string_view key, std::optional<std::string_view> value) {
  if (key.size() < 2 || key[1] != ':' ||
      (key[0] != 'a' && key[0] != 'w' && key[0] != 'm')) {
    return Corrupt(key, "unknown key");
  }
  if (!value.has_value()) return StateTombstone{std::string(key)};
  std::string_view id = key.substr(2);
  Reader in(*value);
  uint8_t kind = in.Byte();
  uint8_t version = in.Byte();
  if (!in.ok()) return Corrupt(key, "empty value");
  if (version != kVersion)
    return Corrupt(key, absl::StrFormat("unknown version %d", version));
  if (kind == 'A' && key[0] == 'a') return DecodeArticle(key, id, in);
  if (kind == 'W' && key[0] == 'w') return DecodeShingles(key, id, in);
  if (kind == 'M' && key[0] == 'm') return DecodeMerge(key, id, in);
  return Corrupt(key, "value kind does not match the key");
}

std::string FormatMergeJson(const MergeRecord& merge) {
  std::string out = "{\"type\":\"story_merge\",\"story_id\":";
  AppendJsonString(StoryIdFor(merge.canonical_id), &out);
  out.append(",\"into_story_id\":");
  AppendJsonString(StoryIdFor(merge.into_canonical_id), &out);
  out.append(",\"canonical_id\":");
  AppendJsonString(merge.canonical_id, &out);
  out.append(",\"into_canonical_id\":");
  AppendJsonString(merge.into_canonical_id, &out);
  out.append(",\"reason\":");
  AppendJsonString(MergeReasonName(merge.reason), &out);
  out.append(",\"id\":");
  AppendJsonString(merge.article_id, &out);
  out.append(",\"match_id\":");
  AppendJsonString(merge.match_id, &out);
  out.append(",\"score\":");
  AppendFixed(merge.score, 4, &out);
  out.push_back('}');
  return out;
}

}  // namespace storyd
