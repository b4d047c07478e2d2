// Copyright 2024 The storyd Authors.
//
// RecentArticles: the ordered stage's memory of the last `capacity` accepted
// articles: each one's id, its story's canonical id, its story key, its input
// timestamp and whether this instance decided it, found by sequence number
// or by id.
//
// Why not two hash maps keyed by strings: at the default history (4 M
// articles) a map of seq -> {id, canonical id, ...} and a map of id -> seq
// took about 450 bytes an article (two std::string values, two heap
// allocations for ids past the small-string size, and each map's empty
// slots), and their probes were a fifth of the daemon's main thread. Here:
// - records sit in sequence order in a deque, so a sequence number finds
//   its record by arithmetic, with a short binary search over the span that
//   skipped sequence numbers (rejected or replayed records) leave open;
// - the strings sit in an append-only arena of chunks, freed oldest first
//   as their records are forgotten; a canonical id equal to the id is not
//   stored twice;
// - an id is found by its 64-bit hash, its string checked on the record;
//   an id whose hash an earlier remembered id already has (rare, or
//   crafted) is kept in a map of its own.
// So an article costs about 48 bytes of record, its id's bytes (twice
// when its canonical id differs) and about 25 bytes of hash table.
//
// Not thread-safe: the ordered stage owns it.
#ifndef STORYD_CORE_RECENT_ARTICLES_H_
#define STORYD_CORE_RECENT_ARTICLES_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace storyd {

// A remembered article. The views stay valid until the next Add.
struct RecentArticle {
  uint64_t seq = 0;
  std::string_view id;
  std::string_view canonical_id;
  uint64_t story = 0;  // key of its story in the story index
  int64_t timestamp_ms = 0;
  bool own = true;  // this instance decided it
};

class RecentArticles {
 public:
  // capacity: how many articles are remembered (at least one).
  // id_hash_bits: how many bits of an id's hash the table keys on; fewer
  // than 64 only for tests, to make the colliding ids' path common.
  explicit RecentArticles(size_t capacity, int id_hash_bits = 64);

  size_t size() const { return records_.size(); }

  std::optional<RecentArticle> Find(uint64_t seq) const;
  std::optional<uint64_t> SeqOf(std::string_view id) const;
  bool Contains(std::string_view id) const { return SeqOf(id).has_value(); }

  // Remembers `article`. REQUIRES: its seq is above every earlier one, and
  // its id is not remembered. When that makes more than `capacity`, the
  // oldest article is forgotten; its id is appended to `forgotten_own` if
  // that is non-null and this instance decided it.
  void Add(const RecentArticle& article,
           std::vector<std::string>* forgotten_own);

  // Bytes held by the records, the strings and the id table (a test checks
  // that they level off once the capacity is reached).
  size_t MemoryBytes() const;

 private:
  struct Record {
    uint64_t seq;
    uint64_t story;
    int64_t timestamp_ms;
    const char* text;  // the id, then the canonical id unless it is the same
    uint32_t id_size;
    uint32_t canonical_size;
    uint32_t chunk;  // chunk number of `text`, modulo 2^32
    bool canonical_is_id;
    bool own;
  };
  struct Chunk {
    std::unique_ptr<char[]> bytes;
    size_t size = 0;
    size_t used = 0;
    size_t live = 0;  // records whose text is here
  };

  static std::string_view IdOf(const Record& record) {
    return {record.text, record.id_size};
  }
  const Record* FindRecord(uint64_t seq) const;
  // Copies the id (and the canonical id) into the arena; returns where.
  const char* Store(std::string_view id, std::string_view canonical_id,
                    bool canonical_is_id, uint32_t* chunk);
  void ForgetOldest(std::vector<std::string>* forgotten_own);

  uint64_t IdHash(std::string_view id) const;

  size_t capacity_;
  uint64_t id_hash_mask_;
  std::deque<Record> records_;  // increasing seq
  std::deque<Chunk> chunks_;
  uint64_t first_chunk_number_ = 0;  // of chunks_.front()
  absl::flat_hash_map<uint64_t, uint64_t> seq_by_id_hash_;
  // Ids whose hash was taken when they came (see above).
  absl::flat_hash_map<std::string, uint64_t> colliding_ids_;
};

}  // namespace storyd

#endif  // STORYD_CORE_RECENT_ARTICLES_H_
