// Small formatters the commands' outputs share: JSON strings and numbers as
// Python's json.dumps writes them (scripts parse our --json output with the
// same rules as the documents), UTC times for people, and store URLs without their passwords.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "util/redact.h"

namespace cybexp::cli {

std::string json_str(std::string_view s);  // json.dumps(str)
std::string number(double d);              // json.dumps(float)
std::string utc(double seconds);           // 2026-11-29T17:00:00Z, or "-" for 0

// A store URL fit to print (util/redact.h).
using cybexp::redacted_url;

}  // namespace cybexp::cli
