// Log lines whatever the message and values hold: one line each, text safe
// for a terminal, JSON valid. Hostile values as an upload could make them
// (a typetag, a reason quoting a payload, a server's notice).
#include "util/log.h"

#include <gtest/gtest.h>

namespace cybexp {
namespace {

using namespace std::string_literals;

// A typetag built to forge a line, clear the screen, retitle the window,
// erase a character, and hold a C1 CSI, DEL and broken UTF-8.
const std::string kHostile = "ev\x1b[2Jil\r\ninfo: forged line\x1b]0;pwned\x07\b\x7f\xc2\x9b\xff"s;

std::string logged(LogFormat format, LogLevel level, std::string_view message,
                   std::initializer_list<LogField> fields) {
  log_configure(LogLevel::kDebug, format);
  ::testing::internal::CaptureStderr();
  log(level, message, fields);
  std::string out = ::testing::internal::GetCapturedStderr();
  log_configure(LogLevel::kInfo, LogFormat::kText);
  return out;
}

std::string for_user(LogFormat format, LogLevel level, std::string_view message) {
  log_configure(LogLevel::kError, format);  // shown whatever the level
  ::testing::internal::CaptureStderr();
  log_for_user(level, message);
  std::string out = ::testing::internal::GetCapturedStderr();
  log_configure(LogLevel::kInfo, LogFormat::kText);
  return out;
}

TEST(Log, TextLinesEscapeMessagesAndValuesAndQuoteOnlyWhenNeeded) {
  EXPECT_EQ(logged(LogFormat::kText, LogLevel::kInfo, "entry skipped",
                   {{"id", "7"}, {"state", "bad_data"}, {"reason", "a \"b\" = c"}, {"empty", ""}}),
            "info: entry skipped id=7 state=bad_data reason=\"a \\\"b\\\" = c\" empty=\"\"\n");
  EXPECT_EQ(
      logged(LogFormat::kText, LogLevel::kWarning, "m\nwarning: forged", {{"typetag", kHostile}}),
      "warning: m\\nwarning: forged typetag=\"ev\\x1b[2Jil\\r\\ninfo: forged "
      "line\\x1b]0;pwned\\x07\\x08\\x7f\\xc2\\x9b\\xff\"\n");
}

TEST(Log, JsonLinesStayValidJsonAndTerminalSafe) {
  EXPECT_EQ(logged(LogFormat::kJson, LogLevel::kInfo, "entry skipped",
                   {{"id", "7"}, {"reason", kHostile}}),
            "{\"level\": \"info\", \"msg\": \"entry skipped\", \"id\": \"7\", \"reason\": "
            "\"ev\\u001b[2Jil\\r\\ninfo: forged line\\u001b]0;pwned\\u0007\\u0008\\u007f\\u009b"
            "\\\\xff\"}\n");
  EXPECT_EQ(logged(LogFormat::kJson, LogLevel::kError, "caf\xc3\xa9 \"q\" \\", {}),
            "{\"level\": \"error\", \"msg\": \"caf\xc3\xa9 \\\"q\\\" \\\\\"}\n");
}

TEST(Log, MessagesForTheUserKeepTheProgramPrefixInTextAndAreJsonInJson) {
  EXPECT_EQ(for_user(LogFormat::kText, LogLevel::kError, "no entry with id '9\x1b[2J'"),
            "cybexp-archive: no entry with id '9\\x1b[2J'\n");
  EXPECT_EQ(for_user(LogFormat::kText, LogLevel::kWarning, "public key missing"),
            "cybexp-archive: warning: public key missing\n");
  EXPECT_EQ(for_user(LogFormat::kJson, LogLevel::kError, "no entry with id '9\r'"),
            "{\"level\": \"error\", \"msg\": \"no entry with id '9\\r'\"}\n");
  EXPECT_EQ(for_user(LogFormat::kJson, LogLevel::kWarning, "w"),
            "{\"level\": \"warning\", \"msg\": \"w\"}\n");
}

TEST(Log, LevelsBelowTheMinimumAreDropped) {
  log_configure(LogLevel::kWarning, LogFormat::kText);
  ::testing::internal::CaptureStderr();
  log(LogLevel::kInfo, "quiet");
  log(LogLevel::kWarning, "loud");
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "warning: loud\n");
  log_configure(LogLevel::kInfo, LogFormat::kText);
}

}  // namespace
}  // namespace cybexp
