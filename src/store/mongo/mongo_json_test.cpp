// JSON value <-> BSON, without a server: the BSON types pymongo would write,
// what MongoDB cannot hold, and the way back to json.dumps text.
#include "store/mongo/mongo_json.h"

#include <gtest/gtest.h>

#include "cybexp/python_json.h"
#include "store/mongo/mongo_bson.h"

namespace cybexp::mongo {
namespace {

Value parse(std::string_view text) {
  JsonParseResult r = parse_python_json(text, JsonLimits{1000});
  EXPECT_EQ(r.status, JsonParseStatus::kOk) << r.detail;
  return std::move(r.value);
}

// {"data": <text as BSON>} in canonical extended JSON, or the error.
std::string to_bson_json(std::string_view text) {
  Doc d;
  auto r = append_json(d.raw(), "data", parse(text), 1);
  if (!r) return "error: " + r.error().message;
  return canonical_json(d.get());
}

// text -> BSON -> json.dumps text.
std::string round_trip(std::string_view text) {
  Doc d;
  auto r = append_json(d.raw(), "data", parse(text), 1);
  if (!r) return "error: " + r.error().message;
  bson_iter_t it;
  EXPECT_TRUE(find_field(d.get(), "data", &it));
  auto v = json_from_bson(&it, "data");
  if (!v) return "error: " + v.error().message;
  return python_json(*v);
}

TEST(MongoJson, IntegersAsPymongoWritesThem) {
  EXPECT_EQ(to_bson_json("[0, -1, 2147483647, -2147483648, 2147483648, -2147483649, "
                         "9223372036854775807, -9223372036854775808]"),
            R"({ "data" : [ { "$numberInt" : "0" }, { "$numberInt" : "-1" }, )"
            R"({ "$numberInt" : "2147483647" }, { "$numberInt" : "-2147483648" }, )"
            R"({ "$numberLong" : "2147483648" }, { "$numberLong" : "-2147483649" }, )"
            R"({ "$numberLong" : "9223372036854775807" }, )"
            R"({ "$numberLong" : "-9223372036854775808" } ] })");
}

TEST(MongoJson, FloatsStayDoublesEvenWhenWhole) {
  EXPECT_EQ(to_bson_json("[1.0, -0.0, 0.5, 1e2, NaN, Infinity, -Infinity]"),
            R"({ "data" : [ { "$numberDouble" : "1.0" }, { "$numberDouble" : "-0.0" }, )"
            R"({ "$numberDouble" : "0.5" }, { "$numberDouble" : "100.0" }, )"
            R"({ "$numberDouble" : "NaN" }, { "$numberDouble" : "Infinity" }, )"
            R"({ "$numberDouble" : "-Infinity" } ] })");
}

TEST(MongoJson, ObjectsKeepKeyOrderAndNestedTypes) {
  EXPECT_EQ(to_bson_json(R"({"z": "s\u00e9\ud83d\ude00", "a": [true, false, null], "m": {}, )"
                         R"("e": [], "": "empty key", "a.b": 1, "$x": 2})"),
            "{ \"data\" : { \"z\" : \"s\xc3\xa9\xf0\x9f\x98\x80\", \"a\" : [ true, false, null ], "
            "\"m\" : {  }, \"e\" : [  ], \"\" : \"empty key\", \"a.b\" : { \"$numberInt\" : \"1\" }, "
            "\"$x\" : { \"$numberInt\" : \"2\" } } }");
  // Duplicate keys were resolved by the parser (last value, first position).
  EXPECT_EQ(to_bson_json(R"({"a": 1, "b": 2, "a": 3})"),
            R"({ "data" : { "a" : { "$numberInt" : "3" }, "b" : { "$numberInt" : "2" } } })");
  // Scalars and strings with NUL are fine as data.
  EXPECT_EQ(to_bson_json(R"("a\u0000b")"), "{ \"data\" : \"a\\u0000b\" }");
  EXPECT_EQ(to_bson_json("7"), R"({ "data" : { "$numberInt" : "7" } })");
}

TEST(MongoJson, IntegerBeyondInt64IsRefusedWithAReason) {
  const std::string why =
      ", which does not fit in 64 bits: MongoDB (BSON) cannot store it, and upstream fails on it too";
  EXPECT_EQ(to_bson_json(R"({"n": 9223372036854775808})"),
            "error: the data holds the integer 9223372036854775808" + why);
  EXPECT_EQ(to_bson_json("[-9223372036854775809]"),
            "error: the data holds the integer -9223372036854775809" + why);
  EXPECT_EQ(to_bson_json(std::string("[1, [") + std::string(60, '9') + "]]"),
            "error: the data holds the integer 999999999999999999999999999999... (60 digits)" + why);
}

TEST(MongoJson, NulInAKeyIsRefused) {
  EXPECT_EQ(to_bson_json(R"({"ok": {"a\u0000b": 1}})"),
            "error: the data has a key with a NUL character (\\u0000), which MongoDB (BSON) "
            "cannot store");
}

TEST(MongoJson, NestingOverMongoLimitIsRefused) {
  // data is level 1; 99 arrays inside it put the innermost element at 100.
  const std::string ok = std::string(100, '[') + "1" + std::string(100, ']');
  EXPECT_EQ(ok.size(), 201u);
  EXPECT_EQ(round_trip(std::string(99, '[') + "1" + std::string(99, ']')),
            std::string(99, '[') + "1" + std::string(99, ']'));
  // 100 nested arrays, the innermost empty: its last element is at level 100.
  EXPECT_EQ(round_trip(std::string(100, '[') + std::string(100, ']')),
            std::string(100, '[') + std::string(100, ']'));
  EXPECT_EQ(to_bson_json(ok),
            "error: the data nests deeper than MongoDB's limit of 100 levels, so the server "
            "refuses it");
}

TEST(MongoJson, RoundTripGivesTheSameText) {
  for (std::string_view text : {
           R"({"a": 1, "b": [1.5, -0.0, 1e+16, 1e-05, NaN, Infinity, -Infinity], "c": null})",
           R"({"big": 9223372036854775807, "neg": -9223372036854775808, "f": 2147483648.0})",
           R"({"s": "\u0000\u001f\"\\/\u00e9\ud83d\ude00", "nested": {"x": {"y": [[], {}]}}})",
           R"([1, "two", 3.0, true, false, null])",
           R"("just a string")",
           R"({"data": "not json at all\nsecond line"})",
           R"({"z": 1, "a": 2, "m": 3})",
       }) {
    EXPECT_EQ(round_trip(text), text);
  }
}

