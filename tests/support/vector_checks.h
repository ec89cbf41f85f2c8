// The interoperability vectors through the real binary, whatever the stores:
// submit every vector with `submit --encrypted`, then check `entries --json`
// and `export` against what upstream decided for each. Used by the SQLite
// end-to-end test and the PostgreSQL cluster test alike.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cybexp/json_value.h"
#include "support/json_lines.h"
#include "support/process.h"
#include "support/vectors.h"

namespace cybexp::testing {

// Runs cybexp-archive (with whatever -c the caller needs) to its end.
using BinaryRunner = std::function<RunResult(std::vector<std::string>)>;

// What `run --once` says after archiving all the vectors.
inline constexpr const char* kVectorsSummary =
    "processed 25, skipped 9 (bad_data 6, error 2, typetag_not_supported 1), new documents 25, "
    "duplicates 0; ";

// Submits every vector (its blob written to dir/blob); returns id -> name.
inline std::map<std::string, std::string> submit_vectors(const BinaryRunner& run,
                                                         const std::filesystem::path& dir,
                                                         const std::vector<Vector>& vectors) {
  std::map<std::string, std::string> id_to_name;
  for (const auto& v : vectors) {
    write_file(dir / "blob", std::string(v.blob.begin(), v.blob.end()));
    auto r = run({"submit", "--encrypted", "--typetag", v.typetag, "--orgid", v.orgid, "--timezone",
                  v.timezone, "--name", v.name, "blob"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_FALSE(r.out.empty());
    if (!r.out.empty()) id_to_name[r.out.substr(0, r.out.size() - 1)] = v.name;
  }
  return id_to_name;
}

// One `entries --json` line against the vector; returns the _hash archived
// for it ("" when upstream skips it).
inline std::string expect_entry_as_upstream(const Value& e, const Vector& v,
                                            const std::map<std::string, std::string>& id_to_name) {
  SCOPED_TRACE(v.name);
  EXPECT_EQ(id_to_name.at(field(e, "id")), v.name);
  EXPECT_EQ(field(e, "typetag"), v.typetag);
  EXPECT_EQ(field(e, "orgid"), v.orgid);
  EXPECT_EQ(field(e, "timezone"), v.timezone);
  EXPECT_TRUE(e.find("lease_owner")->is_null());
  const Array& refs = e.find("_ref")->as_array();
  if (v.state != "success") {
    EXPECT_EQ(field(e, "state"), v.state);
    EXPECT_TRUE(refs.empty());
    EXPECT_FALSE(field(e, "reason").empty());
    return "";
  }
  EXPECT_EQ(field(e, "state"), "processed");
  EXPECT_EQ(refs.size(), 1u);
  EXPECT_TRUE(e.find("reason")->is_null());
  if (refs.size() != 1) return "";
  EXPECT_EQ(refs[0].as_string(), v.hash);
  return v.hash;
}

// `entries --json` and `export` after the vectors were archived.
inline void expect_vectors_archived(const BinaryRunner& run, const std::vector<Vector>& vectors,
                                    const std::map<std::string, std::string>& id_to_name) {
  auto entries = run({"entries", "--json"});
  ASSERT_EQ(entries.code, 0) << entries.err;
  std::map<std::string, Value> by_name;
  for (Value& e : json_lines(entries.out)) by_name[field(e, "name")] = std::move(e);
  ASSERT_EQ(by_name.size(), vectors.size());
  std::set<std::string> expected_hashes;
  std::map<std::string, std::string> sub_type_of;
  for (const auto& v : vectors) {
    ASSERT_EQ(by_name.count(v.name), 1u) << v.name;
    std::string hash = expect_entry_as_upstream(by_name.at(v.name), v, id_to_name);
    if (hash.empty()) continue;
    expected_hashes.insert(hash);
    sub_type_of[hash] = v.sub_type;
  }
  auto exported = run({"export"});
  ASSERT_EQ(exported.code, 0) << exported.err;
  std::set<std::string> hashes;
  for (const Value& d : json_lines(exported.out)) {
    EXPECT_EQ(field(d, "itype"), "raw");
    EXPECT_TRUE(hashes.insert(field(d, "_hash")).second) << "exported twice: " << field(d, "_hash");
    EXPECT_EQ(field(d, "sub_type"), sub_type_of[field(d, "_hash")]);
  }
  EXPECT_EQ(hashes, expected_hashes);
}

}  // namespace cybexp::testing
