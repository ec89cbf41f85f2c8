// The SQLite store's own tests: its file (WAL, schema, private directories,
// error messages), what it writes behind the interface, and what only it
// does. What every backend promises is in the store contract suite
// (src/store/store_contract_*_test.cpp).
#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "store/sqlite/sqlite_test_util.h"

namespace cybexp::sqlite::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("store.db");
    auto stores = ok(open_sqlite_combined(path_));
    cache_ = stores.cache;
    archive_ = stores.archive;
  }
  std::string add(const std::string& payload) {
    return ok(cache_->add_entry(new_entry("upload"), bytes(payload)));
  }

  TempDir dir_;
  std::string path_;
  std::shared_ptr<CacheStore> cache_;
  std::shared_ptr<ArchiveStore> archive_;
};

TEST_F(SqliteStoreTest, CreatesVersionedSchemaInWalMode) {
  EXPECT_EQ(ok(archive_->schema_version()), 1);
  EXPECT_EQ(raw_sql(path_, "PRAGMA user_version"), "1");
  EXPECT_EQ(raw_sql(path_, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw_sql(path_, "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master "
                           "WHERE type = 'table' ORDER BY name)"),
            "blobs,documents,entries,subtypes");
  EXPECT_EQ(raw_sql(path_, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN "
                           "('entries_claimable', 'entries_unprocessed', 'entries_leased')"),
            "3");
  // Opening again finds the schema and leaves it alone.
  auto again = ok(open_sqlite_archive(path_));
  EXPECT_EQ(ok(again->schema_version()), 1);
}

TEST(SqliteStoreOpen, NewerSchemaIsRefused) {
  TempDir dir;
  std::string path = dir.file("new.db");
  ok(open_sqlite_cache(path));
  raw_sql(path, "PRAGMA user_version = 7");
  auto r = open_sqlite_cache(path);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kDatabase);
  EXPECT_EQ(r.error().message,
            "sqlite " + path + ": open: schema version 7 is newer than this cybexp-archive "
                               "supports (1): upgrade cybexp-archive");
}

TEST(SqliteStoreOpen, CreatesMissingParentDirectoriesPrivate) {
  TempDir dir;
  std::string path = (dir.path() / "a" / "b" / "store.db").string();
  ok(open_sqlite_cache(path));
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() / "a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((dir.path() / "a" / "b").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_TRUE(std::filesystem::exists(path));
}

TEST(SqliteStoreOpen, ErrorsNameTheFileAndOperation) {
  TempDir dir;
  // A directory where the file should be: SQLite cannot open it.
  std::string path = dir.file("adir");
  std::filesystem::create_directory(path);
  auto r = open_sqlite_cache(path);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kDatabase);
  EXPECT_EQ(r.error().message, "sqlite " + path +
                                   ": open: unable to open database file: check that the "
                                   "directory of " + path +
                                   " exists and that this user may write there (SQLite creates "
                                   "the file and its -wal and -shm files beside it)");

  EXPECT_EQ(open_sqlite_cache("").error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(open_sqlite_cache(":memory:").error().kind, ErrorKind::kInvalidArgument);
  // A file where a parent directory should be.
  std::string blocked = (std::filesystem::path(dir.file("plain")) / "x.db").string();
  raw_sql(dir.file("plain"), "SELECT 1");
  EXPECT_EQ(open_sqlite_cache(blocked).error().kind, ErrorKind::kIo);
}

TEST_F(SqliteStoreTest, IdsAreRowidsAndRefsAJsonArrayNullWhenRequeued) {
  std::string a = add("a"), b = add("b");
  EXPECT_EQ(a, "1");
  EXPECT_EQ(b, "2");
  ok(cache_->claim(claim_request("w1")));
  std::vector<EntryResult> results = {processed(a, {"h1", "h2"}), processed(b, {"h3"})};
  EXPECT_EQ(finish_marked(*cache_, results, "w1"), 2u);
  EXPECT_EQ(raw_sql(path_, "SELECT refs FROM entries WHERE id = 1"), R"(["h1","h2"])");
  EntryFilter done;
  done.state = "processed";
  EXPECT_EQ(ok(cache_->requeue(done)), 2u);
  EXPECT_EQ(raw_sql(path_, "SELECT refs IS NULL FROM entries WHERE id = 1"), "1");
}

// fetch_blob of a rowid without an entry: no blob (kBadData).
TEST_F(SqliteStoreTest, FetchBlobOfAnUnknownRowidIsBadData) {
  add("a");
  CacheEntry unknown;
  unknown.id = "999";
  EXPECT_EQ(cache_->fetch_blob(unknown, 10).error().kind, ErrorKind::kBadData);
}

// Any store on the same file shares its database (PostgreSQL: only the one
// object open_postgres made for both).
TEST_F(SqliteStoreTest, EveryStoreOnTheFileSharesItsDatabase) {
  EXPECT_TRUE(cache_->shares_database_with(*ok(open_sqlite_archive(path_))));
  EXPECT_FALSE(cache_->shares_database_with(*ok(open_sqlite_archive(dir_.file("other.db")))));
}

TEST_F(SqliteStoreTest, ListingCallbackMayReenterTheStore) {
  for (int i = 0; i < 3; ++i) add("x");
  ok(cache_->claim(claim_request("w1", 1)));
  std::vector<std::string> pairs;
  ok(cache_->for_each_entry({}, [&](const EntryInfo& outer) {
    // Same SQL as the running listing: the store compiles a private copy.
    EntryFilter one;
    one.ids = {outer.entry.id};
    for (const auto& inner : entries_of(*cache_, one)) pairs.push_back(outer.entry.id + inner.entry.id);
    return true;
  }));
  EXPECT_THAT(pairs, ElementsAre("11", "22", "33"));
}

TEST_F(SqliteStoreTest, FinishWithDocumentsIsAtomic) {
  std::string a = add("a"), b = add("b");
  ok(cache_->claim(claim_request("w1")));
  // Make marking entry b fail after a's result and the documents are written.
  raw_sql(path_, "CREATE TRIGGER fail_b BEFORE UPDATE OF processed ON entries WHEN NEW.id = " + b +
                     " BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
  std::vector<RawDocument> docs = {doc("ha"), doc("hb")};
  std::vector<EntryResult> results = {processed(a, {"ha"}), processed(b, {"hb"})};
  auto r = try_finish_with_documents(*cache_, docs, results, "w1");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kDatabase);
  EXPECT_EQ(r.error().message, "sqlite " + path_ + ": finish: injected failure");
  EXPECT_EQ(document_counts(*archive_).documents, 0u);
  CacheCounts counts = entry_counts(*cache_);
  EXPECT_EQ(counts.processed, 0u);
  EXPECT_EQ(counts.pending, 2u);
  // The store is usable afterwards (the transaction was rolled back).
  raw_sql(path_, "DROP TRIGGER fail_b");
  Finished f = finish_with_documents(*cache_, docs, results, "w1");
  EXPECT_EQ(f.inserted, 2u);
  EXPECT_EQ(f.marked, 2u);
  EXPECT_EQ(entry_counts(*cache_).processed, 2u);
}

}  // namespace
}  // namespace cybexp::sqlite::testing
