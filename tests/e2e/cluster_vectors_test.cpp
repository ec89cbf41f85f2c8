// The interoperability vectors through PostgreSQL: the same states, _refs,
// _hashes, sub types and counts as tests/e2e/vectors_e2e_test.cpp gets
// through SQLite, with cache and archive in one PostgreSQL database (one
// transaction per commit), in two PostgreSQL databases, and with the cache on
// PostgreSQL and the archive in SQLite.
#include "cluster_support.h"
#include "support/vector_checks.h"

namespace cybexp::cluster {
namespace {

void archive_vectors(const std::string& cache_url, const std::string& archive_url) {
  WorkDir dir(cache_url, archive_url, 300);
  auto vectors = testing::load_vectors();
  ASSERT_EQ(vectors.size(), 34u);
  testing::BinaryRunner run_in_dir = [&](std::vector<std::string> args) { return dir.run(args); };
  auto id_to_name = testing::submit_vectors(run_in_dir, dir.path(), vectors);
  ASSERT_EQ(id_to_name.size(), vectors.size());
  auto run = dir.run({"run", "--once", "--workers", "2"});
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_TRUE(run.out.starts_with(testing::kVectorsSummary)) << run.out;
  testing::expect_vectors_archived(run_in_dir, vectors, id_to_name);

  auto status = dir.run({"status", "--json"});
  ASSERT_EQ(status.code, 0) << status.err;
  EXPECT_TRUE(status.out.starts_with(
      "{\"pending\": 0, \"processed\": 25, \"skipped\": {\"bad_data\": 6, \"error\": 2, "
      "\"typetag_not_supported\": 1}, \"documents\": 25, "))
      << status.out;
  EXPECT_TRUE(status.out.ends_with("\"in_flight\": [], \"daemons\": []}\n")) << status.out;

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
