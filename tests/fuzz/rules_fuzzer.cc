// libFuzzer target: the rules-file parser must accept or reject any text
// with a message, and a loaded rule set must strip any text safely.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/boilerplate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t split = input.find('\0');
  std::string_view rules = input.substr(0, split);
  std::string_view text =
      split == std::string_view::npos ? rules : input.substr(split + 1);
  auto stripper = storyd::BoilerplateStripper::FromRules(rules);
  if (!stripper.ok()) {
    if (stripper.status().message().empty()) __builtin_trap();
    return 0;
  }
  storyd::StrippedText stripped = stripper->Strip(text);
  // A memo kept across inputs, so across rule sets: verdicts of other rules
  // must not leak into this one's.
  static storyd::LineVerdictMemo* memo = new storyd::LineVerdictMemo;
  storyd::StrippedText memoized = stripper->Strip(text, true, memo);
  if (memoized.text != stripped.text || memoized.removed != stripped.removed)
    __builtin_trap();
  return 0;
}
