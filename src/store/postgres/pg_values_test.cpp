// Array literals and id parsing of the PostgreSQL store (no server needed).
#include <gtest/gtest.h>

#include "store/postgres/pg_connection.h"
#include "store/postgres/pg_values.h"

namespace cybexp::pg {
namespace {

TEST(PgValues, TextArrayLiteralQuotesEverything) {
  std::vector<std::string> v = {"a", "", "b c", "q\"x", "back\\slash", "{,}", "NULL"};
  EXPECT_EQ(text_array_literal(v),
            R"({"a","","b c","q\"x","back\\slash","{,}","NULL"})");
  EXPECT_EQ(text_array_literal(std::vector<std::string>{}), "{}");
}

TEST(PgValues, ParsesServerArrayOutput) {
  // As the server writes text[]: plain items bare, the rest quoted.
  EXPECT_EQ(parse_text_array(R"({abc,"b c","q\"x","back\\slash","",NULLX})"),
            (std::vector<std::string>{"abc", "b c", "q\"x", "back\\slash", "", "NULLX"}));
  EXPECT_TRUE(parse_text_array("{}").empty());
  EXPECT_TRUE(parse_text_array("").empty());
}

TEST(PgValues, IntAndBoolArrays) {
  std::vector<std::int64_t> ids = {1, 22, 9223372036854775807};
  EXPECT_EQ(int_array_literal(ids), "{1,22,9223372036854775807}");
  EXPECT_EQ(bool_array_literal({true, false, true}), "{t,f,t}");
}

TEST(PgValues, ParseId) {
  EXPECT_EQ(parse_id("42"), 42);
  EXPECT_EQ(parse_id("0"), std::nullopt);
  EXPECT_EQ(parse_id("-1"), std::nullopt);
  EXPECT_EQ(parse_id("12a"), std::nullopt);
  EXPECT_EQ(parse_id(""), std::nullopt);
  EXPECT_EQ(parse_id("5f3c0a"), std::nullopt);
}

TEST(PgValues, LabelHidesPassword) {
  EXPECT_EQ(label_for_url("postgresql://u:secret@db.example:6543/arch?sslmode=require"),
            "postgresql db.example:6543/arch");
  EXPECT_EQ(label_for_url("postgres://u@h/d"), "postgresql h:5432/d");
  EXPECT_EQ(label_for_url("postgresql://%zz"), "postgresql (bad URL)");
}

}  // namespace
}  // namespace cybexp::pg
