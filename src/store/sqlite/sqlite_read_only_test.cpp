// Read-only opening (OpenMode::kReadOnly, for status, entries, export,
// inspect, subtypes list and check): nothing is created, neither a file nor a
// directory; a missing, empty or foreign file is an error that says so; an
// existing store reads as usual and refuses every write.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "store/sqlite/sqlite_test_util.h"

namespace cybexp::sqlite::testing {
namespace {

using ::testing::HasSubstr;

TEST(SqliteReadOnly, MissingFileOrDirectoryIsAnErrorAndNothingIsCreated) {
  TempDir dir;
  const std::string nested = dir.file("no/such/dir/cache.db");
  auto r = open_sqlite_cache(nested, OpenMode::kReadOnly);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kIo);
  EXPECT_THAT(r.error().message, HasSubstr("sqlite " + nested + ": No such file or directory"));
  EXPECT_THAT(r.error().message, HasSubstr("never create a store"));
  EXPECT_FALSE(std::filesystem::exists(dir.file("no")));

  const std::string flat = dir.file("cache.db");
  auto combined = open_sqlite_combined(flat, OpenMode::kReadOnly);
  ASSERT_FALSE(combined.has_value());
  EXPECT_FALSE(std::filesystem::exists(flat));
  EXPECT_FALSE(open_sqlite_archive(dir.file("archive.db"), OpenMode::kReadOnly).has_value());
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(SqliteReadOnly, EmptyFileIsReportedNotRecreated) {
  TempDir dir;
  const std::string path = dir.file("archive.db");
  std::ofstream(path).close();
  auto r = open_sqlite_archive(path, OpenMode::kReadOnly);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kDatabase);
  EXPECT_THAT(r.error().message, HasSubstr("the file is empty (0 bytes)"));
  EXPECT_EQ(std::filesystem::file_size(path), 0u);
}

TEST(SqliteReadOnly, FileWithoutOurSchemaIsRefused) {
  TempDir dir;
  const std::string path = dir.file("other.db");
  raw_sql(path, "CREATE TABLE t(x)");
  auto r = open_sqlite_archive(path, OpenMode::kReadOnly);
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().message, HasSubstr("not a cybexp store"));
}

TEST(SqliteReadOnly, ReadsAnExistingStoreAndRefusesWrites) {
  TempDir dir;
  const std::string path = dir.file("store.db");
  std::string id;
  {
    auto rw = ok(open_sqlite_combined(path));
    id = ok(rw.cache->add_entry(new_entry("a"), bytes("payload")));
  }
  auto ro = ok(open_sqlite_combined(path, OpenMode::kReadOnly));
  EXPECT_EQ(ok(ro.cache->entry_counts()).pending, 1u);
  EXPECT_EQ(ok(ro.archive->subtypes()), default_subtypes());
  CacheEntry e;
  e.id = id;
  EXPECT_EQ(ok(ro.cache->fetch_blob(e, 1 << 20)), bytes("payload"));
  auto write = ro.cache->add_entry(new_entry("b"), bytes("x"));
  ASSERT_FALSE(write.has_value());
  EXPECT_THAT(write.error().message, HasSubstr("readonly"));
  EXPECT_FALSE(ro.archive->add_subtype("t", "t").has_value());
}

// A store on a directory this user may only read (or a read-only mount):
// read commands still work. Root ignores permissions, so the test is only
// meaningful (and only runs) for other users.
TEST(SqliteReadOnly, WorksInADirectoryThatCannotBeWritten) {
  if (geteuid() == 0) GTEST_SKIP() << "root may write anywhere";
  TempDir dir;
  const std::string path = dir.file("store.db");
  { ok(open_sqlite_combined(path)); }
  ASSERT_EQ(::chmod(dir.path().c_str(), 0500), 0);
  auto ro = open_sqlite_combined(path, OpenMode::kReadOnly);
  ::chmod(dir.path().c_str(), 0700);
  ASSERT_TRUE(ro.has_value()) << ro.error().message;
}

}  // namespace
}  // namespace cybexp::sqlite::testing
