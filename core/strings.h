// Small string helpers over std::string_view.
//
// Debian's abseil is built with its own absl::string_view (not an alias of
// std::string_view), so absl::StrCat, StrSplit and friends do not accept
// std::string_view. The project uses std::string_view throughout and these
// few helpers instead; absl::StrFormat, which accepts both, covers the rest.
#ifndef STORYD_CORE_STRINGS_H_
#define STORYD_CORE_STRINGS_H_

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace storyd {

namespace strings_internal {
inline void Append(std::string* out, std::string_view piece) {
  out->append(piece);
}
inline void Append(std::string* out, char c) { out->push_back(c); }
template <typename Integer,
          typename = std::enable_if_t<std::is_integral_v<Integer> &&
                                      !std::is_same_v<Integer, char>>>
void Append(std::string* out, Integer value) {
  out->append(std::to_string(value));
}
}  // namespace strings_internal

// Concatenates strings, characters and integers.
template <typename... Pieces>
std::string StrCat(const Pieces&... pieces) {
  std::string out;
  (strings_internal::Append(&out, pieces), ...);
  return out;
}

// Splits `text` at every `separator`; with skip_empty, empty pieces are
// dropped. The pieces point into `text`.
std::vector<std::string_view> Split(std::string_view text, char separator,
                                    bool skip_empty = false);

// Calls on_piece(piece) for each non-empty piece of `text` between
// `separator`s, in order: Split(text, separator, true) without the vector.
template <typename OnPiece>
void ForEachNonEmptyPiece(std::string_view text, char separator,
                          OnPiece on_piece) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(separator, pos);
    if (end == std::string_view::npos) end = text.size();
    if (end > pos) on_piece(text.substr(pos, end - pos));
    pos = end + 1;
  }
}

// Appends `value` as 16 lowercase hex digits, as StrFormat("%016x") would:
// story ids and fingerprints, twice an output record, where StrFormat's
// parsing of its format was 4 % of the daemon's ordered stage.
inline void AppendHex16(uint64_t value, std::string* out) {
  char digits[16];
  for (int i = 15; i >= 0; --i) {
    digits[i] = "0123456789abcdef"[value & 0xf];
    value >>= 4;
  }
  out->append(digits, sizeof(digits));
}

// Appends `value` with `decimals` digits after the point, exactly as
// StrFormat("%.*f") would (std::to_chars with a precision is specified as
// printf's conversion): the scores of every output record, where
// StrFormat("%.4f") was 2.6 % of the daemon's main thread at saturation.
inline void AppendFixed(double value, int decimals, std::string* out) {
  // printf takes a negative precision as none given: 6 digits.
  if (decimals < 0) decimals = 6;
  char digits[64];
  std::to_chars_result result =
      std::to_chars(digits, digits + sizeof(digits), value,
                    std::chars_format::fixed, decimals);
  if (result.ec == std::errc()) {
    out->append(digits, result.ptr);
    return;
  }
  // A double has up to 309 digits before the point.
  std::string wide(320 + static_cast<size_t>(decimals), '\0');
  result = std::to_chars(wide.data(), wide.data() + wide.size(), value,
                         std::chars_format::fixed, decimals);
  out->append(wide.data(), result.ptr);
}

// `text` without leading and trailing ASCII whitespace.
std::string_view StripAsciiWhitespace(std::string_view text);

// Parses a decimal integer that is all of `text`.
template <typename Integer>
bool ParseInteger(std::string_view text, Integer* out) {
  const char* end = text.data() + text.size();
  auto [ptr, error] = std::from_chars(text.data(), end, *out);
  return error == std::errc() && ptr == end && !text.empty();
}

inline bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

inline bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.starts_with(prefix);
}

inline bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.ends_with(suffix);
}

inline char AsciiLower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// `text` with ASCII letters lower-cased; other bytes unchanged.
std::string AsciiLowercase(std::string_view text);

// Case-insensitive (ASCII letters only) substring test.
bool ContainsIgnoreCase(std::string_view haystack, std::string_view needle);

}  // namespace storyd

#endif  // STORYD_CORE_STRINGS_H_
