#include "core/literal_prefilter.h"

#include <emmintrin.h>  // SSE2: part of the x86-64 baseline

#include <algorithm>
#include <bit>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"

namespace storyd {
namespace {

bool IsAsciiLetter(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

uint8_t LowerByte(uint8_t c) {
  return c >= 'A' && c <= 'Z' ? static_cast<uint8_t>(c - 'A' + 'a') : c;
}

// How often a byte turns up in English news text, per mille, letters
// counted in both cases. Only the ranking matters: it picks the byte of
// each atom that produces the fewest candidate positions.
double ByteFrequency(uint8_t c) {
  static constexpr double kLetters[26] = {65,  12, 23, 35, 100, 18,  16, 50, 57,
                                          1.5, 6,  33, 20, 57,  60,  15, 1,  50,
                                          52,  75, 23, 8,  19,  1.5, 16, 0.7};
  if (IsAsciiLetter(c)) return kLetters[LowerByte(c) - 'a'];
  if (c == ' ') return 170;
  if (c >= '0' && c <= '9') return 5;
  if (c == ',' || c == '.') return 10;
  if (c == '\'' || c == '"' || c == '-') return 3;
  if (c >= 0x80) return 0.01;  // never in a text that gets searched
  return 0.5;
}

// How often two adjacent bytes turn up, per mille: independent bytes
// except for the most common English letter pairs, which are far more
// frequent than their letters suggest.
double PairFrequency(uint8_t first, uint8_t second) {
  static constexpr std::string_view kCommon[] = {
      "th", "he", "in", "er", "an", "re", "on", "at", "en", "nd",
      "ti", "es", "or", "te", "of", "ed", "is", "it", "al", "ar",
      "st", "to", "nt", "ng", "se", "ha", "as", "ou", "io", "le",
      "ve", "co", "me", "de", "hi", "ri", "ro", "ic", "ne", "ea",
      "ra", "ce", "li", "ch", "ll", "be", "ma", "si", "om", "ur"};
  const char pair[2] = {static_cast<char>(LowerByte(first)),
                        static_cast<char>(LowerByte(second))};
  double rate = ByteFrequency(first) * ByteFrequency(second) / 1000;
  for (std::string_view common : kCommon) {
    if (common == std::string_view(pair, 2)) rate = std::max(rate, 10.0);
  }
  return rate;
}

}  // namespace

LiteralPrefilter::LiteralPrefilter()
    : filter_(std::make_unique<re2::FilteredRE2>()) {}
LiteralPrefilter::~LiteralPrefilter() = default;
LiteralPrefilter::LiteralPrefilter(LiteralPrefilter&&) noexcept = default;
LiteralPrefilter& LiteralPrefilter::operator=(LiteralPrefilter&&) noexcept =
    default;

bool LiteralPrefilter::Add(std::string_view pattern,
                           const RE2::Options& options) {
  int id = 0;
  if (filter_->Add(re2::StringPiece(pattern.data(), pattern.size()), options,
                   &id) != RE2::NoError) {
    add_failed_ = true;
    return false;
  }
  return true;
}

void LiteralPrefilter::Compile() {
  compiled_ = true;
  if (filter_->NumRegexps() == 0) {
    // Nothing can match: every text is filtered out.
    filters_ = !add_failed_;
    return;
  }
  filter_->Compile(&atoms_);
  // A pattern without atoms passes the filter whatever the text holds.
  std::vector<int> none, potentials;
  filter_->AllPotentials(none, &potentials);
  filters_ = !add_failed_ && potentials.empty();
  if (!filters_) return;
  // Each atom gets the anchor that costs least: a new anchor adds compares
  // to every block of every text (shared by all the atoms that hold it), a
  // common one makes blocks take the slow path (estimated per 2 KB of
  // text, in nanoseconds).
  auto find_anchor = [&](uint8_t b0, int b1) {
    return std::find_if(
        anchors_.begin(), anchors_.end(), [&](const Anchor& anchor) {
          return anchor.wanted[0][0] == b0 &&
                 (anchor.pair ? anchor.wanted[1][0] == b1 : b1 < 0);
        });
  };
  auto key_at = [](const std::string& atom, size_t i, bool pair) {
    const int first = LowerByte(static_cast<uint8_t>(atom[i]));
    return pair ? first << 8 | LowerByte(static_cast<uint8_t>(atom[i + 1]))
                : first | 1 << 16;
  };
  absl::flat_hash_map<int, int> atoms_holding;  // anchor key -> atoms
  for (const std::string& atom : atoms_) {
    absl::flat_hash_set<int> keys;
    for (size_t i = 0; i < atom.size(); ++i) {
      keys.insert(key_at(atom, i, false));
      if (i + 1 < atom.size()) keys.insert(key_at(atom, i, true));
    }
    for (int key : keys) ++atoms_holding[key];
  }
  for (size_t a = 0; a < atoms_.size(); ++a) {
    const std::string& atom = atoms_[a];
    if (atom.empty()) {  // matches every text
      filters_ = false;
      anchors_.clear();
      return;
    }
    size_t best = 0;
    int best_second = -1;
    double best_cost = 0;
    for (size_t i = 0; i < atom.size(); ++i) {
      const uint8_t c = LowerByte(static_cast<uint8_t>(atom[i]));
      for (int pair = 0; pair < 2; ++pair) {
        if (pair == 1 && i + 1 == atom.size()) break;
        const int second =
            pair == 1 ? LowerByte(static_cast<uint8_t>(atom[i + 1])) : -1;
        const double rate = pair == 1
                                ? PairFrequency(c, static_cast<uint8_t>(second))
                                : ByteFrequency(c);
        double cost = 80 * rate;
        if (find_anchor(c, second) == anchors_.end()) {
          cost += (pair == 1 ? 70.0 : 30.0) /
                  atoms_holding[key_at(atom, i, pair == 1)];
        }
        if ((i == 0 && pair == 0) || cost < best_cost) {
          best = i;
          best_second = second;
          best_cost = cost;
        }
      }
    }
    const uint8_t first = LowerByte(static_cast<uint8_t>(atom[best]));
    auto it = find_anchor(first, best_second);
    if (it == anchors_.end()) {
      Anchor anchor{};
      anchor.pair = best_second >= 0;
      const int bytes[2] = {first, best_second};
      for (int k = 0; k < (anchor.pair ? 2 : 1); ++k) {
        const uint8_t byte = static_cast<uint8_t>(bytes[k]);
        std::fill_n(anchor.wanted[k], 16, byte);
        std::fill_n(anchor.fold[k], 16, IsAsciiLetter(byte) ? 0x20 : 0);
      }
      anchors_.push_back(std::move(anchor));
      it = anchors_.end() - 1;
    }
    it->probes.push_back(
        Probe{static_cast<uint32_t>(a), static_cast<uint32_t>(best)});
  }
}

std::vector<std::string> LiteralPrefilter::anchors() const {
  std::vector<std::string> out;
  for (const Anchor& anchor : anchors_) {
    std::string bytes(1, static_cast<char>(anchor.wanted[0][0]));
    if (anchor.pair) bytes.push_back(static_cast<char>(anchor.wanted[1][0]));
    out.push_back(std::move(bytes));
  }
  return out;
}

void LiteralPrefilter::Verify(std::string_view text, size_t pos,
                              const Anchor& anchor,
                              std::vector<int>* found) const {
  for (const Probe& probe : anchor.probes) {
    const std::string& atom = atoms_[probe.atom];
    if (pos < probe.offset) continue;
    const size_t start = pos - probe.offset;
    if (atom.size() > text.size() - start) continue;
    bool equal = true;
    for (size_t i = 0; i < atom.size() && equal; ++i) {
      equal = LowerByte(static_cast<uint8_t>(text[start + i])) ==
              static_cast<uint8_t>(atom[i]);
    }
    if (equal && std::find(found->begin(), found->end(),
                           static_cast<int>(probe.atom)) == found->end()) {
      found->push_back(static_cast<int>(probe.atom));
    }
  }
}

namespace {

// 0xff at each of the 16 positions of `block` where `anchor` starts;
// `next` is the block one byte further on.
template <typename Anchor>
inline __m128i BlockMatch(const Anchor& anchor, __m128i block, __m128i next) {
  auto load = [](const uint8_t* bytes) {
    return _mm_load_si128(reinterpret_cast<const __m128i*>(bytes));
  };
  __m128i match = _mm_cmpeq_epi8(_mm_or_si128(block, load(anchor.fold[0])),
                                 load(anchor.wanted[0]));
  if (anchor.pair) {
    match = _mm_and_si128(
        match, _mm_cmpeq_epi8(_mm_or_si128(next, load(anchor.fold[1])),
                              load(anchor.wanted[1])));
  }
  return match;
}

}  // namespace

bool LiteralPrefilter::MayMatch(std::string_view text) const {
  if (!compiled_ || !filters_) return true;
  if (anchors_.empty()) return false;  // no patterns at all
  std::vector<int> found;              // allocates only once an atom turns up
  const size_t n = text.size();
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  // The positions i .. i + 15 (those below `valid` of them); `next` is the
  // block one byte on, for the second byte of a pair. False when the block
  // holds a non-ASCII byte: Unicode case folding could matter, so pass.
  auto block_at = [&](size_t i, __m128i block, __m128i next, unsigned valid) {
    if (_mm_movemask_epi8(block) != 0) return false;
    // Most blocks hold no anchor: one test for all of them, then each
    // anchor again for the blocks that do.
    __m128i hits = _mm_setzero_si128();
    for (const Anchor& anchor : anchors_)
      hits = _mm_or_si128(hits, BlockMatch(anchor, block, next));
    if ((static_cast<unsigned>(_mm_movemask_epi8(hits)) & valid) == 0)
      return true;
    for (const Anchor& anchor : anchors_) {
      for (unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(
                               BlockMatch(anchor, block, next))) &
                           valid;
           mask != 0; mask &= mask - 1) {
        Verify(text, i + static_cast<size_t>(std::countr_zero(mask)), anchor,
               &found);
      }
    }
    return true;
  };
  auto load = [](const uint8_t* p) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  };
  size_t i = 0;
  for (; i + 17 <= n; i += 16) {
    if (!block_at(i, load(bytes + i), load(bytes + i + 1), 0xffff)) return true;
  }
  if (i < n) {
    // The last 1 to 16 positions, from a zero-padded copy: a zero byte
    // starts no anchor that Verify would accept past the end.
    alignas(16) uint8_t tail[32] = {};
    std::memcpy(tail, bytes + i, n - i);
    if (!block_at(i, load(tail), load(tail + 1), (1u << (n - i)) - 1))
      return true;
  }
  if (found.empty()) return false;
  std::vector<int> potentials;
  filter_->AllPotentials(found, &potentials);
  return !potentials.empty();
}

}  // namespace storyd
