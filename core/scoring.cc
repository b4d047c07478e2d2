#include "core/scoring.h"

#include <simdjson.h>

#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_format.h"
#include "core/strings.h"

namespace storyd {
namespace {

using Labels = absl::flat_hash_map<std::string, std::string>;

struct Triple {
  double precision, recall, f1;
};

double F1(double p, double r) { return p + r > 0 ? 2 * p * r / (p + r) : 0.0; }

// B-cubed over the items of `gold` (every gold item has a prediction).
Triple BCubed(const std::vector<std::string>& items, const Labels& predicted,
              const Labels& gold) {
  absl::flat_hash_map<std::string, size_t> predicted_size, gold_size;
  absl::flat_hash_map<std::pair<std::string, std::string>, size_t> both;
  for (const std::string& item : items) {
    const std::string& p = predicted.at(item);
    const std::string& g = gold.at(item);
    ++predicted_size[p];
    ++gold_size[g];
    ++both[{p, g}];
  }
  double precision = 0, recall = 0;
  for (const std::string& item : items) {
    const std::string& p = predicted.at(item);
    const std::string& g = gold.at(item);
    double shared = static_cast<double>(both[{p, g}]);
    precision += shared / static_cast<double>(predicted_size[p]);
    recall += shared / static_cast<double>(gold_size[g]);
  }
  double n = static_cast<double>(items.size());
  if (n == 0) return {0, 0, 0};
  return {precision / n, recall / n, F1(precision / n, recall / n)};
}

double PairsWithin(double count) { return count * (count - 1) / 2; }

}  // namespace

absl::StatusOr<QualityReport> ScoreRun(std::string_view gold_tsv,
                                       std::string_view output_jsonl) {
  QualityReport report;
  std::vector<std::string> items;
  Labels gold_story, gold_dup;
  int line_number = 0;
  for (std::string_view line : Split(gold_tsv, '\n')) {
    ++line_number;
    line = StripAsciiWhitespace(line);
    if (line.empty()) continue;
    std::vector<std::string_view> fields = Split(line, '\t');
    if (fields.size() != 3) {
      return absl::InvalidArgumentError(StrCat(
          "gold line ", line_number, ": expected id<TAB>story<TAB>dup_group"));
    }
    std::string id(fields[0]);
    if (!gold_story.contains(id)) items.push_back(id);
    gold_story[id] = std::string(fields[1]);
    gold_dup[id] = std::string(fields[2]);
  }

  Labels story, dup_link;
  absl::flat_hash_map<std::string, size_t> seen;
  simdjson::dom::parser parser;
  for (std::string_view line : Split(output_jsonl, '\n')) {
    line = StripAsciiWhitespace(line);
    if (line.empty()) continue;
    simdjson::dom::element root;
    std::string_view id;
    if (parser.parse(line.data(), line.size()).get(root) != simdjson::SUCCESS ||
        root["id"].get(id) != simdjson::SUCCESS) {
      ++report.unparsable_lines;
      continue;
    }
    std::string key(id);
    ++seen[key];
    simdjson::dom::element value;
    std::string_view text;
    int64_t number;
    if (root["story_id"].get(value) == simdjson::SUCCESS) {
      if (value.get(text) == simdjson::SUCCESS) {
        story[key] = std::string(text);
      } else if (value.get(number) == simdjson::SUCCESS) {
        story[key] = StrCat(number);
      } else {
        story[key] = "None";
      }
    } else {
      story[key] = "None";
    }
    dup_link.erase(key);
    if (root["dup_of"].get(value) == simdjson::SUCCESS &&
        value.get(text) == simdjson::SUCCESS && !text.empty()) {
      dup_link[key] = std::string(text);
    }
  }

  Labels predicted_story;
  for (const std::string& item : items) {
    auto it = story.find(item);
    if (it == story.end()) {
      ++report.missing;
      predicted_story[item] = StrCat("missing:", item);
    } else {
      predicted_story[item] = it->second;
    }
    if (auto s = seen.find(item); s != seen.end() && s->second > 1)
      ++report.repeated;
  }

  // Copy clusters: union-find over dup_of links, as score.py does.
  absl::flat_hash_map<std::string, std::string> parent;
  auto find = [&](std::string x) {
    while (true) {
      auto it = parent.find(x);
      if (it == parent.end()) {
        parent[x] = x;
        return x;
      }
      if (it->second == x) return x;
      auto grand = parent.find(it->second);
      if (grand != parent.end()) it->second = grand->second;
      x = it->second;
    }
  };
  for (const std::string& item : items) {
    auto link = dup_link.find(item);
    if (link != dup_link.end()) {
      std::string a = find(item), b = find(link->second);
      parent[a] = b;
    }
  }
  Labels predicted_dup;
  for (const std::string& item : items) predicted_dup[item] = find(item);

  Triple story_b = BCubed(items, predicted_story, gold_story);
  Triple dup_b = BCubed(items, predicted_dup, gold_dup);
  report.articles = items.size();
  report.story_bcubed_p = story_b.precision;
  report.story_bcubed_r = story_b.recall;
  report.story_bcubed_f1 = story_b.f1;
  report.dup_bcubed_p = dup_b.precision;
  report.dup_bcubed_r = dup_b.recall;
  report.dup_bcubed_f1 = dup_b.f1;

  // Pairwise scores and ARI on stories.
  absl::flat_hash_map<std::pair<std::string, std::string>, double> contingency;
  absl::flat_hash_map<std::string, double> predicted_count, gold_count;
  for (const std::string& item : items) {
    contingency[{predicted_story[item], gold_story[item]}] += 1;
    predicted_count[predicted_story[item]] += 1;
    gold_count[gold_story[item]] += 1;
  }
  double true_pairs = 0, predicted_pairs = 0, gold_pairs = 0;
  for (const auto& [key, n] : contingency) true_pairs += PairsWithin(n);
  for (const auto& [key, n] : predicted_count)
    predicted_pairs += PairsWithin(n);
  for (const auto& [key, n] : gold_count) gold_pairs += PairsWithin(n);
  report.stories_predicted = predicted_count.size();
  report.stories_gold = gold_count.size();
  report.story_pair_p =
      predicted_pairs > 0 ? true_pairs / predicted_pairs : 1.0;
  report.story_pair_r = gold_pairs > 0 ? true_pairs / gold_pairs : 1.0;
  report.story_pair_f1 = F1(report.story_pair_p, report.story_pair_r);
  double all_pairs = PairsWithin(static_cast<double>(items.size()));
  double expected =
      all_pairs > 0 ? predicted_pairs * gold_pairs / all_pairs : 0;
  double maximum = (predicted_pairs + gold_pairs) / 2;
  report.story_ari = maximum != expected
                         ? (true_pairs - expected) / (maximum - expected)
                         : 1.0;
  return report;
}

std::string FormatQualityReport(const QualityReport& r) {
  std::string out;
  auto count = [&](std::string_view name, size_t value) {
    absl::StrAppendFormat(&out, "%-18s %d\n", name, value);
  };
  auto figure = [&](std::string_view name, double value) {
    absl::StrAppendFormat(&out, "%-18s %.4f\n", name, value);
  };
  count("n", r.articles);
  count("missing", r.missing);
  count("repeated", r.repeated);
  count("unparsable_lines", r.unparsable_lines);
  count("stories_pred", r.stories_predicted);
  count("stories_gold", r.stories_gold);
  figure("story_bcubed_p", r.story_bcubed_p);
  figure("story_bcubed_r", r.story_bcubed_r);
  figure("story_bcubed_f1", r.story_bcubed_f1);
  figure("story_pair_p", r.story_pair_p);
  figure("story_pair_r", r.story_pair_r);
  figure("story_pair_f1", r.story_pair_f1);
  figure("story_ari", r.story_ari);
  figure("dup_bcubed_p", r.dup_bcubed_p);
  figure("dup_bcubed_r", r.dup_bcubed_r);
  figure("dup_bcubed_f1", r.dup_bcubed_f1);
  return out;
}

}  // namespace storyd
