// See terminal_text.h.
#include "util/terminal_text.h"

#include <cstdint>

namespace cybexp {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void append_hex(unsigned char c, std::string& out) {
  out += "\\x";
  out += kHex[c >> 4];
  out += kHex[c & 0xf];
}

void append_u_escape(char32_t cp, std::string& out) {  // BMP code points only
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(cp >> shift) & 0xf];
}

// The length (2-4) and code point of the well-formed UTF-8 sequence at s, or
// 0 if there is none (overlong forms, surrogates and > U+10FFFF included).
std::size_t utf8_sequence(std::string_view s, char32_t& cp) {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (len == 0 || c > 0xF4 || s.size() < len) return 0;
  cp = c & (0x7F >> len);
  for (std::size_t i = 1; i < len; ++i) {
    if ((b(i) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i) & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
  if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
  return len;
}

// Code points a terminal would act on rather than show (all in the BMP).
bool invisible(char32_t cp) {
  return cp < 0xA0 ||                       // C1 controls
         cp == 0xAD ||                      // soft hyphen
         (cp >= 0x200B && cp <= 0x200F) ||  // zero-width, LRM/RLM
         (cp >= 0x2028 && cp <= 0x202E) ||  // line/paragraph separators, bidi embeddings
         (cp >= 0x2060 && cp <= 0x206F) ||  // word joiner, bidi isolates
         cp == 0xFEFF;                      // BOM
}

// The short escapes both outputs share, or nullptr: a backslash and the
// three whitespace controls a reader expects to see as \n, \t and \r.
const char* short_escape(unsigned char c) {
  switch (c) {
    case '\\':
      return "\\\\";
    case '\n':
      return "\\n";
    case '\t':
      return "\\t";
    case '\r':
      return "\\r";
    default:
      return nullptr;
  }
}

// The ASCII byte c as escape_for_terminal writes it (other controls and DEL
// as \xNN) or, in_json, inside a JSON string literal ('"' escaped, other
// controls and DEL as \u00XX).
void append_ascii(unsigned char c, bool in_json, std::string& out) {
  if (const char* escape = short_escape(c)) {
    out += escape;
  } else if (in_json && c == '"') {
    out += "\\\"";
  } else if (c >= 0x20 && c < 0x7F) {
    out += static_cast<char>(c);
  } else if (in_json) {
    append_u_escape(c, out);
  } else {
    append_hex(c, out);
  }
}

}  // namespace

std::size_t utf8_sequence_length(std::string_view s) {
  char32_t cp = 0;
  return s.empty() ? 0 : utf8_sequence(s, cp);
}

std::string escape_for_terminal(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (std::size_t i = 0; i < bytes.size();) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x80) {
      char32_t cp = 0;
      const std::size_t len = utf8_sequence(bytes.substr(i), cp);
      if (len > 0 && !invisible(cp)) {
        out.append(bytes.substr(i, len));
        i += len;
        continue;
      }
      append_hex(c, out);
    } else {
      append_ascii(c, /*in_json=*/false, out);
    }
    ++i;
  }
  return out;
}

void append_terminal_safe_json_string(std::string_view bytes, std::string& out) {
  out += '"';
  for (std::size_t i = 0; i < bytes.size();) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c < 0x80) {
      append_ascii(c, /*in_json=*/true, out);
      ++i;
      continue;
    }
    char32_t cp = 0;
    const std::size_t len = utf8_sequence(bytes.substr(i), cp);
    if (len == 0) {
      out += '\\';  // JSON "\\xNN": the text \xNN, as escape_for_terminal writes the byte
      append_hex(c, out);
      ++i;
    } else if (invisible(cp)) {
      append_u_escape(cp, out);
      i += len;
    } else {
      out.append(bytes.substr(i, len));
      i += len;
    }
  }
  out += '"';
}

}  // namespace cybexp
