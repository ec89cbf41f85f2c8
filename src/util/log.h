// Logging to stderr, one line per event, in a journald-friendly form: under
// systemd (JOURNAL_STREAM set) each line starts with its sd-daemon priority
// prefix ("<3>"), so journalctl shows levels without timestamps doubled.
// Text: "level: message key=value ..."; JSON: one object a line.
//
// Never pass secrets or payload bytes: messages are for operators.
//
// Thread safety: all functions may be called from any thread; lines never
// interleave.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace cybexp {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };
enum class LogFormat { kText, kJson };

std::optional<LogLevel> parse_log_level(std::string_view s);
std::optional<LogFormat> parse_log_format(std::string_view s);

void log_configure(LogLevel min_level, LogFormat format);
bool log_enabled(LogLevel level);

using LogField = std::pair<std::string_view, std::string>;
void log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields = {});

}  // namespace cybexp
