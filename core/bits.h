// Copyright 2024 The storyd Authors.
//
// Bit counting that stays inline on every x86-64: without -mpopcnt (the
// project targets the x86-64 baseline), std::popcount compiles to a call
// into libgcc, which was 7 % of a copy-heavy profile.

#ifndef STORYD_CORE_BITS_H_
#define STORYD_CORE_BITS_H_

#include <bit>
#include <cstdint>

namespace storyd {

inline int PopCount64(uint64_t x) {
#if defined(__POPCNT__)
  return std::popcount(x);
#else
  // Sums of bits in pairs, nibbles, then bytes; the multiply adds the bytes.
  x = x - ((x >> 1) & 0x5555555555555555ULL);
  x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
  return static_cast<int>((x * 0x0101010101010101ULL) >> 56);
#endif
}

}  // namespace storyd

#endif  // STORYD_CORE_BITS_H_
