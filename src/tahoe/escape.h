// Internal to the tahoe module: the byte-level pieces shared by the json.dumps
// writer and the canonical form. Python's ensure_ascii escaping is a
// per-byte affair on UTF-8 (a lead byte says how long the \uXXXX form is), so
// sizes come from tables and the writer is one template over the output type.
//
// Nested canonical strings are escaped again at each level. A string at
// nesting level k is written with unit = 2^k: every backslash that level 0
// would write becomes `unit` backslashes and every quote becomes unit-1
// backslashes and the quote, which is exactly k rounds of JSON escaping of
// printable ASCII.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace cybexp::tahoe_detail {

inline constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
inline constexpr std::uint64_t kHigh = 0x8080808080808080ULL;

inline std::uint64_t load8(const char* p) {
  std::uint64_t x;
  std::memcpy(&x, p, 8);
  if constexpr (std::endian::native == std::endian::big) x = std::byteswap(x);
  return x;  // byte i of the text is bits 8i..8i+7
}

// High bit of each byte set where json.dumps must escape it: < 0x20, '"',
// '\\', 0x7F and above. Exact per byte (no carries cross byte boundaries),
// so countr_zero finds the first such byte.
inline std::uint64_t escape_mask(std::uint64_t x) {
  const std::uint64_t lo = x & ~kHigh;
  const std::uint64_t ctl = ~(lo + kOnes * (0x80 - 0x20));
  const std::uint64_t quote = ~((lo ^ (kOnes * '"')) + kOnes * 0x7F);
  const std::uint64_t bslash = ~((lo ^ (kOnes * '\\')) + kOnes * 0x7F);
  const std::uint64_t high = x | (lo + kOnes);
  return (ctl | quote | bslash | high) & kHigh;
}

// High bit set where the byte is '"' or '\\' (re-escaping printable ASCII).
inline std::uint64_t quote_mask(std::uint64_t x) {
  const std::uint64_t lo = x & ~kHigh;
  const std::uint64_t quote = ~((lo ^ (kOnes * '"')) + kOnes * 0x7F);
  const std::uint64_t bslash = ~((lo ^ (kOnes * '\\')) + kOnes * 0x7F);
  return (quote | bslash) & ~x & kHigh;
}

// Per input byte: bytes json.dumps writes for it (continuation bytes 0, a
// lead byte the whole \uXXXX or surrogate pair), and how many of those are
// '"' or '\\'. Built at compile time from the rules.
struct ByteCost {
  std::uint8_t len[256];
  std::uint8_t quotes[256];
};

consteval ByteCost make_byte_cost() {
  ByteCost c{};
  for (int b = 0; b < 256; ++b) {
    int len = 1, q = 0;
    if (b == '"' || b == '\\') {
      len = 2, q = 2;
    } else if (b == '\b' || b == '\f' || b == '\n' || b == '\r' || b == '\t') {
      len = 2, q = 1;
    } else if (b < 0x20 || b == 0x7F) {
      len = 6, q = 1;
    } else if (b >= 0x80 && b < 0xC0) {
      len = 0, q = 0;  // continuation: counted with its lead byte
    } else if (b >= 0xC0 && b < 0xF0) {
      len = 6, q = 1;  // BMP: \uXXXX
    } else if (b >= 0xF0) {
      len = 12, q = 2;  // astral: surrogate pair
    }
    c.len[b] = static_cast<std::uint8_t>(len);
    c.quotes[b] = static_cast<std::uint8_t>(q);
  }
  return c;
}

inline constexpr ByteCost kByteCost = make_byte_cost();

// Size of json.dumps(s) and the number of '"' and '\\' in it (quotes included).
struct StrCost {
  std::uint64_t len = 0;
  std::uint64_t quotes = 0;
};

inline StrCost json_string_cost(std::string_view s) {
  StrCost c{2, 2};
  const char* p = s.data();
  const char* end = p + s.size();
  while (end - p >= 8) {
    const std::uint64_t m = escape_mask(load8(p));
    if (m == 0) {
      c.len += 8;
    } else {
      for (int i = 0; i < 8; ++i) {
        const auto b = static_cast<unsigned char>(p[i]);
        c.len += kByteCost.len[b];
        c.quotes += kByteCost.quotes[b];
      }
    }
    p += 8;
  }
  for (; p < end; ++p) {
    const auto b = static_cast<unsigned char>(*p);
    c.len += kByteCost.len[b];
    c.quotes += kByteCost.quotes[b];
  }
  return c;
}

