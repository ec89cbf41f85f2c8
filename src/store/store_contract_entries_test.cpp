// The store contract, cache side continued: counts, listing entries with
// filters, and requeue, on six entries in every state, on every backend.
#include "store/store_contract_fixture.h"

namespace cybexp::testing {
namespace {

using Counts = std::map<std::string, std::uint64_t>;

// Six entries in every state:
//   0 processed (cowrie, t=100)              1 bad_data (cowrie, t=200)
//   2 error (email, t=300)                   3 typetag_not_supported (odd, t=400)
//   4 pending, leased by w2 (email, t=500)   5 pending (cowrie, t=600)
class StoreContractEntries : public StoreContract {
 protected:
  void SetUp() override {
    StoreContract::SetUp();
    if (IsSkipped()) return;
    const char* typetags[] = {"cowrie", "cowrie", "email", "odd", "email", "cowrie"};
    for (int i = 0; i < 6; ++i)
      id_.push_back(add("e" + std::to_string(i), "x", typetags[i], 100.0 * (i + 1)));
    ASSERT_EQ(ok(cache_->claim(claim_request("w1", 4))).size(), 4u);
    std::vector<EntryResult> results = {processed(id_[0], {"h1"}),
                                        skipped(id_[1], kStateBadData, "truncated blob"),
                                        skipped(id_[2], kStateError, "parse failed"),
                                        skipped(id_[3], kStateNotSupported, "unknown")};
    ASSERT_EQ(finish_marked(*cache_, results, "w1"), 4u);
    ASSERT_EQ(ok(cache_->claim(claim_request("w2", 1))).size(), 1u);
  }
  Strings ids(std::initializer_list<int> which) const {
    Strings out;
    for (int i : which) out.push_back(id_[i]);
    return out;
  }

