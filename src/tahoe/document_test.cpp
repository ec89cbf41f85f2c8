// The compact document model (document.h) against the Value model it
// replaces in parsemain: the same status, json.dumps text, canonical form
// and _hash for every interoperability vector, every upstream document, the
// fuzz regression inputs, hand-picked edge cases and many generated
// documents (duplicate keys, escapes, non-ASCII, big numbers, NaN, deep and
// empty containers).
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cybexp/canonical.h"
#include "cybexp/document.h"
#include "cybexp/json_value.h"
#include "cybexp/python_json.h"
#include "util/encoding.h"

namespace cybexp {
namespace {

constexpr std::uint64_t kLimit = 64ull << 20;

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int status_code(JsonParseStatus s) {
  switch (s) {
    case JsonParseStatus::kOk:
      return DocumentParseResult::kOk;
    case JsonParseStatus::kNotJson:
      return DocumentParseResult::kNotJson;
    case JsonParseStatus::kLoneSurrogate:
      return DocumentParseResult::kLoneSurrogate;
    case JsonParseStatus::kTooDeep:
      return DocumentParseResult::kTooDeep;
  }
  return -1;
}

// Both models on one text, with the given canonical limit.
void expect_same(std::string_view text, std::uint64_t limit = kLimit) {
  SCOPED_TRACE(std::string(text.substr(0, 200)));
  const JsonParseResult v = parse_python_json(text);
  const DocumentParseResult d = parse_document(text);
  ASSERT_EQ(static_cast<int>(d.status), status_code(v.status)) << d.detail << " / " << v.detail;
  EXPECT_EQ(d.detail, v.detail);
  // The same text parsed where it is (not in situ: views into it, escaped
  // strings decoded aside), as archive_one does for large payloads.
  std::string padded(text);
  padded.append(kDocumentTextPadding, '\0');
  const DocumentParseResult p =
      parse_document_padded(std::string_view(padded.data(), text.size()));
  ASSERT_EQ(p.status, d.status) << p.detail;
  EXPECT_EQ(p.detail, d.detail);
  if (v.status != JsonParseStatus::kOk) return;
  std::string dumped;
  append_python_json(d.document, dumped);
  EXPECT_EQ(dumped, python_json(v.value));
  std::string dumped_in_place;
  append_python_json(p.document, dumped_in_place);
  EXPECT_EQ(dumped_in_place, dumped);
  const auto hp = raw_hash("unr_honeypot", p.document, limit);
  const auto hd0 = raw_hash("unr_honeypot", d.document, limit);
  ASSERT_EQ(hp.has_value(), hd0.has_value());
  if (hp) {
    EXPECT_EQ(*hp, *hd0);
  }
  EXPECT_EQ(python_json_size(d.document), dumped.size());
  EXPECT_EQ(python_json(d.document.to_value()), python_json(v.value));
  const auto hv = raw_hash("unr_honeypot", v.value, limit);
  const auto hd = raw_hash("unr_honeypot", d.document, limit);
  ASSERT_EQ(hd.has_value(), hv.has_value());
  if (hv) {
    EXPECT_EQ(*hd, *hv);
    const auto cv = canonical(v.value, limit);
    const auto cd = canonical(d.document, limit);
    ASSERT_TRUE(cv.has_value() && cd.has_value());
    EXPECT_EQ(*cd, *cv);
  } else if (hd.error().message != hv.error().message) {
    // Refused on a lower bound, without the exact count: the same limit.
    EXPECT_TRUE(hd.error().message.starts_with("canonical form would be at least "))
        << hd.error().message;
    const std::string& m = hv.error().message;
    EXPECT_TRUE(hd.error().message.ends_with(m.substr(m.find(" bytes, over the "))))
        << hd.error().message << " / " << m;
  }
}

TEST(Document, EdgeCases) {
  for (const char* t : {
           "0", "-0", "[-0, -0.0, 0.0]", "1e400", "[1e400, -1e999, 99, 1E+400, 5e-400]",
           "123456789012345678901234567890", "NaN", "[NaN, Infinity, -Infinity]", "\"\"",
           "\" \\t padded \\u3000 \"", "[]", "{}", "[[]]", "[{}, {}, []]", "{\"a\": {}}",
           "null", "true", "false", "[true, false, null, true]",
           R"({"a": 1, "b": 2, "a": 3})",
           R"({"a": [1, 2], "b": {"x": 1}, "a": {"y": [3, 3]}, "c": 0, "b": null})",
           R"({"k": {"d": 1, "d": [1, {"e": 2, "e": 3}]}, "k": {"d": 2, "d": {"f": 1, "f": 2}}})",
           R"([{"a": 1, "a": 1}, {"a": 1}])",
           R"({"q\"uote": "back\\slash", "nl\n": "\u00e9\ud83d\ude00", "\u0000": "\u001f"})",
           "[\"\xc3\xa9\", \"\xf0\x9f\x98\x80\", \"\xe2\x80\xa8x\xe2\x80\xa8\"]",
           "[1, 1, 1, \"1\", 1.0, [1], [1], {\"1\": 1}]",
           "  [1]  ", "[1,]", "[01]", "{\"a\" 1}", "[\"\\ud800\"]", "[\"\\udc00x\"]",
           "[1e400, \"\\ud800\"]", "[Inf]", "[-NaN]", "tru", "[1] [2]", "",
           "{\"a\": 1e400, \"a\": 2}", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
       })
    expect_same(t);
}

