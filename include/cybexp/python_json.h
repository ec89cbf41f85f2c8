// Writers that produce exactly what Python's json module writes with its
// defaults (ensure_ascii=True, separators ", " and ": ", floats as repr()).
// No library writes this format, so it is ours.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "cybexp/json_value.h"

namespace cybexp {

// json.dumps(s) for a str, appended to out. s is UTF-8.
void append_python_json_string(std::string_view s, std::string& out);
// Bytes json.dumps(s) would produce, without building it.
std::size_t python_json_string_size(std::string_view s);

// repr(float) as json.dumps writes it (NaN, Infinity, -Infinity).
void append_python_float(double d, std::string& out);

// json.dumps(value) (insertion order, no sorting), appended to out.
void append_python_json(const Value& v, std::string& out);
std::string python_json(const Value& v);

// str.strip() with Python's whitespace set, on UTF-8 text.
std::string_view python_strip(std::string_view s);

// True if s is valid UTF-8 as Python's strict decoder sees it (no surrogates,
// no overlongs).
bool is_valid_utf8(std::string_view s);

}  // namespace cybexp
