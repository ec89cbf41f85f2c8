#include "util/terminal_text.h"

#include <gtest/gtest.h>

namespace cybexp {
namespace {

using namespace std::string_literals;

TEST(EscapeForTerminal, KeepsPrintableTextAndEscapesWhitespaceControls) {
  EXPECT_EQ(escape_for_terminal("{\"a\": 1}"), "{\"a\": 1}");
  EXPECT_EQ(escape_for_terminal("a\tb\r\nc\\d"), "a\\tb\\r\\nc\\\\d");
  EXPECT_EQ(escape_for_terminal(""), "");
}

TEST(EscapeForTerminal, EscapesTerminalControlSequences) {
  EXPECT_EQ(escape_for_terminal("\x1b]0;pwned\x07"), "\\x1b]0;pwned\\x07");
  EXPECT_EQ(escape_for_terminal("\x1b[2J"s + '\0' + "\x7f"), "\\x1b[2J\\x00\\x7f");
  EXPECT_EQ(escape_for_terminal("\xc2\x9b"
                                "31m"),
            "\\xc2\\x9b31m");  // C1 CSI
}

TEST(EscapeForTerminal, KeepsPrintableUtf8ButNotBidiOverridesOrBrokenSequences) {
  EXPECT_EQ(escape_for_terminal("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91");
  EXPECT_EQ(escape_for_terminal("a\xe2\x80\xae"
                                "b"),
            "a\\xe2\\x80\\xaeb");                                              // U+202E RLO
  EXPECT_EQ(escape_for_terminal("\xef\xbb\xbfx"), "\\xef\\xbb\\xbfx");         // BOM
  EXPECT_EQ(escape_for_terminal("\xc3"), "\\xc3");                             // cut short
  EXPECT_EQ(escape_for_terminal("\xc0\xaf"), "\\xc0\\xaf");                    // overlong
  EXPECT_EQ(escape_for_terminal("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // surrogate
  EXPECT_EQ(escape_for_terminal("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // > U+10FFFF
}

std::string json(std::string_view bytes) {
  std::string out;
  append_terminal_safe_json_string(bytes, out);
  return out;
}

TEST(TerminalSafeJsonString, IsValidJsonThatATerminalOnlyShows) {
  EXPECT_EQ(json(""), "\"\"");
  EXPECT_EQ(json("a \"b\" \\ caf\xc3\xa9 \xe2\x82\xac"),
            "\"a \\\"b\\\" \\\\ caf\xc3\xa9 \xe2\x82\xac\"");
  EXPECT_EQ(json("\n\r\t\b"s + '\0' + "\x1b[2J\x7f"),
            "\"\\n\\r\\t\\u0008\\u0000\\u001b[2J\\u007f\"");
  // C1 CSI, RLO and BOM as \uXXXX; bytes that are not UTF-8 as the text \xNN.
  EXPECT_EQ(json("\xc2\x9b"
                 "a\xe2\x80\xae"
                 "b\xef\xbb\xbf"),
            "\"\\u009ba\\u202eb\\ufeff\"");
  EXPECT_EQ(json("x\xff\xc3"), "\"x\\\\xff\\\\xc3\"");
}

}  // namespace
}  // namespace cybexp
