// Logging to stderr, one line per event, in a journald-friendly form: under
// systemd (JOURNAL_STREAM set) each line starts with its sd-daemon priority
// prefix ("<3>"), so journalctl shows levels without timestamps doubled.
// Text: "level: message key=value ..."; JSON: one object a line. Whatever
// the message and values hold, a line stays one line and JSON stays valid
// JSON: both are escaped as util/terminal_text.h says.
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

// level_pinned: the level was given on the command line (--log-level), so
// the configuration file's log_level does not change it.
void log_configure(LogLevel min_level, LogFormat format, bool level_pinned = false);
// The configuration file's log_level (at start and on every reload of
// `run`): applied unless the command line pinned the level. Returns whether
// the level now in force changed.
bool log_apply_configured_level(LogLevel level);
LogLevel log_level();
const char* log_level_name(LogLevel level);
void log_configure_format(LogFormat format);
LogFormat log_format();
bool log_enabled(LogLevel level);

using LogField = std::pair<std::string_view, std::string>;
void log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields = {});

// What a command tells the person who ran it when it fails or warns (CLI
// errors, check's findings): in text "cybexp-archive: message" (warnings
// "cybexp-archive: warning: message"), in JSON the same object as log().
// Shown whatever the log level.
void log_for_user(LogLevel level, std::string_view message);

}  // namespace cybexp