TEST(Document, SizeLimitsMatchTheValueModel) {
  // Over the limit with no duplicates, and under it only because of them.
  std::string nested = "1";
  for (int i = 0; i < 30; ++i) nested = "[" + nested + "]";
  expect_same(nested, 1 << 20);
  std::string dups = "[";
  for (int i = 0; i < 200; ++i) dups += std::string(i ? ", " : "") + "[[[[[[\"\\\"x\\\"\"]]]]]]";
  dups += "]";
  expect_same(dups, 4096);
  expect_same(dups, 1 << 20);
  expect_same("[1, 2, 3]", 5);
  // Over the limit even counting each array's largest item only (42
  // levels: len' = len + quotes + 4, quotes' = 2 quotes + 2, from "1").
  std::string chains = "[";
  for (int i = 0; i < 50; ++i) chains += std::string(i ? ", " : "") + "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]";
  chains += "]";
  expect_same(chains, 1 << 20);
  const DocumentParseResult d = parse_document(chains);
  const auto refused = raw_hash("x", d.document, 1 << 20);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().message,
            "canonical form would be at least 8796093022291 bytes, over the 1048576-byte limit");
}

TEST(Document, ObjectsWithManyKeysAndDuplicates) {
  std::string wide = "{";
  for (int i = 0; i < 5000; ++i) wide += (i ? ", \"k" : "\"k") + std::to_string(i % 3000) + "\": " + std::to_string(i);
  wide += "}";
  expect_same(wide);
  const DocumentParseResult d = parse_document(wide);
  ASSERT_EQ(d.status, DocumentParseResult::kOk);
  EXPECT_EQ(d.document.nodes()[0].count(), 3000u);
}

TEST(Document, VectorsAndUpstreamDocuments) {
  std::ifstream in(std::string(CYBEXP_TEST_DATA_DIR) + "/vectors.jsonl", std::ios::binary);
  ASSERT_TRUE(in.good());
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    rapidjson::Document d;
    d.Parse(line.c_str(), line.size());
    ASSERT_FALSE(d.HasParseError());
    const auto plain = base64_decode(d["plaintext_b64"].GetString());
    ASSERT_TRUE(plain.has_value());
    const std::string text(plain->begin(), plain->end());
    if (is_valid_utf8(text)) expect_same(text);
    ++n;
  }
  EXPECT_GT(n, 10);
  std::ifstream cowrie(std::string(CYBEXP_TEST_DATA_DIR) + "/cowrie_raw.txt", std::ios::binary);
  ASSERT_TRUE(cowrie.good());
  for (std::string line; std::getline(cowrie, line);)
    if (!line.empty()) expect_same(line);
}

TEST(Document, FuzzRegressionInputs) {
  const std::filesystem::path root = std::filesystem::path(CYBEXP_SOURCE_DIR) / "fuzz" / "regressions";
  int n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (!e.is_regular_file() || e.path().filename() == "README") continue;
    const std::string text = read_all(e.path());
    if (is_valid_utf8(text)) expect_same(text);
    ++n;
  }
  EXPECT_GT(n, 0);
}

