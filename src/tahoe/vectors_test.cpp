// The interoperability vectors (made by the upstream Python rules) and real
// Raw documents stored by upstream: our parse, canonical form, _hash and
// json.dumps output must match them byte for byte.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cybexp/canonical.h"
#include "cybexp/json_value.h"
#include "cybexp/python_json.h"
#include "cybexp/raw_document.h"
#include "support/vectors.h"
#include "util/encoding.h"

namespace cybexp {
namespace {

constexpr std::uint64_t kLimit = 64ull << 20;

using testing::load_vectors;
using testing::Vector;

// What parsemain stores as data: the parsed payload, or {"data": text}.
Value payload_data(const std::string& text) {
  JsonParseResult r = parse_python_json(text);
  if (r.status == JsonParseStatus::kOk) return std::move(r.value);
  Object o;
  o.emplace_back("data", Value(std::string(text)));
  return Value(std::move(o));
}

const Vector& find_vector(const std::vector<Vector>&, const std::string& name) {
  return testing::vector_named(name);
}

TEST(Vectors, EverySuccessVectorMatchesCanonicalAndHash) {
  const std::vector<Vector> all = load_vectors();
  ASSERT_EQ(all.size(), 34u);
  int checked = 0;
  for (const Vector& v : all) {
    if (v.state != "success") continue;
    SCOPED_TRACE(v.name);
    const Value data = payload_data(v.plaintext_text());
    const auto canon = canonical(data, kLimit);
    ASSERT_TRUE(canon.has_value()) << canon.error().message;
    EXPECT_EQ(*canon, v.canonical);
    EXPECT_EQ(canonical_size(data), v.canonical.size());
    const auto hash = raw_hash(v.sub_type, data, kLimit);
    ASSERT_TRUE(hash.has_value()) << hash.error().message;
    EXPECT_EQ(*hash, v.hash);
    ++checked;
  }
  EXPECT_EQ(checked, 25);
}

TEST(Vectors, DeepNesting40IsOverTheLimit) {
  const std::vector<Vector> all = load_vectors();
  const Vector& v = find_vector(all, "deep_nesting_40_too_large");
  JsonParseResult r = parse_python_json(v.plaintext_text());
  ASSERT_EQ(r.status, JsonParseStatus::kOk);
  const std::uint64_t size = canonical_size(r.value);
  EXPECT_GT(size, 1ull << 40);
  const auto hash = raw_hash("unr_honeypot", r.value, kLimit);
  ASSERT_FALSE(hash.has_value());
  EXPECT_EQ(hash.error().kind, ErrorKind::kLimit);
  EXPECT_EQ(hash.error().message, "canonical form would be " + std::to_string(size) +
                                      " bytes, over the 67108864-byte limit");
  EXPECT_FALSE(canonical(r.value, kLimit).has_value());
}

TEST(Vectors, LoneSurrogateIsReported) {
  const std::vector<Vector> all = load_vectors();
  const Vector& v = find_vector(all, "lone_surrogate");
  EXPECT_EQ(parse_python_json(v.plaintext_text()).status, JsonParseStatus::kLoneSurrogate);
}

TEST(Vectors, InvalidUtf8IsCaught) {
  const std::vector<Vector> all = load_vectors();
  EXPECT_FALSE(is_valid_utf8(find_vector(all, "invalid_utf8").plaintext_text()));
  for (const Vector& v : all)
    if (v.state == "success") {
      EXPECT_TRUE(is_valid_utf8(v.plaintext_text())) << v.name;
    }
}

TEST(Vectors, BigPayloadDumpsAsPythonDoes) {
  const std::vector<Vector> all = load_vectors();
  const Vector& v = find_vector(all, "big_1mib");
  JsonParseResult r = parse_python_json(v.plaintext_text());
  ASSERT_EQ(r.status, JsonParseStatus::kOk);
  // The payload was written by json.dumps, so dumps(loads(x)) == x.
  EXPECT_EQ(python_json(r.value), v.plaintext_text());
}

TEST(CowrieRaw, UpstreamDocumentsRoundTripAndHash) {
  const std::vector<std::string> lines = testing::data_lines("cowrie_raw.txt");
  ASSERT_EQ(lines.size(), 16u);
  for (const std::string& line : lines) {
    JsonParseResult doc = parse_python_json(line);
    ASSERT_EQ(doc.status, JsonParseStatus::kOk) << doc.detail;
    // Upstream wrote each line with json.dumps.
    EXPECT_EQ(python_json(doc.value), line);

    const Value* data = doc.value.find("data");
    ASSERT_NE(data, nullptr);
    const std::string data_json = python_json(*data);
    const std::string head = "{\"itype\": \"raw\", \"data\": ";
    ASSERT_EQ(line.compare(0, head.size(), head), 0);
    EXPECT_EQ(line.substr(head.size(), data_json.size()), data_json);

    JsonParseResult again = parse_python_json(data_json);
    ASSERT_EQ(again.status, JsonParseStatus::kOk);
    const auto hash = raw_hash("unr_honeypot", again.value, kLimit);
    ASSERT_TRUE(hash.has_value());
    EXPECT_EQ(*hash, doc.value.find("_hash")->as_string());

    RawDocument raw{*hash, "unr_honeypot", doc.value.find("orgid")->as_string(),
                    doc.value.find("timezone")->as_string(), data_json};
    const std::string written = raw_document_json(raw);
    const std::size_t hash_end = line.find(*hash) + hash->size() + 1;  // past the closing quote
    EXPECT_EQ(written, line.substr(0, hash_end) + "}");
  }
}

}  // namespace
}  // namespace cybexp
