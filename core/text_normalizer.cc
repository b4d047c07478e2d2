#include "core/text_normalizer.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "core/strings.h"

namespace storyd {
namespace {

// Appends code point `cp` as UTF-8.
void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
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

bool IsAsciiWordByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9');
}

}  // namespace

std::string FoldTypography(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  // pending_space: a space seen since the last character written; emitted
  // only before the next visible character of the same line.
  bool pending_space = false;
  auto put_visible = [&](char32_t cp) {
    if (pending_space && !out.empty() && out.back() != '\n') out.push_back(' ');
    pending_space = false;
    AppendUtf8(cp, &out);
  };
  size_t pos = 0;
  while (pos < text.size()) {
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
  bool ascii = std::all_of(text.begin(), text.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x80;
  });
  if (ascii) return AsciiLowercase(text);
  utf8proc_uint8_t* mapped = nullptr;
  utf8proc_ssize_t n = utf8proc_map(
      reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
      static_cast<utf8proc_ssize_t>(text.size()), &mapped,
      static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPAT |
                                     UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(mapped,
                                                                &std::free);
  if (n < 0) {
    // Only invalid UTF-8 fails; fall back to ASCII lower-casing of the
    // bytes so that matching still sees the text.
    return AsciiLowercase(text);
  }
  return std::string(reinterpret_cast<const char*>(mapped),
                     static_cast<size_t>(n));
}

void Tokenize(std::string_view text, std::vector<std::string_view>* tokens) {
  size_t pos = 0;
  size_t word_start = std::string_view::npos;
  auto close_word = [&](size_t end) {
    if (word_start != std::string_view::npos) {
      tokens->push_back(text.substr(word_start, end - word_start));
      word_start = std::string_view::npos;
    }
  };
  while (pos < text.size()) {
    unsigned char byte = static_cast<unsigned char>(text[pos]);
    if (byte < 0x80) {
      if (IsAsciiWordByte(byte)) {
        if (word_start == std::string_view::npos) word_start = pos;
      } else {
        close_word(pos);
      }
      ++pos;
      continue;
    }
    size_t start = pos;
    char32_t cp = DecodeUtf8(text, &pos);
    if (IsCjkIdeographic(cp)) {
      close_word(start);
      tokens->push_back(text.substr(start, pos - start));
    } else if (IsWordCodePoint(cp)) {
      if (word_start == std::string_view::npos) word_start = start;
    } else {
      close_word(start);
    }
  }
  close_word(text.size());
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
