// The article model and its JSON codec.
//
// Input schema (one JSON object per record; unknown fields are ignored):
//   id            string (or integer), required unless a message key gives it
//   body          string, required; `text` is accepted as an alias
//   title, url, source   optional strings
//   published_at  optional RFC 3339 time ("2021-03-18T09:30:00Z"; a bare
//                 date "2021-03-18" is read as midnight UTC)
//
// Bad records are values, not exceptions: ParseArticle returns an
// InputProblem naming the kind of error and the reason, and the caller
// decides where it goes (a summary on stderr offline, the dead-letter topic
// in the daemon).
//
// Example:
//   ArticleParser parser(/*max_record_bytes=*/1 << 20);
//   ParsedArticle parsed = parser.Parse(line);
//   if (const InputProblem* p = std::get_if<InputProblem>(&parsed)) { ... }
//   const Article& article = std::get<Article>(parsed);
//
// Thread safety: an ArticleParser holds a reusable simdjson parser; use one
// per thread.
#ifndef STORYD_CORE_ARTICLE_H_
#define STORYD_CORE_ARTICLE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace storyd {

struct Article {
  std::string id;
  std::string title;
  std::string body;
  std::string url;
  std::string source;
  std::string published_at;                   // as given, "" when absent
  std::optional<int64_t> published_unix_sec;  // parsed published_at
};

enum class InputError {
  kTooLarge,       // record over the configured size limit
  kInvalidUtf8,    // bytes that are not UTF-8
  kMalformedJson,  // not parseable JSON
  kNotAnObject,    // JSON, but not an object
  kBadFieldType,   // a known field with the wrong type
  kMissingId,      // no id in the body and no message key
  kMissingBody,    // neither body nor text
  kEmptyBody,      // body empty or whitespace only
  kDuplicateId,    // an id already seen in this run (set by callers)
};

// Stable lower-case name, used in summaries and dead-letter headers.
std::string_view InputErrorName(InputError error);

struct InputProblem {
  InputError error;
  std::string reason;
};

using ParsedArticle = std::variant<Article, InputProblem>;

class ArticleParser {
 public:
  explicit ArticleParser(size_t max_record_bytes);
  ~ArticleParser();
  ArticleParser(const ArticleParser&) = delete;
  ArticleParser& operator=(const ArticleParser&) = delete;

  // Parses one JSON record. `fallback_id` (a Kafka message key) is used
  // when the record has no id.
  ParsedArticle Parse(std::string_view json, std::string_view fallback_id = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  size_t max_record_bytes_;
};

// Parses an RFC 3339 time or a bare date into Unix seconds.
std::optional<int64_t> ParseTimestamp(std::string_view text);

// Appends `text` to *out as a JSON string literal (with quotes).
void AppendJsonString(std::string_view text, std::string* out);

}  // namespace storyd

#endif  // STORYD_CORE_ARTICLE_H_
