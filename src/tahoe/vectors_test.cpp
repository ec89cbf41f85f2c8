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
#include "util/encoding.h"

namespace cybexp {
namespace {

constexpr std::uint64_t kLimit = 64ull << 20;

std::vector<std::string> read_lines(const std::string& name) {
  std::ifstream in(std::string(CYBEXP_TEST_DATA_DIR) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

struct Vector {
  std::string name;
  std::string plaintext;
  std::string state;
  std::string sub_type;
  std::string hash;
  std::string canonical;
};

std::vector<Vector> load_vectors() {
  std::vector<Vector> out;
  for (const std::string& line : read_lines("vectors.jsonl")) {
    rapidjson::Document d;
    d.Parse(line.c_str(), line.size());
    EXPECT_FALSE(d.HasParseError());
    Vector v;
    v.name = d["name"].GetString();
    const auto plain = base64_decode(d["plaintext_b64"].GetString());
    EXPECT_TRUE(plain.has_value()) << v.name;
    v.plaintext.assign(plain->begin(), plain->end());
    const auto& e = d["expect"];
    v.state = e["state"].GetString();
    if (v.state == "success") {
      v.sub_type = e["sub_type"].GetString();
      v.hash = e["_hash"].GetString();
      v.canonical.assign(e["canonical"].GetString(), e["canonical"].GetStringLength());
    }
    out.push_back(std::move(v));
  }
  return out;
}

// What parsemain stores as data: the parsed payload, or {"data": text}.
Value payload_data(const std::string& text) {
  JsonParseResult r = parse_python_json(text);
  if (r.status == JsonParseStatus::kOk) return std::move(r.value);
  Object o;
  o.emplace_back("data", Value(std::string(text)));
  return Value(std::move(o));
}

const Vector& find_vector(const std::vector<Vector>& all, const std::string& name) {
  for (const Vector& v : all)
    if (v.name == name) return v;
  ADD_FAILURE() << "no vector " << name;
  return all.front();
}

TEST(Vectors, EverySuccessVectorMatchesCanonicalAndHash) {
  const std::vector<Vector> all = load_vectors();
  ASSERT_EQ(all.size(), 34u);
  int checked = 0;
  for (const Vector& v : all) {
    if (v.state != "success") continue;
    SCOPED_TRACE(v.name);
    const Value data = payload_data(v.plaintext);
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
  JsonParseResult r = parse_python_json(v.plaintext);
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
  EXPECT_EQ(parse_python_json(v.plaintext).status, JsonParseStatus::kLoneSurrogate);
}

TEST(Vectors, InvalidUtf8IsCaught) {
  const std::vector<Vector> all = load_vectors();
  EXPECT_FALSE(is_valid_utf8(find_vector(all, "invalid_utf8").plaintext));
  for (const Vector& v : all)
    if (v.state == "success") {
      EXPECT_TRUE(is_valid_utf8(v.plaintext)) << v.name;
    }
}

TEST(Vectors, BigPayloadDumpsAsPythonDoes) {
  const std::vector<Vector> all = load_vectors();
  const Vector& v = find_vector(all, "big_1mib");
  JsonParseResult r = parse_python_json(v.plaintext);
  ASSERT_EQ(r.status, JsonParseStatus::kOk);
  // The payload was written by json.dumps, so dumps(loads(x)) == x.
  EXPECT_EQ(python_json(r.value), v.plaintext);
}

TEST(CowrieRaw, UpstreamDocumentsRoundTripAndHash) {
  const std::vector<std::string> lines = read_lines("cowrie_raw.txt");
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
