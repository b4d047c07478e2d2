// Copyright 2024 The storyd Authors.
#include "core/normalized_text_memo.h"

namespace storyd {

NormalizedTextMemo::NormalizedTextMemo(size_t slots) : slots_(slots) {}

NormalizedTextMemo::Key NormalizedTextMemo::KeyOf(std::string_view raw_body,
                                                  uint64_t rules_hash) {
  return HashText(raw_body, rules_hash);
}

std::optional<std::string_view> NormalizedTextMemo::Find(const Key& key) {
  const std::vector<char>* text = slots_.Find(key);
  if (text == nullptr) return std::nullopt;
  ++hits_;
  return std::string_view(text->data(), text->size());
}

void NormalizedTextMemo::Store(const Key& key, std::string_view normalized) {
  if (normalized.size() > kMaxTextBytes) {
    slots_.Clear(key);
    return;
  }
  // A vector's capacity is exact: assign past it allocates the size.
  slots_.Store(key, normalized.size(), kBudgetBytes,
               [normalized](std::vector<char>& text) {
                 text.assign(normalized.begin(), normalized.end());
               });
}

}  // namespace storyd
