#include "core/text_normalizer.h"

#include <gtest/gtest.h>
#include <utf8proc.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/article.h"
#include "core/strings.h"

namespace storyd {
namespace {

// The implementations before the ASCII fast paths (commit 92c8f27), kept
// as the reference the fast paths must match byte for byte.
namespace reference {

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

}  // namespace reference

std::vector<std::string> Words(std::string_view text) {
  std::string normalized = NormalizeForMatching(FoldTypography(text));
  std::vector<std::string_view> views;
  Tokenize(normalized, &views);
  return std::vector<std::string>(views.begin(), views.end());
}

TEST(FoldTypographyTest, DecodesEntities) {
  EXPECT_EQ(FoldTypography(
                "Fish &amp; Chips &lt;b&gt; &#8220;x&#x201D; &quot;q&quot;"),
            "Fish & Chips <b> \"x\" \"q\"");
  EXPECT_EQ(FoldTypography("a&nbsp;b"), "a b");
  // Unknown or malformed entities stay as they are.
  EXPECT_EQ(FoldTypography("AT&T &bogus; & done &#;"),
            "AT&T &bogus; & done &#;");
}

TEST(FoldTypographyTest, FoldsQuotesDashesAndSpaces) {
  EXPECT_EQ(FoldTypography(
                "\u201cIt\u2019s\u201d \u2014 she said \u2013 \u2018ok\u2019"),
            "\"It's\" - she said - 'ok'");
  EXPECT_EQ(FoldTypography("a\u00a0\u00a0b\u2009c\u200bd\u00ade"), "a b cde");
  EXPECT_EQ(FoldTypography("wait\u2026"), "wait...");
  EXPECT_EQ(FoldTypography("  two   spaces \t tab\r\nnext  line  "),
            "two spaces tab\nnext line");
}

TEST(NormalizeForMatchingTest, NfkcAndCaseFold) {
  EXPECT_EQ(NormalizeForMatching("Hello WORLD"), "hello world");
  EXPECT_EQ(NormalizeForMatching("Stra\u00dfe"), "strasse");
  EXPECT_EQ(NormalizeForMatching("\ufb01ne"), "fine");           // ligature
  EXPECT_EQ(NormalizeForMatching("\uff21\uff22\uff23"), "abc");  // fullwidth
  EXPECT_EQ(NormalizeForMatching("e\u0301"), "\u00e9");          // composed
  EXPECT_EQ(NormalizeForMatching("\u041c\u041e\u0421\u041a\u0412\u0410"),
            "\u043c\u043e\u0441\u043a\u0432\u0430");  // МОСКВА
}

TEST(TokenizeTest, UnicodeWords) {
  EXPECT_EQ(
      Words("Über die Brücke, sagte Müller."),
      (std::vector<std::string>{"über", "die", "brücke", "sagte", "müller"}));
  EXPECT_EQ(Words("¿Dónde está el niño? São Paulo, ação."),
            (std::vector<std::string>{"dónde", "está", "el", "niño", "são",
                                      "paulo", "ação"}));
  EXPECT_EQ(
      Words("Посол России вернулся в Москву"),
      (std::vector<std::string>{"посол", "россии", "вернулся", "в", "москву"}));
  EXPECT_EQ(Words("It's 2021-03-18: Biden's remark"),
            (std::vector<std::string>{"it", "s", "2021", "03", "18", "biden",
                                      "s", "remark"}));
}

TEST(TokenizeTest, CjkByCharacter) {
  EXPECT_EQ(
      Words("俄罗斯召回大使"),
      (std::vector<std::string>{"俄", "罗", "斯", "召", "回", "大", "使"}));
  EXPECT_EQ(Words("東京タワー abc"),
            (std::vector<std::string>{"東", "京", "タ", "ワ", "ー", "abc"}));
}

TEST(Utf8Test, Validates) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("caf\u00e9 \U0001F600"));
  EXPECT_FALSE(IsValidUtf8("bad \xff byte"));
  EXPECT_FALSE(IsValidUtf8("cut \xe2\x82"));
}

// The fast paths against the reference implementations: the same bytes
// from FoldTypography and NormalizeForMatching, the same token views from
// Tokenize, and HasMoreWordsThan agreeing with the token count.
std::vector<std::pair<size_t, size_t>> Offsets(
    std::string_view text, const std::vector<std::string_view>& tokens) {
  std::vector<std::pair<size_t, size_t>> offsets;
  for (std::string_view token : tokens)
    offsets.emplace_back(token.data() - text.data(), token.size());
  return offsets;
}

