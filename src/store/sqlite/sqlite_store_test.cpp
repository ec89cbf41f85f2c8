// Tests of the SQLite store's file handling, schema, claim/fetch/finish cycle
// and archive side, on real files in a per-test temporary directory.
#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "store/sqlite/sqlite_test_util.h"

namespace cybexp::sqlite::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("store.db");
    auto stores = ok(open_sqlite_combined(path_));
    cache_ = stores.cache;
    archive_ = stores.archive;
  }
  std::string add(const std::string& payload, const NewEntry& entry = new_entry()) {
    return ok(cache_->add_entry(entry, bytes(payload)));
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

TEST_F(SqliteStoreTest, SeedsDefaultSubtypesOnce) {
  EXPECT_EQ(ok(archive_->subtypes()), default_subtypes());
  EXPECT_EQ(ok(archive_->subtypes()).at("unr-honeypot"), "unr_honeypot");
  EXPECT_EQ(ok(archive_->subtypes()).size(), 6u);
  ok(archive_->add_subtype("my-feed", "my_feed"));
  ok(archive_->add_subtype("cowrie", "cowrie_v2"));  // upsert
  EXPECT_TRUE(ok(archive_->remove_subtype("email")));
  EXPECT_FALSE(ok(archive_->remove_subtype("email")));
  // Reopening must not reseed what was changed or removed.
  auto reopened = ok(open_sqlite_archive(path_));
  auto registry = ok(reopened->subtypes());
  EXPECT_EQ(registry.size(), 6u);
  EXPECT_EQ(registry.at("my-feed"), "my_feed");
  EXPECT_EQ(registry.at("cowrie"), "cowrie_v2");
  EXPECT_EQ(registry.count("email"), 0u);
}

TEST_F(SqliteStoreTest, RejectsBadSubtypes) {
  auto bad = archive_->add_subtype("x", "not-an-identifier");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(archive_->add_subtype("", "x").error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(archive_->add_subtype("x", "9lives").error().kind, ErrorKind::kInvalidArgument);
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
  EXPECT_EQ(r.error().message, "sqlite " + path + ": open: unable to open database file");

  EXPECT_EQ(open_sqlite_cache("").error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(open_sqlite_cache(":memory:").error().kind, ErrorKind::kInvalidArgument);
  // A file where a parent directory should be.
  std::string blocked = (std::filesystem::path(dir.file("plain")) / "x.db").string();
  raw_sql(dir.file("plain"), "SELECT 1");
  EXPECT_EQ(open_sqlite_cache(blocked).error().kind, ErrorKind::kIo);
}

TEST_F(SqliteStoreTest, ClaimReturnsFieldsAndInlineBlob) {
  NewEntry e{"feed.json", "cowrie", "org-42", "US/Pacific", 1700000000.25};
  std::string id = add("payload-bytes", e);
  EXPECT_EQ(id, "1");
  auto claimed = ok(cache_->claim(claim_request("w1")));
  ASSERT_EQ(claimed.size(), 1u);
  const CacheEntry& c = claimed[0];
  EXPECT_EQ(c.id, "1");
  EXPECT_EQ(c.name, "feed.json");
  EXPECT_EQ(c.typetag, "cowrie");
  EXPECT_EQ(c.orgid, "org-42");
  EXPECT_EQ(c.timezone, "US/Pacific");
  EXPECT_EQ(c.timestamp, 1700000000.25);
  EXPECT_EQ(c.blob_size, 13u);
  EXPECT_EQ(c.attempts, 1);
  ASSERT_TRUE(c.blob.has_value());
  EXPECT_EQ(*c.blob, bytes("payload-bytes"));
  // Leased: nobody, not even w1, gets it again while the lease lives.
  EXPECT_TRUE(ok(cache_->claim(claim_request("w1"))).empty());
  EXPECT_TRUE(ok(cache_->claim(claim_request("w2"))).empty());
}

TEST_F(SqliteStoreTest, ClaimHonoursBatchSizeAndOrder) {
  for (int i = 0; i < 5; ++i) add("p" + std::to_string(i));
  auto first = ok(cache_->claim(claim_request("w1", 2)));
  auto second = ok(cache_->claim(claim_request("w2", 10)));
  EXPECT_THAT(ids_of(first), ElementsAre("1", "2"));
  EXPECT_THAT(ids_of(second), ElementsAre("3", "4", "5"));
  auto none = ok(cache_->claim(claim_request("w3", 0)));
  EXPECT_TRUE(none.empty());
}

TEST_F(SqliteStoreTest, LargeBlobIsNotInlineButFetchable) {
  std::string big(100'000, 'x');
  big[99'999] = 'y';
  add(big);
  ClaimRequest req = claim_request("w1");
  req.inline_blob_max = 99'999;
  auto claimed = ok(cache_->claim(req));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].blob_size, 100'000u);
  EXPECT_FALSE(claimed[0].blob.has_value());
  EXPECT_EQ(ok(cache_->fetch_blob(claimed[0], 100'000)), bytes(big));
}

TEST_F(SqliteStoreTest, FetchBlobOverLimitIsRefused) {
  add(std::string(5000, 'z'));
  auto claimed = ok(cache_->claim(claim_request("w1")));
  auto r = cache_->fetch_blob(claimed[0], 4999);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kLimit);
  EXPECT_EQ(r.error().message,
            "blob is 5000 bytes, over the 4999-byte limit (limits.max_blob_bytes)");
}

TEST_F(SqliteStoreTest, MissingBlobIsBadDataAndEmptyBlobIsEmpty) {
  std::string empty_id = add("");
  std::string gone_id = add("will be deleted");
  raw_sql(path_, "DELETE FROM blobs WHERE entry_id = " + gone_id);
  auto claimed = ok(cache_->claim(claim_request("w1")));
  ASSERT_EQ(claimed.size(), 2u);
  // Empty blob: present, zero bytes, inline.
  EXPECT_EQ(claimed[0].blob_size, 0u);
  ASSERT_TRUE(claimed[0].blob.has_value());
  EXPECT_TRUE(claimed[0].blob->empty());
  EXPECT_TRUE(ok(cache_->fetch_blob(claimed[0], 10)).empty());
  // Missing blob: no inline copy, and fetch_blob says bad data.
  EXPECT_FALSE(claimed[1].blob.has_value());
  auto r = cache_->fetch_blob(claimed[1], 1000);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kBadData);
  EXPECT_EQ(r.error().message, "entry has no blob");
  CacheEntry unknown;
  unknown.id = "999";
  EXPECT_EQ(cache_->fetch_blob(unknown, 10).error().kind, ErrorKind::kBadData);
  unknown.id = "abc";
  EXPECT_EQ(cache_->fetch_blob(unknown, 10).error().kind, ErrorKind::kInvalidArgument);
}

TEST_F(SqliteStoreTest, FinishMarksProcessedAndSkipped) {
  std::string a = add("a"), b = add("b"), c = add("c");
  ok(cache_->claim(claim_request("w1")));
  std::vector<EntryResult> results = {
      processed_result(a, {"h1", "h2"}),
      skipped_result(b, kStateNotSupported, "typetag x is not in the registry"),
      processed_result(a, {"h1"}),  // duplicate: already finished above
  };
  EXPECT_EQ(ok(cache_->finish(results, "w1")).marked, 2u);
  auto infos = list(*cache_);
  ASSERT_EQ(infos.size(), 3u);
  EXPECT_EQ(infos[0].state, "processed");
  EXPECT_THAT(infos[0].refs, ElementsAre("h1", "h2"));
  EXPECT_EQ(infos[0].reason, "");
  EXPECT_EQ(infos[0].lease_owner, "");
  EXPECT_GT(infos[0].finished_at, 0);
  EXPECT_EQ(infos[1].state, "typetag_not_supported");
  EXPECT_EQ(infos[1].reason, "typetag x is not in the registry");
  EXPECT_TRUE(infos[1].refs.empty());
  EXPECT_EQ(infos[2].state, "pending");
  EXPECT_EQ(infos[2].lease_owner, "w1");
  EXPECT_EQ(infos[2].finished_at, 0);
  EXPECT_EQ(raw_sql(path_, "SELECT refs FROM entries WHERE id = " + a), R"(["h1","h2"])");
  // Another worker cannot finish c, w1 can.
  std::vector<EntryResult> on_c = {processed_result(c, {"h3"})};
  EXPECT_EQ(ok(cache_->finish(on_c, "w2")).marked, 0u);
  EXPECT_EQ(ok(cache_->finish(on_c, "w1")).marked, 1u);
}

TEST_F(SqliteStoreTest, ReleaseEndsOnlyOwnLease) {
  std::string a = add("a");
  ok(cache_->claim(claim_request("w1")));
  std::vector<std::string> ids = {a};
  ok(cache_->release(ids, "w2", ReleaseKind::kTried));  // not w2's
  EXPECT_TRUE(ok(cache_->claim(claim_request("w2"))).empty());
  ok(cache_->release(ids, "w1", ReleaseKind::kTried));
  auto again = ok(cache_->claim(claim_request("w2")));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].attempts, 2);
  EXPECT_EQ(list(*cache_)[0].state, "pending");
}

TEST_F(SqliteStoreTest, ForceClaimsSkippedAndFinishOverwritesSkip) {
  std::string a = add("a"), b = add("b");
  ok(cache_->claim(claim_request("w1")));
  std::vector<EntryResult> results = {skipped_result(a, kStateBadData, "truncated"),
                                      processed_result(b, {"hb"})};
  EXPECT_EQ(ok(cache_->finish(results, "w1")).marked, 2u);
  EXPECT_TRUE(ok(cache_->claim(claim_request("w1"))).empty());
  EXPECT_EQ(ok(cache_->count_claimable(false)), 0u);
  EXPECT_EQ(ok(cache_->count_claimable(true)), 1u);

  auto forced = ok(cache_->claim(claim_request("w2", 64, /*force=*/true)));
  ASSERT_EQ(forced.size(), 1u);  // the processed one stays done
  EXPECT_EQ(forced[0].id, a);
  EXPECT_EQ(forced[0].attempts, 2);
  // Until finished it is still reported skipped, and is not requeued.
  EXPECT_EQ(list(*cache_)[0].state, "bad_data");
  EntryFilter skipped;
  skipped.state = "skipped";
  EXPECT_EQ(ok(cache_->requeue(skipped)), 0u);
  std::vector<EntryResult> done = {processed_result(a, {"ha"})};
  EXPECT_EQ(ok(cache_->finish(done, "w2")).marked, 1u);
  auto info = list(*cache_)[0];
  EXPECT_EQ(info.state, "processed");
  EXPECT_EQ(info.reason, "");
  EXPECT_THAT(info.refs, ElementsAre("ha"));
}

TEST_F(SqliteStoreTest, PutDocumentsDeduplicatesByHash) {
  std::vector<RawDocument> docs = {doc("h1"), doc("h2", "cowrie", R"({"b": "2"})"), doc("h1")};
  EXPECT_EQ(ok(archive_->put_documents(docs)), 2u);
  std::vector<RawDocument> again = {doc("h2", "cowrie"), doc("h3", "email", "[]")};
  EXPECT_EQ(ok(archive_->put_documents(again)), 1u);
  auto counts = ok(archive_->document_counts());
  EXPECT_EQ(counts.documents, 3u);
  EXPECT_EQ(counts.data_bytes, 10u + 10u + 2u);

  std::vector<std::string> seen;
  ok(archive_->for_each_document(std::nullopt, [&](const RawDocument& d) {
    seen.push_back(d.hash + ":" + d.sub_type + ":" + d.data_json);
    return true;
  }));
  EXPECT_THAT(seen, ElementsAre(R"(h1:unr_honeypot:{"a": "1"})", R"(h2:cowrie:{"b": "2"})",
                                "h3:email:[]"));
  seen.clear();
  ok(archive_->for_each_document(std::string("cowrie"), [&](const RawDocument& d) {
    seen.push_back(d.hash + ":" + d.orgid + ":" + d.timezone);
    return true;
  }));
  EXPECT_THAT(seen, ElementsAre("h2:org-1:UTC"));
  int calls = 0;
  ok(archive_->for_each_document(std::nullopt, [&](const RawDocument&) { return ++calls < 2; }));
  EXPECT_EQ(calls, 2);
}

TEST_F(SqliteStoreTest, CombinedStoreSharesItsDatabase) {
  EXPECT_TRUE(cache_->shares_database_with(*archive_));
  auto same_file = ok(open_sqlite_archive(path_));
  EXPECT_TRUE(cache_->shares_database_with(*same_file));
  auto other = ok(open_sqlite_archive(dir_.file("other.db")));
  EXPECT_FALSE(cache_->shares_database_with(*other));
}

TEST_F(SqliteStoreTest, FinishWithDocumentsCommitsBoth) {
  std::string a = add("a"), b = add("b");
  ok(cache_->claim(claim_request("w1")));
  std::vector<RawDocument> docs = {doc("ha"), doc("hb")};
  std::vector<EntryResult> results = {processed_result(a, {"ha"}), processed_result(b, {"hb"})};
  EXPECT_EQ(ok(cache_->finish_with_documents(docs, results, "w1")).inserted, 2u);
  EXPECT_EQ(ok(archive_->document_counts()).documents, 2u);
  EXPECT_EQ(ok(cache_->entry_counts()).processed, 2u);
}

TEST_F(SqliteStoreTest, FinishWithDocumentsIsAtomic) {
  std::string a = add("a"), b = add("b");
  ok(cache_->claim(claim_request("w1")));
  // Make marking entry b fail after a's result and the documents are written.
  raw_sql(path_, "CREATE TRIGGER fail_b BEFORE UPDATE OF processed ON entries WHEN NEW.id = " + b +
                     " BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
  std::vector<RawDocument> docs = {doc("ha"), doc("hb")};
  std::vector<EntryResult> results = {processed_result(a, {"ha"}), processed_result(b, {"hb"})};
  auto r = cache_->finish_with_documents(docs, results, "w1");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kDatabase);
  EXPECT_EQ(r.error().message, "sqlite " + path_ + ": finish: injected failure");
  EXPECT_EQ(ok(archive_->document_counts()).documents, 0u);
  auto counts = ok(cache_->entry_counts());
  EXPECT_EQ(counts.processed, 0u);
  EXPECT_EQ(counts.pending, 2u);
  // The store is usable afterwards (the transaction was rolled back).
  raw_sql(path_, "DROP TRIGGER fail_b");
  EXPECT_EQ(ok(cache_->finish_with_documents(docs, results, "w1")).inserted, 2u);
  EXPECT_EQ(ok(cache_->entry_counts()).processed, 2u);
}

}  // namespace
}  // namespace cybexp::sqlite::testing
