// Copyright 2024 The storyd Authors.
#include "core/recent_articles.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/string_view.h"

namespace storyd {
namespace {

// Big enough that chunks are few, small enough that a forgotten one is
// freed soon.
constexpr size_t kChunkBytes = 64 * 1024;

// Debian's abseil looks strings up by its own string_view type.
absl::string_view AbslView(std::string_view text) {
  return {text.data(), text.size()};
}

}  // namespace

RecentArticles::RecentArticles(size_t capacity, int id_hash_bits)
    : capacity_(std::max<size_t>(capacity, 1)),
      id_hash_mask_(id_hash_bits >= 64 ? ~uint64_t{0}
                                       : (uint64_t{1} << id_hash_bits) - 1) {}

uint64_t RecentArticles::IdHash(std::string_view id) const {
  return XXH3_64bits(id.data(), id.size()) & id_hash_mask_;
}

const RecentArticles::Record* RecentArticles::FindRecord(uint64_t seq) const {
  if (records_.empty()) return nullptr;
  const uint64_t first_seq = records_.front().seq;
  const uint64_t last_seq = records_.back().seq;
  if (seq < first_seq || seq > last_seq) return nullptr;
  // Records are in increasing seq order, and `skipped` sequence numbers in
  // [first_seq, last_seq] have none, so seq's record is at most `skipped`
  // places before seq - first_seq.
  const uint64_t offset = seq - first_seq;
  const uint64_t skipped = last_seq - first_seq + 1 - records_.size();
  uint64_t high = std::min<uint64_t>(offset, records_.size() - 1);
  uint64_t low = offset > skipped ? offset - skipped : 0;
  while (low < high) {
    const uint64_t middle = low + (high - low) / 2;
    if (records_[middle].seq < seq) {
      low = middle + 1;
    } else {
      high = middle;
    }
  }
  const Record& record = records_[low];
  return record.seq == seq ? &record : nullptr;
}

std::optional<RecentArticle> RecentArticles::Find(uint64_t seq) const {
  const Record* record = FindRecord(seq);
  if (record == nullptr) return std::nullopt;
  RecentArticle article;
  article.seq = record->seq;
  article.id = IdOf(*record);
  article.canonical_id = record->canonical_is_id
                             ? article.id
                             : std::string_view(record->text + record->id_size,
                                                record->canonical_size);
  article.story = record->story;
  article.timestamp_ms = record->timestamp_ms;
  article.own = record->own;
  return article;
}

std::optional<uint64_t> RecentArticles::SeqOf(std::string_view id) const {
  auto it = seq_by_id_hash_.find(IdHash(id));
  if (it != seq_by_id_hash_.end()) {
    const Record* record = FindRecord(it->second);
    if (record != nullptr && IdOf(*record) == id) return it->second;
  }
  if (colliding_ids_.empty()) return std::nullopt;
  auto colliding = colliding_ids_.find(AbslView(id));
  if (colliding == colliding_ids_.end()) return std::nullopt;
  return colliding->second;
}

const char* RecentArticles::Store(std::string_view id,
                                  std::string_view canonical_id,
                                  bool canonical_is_id, uint32_t* chunk) {
  const size_t needed = id.size() + (canonical_is_id ? 0 : canonical_id.size());
  if (chunks_.empty() || chunks_.back().size - chunks_.back().used < needed) {
    Chunk fresh;
    fresh.size = std::max(kChunkBytes, needed);
    fresh.bytes = std::make_unique_for_overwrite<char[]>(fresh.size);
    chunks_.push_back(std::move(fresh));
  }
  Chunk& current = chunks_.back();
  char* text = current.bytes.get() + current.used;
  if (!id.empty()) std::memcpy(text, id.data(), id.size());
  if (!canonical_is_id && !canonical_id.empty()) {
    std::memcpy(text + id.size(), canonical_id.data(), canonical_id.size());
  }
  current.used += needed;
  ++current.live;
  *chunk = static_cast<uint32_t>(first_chunk_number_ + chunks_.size() - 1);
  return text;
}

void RecentArticles::Add(const RecentArticle& article,
                         std::vector<std::string>* forgotten_own) {
  Record record;
  record.seq = article.seq;
  record.story = article.story;
  record.timestamp_ms = article.timestamp_ms;
  record.own = article.own;
  record.canonical_is_id = article.canonical_id == article.id;
  record.id_size = static_cast<uint32_t>(article.id.size());
  record.canonical_size =
      record.canonical_is_id
          ? 0
          : static_cast<uint32_t>(article.canonical_id.size());
  record.text = Store(article.id, article.canonical_id, record.canonical_is_id,
                      &record.chunk);
  records_.push_back(record);
  if (!seq_by_id_hash_.try_emplace(IdHash(article.id), article.seq).second) {
    colliding_ids_.emplace(article.id, article.seq);
  }
  if (records_.size() > capacity_) ForgetOldest(forgotten_own);
}

void RecentArticles::ForgetOldest(std::vector<std::string>* forgotten_own) {
  const Record& oldest = records_.front();
  const std::string_view id = IdOf(oldest);
  auto it = seq_by_id_hash_.find(IdHash(id));
  if (it != seq_by_id_hash_.end() && it->second == oldest.seq) {
    seq_by_id_hash_.erase(it);
  } else if (auto colliding = colliding_ids_.find(AbslView(id));
             colliding != colliding_ids_.end()) {
    colliding_ids_.erase(colliding);
  }
  if (oldest.own && forgotten_own != nullptr) forgotten_own->emplace_back(id);
  // Chunk numbers are compared modulo 2^32: the live ones span far less.
  const uint32_t index =
      oldest.chunk - static_cast<uint32_t>(first_chunk_number_);
  --chunks_[index].live;
  records_.pop_front();
  // The chunk being written is never freed, even when empty.
  while (chunks_.size() > 1 && chunks_.front().live == 0) {
    chunks_.pop_front();
    ++first_chunk_number_;
  }
}

size_t RecentArticles::MemoryBytes() const {
  size_t bytes = records_.size() * sizeof(Record);
  for (const Chunk& chunk : chunks_) bytes += chunk.size;
  bytes +=
      seq_by_id_hash_.capacity() * (sizeof(std::pair<uint64_t, uint64_t>) + 1);
  for (const auto& [id, seq] : colliding_ids_) {
    bytes += sizeof(std::string) + sizeof(uint64_t) + id.capacity();
  }
  return bytes;
}

}  // namespace storyd
