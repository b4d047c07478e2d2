// The slot-stamp protocol shared by the lock-free rings (FingerprintIndex,
// ShingleWindow), and the hash mixer they use for bucket placement.
//
// A slot's 64-bit stamp is (slot number << 2) | state:
//   kWriting  its owner is storing the fields; readers must not use them
//   kLinking  fields published; its owner is still linking it into chains
//   kDone     owner finished; a writer with a newer number may take it over
// Fields change only in kWriting, links only in kLinking (by the owner).
#ifndef STORYD_CORE_RING_STAMP_H_
#define STORYD_CORE_RING_STAMP_H_

#include <cstdint>

namespace storyd::ring {

inline constexpr uint64_t kDone = 0;
inline constexpr uint64_t kLinking = 1;
inline constexpr uint64_t kWriting = 3;

inline uint64_t MakeStamp(uint64_t number, uint64_t state) {
  return (number << 2) | state;
}

// The fields of slot `number` are published (linking or done).
inline bool Readable(uint64_t stamp, uint64_t number) {
  return (stamp >> 2) == number && (stamp & 3) != kWriting;
}

// A writer with `number` may take the slot: its owner finished and is older.
inline bool Takeable(uint64_t stamp, uint64_t number) {
  return (stamp & 3) == kDone && (stamp >> 2) < number;
}

// Murmur3's finalizer: a cheap, well-mixing 64-bit bijection.
inline uint64_t Mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

}  // namespace storyd::ring

#endif  // STORYD_CORE_RING_STAMP_H_
