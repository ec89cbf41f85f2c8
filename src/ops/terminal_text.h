// Untrusted bytes made safe to print on an operator's terminal (`inspect
// --decrypt`): printable ASCII and printable UTF-8 stay as they are; tab,
// newline and carriage return become \t, \n, \r; backslash becomes \\; any
// other byte (control characters, escape sequences, C1 controls, bidi
// overrides, broken UTF-8) becomes \xNN. So a payload can neither move the
// cursor, retitle the window, nor reorder what is shown.
//
// Thread safety: pure function.
#pragma once

#include <string>
#include <string_view>

namespace cybexp::ops {

std::string escape_for_terminal(std::string_view bytes);

}  // namespace cybexp::ops
