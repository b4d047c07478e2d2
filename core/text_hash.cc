#include "core/text_hash.h"

#include <xxhash.h>

namespace storyd {

TextHash HashText(std::string_view text, uint64_t seed) {
  const XXH128_hash_t hash =
      XXH3_128bits_withSeed(text.data(), text.size(), seed);
  return {hash.low64, hash.high64};
}

}  // namespace storyd
