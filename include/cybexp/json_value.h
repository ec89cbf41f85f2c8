// A JSON value with Python json.loads semantics (docs/UPSTREAM-FORMATS.md section 3):
// integers kept exactly as their decimal digits (any size), floats as
// correctly rounded doubles (NaN/Infinity accepted), objects keep insertion
// order and the last of duplicate keys wins (at the first key's position, as
// a Python dict does). Parsing is done by RapidJSON's SAX reader; only the
// semantics are ours.
//
// Thread safety: a Value is a plain value type; parse_python_json is reentrant.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "cybexp/result.h"

namespace cybexp {

class Value;
using Array = std::vector<Value>;
using Object = std::vector<std::pair<std::string, Value>>;  // insertion order, unique keys

// An exact integer: its canonical decimal text ("-0" normalised to "0").
struct Integer {
  std::string digits;
  bool operator==(const Integer&) const = default;
};

class Value {
 public:
  using Storage = std::variant<std::nullptr_t, bool, Integer, double, std::string, Array, Object>;
  Value() : v_(nullptr) {}
  // From any alternative. Never from a Value (found by clang-tidy,
  // bugprone-forwarding-reference-overload): unconstrained, this template
  // beat the copy constructor for a non-const Value lvalue.
  template <class T, class = std::enable_if_t<!std::is_same_v<std::remove_cvref_t<T>, Value>>>
  Value(T&& v) : v_(std::forward<T>(v)) {}

  bool is_null() const { return std::holds_alternative<std::nullptr_t>(v_); }
  bool is_bool() const { return std::holds_alternative<bool>(v_); }
  bool is_integer() const { return std::holds_alternative<Integer>(v_); }
  bool is_float() const { return std::holds_alternative<double>(v_); }
  bool is_string() const { return std::holds_alternative<std::string>(v_); }
  bool is_array() const { return std::holds_alternative<Array>(v_); }
  bool is_object() const { return std::holds_alternative<Object>(v_); }

  bool as_bool() const { return std::get<bool>(v_); }
  const Integer& as_integer() const { return std::get<Integer>(v_); }
  double as_float() const { return std::get<double>(v_); }
  const std::string& as_string() const { return std::get<std::string>(v_); }
  const Array& as_array() const { return std::get<Array>(v_); }
  Array& as_array() { return std::get<Array>(v_); }
  const Object& as_object() const { return std::get<Object>(v_); }
  Object& as_object() { return std::get<Object>(v_); }

  // Object member lookup; nullptr when absent or not an object.
  const Value* find(std::string_view key) const;

  const Storage& storage() const { return v_; }

 private:
  Storage v_;
};

struct JsonLimits {
  std::size_t max_depth = 256;  // arrays/objects nested deeper are refused
  // parse_document only (document.h): a document that nests so deep that
  // its canonical form must be larger than this is refused without its
  // tape being built (kCanonicalTooLarge); 0: not checked.
  std::uint64_t max_canonical_bytes = 0;
};

enum class JsonParseStatus {
  kOk,             // value holds the parsed document
  kNotJson,        // Python's json.loads would raise JSONDecodeError
  kLoneSurrogate,  // parses in Python, but holds a \uD800-style lone surrogate
  kTooDeep,        // nested deeper than JsonLimits::max_depth
};

struct JsonParseResult {
  JsonParseStatus status = JsonParseStatus::kNotJson;
  Value value;
  std::string detail;  // for kNotJson / kTooDeep: what and where (byte offset)
};

// text must be valid UTF-8 (the envelope layer checks that).
JsonParseResult parse_python_json(std::string_view text, const JsonLimits& limits = {});

// Strict RFC 8259 parse for configuration files (no NaN); errors name the
// byte offset.
Result<Value> parse_json_strict(std::string_view text, std::string_view origin);

}  // namespace cybexp
