#include "core/strings.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_format.h"

namespace storyd {
namespace {

std::vector<std::string_view> Pieces(std::string_view text, char separator) {
  std::vector<std::string_view> pieces;
  ForEachNonEmptyPiece(text, separator, [&](std::string_view piece) {
    pieces.push_back(piece);
  });
  return pieces;
}

// ForEachNonEmptyPiece gives what Split with skip_empty gives, views into
// the same text, whatever the separators at the edges or in a row.
TEST(ForEachNonEmptyPieceTest, GivesSplitsNonEmptyPieces) {
  for (std::string_view text :
       {"", "\n", "\n\n", "a", "a\n", "\na", "a\nb", "a\n\nb\n",
        "\n\na\nbc\n\n", "one line\nand another\n\nand a third"}) {
    std::vector<std::string_view> pieces = Pieces(text, '\n');
    std::vector<std::string_view> split = Split(text, '\n', true);
    ASSERT_EQ(pieces, split) << text;
    for (size_t i = 0; i < pieces.size(); ++i) {
      EXPECT_EQ(pieces[i].data(), split[i].data()) << text;
    }
  }
  EXPECT_EQ(Pieces("a b  c ", ' '),
            (std::vector<std::string_view>{"a", "b", "c"}));
}

// AppendHex16 writes what StrFormat("%016x") writes: the edges, every
// nibble value in every position, and random values.
TEST(AppendHex16Test, MatchesStrFormat) {
  std::vector<uint64_t> values = {
      0, 1, 0xf, 0x10, UINT64_MAX, 0x8000000000000000u, 0x0123456789abcdefu};
  for (int position = 0; position < 16; ++position) {
    for (uint64_t nibble = 0; nibble < 16; ++nibble)
      values.push_back(nibble << (4 * position));
  }
  std::mt19937_64 random(7);
  for (int i = 0; i < 1000; ++i) values.push_back(random());
  for (uint64_t value : values) {
    std::string out = "x";
    AppendHex16(value, &out);
    EXPECT_EQ(out, absl::StrFormat("x%016x", value)) << value;
  }
}

// AppendFixed writes what StrFormat("%.4f") writes, rounding included:
// the halfway cases of the fourth decimal (whose binary values lie just
// above or below), the scores' range, signs, large values and random ones.
TEST(AppendFixedTest, MatchesStrFormat) {
  std::vector<double> values = {0.0,          -0.0,    1.0,     0.5,  0.00005,
                                0.00015,      0.12345, 0.99995, 1e-9, -0.23456,
                                123456.78905, 1e300,   5e-324};
  for (int i = 0; i <= 20000; ++i) {
    values.push_back(i / 20000.0);
    values.push_back((i + 0.5) / 10000.0);
  }
  std::mt19937_64 random(11);
  std::uniform_real_distribution<double> unit(-2.0, 2.0);
  for (int i = 0; i < 10000; ++i) values.push_back(unit(random));
  for (double value : values) {
    for (int decimals : {-1, 0, 2, 4}) {
      std::string out = "x";
      AppendFixed(value, decimals, &out);
      EXPECT_EQ(out, absl::StrFormat("x%.*f", decimals, value)) << value;
    }
  }
}

}  // namespace
}  // namespace storyd
