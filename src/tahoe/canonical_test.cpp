// The canonical form and _hash: hand-checked cases, the size computation,
// limits, and a comparison against a naive reference that builds every
// nested string the way the Python code does.
#include "cybexp/canonical.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <string>

#include "cybexp/json_value.h"
#include "cybexp/python_json.h"
#include "tahoe/escape_writer.h"

namespace cybexp {
namespace {

constexpr std::uint64_t kLimit = 64ull << 20;

// TAHOE's canonical(), written as literally as the Python: nested values
// are built as strings and escaped by json.dumps at every level.
std::string reference(const Value& v) {
  if (v.is_object()) {
    std::vector<std::pair<std::string, std::string>> items;
    for (const auto& [k, item] : v.as_object()) items.emplace_back(k, reference(item));
    std::sort(items.begin(), items.end());
    std::string out = "{";
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i > 0) out += ", ";
      append_python_json_string(items[i].first, out);
      out += ": ";
      append_python_json_string(items[i].second, out);
    }
    return out + "}";
  }
  if (v.is_array()) {
    std::set<std::string> items;
    for (const Value& item : v.as_array()) items.insert(reference(item));
    std::string out = "[";
    bool first = true;
    for (const std::string& s : items) {
      if (!first) out += ", ";
      first = false;
      append_python_json_string(s, out);
    }
    return out + "]";
  }
  if (v.is_string()) {
    std::string out;
    append_python_json_string(python_strip(v.as_string()), out);
    return out;
  }
  return python_json(v);
}

Value parse(std::string_view text) {
  JsonParseResult r = parse_python_json(text);
  EXPECT_EQ(r.status, JsonParseStatus::kOk) << r.detail;
  return std::move(r.value);
}

std::string canon(const Value& v) {
  const auto c = canonical(v, kLimit);
  EXPECT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(canonical_size(v), c->size());
  EXPECT_EQ(*c, reference(v));
  return *c;
}

// Array items are written escaped `unit` times over from their canonical
// strings; the word-at-a-time writers against the rule, byte by byte, for
// every unit the nesting limit can give, runs of specials, and lengths
// around the block and chunk sizes.
TEST(Canonical, ReescapedItemsFollowTheRule) {
  std::mt19937_64 rng(7);
  const std::string alphabet = "\"\\ab:{}, 0";
  for (int round = 0; round < 400; ++round) {
    const std::size_t len = round < 100 ? static_cast<std::size_t>(round) : rng() % (round < 390 ? 300 : 10000);
    std::string text;
    for (std::size_t i = 0; i < len; ++i) text += alphabet[rng() % (round % 3 == 0 ? 2 : alphabet.size())];
    for (std::uint64_t unit : {2, 3, 4, 8, 9, 16, 17, 18, 32, 64}) {
      std::string want;
      for (char c : text) {
        if (c == '"') want.append(unit - 1, '\\') += '"';
        else if (c == '\\') want.append(unit, '\\');
        else want += c;
      }
      std::string got = "x";
      {
        tahoe_detail::StringOut out(got);
        tahoe_detail::write_reescaped(text, unit, out);
      }
      ASSERT_EQ(got, "x" + want) << "unit " << unit << " text " << text;
    }
  }
}

TEST(Canonical, Scalars) {
  EXPECT_EQ(canon(parse("42")), "42");
  EXPECT_EQ(canon(parse("-0")), "0");
  EXPECT_EQ(canon(parse("1e16")), "1e+16");
  EXPECT_EQ(canon(parse("NaN")), "NaN");
  EXPECT_EQ(canon(parse("true")), "true");
  EXPECT_EQ(canon(parse("false")), "false");
  EXPECT_EQ(canon(parse("null")), "null");
  EXPECT_EQ(canon(parse(R"("  hello\u3000")")), "\"hello\"");
  EXPECT_EQ(canon(parse(R"("caf\u00e9 \u200b")")), "\"caf\\u00e9 \\u200b\"");
}

TEST(Canonical, ObjectsSortKeysAndNestValuesAsStrings) {
  EXPECT_EQ(canon(parse(R"({"b": 1, "a": "x"})")), R"({"a": "\"x\"", "b": "1"})");
  EXPECT_EQ(canon(parse(R"({"a": {"b": "q\"\\"}})")),
            R"({"a": "{\"b\": \"\\\"q\\\\\\\"\\\\\\\\\\\"\"}"})");
  // Keys are escaped, not stripped, and sorted by code point.
  EXPECT_EQ(canon(parse(R"({"\u00e9": 1, " k ": 2, "Z": 3, "\ud83d\ude00": 4, "\uffff": 5})")),
            R"({" k ": "2", "Z": "3", "\u00e9": "1", "\uffff": "5", "\ud83d\ude00": "4"})");
}

