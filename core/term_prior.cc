#include "core/term_prior.h"

// XXH3 inlined: a call into libxxhash per token costs as much as hashing it.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <bit>
#include <charconv>
#include <cstring>
#include <utility>

#include "core/strings.h"

namespace storyd {

uint64_t TermHash(std::string_view token) {
  return XXH3_64bits(token.data(), token.size());
}

void TermHashes(absl::Span<const std::string_view> tokens,
                std::vector<uint64_t>* hashes) {
  hashes->resize(tokens.size());
  uint64_t* out = hashes->data();
  for (std::string_view token : tokens) *out++ = TermHash(token);
}

absl::StatusOr<TermPrior> TermPrior::Parse(std::string_view table) {
  // Zipf x 100 must fit the value bits of a slot.
  constexpr float kMaxZipf = 12;
  static_assert(kMaxZipf * 100 + 0.5f < kValueMask + 1);
  std::vector<std::pair<uint64_t, uint16_t>> entries;
  int line_number = 0;
  for (std::string_view line : Split(table, '\n')) {
    ++line_number;
    if (line.empty() || line[0] == '#') continue;
    size_t tab = line.find('\t');
    float zipf = 0;
    const char* end = line.data() + line.size();
    if (tab == std::string_view::npos || tab == 0 ||
        std::from_chars(line.data() + tab + 1, end, zipf).ptr != end ||
        !(zipf >= 0 && zipf <= kMaxZipf)) {  // NaN fails both
      return absl::InvalidArgumentError(
          StrCat("term prior line ", line_number, ": expected term<TAB>zipf"));
    }
    entries.emplace_back(TermHash(line.substr(0, tab)),
                         static_cast<uint16_t>(zipf * 100 + 0.5f));
  }
  TermPrior prior;
  // At most half full: short probes, also for the words it does not know.
  const size_t slots = std::bit_ceil(2 * entries.size() + 2);
  prior.owned_slots_.assign(slots, 0);
  prior.slots_ = prior.owned_slots_.data();
  prior.slot_count_ = slots;
  prior.shift_ = 64 - std::countr_zero(slots);
  for (const auto& [hash, zipf_centi] : entries) prior.Set(hash, zipf_centi);
  return prior;
}

void TermPrior::Set(uint64_t term_hash, uint16_t zipf_centi) {
  if ((term_hash & ~kValueMask) == 0) {
    if (!low_key_zipf_centi_.has_value()) ++size_;
    low_key_zipf_centi_ = zipf_centi;
    return;
  }
  const size_t slot = SlotOf(term_hash);
  if (owned_slots_[slot] == 0) ++size_;
  owned_slots_[slot] = (term_hash & ~kValueMask) | zipf_centi;
}

namespace {

// The packed table's header; the slots follow it.
struct PackedHeader {
  char magic[8];  // kPackedMagic
  uint64_t slot_count;
  uint64_t size;
  uint64_t low_key_zipf_centi;  // kNoLowKey when there is none
};
constexpr char kPackedMagic[8] = {'s', 't', 'p', 'r', 'i', 'o', 'r', '1'};
constexpr uint64_t kNoLowKey = UINT64_MAX;

}  // namespace

std::string TermPrior::Pack() const {
  PackedHeader header{};
  std::memcpy(header.magic, kPackedMagic, sizeof(kPackedMagic));
  header.slot_count = slot_count_;
  header.size = size_;
  header.low_key_zipf_centi =
      low_key_zipf_centi_.has_value() ? *low_key_zipf_centi_ : kNoLowKey;
  std::string packed(reinterpret_cast<const char*>(&header), sizeof(header));
  packed.append(reinterpret_cast<const char*>(slots_),
                slot_count_ * sizeof(uint64_t));
  return packed;
}

absl::StatusOr<TermPrior> TermPrior::View(std::string_view packed) {
  PackedHeader header{};
  if (packed.size() < sizeof(header)) {
    return absl::InvalidArgumentError("packed term prior: no header");
  }
  std::memcpy(&header, packed.data(), sizeof(header));
  const uint64_t slot_count = header.slot_count;
  if (std::memcmp(header.magic, kPackedMagic, sizeof(kPackedMagic)) != 0 ||
      (slot_count != 0 &&
       (!std::has_single_bit(slot_count) || slot_count < 2)) ||
      header.size > slot_count + 1 ||
      (header.low_key_zipf_centi != kNoLowKey &&
       header.low_key_zipf_centi > kValueMask) ||
      (packed.size() - sizeof(header)) / sizeof(uint64_t) != slot_count ||
      (packed.size() - sizeof(header)) % sizeof(uint64_t) != 0) {
    return absl::InvalidArgumentError("packed term prior: bad header");
  }
  const char* slots = packed.data() + sizeof(header);
  if (reinterpret_cast<uintptr_t>(slots) % alignof(uint64_t) != 0) {
    return absl::InvalidArgumentError("packed term prior: misaligned");
  }
  TermPrior prior;
  prior.slots_ =
      slot_count == 0 ? nullptr : reinterpret_cast<const uint64_t*>(slots);
  prior.slot_count_ = slot_count;
  prior.shift_ = slot_count == 0 ? 64 : 64 - std::countr_zero(slot_count);
  prior.size_ = header.size;
  if (header.low_key_zipf_centi != kNoLowKey) {
    prior.low_key_zipf_centi_ =
        static_cast<uint16_t>(header.low_key_zipf_centi);
  }
  return prior;
}

}  // namespace storyd
