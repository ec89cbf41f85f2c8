// json.dumps output, repr(float), str.strip() and strict UTF-8, checked
// against what CPython produces.
#include "cybexp/python_json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <utility>
#include <limits>
#include <string>

#include "cybexp/json_value.h"
#include "tahoe/escape.h"

namespace cybexp {
namespace {

std::string repr(double d) {
  std::string s;
  append_python_float(d, s);
  return s;
}

std::string dumps_str(std::string_view s) {
  std::string out;
  append_python_json_string(s, out);
  EXPECT_EQ(python_json_string_size(s), out.size()) << out;
  return out;
}

TEST(PythonFloat, MatchesRepr) {
  // Values and repr() output from CPython 3.
  const std::pair<double, const char*> table[] = {
      {0.1, "0.1"},
      {1.0, "1.0"},
      {-0.0, "-0.0"},
      {0.0, "0.0"},
      {1e16, "1e+16"},
      {1e-05, "1e-05"},
      {0.0001, "0.0001"},
      {0.00012345, "0.00012345"},
      {1.5e+300, "1.5e+300"},
      {5e-324, "5e-324"},
      {1.7976931348623157e+308, "1.7976931348623157e+308"},
      {123456789.123, "123456789.123"},
      {1e22, "1e+22"},
      {2.5e-7, "2.5e-07"},
      {123456789012345.0, "123456789012345.0"},
      {1234567890123456.0, "1234567890123456.0"},
      {12345678901234567.0, "1.2345678901234568e+16"},
      {9999999999999998.0, "9999999999999998.0"},
      {100.0, "100.0"},
      {-1.5, "-1.5"},
      {1e100, "1e+100"},
      {1.2345e-100, "1.2345e-100"},
      {0.3, "0.3"},
      {2.0 / 3.0, "0.6666666666666666"},
      {1e15, "1000000000000000.0"},
      {123456789.12345679, "123456789.12345679"},
      {-1e-07, "-1e-07"},
      {2.2250738585072014e-308, "2.2250738585072014e-308"},
  };
  for (const auto& [d, want] : table) EXPECT_EQ(repr(d), want);
  EXPECT_EQ(repr(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(repr(-std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(repr(HUGE_VAL), "Infinity");
  EXPECT_EQ(repr(-HUGE_VAL), "-Infinity");
}

// The parser keeps a float token as its repr when is_float_repr says so,
// without converting it: that must never differ from converting it.
TEST(PythonFloat, TokensSeenAsReprAreRepr) {
  auto check = [](const std::string& t) {
    char buf[32];
    const std::size_t len = tahoe_detail::format_python_float(std::strtod(t.c_str(), nullptr), buf);
    const std::string want(buf, len);
    if (tahoe_detail::is_float_repr(t)) {
      EXPECT_EQ(want, t) << "token " << t;
    }
    if (const std::size_t n = tahoe_detail::float_repr_length(t); n > 0) {
      EXPECT_EQ(want, t.substr(0, n)) << "token " << t;
    }
    return want == t;
  };
  for (const char* t : {"0.0", "-0.0", "1.0", "0.1", "0.0001", "12.5", "-45.12", "1000.0",
                        "123456789012345.0", "0.000123456789012345", "99999999999999.9"})
    EXPECT_TRUE(tahoe_detail::is_float_repr(t) && check(t)) << t;
  for (const char* t : {"0.00", "1.50", "00.1", "1.", ".5", "1e5", "1.0e5", "0.00001", "1234567890123456.0",
                        "0.1234567890123456", "1.2345678901234567", "-", "", "-.5", "1.5x", "01.5"})
    EXPECT_FALSE(tahoe_detail::is_float_repr(t)) << t;
  // Generated spellings: every digit count, point position, leading and
  // trailing zero and sign; the ones seen as repr must be, and all the
  // short canonical ones must be seen.
  std::uint64_t x = 88172645463325252ULL;
  auto rnd = [&x](std::uint64_t n) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x % n;
  };
  int fast = 0;
  int fast_prefix = 0;
  for (int i = 0; i < 200000; ++i) {
    std::string digits;
    const std::uint64_t n = 1 + rnd(18);
    for (std::uint64_t k = 0; k < n; ++k) digits += static_cast<char>('0' + (rnd(3) == 0 ? 0 : rnd(10)));
    const std::uint64_t point = rnd(n + 1);
    std::string t = (rnd(2) != 0 ? "-" : "") + (point == 0 ? std::string("0") : digits.substr(0, point)) + "." +
                    (point == n ? std::string("0") : digits.substr(point));
    const bool same = check(t);
    if (tahoe_detail::is_float_repr(t)) {
      ++fast;
    } else if (same && n <= 12 && t.back() != '0' && t[t[0] == '-'] != '0') {
      ADD_FAILURE() << "repr not seen: " << t;
    }
    if (tahoe_detail::float_repr_length(t) > 0) ++fast_prefix;
  }
  EXPECT_GT(fast, 10000);
  EXPECT_GT(fast_prefix, fast);
  for (const auto& [t, len] : std::initializer_list<std::pair<const char*, std::size_t>>{
           {"12.50", 4}, {"3.00", 3}, {"-0.000", 4}, {"0.00010", 6}, {"1.0", 3}, {"1.50e3", 0}, {"100", 0}})
    EXPECT_EQ(tahoe_detail::float_repr_length(t), len) << t;
}

TEST(PythonJsonString, EscapesAsEnsureAscii) {
  EXPECT_EQ(dumps_str(""), "\"\"");
  EXPECT_EQ(dumps_str("plain text/with slash"), "\"plain text/with slash\"");
  EXPECT_EQ(dumps_str("q\"b\\"), "\"q\\\"b\\\\\"");
  EXPECT_EQ(dumps_str("\b\f\n\r\t"), "\"\\b\\f\\n\\r\\t\"");
  EXPECT_EQ(dumps_str(std::string("\0\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\\u007f\"");
  EXPECT_EQ(dumps_str("caf\xC3\xA9"), "\"caf\\u00e9\"");
  EXPECT_EQ(dumps_str("\xC2\x80\xDF\xBF"), "\"\\u0080\\u07ff\"");
  EXPECT_EQ(dumps_str("\xE4\xB8\xAD\xEF\xBF\xBF"), "\"\\u4e2d\\uffff\"");
  EXPECT_EQ(dumps_str("\xF0\x9F\x98\x80"), "\"\\ud83d\\ude00\"");
  EXPECT_EQ(dumps_str("\xF4\x8F\xBF\xBF"), "\"\\udbff\\udfff\"");
  EXPECT_EQ(dumps_str("\xF0\x90\x80\x80"), "\"\\ud800\\udc00\"");
  // Long runs go through the 8-byte path; escapes at every offset.
  for (std::size_t pos = 0; pos < 20; ++pos) {
    std::string s(20, 'x');
    s[pos] = '"';
    std::string want = "\"" + std::string(pos, 'x') + "\\\"" + std::string(19 - pos, 'x') + "\"";
    EXPECT_EQ(dumps_str(s), want);
  }
}

// Found by fuzz_archive_one (heap-buffer-overflow under ASan): text that is
// not UTF-8 (an entry's typetag or orgid, unchecked) with a lone 4-byte lead
// wrote 12 bytes for one input byte, past the room reserved per byte. A
// truncated sequence is now one U+FFFD; stray continuation bytes are dropped.
// The size function may then over-estimate (it sizes a 4-byte lead as a
// pair), never under-estimate; for valid UTF-8 it stays exact.
std::string dumps_invalid(std::string_view s) {
  std::string out;
  append_python_json_string(s, out);
  EXPECT_GE(python_json_string_size(s), out.size()) << out;
  return out;
}

TEST(PythonJsonString, TruncatedSequencesStayWithinTheirRoom) {
  EXPECT_EQ(dumps_invalid("\xF0"), "\"\\ufffd\"");
  EXPECT_EQ(dumps_invalid("\xFF" "a"), "\"\\ufffda\"");
  EXPECT_EQ(dumps_invalid("\xF0\x9F" "a"), "\"\\ufffda\"");
  EXPECT_EQ(dumps_invalid("\xE4\xB8"), "\"\\ufffd\"");
  EXPECT_EQ(dumps_invalid("\xC3"), "\"\\ufffd\"");
  EXPECT_EQ(dumps_invalid("\x80x"), "\"x\"");
  // Short strings (one raw room) and long ones (chunked rooms), all lone leads.
  for (std::size_t n : {1u, 7u, 8u, 100u, 4096u, 10000u}) {
    SCOPED_TRACE(n);
    std::string want = "\"";
    for (std::size_t i = 0; i < n; ++i) want += "\\ufffd";
    want += "\"";
    EXPECT_EQ(dumps_invalid(std::string(n, '\xFF')), want);
  }
}

TEST(PythonJson, DumpsValues) {
  Object inner;
  inner.emplace_back("z", Integer{"1"});
  inner.emplace_back("a", std::string("x"));
  Array arr;
  arr.emplace_back(nullptr);
  arr.emplace_back(true);
  arr.emplace_back(false);
  arr.emplace_back(0.5);
  arr.emplace_back(Integer{"-12345678901234567890"});
  arr.emplace_back(Array{});
  arr.emplace_back(Object{});
  Object top;
  top.emplace_back("arr", std::move(arr));
  top.emplace_back("obj", std::move(inner));
  top.emplace_back("\xC3\xA9", std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(
      python_json(Value(std::move(top))),
      R"({"arr": [null, true, false, 0.5, -12345678901234567890, [], {}], "obj": {"z": 1, "a": "x"}, )"
      R"("\u00e9": NaN})");
  EXPECT_EQ(python_json(Value(1e16)), "1e+16");
  EXPECT_EQ(python_json(Value(std::string("a"))), "\"a\"");
}

TEST(PythonStrip, StripsPythonWhitespace) {
  const char* spaces[] = {
      "\t",           "\n",           "\v",           "\f",           "\r",
      "\x1c",         "\x1d",         "\x1e",         "\x1f",         " ",
      "\xC2\x85",     "\xC2\xA0",     "\xE1\x9A\x80", "\xE2\x80\x80", "\xE2\x80\x81",
      "\xE2\x80\x82", "\xE2\x80\x83", "\xE2\x80\x84", "\xE2\x80\x85", "\xE2\x80\x86",
      "\xE2\x80\x87", "\xE2\x80\x88", "\xE2\x80\x89", "\xE2\x80\x8A", "\xE2\x80\xA8",
      "\xE2\x80\xA9", "\xE2\x80\xAF", "\xE2\x81\x9F", "\xE3\x80\x80"};
  for (const char* sp : spaces) {
    const std::string s = std::string(sp) + sp + "a" + sp + "b" + sp + sp;
    EXPECT_EQ(python_strip(s), std::string("a") + sp + "b") << s;
    EXPECT_EQ(python_strip(std::string(sp) + sp), "");
  }
  // Not whitespace to Python: ZERO WIDTH SPACE, BOM, MONGOLIAN VOWEL SEPARATOR, NUL.
  for (const char* not_space : {"\xE2\x80\x8B", "\xEF\xBB\xBF", "\xE1\xA0\x8E"}) {
    const std::string s = std::string(not_space) + "a" + not_space;
    EXPECT_EQ(python_strip(s), s);
  }
  EXPECT_EQ(python_strip(std::string("\0a\0", 3)), std::string("\0a\0", 3));
  EXPECT_EQ(python_strip("\xE2\x80\x8B"), "\xE2\x80\x8B");
  EXPECT_EQ(python_strip("x\xC3\xA9"), "x\xC3\xA9");
  EXPECT_EQ(python_strip("\xF0\x9F\x98\x80 "), "\xF0\x9F\x98\x80");
  EXPECT_EQ(python_strip(""), "");
}

TEST(Utf8, StrictValidation) {
  for (std::string ok :
       {"", "ascii only, long enough for the fast path", "\xC2\x80", "\xDF\xBF", "\xE0\xA0\x80",
        "\xED\x9F\xBF", "\xEE\x80\x80", "\xEF\xBF\xBF", "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF",
        "0123456789abcdef\xC3\xA9"
        "0123456789abcdef"})
    EXPECT_TRUE(is_valid_utf8(ok)) << ok;
  for (std::string bad :
       {"\x80", "\xBF", "\xC0\x80", "\xC1\xBF", "\xE0\x9F\xBF", "\xED\xA0\x80", "\xED\xBF\xBF",
        "\xF0\x8F\xBF\xBF", "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xFF", "\xC3", "\xE4\xB8",
        "\xF0\x9F\x98", "\xC3\x28",
        "0123456789abcdef\xFE"
        "0123456789abcdef",
        "0123456789abcdef0123456789\xC3"})
    EXPECT_FALSE(is_valid_utf8(bad)) << bad;
}

}  // namespace
}  // namespace cybexp
