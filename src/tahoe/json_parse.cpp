// JSON text -> cybexp::Value with Python json.loads semantics, on RapidJSON's
// SAX reader. RapidJSON does the grammar; the handler here gives the Python
// meaning (exact integers, correctly rounded floats, NaN/Infinity only in
// Python's spelling, last duplicate key wins at the first key's place), and
// two length-preserving rewrites (json_rewrite.cpp) cover what RapidJSON
// refuses but Python accepts: numbers beyond its range and lone surrogates.
// A private copy of RapidJSON's templates (own namespace), built with its
// SSE2 string and whitespace scanning, so no other translation unit can see
// a differently configured GenericReader.
#define RAPIDJSON_NAMESPACE cybexp_rapidjson
#define RAPIDJSON_NAMESPACE_BEGIN namespace cybexp_rapidjson {
#define RAPIDJSON_NAMESPACE_END }
#if defined(__SSE2__)
#define RAPIDJSON_SSE2
#endif
#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <unordered_map>

#include "cybexp/json_value.h"
#include "cybexp/python_json.h"
#include "tahoe/json_rewrite.h"
#include "util/keyed_hash.h"

namespace cybexp {

const Value* Value::find(std::string_view key) const {
  if (!is_object()) return nullptr;
  for (const auto& [k, v] : as_object())
    if (k == key) return &v;
  return nullptr;
}

namespace {

namespace rapidjson = cybexp_rapidjson;
using rapidjson::SizeType;

struct ParseOptions {
  std::size_t max_depth = 256;
  bool allow_nan = false;
  // When set, every numeric token of the text was replaced by "0" and padding;
  // these are the original tokens, in document order.
  const std::vector<std::string_view>* numbers = nullptr;
  // The text may hold a \uDC00-style escape, which RapidJSON turns into a
  // surrogate's 3-byte form without complaint; strings are then checked.
  bool check_low_surrogates = false;
};

enum class Stop { kNone, kTooDeep, kBadLiteral, kInternal };

// Builds Values on flat stacks: a container's items are moved into it in
// one exact-size allocation when it closes.
class Builder : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, Builder> {
 public:
  explicit Builder(const ParseOptions& opt) : opt_(opt) {}

  bool Null() { return push(nullptr); }
  bool Bool(bool b) { return push(b); }

  bool RawNumber(const char* s, SizeType n, bool /*copy*/) {
    std::string_view t(s, n);
    const bool numeric =
        t[0] != '-' ? t[0] != 'N' && t[0] != 'I' : n > 1 && t[1] != 'I' && t[1] != 'N';
    if (!numeric) {
      // RapidJSON also takes Inf, -Inf, -NaN and letters after them; Python
      // takes exactly these three.
      if (opt_.allow_nan && t == "NaN") return push(std::numeric_limits<double>::quiet_NaN());
      if (opt_.allow_nan && t == "Infinity") return push(std::numeric_limits<double>::infinity());
      if (opt_.allow_nan && t == "-Infinity") return push(-std::numeric_limits<double>::infinity());
      return stop(Stop::kBadLiteral, "'" + std::string(t) + "' is not a JSON value");
    }
    if (opt_.numbers != nullptr) {
      if (number_index_ >= opt_.numbers->size())
        return stop(Stop::kInternal, "number count mismatch");
      t = (*opt_.numbers)[number_index_++];
    }
    if (t.find_first_of(".eE") == std::string_view::npos) {
      // Python int: exact, any size; -0 is 0.
      return push(Integer{t == "-0" ? std::string("0") : std::string(t)});
    }
    return push(to_double(t));
  }

  bool String(const char* s, SizeType n, bool /*copy*/) {
    check_surrogate(s, n);
    return push(std::string(s, n));
  }

  bool Key(const char* s, SizeType n, bool /*copy*/) {
    check_surrogate(s, n);
    keys_.emplace_back(s, n);
    return true;
  }

  bool StartObject() { return open(); }
  bool StartArray() { return open(); }

  bool EndArray(SizeType n) {
    --depth_;
    Array arr;
    arr.reserve(n);
    const std::size_t base = values_.size() - n;
    for (std::size_t i = base; i < values_.size(); ++i) arr.push_back(std::move(values_[i]));
    values_.resize(base);
    return push(std::move(arr));
  }

  bool EndObject(SizeType n) {
    --depth_;
    const std::size_t vbase = values_.size() - n;
    const std::size_t kbase = keys_.size() - n;
    Object obj;
    obj.reserve(n);
    assign_slots(kbase, n);
    for (std::size_t i = 0; i < n; ++i) {
      if (slots_[i] == obj.size()) {
        obj.emplace_back(std::string(keys_[kbase + i]), std::move(values_[vbase + i]));
      } else {
        obj[slots_[i]].second = std::move(values_[vbase + i]);  // Python dict: last wins
      }
    }
    values_.resize(vbase);
    keys_.resize(kbase);
    return push(std::move(obj));
  }

