// Strings that all collide under libstdc++'s std::hash<std::string_view>,
// whatever its seed: the hash-flooding input that keyed_hash.h defends the
// parser and the canonical form against (tests and bench/stages_bench.cpp).
//
// libstdc++ hashes 8-byte blocks b as h = (h ^ g(b)) * m with
// g(b) = shift_mix(b * m) * m, m odd and g invertible. Flipping the top bit
// of g's output before the multiplication flips only the top bit after it,
// so the 16-byte chunks "b b" and "b' b'" with g(b') = g(b) ^ 2^63 leave h
// the same for every incoming h. t chunks, each one or the other, give 2^t
// distinct strings of 16t bytes with one hash. b is searched among printable
// UTF-8 blocks (no control character, '"' or '\\', so the strings go into JSON
// as they are).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "cybexp/python_json.h"

namespace cybexp::testing {

namespace flood_detail {

inline constexpr std::uint64_t kMul = (std::uint64_t{0xc6a4a793} << 32) + 0x5bd1e995;

constexpr std::uint64_t inverse(std::uint64_t a) {  // a^-1 mod 2^64, a odd (Newton)
  std::uint64_t x = a;
  for (int i = 0; i < 6; ++i) x *= 2 - a * x;
  return x;
}
constexpr std::uint64_t shift_mix(std::uint64_t v) { return v ^ (v >> 47); }  // its own inverse
constexpr std::uint64_t g(std::uint64_t b) { return shift_mix(b * kMul) * kMul; }
constexpr std::uint64_t g_inverse(std::uint64_t d) {
  return shift_mix(d * inverse(kMul)) * inverse(kMul);
}
static_assert(g_inverse(g(0x0123456789abcdefULL)) == 0x0123456789abcdefULL);

inline std::string bytes(std::uint64_t block) {  // little-endian, as libstdc++ loads it
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(block >> (8 * i));
  return s;
}

// Whole UTF-8 characters, none a control character, '"' or '\\': the block
// can go into JSON text as it is, and into any key next to another.
inline bool json_safe(std::uint64_t block) {
  const std::string s = bytes(block);
  for (unsigned char c : s)
    if (c < 0x20 || c == '"' || c == '\\') return false;
  return is_valid_utf8(s);
}

// A pair of JSON-safe blocks whose g differ in the top bit only (splitmix64
// from a fixed seed: the same pair every run).
inline std::pair<std::string, std::string> twin_blocks() {
  std::uint64_t state = 0x5eed;
  for (;;) {
    state += 0x9e3779b97f4a7c15ULL;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    // A block of ASCII and two-byte characters. The twin is the block plus
    // one of two fixed 64-bit offsets, which never left an ASCII-only block
    // printable in a long search; mixed blocks find a twin within a few
    // thousand tries.
    std::uint64_t b = 0;
    for (int i = 0; i < 8;) {
      const std::uint64_t r = (z >> (4 * i)) & 0xfff;
      if (i < 7 && (r & 1) != 0) {
        const std::uint64_t cp = 0x80 + (r >> 1) % 0x780;  // U+0080..U+07FF
        b |= (0xc0 | (cp >> 6)) << (8 * i) | (0x80 | (cp & 0x3f)) << (8 * (i + 1));
        i += 2;
      } else {
        b |= (0x20 + (r >> 1) % 0x5f) << (8 * i);
        i += 1;
      }
    }
    if (!json_safe(b)) continue;
    const std::uint64_t twin = g_inverse(g(b) ^ (std::uint64_t{1} << 63));
    if (json_safe(twin)) return {bytes(b), bytes(twin)};
  }
}

}  // namespace flood_detail

// 2^bits distinct strings of 16 * bits bytes, equal under std::hash.
inline std::vector<std::string> colliding_strings(int bits) {
  const auto [a, b] = flood_detail::twin_blocks();
  const std::string chunk[2] = {a + a, b + b};
  std::vector<std::string> out;
  out.reserve(std::size_t{1} << bits);
  for (std::uint64_t i = 0; i < (std::uint64_t{1} << bits); ++i) {
    std::string s;
    s.reserve(16 * static_cast<std::size_t>(bits));
    for (int j = 0; j < bits; ++j) s += chunk[(i >> j) & 1];
    out.push_back(std::move(s));
  }
  return out;
}

// {"<s0>": 0, "<s1>": 1, ...} over colliding_strings(bits).
inline std::string colliding_object(int bits) {
  std::string json = "{";
  std::size_t i = 0;
  for (const std::string& k : colliding_strings(bits)) {
    if (i > 0) json += ", ";
    json += "\"" + k + "\": " + std::to_string(i++);
  }
  return json + "}";
}

}  // namespace cybexp::testing