TEST(MongoJson, ReadsWhatPymongoReadsIncludingDuplicateKeys) {
  // BSON may repeat a key (we never write that); a Python dict keeps the
  // first position and the last value.
  Doc inner;
  inner.int32("a", 1).int32("b", 2).int32("a", 3);
  Doc outer;
  outer.sub("data", inner);
  bson_iter_t it;
  ASSERT_TRUE(find_field(outer.get(), "data", &it));
  auto v = json_from_bson(&it, "data");
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(python_json(*v), R"({"a": 3, "b": 2})");

  // Large objects take the indexed path.
  Doc wide;
  for (int i = 0; i < 40; ++i) wide.int32("k" + std::to_string(i % 20), i);
  Doc holder;
  holder.sub("data", wide);
  ASSERT_TRUE(find_field(holder.get(), "data", &it));
  v = json_from_bson(&it, "data");
  ASSERT_TRUE(v);
  ASSERT_EQ(v->as_object().size(), 20u);
  EXPECT_EQ(v->as_object()[0].first, "k0");
  EXPECT_EQ(python_json(v->as_object()[0].second), "20");
  EXPECT_EQ(python_json(v->as_object()[19].second), "39");
}

TEST(MongoJson, TypesJsonCannotHoldAreErrorsNamingThePath) {
  Doc inner;
  inner.str("ok", "x").oid("who", new_oid());
  Doc arr = Doc::array();
  arr.int32("", 1).date("", 0);
  Doc d;
  d.sub("a", inner).sub("b", arr);
  Doc outer;
  outer.sub("data", d);
  bson_iter_t it;
  ASSERT_TRUE(find_field(outer.get(), "data", &it));
  auto v = json_from_bson(&it, "data");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().kind, ErrorKind::kBadData);
  EXPECT_EQ(v.error().message, "data.a.who holds a BSON ObjectId, which JSON cannot represent");

  Doc only_date;
  only_date.sub("data", std::move(Doc::array().int32("", 1).date("", 0)));
  ASSERT_TRUE(find_field(only_date.get(), "data", &it));
  EXPECT_EQ(json_from_bson(&it, "data").error().message,
            "data[1] holds a BSON date, which JSON cannot represent");

  Doc bad_utf8;
  bad_utf8.str("data", "\xff\xfe");
  ASSERT_TRUE(find_field(bad_utf8.get(), "data", &it));
  EXPECT_EQ(json_from_bson(&it, "data").error().message,
            "data is a string that is not valid UTF-8");
}

TEST(MongoJson, QuickScanFlagsOnlyWhatNeedsALook) {
  // A float with 19 digits only asks for a closer look (which accepts it).
  EXPECT_TRUE(may_be_unstorable(R"({"a": 1234567890123456789.0e-5})"));
  EXPECT_FALSE(may_be_unstorable(R"({"a": 123456789012345678, "b": "1234567890123456789012"})"));
  EXPECT_TRUE(may_be_unstorable(R"({"a": 1234567890123456789})"));
  EXPECT_FALSE(may_be_unstorable(R"({"a\\": "\\u0000"})"));  // an escaped backslash, then text
  EXPECT_TRUE(may_be_unstorable(R"({"a": "x\u0000y"})"));
  EXPECT_FALSE(may_be_unstorable(R"({"q": "\"[[[[", "n": -12})"));
  EXPECT_FALSE(may_be_unstorable(std::string(98, '[') + std::string(98, ']')));
  EXPECT_TRUE(may_be_unstorable(std::string(99, '[') + std::string(99, ']')));
}

}  // namespace
}  // namespace cybexp::mongo
