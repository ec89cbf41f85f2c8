// The interoperability vectors through PostgreSQL: the same states, _refs,
// _hashes, sub types and counts as tests/e2e/vectors_e2e_test.cpp gets
// through SQLite, with cache and archive in one PostgreSQL database (one
// transaction per commit), in two PostgreSQL databases, and with the cache on
// PostgreSQL and the archive in SQLite.
#include <map>
#include <set>
#include <sstream>

#include "cluster_support.h"
#include "cybexp/json_value.h"
#include "cybexp/python_json.h"
#include "support/json_lines.h"
#include "support/vectors.h"

namespace cybexp::cluster {
namespace {

using testing::field;
using testing::json_lines;

void archive_vectors(const std::string& cache_url, const std::string& archive_url) {
  WorkDir dir(cache_url, archive_url, 300);
  auto vectors = testing::load_vectors();
  ASSERT_EQ(vectors.size(), 34u);
  std::map<std::string, std::string> id_to_name;
  for (const auto& v : vectors) {
    testing::write_file(dir / "blob", std::string(v.blob.begin(), v.blob.end()));
    auto r = dir.run({"submit", "--encrypted", "--typetag", v.typetag, "--orgid", v.orgid,
                      "--timezone", v.timezone, "--name", v.name, "blob"});
    ASSERT_EQ(r.code, 0) << r.err;
    ASSERT_FALSE(r.out.empty());
    id_to_name[r.out.substr(0, r.out.size() - 1)] = v.name;
  }
  auto run = dir.run({"run", "--once", "--workers", "2"});
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_TRUE(run.out.starts_with(
      "processed 25, skipped 9 (bad_data 6, error 2, typetag_not_supported 1), new documents 25, "
      "duplicates 0; "))
      << run.out;

  auto entries = dir.run({"entries", "--json"});
  ASSERT_EQ(entries.code, 0) << entries.err;
  std::map<std::string, Value> by_name;
  for (Value& e : json_lines(entries.out)) by_name[field(e, "name")] = std::move(e);
  ASSERT_EQ(by_name.size(), vectors.size());
  std::set<std::string> expected_hashes;
  std::map<std::string, std::string> sub_type_of;
  for (const auto& v : vectors) {
    SCOPED_TRACE(v.name);
    const Value& e = by_name.at(v.name);
    EXPECT_EQ(id_to_name.at(field(e, "id")), v.name);
    EXPECT_EQ(field(e, "typetag"), v.typetag);
    EXPECT_EQ(field(e, "orgid"), v.orgid);
    EXPECT_EQ(field(e, "timezone"), v.timezone);
    EXPECT_TRUE(e.find("lease_owner")->is_null());
    const Array& refs = e.find("_ref")->as_array();
    if (v.state == "success") {
      EXPECT_EQ(field(e, "state"), "processed");
      ASSERT_EQ(refs.size(), 1u);
      EXPECT_EQ(refs[0].as_string(), v.hash);
      EXPECT_TRUE(e.find("reason")->is_null());
      expected_hashes.insert(v.hash);
      sub_type_of[v.hash] = v.sub_type;
    } else {
      EXPECT_EQ(field(e, "state"), v.state);
      EXPECT_TRUE(refs.empty());
      EXPECT_FALSE(field(e, "reason").empty());
    }
  }

  auto exported = dir.run({"export"});
  ASSERT_EQ(exported.code, 0) << exported.err;
  std::set<std::string> hashes;
  for (const Value& d : json_lines(exported.out)) {
    EXPECT_EQ(field(d, "itype"), "raw");
    EXPECT_TRUE(hashes.insert(field(d, "_hash")).second) << "exported twice: " << field(d, "_hash");
    EXPECT_EQ(field(d, "sub_type"), sub_type_of.at(field(d, "_hash")));
  }
  EXPECT_EQ(hashes, expected_hashes);

  auto status = dir.run({"status", "--json"});
  ASSERT_EQ(status.code, 0) << status.err;
  EXPECT_TRUE(status.out.starts_with(
      "{\"pending\": 0, \"processed\": 25, \"skipped\": {\"bad_data\": 6, \"error\": 2, "
      "\"typetag_not_supported\": 1}, \"documents\": 25, "))
      << status.out;
  EXPECT_TRUE(status.out.ends_with("\"in_flight\": []}\n")) << status.out;

  // Running again finds nothing to do: everything ended for good.
  auto again = dir.run({"run", "--once"});
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_TRUE(again.out.starts_with("processed 0, skipped 0, new documents 0, duplicates 0; "))
      << again.out;
}

TEST(ClusterVectors, OnePostgresDatabaseForBoth) {
  const std::string url = fresh_database("vectors_one");
  archive_vectors(url, url);
}

TEST(ClusterVectors, CacheAndArchiveInTwoPostgresDatabases) {
  archive_vectors(fresh_database("vectors_cache"), fresh_database("vectors_archive"));
  // The archive database got no entries, the cache database no documents.
  Db cache(server().url_for("vectors_cache")), archive(server().url_for("vectors_archive"));
  EXPECT_EQ(cache.scalar("SELECT count(*) FROM cybexp_documents"), 0);
  EXPECT_EQ(archive.scalar("SELECT count(*) FROM cybexp_entries"), 0);
}

TEST(ClusterVectors, CacheOnPostgresArchiveOnSqlite) {
  const std::string url = fresh_database("vectors_mixed");
  archive_vectors(url, "sqlite:archive.db");
  Db cache(url);
  EXPECT_EQ(cache.scalar("SELECT count(*) FROM cybexp_documents"), 0);
  EXPECT_EQ(cache.scalar("SELECT count(*) FROM cybexp_entries WHERE processed"), 25);
}

}  // namespace
}  // namespace cybexp::cluster
