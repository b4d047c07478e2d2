// MemoSlots<Value, Units>: the slots of a worker's memo of recent texts (the
// cleaned texts of core/normalized_text_memo.h, the copy features of
// core/feature_memo.h): direct-mapped by the text's TextHash, each slot
// holding the last value stored under a hash that maps to it, with a budget
// on what the values hold in all (`Units(value)`: their buffers' capacity,
// in the memo's unit).
//
// Past the budget, other slots are emptied in turn (a clock hand over the
// slots) until the newest value fits: a direct-mapped memo that refused new
// values once full kept its oldest ones, and with more slots than the
// budget fills it soon would. Nothing is allocated before the first Store.
//
// Thread safety: none; each worker keeps its own.
#ifndef STORYD_CORE_MEMO_SLOTS_H_
#define STORYD_CORE_MEMO_SLOTS_H_

#include <algorithm>
#include <bit>
#include <cstddef>
#include <vector>

#include "core/text_hash.h"

namespace storyd {

template <typename Value, size_t (*Units)(const Value&)>
class MemoSlots {
 public:
  // `slots` is rounded up to a power of two; 0 keeps nothing.
  explicit MemoSlots(size_t slots)
      : slots_(slots == 0 ? 0 : std::bit_ceil(slots)) {}

  size_t slots() const { return slots_; }
  // Units the values hold in all (what the memo allocated).
  size_t held_units() const { return held_units_; }

  // The value stored under `key`, or null.
  const Value* Find(const TextHash& key) const {
    if (entries_.empty()) return nullptr;
    const Entry& entry = entries_[SlotOf(key)];
    return entry.filled && entry.key == key ? &entry.value : nullptr;
  }

  // Stores under `key` the value `fill` writes into its slot's value (which
  // holds the slot's last one, so that its buffers can be reused), once the
  // budget leaves room for `needed` units there.
  template <typename Fill>
  void Store(const TextHash& key, size_t needed, size_t budget, Fill fill) {
    if (slots_ == 0) return;
    if (entries_.empty()) entries_.resize(slots_);
    Entry& entry = entries_[SlotOf(key)];
    const size_t before = Units(entry.value);
    const size_t after = std::max(before, needed);
    while (held_units_ - before + after > budget) {
      Entry& victim = entries_[evict_cursor_];
      evict_cursor_ = (evict_cursor_ + 1) & (entries_.size() - 1);
      if (&victim == &entry) continue;
      held_units_ -= Units(victim.value);
      victim = Entry{};
    }
    entry.filled = true;
    entry.key = key;
    fill(entry.value);
    held_units_ = held_units_ - before + Units(entry.value);
  }

  // Empties `key`'s slot and gives its buffers back (a value too large to
  // keep: the slot must not keep an older value for it).
  void Clear(const TextHash& key) {
    if (entries_.empty()) return;
    Entry& entry = entries_[SlotOf(key)];
    held_units_ -= Units(entry.value);
    entry = Entry{};
  }

 private:
  struct Entry {
    bool filled = false;
    TextHash key;
    Value value;
  };
  size_t SlotOf(const TextHash& key) const {
    return static_cast<size_t>(key.low) & (entries_.size() - 1);
  }

  size_t slots_;
  size_t held_units_ = 0;
  size_t evict_cursor_ = 0;     // the next slot to empty past the budget
  std::vector<Entry> entries_;  // empty until the first Store
};

}  // namespace storyd

#endif  // STORYD_CORE_MEMO_SLOTS_H_
