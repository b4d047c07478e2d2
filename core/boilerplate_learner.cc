#include "core/boilerplate_learner.h"

#include <xxhash.h>

#include <algorithm>

#include "core/strings.h"
#include "core/text_normalizer.h"

namespace storyd {
namespace {

// The line's hash if it is short (1..max_words words), else 0.
uint64_t ShortLineHash(std::string_view line, size_t max_words,
                       std::vector<std::string_view>* scratch) {
  // Most lines are paragraphs, settled by a word count that reads a block
  // or two of them.
  if (HasMoreWordsThan(line, max_words)) return 0;
  scratch->clear();
  Tokenize(line, scratch);
  if (scratch->empty()) return 0;
  // Hash the words, not the bytes: punctuation and spacing do not matter.
  uint64_t hash = 0x9e3779b97f4a7c15ull;
  for (std::string_view word : *scratch) {
    hash = XXH3_64bits_withSeed(word.data(), word.size(), hash);
  }
  return hash == 0 ? 1 : hash;
}

}  // namespace

std::vector<uint64_t> ShortLineHashes(std::string_view normalized_text,
                                      size_t max_words) {
  std::vector<uint64_t> hashes;
  std::vector<std::string_view> scratch;
  ForEachNonEmptyPiece(normalized_text, '\n', [&](std::string_view line) {
    uint64_t hash = ShortLineHash(line, max_words, &scratch);
    if (hash != 0) hashes.push_back(hash);
  });
  return hashes;
}

size_t RemoveLearnedLines(const LearnedBoilerplate& learned, size_t max_words,
                          std::string* normalized_text) {
  if (learned.size() == 0) return 0;
  std::string kept;
  kept.reserve(normalized_text->size());
  size_t removed = 0;
  std::vector<std::string_view> scratch;
  ForEachNonEmptyPiece(*normalized_text, '\n', [&](std::string_view line) {
    uint64_t hash = ShortLineHash(line, max_words, &scratch);
    if (hash != 0 && learned.Contains(hash)) {
      ++removed;
      return;
    }
    if (!kept.empty()) kept.push_back('\n');
    kept.append(line);
  });
  if (removed > 0) normalized_text->swap(kept);
  return removed;
}

BoilerplateLearner::BoilerplateLearner(const LearnerConfig& config)
    : config_(config) {}

void BoilerplateLearner::Observe(uint64_t copy_group,
                                 absl::Span<const uint64_t> line_hashes) {
  if (!config_.enabled) return;
  ++observed_;
  for (uint64_t hash : line_hashes) {
    if (learned_.contains(hash)) continue;
    LineCount& count = counts_[hash];
    count.last_seen = observed_;
    if (std::find(count.groups.begin(), count.groups.end(), copy_group) !=
        count.groups.end()) {
      continue;
    }
    count.groups.push_back(copy_group);
    if (count.groups.size() >= config_.min_groups) {
      learned_.insert(hash);
      counts_.erase(hash);
      changed_ = true;
    }
  }
  if (counts_.size() > config_.max_tracked_lines) Prune();
}

void BoilerplateLearner::Prune() {
  // Forget the half of the counts seen longest ago. The cut depends only on
  // the counts, never on the map's iteration order.
  std::vector<uint64_t> seen;
  seen.reserve(counts_.size());
  for (const auto& [hash, count] : counts_) seen.push_back(count.last_seen);
  std::nth_element(seen.begin(), seen.begin() + seen.size() / 2, seen.end());
  const uint64_t cut = seen[seen.size() / 2];
  size_t erased = absl::erase_if(counts_, [cut](const auto& entry) {
    return entry.second.last_seen < cut;
  });
  if (erased == 0) {
    absl::erase_if(counts_, [cut](const auto& entry) {
      return entry.second.last_seen <= cut;
    });
  }
}

std::shared_ptr<const LearnedBoilerplate> BoilerplateLearner::Snapshot() {
  if (changed_ || snapshot_ == nullptr) {
    auto snapshot = std::make_shared<LearnedBoilerplate>();
    snapshot->lines_ = learned_;
    snapshot_ = std::move(snapshot);
    changed_ = false;
  }
  return snapshot_;
}

}  // namespace storyd
