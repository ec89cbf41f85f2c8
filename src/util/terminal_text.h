// Untrusted bytes made safe to show a person (`inspect --decrypt`, every text
// output of the CLI, every log line). Anything that came from an upload
// (typetag, name, orgid, timezone, a reason quoting payload text, the
// payload itself) goes through one of these before it reaches a terminal.
//
// escape_for_terminal: printable ASCII and printable UTF-8 stay as they are;
// tab, newline and carriage return become \t, \n, \r; backslash becomes \\;
// any other byte (control characters, escape sequences, DEL, C1 controls,
// bidi overrides, broken UTF-8) becomes \xNN. So a payload can neither move
// the cursor, retitle the window, forge a line nor reorder what is shown.
//
// append_terminal_safe_json_string: the same text as one JSON string literal
// (quotes included) that is valid JSON whatever the input, and whose bytes a
// terminal only shows: '"' and '\' escaped, C0 controls as \n, \r, \t or
// \u00XX, DEL and the invisible code points above as \uXXXX, and each byte
// of broken UTF-8 as the six characters \\xNN (a backslash, then xNN, once
// decoded), since JSON has no way to carry a byte that is not text.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace cybexp {

std::string escape_for_terminal(std::string_view bytes);
void append_terminal_safe_json_string(std::string_view bytes, std::string& out);

// The length (2-4) of the well-formed UTF-8 sequence that starts s, or 0
// (overlong forms, surrogates, > U+10FFFF, cut short, or s[0] is ASCII).
std::size_t utf8_sequence_length(std::string_view s);

}  // namespace cybexp
