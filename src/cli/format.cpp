// See format.h.
#include "cli/format.h"

#include <algorithm>
#include <ctime>

#include "cybexp/python_json.h"
#include "util/terminal_text.h"

namespace cybexp::cli {

// Runs of well-formed UTF-8 (ASCII included) are written by json.dumps's own
// writer. A byte that is not UTF-8 (a damaged upload's typetag, say) cannot be
// in a Python str: it is written as Python shows it after a surrogateescape
// decode, \udcXX, rather than dropped, so the output names the real value.
std::string json_str(std::string_view s) {
  std::string out = "\"";
  std::string run;
  std::size_t start = 0;
  auto flush = [&](std::size_t end) {
    run.clear();
    append_python_json_string(s.substr(start, end - start), run);
    out.append(run, 1, run.size() - 2);  // without its quotes
  };
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t len = c < 0x80 ? 1 : utf8_sequence_length(s.substr(i));
    if (len > 0) {
      i += len;
      continue;
    }
    flush(i);
    static constexpr char kHex[] = "0123456789abcdef";
    out += "\\udc";
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
    start = ++i;
  }
  flush(s.size());
  return out + "\"";
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
