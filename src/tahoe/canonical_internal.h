// Internal to the tahoe module: sizing the canonical form without building
// it. Sizes are kept as (len, quotes): a canonical string's length and how
// many '"' and '\\' it holds. Canonical strings are printable ASCII, so
// writing one as a JSON string item gives len + quotes + 2 bytes holding
// 2 * quotes + 2 quotes and backslashes.
#pragma once

#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cybexp/json_value.h"

namespace cybexp::tahoe_detail {

struct Measure {
  std::uint64_t len = 0;
  std::uint64_t quotes = 0;
};

inline std::uint64_t sat_add(std::uint64_t a, std::uint64_t b) {
  std::uint64_t r;
  return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

inline std::uint64_t sat_mul(std::uint64_t a, std::uint64_t b) {
  std::uint64_t r;
  return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

// A quick upper bound on the size of canonical(v) that never reads string
// contents (every byte is assumed to escape as badly as it can).
Measure measure_coarse(const Value& v);

// Size of canonical(v) as if no array held duplicates (exact when none
// does). may_dedup is set when some array has two or more items.
Measure measure_upper_bound(const Value& v, bool& may_dedup);

// Sorts values into canonical-equality classes: two values get the same id
// exactly when their canonical strings are equal. Interned bottom-up (an
// array is the sorted set of its items' ids, an object its sorted
// (key, id) pairs), so equality is decided without building anything.
// The Values must outlive the Classifier.
class Classifier {
 public:
  std::uint32_t classify(const Value& v);
  const Measure& measure(std::uint32_t id) const { return entries_[id].m; }
  // The class of an array item classified earlier.
  std::uint32_t class_of(const Value& item) const { return item_class_.at(&item); }

 private:
  enum class Kind : std::uint8_t {
    kNull,
    kFalse,
    kTrue,
    kInteger,
    kFloat,
    kString,
    kArray,
    kObject
  };
  struct Entry {
    std::uint64_t hash = 0;
    Kind kind = Kind::kNull;
    std::string_view text;         // integer digits, stripped string
    std::uint64_t bits = 0;        // float bits (all NaNs alike)
    std::uint32_t off = 0, n = 0;  // range in ids_ (array) or members_ (object)
    Measure m;
  };

  std::uint32_t intern(Entry e);
  bool same(const Entry& a, const Entry& b) const;
  void grow_table();

  std::vector<Entry> entries_;
  std::vector<std::uint32_t> ids_;
  std::vector<std::pair<std::string_view, std::uint32_t>> members_;
  std::vector<std::uint32_t> table_;  // open addressing: id + 1, 0 = empty
  std::unordered_map<const Value*, std::uint32_t> item_class_;
};

}  // namespace cybexp::tahoe_detail
