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

// RapidJSON 1.1.0 tests for room on its string stack as `top + n > end`,
// which on the fresh (null) stack is arithmetic on a null pointer
// (undefined behaviour, reported by UBSan). The tape's parse is not in situ
// and pushes every token there; the same test without the arithmetic:
namespace cybexp_rapidjson::internal {
template <>
template <>
inline void Stack<CrtAllocator>::Reserve<char>(size_t count) {
  if (RAPIDJSON_UNLIKELY(static_cast<size_t>(stackEnd_ - stackTop_) < count)) Expand<char>(count);
}
}  // namespace cybexp_rapidjson::internal

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>

#include "cybexp/canonical.h"
#include "cybexp/document.h"
#include "cybexp/json_value.h"
#include "cybexp/python_json.h"
#include "tahoe/escape.h"
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
  // The tape stops (kCanonicalTooLarge) when this many containers are open
  // (0: never): canonical_nesting_lower_bound of it is over this limit.
  std::size_t canonical_refusal_depth = 0;
  std::uint64_t max_canonical_bytes = 0;
};

enum class Stop { kNone, kTooDeep, kBadLiteral, kInternal, kTooLarge, kTimedOut, kCanonicalTooLarge };

// slots[i]: index in the deduplicated object of key i's first occurrence;
// returns how many distinct keys there are.
std::size_t assign_key_slots(std::span<const std::string_view> keys, std::vector<std::size_t>& slots) {
  const std::size_t n = keys.size();
  slots.resize(n);
  std::size_t unique = 0;
  if (n <= 16) {
    for (std::size_t i = 0; i < n; ++i) {
      std::size_t slot = unique;
      for (std::size_t j = 0; j < i; ++j) {
        if (keys[j] == keys[i]) {
          slot = slots[j];
          break;
        }
      }
      slots[i] = slot;
      if (slot == unique) ++unique;
    }
    return unique;
  }
  // Open addressing on the keyed hash (the keys are the sender's:
  // util/keyed_hash.h), 8 bytes a key at most.
  std::size_t size = 64;
  while (size < 2 * n) size *= 2;
  std::vector<std::uint32_t> table(size, 0);  // key index + 1, 0 = empty
  const std::size_t mask = size - 1;
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t slot = keyed_hash(keys[i]) & mask;
    for (;; slot = (slot + 1) & mask) {
      if (table[slot] == 0) {
        table[slot] = static_cast<std::uint32_t>(i + 1);
        slots[i] = unique++;
        break;
      }
      const std::size_t j = table[slot] - 1;
      if (keys[j] == keys[i]) {
        slots[i] = slots[j];
        break;
      }
    }
  }
  return unique;
}

// A lone low surrogate escape comes out as ED B0..BF xx; valid UTF-8 input
// never holds those bytes itself.
bool holds_low_surrogate(const char* s, SizeType n) {
  const char* end = s + n;
  for (const char* p = s;
       (p = static_cast<const char*>(std::memchr(p, 0xED, end - p))) != nullptr; ++p) {
    if (p + 1 < end && static_cast<unsigned char>(p[1]) >= 0xA0) return true;
    if (p + 1 >= end) break;
  }
  return false;
}

