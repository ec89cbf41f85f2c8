// See log.h. Formatting is done outside the lock; one write(2) per line so
// lines from threads and processes sharing stderr stay whole.
#include "util/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <mutex>

namespace cybexp {
namespace {

std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<int> g_format{static_cast<int>(LogFormat::kText)};
std::atomic<bool> g_level_pinned{false};
std::mutex g_write_mu;

const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "info";
}

// sd-daemon(3) priorities: err=3, warning=4, info=6, debug=7.
const char* journal_prefix(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "<7>";
    case LogLevel::kInfo: return "<6>";
    case LogLevel::kWarning: return "<4>";
    case LogLevel::kError: return "<3>";
  }
  return "<6>";
}

void append_json_string(std::string_view s, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

bool needs_quotes(std::string_view v) {
  return v.empty() || v.find_first_of(" \"=\t\n") != std::string_view::npos;
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

bool log_enabled(LogLevel level) { return static_cast<int>(level) >= g_min_level.load(); }

void log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
  if (!log_enabled(level)) return;
  static const bool under_journald = std::getenv("JOURNAL_STREAM") != nullptr;
  std::string line;
  if (under_journald) line += journal_prefix(level);
  if (static_cast<LogFormat>(g_format.load()) == LogFormat::kJson) {
    line += "{\"level\": ";
    append_json_string(level_name(level), line);
    line += ", \"msg\": ";
    append_json_string(message, line);
    for (const auto& [k, v] : fields) {
      line += ", ";
      append_json_string(k, line);
      line += ": ";
      append_json_string(v, line);
    }
    line += "}\n";
  } else {
    line += level_name(level);
    line += ": ";
    line += message;
    for (const auto& [k, v] : fields) {
      line += ' ';
      line += k;
      line += '=';
      if (needs_quotes(v)) {
        append_json_string(v, line);
      } else {
        line += v;
      }
    }
    line += '\n';
  }
  std::lock_guard lock(g_write_mu);
  std::string_view rest = line;
  while (!rest.empty()) {
    ssize_t n = ::write(STDERR_FILENO, rest.data(), rest.size());
    if (n <= 0) break;
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace cybexp
