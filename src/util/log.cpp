// See log.h. Formatting is done outside the lock; one write(2) per line so
// lines from threads and processes sharing stderr stay whole. Messages and
// values may quote what an upload said (a typetag, a reason, a server's
// notice): both formats pass them through util/terminal_text.h, so a value
// can neither end its line early nor reach the terminal as a control.
#include "util/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <mutex>

#include "util/terminal_text.h"

namespace cybexp {
namespace {

std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<int> g_format{static_cast<int>(LogFormat::kText)};
std::atomic<bool> g_level_pinned{false};
std::mutex g_write_mu;

const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

// sd-daemon(3) priorities: err=3, warning=4, info=6, debug=7.
const char* journal_prefix(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return "<7>";
    case LogLevel::kInfo:
      return "<6>";
    case LogLevel::kWarning:
      return "<4>";
    case LogLevel::kError:
      return "<3>";
  }
  return "<6>";
}

// key=value, the value escaped for the terminal and quoted when it is empty
// or holds a space, '"' or '=' (a '"' inside becomes \").
void append_text_field(std::string_view key, std::string_view value, std::string& line) {
  line += ' ';
  line += escape_for_terminal(key);
  line += '=';
  const std::string v = escape_for_terminal(value);
  if (!v.empty() && v.find_first_of(" \"=") == std::string::npos) {
    line += v;
    return;
  }
  line += '"';
  for (char c : v) {
    if (c == '"') line += '\\';
    line += c;
  }
  line += '"';
}

std::string format_line(LogLevel level, std::string_view text_prefix, std::string_view message,
                        std::initializer_list<LogField> fields) {
  static const bool under_journald = std::getenv("JOURNAL_STREAM") != nullptr;
  std::string line;
  if (under_journald) line += journal_prefix(level);
  if (static_cast<LogFormat>(g_format.load()) == LogFormat::kJson) {
    line += "{\"level\": \"";
    line += level_name(level);
    line += "\", \"msg\": ";
    append_terminal_safe_json_string(message, line);
    for (const auto& [k, v] : fields) {
      line += ", ";
      append_terminal_safe_json_string(k, line);
      line += ": ";
      append_terminal_safe_json_string(v, line);
    }
    line += "}\n";
    return line;
  }
  line += text_prefix;
  line += escape_for_terminal(message);
  for (const auto& [k, v] : fields) append_text_field(k, v, line);
  line += '\n';
  return line;
}

void write_line(std::string_view line) {
  std::lock_guard lock(g_write_mu);
  while (!line.empty()) {
    ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
    if (n <= 0) break;
    line.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

std::optional<LogLevel> parse_log_level(std::string_view s) {
  if (s == "debug") return LogLevel::kDebug;
  if (s == "info") return LogLevel::kInfo;
  if (s == "warning" || s == "warn") return LogLevel::kWarning;
  if (s == "error") return LogLevel::kError;
  return std::nullopt;
}

std::optional<LogFormat> parse_log_format(std::string_view s) {
  if (s == "text") return LogFormat::kText;
  if (s == "json") return LogFormat::kJson;
  return std::nullopt;
}

void log_configure(LogLevel min_level, LogFormat format, bool level_pinned) {
  g_min_level = static_cast<int>(min_level);
  g_format = static_cast<int>(format);
  g_level_pinned = level_pinned;
}

bool log_apply_configured_level(LogLevel level) {
  if (g_level_pinned.load()) return false;
  return g_min_level.exchange(static_cast<int>(level)) != static_cast<int>(level);
}

LogLevel log_level() { return static_cast<LogLevel>(g_min_level.load()); }

const char* log_level_name(LogLevel level) { return level_name(level); }

void log_configure_format(LogFormat format) { g_format = static_cast<int>(format); }

LogFormat log_format() { return static_cast<LogFormat>(g_format.load()); }

bool log_enabled(LogLevel level) { return static_cast<int>(level) >= g_min_level.load(); }

void log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
  if (!log_enabled(level)) return;
  const std::string prefix = std::string(level_name(level)) + ": ";
  write_line(format_line(level, prefix, message, fields));
}

void log_for_user(LogLevel level, std::string_view message) {
  const char* prefix =
      level == LogLevel::kWarning ? "cybexp-archive: warning: " : "cybexp-archive: ";
  write_line(format_line(level, prefix, message, {}));
}

}  // namespace cybexp