  Strings id_;
};

TEST_P(StoreContractEntries, CountsByStateAndLeasesInFlightPerWorker) {
  const double before_w3 = now_seconds();
  ASSERT_EQ(ids_of(ok(cache_->claim(claim_request("w3", 5)))), ids({5}));
  CacheCounts counts = entry_counts(*cache_);
  EXPECT_EQ(counts.pending, 2u);  // leased entries are still pending
  EXPECT_EQ(counts.processed, 1u);
  EXPECT_EQ(counts.skipped, (Counts{{"bad_data", 1}, {"error", 1}, {"typetag_not_supported", 1}}));
  ASSERT_EQ(counts.in_flight.size(), 2u);
  EXPECT_EQ(counts.in_flight[0].worker, "w2");
  EXPECT_EQ(counts.in_flight[0].entries, 1u);
  EXPECT_LE(counts.in_flight[0].oldest_claim, before_w3);
  EXPECT_GT(counts.in_flight[0].oldest_claim, before_w3 - 60);
  EXPECT_EQ(counts.in_flight[1].worker, "w3");
  EXPECT_EQ(counts.in_flight[1].entries, 1u);
  EXPECT_GE(counts.in_flight[1].oldest_claim, before_w3 - 0.01);
  EXPECT_LE(counts.in_flight[1].oldest_claim, now_seconds());
  EXPECT_EQ(ok(cache_->count_claimable(false)), 0u);
  EXPECT_EQ(ok(cache_->count_claimable(true)), 3u);
}

TEST_P(StoreContractEntries, ForEachEntryFiltersOldestFirst) {
  EXPECT_EQ(listed({}), id_);
  EXPECT_EQ(listed(with_state("pending")), ids({4, 5}));
  EXPECT_EQ(listed(with_state("processed")), ids({0}));
  EXPECT_EQ(listed(with_state("skipped")), ids({1, 2, 3}));
  EXPECT_EQ(listed(with_state("bad_data")), ids({1}));
  EXPECT_EQ(listed(with_state("typetag_not_supported")), ids({3}));
  EXPECT_THAT(listed(with_state("nonsense")), IsEmpty());

  EntryFilter f;
  f.typetag = "cowrie";
  EXPECT_EQ(listed(f), ids({0, 1, 5}));
  f.state = "skipped";
  EXPECT_EQ(listed(f), ids({1}));
  EntryFilter by_ids;
  by_ids.ids = ids({5, 1});
  EXPECT_EQ(listed(by_ids), ids({1, 5}));
  EntryFilter range;
  range.since = 200;
  range.until = 500;  // [200, 500)
  EXPECT_EQ(listed(range), ids({1, 2, 3}));

  int calls = 0;
  ok(cache_->for_each_entry({}, [&](const EntryInfo&) { return ++calls < 3; }));
  EXPECT_EQ(calls, 3);
}

TEST_P(StoreContractEntries, ForEachEntryFillsEveryField) {
  auto infos = entries();
  ASSERT_EQ(infos.size(), 6u);
  EXPECT_EQ(infos[1].state, "bad_data");
  EXPECT_EQ(infos[1].reason, "truncated blob");
  EXPECT_EQ(infos[1].entry.name, "e1");
  EXPECT_EQ(infos[1].entry.typetag, "cowrie");
  EXPECT_EQ(infos[1].entry.orgid, "org1");
  EXPECT_EQ(infos[1].entry.timezone, "UTC");
  EXPECT_EQ(infos[1].entry.timestamp, 200);
  EXPECT_EQ(infos[1].entry.blob_size, 1u);
  EXPECT_EQ(infos[1].entry.attempts, 1);
  EXPECT_FALSE(infos[1].entry.blob.has_value());
  EXPECT_EQ(infos[1].lease_owner, "");
  EXPECT_GT(infos[1].finished_at, 1.6e9);
  EXPECT_EQ(infos[4].state, "pending");
  EXPECT_EQ(infos[4].lease_owner, "w2");
  EXPECT_GT(infos[4].lease_until, now_seconds() + 200);  // default lease 300 s
  EXPECT_EQ(infos[4].finished_at, 0);
  EXPECT_EQ(infos[5].lease_owner, "");
  EXPECT_EQ(infos[5].lease_until, 0);
  EXPECT_EQ(infos[5].entry.attempts, 0);
}

TEST_P(StoreContractEntries, RequeueBySkipState) {
  EXPECT_EQ(ok(cache_->requeue(with_state("bad_data"))), 1u);
  EXPECT_EQ(ok(cache_->requeue(with_state("bad_data"))), 0u);
  EntryInfo info = entries()[1];
  EXPECT_EQ(info.state, "pending");
  EXPECT_EQ(info.reason, "");
  EXPECT_EQ(info.finished_at, 0);
  EXPECT_EQ(info.entry.attempts, 0);  // a requeued entry starts its tries afresh
  EXPECT_EQ(ids_of(ok(cache_->claim(claim_request("w9")))), ids({1, 5}));
}

TEST_P(StoreContractEntries, RequeueAllSkippedLeavesProcessed) {
  EXPECT_EQ(ok(cache_->requeue(with_state("skipped"))), 3u);
  EXPECT_EQ(listed(with_state("pending")), ids({1, 2, 3, 4, 5}));
  EXPECT_EQ(entry_counts(*cache_).processed, 1u);
  EXPECT_EQ(ok(cache_->requeue({})), 0u);  // processed only when the filter says so
}

TEST_P(StoreContractEntries, RequeueProcessedClearsRefs) {
  EXPECT_EQ(ok(cache_->requeue(with_state("processed"))), 1u);
  EntryInfo info = entries()[0];
  EXPECT_EQ(info.state, "pending");
  EXPECT_THAT(info.refs, IsEmpty());
  EXPECT_EQ(info.finished_at, 0);
}

TEST_P(StoreContractEntries, RequeueByTypetagIdsAndTime) {
  EntryFilter by_typetag;
  by_typetag.typetag = "email";
  EXPECT_EQ(ok(cache_->requeue(by_typetag)), 1u);  // 2; 4 is pending already
  EntryFilter by_ids;
  by_ids.ids = ids({3, 4, 5});
  EXPECT_EQ(ok(cache_->requeue(by_ids)), 1u);  // 3
  EntryFilter by_time;
  by_time.since = 50;
  by_time.until = 150;
  EXPECT_EQ(ok(cache_->requeue(by_time)), 0u);  // 0 is processed: only state=processed takes it
  by_time.state = "processed";
  EXPECT_EQ(ok(cache_->requeue(by_time)), 1u);  // 0
  EXPECT_EQ(ok(cache_->requeue({})), 1u);       // 1
  EXPECT_EQ(entry_counts(*cache_).pending, 6u);
}

TEST_P(StoreContractEntries, RequeueNeverTouchesLiveLeases) {
  // Force-claim two skipped entries: they are someone's work in progress.
  EXPECT_EQ(ids_of(ok(cache_->claim(claim_request("w4", 2, /*force=*/true)))), ids({1, 2}));
  EXPECT_EQ(ok(cache_->requeue(with_state("skipped"))), 1u);  // only 3
  EXPECT_EQ(listed(with_state("skipped")), ids({1, 2}));
  EntryInfo info = entries()[1];
  EXPECT_EQ(info.state, "bad_data");
  EXPECT_EQ(info.lease_owner, "w4");
  // The leases still hold, and finishing works as normal.
  std::vector<EntryResult> results = {processed(id_[1], {"h2"}),
                                      skipped(id_[2], kStateError, "again")};
  EXPECT_EQ(finish_marked(*cache_, results, "w4"), 2u);
  EXPECT_EQ(listed(with_state("skipped")), ids({2}));
  CacheCounts counts = entry_counts(*cache_);
  EXPECT_EQ(counts.pending, 3u);
  EXPECT_EQ(counts.skipped, (Counts{{"error", 1}}));
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreContractEntries, ::testing::ValuesIn(contract_configs()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace cybexp::testing
