// The interoperability vectors made with the upstream Python stack
// (tests/data/vectors.jsonl, see /tests/data/README.md).
#pragma once

#include <fstream>
#include <string>
#include <vector>

#include "cybexp/json_value.h"
#include "util/encoding.h"

namespace cybexp::testing {

struct Vector {
  std::string name, typetag, orgid, timezone;
  std::vector<std::uint8_t> blob, plaintext;
  std::string state, sub_type, hash, canonical;
};

inline std::vector<Vector> load_vectors() {
  std::vector<Vector> out;
  std::ifstream in(std::string(CYBEXP_TEST_DATA_DIR) + "/vectors.jsonl");
  std::string line;
  auto str = [](const Value& obj, std::string_view key) {
    const Value* v = obj.find(key);
    return v && v->is_string() ? v->as_string() : std::string();
  };
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto parsed = parse_json_strict(line, "vectors.jsonl");
    if (!parsed) continue;
    const Value& v = *parsed;
    Vector t;
    t.name = str(v, "name");
    t.typetag = str(v, "typetag");
    t.orgid = str(v, "orgid");
    t.timezone = str(v, "timezone");
    t.blob = base64_decode(str(v, "blob_b64")).value_or(std::vector<std::uint8_t>{});
    t.plaintext = base64_decode(str(v, "plaintext_b64")).value_or(std::vector<std::uint8_t>{});
    const Value* e = v.find("expect");
    t.state = str(*e, "state");
    t.sub_type = str(*e, "sub_type");
    t.hash = str(*e, "_hash");
    t.canonical = str(*e, "canonical");
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace cybexp::testing