std::string Escaped(std::string_view text) {
  std::string out;
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7F && byte != '\\') {
      out.push_back(c);
    } else {
      out += "\\x";
      out.push_back("0123456789abcdef"[byte >> 4]);
      out.push_back("0123456789abcdef"[byte & 15]);
    }
  }
  return out;
}

void ExpectTokensMatchReference(std::string_view text) {
  std::vector<std::string_view> fast, slow;
  Tokenize(text, &fast);
  reference::Tokenize(text, &slow);
  ASSERT_EQ(Offsets(text, fast), Offsets(text, slow)) << Escaped(text);
  for (size_t limit : {size_t{0}, size_t{1}, slow.size() / 2,
                       slow.size() - std::min<size_t>(slow.size(), 1),
                       slow.size(), slow.size() + 1}) {
    ASSERT_EQ(HasMoreWordsThan(text, limit), slow.size() > limit)
        << limit << " " << Escaped(text);
  }
}

void ExpectMatchesReference(std::string_view text) {
  std::string folded = FoldTypography(text);
  ASSERT_EQ(folded, reference::FoldTypography(text)) << Escaped(text);
  ASSERT_EQ(NormalizeForMatching(text), reference::NormalizeForMatching(text))
      << Escaped(text);
  std::string normalized = NormalizeForMatching(folded);
  ASSERT_EQ(normalized, reference::NormalizeForMatching(folded))
      << Escaped(folded);
  ExpectTokensMatchReference(text);
  ExpectTokensMatchReference(normalized);
}

std::string Repeat(std::string_view piece, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out.append(piece);
  return out;
}

// Pieces that reach every path: ASCII runs and the bytes with their own
// rules, entities, typography, combining marks after ASCII and non-ASCII
// letters, Hangul jamo, compatibility forms, special case foldings, CJK,
// invalid UTF-8 and NULs.
const std::vector<std::string>& Pieces() {
  static const auto* pieces = new std::vector<std::string>{
      "a",
      "Z",
      "word",
      "Word",
      "0",
      "42",
      " ",
      "  ",
      "\n",
      "\r",
      "\t",
      "\v",
      "\f",
      "&",
      ".",
      ",",
      "-",
      "'",
      "_",
      std::string(1, '\0'),
      "\x7f",
      "&amp;",
      "&lt;",
      "&nbsp;",
      "&#8217;",
      "&#x2026;",
      "&#10;",
      "&#32;",
      "&#9;",
      "&#13;",
      "&#0;",
      "&#xD800;",
      "&#x110000;",
      "&shy;",
      "&zwj;",
      "&bogus;",
      "&#;",
      "&#x;",
      "&amp",
      "&#12345678901;",
      "\u00e9",
      "\u00c9",
      "e\u0301",
      "E\u0301",
      "\u0301",
      "\u0308\u0301",
      "\u0327",
      "\u0323\u0302",
      "o\u0323\u0302",
      "\u1100",
      "\u1161",
      "\u11a8",
      "\uac00",
      "\u1100\u1161\u11a8",
      "\uff21",
      "\uff41",
      "\ufb01",
      "\ufb03",
      "\u0130",
      "\u0131",
      "I\u0307",
      "\u03a3",
      "\u03c3",
      "\u03c2",
      "\u00df",
      "\u1e9e",
      "\u212a",
      "\u017f",
      "\u0345",
      "\u00bd",
      "\u2460",
      "\u3392",
      "\ufdfa",
      "\u00aa",
      "\u2126",
      "\u4e2d",
      "\u6587",
      "\u30bf",
      "\u3042",
      "\U00020000",
      "\U0001F600",
      "\u2018",
      "\u2019",
      "\u201c",
      "\u201d",
      "\u2013",
      "\u2014",
      "\u2026",
      "\u00a0",
      "\u2009",
      "\u3000",
      "\u200b",
      "\u00ad",
      "\ufeff",
      "\u00ab",
      "\u0661",
      "\u0915",
      "\u093f",
      "\u0dcf",
      "\u0dd9",
      "\u0d4a",
      "\u05d0\u05b7",
      "\xff",
      "\xc3",
      "\xe2\x82",
      "\xc0\xaf",
      "\xed\xa0\x80",
      "\xf4\x90\x80\x80",
      "\x80",
      "\xf0\x9f\x98",
      "The quick brown fox jumps over the lazy dog. ",
      "It's 2021-03-18: Biden's remark ",
  };
  return *pieces;
}

