// Internal to the tahoe module: the byte-level facts of json.dumps escaping
// shared by the writer (escape_writer.h), the canonical sizes and UTF-8
// checks. Python's ensure_ascii escaping is a per-byte affair on UTF-8 (a
// lead byte says how long the \uXXXX form is), so sizes come from tables.
#pragma once

#include <algorithm>
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

// Stores x so that bits 8i..8i+7 become byte i (the inverse of load8).
inline void store8(char* p, std::uint64_t x) {
  if constexpr (std::endian::native == std::endian::big) x = std::byteswap(x);
  std::memcpy(p, &x, 8);
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
      // Same cost as the BMP case below; kept apart for clarity.
      // NOLINTNEXTLINE(bugprone-branch-clone)
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

// repr(float) into buf (at least 32 bytes); returns the length.
std::size_t format_python_float(double d, char* buf);

// True when the JSON number token t is already repr(float(t)), decided from
// its spelling alone (no conversion): positional, at most 15 significant
// digits (any two such decimals are distinct doubles, so the shortest
// round-trip digits are its own), no trailing zero past the point but the
// one of "X.0", and within repr's positional range (1e-4 <= |x| < 1e16, or
// zero). False means "convert and compare", not "differs".
bool is_float_repr(std::string_view t);

// The length of the prefix of t that is repr(float(t)) when the spelling
// tells (is_float_repr once trailing zeros past the point are dropped, one
// digit kept: "12.50" -> "12.5", "3.00" -> "3.0"), else 0.
std::size_t float_repr_length(std::string_view t);

}  // namespace cybexp::tahoe_detail
