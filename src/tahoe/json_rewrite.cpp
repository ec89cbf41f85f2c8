// Length-preserving rewrites that let RapidJSON parse what Python accepts:
// lone surrogate escapes and numbers beyond double range. Used only after
// RapidJSON reports the matching error, so they cost nothing normally.
#include "tahoe/json_rewrite.h"

#include <cstring>

namespace cybexp::tahoe_detail {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The code unit of a \uXXXX escape starting at text[i] (the backslash), or -1.
long escape_unit(std::string_view text, std::size_t i) {
  if (i + 6 > text.size() || text[i] != '\\' || text[i + 1] != 'u') return -1;
  long v = 0;
  for (std::size_t k = 2; k < 6; ++k) {
    const int h = hex_value(text[i + k]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

bool is_number_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
         c == '+' || c == '-';
}

// Python's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?
bool is_json_number(std::string_view t) {
  std::size_t i = 0;
  auto digits = [&] {
    const std::size_t start = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
    return i > start;
  };
  if (i < t.size() && t[i] == '-') ++i;
  if (i < t.size() && t[i] == '0') {
    ++i;
  } else if (i >= t.size() || t[i] < '1' || t[i] > '9' || !digits()) {
    return false;
  }
  if (i < t.size() && t[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == t.size();
}

}  // namespace

bool may_hold_low_surrogate(std::string_view text) {
  // An empty view may have a null data(), and memchr(nullptr, c, 0) is
  // undefined behaviour (found by fuzz_archive_one on an empty plaintext).
  if (text.empty()) return false;
  const char* p = text.data();
  const char* end = p + text.size();
  while ((p = static_cast<const char*>(std::memchr(p, '\\', static_cast<std::size_t>(end - p)))) !=
         nullptr) {
    if (end - p >= 4 && p[1] == 'u' && (p[2] == 'd' || p[2] == 'D')) {
      const char c = p[3];
      if ((c >= 'c' && c <= 'f') || (c >= 'C' && c <= 'F')) return true;
    }
    ++p;
  }
  return false;
}

void replace_lone_surrogates(std::string& text) {
  // Every backslash met walking left to right starts an escape (inside a
  // string) or makes the text invalid anyway, so strings need no tracking.
  std::size_t i = 0;
  while ((i = text.find('\\', i)) != std::string::npos) {
    const long u = escape_unit(text, i);
    if (u < 0) {
      i += 2;  // a two-character escape, or a malformed one RapidJSON reports
      continue;
    }
    if (u >= 0xD800 && u <= 0xDBFF) {
      const long next = escape_unit(text, i + 6);
      if (next >= 0xDC00 && next <= 0xDFFF) {
        i += 12;  // a valid pair
        continue;
      }
    }
    if (u >= 0xD800 && u <= 0xDFFF) text.replace(i, 6, "\\u003f");
    i += 6;
  }
}

void neutralise_numbers(std::string_view original, std::string& text,
                        std::vector<std::string_view>& numbers) {
  numbers.clear();
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    const char c = text[i];
    if (c == '"') {
      // Skip the string, escapes included.
      for (++i; i < n && text[i] != '"'; ++i)
        if (text[i] == '\\') ++i;
      ++i;
      continue;
    }
    if (!is_number_char(c)) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < n && is_number_char(text[j])) ++j;
    // Tokens that are not numbers (true, NaN, -Infinity, garbage) stay.
    if (is_json_number(std::string_view(text).substr(i, j - i))) {
      numbers.push_back(original.substr(i, j - i));
      text[i] = '0';
      std::memset(text.data() + i + 1, ' ', j - i - 1);
    }
    i = j;
  }
}

}  // namespace cybexp::tahoe_detail
