// libFuzzer target: a changelog record, whatever its bytes, decodes to a
// record or an error, and a decoded record encodes back to a value that
// decodes to the same record.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/state_record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // The first byte picks the key kind; the rest is the value.
  if (input.empty()) return 0;
  static constexpr const char* kKeys[] = {"a:id", "w:id", "m:id", "x:id"};
  std::string_view key = kKeys[static_cast<uint8_t>(input[0]) % 4];
  auto decoded = storyd::DecodeStateRecord(key, input.substr(1));
  if (!decoded.ok()) return 0;
  std::string again;
  if (const auto* article = std::get_if<storyd::ArticleRecord>(&*decoded)) {
    again = storyd::EncodeArticleRecord(*article);
  } else if (const auto* shingles =
                 std::get_if<storyd::ShingleRecord>(&*decoded)) {
    again = storyd::EncodeShingleRecord(*shingles);
  } else if (const auto* merge = std::get_if<storyd::MergeRecord>(&*decoded)) {
    again = storyd::EncodeMergeRecord(*merge);
  }
  auto round_trip = storyd::DecodeStateRecord(key, again);
  if (!round_trip.ok()) __builtin_trap();
  return 0;
}
