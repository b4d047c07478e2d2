// TextHash: the 128-bit XXH3 of a text, the key of the workers' memos (line
// verdicts, cleaned texts, copy features). At 128 bits two texts never
// share one in practice, so a memo entry found under a text's hash is that
// text's own and a hit gives what computing would.
#ifndef STORYD_CORE_TEXT_HASH_H_
#define STORYD_CORE_TEXT_HASH_H_

#include <cstdint>
#include <string_view>

namespace storyd {

struct TextHash {
  uint64_t low = 0;
  uint64_t high = 0;
  bool operator==(const TextHash&) const = default;
};

// `seed` sets what else the hash stands for (the rules that clean a text,
// the shingle size its features are computed at): other seeds, other keys.
TextHash HashText(std::string_view text, uint64_t seed = 0);

}  // namespace storyd

#endif  // STORYD_CORE_TEXT_HASH_H_