TEST(FastPathTest, AdversarialStrings) {
  std::vector<std::string> cases = {
      "",
      " ",
      "\n",
      "a",
      "A",
      "e\u0301",
      " e\u0301 ",
      "\u0301e",
      std::string("a\0b\0\u00e9", 6),
      std::string(1, '\0'),
      "caf\u00e9 CAF\u00c9 Cafe\u0301",
      "\u1100\u1161\u11a8 \uac00\u11a8",
      "\uff21\uff22\uff23 \ufb01ne",
      "\u0130stanbul I\u0307 \u0131",
      "\u039f\u0394\u039f\u03a3 \u03bf\u03b4\u03bf\u03c2",
      "Stra\u00dfe STRASSE \u1e9e",
      "bad \xff byte",
      "cut \xe2\x82",
      "\xe2\x82 cut",
      "a\xc3",
      "\xc3"
      "a",
      "overlong \xc0\xaf",
      "x  y",
      "x \n y",
      " x",
      "x ",
      "&amp;&amp; &#8217;s",
      "a&nbsp; b",
      Repeat("\u00e9", 300),
      Repeat("e\u0301", 300),
      Repeat("\ufdfa", 100),
      Repeat("a", 63) + "\u00e9",
      Repeat("a", 64) + "\u00e9",
      Repeat("ab ", 21) + "c",
      Repeat("word ", 13),
      Repeat("Word ", 200),
      Repeat("x", 64),
      Repeat("x", 65),
      Repeat("x", 127),
      Repeat(" ", 70),
      Repeat("\u4e2d", 40),
      Repeat("a\u4e2d", 40),
      Repeat("\u00e9a", 70),
  };
  for (const std::string& text : cases) ExpectMatchesReference(text);
}

TEST(FastPathTest, RandomPieces) {
  std::mt19937 rng(20240518);
  const std::vector<std::string>& pieces = Pieces();
  std::uniform_int_distribution<size_t> pick(0, pieces.size() - 1);
  for (int i = 0; i < 20000; ++i) {
    std::string text;
    int count =
        std::uniform_int_distribution<int>(0, i % 10 == 0 ? 200 : 20)(rng);
    for (int j = 0; j < count; ++j) text += pieces[pick(rng)];
    ExpectMatchesReference(text);
    if (HasFatalFailure()) return;
  }
}

TEST(FastPathTest, RandomBytes) {
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    std::string text(std::uniform_int_distribution<size_t>(0, 200)(rng), ' ');
    // Mostly ASCII, sometimes any byte.
    int high_percent = std::uniform_int_distribution<int>(0, 30)(rng);
    for (char& c : text) {
      bool high = std::uniform_int_distribution<int>(0, 99)(rng) < high_percent;
      c = static_cast<char>(std::uniform_int_distribution<int>(
          high ? 0x80 : 0, high ? 0xFF : 0x7F)(rng));
    }
    ExpectMatchesReference(text);
    if (HasFatalFailure()) return;
  }
}

TEST(FastPathTest, DevArticles) {
  ArticleParser parser(1 << 24);
  for (const char* name : {"neardup.jsonl", "ecbplus.jsonl", "seeds.jsonl"}) {
    std::ifstream file(std::string(STORYD_TEST_DATA) + "/" + name);
    ASSERT_TRUE(file.good()) << name;
    std::string line;
    while (std::getline(file, line)) {
      ParsedArticle parsed = parser.Parse(line);
      if (auto* article = std::get_if<Article>(&parsed)) {
        ExpectMatchesReference(article->body);
        ExpectMatchesReference(article->title);
        if (HasFatalFailure()) return;
      }
    }
  }
}

// The ASCII fast path of NormalizeForMatching cuts the text right before
// ASCII bytes. That is only right if no character composes with an ASCII
// character that follows it: checked for every assigned code point.
TEST(NormalizeForMatchingTest, NothingComposesWithAFollowingAsciiCharacter) {
  std::string text;
  for (utf8proc_int32_t cp = 0x80; cp <= 0x10FFFF; ++cp) {
    if (utf8proc_category(cp) == UTF8PROC_CATEGORY_CN ||
        utf8proc_category(cp) == UTF8PROC_CATEGORY_CS) {
      continue;
    }
    utf8proc_uint8_t encoded[4];
    utf8proc_ssize_t n = utf8proc_encode_char(cp, encoded);
    std::string_view c(reinterpret_cast<const char*>(encoded), n);
    text.assign(c);
    text.push_back(static_cast<char>(0x20 + cp % 95));  // any printable
    text.append(c);
    text.append("A");
    ASSERT_EQ(NormalizeForMatching(text), reference::NormalizeForMatching(text))
        << std::hex << cp;
  }
}

}  // namespace
}  // namespace storyd
