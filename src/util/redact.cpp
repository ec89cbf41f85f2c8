// See redact.h.
#include "util/redact.h"

#include <algorithm>

namespace cybexp {

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

}  // namespace cybexp
