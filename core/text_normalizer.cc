#include "core/text_normalizer.h"

#include <utf8proc.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <span>

#include "core/bits.h"
#include "core/strings.h"

namespace storyd {
namespace {

// Appends code point `cp` as UTF-8.
void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
    return;
  }
  char bytes[4];
  size_t length;
  if (cp < 0x800) {
    bytes[0] = static_cast<char>(0xC0 | (cp >> 6));
    bytes[1] = static_cast<char>(0x80 | (cp & 0x3F));
    length = 2;
  } else if (cp < 0x10000) {
    bytes[0] = static_cast<char>(0xE0 | (cp >> 12));
    bytes[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    bytes[2] = static_cast<char>(0x80 | (cp & 0x3F));
    length = 3;
  } else {
    bytes[0] = static_cast<char>(0xF0 | (cp >> 18));
    bytes[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    bytes[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    bytes[3] = static_cast<char>(0x80 | (cp & 0x3F));
    length = 4;
  }
  out->append(bytes, length);
}

// Decodes one code point at text[*pos], advancing *pos. Invalid bytes
// decode as U+FFFD and advance by one byte.
char32_t DecodeUtf8(std::string_view text, size_t* pos) {
  utf8proc_int32_t cp = 0;
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  utf8proc_ssize_t n = utf8proc_iterate(
      bytes + *pos, static_cast<utf8proc_ssize_t>(text.size() - *pos), &cp);
  if (n <= 0) {
    *pos += 1;
    return 0xFFFD;
  }
  *pos += static_cast<size_t>(n);
  return static_cast<char32_t>(cp);
}

struct NamedEntity {
  std::string_view name;
  char32_t code_point;
};

// The entities scrapers leave in text; anything else is kept verbatim.
constexpr NamedEntity kNamedEntities[] = {
    {"amp", '&'},      {"lt", '<'},       {"gt", '>'},        {"quot", '"'},
    {"apos", '\''},    {"nbsp", 0xA0},    {"ndash", 0x2013},  {"mdash", 0x2014},
    {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201C},  {"rdquo", 0x201D},
    {"sbquo", 0x201A}, {"bdquo", 0x201E}, {"hellip", 0x2026}, {"laquo", 0xAB},
    {"raquo", 0xBB},   {"shy", 0xAD},     {"copy", 0xA9},     {"reg", 0xAE},
    {"trade", 0x2122}, {"euro", 0x20AC},  {"pound", 0xA3},    {"eacute", 0xE9},
    {"zwj", 0x200D},   {"zwnj", 0x200C},  {"thinsp", 0x2009}, {"ensp", 0x2002},
    {"emsp", 0x2003},  {"middot", 0xB7},
};

// Parses an entity starting at text[pos] == '&'. On success returns the
// code point and sets *length to the entity's byte length.
bool ParseEntity(std::string_view text, size_t pos, char32_t* cp,
                 size_t* length) {
  size_t semicolon = text.find(';', pos + 1);
  if (semicolon == std::string_view::npos || semicolon - pos > 10) return false;
  std::string_view body = text.substr(pos + 1, semicolon - pos - 1);
  if (body.empty()) return false;
  if (body[0] == '#') {
    std::string_view digits = body.substr(1);
    int base = 10;
    if (!digits.empty() && (digits[0] == 'x' || digits[0] == 'X')) {
      base = 16;
      digits.remove_prefix(1);
    }
    if (digits.empty()) return false;
    uint32_t value = 0;
    for (char c : digits) {
      int digit;
      if (c >= '0' && c <= '9') {
        digit = c - '0';
      } else if (base == 16 && c >= 'a' && c <= 'f') {
        digit = c - 'a' + 10;
      } else if (base == 16 && c >= 'A' && c <= 'F') {
        digit = c - 'A' + 10;
      } else {
        return false;
      }
      value = value * base + digit;
      if (value > 0x10FFFF) return false;
    }
    if (value == 0 || (value >= 0xD800 && value <= 0xDFFF)) return false;
    *cp = value;
    *length = semicolon - pos + 1;
    return true;
  }
  for (const NamedEntity& entity : kNamedEntities) {
    if (entity.name == body) {
      *cp = entity.code_point;
      *length = semicolon - pos + 1;
      return true;
    }
  }
  return false;
}

// What a code point becomes after typography folding.
enum class Fold {
  kKeep,
  kDrop,
  kSpace,
  kSingleQuote,
  kDoubleQuote,
  kDash,
  kEllipsis
};

Fold ClassifyTypography(char32_t cp) {
  switch (cp) {
    case 0x2018:
    case 0x2019:
    case 0x201A:
    case 0x201B:
    case 0x2032:
    case 0x00B4:
    case 0x02BC:
    case 0xFF07:
      return Fold::kSingleQuote;
    case 0x201C:
    case 0x201D:
    case 0x201E:
    case 0x201F:
    case 0x2033:
    case 0x00AB:
    case 0x00BB:
    case 0x2039:
    case 0x203A:
    case 0xFF02:
      return Fold::kDoubleQuote;
    case 0x2010:
    case 0x2011:
    case 0x2012:
    case 0x2013:
    case 0x2014:
    case 0x2015:
    case 0x2212:
    case 0xFE58:
    case 0xFE63:
    case 0xFF0D:
      return Fold::kDash;
    case 0x00A0:
    case 0x1680:
    case 0x202F:
    case 0x205F:
    case 0x3000:
    case '\t':
    case '\v':
    case '\f':
      return Fold::kSpace;
    case 0x200B:
    case 0x200C:
    case 0x200D:
    case 0x2060:
    case 0xFEFF:
    case 0x00AD:
    case '\r':
      return Fold::kDrop;
    case 0x2026:
      return Fold::kEllipsis;
    default:
      if (cp >= 0x2000 && cp <= 0x200A) return Fold::kSpace;
      return Fold::kKeep;
  }
}

// Byte classes of the ASCII fast paths.
enum ByteClass : uint8_t {
  kOther = 0,           // a non-ASCII byte, or an ASCII byte with its own rule
  kFoldPlain = 1,       // FoldTypography keeps the byte as it is
  kWordByte = 2,        // an ASCII letter or digit: part of a word
  kAsciiSeparator = 4,  // any other ASCII byte: ends a word
};

constexpr std::array<uint8_t, 256> MakeByteClasses() {
  std::array<uint8_t, 256> classes{};
  for (int byte = 0; byte < 0x80; ++byte) {
    // The ASCII bytes FoldTypography treats specially: entities, the
    // spaces it collapses or drops, line breaks.
    bool special = byte == '&' || byte == ' ' || byte == '\n' || byte == '\t' ||
                   byte == '\v' || byte == '\f' || byte == '\r';
    bool word = (byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') ||
                (byte >= '0' && byte <= '9');
    classes[byte] =
        (special ? 0 : kFoldPlain) | (word ? kWordByte : kAsciiSeparator);
  }
  return classes;
}

constexpr std::array<uint8_t, 256> kByteClasses = MakeByteClasses();

uint8_t ClassOf(char c) { return kByteClasses[static_cast<unsigned char>(c)]; }

// Eight bytes at a time (SWAR). The helpers below need all eight bytes to
// be ASCII: then no per-byte addition carries into the next byte.
constexpr uint64_t kEachByte = 0x0101010101010101ull;
constexpr uint64_t kHighBits = 0x8080808080808080ull;
constexpr bool kLittleEndian = std::endian::native == std::endian::little;
constexpr uint64_t kFirstByteHigh = kLittleEndian ? 0x80ull : 0x80ull << 56;
constexpr uint64_t kLastByteHigh = kLittleEndian ? 0x80ull << 56 : 0x80ull;

// The high bit of each byte of `ascii` equal to `c`.
constexpr uint64_t BytesEqual(uint64_t ascii, uint8_t c) {
  uint64_t x = ascii ^ (kEachByte * c);  // zero bytes where equal
  return ~(x + kEachByte * 0x7F) & kHighBits;
}

// The high bit of each byte of `ascii` in [lo, hi] (lo <= hi < 0x80).
constexpr uint64_t BytesInRange(uint64_t ascii, uint8_t lo, uint8_t hi) {
  uint64_t at_least_lo = (ascii + kEachByte * (0x80 - lo)) & kHighBits;
  uint64_t above_hi = (ascii + kEachByte * (0x7F - hi)) & kHighBits;
  return at_least_lo & ~above_hi;
}

// The end of the run of ASCII bytes starting at text[pos].
size_t AsciiRunEnd(std::string_view text, size_t pos) {
  const char* data = text.data();
  while (pos + sizeof(uint64_t) <= text.size()) {
    uint64_t word;
    std::memcpy(&word, data + pos, sizeof(word));
    if ((word & kHighBits) != 0) break;
    pos += sizeof(word);
  }
  while (pos < text.size() && static_cast<unsigned char>(data[pos]) < 0x80) {
    ++pos;
  }
  return pos;
}

// The end of the run of non-ASCII bytes starting at text[pos].
size_t NonAsciiRunEnd(std::string_view text, size_t pos) {
  while (pos < text.size() && static_cast<unsigned char>(text[pos]) >= 0x80) {
    ++pos;
  }
  return pos;
}

// Appends `ascii` (bytes below 0x80) with A-Z lower-cased.
void AppendAsciiLowercase(std::string_view ascii, std::string* out) {
  size_t old_size = out->size();
  out->append(ascii);
  char* data = out->data() + old_size;
  size_t i = 0;
#ifdef __SSE2__
  // Sixteen bytes at a time; below 0x80 the signed compares are unsigned.
  const __m128i before_upper = _mm_set1_epi8('A' - 1);
  const __m128i after_upper = _mm_set1_epi8('Z' + 1);
  const __m128i case_bit = _mm_set1_epi8(0x20);
  for (; i + 16 <= ascii.size(); i += 16) {
    auto* block = reinterpret_cast<__m128i*>(data + i);
    const __m128i bytes = _mm_loadu_si128(block);
    const __m128i upper = _mm_and_si128(_mm_cmpgt_epi8(bytes, before_upper),
                                        _mm_cmplt_epi8(bytes, after_upper));
    _mm_storeu_si128(block,
                     _mm_or_si128(bytes, _mm_and_si128(upper, case_bit)));
  }
#endif
  for (char& c : std::span(data + i, ascii.size() - i)) c = AsciiLower(c);
}

// Code points for utf8proc: a fixed buffer for the usual short runs, the
// heap beyond it.
class CodePointBuffer {
 public:
  utf8proc_int32_t* data() {
    return heap_.empty() ? fixed_.data() : heap_.data();
  }
  size_t size() const { return heap_.empty() ? fixed_.size() : heap_.size(); }
  void Grow(size_t size) {
    if (size > this->size()) heap_.resize(size);
  }

 private:
  std::array<utf8proc_int32_t, 256> fixed_;
  std::vector<utf8proc_int32_t> heap_;
};

constexpr auto kMatchingOptions = static_cast<utf8proc_option_t>(
    UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD);

// Appends NFKC + case folding of `piece`, exactly as utf8proc_map with
// kMatchingOptions would return it (the same two steps without its
// allocation). False when `piece` is not valid UTF-8.
bool AppendNfkcCasefold(std::string_view piece, CodePointBuffer* buffer,
                        std::string* out) {
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(piece.data());
  const auto length = static_cast<utf8proc_ssize_t>(piece.size());
  // One entry stays free: utf8proc_reencode needs a byte beyond the input.
  utf8proc_ssize_t count = utf8proc_decompose(
      bytes, length, buffer->data(),
      static_cast<utf8proc_ssize_t>(buffer->size() - 1), kMatchingOptions);
  if (count < 0) return false;
  if (static_cast<size_t>(count) >= buffer->size()) {
    buffer->Grow(static_cast<size_t>(count) + 1);
    count = utf8proc_decompose(bytes, length, buffer->data(), count,
                               kMatchingOptions);
    if (count < 0) return false;
  }
  utf8proc_ssize_t encoded =
      utf8proc_reencode(buffer->data(), count, kMatchingOptions);
  if (encoded < 0) return false;
  out->append(reinterpret_cast<const char*>(buffer->data()),
              static_cast<size_t>(encoded));
  return true;
}

bool IsCjkIdeographic(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
         (cp >= 0x3040 && cp <= 0x309F) || (cp >= 0x30A0 && cp <= 0x30FF);
}

bool IsWordCodePoint(char32_t cp) {
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

// The end of the character at text[pos] if FoldTypography keeps it as it
// is (a visible ASCII byte, or a well-formed non-ASCII character that
// folds to itself); otherwise `pos`.
size_t KeptCharacterEnd(std::string_view text, size_t pos) {
  unsigned char byte = static_cast<unsigned char>(text[pos]);
  if (byte < 0x80) return (ClassOf(text[pos]) & kFoldPlain) ? pos + 1 : pos;
  utf8proc_int32_t cp = 0;
  utf8proc_ssize_t n = utf8proc_iterate(
      reinterpret_cast<const utf8proc_uint8_t*>(text.data()) + pos,
      static_cast<utf8proc_ssize_t>(text.size() - pos), &cp);
  // utf8proc_iterate rejects overlong forms and surrogates, so the bytes of
  // a decoded character are the ones AppendUtf8 would write for it.
  if (n <= 0 || ClassifyTypography(static_cast<char32_t>(cp)) != Fold::kKeep)
    return pos;
  return pos + static_cast<size_t>(n);
}

// The end of the run at text[pos] that FoldTypography copies byte for
// byte: kept characters (KeptCharacterEnd) with single spaces between
// them. The run neither starts nor ends with a space.
size_t KeptRunEnd(std::string_view text, size_t pos) {
  const size_t size = text.size();
  size_t end = pos;
  while (true) {
    // Whole words of visible ASCII bytes and spaces, where no space is
    // next to another, none ends the word, and none starts the run. The
    // run so far ends with a kept character, so each such space is
    // between two kept characters.
    bool stopped = false;
#ifdef __SSE2__
    // Sixteen bytes at a time, up to the first byte that stops a word
    // (rather than dropping the whole block to the character-wise steps),
    // but never past a space right before it: the run ends with a kept
    // character. (A byte >= 0x80 is negative to the signed compares, so
    // only its own mask catches it.)
    while (end + 16 <= size) {
      const __m128i block =
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(text.data() + end));
      const unsigned spaces = static_cast<unsigned>(
          _mm_movemask_epi8(_mm_cmpeq_epi8(block, _mm_set1_epi8(' '))));
      const __m128i control =
          _mm_and_si128(_mm_cmpgt_epi8(block, _mm_set1_epi8('\t' - 1)),
                        _mm_cmplt_epi8(block, _mm_set1_epi8('\r' + 1)));
      const __m128i ampersand = _mm_cmpeq_epi8(block, _mm_set1_epi8('&'));
      unsigned stop = static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(
                          block, _mm_or_si128(control, ampersand)))) |
                      (spaces & (spaces >> 1)) | (spaces & 0x8000u);
      if (end == pos) stop |= spaces & 1u;
      if (stop == 0) {
        end += 16;
        continue;
      }
      size_t kept = static_cast<size_t>(std::countr_zero(stop));
      if (kept > 0 && text[end + kept - 1] == ' ') --kept;
      end += kept;
      stopped = true;
      break;
    }
#endif
    while (!stopped && end + sizeof(uint64_t) <= size) {
      uint64_t word;
      std::memcpy(&word, text.data() + end, sizeof(word));
      if ((word & kHighBits) != 0) break;
      uint64_t spaces = BytesEqual(word, ' ');
      uint64_t stop = BytesEqual(word, '&') | BytesInRange(word, '\t', '\r') |
                      (spaces & (spaces >> 8)) | (spaces & kLastByteHigh);
      if (end == pos) stop |= spaces & kFirstByteHigh;
      if (stop != 0) break;
      end += sizeof(word);
    }
    if (end >= size) break;
    // One character (or a space and the character after it) at a time.
    size_t next = KeptCharacterEnd(text, end);
    if (next == end && text[end] == ' ' && end > pos && end + 1 < size) {
      next = KeptCharacterEnd(text, end + 1);
      if (next == end + 1) next = end;
    }
    if (next == end) break;
    end = next;
  }
  return end;
}

}  // namespace

std::string FoldTypography(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  // pending_space: a space seen since the last character written; emitted
  // only before the next visible character of the same line.
  bool pending_space = false;
  auto put_pending_space = [&] {
    if (pending_space && !out.empty() && out.back() != '\n') out.push_back(' ');
    pending_space = false;
  };
  auto put_visible = [&](char32_t cp) {
    put_pending_space();
    AppendUtf8(cp, &out);
  };
  size_t pos = 0;
  while (pos < text.size()) {
    // Fast path: a run of kept characters with single spaces between them
    // comes out byte for byte, so it is copied at once. The character-wise
    // rules below would write the same bytes.
    size_t run_end = KeptRunEnd(text, pos);
    if (run_end > pos) {
      put_pending_space();
      out.append(text.data() + pos, run_end - pos);
      pos = run_end;
      continue;
    }
    unsigned char byte = static_cast<unsigned char>(text[pos]);
    char32_t cp;
    if (byte == '&') {
      size_t length = 0;
      if (ParseEntity(text, pos, &cp, &length)) {
        pos += length;
      } else {
        cp = '&';
        pos += 1;
      }
    } else if (byte < 0x80) {
      cp = byte;
      pos += 1;
    } else {
      cp = DecodeUtf8(text, &pos);
    }
    if (cp == '\n') {
      pending_space = false;
      out.push_back('\n');
      continue;
    }
    if (cp == ' ') {
      pending_space = true;
      continue;
    }
    switch (ClassifyTypography(cp)) {
      case Fold::kKeep:
        put_visible(cp);
        break;
      case Fold::kDrop:
        break;
      case Fold::kSpace:
        pending_space = true;
        break;
      case Fold::kSingleQuote:
        put_visible('\'');
        break;
      case Fold::kDoubleQuote:
        put_visible('"');
        break;
      case Fold::kDash:
        put_visible('-');
        break;
      case Fold::kEllipsis:
        put_visible('.');
        out.append("..");
        break;
    }
  }
  return out;
}

std::string NormalizeForMatching(std::string_view text) {
  // NFKC leaves ASCII as it is and case folding lower-cases A-Z, so ASCII
  // runs are only lower-cased; the rest goes through utf8proc. ASCII
  // characters are starters (combining class 0) that never compose with a
  // preceding character, so the text can be cut right before any ASCII
  // byte without changing the result. An ASCII character can compose with
  // the marks after it (e + U+0301), so the one before a non-ASCII run is
  // normalized together with the run.
  std::string out;
  out.reserve(text.size());
  CodePointBuffer buffer;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t non_ascii = AsciiRunEnd(text, pos);
    if (non_ascii == text.size()) {
      AppendAsciiLowercase(text.substr(pos), &out);
      break;
    }
    size_t piece_start = non_ascii > pos ? non_ascii - 1 : non_ascii;
    AppendAsciiLowercase(text.substr(pos, piece_start - pos), &out);
    size_t piece_end = NonAsciiRunEnd(text, non_ascii);
    if (!AppendNfkcCasefold(text.substr(piece_start, piece_end - piece_start),
                            &buffer, &out)) {
      // Only invalid UTF-8 fails; fall back to ASCII lower-casing of the
      // bytes so that matching still sees the text. A multi-byte sequence
      // never contains an ASCII byte, so a piece is invalid exactly when
      // the whole text is.
      return AsciiLowercase(text);
    }
    pos = piece_end;
  }
  return out;
}