TEST(Canonical, ArraysDedupAndSortCanonicalStrings) {
  EXPECT_EQ(canon(parse(R"([3, 1, 1, "1", true, null, 1.0, [2, 2], {"k": 1}, {"k": 1}])")),
            R"(["\"1\"", "1", "1.0", "3", "[\"2\"]", "null", "true", "{\"k\": \"1\"}"])");
  // Strings equal after strip are one item; [1, 2] and [2, 1, 1] are one item.
  EXPECT_EQ(canon(parse(R"([" a", "a ", [1, 2], [2, 1, 1], []])")),
            R"(["\"a\"", "[\"1\", \"2\"]", "[]"])");
  EXPECT_EQ(canon(parse("[NaN, NaN, -0.0, 0.0]")), R"(["-0.0", "0.0", "NaN"])");
  EXPECT_EQ(canon(parse("[]")), "[]");
  EXPECT_EQ(canon(parse("{}")), "{}");
}

TEST(Canonical, SizeDoublesWithNesting) {
  std::string text = "\"x\"";
  std::uint64_t prev = 3;
  for (int depth = 1; depth <= 16; ++depth) {
    text = "[" + text + "]";
    const Value v = parse(text);
    const std::uint64_t size = canonical_size(v);
    EXPECT_GT(size * 10, prev * 19);  // nearly doubles
    if (depth == 12) {
      EXPECT_EQ(size, 16407u);  // the deep_nesting_12 vector
    }
    prev = size;
    if (depth <= 12) {
      EXPECT_EQ(canon(v), reference(v));
    }
  }
}

TEST(Canonical, SizeSaturates) {
  const Value v = parse(std::string(100, '[') + "1" + std::string(100, ']'));
  EXPECT_EQ(canonical_size(v), UINT64_MAX);
  const auto c = canonical(v, UINT64_MAX);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().kind, ErrorKind::kLimit);
  EXPECT_NE(c.error().message.find("at least 18446744073709551615"), std::string::npos);
}

TEST(Canonical, LimitIsCheckedBeforeBuilding) {
  const Value v = parse(R"({"a": "0123456789"})");
  const std::uint64_t size = canonical_size(v);
  EXPECT_TRUE(canonical(v, size).has_value());
  const auto c = canonical(v, size - 1);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().kind, ErrorKind::kLimit);
  EXPECT_EQ(c.error().message, "canonical form would be " + std::to_string(size) +
                                   " bytes, over the " + std::to_string(size - 1) + "-byte limit");
  EXPECT_TRUE(raw_hash("x", v, size).has_value());
  EXPECT_EQ(raw_hash("x", v, size - 1).error().kind, ErrorKind::kLimit);
}

TEST(Canonical, DuplicatesKeepTheExactSizeUnderTheLimit) {
  // 2000 copies of a value whose canonical form is ~50 KB: without
  // de-duplication that would be ~100 MB, over the limit; it is not.
  std::string deep = "\"x\"";
  for (int i = 0; i < 14; ++i) deep = "[" + deep + ", " + std::to_string(i) + "]";
  std::string text = "[";
  for (int i = 0; i < 2000; ++i) text += deep + ", ";
  text += "[1, 2]]";
  const Value v = parse(text);
  const std::uint64_t size = canonical_size(v);
  EXPECT_LT(size, 1u << 20);
  const auto c = canonical(v, 4u << 20);
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->size(), size);
  Array two;
  two.push_back(parse(deep));
  two.push_back(parse("[1, 2]"));
  EXPECT_EQ(*c, reference(Value(std::move(two))));
  EXPECT_EQ(*raw_hash("s", v, 4u << 20),
            *raw_hash("s", parse("[" + deep + ", [2, 1], " + deep + "]"), 4u << 20));
}

