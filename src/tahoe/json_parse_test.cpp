// parse_python_json: Python json.loads semantics, one rule per test.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "cybexp/json_value.h"
#include "cybexp/python_json.h"

namespace cybexp {
namespace {

Value parse_ok(std::string_view text) {
  JsonParseResult r = parse_python_json(text);
  EXPECT_EQ(r.status, JsonParseStatus::kOk) << text << ": " << r.detail;
  return std::move(r.value);
}

JsonParseStatus status_of(std::string_view text) { return parse_python_json(text).status; }

TEST(JsonParse, IntegersAreExact) {
  EXPECT_EQ(parse_ok("123456789012345678901234567890").as_integer().digits,
            "123456789012345678901234567890");
  EXPECT_EQ(parse_ok("-9223372036854775809").as_integer().digits, "-9223372036854775809");
  EXPECT_EQ(parse_ok("-0").as_integer().digits, "0");
  EXPECT_EQ(parse_ok("0").as_integer().digits, "0");
  const std::string huge(400, '7');  // past RapidJSON's double range
  EXPECT_EQ(parse_ok("[" + huge + ", 1e400, 2]").as_array()[0].as_integer().digits, huge);
}

TEST(JsonParse, NumbersPastDoubleRangeKeepStringsIntact) {
  // RapidJSON refuses these numbers; the retry must leave strings alone.
  const Value v =
      parse_ok(R"({"1e400": 1e400, "s": "12 1e999 -5", "n": [-1e999, 0.5, 99], "k": 1E+400})");
  const Object& o = v.as_object();
  EXPECT_EQ(o[0].first, "1e400");
  EXPECT_EQ(o[0].second.as_float(), HUGE_VAL);
  EXPECT_EQ(o[1].second.as_string(), "12 1e999 -5");
  EXPECT_EQ(o[2].second.as_array()[0].as_float(), -HUGE_VAL);
  EXPECT_EQ(o[2].second.as_array()[1].as_float(), 0.5);
  EXPECT_EQ(o[2].second.as_array()[2].as_integer().digits, "99");
  EXPECT_EQ(o[3].second.as_float(), HUGE_VAL);
  EXPECT_TRUE(std::isnan(parse_ok("[1e400, NaN]").as_array()[1].as_float()));
  // Still not JSON when something else is wrong.
  EXPECT_EQ(status_of("[1e400, 01]"), JsonParseStatus::kNotJson);
  EXPECT_EQ(status_of("[1e400,]"), JsonParseStatus::kNotJson);
  EXPECT_EQ(status_of("[1e400 2]"), JsonParseStatus::kNotJson);
  EXPECT_EQ(status_of("[1e400, Inf]"), JsonParseStatus::kNotJson);
  const JsonParseResult bad = parse_python_json("[1e400, tru]");
  EXPECT_EQ(bad.status, JsonParseStatus::kNotJson);
  // Offsets survive the rewrite (RapidJSON names the byte where "tru" fails).
  EXPECT_NE(bad.detail.find("byte 11"), std::string::npos) << bad.detail;
}

TEST(JsonParse, FloatsFollowPython) {
  EXPECT_EQ(parse_ok("0.1").as_float(), 0.1);
  EXPECT_EQ(parse_ok("1E2").as_float(), 100.0);
  EXPECT_EQ(parse_ok("1.0").as_float(), 1.0);
  EXPECT_TRUE(parse_ok("1.0").is_float());
  EXPECT_TRUE(std::signbit(parse_ok("-0.0").as_float()));
  EXPECT_EQ(parse_ok("1e400").as_float(), HUGE_VAL);
  EXPECT_EQ(parse_ok("-1e400").as_float(), -HUGE_VAL);
  EXPECT_EQ(parse_ok("1e-400").as_float(), 0.0);
  EXPECT_EQ(parse_ok("0e400").as_float(), 0.0);
  EXPECT_EQ(parse_ok("2.5e-324").as_float(), 5e-324);
  EXPECT_EQ(parse_ok("123456789.123456789").as_float(), 123456789.12345679);
  EXPECT_EQ(parse_ok("1.7976931348623157e308").as_float(), 1.7976931348623157e308);
  // Correct rounding of a long mantissa (needs more than 17 digits).
  EXPECT_EQ(parse_ok("9007199254740993.0000000001").as_float(), 9007199254740994.0);
  EXPECT_EQ(parse_ok("[1, 1e999999999999]").as_array()[1].as_float(), HUGE_VAL);
}

TEST(JsonParse, NanAndInfinityOnlyInPythonSpelling) {
  EXPECT_TRUE(std::isnan(parse_ok("NaN").as_float()));
  EXPECT_EQ(parse_ok("Infinity").as_float(), HUGE_VAL);
  EXPECT_EQ(parse_ok("[-Infinity]").as_array()[0].as_float(), -HUGE_VAL);
  for (const char* bad : {"Inf", "-Inf", "-NaN", "+Inf", "+Infinity", "nan", "infinity", "NaN.5",
                          "Infinitye5", "[Infinit]", "NaNa", "[-]"})
    EXPECT_EQ(status_of(bad), JsonParseStatus::kNotJson) << bad;
}

TEST(JsonParse, NotJson) {
  for (std::string bad : {"",
                          "   ",
                          "{\"a\": 1,}",
                          "[1,]",
                          "{'a': 1}",
                          "// c\n1",
                          "/* c */ 1",
                          "01",
                          "1.",
                          ".5",
                          "+1",
                          "1e",
                          "-",
                          "\xEF\xBB\xBF{}",
                          "{} {}",
                          "1 2",
                          "[1] x",
                          "\"a\x01b\"",
                          "\"a\tb\"",
                          "{\"a\"}",
                          "{1: 2}",
                          "tru",
                          "nul",
                          "\"\\x\"",
                          "\"\\u12G4\"",
                          "[1 2]",
                          "\x0B 1",
                          "\f1",
                          "1\f",
                          "\"unterminated"})
    EXPECT_EQ(status_of(bad), JsonParseStatus::kNotJson) << bad;
  EXPECT_EQ(status_of(std::string("1\0 2", 4)), JsonParseStatus::kNotJson);
  EXPECT_EQ(status_of(std::string("[1]\0", 4)), JsonParseStatus::kNotJson);
  EXPECT_EQ(status_of(std::string("\"a\0\"", 4)), JsonParseStatus::kNotJson);
  const JsonParseResult r = parse_python_json("[1, 2,]");
  EXPECT_NE(r.detail.find("byte 6"), std::string::npos) << r.detail;
}

TEST(JsonParse, WhitespaceAroundTheValue) {
  EXPECT_EQ(parse_ok(" \t\r\n[1] \t\r\n").as_array().size(), 1u);
  EXPECT_EQ(parse_ok("\"\x7f\"").as_string(), "\x7f");  // DEL is not a control char for JSON
}

TEST(JsonParse, DuplicateKeysLastWinsAtFirstPlace) {
  const Value v = parse_ok(R"({"a": 1, "b": 2, "a": 3, "c": 4, "b": 5})");
  const Object& o = v.as_object();
  ASSERT_EQ(o.size(), 3u);
  EXPECT_EQ(o[0].first, "a");
  EXPECT_EQ(o[0].second.as_integer().digits, "3");
  EXPECT_EQ(o[1].first, "b");
  EXPECT_EQ(o[1].second.as_integer().digits, "5");
  EXPECT_EQ(o[2].first, "c");

  // A big object goes through the hashed path.
  std::string text = "{";
  for (int i = 0; i < 100; ++i)
    text += "\"k" + std::to_string(i) + "\": " + std::to_string(i) + ", ";
  text += "\"k7\": \"last\", \"k0\": null}";
  const Value big = parse_ok(text);
  ASSERT_EQ(big.as_object().size(), 100u);
  EXPECT_EQ(big.as_object()[7].first, "k7");
  EXPECT_EQ(big.as_object()[7].second.as_string(), "last");
  EXPECT_TRUE(big.as_object()[0].second.is_null());
  EXPECT_EQ(big.as_object()[99].first, "k99");
}

TEST(JsonParse, StringsAndEscapes) {
  EXPECT_EQ(parse_ok(R"("a\"b\\c\/d\b\f\n\r\t")").as_string(), "a\"b\\c/d\b\f\n\r\t");
  EXPECT_EQ(parse_ok(R"("\u00e9\u4e2d\ud83d\ude00")").as_string(),
            "\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80");
  EXPECT_EQ(parse_ok(R"("\u0000")").as_string(), std::string("\0", 1));
  EXPECT_EQ(parse_ok("\"caf\xC3\xA9\"").as_string(), "caf\xC3\xA9");
}

TEST(JsonParse, LoneSurrogates) {
  for (const char* text :
       {R"("\ud800")", R"("\udc00")", R"(["x", "\uDBFF"])", R"({"\ud800": 1})", R"("\ud800\u0041")",
        R"("\udc00\ud800")", R"(["\ud83d\ude00", "\ud800x"])", R"({"a": "\\\udfff"})",
        R"([1e400, "\ud800"])"})
    EXPECT_EQ(status_of(text), JsonParseStatus::kLoneSurrogate) << text;
  // An escaped backslash before "ud800" is not an escape.
  EXPECT_EQ(parse_ok(R"("\\ud800")").as_string(), "\\ud800");
  EXPECT_EQ(parse_ok(R"("\\udc00")").as_string(), "\\udc00");
  // Invalid JSON elsewhere still wins.
  EXPECT_EQ(status_of(R"(["\ud800",])"), JsonParseStatus::kNotJson);
  EXPECT_EQ(status_of(R"("\ud800\uZZZZ")"), JsonParseStatus::kNotJson);
}

TEST(JsonParse, DepthLimit) {
  JsonLimits limits;
  limits.max_depth = 5;
  EXPECT_EQ(parse_python_json("[[[[[1]]]]]", limits).status, JsonParseStatus::kOk);
  const JsonParseResult deep = parse_python_json("[[[[[[1]]]]]]", limits);
  EXPECT_EQ(deep.status, JsonParseStatus::kTooDeep);
  EXPECT_NE(deep.detail.find("5"), std::string::npos);
  EXPECT_EQ(parse_python_json(R"({"a": {"b": {"c": {"d": {"e": {}}}}}})", limits).status,
            JsonParseStatus::kTooDeep);
  // The default allows 256 levels and refuses more without exhausting the stack.
  EXPECT_EQ(status_of(std::string(256, '[') + std::string(256, ']')), JsonParseStatus::kOk);
  EXPECT_EQ(status_of(std::string(257, '[') + std::string(257, ']')), JsonParseStatus::kTooDeep);
  EXPECT_EQ(status_of(std::string(1000000, '[')), JsonParseStatus::kTooDeep);
}

TEST(JsonParse, ValueFind) {
  const Value v = parse_ok(R"({"a": 1, "b": "x"})");
  ASSERT_NE(v.find("b"), nullptr);
  EXPECT_EQ(v.find("b")->as_string(), "x");
  EXPECT_EQ(v.find("c"), nullptr);
  EXPECT_EQ(parse_ok("[1]").find("a"), nullptr);
}

TEST(JsonParse, InvalidUtf8IsNotJson) {
  EXPECT_EQ(status_of("\"\xFF\""), JsonParseStatus::kNotJson);
  EXPECT_EQ(status_of("\"\xED\xA0\x80\""), JsonParseStatus::kNotJson);  // a raw surrogate
}

// Found by clang-tidy (bugprone-forwarding-reference-overload): Value's
// forwarding constructor took a non-const Value lvalue away from the copy
// constructor, which does not compile; now it is only for the alternatives.
TEST(JsonValue, CopiesFromANonConstLvalue) {
  Value a = Object{{"k", Value(std::string("v"))}};
  Value b(a);
  EXPECT_EQ(python_json(b), "{\"k\": \"v\"}");
  EXPECT_EQ(python_json(a), "{\"k\": \"v\"}");
}

// An empty plaintext reaches the parser as a view with a null data() (an
// empty SecureBytes); fuzz_archive_one found memchr/memcpy called on it,
// which UBSan (the asan-ubsan preset) reports.
TEST(JsonParse, EmptyViewWithNullData) {
  const std::string_view empty;
  ASSERT_EQ(empty.data(), nullptr);
  JsonParseResult r = parse_python_json(empty);
  EXPECT_EQ(r.status, JsonParseStatus::kNotJson);
  EXPECT_EQ(r.detail, "invalid JSON at byte 0: The document is empty.");
  EXPECT_FALSE(parse_json_strict(empty, "empty").has_value());
}

TEST(JsonParseStrict, AcceptsStandardJson) {
  const auto v = parse_json_strict(R"({"archive": {"db": "tahoe_db", "n": 12345678901234567890}})",
                                   "cfg.json");
  ASSERT_TRUE(v.has_value()) << v.error().message;
  EXPECT_EQ(v->find("archive")->find("db")->as_string(), "tahoe_db");
  EXPECT_EQ(v->find("archive")->find("n")->as_integer().digits, "12345678901234567890");
}

TEST(JsonParseStrict, RefusesNanAndNamesTheByte) {
  const auto nan = parse_json_strict(R"({"a": NaN})", "cfg.json");
  ASSERT_FALSE(nan.has_value());
  EXPECT_EQ(nan.error().message, "cfg.json: invalid JSON at byte 6: Invalid value.");
  const auto comma = parse_json_strict("{\"a\": 1,\n}", "/etc/x.json");
  ASSERT_FALSE(comma.has_value());
  EXPECT_EQ(comma.error().message.rfind("/etc/x.json: invalid JSON at byte 9: ", 0), 0u)
      << comma.error().message;
  EXPECT_FALSE(parse_json_strict("\xFF", "bad").has_value());
  EXPECT_FALSE(parse_json_strict("\"\xED\xA0\x80\"", "bad").has_value());
}

}  // namespace
}  // namespace cybexp
