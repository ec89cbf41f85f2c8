// The interoperability vectors made with the upstream Python stack
// (tests/data/vectors.jsonl, see tests/data/README.md), read once, and the
// lines of the other files in tests/data. Needs only
// cybexp_util (base64) and RapidJSON's headers, so any test can use it.
#pragma once

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "util/encoding.h"

namespace cybexp::testing {

struct Vector {
  std::string name, typetag, orgid, timezone;
  std::vector<std::uint8_t> blob, plaintext;
  std::string state, sub_type, hash, canonical;  // what upstream decided

  std::string plaintext_text() const { return std::string(plaintext.begin(), plaintext.end()); }
};

inline std::string json_string(const rapidjson::Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

inline Vector parse_vector(const std::string& line) {
  rapidjson::Document d;
  d.Parse(line.c_str(), line.size());
  EXPECT_FALSE(d.HasParseError()) << line.substr(0, 80);
  Vector v;
  if (d.HasParseError() || !d.IsObject()) return v;
  v.name = json_string(d, "name");
  v.typetag = json_string(d, "typetag");
  v.orgid = json_string(d, "orgid");
  v.timezone = json_string(d, "timezone");
  v.blob = base64_decode(json_string(d, "blob_b64")).value_or(std::vector<std::uint8_t>{});
  v.plaintext =
      base64_decode(json_string(d, "plaintext_b64")).value_or(std::vector<std::uint8_t>{});
  if (d.HasMember("expect") && d["expect"].IsObject()) {
    const rapidjson::Value& e = d["expect"];
    v.state = json_string(e, "state");
    v.sub_type = json_string(e, "sub_type");
    v.hash = json_string(e, "_hash");
    v.canonical = json_string(e, "canonical");
  }
  return v;
}

// The non-empty lines of a file in tests/data.
inline std::vector<std::string> data_lines(const std::string& name) {
  std::ifstream in(std::string(CYBEXP_TEST_DATA_DIR) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "tests/data/" << name;
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// Every vector, in file order.
inline const std::vector<Vector>& all_vectors() {
  static const std::vector<Vector> all = [] {
    std::vector<Vector> out;
    for (const std::string& line : data_lines("vectors.jsonl")) out.push_back(parse_vector(line));
    return out;
  }();
  return all;
}
inline std::vector<Vector> load_vectors() { return all_vectors(); }

inline const Vector& vector_named(std::string_view name) {
  for (const Vector& v : all_vectors()) {
    if (v.name == name) return v;
  }
  ADD_FAILURE() << "no vector " << name;
  static const Vector none;
  return none;
}

}  // namespace cybexp::testing
