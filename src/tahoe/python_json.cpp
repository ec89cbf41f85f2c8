// Python json.dumps output (ensure_ascii, ", " and ": " separators, floats as
// repr), str.strip() and strict UTF-8 validation, on UTF-8 bytes.
#include "cybexp/python_json.h"

#include "cybexp/document.h"

#include <charconv>
#include <cmath>
#include <cstring>

#include "tahoe/escape_writer.h"
#include "tahoe/scalar_writer.h"

namespace cybexp {

namespace tahoe_detail {

std::size_t format_python_float(double d, char* buf) {
  // buf holds a length-counted token, not a C string: no NUL is wanted
  // (bugprone-not-null-terminated-result does not know that).
  if (std::isnan(d)) {
    std::memcpy(buf, "NaN", 3);  // NOLINT(bugprone-not-null-terminated-result)
    return 3;
  }
  if (std::isinf(d)) {
    if (d < 0) {
      std::memcpy(buf, "-Infinity", 9);  // NOLINT(bugprone-not-null-terminated-result)
      return 9;
    }
    std::memcpy(buf, "Infinity", 8);  // NOLINT(bugprone-not-null-terminated-result)
    return 8;
  }
  // Shortest round-trip digits, as Python's repr picks them (both choose the
  // fewest digits, then the closest to the value).
  char sci[32];
  const auto r = std::to_chars(sci, sci + sizeof sci, d, std::chars_format::scientific);
  const char* p = sci;
  char* o = buf;
  if (*p == '-') *o++ = *p++;
  char digits[20];
  int n = 0;
  for (; *p != 'e'; ++p)
    if (*p != '.') digits[n++] = *p;
  ++p;  // 'e'
  int exp = 0;
  std::from_chars(p + (*p == '+'), r.ptr, exp);

  // Python's repr: positional when -4 <= exp < 16, else scientific.
  if (exp >= -4 && exp < 16) {
    if (exp >= 0) {
      const int int_digits = exp + 1;
      for (int i = 0; i < int_digits; ++i) *o++ = i < n ? digits[i] : '0';
      *o++ = '.';
      if (n > int_digits) {
        for (int i = int_digits; i < n; ++i) *o++ = digits[i];
      } else {
        *o++ = '0';
      }
    } else {
      *o++ = '0';
      *o++ = '.';
      for (int i = 0; i < -exp - 1; ++i) *o++ = '0';
      for (int i = 0; i < n; ++i) *o++ = digits[i];
    }
  } else {
    *o++ = digits[0];
    if (n > 1) {
      *o++ = '.';
      for (int i = 1; i < n; ++i) *o++ = digits[i];
    }
    *o++ = 'e';
    *o++ = exp < 0 ? '-' : '+';
    const int a = exp < 0 ? -exp : exp;
    if (a < 10) *o++ = '0';
    o = std::to_chars(o, o + 4, a).ptr;
  }
  return static_cast<std::size_t>(o - buf);
}

bool is_float_repr(std::string_view t) {
  const char* p = t.data();
  const char* end = p + t.size();
  if (p < end && *p == '-') ++p;
  const char* int_start = p;
  while (p < end && *p >= '0' && *p <= '9') ++p;
  const std::ptrdiff_t int_len = p - int_start;
  if (int_len == 0 || (int_len > 1 && *int_start == '0')) return false;
  if (p == end || *p != '.') return false;
  const char* frac_start = ++p;
  while (p < end && *p >= '0' && *p <= '9') ++p;
  const std::ptrdiff_t frac_len = p - frac_start;
  if (p != end || frac_len == 0) return false;  // an exponent, or no digit after the point
  const bool x_point_zero = frac_len == 1 && *frac_start == '0';
  if (end[-1] == '0' && !x_point_zero) return false;
  if (*int_start != '0') return int_len + (x_point_zero ? 0 : frac_len) <= 15;
  if (x_point_zero) return true;  // 0.0 and -0.0
  // 0.ddd: at most three zeros before the first significant digit (1e-4).
  std::ptrdiff_t zeros = 0;
  while (zeros < frac_len && frac_start[zeros] == '0') ++zeros;
  return zeros <= 3 && frac_len - zeros <= 15;
}

std::size_t float_repr_length(std::string_view t) {
  const std::size_t point = t.find('.');
  if (point == std::string_view::npos) return 0;
  std::size_t n = t.size();
  while (n > point + 2 && t[n - 1] == '0') --n;  // trailing zeros are the same decimal
  return is_float_repr(t.substr(0, n)) ? n : 0;
}

}  // namespace tahoe_detail

using tahoe_detail::StringOut;

void append_python_json_string(std::string_view s, std::string& out) {
  StringOut o(out);
  tahoe_detail::write_json_string(s, 1, o);
}

std::size_t python_json_string_size(std::string_view s) {
  return static_cast<std::size_t>(tahoe_detail::json_string_cost(s).len);
}

void append_python_float(double d, std::string& out) {
  char buf[32];
  out.append(buf, tahoe_detail::format_python_float(d, buf));
}

namespace {

void append_value(const Value& v, StringOut& out) {
  if (tahoe_detail::write_scalar(v, out)) return;
  switch (v.storage().index()) {
    case 4:
      tahoe_detail::write_json_string(v.as_string(), 1, out);
      break;
    case 5: {
      out.put('[');
      bool first = true;
      for (const Value& item : v.as_array()) {
        if (!first) out.append(", ", 2);
        first = false;
        append_value(item, out);
      }
      out.put(']');
      break;
    }
    case 6: {
      out.put('{');
      bool first = true;
      for (const auto& [key, item] : v.as_object()) {
        if (!first) out.append(", ", 2);
        first = false;
        tahoe_detail::write_json_string(key, 1, out);
        out.append(": ", 2);
        append_value(item, out);
      }
      out.put('}');
      break;
    }
    default:
      break;
  }
}

}  // namespace

void append_python_json(const Value& v, std::string& out) {
  // No sizing pass: growing by doubling costs less than a second walk of
  // the tree.
  StringOut o(out);
  append_value(v, o);
}

namespace {

// The tape's tokens are short: each is written through one room (a
// capacity check) with fixed-size stores where they fit, not a write call
// per quote and separator.
[[gnu::always_inline]] inline void write_token(std::string_view t, StringOut& out) {
  char* d = out.raw(t.size());
  out.commit(tahoe_detail::copy_small(d, t.data(), t.size()));
}

[[gnu::always_inline]] inline void write_plain(std::string_view t, StringOut& out) {
  char* d = out.raw(t.size() + 2);
  *d++ = '"';
  d = tahoe_detail::copy_small(d, t.data(), t.size());
  *d++ = '"';
  out.commit(d);
}

// ", " unless first, then the key and ": ".
void write_key(const Document& doc, const Document::Node& key, bool comma, StringOut& out) {
  const std::string_view k = doc.text(key);
  if (!key.flag()) {
    if (comma) out.append(", ", 2);
    tahoe_detail::write_json_string(k, 1, out);
    out.append(": ", 2);
    return;
  }
  char* d = out.raw(k.size() + 6);
  if (comma) {
    d[0] = ',';
    d[1] = ' ';
    d += 2;
  }
  *d++ = '"';
  d = tahoe_detail::copy_small(d, k.data(), k.size());
  d[0] = '"';
  d[1] = ':';
  d[2] = ' ';
  out.commit(d + 3);
}

// A scalar or a string (a node of the tape, or an item of a run).
[[gnu::always_inline]] inline void write_leaf(const Document& doc, const Document::Node& n, StringOut& out) {
  switch (n.kind()) {
    case Document::kNull:
      write_token("null", out);
      break;
    case Document::kFalse:
      write_token("false", out);
      break;
    case Document::kTrue:
      write_token("true", out);
      break;
    case Document::kInteger:
    case Document::kFloat:
      write_token(doc.text(n), out);
      break;
    case Document::kString:
      if (n.flag()) {
        write_plain(doc.text(n), out);
      } else {
        tahoe_detail::write_json_string(doc.text(n), 1, out);
      }
      break;
    case Document::kArray:
    case Document::kObject:
      break;  // append_document's
  }
}

// Bytes json.dumps writes for a scalar or a string (keys too: ": " is
// counted with their object).
[[gnu::always_inline]] inline std::size_t leaf_size(const Document& doc, const Document::Node& n) {
  switch (n.kind()) {
    case Document::kNull:
    case Document::kTrue:
      return 4;
    case Document::kFalse:
      return 5;
    case Document::kInteger:
    case Document::kFloat:
      return n.count();
    case Document::kString:
      return n.flag() ? n.count() + 2u
                      : static_cast<std::size_t>(tahoe_detail::json_string_cost(doc.text(n)).len);
    case Document::kArray:
    case Document::kObject:
      break;
  }
  return 0;
}

// A run's items, ", " between them (scalars as they are in the text).
void write_run(const Document& doc, const Document::Node& run, StringOut& out) {
  Document::RunItems items(doc, run);
  for (std::uint32_t k = 0; k < run.count(); ++k) {
    if (k > 0) out.append(", ", 2);
    write_leaf(doc, items.next(), out);
  }
}

// Bytes of a run's items as json.dumps writes them (the ", " between
// them are counted with their array).
std::size_t run_size(const Document& doc, const Document::Node& run) {
  Document::RunItems items(doc, run);
  std::size_t size = 0;
  for (std::uint32_t k = 0; k < run.count(); ++k) size += leaf_size(doc, items.next());
  return size;
}

// json.dumps from the tape: containers are written in document order, so
// one loop with a stack of open containers' remaining counts does it.
void append_document(const Document& doc, StringOut& out) {
  const std::vector<Document::Node>& nodes = doc.nodes();
  struct Open {
    std::uint32_t left;
    bool object;
    bool first;
  };
  std::vector<Open> open;
  std::size_t i = 0;
  while (i < nodes.size()) {
    // Separator and key for the value at i, from its container.
    if (!open.empty()) {
      Open& o = open.back();
      if (o.left == 0) {
        out.put(o.object ? '}' : ']');
        open.pop_back();
        continue;
      }
      --o.left;
      const bool comma = !o.first;
      o.first = false;
      if (o.object) {
        write_key(doc, nodes[i], comma, out);
        ++i;
      } else {
        if (comma) out.append(", ", 2);
        if (nodes[i].is_run()) {
          write_run(doc, nodes[i++], out);
          o.left -= nodes[i - 1].count() - 1;
          continue;
        }
      }
    }
    const Document::Node& n = nodes[i++];
    if (n.kind() >= Document::kArray) {
      out.put(n.kind() == Document::kArray ? '[' : '{');
      open.push_back({n.count(), n.kind() == Document::kObject, true});
    } else {
      write_leaf(doc, n, out);
    }
  }
  while (!open.empty()) {
    out.put(open.back().object ? '}' : ']');
    open.pop_back();
  }
}

}  // namespace

std::size_t python_json_size(const Document& doc) {
  std::size_t size = 0;
  for (const Document::Node& n : doc.nodes()) {
    switch (n.kind()) {
      case Document::kNull:
        size += n.is_run() ? run_size(doc, n) : 4;
        break;
      case Document::kTrue:
      case Document::kFalse:
      case Document::kInteger:
      case Document::kFloat:
      case Document::kString:
        size += leaf_size(doc, n);
        break;
      case Document::kArray:
      case Document::kObject: {
        const std::size_t items = n.count();
        // Brackets, ", " between items, ": " after each key.
        size += 2 + (items > 0 ? 2 * (items - 1) : 0) + (n.kind() == Document::kObject ? 2 * items : 0);
        break;
      }
    }
  }
  return size;
}

void append_python_json(const Document& doc, std::string& out) {
  // Sized first: growing by doubling would hold the old and the new buffer
  // at once. The slack is the most room a writer asks for ahead of what it
  // writes (escape_writer.h: kRawMax).
  out.reserve(out.size() + python_json_size(doc) + 2 * tahoe_detail::kRawMax);
  StringOut o(out);
  append_document(doc, o);
}

std::string python_json(const Value& v) {
  std::string out;
  append_python_json(v, out);
  return out;
}

namespace {

bool is_python_space(char32_t c) {
  if (c < 0x80) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Decodes the (valid) sequence at s[i..i+n); only called on lead bytes.
char32_t decode_at(std::string_view s, std::size_t i, std::size_t n) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  char32_t cp = n == 1 ? b0 : n == 2 ? (b0 & 0x1F) : n == 3 ? (b0 & 0x0F) : (b0 & 0x07);
  for (std::size_t k = 1; k < n; ++k)
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return cp;
}

std::size_t seq_len(unsigned char b) { return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4; }

}  // namespace

std::string_view python_strip(std::string_view s) {
  // Most strings start and end with a printable ASCII character.
  if (!s.empty()) {
    const auto f = static_cast<unsigned char>(s.front());
    const auto b = static_cast<unsigned char>(s.back());
    if (f > 0x20 && f < 0x80 && b > 0x20 && b < 0x80) return s;
  }
  std::size_t begin = 0;
  while (begin < s.size()) {
    const auto b = static_cast<unsigned char>(s[begin]);
    const std::size_t n = seq_len(b);
    if (begin + n > s.size() || !is_python_space(decode_at(s, begin, n))) break;
    begin += n;
  }
  std::size_t end = s.size();
  while (end > begin) {
    // Back up over continuation bytes to the start of the last character.
    std::size_t start = end - 1;
    while (start > begin && end - start < 4 &&
           (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80)
      --start;
    const std::size_t n = seq_len(static_cast<unsigned char>(s[start]));
    if (start + n != end || !is_python_space(decode_at(s, start, n))) break;
    end = start;
  }
  return s.substr(begin, end - begin);
}

bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    // ASCII fast path: 16 then 8 bytes at a time.
    while (end - p >= 16) {
      const std::uint64_t a = tahoe_detail::load8(reinterpret_cast<const char*>(p));
      const std::uint64_t b = tahoe_detail::load8(reinterpret_cast<const char*>(p + 8));
      if (((a | b) & tahoe_detail::kHigh) != 0) break;
      p += 16;
    }
    if (end - p >= 8 &&
        (tahoe_detail::load8(reinterpret_cast<const char*>(p)) & tahoe_detail::kHigh) == 0) {
      p += 8;
      continue;
    }
    if (p == end) break;
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    // Unicode Table 3-7: well-formed byte sequences (no overlongs, no
    // surrogates, nothing above U+10FFFF).
    auto cont = [&](std::ptrdiff_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
      return end - p > i && p[i] >= lo && p[i] <= hi;
    };
    if (c >= 0xC2 && c <= 0xDF) {
      if (!cont(1)) return false;
      p += 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
      const unsigned char hi = c == 0xED ? 0x9F : 0xBF;
      if (!cont(1, lo, hi) || !cont(2)) return false;
      p += 3;
    } else if (c >= 0xF0 && c <= 0xF4) {
      const unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
      const unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
      if (!cont(1, lo, hi) || !cont(2) || !cont(3)) return false;
      p += 4;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace cybexp
