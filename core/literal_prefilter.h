// A literal prefilter for a group of RE2 patterns: tells cheaply that no
// pattern of the group can match a text, so the regex pass can be skipped.
//
// re2's FilteredRE2 derives, for each pattern, the strings (atoms) that any
// match must contain, as an AND/OR tree; a text holding none of the atoms
// that would satisfy some pattern's tree matches no pattern. FilteredRE2
// leaves finding the atoms in a text to its user: here one byte of each
// atom, or two adjacent ones (whichever is rarer in English text), is looked
// for 16 positions at a time with SSE2, and the atom is compared where they
// turn up.
//
// The answer is conservative: MayMatch() is false only when no pattern can
// match. It is true for any text with a non-ASCII byte (atoms are
// lowercased by Unicode rules, which a byte-wise search does not follow),
// and always when some pattern yields no atoms at all.
//
// Example:
//   LiteralPrefilter prefilter;
//   prefilter.Add("\\[(?i:ad|ads)\\]", options);
//   prefilter.Compile();
//   if (prefilter.MayMatch(line)) { ... run the real regex pass ... }
//
// Thread safety: immutable after Compile(); MayMatch() may be called from
// any number of threads at once.
#ifndef STORYD_CORE_LITERAL_PREFILTER_H_
#define STORYD_CORE_LITERAL_PREFILTER_H_

#include <re2/filtered_re2.h>
#include <re2/re2.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace storyd {

class LiteralPrefilter {
 public:
  LiteralPrefilter();
  ~LiteralPrefilter();
  LiteralPrefilter(LiteralPrefilter&&) noexcept;
  LiteralPrefilter& operator=(LiteralPrefilter&&) noexcept;

  // Adds a pattern, compiled with `options` exactly as the regex pass will
  // run it. Returns false when RE2 rejects the pattern (the prefilter then
  // stays conservative: MayMatch() answers true).
  bool Add(std::string_view pattern, const RE2::Options& options);
  // Call once, after the last Add.
  void Compile();

  // False only when no added pattern can match anywhere in `text`.
  bool MayMatch(std::string_view text) const;

  // Whether the prefilter can ever answer false (every pattern has atoms).
  bool filters() const { return filters_; }
  // The atoms (lowercased), for tests and diagnostics.
  const std::vector<std::string>& atoms() const { return atoms_; }
  // The bytes looked for (one or two each, lowercase), for the same.
  std::vector<std::string> anchors() const;

 private:
  struct Probe {
    uint32_t atom;    // index into atoms_
    uint32_t offset;  // of the anchor's first byte in the atom
  };
  // One byte, or two adjacent bytes, looked for, and the atoms they anchor.
  // A letter is compared case-insensitively: byte | 0x20 against its
  // lowercase (fold 0x20); any other byte exactly (fold 0).
  struct Anchor {
    alignas(16) uint8_t fold[2][16];
    alignas(16) uint8_t wanted[2][16];
    bool pair;
    std::vector<Probe> probes;
  };

  // Appends to *found the atoms anchored at `pos` that occur in `text`.
  void Verify(std::string_view text, size_t pos, const Anchor& anchor,
              std::vector<int>* found) const;

  std::unique_ptr<re2::FilteredRE2> filter_;
  bool compiled_ = false;
  bool filters_ = false;
  bool add_failed_ = false;
  std::vector<std::string> atoms_;
  std::vector<Anchor> anchors_;
};

}  // namespace storyd

#endif  // STORYD_CORE_LITERAL_PREFILTER_H_
