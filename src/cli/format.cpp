// See format.h.
#include "cli/format.h"

#include <algorithm>
#include <ctime>

#include "cybexp/python_json.h"

namespace cybexp::cli {

std::string json_str(std::string_view s) {
  std::string out;
  append_python_json_string(s, out);
  return out;
}

std::string number(double d) {
  std::string out;
  append_python_float(d, out);
  return out;
}

std::string utc(double seconds) {
  if (seconds <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace cybexp::cli