// Output adaptor over std::string.
struct StringOut {
  std::string& s;
  void append(const char* p, std::size_t n) { s.append(p, n); }
  void put(char c) { s.push_back(c); }
  void backslashes(std::uint64_t n) { s.append(static_cast<std::size_t>(n), '\\'); }
};

// Writes json.dumps(s) (ensure_ascii) escaped for nesting level log2(unit).
// unit == 1 is plain json.dumps. The input is UTF-8; byte lengths of
// sequences follow the lead byte, consistent with kByteCost.
template <class Out>
void write_json_string(std::string_view s, std::uint64_t unit, Out& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.backslashes(unit - 1);
  out.put('"');
  const char* p = s.data();
  const char* end = p + s.size();
  const char* run = p;  // start of bytes copied verbatim
  auto u_escape = [&](unsigned cu) {
    out.backslashes(unit);
    const char buf[5] = {'u', kHex[(cu >> 12) & 0xF], kHex[(cu >> 8) & 0xF], kHex[(cu >> 4) & 0xF],
                         kHex[cu & 0xF]};
    out.append(buf, 5);
  };
  while (p < end) {
    if (end - p >= 8) {
      const std::uint64_t m = escape_mask(load8(p));
      if (m == 0) {
        p += 8;
        continue;
      }
      p += std::countr_zero(m) / 8;
    }
    const auto b = static_cast<unsigned char>(*p);
    if (kByteCost.len[b] == 1) {
      ++p;
      continue;
    }
    out.append(run, static_cast<std::size_t>(p - run));
    char short_form = 0;
    switch (b) {
      case '"': short_form = '"'; break;
      case '\\': short_form = '\\'; break;
      case '\b': short_form = 'b'; break;
      case '\f': short_form = 'f'; break;
      case '\n': short_form = 'n'; break;
      case '\r': short_form = 'r'; break;
      case '\t': short_form = 't'; break;
      default: break;
    }
    if (short_form == '"') {
      out.backslashes(2 * unit - 1);
      out.put('"');
      ++p;
    } else if (short_form == '\\') {
      out.backslashes(2 * unit);
      ++p;
    } else if (short_form != 0) {
      out.backslashes(unit);
      out.put(short_form);
      ++p;
    } else if (b < 0x80) {
      u_escape(b);
      ++p;
    } else if (b < 0xC0) {
      ++p;  // stray continuation byte (not valid UTF-8): dropped, as sized
    } else {
      // Decode the sequence; missing continuation bytes read as zero bits.
      const int n = b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
      unsigned cp = b & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
      ++p;
      for (int i = 1; i < n; ++i) {
        unsigned cont = 0;
        if (p < end && (static_cast<unsigned char>(*p) & 0xC0) == 0x80) {
          cont = static_cast<unsigned char>(*p) & 0x3F;
          ++p;
        }
        cp = (cp << 6) | cont;
      }
      if (n == 4) {
        const unsigned v = cp - 0x10000;
        u_escape(0xD800 + ((v >> 10) & 0x3FF));
        u_escape(0xDC00 + (v & 0x3FF));
      } else {
        u_escape(cp);
      }
    }
    run = p;
  }
  out.append(run, static_cast<std::size_t>(end - run));
  out.backslashes(unit - 1);
  out.put('"');
}

// Writes printable-ASCII text (a canonical string) escaped `unit` times over:
// '"' -> unit-1 backslashes and '"', '\\' -> unit backslashes.
template <class Out>
void write_reescaped(std::string_view s, std::uint64_t unit, Out& out) {
  const char* p = s.data();
  const char* end = p + s.size();
  const char* run = p;
  while (p < end) {
    if (end - p >= 8) {
      const std::uint64_t m = quote_mask(load8(p));
      if (m == 0) {
        p += 8;
        continue;
      }
      p += std::countr_zero(m) / 8;
    }
    if (*p != '"' && *p != '\\') {
      ++p;
      continue;
    }
    out.append(run, static_cast<std::size_t>(p - run));
    if (*p == '"') {
      out.backslashes(unit - 1);
      out.put('"');
    } else {
      out.backslashes(unit);
    }
    run = ++p;
  }
  out.append(run, static_cast<std::size_t>(end - run));
}

// repr(float) into buf (at least 32 bytes); returns the length.
std::size_t format_python_float(double d, char* buf);

}  // namespace cybexp::tahoe_detail