// Random documents from a small grammar that favours the hard parts.
class Gen {
 public:
  explicit Gen(std::uint32_t seed) : rng_(seed) {}
  std::string value(int depth) {
    const int pick = static_cast<int>(rng_() % (depth > 4 ? 6 : 9));
    switch (pick) {
      case 0:
        return number();
      case 1:
        return string();
      case 2: {
        static const char* const lits[] = {"null", "true", "false", "NaN", "Infinity", "-Infinity"};
        return lits[rng_() % 6];
      }
      case 3:
      case 4:
        return number();
      case 5:
        return string();
      case 6:
      case 7: {
        std::string s = "[";
        const int n = static_cast<int>(rng_() % 6);
        for (int i = 0; i < n; ++i) s += (i ? ", " : "") + value(depth + 1);
        return s + "]";
      }
      default: {
        std::string s = "{";
        const int n = static_cast<int>(rng_() % 6);
        for (int i = 0; i < n; ++i) s += (i ? ", " : "") + key() + ": " + value(depth + 1);
        return s + "}";
      }
    }
  }

 private:
  std::string number() {
    static const char* const nums[] = {"0",     "-0",    "1",      "-17",   "3.5",    "-0.0",
                                       "1e5",   "1E-7",  "2.5e+3", "1e400", "-1e999", "0.1",
                                       "12345678901234567890123", "1e16", "123456789.125"};
    return nums[rng_() % 15];
  }
  std::string key() {
    static const char* const keys[] = {"\"a\"", "\"b\"", "\"a\"", "\"\"", "\"\\u00e9\"", "\"k\\\"q\"",
                                       "\"z\"", "\"A\"", "\"\xc3\xa9\"", "\"b\""};
    return keys[rng_() % 10];
  }
  std::string string() {
    static const char* const parts[] = {"x", " ", "\\\"", "\\\\", "\\n", "\\t", "\\u0001", "\xc3\xa9",
                                        "\xe2\x80\x83", "\xf0\x9f\x98\x80", "\\ud83d\\ude00", "/",
                                        "abcdefghij", "\\u3000", "\x7f"};
    std::string s = "\"";
    const int n = static_cast<int>(rng_() % 8);
    for (int i = 0; i < n; ++i) s += parts[rng_() % 15];
    return s + "\"";
  }
  std::mt19937 rng_;
};

TEST(Document, GeneratedDocumentsMatchTheValueModel) {
  for (std::uint32_t seed = 1; seed <= 3000; ++seed) {
    Gen g(seed);
    expect_same(g.value(0));
  }
}

// Runs (document.h): kRunFrom or more integers, true, false and null in a
// row in one array are one node, read back from the text.
std::string scalar_items(std::mt19937& rng, int n) {
  static const char* const items[] = {"0", "-0", "7", "-12", "null", "true", "false",
                                      "98765432109876543210", "1e400", "2.5", "\"s\"", "[]",
                                      "[1, 2]", "{}", "-0.0"};
  static const char* const gaps[] = {", ", ",", " ,\n\t", "\r\n, ", " , "};
  std::string s = "[";
  for (int i = 0; i < n; ++i) {
    if (i > 0) s += gaps[rng() % 5];
    // Mostly the scalars a run holds, now and then one that ends it.
    s += items[rng() % 10 < 8 ? rng() % 8 : rng() % 15];
  }
  return s + "]";
}

TEST(Document, RunsOfScalarsMatchTheValueModel) {
  for (int n : {15, 16, 17, 31, 32, 33, 100}) {
    std::string zeros = "[";
    for (int i = 0; i < n; ++i) zeros += i ? ", 0" : "0";
    expect_same(zeros + "]");
    expect_same("{\"a\": " + zeros + "], \"b\": [" + zeros + "], 1.5, " + zeros + "]]}");
  }
  std::mt19937 rng(7);
  for (int k = 0; k < 2000; ++k) {
    const std::string a = scalar_items(rng, static_cast<int>(rng() % 60));
    expect_same(a);
    expect_same("[" + a + ", " + a + ", " + a + "]");
    expect_same("{\"k\": " + a + ", \"j\": 1, \"k\": [" + a + ", " + a + "]}");
  }
}

TEST(Document, ARunIsOneNode) {
  std::string text = "[\"x\", [";
  for (int i = 0; i < 1000; ++i) text += i % 3 ? "-0, " : "true, 123, null,\n";
  text += "5], 2.5]";
  const DocumentParseResult d = parse_document(text);
  ASSERT_EQ(d.status, DocumentParseResult::kOk) << d.detail;
  const auto& nodes = d.document.nodes();
  ASSERT_EQ(nodes.size(), 5u);  // the outer array, "x", the inner array, its run, 2.5
  EXPECT_EQ(nodes[2].count(), 1669u);
  EXPECT_TRUE(nodes[3].is_run());
  EXPECT_EQ(nodes[3].count(), 1669u);
  // Fifteen stay nodes of their own; the sixteenth makes them a run.
  EXPECT_EQ(parse_document("[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]").document.nodes().size(), 16u);
  EXPECT_EQ(parse_document("[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]").document.nodes().size(), 2u);
}

