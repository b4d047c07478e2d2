// Learned boilerplate: short lines that keep recurring in articles that are
// not copies of one another.
//
// Rules catch the boilerplate someone wrote a rule for. The rest gives
// itself away by repetition: a share prompt or a credit line appears word
// for word under many different articles, while an article's own sentences
// recur only in its copies. So the learner counts, for each short line
// (at most `max_line_words` words, normalized), the distinct copy groups
// (original articles) it has appeared in; at `min_groups` it is
// boilerplate, and later articles lose it before fingerprinting and term
// extraction. Measured on the dev data, injected boilerplate lines appear
// in 32-76 groups and real short lines ("He was 95.") in at most 5.
//
// Determinism: the ordered stage teaches the learner; the workers read an
// immutable snapshot (LearnedBoilerplate) that the caller swaps at fixed
// points in the sequence (offline: batch boundaries), so the output does
// not depend on thread timing.
//
// Thread safety: BoilerplateLearner is single-threaded (the ordered stage);
// a LearnedBoilerplate snapshot is immutable and may be read by any thread.
#ifndef STORYD_CORE_BOILERPLATE_LEARNER_H_
#define STORYD_CORE_BOILERPLATE_LEARNER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/types/span.h"

namespace storyd {

struct LearnerConfig {
  bool enabled = true;
  size_t min_groups = 8;  // distinct copy groups that make a line boilerplate
  size_t max_line_words = 12;          // longer lines are never learned
  size_t max_tracked_lines = 1 << 18;  // memory bound of the counts
};

// An immutable set of learned boilerplate line hashes.
class LearnedBoilerplate {
 public:
  bool Contains(uint64_t line_hash) const { return lines_.contains(line_hash); }
  size_t size() const { return lines_.size(); }

 private:
  friend class BoilerplateLearner;
  absl::flat_hash_set<uint64_t> lines_;
};

// The short lines of a normalized cleaned text, as hashes, in order.
// `max_words` bounds what counts as short.
std::vector<uint64_t> ShortLineHashes(std::string_view normalized_text,
                                      size_t max_words);

// Removes from `normalized_text` every line whose hash `learned` holds.
// Returns the number of lines removed.
size_t RemoveLearnedLines(const LearnedBoilerplate& learned, size_t max_words,
                          std::string* normalized_text);

class BoilerplateLearner {
 public:
  explicit BoilerplateLearner(const LearnerConfig& config);

  // Counts the short lines of one accepted article under its copy group
  // (the sequence number of its original, or its own). Does nothing when
  // learning is off.
  void Observe(uint64_t copy_group, absl::Span<const uint64_t> line_hashes);

  // The lines learned so far, as a snapshot to hand to the workers.
  std::shared_ptr<const LearnedBoilerplate> Snapshot();

  size_t learned_lines() const { return learned_.size(); }
  size_t tracked_lines() const { return counts_.size(); }

 private:
  struct LineCount {
    std::vector<uint64_t> groups;  // distinct groups seen, up to min_groups
    uint64_t last_seen = 0;
  };
  void Prune();

  LearnerConfig config_;
  absl::flat_hash_map<uint64_t, LineCount> counts_;
  absl::flat_hash_set<uint64_t> learned_;
  uint64_t observed_ = 0;
  bool changed_ = true;
  std::shared_ptr<const LearnedBoilerplate> snapshot_;
};

}  // namespace storyd

#endif  // STORYD_CORE_BOILERPLATE_LEARNER_H_