namespace {

// Bit i set when bytes[i] (of 64) is an ASCII letter or digit. False when
// the 64 bytes are not all ASCII.
#ifdef __SSE2__
// Sixteen bytes at a time: with every byte below 0x80, signed compares are
// the unsigned ones, and setting bit 5 maps 'A'-'Z' onto 'a'-'z' and no
// other byte into that range. About a third of the SWAR version's work;
// tokenizing and word counting run on it.
bool AsciiWordMask64(const char* bytes, uint64_t* mask) {
  __m128i blocks[4];
  __m128i any = _mm_setzero_si128();
  for (int i = 0; i < 4; ++i) {
    blocks[i] =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes + 16 * i));
    any = _mm_or_si128(any, blocks[i]);
  }
  if (_mm_movemask_epi8(any) != 0) return false;
  const __m128i before_0 = _mm_set1_epi8('0' - 1);
  const __m128i after_9 = _mm_set1_epi8('9' + 1);
  const __m128i before_a = _mm_set1_epi8('a' - 1);
  const __m128i after_z = _mm_set1_epi8('z' + 1);
  const __m128i case_bit = _mm_set1_epi8(0x20);
  uint64_t result = 0;
  for (int i = 0; i < 4; ++i) {
    const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(blocks[i], before_0),
                                        _mm_cmplt_epi8(blocks[i], after_9));
    const __m128i lower = _mm_or_si128(blocks[i], case_bit);
    const __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(lower, before_a),
                                         _mm_cmplt_epi8(lower, after_z));
    const auto bits =
        static_cast<uint16_t>(_mm_movemask_epi8(_mm_or_si128(digit, letter)));
    result |= static_cast<uint64_t>(bits) << (16 * i);
  }
  *mask = result;
  return true;
}
#else
// Eight bytes at `bytes` with the first byte in the low bits, whatever the
// machine's byte order.
uint64_t LoadLittleEndian(const char* bytes) {
  uint64_t word;
  std::memcpy(&word, bytes, sizeof(word));
  if constexpr (!kLittleEndian) word = __builtin_bswap64(word);
  return word;
}

