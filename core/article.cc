#include "core/article.h"

#include <simdjson.h>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "core/strings.h"

namespace storyd {

std::string_view InputErrorName(InputError error) {
  switch (error) {
    case InputError::kTooLarge:
      return "too_large";
    case InputError::kInvalidUtf8:
      return "invalid_utf8";
    case InputError::kMalformedJson:
      return "malformed_json";
    case InputError::kNotAnObject:
      return "not_an_object";
    case InputError::kBadFieldType:
      return "bad_field_type";
    case InputError::kMissingId:
      return "missing_id";
    case InputError::kMissingBody:
      return "missing_body";
    case InputError::kEmptyBody:
      return "empty_body";
    case InputError::kDuplicateId:
      return "duplicate_id";
  }
  return "unknown";
}

struct ArticleParser::Impl {
  simdjson::dom::parser parser;
};

ArticleParser::ArticleParser(size_t max_record_bytes)
    : impl_(std::make_unique<Impl>()), max_record_bytes_(max_record_bytes) {}
ArticleParser::~ArticleParser() = default;

namespace {

InputProblem Problem(InputError error, std::string reason) {
  return InputProblem{error, std::move(reason)};
}

// Reads an optional string field into *out. Returns false on a wrong type.
bool ReadOptionalString(simdjson::dom::object object, std::string_view key,
                        std::string* out, bool* present) {
  simdjson::dom::element element;
  *present = false;
  if (object[key].get(element) != simdjson::SUCCESS) return true;
  if (element.is_null()) return true;
  std::string_view value;
  if (element.get(value) != simdjson::SUCCESS) return false;
  out->assign(value);
  *present = true;
  return true;
}

bool IsBlank(std::string_view text) {
  for (char c : text) {
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return false;
  }
  return true;
}

}  // namespace

ParsedArticle ArticleParser::Parse(std::string_view json,
                                   std::string_view fallback_id) {
  if (json.size() > max_record_bytes_) {
    return Problem(InputError::kTooLarge, StrCat("record of ", json.size(),
                                                 " bytes exceeds the limit of ",
                                                 max_record_bytes_, " bytes"));
  }
  simdjson::dom::element root;
  simdjson::error_code error =
      impl_->parser.parse(json.data(), json.size()).get(root);
  if (error == simdjson::UTF8_ERROR) {
    return Problem(InputError::kInvalidUtf8, "record is not valid UTF-8");
  }
  if (error != simdjson::SUCCESS) {
    return Problem(InputError::kMalformedJson,
                   StrCat("malformed JSON: ", simdjson::error_message(error)));
  }
  simdjson::dom::object object;
  if (root.get(object) != simdjson::SUCCESS) {
    return Problem(InputError::kNotAnObject, "record is not a JSON object");
  }
  Article article;
  // id: a string or an integer; a key stands in when it is absent.
  simdjson::dom::element id_element;
  if (object["id"].get(id_element) == simdjson::SUCCESS &&
      !id_element.is_null()) {
    std::string_view id_text;
    int64_t id_number;
    if (id_element.get(id_text) == simdjson::SUCCESS) {
      article.id.assign(id_text);
    } else if (id_element.get(id_number) == simdjson::SUCCESS) {
      article.id = StrCat(id_number);
    } else {
      return Problem(InputError::kBadFieldType,
                     "field 'id' must be a string or an integer");
    }
  }
  if (article.id.empty()) article.id.assign(fallback_id);
  if (article.id.empty()) {
    return Problem(InputError::kMissingId,
                   "record has no 'id' and no message key");
  }
  bool present = false;
  if (!ReadOptionalString(object, "body", &article.body, &present)) {
    return Problem(InputError::kBadFieldType, "field 'body' must be a string");
  }
  if (!present) {
    if (!ReadOptionalString(object, "text", &article.body, &present)) {
      return Problem(InputError::kBadFieldType,
                     "field 'text' must be a string");
    }
    if (!present) {
      return Problem(InputError::kMissingBody,
                     "record has no 'body' (or 'text')");
    }
  }
  if (IsBlank(article.body)) {
    return Problem(InputError::kEmptyBody, "field 'body' is empty");
  }
  for (auto [key, field] :
       {std::pair<std::string_view, std::string*>{"title", &article.title},
        {"url", &article.url},
        {"source", &article.source},
        {"published_at", &article.published_at}}) {
    if (!ReadOptionalString(object, key, field, &present)) {
      return Problem(InputError::kBadFieldType,
                     StrCat("field '", key, "' must be a string"));
    }
  }
  if (!article.published_at.empty()) {
    article.published_unix_sec = ParseTimestamp(article.published_at);
  }
  return article;
}

std::optional<int64_t> ParseTimestamp(std::string_view text) {
  absl::Time time;
  std::string error;
  std::string input(text);
  if (absl::ParseTime(absl::RFC3339_full, input, &time, &error) ||
      absl::ParseTime("%Y-%m-%d%ET%H:%M:%E*S", input, absl::UTCTimeZone(),
                      &time, &error) ||
      absl::ParseTime("%Y-%m-%d", input, absl::UTCTimeZone(), &time, &error)) {
    return absl::ToUnixSeconds(time);
  }
  return std::nullopt;
}

void AppendJsonString(std::string_view text, std::string* out) {
  out->push_back('"');
  for (char c : text) {
    unsigned char byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (byte < 0x20) {
          out->append(absl::StrFormat("\\u%04x", byte));
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

}  // namespace storyd
