// The exact size of the canonical form, computed without building it:
// a quick pass that ignores array de-duplication (exact unless an array has
// two or more items), and a classifier that finds which array items have
// equal canonical strings.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <functional>

#include "cybexp/python_json.h"
#include "tahoe/canonical_internal.h"
#include "tahoe/escape.h"
#include "util/keyed_hash.h"

namespace cybexp::tahoe_detail {

namespace {

Measure leaf_measure(const Value& v) {
  switch (v.storage().index()) {
    case 0:
      return {4, 0};
    case 1:
      return {v.as_bool() ? 4u : 5u, 0};
    case 2:
      return {v.as_integer().digits.size(), 0};
    case 3: {
      char buf[32];
      return {format_python_float(v.as_float(), buf), 0};
    }
    default: {
      const StrCost c = json_string_cost(python_strip(v.as_string()));
      return {c.len, c.quotes};
    }
  }
}

// Accumulates a container's measure from its items' measures.
struct Accumulator {
  Measure m{2, 0};  // the brackets
  std::uint64_t count = 0;
  void item(const Measure& child, const StrCost* key = nullptr) {
    if (count++ > 0) m.len = sat_add(m.len, 2);  // ", "
    if (key != nullptr) {
      m.len = sat_add(m.len, key->len + 2);  // key and ": "
      m.quotes = sat_add(m.quotes, key->quotes);
    }
    // The child as a JSON string: its quotes and backslashes doubled, plus two quotes.
    m.len = sat_add(m.len, sat_add(child.len, sat_add(child.quotes, 2)));
    m.quotes = sat_add(m.quotes, sat_add(sat_mul(child.quotes, 2), 2));
  }
};

// json.dumps of an n-byte string is at most 6 bytes per byte (\u00XX) and
// holds at most 2 quotes or backslashes per byte (\" or \\), plus its quotes.
StrCost coarse_string_cost(std::uint64_t n) {
  return {sat_add(sat_mul(n, 6), 2), sat_add(sat_mul(n, 2), 2)};
}

std::uint64_t mix(std::uint64_t h, std::uint64_t x) {
  // splitmix64's finaliser over the running hash.
  std::uint64_t z = h + x + 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace

Measure measure_coarse(const Value& v) {
  switch (v.storage().index()) {
    case 5: {
      Accumulator acc;
      for (const Value& item : v.as_array()) acc.item(measure_coarse(item));
      return acc.m;
    }
    case 6: {
      Accumulator acc;
      for (const auto& [key, item] : v.as_object()) {
        const StrCost k = coarse_string_cost(key.size());
        acc.item(measure_coarse(item), &k);
      }
      return acc.m;
    }
    case 4: {
      const StrCost c = coarse_string_cost(v.as_string().size());
      return {c.len, c.quotes};
    }
    case 3:
      return {24, 0};  // the longest repr, "-2.2250738585072014e-308"
    default:
      return leaf_measure(v);
  }
}

Measure measure_upper_bound(const Value& v, bool& may_dedup) {
  if (v.is_array()) {
    const Array& a = v.as_array();
    if (a.size() > 1) may_dedup = true;
    Accumulator acc;
    for (const Value& item : a) acc.item(measure_upper_bound(item, may_dedup));
    return acc.m;
  }
  if (v.is_object()) {
    Accumulator acc;
    for (const auto& [key, item] : v.as_object()) {
      const StrCost k = json_string_cost(key);
      acc.item(measure_upper_bound(item, may_dedup), &k);
    }
    return acc.m;
  }
  return leaf_measure(v);
}

std::uint32_t Classifier::classify(const Value& v) {
  Entry e;
  switch (v.storage().index()) {
    case 0:
      e.kind = Kind::kNull;
      break;
    case 1:
      e.kind = v.as_bool() ? Kind::kTrue : Kind::kFalse;
      break;
    case 2:
      e.kind = Kind::kInteger;
      e.text = v.as_integer().digits;
      e.hash = keyed_hash(e.text);
      break;
    case 3: {
      e.kind = Kind::kFloat;
      const double d = v.as_float();
      e.bits = std::isnan(d) ? 0x7FF8000000000000ULL : std::bit_cast<std::uint64_t>(d);
      e.hash = keyed_hash(e.bits);
      break;
    }
    case 4:
      e.kind = Kind::kString;
      e.text = python_strip(v.as_string());
      e.hash = keyed_hash(e.text);
      break;
    case 5: {
      e.kind = Kind::kArray;
      std::vector<std::uint32_t> ids;
      ids.reserve(v.as_array().size());
      for (const Value& item : v.as_array()) {
        const std::uint32_t id = classify(item);
        item_class_[&item] = id;
        ids.push_back(id);
      }
      std::sort(ids.begin(), ids.end());
      ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
      Accumulator acc;
      e.hash = ids.size();
      for (std::uint32_t id : ids) {
        acc.item(entries_[id].m);
        e.hash = mix(e.hash, entries_[id].hash);
      }
      e.m = acc.m;
      e.off = static_cast<std::uint32_t>(ids_.size());
      e.n = static_cast<std::uint32_t>(ids.size());
      ids_.insert(ids_.end(), ids.begin(), ids.end());
      const std::uint32_t id = intern(e);
      if (id + 1 != entries_.size()) ids_.resize(e.off);  // already known: drop the copy
      return id;
    }
    case 6: {
      e.kind = Kind::kObject;
      std::vector<std::pair<std::string_view, std::uint32_t>> members;
      members.reserve(v.as_object().size());
      for (const auto& [key, item] : v.as_object()) members.emplace_back(key, classify(item));
      std::sort(members.begin(), members.end());
      Accumulator acc;
      e.hash = members.size();
      for (const auto& [key, id] : members) {
        const StrCost k = json_string_cost(key);
        acc.item(entries_[id].m, &k);
        e.hash = mix(mix(e.hash, keyed_hash(key)), entries_[id].hash);
      }
      e.m = acc.m;
      e.off = static_cast<std::uint32_t>(members_.size());
      e.n = static_cast<std::uint32_t>(members.size());
      members_.insert(members_.end(), members.begin(), members.end());
      const std::uint32_t id = intern(e);
      if (id + 1 != entries_.size()) members_.resize(e.off);
      return id;
    }
    default:
      break;
  }
  e.hash = mix(e.hash, static_cast<std::uint64_t>(e.kind));
  e.m = leaf_measure(v);
  return intern(e);
}

bool Classifier::same(const Entry& a, const Entry& b) const {
  if (a.hash != b.hash || a.kind != b.kind || a.n != b.n) return false;
  switch (a.kind) {
    case Kind::kInteger:
    case Kind::kString:
      return a.text == b.text;
    case Kind::kFloat:
      return a.bits == b.bits;
    case Kind::kArray:
      return std::equal(ids_.begin() + a.off, ids_.begin() + a.off + a.n, ids_.begin() + b.off);
    case Kind::kObject:
      return std::equal(members_.begin() + a.off, members_.begin() + a.off + a.n,
                        members_.begin() + b.off);
    default:
      return true;
  }
}

std::uint32_t Classifier::intern(Entry e) {
  if (entries_.size() * 2 >= table_.size()) grow_table();
  const std::size_t mask = table_.size() - 1;
  for (std::size_t i = e.hash & mask;; i = (i + 1) & mask) {
    if (table_[i] == 0) {
      entries_.push_back(e);
      table_[i] = static_cast<std::uint32_t>(entries_.size());
      return table_[i] - 1;
    }
    if (same(entries_[table_[i] - 1], e)) return table_[i] - 1;
  }
}

void Classifier::grow_table() {
  std::vector<std::uint32_t> bigger(std::max<std::size_t>(64, table_.size() * 2), 0);
  const std::size_t mask = bigger.size() - 1;
  for (std::uint32_t id = 0; id < entries_.size(); ++id) {
    std::size_t i = entries_[id].hash & mask;
    while (bigger[i] != 0) i = (i + 1) & mask;
    bigger[i] = id + 1;
  }
  table_ = std::move(bigger);
}

}  // namespace cybexp::tahoe_detail