TEST(Canonical, LongStringsAndDeepObjectsMatchTheReference) {
  // Strings longer than the writer's 4 KiB chunks, with multi-byte
  // characters straddling chunk edges, at nesting levels whose escaping
  // unit runs from 1 to 2^20.
  std::string text;
  const char* pieces[] = {"a",  "\"",   "\\", "\xC3\xA9", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80",
                          "\n", "\x01", "/",  " "};
  for (int i = 0; text.size() < 20000; ++i) text += pieces[(i * 7 + i / 3) % 10];
  for (std::size_t cut : {4095u, 4096u, 4097u, 8190u}) {
    std::string s = std::string(cut, 'x') + "\xE4\xB8\xAD\"" + text.substr(0, 5000);
    Value v(std::move(s));
    for (int depth = 0; depth < 4; ++depth) {
      Object o;
      o.emplace_back("k\"" + std::to_string(depth), std::move(v));
      Array a;
      a.emplace_back(std::move(o));
      a.emplace_back(std::string("second"));
      v = Value(std::move(a));
      const std::string want = reference(v);
      EXPECT_EQ(canonical_size(v), want.size());
      const auto got = canonical(v, kLimit);
      ASSERT_TRUE(got.has_value());
      EXPECT_EQ(*got, want);
    }
  }
  Value deep(std::string("q\"\\\xC3\xA9\x01"));
  for (int depth = 1; depth <= 20; ++depth) {
    Object o;
    o.emplace_back("k", std::move(deep));
    deep = Value(std::move(o));
    const std::string want = reference(deep);
    ASSERT_EQ(canonical_size(deep), want.size()) << depth;
    ASSERT_EQ(*canonical(deep, kLimit), want) << depth;
  }
}

TEST(Canonical, RawHashIsSha256OfRawSubTypeCanonical) {
  // sha256("raw" + "email" + "42"), from hashlib.
  EXPECT_EQ(*raw_hash("email", parse("42"), kLimit),
            "11a1bfe08df3bf7d60967ded0aef6fddcb52ec03d59fd335cf190738b7998525");
}

// Random values rich in what matters: quotes, backslashes, escapes,
// Python whitespace, non-ASCII, duplicates and nesting.
class RandomValues {
 public:
  explicit RandomValues(unsigned seed) : rng_(seed) {}
  Value make(int depth) {
    const int kind = pick(depth > 0 ? 9 : 6);
    switch (kind) {
      case 0:
        return Value(nullptr);
      case 1:
        return Value(pick(2) == 0);
      case 2:
        return Value(Integer{std::to_string(static_cast<int>(pick(2001)) - 1000)});
      case 3: {
        static const double floats[] = {0.1, -0.0, 0.0,      1e16,      1e-5,
                                        2.5, NAN,  INFINITY, -INFINITY, 1e300};
        return Value(floats[pick(10)]);
      }
      case 4:
      case 5:
        return Value(text());
      case 6:
      case 7: {
        Array a;
        const int n = pick(5);
        for (int i = 0; i < n; ++i)
          a.push_back(pick(3) == 0 && !a.empty() ? Value(std::as_const(a.back()))
                                                 : make(depth - 1));
        return Value(std::move(a));
      }
      default: {
        Object o;
        const int n = pick(4);
        for (int i = 0; i < n; ++i) {
          std::string k = text();
          if (std::none_of(o.begin(), o.end(), [&](const auto& m) { return m.first == k; }))
            o.emplace_back(std::move(k), make(depth - 1));
        }
        return Value(std::move(o));
      }
    }
  }

 private:
  int pick(int n) { return static_cast<int>(rng_() % static_cast<unsigned>(n)); }
  std::string text() {
    static const char* pieces[] = {"a",
                                   "b",
                                   "\"",
                                   "\\",
                                   " ",
                                   "\t",
                                   "\n",
                                   "\x01",
                                   "\x7f",
                                   "\xC3\xA9",
                                   "\xE2\x80\xA8",
                                   "\xE3\x80\x80",
                                   "\xF0\x9F\x98\x80",
                                   "/",
                                   "xyzxyzxyz",
                                   "\xC2\xA0"};
    std::string s;
    const int n = pick(6);
    for (int i = 0; i < n; ++i) s += pieces[pick(16)];
    return s;
  }
  std::mt19937 rng_;
};

TEST(Canonical, RandomValuesMatchTheReference) {
  RandomValues gen(12345);
  for (int i = 0; i < 3000; ++i) {
    const Value v = gen.make(4);
    const std::string want = reference(v);
    const auto got = canonical(v, kLimit);
    ASSERT_TRUE(got.has_value());
    ASSERT_EQ(*got, want) << python_json(v);
    ASSERT_EQ(canonical_size(v), want.size()) << python_json(v);
    // Also through the exact-size path: a limit just under the upper bound.
    const auto tight = canonical(v, want.size());
    ASSERT_TRUE(tight.has_value());
    ASSERT_EQ(*tight, want);
  }
}

}  // namespace
}  // namespace cybexp
