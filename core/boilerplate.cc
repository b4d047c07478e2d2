#include "core/boilerplate.h"

#include <re2/re2.h>
#include <re2/set.h>

#include <fstream>
#include <sstream>

#include "core/default_rules.h"
#include "core/literal_prefilter.h"
#include "core/strings.h"
#include "core/text_normalizer.h"

namespace storyd {

struct InlineRule {
  std::unique_ptr<RE2> regex;
  std::string rewrite;  // "" or "\\N" for the group named `keep`
};

struct BoilerplateStripper::Compiled {
  absl::flat_hash_set<std::string> line_literals;  // normalized
  size_t longest_line_literal = 0;
  std::unique_ptr<RE2::Set> line_patterns;  // anchored at both ends
  std::vector<InlineRule> inline_rules;
  std::unique_ptr<RE2::Set> inline_prefilter;  // which inline rules match
  // False for a line that no inline rule can match: most lines, and the
  // RE2::Set pass over them is the most of what stripping costs.
  LiteralPrefilter inline_literals;
  int line_max_words = 12;
};

namespace {

RE2::Options RuleOptions(bool case_insensitive) {
  RE2::Options options;
  options.set_log_errors(false);
  options.set_case_sensitive(!case_insensitive);
  return options;
}

// Appends every non-empty match of `regex` in `text` to *removed.
void RecordMatches(const RE2& regex, std::string_view text,
                   std::vector<std::string>* removed) {
  size_t pos = 0;
  re2::StringPiece match;
  while (pos <= text.size() &&
         regex.Match(text, pos, text.size(), RE2::UNANCHORED, &match, 1)) {
    if (match.empty()) {
      pos = static_cast<size_t>(match.data() - text.data()) + 1;
      continue;
    }
    removed->emplace_back(match.data(), match.size());
    pos = static_cast<size_t>(match.data() - text.data()) + match.size();
  }
}

}  // namespace

BoilerplateStripper::BoilerplateStripper(std::unique_ptr<Compiled> compiled,
                                         size_t rule_count,
                                         std::string_view rules_text)
    : compiled_(std::move(compiled)),
      rule_count_(rule_count),
      rules_hash_(HashText(rules_text)) {}
BoilerplateStripper::BoilerplateStripper(BoilerplateStripper&&) noexcept =
    default;
BoilerplateStripper& BoilerplateStripper::operator=(
    BoilerplateStripper&&) noexcept = default;
BoilerplateStripper::~BoilerplateStripper() = default;

absl::StatusOr<BoilerplateStripper> BoilerplateStripper::FromRules(
    std::string_view rules_text) {
  return Compile(rules_text, /*vetted=*/false);
}

absl::StatusOr<BoilerplateStripper> BoilerplateStripper::Compile(
    std::string_view rules_text, bool vetted) {
  auto compiled = std::make_unique<Compiled>();
  size_t rule_count = 0;
  auto line_set =
      std::make_unique<RE2::Set>(RuleOptions(false), RE2::ANCHOR_BOTH);
  auto inline_set =
      std::make_unique<RE2::Set>(RuleOptions(false), RE2::UNANCHORED);
  int line_number = 0;
  for (std::string_view raw : Split(rules_text, '\n')) {
    ++line_number;
    std::string_view line = StripAsciiWhitespace(raw);
    if (line.empty() || line[0] == '#') continue;
    size_t space = line.find_first_of(" \t");
    if (space == std::string_view::npos) {
      return absl::InvalidArgumentError(StrCat("boilerplate rules line ",
                                               line_number,
                                               ": expected '<kind> <text>'"));
    }
    std::string_view kind = line.substr(0, space);
    std::string_view text = StripAsciiWhitespace(line.substr(space));
    auto error = [&](std::string_view what) {
      return absl::InvalidArgumentError(
          StrCat("boilerplate rules line ", line_number, ": ", what));
    };
    if (kind == "option") {
      std::vector<std::string_view> parts =
          Split(text, ' ', /*skip_empty=*/true);
      int value = 0;
      if (parts.size() != 2 || parts[0] != "line-max-words" ||
          !ParseInteger(parts[1], &value) || value < 1) {
        return error("the only option is 'line-max-words <positive integer>'");
      }
      compiled->line_max_words = value;
      continue;
    }
    if (kind == "line") {
      std::string normalized = NormalizeForMatching(FoldTypography(text));
      compiled->longest_line_literal =
          std::max(compiled->longest_line_literal, normalized.size());
      compiled->line_literals.insert(std::move(normalized));
    } else if (kind == "line-re") {
      std::string compile_error;
      // Compiled alone too, which costs start-up time: RE2 gives one pattern
      // two thirds of its memory budget, the set all of it, so this is what
      // rejects a pattern too big to leave the set's DFA room (a set whose
      // DFA runs out of memory silently matches nothing). The built-in
      // rules are known to pass it (a test in boilerplate_test.cc runs it on
      // them), and those 45 compiles were a third of their loading time.
      if (!vetted) {
        RE2 check(text, RuleOptions(false));
        if (!check.ok()) return error(StrCat("bad regex: ", check.error()));
      }
      if (line_set->Add(text, &compile_error) < 0) {
        return error(StrCat("bad regex: ", compile_error));
      }
    } else if (kind == "inline" || kind == "inline-re") {
      bool literal = kind == "inline";
      std::string pattern =
          literal ? RE2::QuoteMeta(FoldTypography(text)) : std::string(text);
      InlineRule rule;
      rule.regex = std::make_unique<RE2>(pattern, RuleOptions(literal));
      if (!rule.regex->ok())
        return error(StrCat("bad regex: ", rule.regex->error()));
      const auto& groups = rule.regex->NamedCapturingGroups();
      if (auto keep = groups.find("keep"); keep != groups.end()) {
        rule.rewrite = StrCat("\\", keep->second);
      }
      std::string compile_error;
      std::string set_pattern =
          literal ? StrCat("(?i:", pattern, ")") : pattern;
      if (inline_set->Add(set_pattern, &compile_error) < 0) {
        return error(StrCat("bad regex: ", compile_error));
      }
      compiled->inline_literals.Add(set_pattern, RuleOptions(false));
      compiled->inline_rules.push_back(std::move(rule));
    } else {
      return error(StrCat("unknown rule kind '", kind,
                          "' (line, line-re, inline, inline-re, option)"));
    }
    ++rule_count;
  }
  if (!line_set->Compile())
    return absl::InternalError("cannot compile line rules");
  if (!inline_set->Compile())
    return absl::InternalError("cannot compile inline rules");
  compiled->inline_literals.Compile();
  compiled->line_patterns = std::move(line_set);
  compiled->inline_prefilter = std::move(inline_set);
  return BoilerplateStripper(std::move(compiled), rule_count, rules_text);
}

absl::StatusOr<BoilerplateStripper> BoilerplateStripper::FromFile(
    const std::string& path) {
  std::ifstream file(path);
  if (!file)
    return absl::NotFoundError(StrCat("cannot open rules file ", path));
  std::stringstream contents;
  contents << file.rdbuf();
  absl::StatusOr<BoilerplateStripper> stripper = FromRules(contents.str());
  if (!stripper.ok()) {
    return absl::Status(
        stripper.status().code(),
        StrCat(path, ": ", std::string(stripper.status().message())));
  }
  return stripper;
}

absl::StatusOr<BoilerplateStripper> BoilerplateStripper::Load(
    const std::string& path) {
  if (path.empty()) return Compile(DefaultBoilerplateRules(), /*vetted=*/true);
  return FromFile(path);
}

LineVerdictMemo::Probe BoilerplateStripper::ProbeMemo(
    std::string_view line, LineVerdictMemo* memo) const {
  // Any length: hashing a line costs a tenth of the literal scan.
  if (memo == nullptr || !memo->enabled_) return {};
  if (memo->slots_.empty() || memo->rules_hash_ != rules_hash_) {
    memo->slots_.assign(LineVerdictMemo::kSlots, 0);
    memo->rules_hash_ = rules_hash_;
  }
  const LineVerdictMemo::Hash hash = HashText(line);
  uint64_t* slot = &memo->slots_[hash.low & (LineVerdictMemo::kSlots - 1)];
  __builtin_prefetch(slot, /*rw=*/1);
  return {slot, hash.high & ~LineVerdictMemo::kVerdictBits};
}

BoilerplateStripper::LineVerdict BoilerplateStripper::Classify(
    std::string_view line, const LineVerdictMemo::Probe& probe) const {
  if (probe.slot == nullptr) return ClassifyUncached(line);
  const uint64_t held = *probe.slot;
  if (held != 0 && (held & ~LineVerdictMemo::kVerdictBits) == probe.check) {
    return static_cast<LineVerdict>(held & LineVerdictMemo::kVerdictBits);
  }
  const LineVerdict verdict = ClassifyUncached(line);
  *probe.slot = probe.check | static_cast<uint64_t>(verdict);
  return verdict;
}

BoilerplateStripper::LineVerdict BoilerplateStripper::ClassifyUncached(
    std::string_view line) const {
  if (IsBoilerplateLine(line)) return LineVerdict::kBoilerplate;
  return compiled_->inline_literals.MayMatch(line)
             ? LineVerdict::kInlineMayMatch
             : LineVerdict::kKept;
}

bool BoilerplateStripper::IsBoilerplateLine(std::string_view line) const {
  const Compiled& c = *compiled_;
  if (line.size() <= c.longest_line_literal * 2 + 8 &&
      !c.line_literals.empty()) {
    if (c.line_literals.contains(NormalizeForMatching(line))) return true;
  }
  // A line-re rule never removes a line of more than line_max_words words,
  // so such a line (most article paragraphs) needs no regex. Without a
  // vector for the indices RE2::Set allocates nothing and stops at the
  // first match.
  return !HasMoreWordsThan(line, static_cast<size_t>(c.line_max_words)) &&
         c.line_patterns->Match(line, nullptr);
}

namespace {

// The next non-empty line of `text` from *pos, trimmed, into *line;
// advances *pos past it. False when there is none.
bool NextLine(std::string_view text, size_t* pos, std::string_view* line) {
  while (*pos <= text.size()) {
    size_t end = text.find('\n', *pos);
    if (end == std::string_view::npos) end = text.size();
    *line = StripAsciiWhitespace(text.substr(*pos, end - *pos));
    *pos = end + 1;
    if (!line->empty()) return true;
  }
  return false;
}

}  // namespace

StrippedText BoilerplateStripper::Strip(std::string_view folded_text,
                                        bool record_removed,
                                        LineVerdictMemo* memo) const {
  const Compiled& c = *compiled_;
  StrippedText result;
  result.text.reserve(folded_text.size());
  std::vector<int> inline_matches;
  std::string edited;
  auto strip_line = [&](std::string_view line, LineVerdict verdict) {
    if (verdict == LineVerdict::kBoilerplate) {
      if (record_removed) result.removed.emplace_back(line);
      return;
    }
    std::string_view kept = line;
    inline_matches.clear();
    // Most lines hold no literal an inline rule needs and skip the regex
    // pass; of those that do, most match, so the set is run once, collecting
    // which rules did.
    if (verdict == LineVerdict::kInlineMayMatch &&
        c.inline_prefilter->Match(line, &inline_matches)) {
      std::sort(inline_matches.begin(), inline_matches.end());
      edited.assign(line);
      for (int index : inline_matches) {
        const InlineRule& rule = c.inline_rules[index];
        if (record_removed) RecordMatches(*rule.regex, edited, &result.removed);
        RE2::GlobalReplace(&edited, *rule.regex, rule.rewrite);
      }
      // Removal can leave doubled or edge spaces behind; fold them again.
      edited = FoldTypography(edited);
      kept = StripAsciiWhitespace(edited);
      if (!HasMoreWordsThan(kept, 0)) return;
      if (Classify(kept, ProbeMemo(kept, memo)) == LineVerdict::kBoilerplate) {
        if (record_removed) result.removed.emplace_back(kept);
        return;
      }
    }
    if (!result.text.empty()) result.text.push_back('\n');
    result.text.append(kept);
  };
  // Each line's memo slot is looked up one line ahead, so that its load
  // overlaps the work on the line before.
  size_t pos = 0;
  std::string_view line, upcoming;
  if (!NextLine(folded_text, &pos, &line)) return result;
  LineVerdictMemo::Probe probe = ProbeMemo(line, memo);
  while (true) {
    const bool more = NextLine(folded_text, &pos, &upcoming);
    const LineVerdictMemo::Probe upcoming_probe =
        more ? ProbeMemo(upcoming, memo) : LineVerdictMemo::Probe{};
    strip_line(line, Classify(line, probe));
    if (!more) break;
    line = upcoming;
    probe = upcoming_probe;
  }
  return result;
}

}  // namespace storyd
