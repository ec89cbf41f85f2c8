#include "ops/terminal_text.h"

#include <gtest/gtest.h>

namespace cybexp::ops {
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

}  // namespace
}  // namespace cybexp::ops