bool AsciiWordMask64(const char* bytes, uint64_t* mask) {
  uint64_t words[8];
  uint64_t any_high = 0;
  for (int i = 0; i < 8; ++i) {
    words[i] = LoadLittleEndian(bytes + 8 * i);
    any_high |= words[i];
  }
  if ((any_high & kHighBits) != 0) return false;
  uint64_t result = 0;
  for (int i = 0; i < 8; ++i) {
    uint64_t high = BytesInRange(words[i], '0', '9') |
                    BytesInRange(words[i], 'A', 'Z') |
                    BytesInRange(words[i], 'a', 'z');
    // Gathers the high bit of byte k into bit 56 + k.
    uint64_t bits = ((high >> 7) * 0x0102040810204080ull) >> 56;
    result |= bits << (8 * i);
  }
  *mask = result;
  return true;
}
#endif

// The 64 bytes of `text` from `pos`; fewer at the end, copied into
// `padded` after them NULs, which end a word as the end of the text does.
const char* BlockAt(std::string_view text, size_t pos, char (&padded)[64]) {
  const char* block = text.data() + pos;
  if (text.size() - pos >= 64) return block;
  std::memset(padded, 0, sizeof(padded));
  std::memcpy(padded, block, text.size() - pos);
  return padded;
}

// Calls on_word(begin, end) for each word of `text`, in order, until it
// returns false. Returns false when stopped early.
template <typename OnWord>
bool ScanWords(std::string_view text, OnWord on_word) {
  const size_t size = text.size();
  size_t pos = 0;
  size_t word_start = std::string_view::npos;  // of the open word, if any
  while (pos < size) {
    char padded[64];
    uint64_t mask;
    if (AsciiWordMask64(BlockAt(text, pos, padded), &mask)) {
      // 64 ASCII bytes: words start and end where the mask changes.
      uint64_t open = word_start != std::string_view::npos ? 1 : 0;
      uint64_t previous = (mask << 1) | open;  // bit i: byte i - 1 in a word
      uint64_t starts = mask & ~previous;
      uint64_t ends = ~mask & previous;
      // Starts and ends alternate; an open word ends first.
      if (open) {
        if (ends == 0) {
          pos += 64;
          continue;
        }
        if (!on_word(word_start, pos + std::countr_zero(ends))) return false;
        ends &= ends - 1;
        word_start = std::string_view::npos;
      }
      while (starts != 0) {
        size_t start = pos + std::countr_zero(starts);
        starts &= starts - 1;
        if (ends == 0) {
          word_start = start;
          break;
        }
        if (!on_word(start, pos + std::countr_zero(ends))) return false;
        ends &= ends - 1;
      }
      pos += 64;
      continue;
    }
    // Character by character up to the next block of 64 bytes (or the
    // end); a character may reach past it.
    const size_t block_end = std::min(size, pos + 64);
    while (pos < block_end) {
      uint8_t byte_class = ClassOf(text[pos]);
      if (byte_class & kWordByte) {
        if (word_start == std::string_view::npos) word_start = pos;
        ++pos;
        continue;
      }
      if (byte_class & kAsciiSeparator) {
        if (word_start != std::string_view::npos) {
          if (!on_word(word_start, pos)) return false;
          word_start = std::string_view::npos;
        }
        ++pos;
        continue;
      }
      size_t start = pos;
      char32_t cp = DecodeUtf8(text, &pos);
      bool cjk = IsCjkIdeographic(cp);
      if (!cjk && IsWordCodePoint(cp)) {
        if (word_start == std::string_view::npos) word_start = start;
        continue;
      }
      if (word_start != std::string_view::npos) {
        if (!on_word(word_start, start)) return false;
        word_start = std::string_view::npos;
      }
      if (cjk && !on_word(start, pos)) return false;
    }
  }
  if (word_start != std::string_view::npos) return on_word(word_start, size);
  return true;
}

}  // namespace

