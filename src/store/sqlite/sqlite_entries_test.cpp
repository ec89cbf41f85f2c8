// Tests of the SQLite store's lease expiry, counts, entry listing filters and
// requeue, with exact values.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "store/sqlite/sqlite_test_util.h"

namespace cybexp::sqlite::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

class SqliteEntriesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("cache.db");
    cache_ = ok(open_sqlite_cache(path_));
  }
  std::string add(const std::string& typetag, double timestamp) {
    return ok(cache_->add_entry(new_entry(typetag, timestamp), bytes("x")));
  }
  // Six entries in every state:
  //   1 processed (cowrie, t=100)   2 bad_data (cowrie, t=200)
  //   3 error (email, t=300)        4 typetag_not_supported (odd, t=400)
  //   5 pending, leased by w2 (email, t=500)   6 pending (cowrie, t=600)
  void populate() {
    add("cowrie", 100);
    add("cowrie", 200);
    add("email", 300);
    add("odd", 400);
    ok(cache_->claim(claim_request("w1", 4)));
    std::vector<EntryResult> results = {processed_result("1", {"h1"}),
                                        skipped_result("2", kStateBadData, "truncated blob"),
                                        skipped_result("3", kStateError, "parse failed"),
                                        skipped_result("4", kStateNotSupported, "unknown")};
    ASSERT_EQ(ok(cache_->finish(results, "w1")).marked, 4u);
    add("email", 500);
    add("cowrie", 600);
    ASSERT_EQ(ok(cache_->claim(claim_request("w2", 1))).size(), 1u);
  }

  TempDir dir_;
  std::string path_;
  std::shared_ptr<CacheStore> cache_;
};

TEST_F(SqliteEntriesTest, ExpiredLeaseCanBeTakenAndOldHolderCannotFinish) {
  std::string id = add("cowrie", 1);
  ClaimRequest w1 = claim_request("w1");
  w1.lease_seconds = 1;
  ASSERT_EQ(ok(cache_->claim(w1)).size(), 1u);
  EXPECT_THAT(ok(cache_->claim(claim_request("w2"))), IsEmpty());
  EXPECT_EQ(ok(cache_->count_claimable(false)), 0u);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_EQ(ok(cache_->count_claimable(false)), 1u);
  EXPECT_THAT(ok(cache_->entry_counts()).in_flight, IsEmpty());  // expired leases are not in flight
  auto taken = ok(cache_->claim(claim_request("w2")));
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].id, id);
  EXPECT_EQ(taken[0].attempts, 2);
  std::vector<EntryResult> results = {processed_result(id, {"from-w1"})};
  EXPECT_EQ(ok(cache_->finish(results, "w1")).marked, 0u);  // lost its lease
  results = {processed_result(id, {"from-w2"})};
  EXPECT_EQ(ok(cache_->finish(results, "w2")).marked, 1u);
  EXPECT_THAT(list(*cache_)[0].refs, ElementsAre("from-w2"));
}

TEST_F(SqliteEntriesTest, CountsByStateAndLeasesInFlight) {
  populate();
  double before_w3 = now_seconds();
  ASSERT_EQ(ok(cache_->claim(claim_request("w3", 5))).size(), 1u);  // entry 6
  auto counts = ok(cache_->entry_counts());
  EXPECT_EQ(counts.pending, 2u);
  EXPECT_EQ(counts.processed, 1u);
  EXPECT_EQ(counts.skipped, (std::map<std::string, std::uint64_t>{
                                {"bad_data", 1}, {"error", 1}, {"typetag_not_supported", 1}}));
  ASSERT_EQ(counts.in_flight.size(), 2u);
  EXPECT_EQ(counts.in_flight[0].worker, "w2");
  EXPECT_EQ(counts.in_flight[0].entries, 1u);
  EXPECT_LE(counts.in_flight[0].oldest_claim, before_w3);
  EXPECT_EQ(counts.in_flight[1].worker, "w3");
  EXPECT_EQ(counts.in_flight[1].entries, 1u);
  EXPECT_GE(counts.in_flight[1].oldest_claim, before_w3);
  EXPECT_LE(counts.in_flight[1].oldest_claim, now_seconds());
  EXPECT_EQ(ok(cache_->count_claimable(false)), 0u);
  EXPECT_EQ(ok(cache_->count_claimable(true)), 3u);
}

