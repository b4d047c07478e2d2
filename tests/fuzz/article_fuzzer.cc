// libFuzzer target: the JSON codec must turn any bytes into an article or a
// typed problem, never a crash or a sanitizer report.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/article.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static storyd::ArticleParser* parser = new storyd::ArticleParser(1 << 20);
  std::string_view input(reinterpret_cast<const char*>(data), size);
  storyd::ParsedArticle parsed = parser->Parse(input, "fallback-key");
  if (const auto* article = std::get_if<storyd::Article>(&parsed)) {
    std::string json;
    storyd::AppendJsonString(article->body, &json);
    if (json.size() < article->body.size() + 2) __builtin_trap();
  }
  return 0;
}
