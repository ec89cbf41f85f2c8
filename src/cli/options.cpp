// See options.h.
#include "cli/options.h"

#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace cybexp::cli {

std::vector<std::string> parse_options(std::vector<char*>& args,
                                       const std::vector<OptionSpec>& specs, const char* help,
                                       const std::function<void(const std::string&, const char*)>& on_option) {
  std::vector<option> longs;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    longs.push_back({specs[i].name, specs[i].takes_value ? required_argument : no_argument, nullptr,
                     static_cast<int>(1000 + i)});
  }
  longs.push_back({"help", no_argument, nullptr, 'h'});
  longs.push_back({nullptr, 0, nullptr, 0});
  std::vector<char*> argv = args;
  argv.push_back(nullptr);
  const char* command = args[0];
  optind = 0;  // GNU: full re-initialisation for a new argument vector
  opterr = 0;
  int c;
  while ((c = getopt_long(static_cast<int>(args.size()), argv.data(), "h", longs.data(), nullptr)) != -1) {
    if (c == 'h') {
      std::fputs(help, stdout);
      throw ExitRequest{kExitOk};
    }
    if (c == '?' || c == ':') {
      const char* bad = argv[optind - 1];
      if (optopt != 0 && optopt >= 1000) {
        usage_error(std::string("option '--") + specs[optopt - 1000].name + "' needs a value", command);
      }
      usage_error(std::string("unknown option '") + (bad ? bad : "?") + "'", command);
    }
    on_option(specs[c - 1000].name, optarg);
  }
  std::vector<std::string> positional;
  for (int i = optind; i < static_cast<int>(args.size()); ++i) positional.emplace_back(argv[i]);
  return positional;
}

std::uint64_t parse_count(const std::string& option, const char* value, std::uint64_t min,
                          std::uint64_t max, const char* command) {
  std::uint64_t n = 0;
  const char* end = value + std::strlen(value);
  auto [p, ec] = std::from_chars(value, end, n);
  if (ec != std::errc{} || p != end || n < min || n > max) {
    usage_error("--" + option + " takes a whole number from " + std::to_string(min) + " to " +
                    std::to_string(max) + ", not '" + value + "'",
                command);
  }
  return n;
}

// Seconds since the epoch, or an ISO 8601 UTC time (2026-11-29 or 2026-11-29T17:00:00Z).
double parse_time(const std::string& option, const char* value, const char* command) {
  double seconds = 0;
  const char* end = value + std::strlen(value);
  auto [p, ec] = std::from_chars(value, end, seconds);
  if (ec == std::errc{} && p == end) return seconds;
  std::tm tm{};
  const char* rest = strptime(value, "%Y-%m-%d", &tm);
  if (rest != nullptr && *rest == 'T') rest = strptime(rest + 1, "%H:%M:%S", &tm);
  if (rest != nullptr && (*rest == '\0' || std::strcmp(rest, "Z") == 0)) {
    return static_cast<double>(timegm(&tm));
  }
  usage_error("--" + option + " takes seconds since the epoch or a UTC time like 2026-11-29T17:00:00Z, not '" +
                  value + "'",
              command);
}

}  // namespace cybexp::cli
