// Boilerplate stripping: removes what text extractors leave around an
// article (ad markers, share buttons, comment prompts, captions, credits,
// newsletter prompts, wire datelines) before the text is fingerprinted.
//
// Rules come from a text file that operators extend without a rebuild
// (conf/boilerplate.rules documents the format). Four kinds:
//
//   line       <literal>  a whole line equal to the literal (case-insensitive,
//                         after typography folding and trimming) is removed
//   line-re    <regex>    a whole line matching the RE2 regex is removed
//   inline     <literal>  every occurrence inside a line is removed
//                         (case-insensitive)
//   inline-re  <regex>    every match inside a line is removed, except the
//                         text of a group named `keep`, e.g.
//                         ^date \d{4}-\d{2}-\d{2} N?(?P<keep>[A-Z])
//   option line-max-words <n>
//                         a line-re rule never removes a line of more than n
//                         words (default 12): the guard that keeps a broad
//                         pattern from eating an article sentence.
//
// After inline removal a line left with no letters or digits is dropped.
//
// Example:
//   absl::StatusOr<BoilerplateStripper> stripper =
//       BoilerplateStripper::FromFile("conf/boilerplate.rules");
//   StrippedText result = stripper->Strip(FoldTypography(body));
//   // result.text: the kept lines; result.removed: what went, for `explain`.
//
// Thread safety: a BoilerplateStripper is immutable after construction;
// Strip() may be called from any number of threads at once.
#ifndef STORYD_CORE_BOILERPLATE_H_
#define STORYD_CORE_BOILERPLATE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "core/text_hash.h"

namespace storyd {

struct StrippedText {
  std::string text;                  // kept lines joined by '\n'
  std::vector<std::string> removed;  // removed lines and inline spans
};

// A worker's memory of the stripper's verdicts on the lines it saw last
// (ad markers, share prompts, credits and bylines recur across articles,
// and a copy, even one scraped with other boilerplate, repeats the
// paragraphs of its original), so that a line seen before skips the rule
// checks: the line patterns' RE2::Set pass for short lines, the inline
// rules' literal scan for every line. Tied to the rules' content: rules
// that differ from the ones its verdicts came from (a reload) empty it
// first. Direct-mapped, 65,536 lines (512 KB, allocated at first use): the
// lines of about as many articles as the worker's FeatureMemo holds texts,
// so that a copy the feature memo knows finds its paragraphs here too. A
// slot is one word: 62 bits of the line's 128-bit XXH3 and the verdict; 16
// more bits of the hash chose the slot, so two lines are told apart by 78
// bits. Thread safety: none; one per worker thread.
class LineVerdictMemo {
 public:
  // A disabled memo keeps nothing (for a one-off call).
  explicit LineVerdictMemo(bool enabled = true) : enabled_(enabled) {}

 private:
  friend class BoilerplateStripper;
  using Hash = TextHash;
  // A line's slot and what the slot holds when it remembers the line, but
  // for the verdict (the low two bits).
  struct Probe {
    uint64_t* slot = nullptr;
    uint64_t check = 0;
  };
  static constexpr size_t kSlots = 65536;
  static constexpr uint64_t kVerdictBits = 3;
  bool enabled_ = true;
  Hash rules_hash_;              // of the rules its verdicts came from
  std::vector<uint64_t> slots_;  // 0: empty
};

class BoilerplateStripper {
 public:
  // Parses rules text. Errors name the line number and the problem.
  static absl::StatusOr<BoilerplateStripper> FromRules(
      std::string_view rules_text);
  static absl::StatusOr<BoilerplateStripper> FromFile(const std::string& path);
  // The rules file at `path`, or the built-in rules (conf/boilerplate.rules
  // as shipped) when `path` is empty: what `[boilerplate] rules` means.
  static absl::StatusOr<BoilerplateStripper> Load(const std::string& path);

  BoilerplateStripper(BoilerplateStripper&&) noexcept;
  BoilerplateStripper& operator=(BoilerplateStripper&&) noexcept;
  ~BoilerplateStripper();

  // Strips `folded_text` (output of FoldTypography). When `removed` is not
  // wanted, pass record_removed = false to skip building it. `memo` (may
  // be null) is the calling thread's own; it changes no result.
  StrippedText Strip(std::string_view folded_text, bool record_removed = true,
                     LineVerdictMemo* memo = nullptr) const;

  size_t rule_count() const { return rule_count_; }
  // 64 bits of the rules text's hash: what a cache of stripped texts is
  // keyed with, so that other rules make other entries.
  uint64_t rules_hash64() const { return rules_hash_.low; }

 private:
  struct Compiled;
  // FromRules; `vetted`: the rules are the built-in ones, whose patterns
  // are known to pass the check of each one alone.
  static absl::StatusOr<BoilerplateStripper> Compile(
      std::string_view rules_text, bool vetted);
  explicit BoilerplateStripper(std::unique_ptr<Compiled> compiled,
                               size_t rule_count, std::string_view rules_text);

  // What the rules say of a whole (trimmed) line.
  enum class LineVerdict : uint8_t {
    kKept = 1,            // not boilerplate, and no inline rule can match
    kBoilerplate = 2,     // a line rule removes it whole
    kInlineMayMatch = 3,  // not boilerplate; an inline rule may match
  };
  // Where `memo` (may be null) keeps the line's verdict; starts loading
  // the slot, which the caller reads a line later (it is a cache miss).
  LineVerdictMemo::Probe ProbeMemo(std::string_view line,
                                   LineVerdictMemo* memo) const;
  // The line's verdict, from the memo slot `probe` when it holds it.
  LineVerdict Classify(std::string_view line,
                       const LineVerdictMemo::Probe& probe) const;
  LineVerdict ClassifyUncached(std::string_view line) const;
  bool IsBoilerplateLine(std::string_view line) const;

  std::unique_ptr<Compiled> compiled_;
  size_t rule_count_ = 0;
  LineVerdictMemo::Hash rules_hash_;  // of the rules text
};

}  // namespace storyd

#endif  // STORYD_CORE_BOILERPLATE_H_