std::string chain(std::size_t depth, std::string_view inner = "") {
  return std::string(depth, '[') + std::string(inner) + std::string(depth, ']');
}

TEST(Document, TheNestingBoundIsTheSmallestCanonicalFormAtThatDepth) {
  EXPECT_EQ(canonical_nesting_lower_bound(0), 1u);
  for (std::size_t depth = 1; depth <= 24; ++depth) {
    SCOPED_TRACE(depth);
    const auto form = canonical(parse_python_json(chain(depth)).value, UINT64_MAX);
    ASSERT_TRUE(form.has_value());
    EXPECT_EQ(canonical_nesting_lower_bound(depth), form->size());
    // An object, or anything inside, only adds to it.
    const std::string object = std::string(depth - 1, '[') + "{}" + std::string(depth - 1, ']');
    EXPECT_EQ(canonical(parse_python_json(object).value, UINT64_MAX)->size(), form->size());
    EXPECT_GT(canonical(parse_python_json(chain(depth, "0")).value, UINT64_MAX)->size(), form->size());
  }
  EXPECT_EQ(canonical_nesting_lower_bound(200), UINT64_MAX);
}

TEST(Document, ANestingWhoseCanonicalFormCannotFitIsRefusedWithoutItsTape) {
  // 26 levels: at least 67,108,862 bytes; 25 fit in 64 MiB.
  const JsonLimits limits{256, 64u << 20};
  ASSERT_LE(canonical_nesting_lower_bound(25), 64u << 20);
  ASSERT_GT(canonical_nesting_lower_bound(26), 64u << 20);
  EXPECT_EQ(parse_document(chain(25, "1"), limits).status, DocumentParseResult::kOk);
  std::string many = "[";
  for (int i = 0; i < 1000; ++i) many += (i ? ", " : "") + chain(200, "1");
  many += "]";
  for (const bool padded : {false, true}) {
    std::string text = many;
    text.append(kDocumentTextPadding, '\0');
    const std::string_view t(text.data(), many.size());
    const DocumentParseResult d = padded ? parse_document_padded(t, limits) : parse_document(t, limits);
    ASSERT_EQ(d.status, DocumentParseResult::kCanonicalTooLarge) << d.detail;
    EXPECT_EQ(d.detail,
              "canonical form would be at least " + std::to_string(canonical_nesting_lower_bound(26)) +
                  " bytes, over the 67108864-byte limit (it nests 26 levels deep)");
    EXPECT_TRUE(d.document.nodes().empty());
    // The rest is still checked: what is not JSON, too deep or holds a
    // lone surrogate is refused for that, as without the limit.
    const auto status_of = [&](const std::string& s) {
      std::string p = s;
      p.append(kDocumentTextPadding, '\0');
      const std::string_view v(p.data(), s.size());
      return (padded ? parse_document_padded(v, limits) : parse_document(v, limits)).status;
    };
    EXPECT_EQ(status_of(many + " x"), DocumentParseResult::kNotJson);
    EXPECT_EQ(status_of("[" + many + ", [1, tru]]"), DocumentParseResult::kNotJson);
    EXPECT_EQ(status_of("[" + many + ", " + chain(300) + "]"), DocumentParseResult::kTooDeep);
    EXPECT_EQ(status_of("[" + many + ", \"\\udc00\"]"), DocumentParseResult::kLoneSurrogate);
    EXPECT_EQ(status_of("[" + many + ", 1e400, NaN]"), DocumentParseResult::kCanonicalTooLarge);
  }
  // Without the limit the tape is built and the form refused when hashed.
  EXPECT_EQ(parse_document(many).status, DocumentParseResult::kOk);
}

TEST(Document, WorkingMemoryBound) {
  EXPECT_EQ(working_memory_bound(0), 32u << 20);
  EXPECT_EQ(working_memory_bound(1 << 20), (20u << 20) + (32u << 20));
  EXPECT_EQ(working_memory_bound(UINT64_MAX), UINT64_MAX);
}

}  // namespace
}  // namespace cybexp