double token_to_double(std::string_view t) {
  if (t == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (t == "Infinity") return std::numeric_limits<double>::infinity();
  if (t == "-Infinity") return -std::numeric_limits<double>::infinity();
  double d = 0;
  const auto r = std::from_chars(t.data(), t.data() + t.size(), d);
  if (r.ec == std::errc()) return d;
  // Out of range: strtod gives what Python's float() gives (+-inf on
  // overflow, 0 or the nearest denormal on underflow).
  const std::string copy(t);
  return std::strtod(copy.c_str(), nullptr);
}

// Python's literals among RapidJSON's NaN/Inf spellings: true when t is a
// number token rather than a literal.
bool is_numeric_token(std::string_view t) {
  return t[0] != '-' ? t[0] != 'N' && t[0] != 'I' : t.size() > 1 && t[1] != 'I' && t[1] != 'N';
}


// Builds Values on flat stacks: a container's items are moved into it in
// one exact-size allocation when it closes.
class Builder : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, Builder> {
 public:
  explicit Builder(const ParseOptions& opt) : opt_(opt) {}

  bool Null() { return push(nullptr); }
  bool Bool(bool b) { return push(b); }

  bool RawNumber(const char* s, SizeType n, bool /*copy*/) {
    std::string_view t(s, n);
    if (!is_numeric_token(t)) {
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
    return push(token_to_double(t));
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

  void check_surrogate(const char* s, SizeType n) {
    if (!opt_.check_low_surrogates || lone_surrogate_) return;
    lone_surrogate_ = holds_low_surrogate(s, n);
  }

  void assign_slots(std::size_t kbase, std::size_t n) {
    assign_key_slots(std::span<const std::string_view>(keys_.data() + kbase, n), slots_);
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

// Builds a Document's tape: nodes in document order, each container's head
// filled in when it closes. Keys and strings are views into the in-situ
// buffer; numbers into the buffer or, after a rewrite, the original text.
class TapeBuilder : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, TapeBuilder> {
 public:
  using Node = Document::Node;
  // `original`: the text the nodes refer to (a rewritten copy being parsed
  // has the same length and offsets); `decoded`: where strings that held
  // escapes go, reserved to the text's size so views into it stay valid.
  TapeBuilder(const ParseOptions& opt, std::string_view original, std::vector<Node> nodes,
              std::string& decoded, const Deadline& deadline)
      : opt_(opt), original_(original), nodes_(std::move(nodes)), decoded_(decoded), deadline_(deadline) {
    if (!deadline.set()) countdown_ = SIZE_MAX;
    nodes_.clear();
    // Every value takes a byte and every item after the first a separator,
    // so a text of n bytes has at most (n + 1) / 2 nodes: reserved once
    // (pages never written are never resident), the tape is never copied
    // as it grows, nor left with up to twice the room it needs.
    nodes_.reserve(original.size() / 2 + 1);
    decoded_.clear();
    decoded_.reserve(original.size());
  }

  // The stream being parsed (not in situ): where each token is in the text.
  // (RapidJSON's string streams keep their position in public members.)
  template <class Stream>
  void set_stream(const Stream* stream) {
    src_ = stream != nullptr ? &stream->src_ : nullptr;
    head_ = stream != nullptr ? stream->head_ : nullptr;
  }

  bool Null() { return literal(Document::kNull, "null"); }
  bool Bool(bool b) { return b ? literal(Document::kTrue, "true") : literal(Document::kFalse, "false"); }

  bool RawNumber(const char* s, SizeType n, bool /*copy*/) {
    // The reader hands over a copy in its stack; the token is in the text
    // where the stream still stands (see place()), unless it was rewritten.
    std::string_view t(s, n);
    if (opt_.numbers != nullptr && is_numeric_token(t)) {
      if (number_index_ >= opt_.numbers->size())
        return stop(Stop::kInternal, "number count mismatch");
      t = (*opt_.numbers)[number_index_++];  // a view into the caller's text
      if (!inside(t.data(), t.size())) {       // in situ, the nodes refer to a copy
        const std::optional<std::string_view> kept = keep_decoded(t.data(), t.size());
        if (!kept) return false;
        t = *kept;
      }
    } else {
      const std::optional<std::string_view> placed =
          place(s, n, tell());
      if (!placed) return false;
      t = *placed;
    }
    if (!is_numeric_token(t)) {
      if (opt_.allow_nan && (t == "NaN" || t == "Infinity" || t == "-Infinity"))
        return number(Document::kFloat, t, false);
      return stop(Stop::kBadLiteral, "'" + std::string(t) + "' is not a JSON value");
    }
    // (A loop: find_first_of calls memchr for each byte.)
    if (std::none_of(t.begin(), t.end(), [](char c) { return c == '.' || c == 'e' || c == 'E'; })) {
      if (t == "-0") t.remove_prefix(1);  // Python int: -0 is 0
      const std::size_t at = offset_of(t);
      if (in_array() && at < original_.size() && t.size() <= Document::kMaxCount) {
        return run_item({static_cast<std::uint32_t>(t.size() << 4 | Document::kInteger),
                         static_cast<std::uint32_t>(at)}, at);
      }
      return ref_node(Document::kInteger, at, t.size(), false);
    }
    // repr() once here, not in each writer; kept aside only when the
    // token does not start with it. Usually seen from the spelling,
    // without converting it twice: then repr is the token or the token
    // without its trailing zeros (its prefix, so the node refers to that).
    if (const std::size_t len = tahoe_detail::float_repr_length(t); len > 0)
      return number(Document::kFloat, t.substr(0, len), false);
    char buf[32];
    const std::size_t len = tahoe_detail::format_python_float(token_to_double(t), buf);
    const std::string_view repr(buf, len);
    if (repr == t) return number(Document::kFloat, t, false);
    if (floats_.size() > UINT32_MAX)
      return stop(Stop::kTooLarge, "too many floats for the compact document model");
    const std::size_t at = floats_.size();
    floats_.append(repr);
    run_items_ = 0;
    nodes_.push_back({static_cast<std::uint32_t>(len << 4 | 8 | Document::kFloat),
                      static_cast<std::uint32_t>(at)});
    return true;
  }

  bool String(const char* s, SizeType n, bool /*copy*/) {
    if (opt_.check_low_surrogates && !lone_surrogate_) lone_surrogate_ = holds_low_surrogate(s, n);
    return text_node(s, n).has_value();
  }

  bool Key(const char* s, SizeType n, bool /*copy*/) {
    if (opt_.check_low_surrogates && !lone_surrogate_) lone_surrogate_ = holds_low_surrogate(s, n);
    const std::size_t node = nodes_.size();
    const std::optional<std::string_view> key = text_node(s, n);
    if (!key) return false;
    keys_.push_back(*key);
    key_nodes_.push_back(node);
    return true;
  }

  bool StartObject() { return open(false); }
  bool StartArray() { return open(true); }

  bool EndArray(SizeType n) { return close(Document::kArray, n); }

  bool EndObject(SizeType n) {
    const std::size_t kbase = keys_.size() - n;
    const std::span<const std::string_view> keys(keys_.data() + kbase, n);
    // The keys of the last object without duplicates: objects in a batch
    // mostly repeat them, and n comparisons settle it.
    if (unique_keys_.size() < depth_) unique_keys_.resize(depth_);
    std::vector<std::string_view>& cached = unique_keys_[depth_ - 1];  // this object's depth
    std::size_t unique = n;
    if (!std::equal(keys.begin(), keys.end(), cached.begin(), cached.end())) {
      unique = assign_key_slots(keys, slots_);
      if (unique != n) {
        dedup(kbase, n);
      } else if (n <= kCachedKeys) {
        cached.assign(keys.begin(), keys.end());
      }
    }
    keys_.resize(kbase);
    key_nodes_.resize(kbase);
    return close(Document::kObject, unique);
  }

  Stop stopped() const { return stop_; }
  const std::string& stop_detail() const { return stop_detail_; }
  bool saw_lone_surrogate() const { return lone_surrogate_; }
  std::vector<Node> take_nodes() { return std::move(nodes_); }
  std::string take_floats() { return std::move(floats_); }

 private:
  // true, false or null: an item of a run when an array holds it and it is
  // where the stream says (the reader calls back just past it).
  bool literal(Document::Kind k, std::string_view word) {
    if (in_array() && src_ != nullptr) [[likely]] {
      const std::size_t end = tell();
      if (end >= word.size() && end <= original_.size() &&
          std::memcmp(original_.data() + end - word.size(), word.data(), word.size()) == 0)
        return run_item({static_cast<std::uint32_t>(k), 0}, end - word.size());
    }
    run_items_ = 0;
    nodes_.push_back({static_cast<std::uint32_t>(k), 0});
    return in_time();
  }

  bool in_array() const { return in_array_; }

  // An integer, true, false or null of the array open now, at `offset` in
  // the text: a node of its own while it and the items of this kind right
  // before it are fewer than kRunFrom, then they all become one run node.
  bool run_item(Node node, std::size_t offset) {
    if (run_items_ > 0 && run_items_ < Document::kMaxCount) {
      ++run_items_;
      if (run_items_ < Document::kRunFrom) {
        nodes_.push_back(node);
        return in_time();
      }
      if (run_items_ == Document::kRunFrom) nodes_.resize(run_first_ + 1);  // they become the run
      nodes_[run_first_] = {run_items_ << 4 | 8u | Document::kNull, run_first_offset_};
      return in_time();
    }
    run_first_ = nodes_.size();
    run_first_offset_ = static_cast<std::uint32_t>(offset);  // the text is under 4 GiB
    run_items_ = 1;
    nodes_.push_back(node);
    return in_time();
  }

  // limits.entry_seconds, checked every kCheckEvery nodes (at least 128 KiB
  // of text): a clock read per check, a decrement per node.
  bool in_time() {
    if (--countdown_ != 0) return true;
    countdown_ = kCheckEvery;
    if (!deadline_.passed()) return true;
    return stop(Stop::kTimedOut, "abandoned: the entry's time (limits.entry_seconds) ran out");
  }

  // A string's node, and the view it stands for.
  std::optional<std::string_view> text_node(const char* s, std::size_t n) {
    if (inside(s, n)) [[likely]] {  // in situ: decoded in place, the usual case
      if (!ref_node(Document::kString, static_cast<std::size_t>(s - original_.data()), n,
                    is_plain_in_text(s, n)))
        return std::nullopt;
      return std::string_view(s, n);
    }
    return text_node_placed(s, n);
  }

  [[gnu::noinline]] std::optional<std::string_view> text_node_placed(const char* s, std::size_t n) {
    const std::optional<std::string_view> view =
        place_string(s, n, tell());
    if (!view) return std::nullopt;
    if (!ref_node(Document::kString, offset_of(*view), n, is_plain({s, n}))) return std::nullopt;
    return view;
  }

  // Where the n bytes at s (the reader's decoded copy of a token) are kept:
  // in the text at `start` when they are those very bytes (a string without
  // escapes, a number), else appended to decoded_ (a string is never longer
  // decoded than escaped, so decoded_ never outgrows its reservation).
  // RapidJSON parses each token on a local copy of the stream and writes
  // the position back after the handler returns, so during a callback
  // the stream still stands at the token's start (its opening quote for a
  // string); were that ever not so, the comparison fails and the bytes are
  // copied: slower, never wrong.
  std::optional<std::string_view> place(const char* s, std::size_t n, std::size_t start) {
    if (inside(s, n)) return std::string_view(s, n);  // in situ: already in the text
    if (src_ == nullptr) return keep_decoded(s, n);
    if (start <= original_.size() && n <= original_.size() - start &&
        std::memcmp(original_.data() + start, s, n) == 0) {
      return std::string_view(original_.data() + start, n);
    }
    return keep_decoded(s, n);
  }

  // As place(), for a string whose opening quote is at `quote`, without
  // comparing its bytes: the text between the quotes is the decoded string
  // exactly when it has no escapes, that is when the closing quote follows
  // n bytes on, not escaped. (With escapes the text is longer than n, and a
  // quote n bytes on is inside the string, so escaped: after a backslash.)
  std::optional<std::string_view> place_string(const char* s, std::size_t n, std::size_t quote) {
    if (inside(s, n)) return std::string_view(s, n);  // in situ: decoded in place
    if (src_ == nullptr) return keep_decoded(s, n);
    const char* t = original_.data();
    const std::size_t start = quote + 1;
    if (quote < original_.size() && t[quote] == '"' && n + 1 < original_.size() - quote &&
        t[start + n] == '"' && (n == 0 || t[start + n - 1] != '\\')) {
      return std::string_view(t + start, n);
    }
    return keep_decoded(s, n);
  }

  std::optional<std::string_view> keep_decoded(const char* s, std::size_t n) {
    if (n > decoded_.capacity() - decoded_.size()) {
      stop(Stop::kInternal, "decoded strings beyond their reservation");
      return std::nullopt;
    }
    const std::size_t at = decoded_.size();
    decoded_.append(s, n);
    return std::string_view(decoded_.data() + at, n);
  }

  // json.dumps writes s as it is: no byte to escape (one pass, 8 at a time).
  static bool is_plain(std::string_view s) {
    const char* p = s.data();
    const char* end = p + s.size();
    std::uint64_t m = 0;
    for (; end - p >= 8; p += 8) m |= tahoe_detail::escape_mask(tahoe_detail::load8(p));
    for (; p < end; ++p) m |= tahoe_detail::kByteCost.len[static_cast<unsigned char>(*p)] != 1;
    return m == 0;
  }

  // is_plain for a string inside the text, which is followed by at least
  // kDocumentTextPadding readable bytes: the last bytes are checked as one
  // word too, the bytes past the string masked off.
  static bool is_plain_in_text(const char* p, std::size_t n) {
    static_assert(kDocumentTextPadding >= 8);
    const char* end = p + n;
    std::uint64_t m = 0;
    for (; end - p >= 8; p += 8) m |= tahoe_detail::escape_mask(tahoe_detail::load8(p));
    if (p < end) {
      const auto rest = static_cast<unsigned>(end - p);  // 1 to 7
      m |= tahoe_detail::escape_mask(tahoe_detail::load8(p)) & (~std::uint64_t{0} >> (64 - 8 * rest));
    }
    return m == 0;
  }

  bool inside(const char* s, std::size_t n) const {
    return s >= original_.data() && n <= original_.size() &&
           s <= original_.data() + (original_.size() - n);
  }

  // A view's offset in the document: in the text, or past its end in decoded_.
  std::size_t offset_of(std::string_view v) const {
    const char* p = v.data();
    if (p >= original_.data() && p <= original_.data() + original_.size())
      return static_cast<std::size_t>(p - original_.data());
    return original_.size() + static_cast<std::size_t>(p - decoded_.data());
  }

  bool number(Document::Kind k, std::string_view t, bool flag) {
    return ref_node(k, offset_of(t), t.size(), flag);
  }

  bool ref_node(Document::Kind k, std::size_t offset, std::size_t n, bool flag) {
    if (n > Document::kMaxCount || offset > UINT32_MAX)
      return stop(Stop::kTooLarge, "a value too large for the compact document model");
    run_items_ = 0;
    nodes_.push_back({static_cast<std::uint32_t>(n << 4 | (flag ? 8u : 0u) | k),
                      static_cast<std::uint32_t>(offset)});
    return in_time();
  }

  bool open(bool array) {
    if (depth_ >= opt_.max_depth)
      return stop(Stop::kTooDeep,
                  "nested deeper than " + std::to_string(opt_.max_depth) + " levels");
    ++depth_;
    if (depth_ == opt_.canonical_refusal_depth) [[unlikely]] {
      return stop(Stop::kCanonicalTooLarge,
                  "canonical form would be at least " +
                      std::to_string(canonical_nesting_lower_bound(depth_)) + " bytes, over the " +
                      std::to_string(opt_.max_canonical_bytes) + "-byte limit (it nests " +
                      std::to_string(depth_) + " levels deep)");
    }
    run_items_ = 0;
    array_open_.push_back(array);
    in_array_ = array;
    open_.push_back(nodes_.size());
    nodes_.push_back({});
    return in_time();
  }

  bool close(Document::Kind k, std::size_t count) {
    --depth_;
    run_items_ = 0;
    array_open_.pop_back();
    in_array_ = !array_open_.empty() && array_open_.back();
    const std::size_t start = open_.back();
    open_.pop_back();
    const std::size_t size = nodes_.size() - start;
    if (count > Document::kMaxCount || size > UINT32_MAX)
      return stop(Stop::kTooLarge, "a container too large for the compact document model");
    nodes_[start] = {static_cast<std::uint32_t>(count << 4 | k), static_cast<std::uint32_t>(size)};
    return true;
  }

  static constexpr std::size_t kCachedKeys = 64;  // larger objects are rarely repeated

  // Python dict semantics for the object just closed, whose n members start
  // at key_nodes_[kbase]: each key once, at its first place, with its last
  // value. Rare; rewrites the members in place.
  void dedup(std::size_t kbase, std::size_t n) {
    const std::size_t begin = key_nodes_[kbase];
    const std::vector<Node> members(nodes_.begin() + static_cast<std::ptrdiff_t>(begin), nodes_.end());
    auto span_of = [&](std::size_t i) {  // member i's value, as offsets in members
      const std::size_t from = key_nodes_[kbase + i] - begin + 1;
      const std::size_t to = i + 1 < n ? key_nodes_[kbase + i + 1] - begin : members.size();
      return std::pair{from, to};
    };
    std::vector<std::size_t> last(n);  // slot -> member whose value wins
    for (std::size_t i = 0; i < n; ++i) last[slots_[i]] = i;
    nodes_.resize(begin);
    std::size_t next_slot = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (slots_[i] != next_slot) continue;  // a later duplicate
      ++next_slot;
      nodes_.push_back(members[key_nodes_[kbase + i] - begin]);
      const auto [from, to] = span_of(last[slots_[i]]);
      nodes_.insert(nodes_.end(), members.begin() + static_cast<std::ptrdiff_t>(from),
                    members.begin() + static_cast<std::ptrdiff_t>(to));
    }
  }

  bool stop(Stop why, std::string detail) {
    stop_ = why;
    stop_detail_ = std::move(detail);
    return false;
  }

  const ParseOptions& opt_;
  static constexpr std::size_t kCheckEvery = 1u << 16;
  std::string_view original_;
  const char* const* src_ = nullptr;  // the stream's position, when set
  const char* head_ = nullptr;
  std::size_t tell() const { return src_ != nullptr ? static_cast<std::size_t>(*src_ - head_) : 0; }
  std::vector<Node> nodes_;
  std::string& decoded_;
  const Deadline& deadline_;
  std::size_t countdown_ = kCheckEvery;
  std::string floats_;
  std::vector<std::size_t> open_;  // head nodes of the open containers
  std::vector<bool> array_open_;   // for each: an array (not an object)
  bool in_array_ = false;          // array_open_'s last
  // The items at the tape's end that may make or extend a run: how many,
  // the first one's node, and its offset in the text.
  std::uint32_t run_items_ = 0;
  std::size_t run_first_ = 0;
  std::uint32_t run_first_offset_ = 0;
  std::vector<std::string_view> keys_;
  std::vector<std::vector<std::string_view>> unique_keys_;  // per depth
  std::vector<std::size_t> key_nodes_;
  std::vector<std::size_t> slots_;
  std::size_t depth_ = 0;
  std::size_t number_index_ = 0;
  Stop stop_ = Stop::kNone;
  std::string stop_detail_;
  bool lone_surrogate_ = false;
};

// Checks a text as TapeBuilder does, keeping nothing. A document refused
// for its nesting (Stop::kCanonicalTooLarge) is checked to its end with it:
// only if it is JSON is the refusal right; if not, its payload is archived
// as text, as upstream does with whatever json.loads refuses.
class Validator : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, Validator> {
 public:
  Validator(const ParseOptions& opt, const Deadline& deadline) : opt_(opt), deadline_(deadline) {
    if (!deadline.set()) countdown_ = SIZE_MAX;
  }
  template <class Stream>
  void set_stream(const Stream* /*unused: nothing refers to the text*/) {}

  bool Default() { return in_time(); }  // null, true, false
  bool RawNumber(const char* s, SizeType n, bool /*copy*/) {
    const std::string_view t(s, n);
    if (is_numeric_token(t) || (opt_.allow_nan && (t == "NaN" || t == "Infinity" || t == "-Infinity")))
      return in_time();
    return stop(Stop::kBadLiteral, "'" + std::string(t) + "' is not a JSON value");
  }
  bool String(const char* s, SizeType n, bool /*copy*/) {
    if (opt_.check_low_surrogates && !lone_surrogate_) lone_surrogate_ = holds_low_surrogate(s, n);
    return in_time();
  }
  bool Key(const char* s, SizeType n, bool copy) { return String(s, n, copy); }
  bool StartObject() { return open(); }
  bool StartArray() { return open(); }
  bool EndObject(SizeType /*members*/) { return close(); }
  bool EndArray(SizeType /*items*/) { return close(); }

  Stop stopped() const { return stop_; }
  const std::string& stop_detail() const { return stop_detail_; }
  bool saw_lone_surrogate() const { return lone_surrogate_; }

 private:
  bool open() {
    if (depth_ >= opt_.max_depth)
      return stop(Stop::kTooDeep, "nested deeper than " + std::to_string(opt_.max_depth) + " levels");
    ++depth_;
    return in_time();
  }
  bool close() {
    --depth_;
    return true;
  }
  bool in_time() {
    if (--countdown_ != 0) return true;
    countdown_ = kCheckEvery;
    if (!deadline_.passed()) return true;
    return stop(Stop::kTimedOut, "abandoned: the entry's time (limits.entry_seconds) ran out");
  }
  bool stop(Stop why, std::string detail) {
    stop_ = why;
    stop_detail_ = std::move(detail);
    return false;
  }

  static constexpr std::size_t kCheckEvery = 1u << 16;
  const ParseOptions& opt_;
  const Deadline& deadline_;
  std::size_t countdown_ = kCheckEvery;
  std::size_t depth_ = 0;
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
};

// The outcome of one RapidJSON pass that ended at `tell` with `r`.
template <class B>
Outcome outcome_of(const rapidjson::ParseResult& r, std::size_t tell, std::size_t size, const B& builder) {
  Outcome out;
  if (!r.IsError() && tell != size) {
    // The stream takes a NUL byte for the end of input.
    out.code = rapidjson::kParseErrorDocumentRootNotSingular;
    out.offset = tell;
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
  return out;
}

// One RapidJSON pass of `text` into `builder`.
// In situ (the Value builder): through `buffer`, which holds the decoded
// strings afterwards. In-situ parsing decodes strings in place and gets
// RapidJSON's SIMD scanning; it needs a NUL-terminated buffer of its own.
// The SIMD loops read whole aligned 16-byte blocks, so the buffer has 16
// zero bytes after the text.
// Not in situ (the tape): `text` itself, which must have
// kDocumentTextPadding zero bytes after it (same SIMD scanning, no copy).
template <unsigned kFlags, bool kInsitu, class B>
Outcome parse_once(std::string_view text, B& builder, std::string& buffer) {
  rapidjson::Reader reader;
  if constexpr (kInsitu) {
    buffer.assign(text.size() + 16, '\0');
    // memcpy from the null data() of an empty view is undefined behaviour.
    if (!text.empty()) std::memcpy(buffer.data(), text.data(), text.size());
    rapidjson::InsituStringStream stream(buffer.data());
    if constexpr (requires { builder.set_stream(&stream); }) builder.set_stream(&stream);
    const rapidjson::ParseResult r =
        reader.Parse<kFlags | rapidjson::kParseInsituFlag>(stream, builder);
    if constexpr (requires { builder.set_stream(&stream); }) builder.set_stream(decltype(&stream){});
    return outcome_of(r, stream.Tell(), text.size(), builder);
  } else {
    static const char kEmpty[kDocumentTextPadding] = {};
    rapidjson::StringStream stream(text.empty() ? kEmpty : text.data());
    builder.set_stream(&stream);
    const rapidjson::ParseResult r = reader.Parse<kFlags>(stream, builder);
    builder.set_stream(decltype(&stream){});  // the stream ends here; the builder lives on
    return outcome_of(r, stream.Tell(), text.size(), builder);
  }
}

// Parses with RapidJSON, rewriting the text (same length, same offsets) and
// retrying when RapidJSON refuses what Python accepts. make(opt) gives a
// fresh builder for each attempt; done(builder, outcome) is called on the
// last attempt's (with `buffer` holding its in-situ text when kInsitu).
template <unsigned kFlags, bool kInsitu, class B, class Make, class Done>
Outcome parse_with_fallbacks(std::string_view text, ParseOptions opt, bool& surrogates_replaced,
                             std::string& buffer, Make make, Done done) {
  opt.check_low_surrogates = tahoe_detail::may_hold_low_surrogate(text);
  std::string copy;  // the text and, past its end, kDocumentTextPadding zero bytes
  std::vector<std::string_view> numbers;
  std::string_view cur = text;
  bool numbers_replaced = false;
  surrogates_replaced = false;
  auto copy_text = [&] {
    if (!copy.empty()) return;
    copy.reserve(text.size() + kDocumentTextPadding);
    copy.assign(text);
    copy.append(kDocumentTextPadding, '\0');
    cur = std::string_view(copy.data(), text.size());
  };
  for (;;) {
    B builder = make(opt);
    Outcome o = parse_once<kFlags, kInsitu>(cur, builder, buffer);
    if (o.code == rapidjson::kParseErrorNumberTooBig && o.stop == Stop::kNone &&
        !numbers_replaced) {
      copy_text();
      // The padding is NUL bytes, which neither rewrite touches.
      tahoe_detail::neutralise_numbers(text, copy, numbers);
      opt.numbers = &numbers;
      numbers_replaced = true;
      continue;
    }
    if (o.code == rapidjson::kParseErrorStringUnicodeSurrogateInvalid && !surrogates_replaced) {
      copy_text();
      // The padding is NUL bytes, which neither rewrite touches.
      tahoe_detail::replace_lone_surrogates(copy);
      surrogates_replaced = true;
      continue;
    }
    done(builder, o);
    return o;
  }
}

template <unsigned kFlags>
Outcome parse_value(std::string_view text, const ParseOptions& opt, bool& replaced, Value& value) {
  std::string buffer;
  return parse_with_fallbacks<kFlags, true, Builder>(
      text, opt, replaced, buffer, [](const ParseOptions& o) { return Builder(o); },
      [&value](Builder& b, const Outcome& o) {
        if (o.code == rapidjson::kParseErrorNone) value = b.take_root();
      });
}

// UTF-8 is checked up front by is_valid_utf8, many times faster than
// RapidJSON's per-character kParseValidateEncodingFlag (which would also
// turn off its SIMD string scanning).
constexpr unsigned kPythonFlags =
    rapidjson::kParseNanAndInfFlag | rapidjson::kParseNumbersAsStringsFlag;
constexpr unsigned kStrictFlags = rapidjson::kParseNumbersAsStringsFlag;

constexpr std::string_view kNotUtf8 = "invalid JSON: the text is not valid UTF-8";

}  // namespace

struct DocumentAccess {
  static std::vector<Document::Node>& nodes(Document& d) { return d.nodes_; }
  static std::string& owned(Document& d) { return d.owned_; }
  static std::string& decoded(Document& d) { return d.decoded_; }
  static std::string& floats(Document& d) { return d.floats_; }
  static void set_text(Document& d, std::string_view text) {
    d.base_ = text.data();
    d.text_size_ = static_cast<std::uint32_t>(text.size());
  }
};

double Document::float_value(const Node& n) const { return token_to_double(text(n)); }

Value Document::to_value_at(std::size_t& i) const {
  const Node& n = nodes_[i++];
  return n.kind() >= kArray ? container_to_value(n, i) : leaf_to_value(n);
}

Value Document::leaf_to_value(const Node& n) const {
  switch (n.kind()) {
    case kNull:
      return Value(nullptr);
    case kFalse:
      return Value(false);
    case kTrue:
      return Value(true);
    case kInteger:
      return Value(Integer{std::string(text(n))});
    case kFloat:
      return Value(float_value(n));
    case kString:
      return Value(std::string(text(n)));
    default:
      return Value();
  }
}

Value Document::container_to_value(const Node& n, std::size_t& i) const {
  switch (n.kind()) {
    case kArray: {
      Array a;
      a.reserve(n.count());
      while (a.size() < n.count()) {
        if (nodes_[i].is_run()) {
          RunItems items(*this, nodes_[i]);
          for (std::uint32_t k = 0; k < nodes_[i].count(); ++k) a.push_back(leaf_to_value(items.next()));
          ++i;
        } else {
          a.push_back(to_value_at(i));
        }
      }
      return Value(std::move(a));
    }
    case kObject: {
      Object o;
      o.reserve(n.count());
      for (std::uint32_t k = 0; k < n.count(); ++k) {
        std::string key(text(nodes_[i++]));
        o.emplace_back(std::move(key), to_value_at(i));
      }
      return Value(std::move(o));
    }
    default:
      return Value();
  }
}

Value Document::to_value() const {
  std::size_t i = 0;
  return nodes_.empty() ? Value() : to_value_at(i);
}

namespace {

// Each thread keeps the last document's buffers (up to kKeepBytes each) for
// the next: allocating them afresh costs a page fault per 4 KiB every
// time, as the allocator hands large freed blocks back to the kernel.
constexpr std::size_t kKeepBytes = 8u << 20;
thread_local std::string t_owned;
thread_local std::string t_decoded;
thread_local std::vector<Document::Node> t_nodes;

template <class T>
void keep_for_thread(T& from, T& kept, std::size_t element_size) {
  if (from.capacity() * element_size <= kKeepBytes && from.capacity() > kept.capacity())
    kept = std::move(from);
}

// The offsets of nodes are 32 bits and cover the text and its decoded
// strings (at most as long again).
constexpr std::size_t kMaxTextBytes = std::size_t{1} << 31;

}  // namespace

void recycle_document(Document&& doc) {
  keep_for_thread(DocumentAccess::owned(doc), t_owned, 1);
  keep_for_thread(DocumentAccess::decoded(doc), t_decoded, 1);
  keep_for_thread(DocumentAccess::nodes(doc), t_nodes, sizeof(Document::Node));
  doc = Document();
}

namespace {

// The nesting from which every document's canonical form is over
// max_bytes (0: none up to max_depth, or no limit).
std::size_t canonical_refusal_depth(std::uint64_t max_bytes, std::size_t max_depth) {
  if (max_bytes == 0) return 0;
  for (std::size_t depth = 1; depth <= max_depth; ++depth) {
    if (canonical_nesting_lower_bound(depth) > max_bytes) return depth;
  }
  return 0;
}

// The whole text checked as the tape parse would (Validator).
template <bool kInsitu>
Outcome validate(std::string_view text, ParseOptions opt, const Deadline& deadline, bool& replaced) {
  opt.canonical_refusal_depth = 0;
  std::string buffer;
  return parse_with_fallbacks<kPythonFlags, kInsitu, Validator>(
      text, opt, replaced, buffer, [&deadline](const ParseOptions& o) { return Validator(o, deadline); },
      [](Validator&, const Outcome&) {});
}

// The tape of `text`. kInsitu: parsed in `buffer` (a copy the document
// keeps; strings decoded in place, RapidJSON's fastest mode); else parsed
// where it is (padded; strings with escapes decoded into a side buffer).
template <bool kInsitu>
DocumentParseResult parse_tape(std::string_view text, const JsonLimits& limits,
                               const Deadline& deadline, std::string& buffer) {
  DocumentParseResult res;
  if (!is_valid_utf8(text)) {
    res.detail = std::string(kNotUtf8);
    return res;
  }
  if (text.size() >= kMaxTextBytes) {
    res.status = DocumentParseResult::kTooLarge;
    res.detail = "text too large for the compact document model";
    return res;
  }
  ParseOptions opt;
  opt.max_depth = limits.max_depth;
  opt.allow_nan = true;
  opt.max_canonical_bytes = limits.max_canonical_bytes;
  opt.canonical_refusal_depth = canonical_refusal_depth(limits.max_canonical_bytes, limits.max_depth);
  bool replaced = false;
  std::string refusal;
  std::string& decoded = DocumentAccess::decoded(res.document);
  decoded = std::move(t_decoded);
  t_decoded = std::string();
  // In situ, the nodes refer to the buffer: reserved here, so parse_once's
  // copy into it does not move it.
  if (kInsitu) buffer.reserve(text.size() + kDocumentTextPadding);
  const std::string_view base = kInsitu ? std::string_view(buffer.data(), text.size()) : text;
  Outcome o = parse_with_fallbacks<kPythonFlags, kInsitu, TapeBuilder>(
      text, opt, replaced, buffer,
      [base, &decoded, &deadline](const ParseOptions& po) {
        std::vector<Document::Node> nodes = std::move(t_nodes);
        t_nodes = {};
        return TapeBuilder(po, base, std::move(nodes), decoded, deadline);
      },
      [&](TapeBuilder& b, const Outcome& out) {
        if (out.code == rapidjson::kParseErrorNone) {
          DocumentAccess::nodes(res.document) = b.take_nodes();
          DocumentAccess::floats(res.document) = b.take_floats();
        } else {
          t_nodes = b.take_nodes();
          if (b.stopped() == Stop::kCanonicalTooLarge) refusal = b.stop_detail();
        }
      });
  if (o.stop == Stop::kCanonicalTooLarge) {
    o = validate<kInsitu>(text, opt, deadline, replaced);
    if (o.code == rapidjson::kParseErrorNone && !replaced && !o.lone_surrogate) {
      recycle_document(std::move(res.document));
      res.status = DocumentParseResult::kCanonicalTooLarge;
      res.detail = std::move(refusal);
      return res;
    }
  }
  if (o.code == rapidjson::kParseErrorNone) {
    if (replaced || o.lone_surrogate) {
      res.status = DocumentParseResult::kLoneSurrogate;
      res.detail = "string holds a lone UTF-16 surrogate escape";
      res.document = Document();
    } else {
      res.status = DocumentParseResult::kOk;
      DocumentAccess::set_text(res.document, base);
    }
    return res;
  }
  recycle_document(std::move(res.document));
  res.status = o.stop == Stop::kTooDeep     ? DocumentParseResult::kTooDeep
               : o.stop == Stop::kTooLarge  ? DocumentParseResult::kTooLarge
               : o.stop == Stop::kTimedOut ? DocumentParseResult::kTimedOut
                                            : DocumentParseResult::kNotJson;
  res.detail = o.detail;
  return res;
}

}  // namespace

DocumentParseResult parse_document_padded(std::string_view text, const JsonLimits& limits,
                                          const Deadline& deadline) {
  std::string unused;
  return parse_tape<false>(text, limits, deadline, unused);
}

DocumentParseResult parse_document(std::string_view text, const JsonLimits& limits,
                                   const Deadline& deadline) {
  std::string owned = std::move(t_owned);
  t_owned = std::string();
  DocumentParseResult res = parse_tape<true>(text, limits, deadline, owned);
  // The document's views point into owned (never in its inline buffer: it
  // holds the text and 16 more bytes), which moves with its heap block.
  if (res.status == DocumentParseResult::kOk) {
    DocumentAccess::owned(res.document) = std::move(owned);
  } else if (owned.capacity() <= kKeepBytes && owned.capacity() > t_owned.capacity()) {
    t_owned = std::move(owned);
  }
  return res;
}

JsonParseResult parse_python_json(std::string_view text, const JsonLimits& limits) {
  ParseOptions opt;
  opt.max_depth = limits.max_depth;
  opt.allow_nan = true;
  if (!is_valid_utf8(text))
    return JsonParseResult{JsonParseStatus::kNotJson, Value(), std::string(kNotUtf8)};
  bool replaced = false;
  Value value;
  Outcome o = parse_value<kPythonFlags>(text, opt, replaced, value);
  JsonParseResult res;
  if (o.code == rapidjson::kParseErrorNone) {
    if (replaced || o.lone_surrogate) {
      res.status = JsonParseStatus::kLoneSurrogate;
      res.detail = "string holds a lone UTF-16 surrogate escape";
    } else {
      res.status = JsonParseStatus::kOk;
      res.value = std::move(value);
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
  Value value;
  Outcome o = parse_value<kStrictFlags>(text, opt, replaced, value);
  if (o.code == rapidjson::kParseErrorNone && (replaced || o.lone_surrogate)) {
    return make_error(
        ErrorKind::kInvalidArgument,
        std::string(origin) + ": invalid JSON: a string holds a lone UTF-16 surrogate escape");
  }
  if (o.code != rapidjson::kParseErrorNone)
    return make_error(ErrorKind::kInvalidArgument, std::string(origin) + ": " + o.detail);
  return value;
}

}  // namespace cybexp