  Stop stopped() const { return stop_; }
  const std::string& stop_detail() const { return stop_detail_; }
  bool saw_lone_surrogate() const { return lone_surrogate_; }
  Value take_root() { return std::move(values_.back()); }

 private:
  // Constructs in place: no moved-from temporary Values.
  template <class T>
  bool push(T&& v) {
    values_.emplace_back(std::forward<T>(v));
    return true;
  }

  bool open() {
    // Refusing here also bounds RapidJSON's recursion.
    if (depth_ >= opt_.max_depth)
      return stop(Stop::kTooDeep,
                  "nested deeper than " + std::to_string(opt_.max_depth) + " levels");
    ++depth_;
    return true;
  }

  bool stop(Stop why, std::string detail) {
    stop_ = why;
    stop_detail_ = std::move(detail);
    return false;
  }

  // A lone low surrogate escape comes out as ED B0..BF xx; valid UTF-8 input
  // never holds those bytes itself.
  void check_surrogate(const char* s, SizeType n) {
    if (!opt_.check_low_surrogates || lone_surrogate_) return;
    const char* end = s + n;
    for (const char* p = s;
         (p = static_cast<const char*>(std::memchr(p, 0xED, end - p))) != nullptr; ++p) {
      if (p + 1 < end && static_cast<unsigned char>(p[1]) >= 0xA0) {
        lone_surrogate_ = true;
        return;
      }
      if (p + 1 >= end) break;
    }
  }

  static double to_double(std::string_view t) {
    double d = 0;
    const auto r = std::from_chars(t.data(), t.data() + t.size(), d);
    if (r.ec == std::errc()) return d;
    // Out of range: strtod gives what Python's float() gives (+-inf on
    // overflow, 0 or the nearest denormal on underflow).
    const std::string copy(t);
    return std::strtod(copy.c_str(), nullptr);
  }

  // slots_[i]: index in the new object of key i's first occurrence.
  void assign_slots(std::size_t kbase, std::size_t n) {
    slots_.resize(n);
    std::size_t unique = 0;
    if (n <= 16) {
      for (std::size_t i = 0; i < n; ++i) {
        std::size_t slot = unique;
        for (std::size_t j = 0; j < i; ++j) {
          if (keys_[kbase + j] == keys_[kbase + i]) {
            slot = slots_[j];
            break;
          }
        }
        slots_[i] = slot;
        if (slot == unique) ++unique;
      }
      return;
    }
    // Keyed: the keys are the sender's (util/keyed_hash.h).
    std::unordered_map<std::string_view, std::size_t, KeyedStringHash> index;
    index.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      const auto [it, inserted] = index.try_emplace(keys_[kbase + i], unique);
      slots_[i] = it->second;
      if (inserted) ++unique;
    }
  }

