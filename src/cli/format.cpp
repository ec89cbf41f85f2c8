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

std::string redacted_url(std::string_view url) {
  std::string out(url);
  if (const std::size_t scheme = out.find("://"); scheme != std::string::npos) {
    // The user info ends at the last '@' before the path: a password with a
    // stray, unencoded '@' is hidden whole.
    const std::size_t authority = scheme + 3;
    const std::size_t path = std::min(out.find('/', authority), out.size());
    const std::size_t at = out.rfind('@', path);
    if (at != std::string::npos && at >= authority) {
      const std::size_t colon = out.find(':', authority);
      if (colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // Query parameters (…?password=x&…) or libpq key=value words, each one.
  constexpr std::string_view kParam = "password=";
  for (std::size_t pw = out.find(kParam); pw != std::string::npos; pw = out.find(kParam, pw + 1)) {
    const std::size_t value = pw + kParam.size();
    const std::size_t end = std::min(out.find_first_of("& ", value), out.size());
    out.replace(value, end - value, "***");
  }
  return out;
}

}  // namespace cybexp::cli
