#include "core/strings.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

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

}  // namespace
}  // namespace storyd