  const ParseOptions& opt_;
  std::vector<Value> values_;
  // Keys point into the reader's in-situ buffer, alive for the whole parse;
  // each becomes a std::string once, in its object.
  std::vector<std::string_view> keys_;
  std::size_t depth_ = 0;  // containers open
  std::vector<std::size_t> slots_;
  std::size_t number_index_ = 0;
  Stop stop_ = Stop::kNone;
  std::string stop_detail_;
  bool lone_surrogate_ = false;
};

struct Outcome {
  rapidjson::ParseErrorCode code = rapidjson::kParseErrorNone;
  std::size_t offset = 0;
  Stop stop = Stop::kNone;
  std::string detail;  // set when not ok
  bool lone_surrogate = false;
  Value value;
};

template <unsigned kFlags>
Outcome parse_once(std::string_view text, const ParseOptions& opt) {
  Outcome out;
  Builder builder(opt);
  rapidjson::Reader reader;
  // In-situ parsing decodes strings in place (no copy through the reader's
  // stack) and gets RapidJSON's SIMD scanning; it needs a NUL-terminated
  // buffer of its own. The SIMD loops read whole aligned 16-byte blocks, so
  // the buffer has 16 zero bytes after the text.
  std::string buffer(text.size() + 16, '\0');
  // memcpy from the null data() of an empty view is undefined behaviour.
  if (!text.empty()) std::memcpy(buffer.data(), text.data(), text.size());
  rapidjson::InsituStringStream stream(buffer.data());
  const rapidjson::ParseResult r =
      reader.Parse<kFlags | rapidjson::kParseInsituFlag>(stream, builder);
  if (!r.IsError() && stream.Tell() != text.size()) {
    // The stream takes a NUL byte for the end of input.
    out.code = rapidjson::kParseErrorDocumentRootNotSingular;
    out.offset = stream.Tell();
    out.detail =
        "invalid JSON at byte " + std::to_string(out.offset) + ": NUL byte after the value";
    return out;
  }
  if (r.IsError()) {
    out.code = r.Code();
    out.offset = r.Offset();
    out.stop = builder.stopped();
    const std::string why = out.stop != Stop::kNone
                                ? builder.stop_detail()
                                : std::string(rapidjson::GetParseError_En(r.Code()));
    out.detail = (out.stop == Stop::kTooDeep ? "JSON " : "invalid JSON ") +
                 std::string("at byte ") + std::to_string(out.offset) + ": " + why;
    return out;
  }
  out.lone_surrogate = builder.saw_lone_surrogate();
  out.value = builder.take_root();
  return out;
}

// Parses with RapidJSON, rewriting the text (same length, same offsets) and
// retrying when RapidJSON refuses what Python accepts.
template <unsigned kFlags>
Outcome parse_with_fallbacks(std::string_view text, ParseOptions opt, bool& surrogates_replaced) {
  opt.check_low_surrogates = tahoe_detail::may_hold_low_surrogate(text);
  std::string copy;
  std::vector<std::string_view> numbers;
  std::string_view cur = text;
  bool numbers_replaced = false;
  surrogates_replaced = false;
  for (;;) {
    Outcome o = parse_once<kFlags>(cur, opt);
    if (o.code == rapidjson::kParseErrorNumberTooBig && o.stop == Stop::kNone &&
        !numbers_replaced) {
      if (copy.empty()) copy.assign(text);
      tahoe_detail::neutralise_numbers(text, copy, numbers);
      opt.numbers = &numbers;
      numbers_replaced = true;
      cur = copy;
      continue;
    }
    if (o.code == rapidjson::kParseErrorStringUnicodeSurrogateInvalid && !surrogates_replaced) {
      if (copy.empty()) copy.assign(text);
      tahoe_detail::replace_lone_surrogates(copy);
      surrogates_replaced = true;
      cur = copy;
      continue;
    }
    return o;
  }
}

// UTF-8 is checked up front by is_valid_utf8, many times faster than
// RapidJSON's per-character kParseValidateEncodingFlag (which would also
// turn off its SIMD string scanning).
constexpr unsigned kPythonFlags =
    rapidjson::kParseNanAndInfFlag | rapidjson::kParseNumbersAsStringsFlag;
constexpr unsigned kStrictFlags = rapidjson::kParseNumbersAsStringsFlag;

constexpr std::string_view kNotUtf8 = "invalid JSON: the text is not valid UTF-8";

}  // namespace

JsonParseResult parse_python_json(std::string_view text, const JsonLimits& limits) {
  ParseOptions opt;
  opt.max_depth = limits.max_depth;
  opt.allow_nan = true;
  if (!is_valid_utf8(text))
    return JsonParseResult{JsonParseStatus::kNotJson, Value(), std::string(kNotUtf8)};
  bool replaced = false;
  Outcome o = parse_with_fallbacks<kPythonFlags>(text, opt, replaced);
  JsonParseResult res;
  if (o.code == rapidjson::kParseErrorNone) {
    if (replaced || o.lone_surrogate) {
      res.status = JsonParseStatus::kLoneSurrogate;
      res.detail = "string holds a lone UTF-16 surrogate escape";
    } else {
      res.status = JsonParseStatus::kOk;
      res.value = std::move(o.value);
    }
    return res;
  }
  res.status = o.stop == Stop::kTooDeep ? JsonParseStatus::kTooDeep : JsonParseStatus::kNotJson;
  res.detail = std::move(o.detail);
  return res;
}

Result<Value> parse_json_strict(std::string_view text, std::string_view origin) {
  ParseOptions opt;
  if (!is_valid_utf8(text))
    return make_error(ErrorKind::kInvalidArgument,
                      std::string(origin) + ": " + std::string(kNotUtf8));
  bool replaced = false;
  Outcome o = parse_with_fallbacks<kStrictFlags>(text, opt, replaced);
  if (o.code == rapidjson::kParseErrorNone && (replaced || o.lone_surrogate)) {
    return make_error(
        ErrorKind::kInvalidArgument,
        std::string(origin) + ": invalid JSON: a string holds a lone UTF-16 surrogate escape");
  }
  if (o.code != rapidjson::kParseErrorNone)
    return make_error(ErrorKind::kInvalidArgument, std::string(origin) + ": " + o.detail);
  return std::move(o.value);
}

}  // namespace cybexp
