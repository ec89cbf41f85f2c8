// See mongo_legacy.h.
#include "store/mongo/mongo_legacy.h"

#include <charconv>
#include <cmath>
#include <ctime>

namespace cybexp::mongo {
namespace {

// Reads exactly `digits` decimal digits at text[pos].
bool read_int(std::string_view text, std::size_t pos, std::size_t digits, int& out) {
  if (pos + digits > text.size()) return false;
  const char* b = text.data() + pos;
  auto [p, ec] = std::from_chars(b, b + digits, out);
  return ec == std::errc{} && p == b + digits;
}

// "Z", "+HH:MM", "-HH:MM" or "+HHMM" at the end; seconds east of UTC.
std::optional<int> read_offset(std::string_view rest) {
  if (rest.empty() || rest == "Z") return 0;
  if (rest[0] != '+' && rest[0] != '-') return std::nullopt;
  int h = 0, m = 0;
  const bool colon = rest.size() == 6 && rest[3] == ':';
  if (!(colon || rest.size() == 5) || !read_int(rest, 1, 2, h) ||
      !read_int(rest, colon ? 4 : 3, 2, m)) {
    return std::nullopt;
  }
  return (rest[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
}

std::string iso_utc(double seconds) {
  const double whole = std::floor(seconds);
  std::time_t t = static_cast<std::time_t>(whole);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  const long micros = std::lround((seconds - whole) * 1e6);
  if (micros > 0 && micros < 1000000) std::snprintf(buf + n, sizeof buf - n, ".%06ld", micros);
  return buf;
}

}  // namespace

std::optional<double> iso_datetime_seconds(std::string_view s) {
  std::tm tm{};
  if (s.size() < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') ||
      s[13] != ':' || s[16] != ':' || !read_int(s, 0, 4, tm.tm_year) ||
      !read_int(s, 5, 2, tm.tm_mon) || !read_int(s, 8, 2, tm.tm_mday) ||
      !read_int(s, 11, 2, tm.tm_hour) || !read_int(s, 14, 2, tm.tm_min) ||
      !read_int(s, 17, 2, tm.tm_sec)) {
    return std::nullopt;
  }
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  double fraction = 0;
  if (pos < s.size() && s[pos] == '.') {
    std::size_t end = s.find_first_not_of("0123456789", pos + 1);
    if (end == std::string_view::npos) end = s.size();
    if (end == pos + 1) return std::nullopt;
    for (std::size_t i = end; i-- > pos + 1;) fraction = (fraction + (s[i] - '0')) / 10;
    pos = end;
  }
  auto offset = read_offset(s.substr(pos));
  if (!offset) return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<double>(timegm(&tm)) + fraction - *offset;
}

double entry_upload_seconds(const bson_t* entry) {
  if (auto t = get_number(entry, "timestamp")) return *t;
  if (auto d = get_number(entry, "datetime")) return *d;  // a BSON date
  if (auto s = get_string(entry, "datetime")) return iso_datetime_seconds(*s).value_or(0);
  return 0;
}

Doc upload_time_range(std::optional<double> since, std::optional<double> until) {
  Doc seconds, iso, dates;
  if (since) {
    seconds.dbl("$gte", *since);
    iso.str("$gte", iso_utc(*since));
    dates.date("$gte", static_cast<std::int64_t>(std::ceil(*since * 1000)));
  }
  if (until) {
    seconds.dbl("$lt", *until);
    iso.str("$lt", iso_utc(*until));
    dates.date("$lt", static_cast<std::int64_t>(std::ceil(*until * 1000)));
  }
  Doc either = Doc::array();
  either.sub("", Doc().sub("timestamp", seconds));
  either.sub("", Doc().sub("timestamp", Doc().boolean("$exists", false)).sub("datetime", iso));
  either.sub("", Doc().sub("timestamp", Doc().boolean("$exists", false)).sub("datetime", dates));
  return std::move(Doc().sub("$or", either));
}

}  // namespace cybexp::mongo