TEST_F(SqliteEntriesTest, ForEachEntryFilters) {
  populate();
  auto by_state = [&](const std::string& state) {
    EntryFilter f;
    f.state = state;
    return listed_ids(*cache_, f);
  };
  EXPECT_THAT(listed_ids(*cache_), ElementsAre("1", "2", "3", "4", "5", "6"));
  EXPECT_THAT(by_state("pending"), ElementsAre("5", "6"));
  EXPECT_THAT(by_state("processed"), ElementsAre("1"));
  EXPECT_THAT(by_state("skipped"), ElementsAre("2", "3", "4"));
  EXPECT_THAT(by_state("bad_data"), ElementsAre("2"));
  EXPECT_THAT(by_state("typetag_not_supported"), ElementsAre("4"));
  EXPECT_THAT(by_state("nonsense"), IsEmpty());

  EntryFilter f;
  f.typetag = "cowrie";
  EXPECT_THAT(listed_ids(*cache_, f), ElementsAre("1", "2", "6"));
  f.state = "skipped";
  EXPECT_THAT(listed_ids(*cache_, f), ElementsAre("2"));

  EntryFilter ids;
  ids.ids = {"6", "2", "junk", "99"};
  EXPECT_THAT(listed_ids(*cache_, ids), ElementsAre("2", "6"));
  ids.ids = {"junk"};
  EXPECT_THAT(listed_ids(*cache_, ids), IsEmpty());

  EntryFilter range;
  range.since = 200;
  range.until = 500;  // [200, 500)
  EXPECT_THAT(listed_ids(*cache_, range), ElementsAre("2", "3", "4"));

  auto infos = list(*cache_);
  EXPECT_EQ(infos[1].state, "bad_data");
  EXPECT_EQ(infos[1].reason, "truncated blob");
  EXPECT_EQ(infos[1].entry.typetag, "cowrie");
  EXPECT_EQ(infos[1].entry.timestamp, 200);
  EXPECT_EQ(infos[1].entry.blob_size, 1u);
  EXPECT_EQ(infos[1].entry.attempts, 1);
  EXPECT_FALSE(infos[1].entry.blob.has_value());
  EXPECT_EQ(infos[4].lease_owner, "w2");
  EXPECT_GT(infos[4].lease_until, now_seconds() + 200);  // default lease 300 s
  EXPECT_EQ(infos[5].lease_owner, "");
  EXPECT_EQ(infos[5].lease_until, 0);
  EXPECT_EQ(infos[5].entry.attempts, 0);

  int calls = 0;
  ok(cache_->for_each_entry({}, [&](const EntryInfo&) { return ++calls < 3; }));
  EXPECT_EQ(calls, 3);
}

TEST_F(SqliteEntriesTest, CallbackMayReenterTheStore) {
  populate();
  std::vector<std::string> pairs;
  ok(cache_->for_each_entry({}, [&](const EntryInfo& outer) {
    // Same SQL as the running listing: the store compiles a private copy.
    EntryFilter one;
    one.ids = {outer.entry.id};
    for (const auto& inner : list(*cache_, one)) pairs.push_back(outer.entry.id + inner.entry.id);
    return true;
  }));
  EXPECT_THAT(pairs, ElementsAre("11", "22", "33", "44", "55", "66"));
}

TEST_F(SqliteEntriesTest, RequeueBySkipState) {
  populate();
  EntryFilter f;
  f.state = "bad_data";
  EXPECT_EQ(ok(cache_->requeue(f)), 1u);
  EXPECT_EQ(ok(cache_->requeue(f)), 0u);
  auto info = list(*cache_)[1];
  EXPECT_EQ(info.state, "pending");
  EXPECT_EQ(info.reason, "");
  EXPECT_EQ(info.finished_at, 0);
  EXPECT_EQ(info.entry.attempts, 1);  // history kept
  auto claimed = ok(cache_->claim(claim_request("w9")));
  EXPECT_THAT(ids_of(claimed), ElementsAre("2", "6"));
}

TEST_F(SqliteEntriesTest, RequeueAllSkipped) {
  populate();
  EntryFilter f;
  f.state = "skipped";
  EXPECT_EQ(ok(cache_->requeue(f)), 3u);
  EntryFilter pending;
  pending.state = "pending";
  EXPECT_THAT(listed_ids(*cache_, pending), ElementsAre("2", "3", "4", "5", "6"));
  EXPECT_EQ(ok(cache_->entry_counts()).processed, 1u);
}

TEST_F(SqliteEntriesTest, RequeueProcessedClearsRefs) {
  populate();
  EntryFilter f;
  f.state = "processed";
  EXPECT_EQ(ok(cache_->requeue(f)), 1u);
  auto info = list(*cache_)[0];
  EXPECT_EQ(info.state, "pending");
  EXPECT_THAT(info.refs, IsEmpty());
  EXPECT_EQ(raw_sql(path_, "SELECT refs IS NULL FROM entries WHERE id = 1"), "1");
}

TEST_F(SqliteEntriesTest, RequeueByTypetagIdsAndTime) {
  populate();
  EntryFilter by_typetag;
  by_typetag.typetag = "email";
  EXPECT_EQ(ok(cache_->requeue(by_typetag)), 1u);  // 3; 5 is pending already
  EntryFilter by_ids;
  by_ids.ids = {"4", "5", "6"};
  EXPECT_EQ(ok(cache_->requeue(by_ids)), 1u);  // 4
  EntryFilter by_time;
  by_time.since = 50;
  by_time.until = 150;
  EXPECT_EQ(ok(cache_->requeue(by_time)), 0u);  // 1 is processed: only state=processed takes it
  by_time.state = "processed";
  EXPECT_EQ(ok(cache_->requeue(by_time)), 1u);  // 1
  EntryFilter rest;
  EXPECT_EQ(ok(cache_->requeue(rest)), 1u);  // 2
  EXPECT_EQ(ok(cache_->entry_counts()).pending, 6u);
}

TEST_F(SqliteEntriesTest, RequeueLeavesLiveLeasesAlone) {
  populate();
  // Force-claim the skipped entries: they are now someone's work in progress.
  auto forced = ok(cache_->claim(claim_request("w4", 2, /*force=*/true)));
  EXPECT_THAT(ids_of(forced), ElementsAre("2", "3"));
  EntryFilter f;
  f.state = "skipped";
  EXPECT_EQ(ok(cache_->requeue(f)), 1u);  // only 4
  EXPECT_THAT(listed_ids(*cache_, f), ElementsAre("2", "3"));
  // The leases still hold, and finishing works as normal.
  std::vector<EntryResult> results = {processed_result("2", {"h2"}),
                                      skipped_result("3", kStateError, "again")};
  EXPECT_EQ(ok(cache_->finish(results, "w4")).marked, 2u);
  EXPECT_THAT(listed_ids(*cache_, f), ElementsAre("3"));
}

}  // namespace
}  // namespace cybexp::sqlite::testing
