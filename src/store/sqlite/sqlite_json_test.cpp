// Tests of the refs column's JSON string arrays and the filter id lists.
#include "store/sqlite/sqlite_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace cybexp::sqlite {
namespace {

using ::testing::ElementsAre;
using ::testing::Optional;

TEST(SqliteJson, WritesEscapedStringArrays) {
  EXPECT_EQ(string_array_to_json({}), "[]");
  EXPECT_EQ(string_array_to_json({"ab", "c"}), R"(["ab","c"])");
  EXPECT_EQ(string_array_to_json({"q\"b\\n\n\x01", "\xc3\xa9"}),
            "[\"q\\\"b\\\\n\\n\\u0001\",\"\xc3\xa9\"]");
}

TEST(SqliteJson, ReadsWhatItWritesAndStandardEscapes) {
  std::vector<std::string> items = {"", "plain", "q\"b\\\n\t\r\x1f", "\xe2\x82\xac"};
  EXPECT_THAT(string_array_from_json(string_array_to_json(items)), Optional(items));
  EXPECT_THAT(string_array_from_json(R"( [ "a" , "\u00e9\/\ud83d\ude00\b\f" ] )"),
              Optional(ElementsAre("a", "\xc3\xa9/\xf0\x9f\x98\x80\b\f")));
  EXPECT_THAT(string_array_from_json("[]"), Optional(ElementsAre()));
}

TEST(SqliteJson, RejectsOtherShapes) {
  for (const char* bad : {"", "[", "[\"a\"", "[\"a\",]", "[1]", "{}", "[\"a\"] x", "[\"\\x\"]",
                          "[\"\\u12\"]", "[\"\\ud800\\u0041\"]", "[\"open]"}) {
    EXPECT_EQ(string_array_from_json(bad), std::nullopt) << bad;
  }
}

TEST(SqliteJson, WritesIntArrays) {
  EXPECT_EQ(int_array_to_json({}), "[]");
  EXPECT_EQ(int_array_to_json({1, 22, 333}), "[1,22,333]");
}

}  // namespace
}  // namespace cybexp::sqlite