void Tokenize(std::string_view text, std::vector<std::string_view>* tokens) {
  ScanWords(text, [&](size_t begin, size_t end) {
    tokens->push_back(text.substr(begin, end - begin));
    return true;
  });
}

bool HasMoreWordsThan(std::string_view text, size_t limit) {
  // ASCII text, the usual case, is counted block by block: the words that
  // start in 64 bytes are one popcount of the word mask, so a paragraph is
  // settled after a block or two with no work per word. A block with other
  // bytes hands the whole text to the general scan.
  size_t words = 0;
  uint64_t open = 0;  // 1 when the byte before the block is in a word
  for (size_t pos = 0; pos < text.size(); pos += 64) {
    char padded[64];
    uint64_t mask;
    if (!AsciiWordMask64(BlockAt(text, pos, padded), &mask)) {
      words = 0;
      return !ScanWords(text, [&](size_t, size_t) { return ++words <= limit; });
    }
    words += static_cast<size_t>(PopCount64(mask & ~((mask << 1) | open)));
    if (words > limit) return true;
    open = mask >> 63;
  }
  return false;
}

bool IsValidUtf8(std::string_view text) {
  size_t pos = 0;
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  while (pos < text.size()) {
    if (bytes[pos] < 0x80) {
      ++pos;
      continue;
    }
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate(
        bytes + pos, static_cast<utf8proc_ssize_t>(text.size() - pos), &cp);
    if (n <= 0) return false;
    pos += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace storyd
