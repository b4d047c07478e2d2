// Quality scores of a run against gold labels, the same figures as
// ../shared/tools/score.py: story B-cubed and pairwise precision/recall/F1,
// the adjusted Rand index, and copy ("dup") B-cubed over the clusters that
// dup_of links form (union-find over the links).
//
// Gold TSV: id <TAB> gold_story <TAB> gold_dup_group, one article a line.
// Output: JSON Lines with "id", "story_id" and "dup_of" (null when none).
// An article missing from the output counts as a singleton story.
//
// Thread safety: pure functions.
#ifndef STORYD_CORE_SCORING_H_
#define STORYD_CORE_SCORING_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace storyd {

struct QualityReport {
  size_t articles = 0;          // gold articles
  size_t missing = 0;           // gold articles absent from the output
  size_t repeated = 0;          // gold articles output more than once
  size_t unparsable_lines = 0;  // output lines that are not JSON with an id
  size_t stories_predicted = 0;
  size_t stories_gold = 0;
  double story_bcubed_p = 0, story_bcubed_r = 0, story_bcubed_f1 = 0;
  double story_pair_p = 0, story_pair_r = 0, story_pair_f1 = 0, story_ari = 0;
  double dup_bcubed_p = 0, dup_bcubed_r = 0, dup_bcubed_f1 = 0;
};

absl::StatusOr<QualityReport> ScoreRun(std::string_view gold_tsv,
                                       std::string_view output_jsonl);

// One "name value" line per figure, as score.py prints them.
std::string FormatQualityReport(const QualityReport& report);

}  // namespace storyd

#endif  // STORYD_CORE_SCORING_H_
