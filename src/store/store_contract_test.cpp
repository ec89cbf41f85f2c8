// The store contract, cache side: what CacheStore promises (store.h) about
// adding, claiming, leases, blobs, finishing and releasing, checked the same
// way on every backend and configuration (store_contract_fixture.h).
#include <thread>

#include "store/store_contract_fixture.h"

namespace cybexp::testing {
namespace {

TEST_P(StoreContract, ClaimReturnsEveryFieldAndTheBlobInline) {
  NewEntry e{"feed.json", "cowrie", "org-\xc3\xa9", "US/Pacific", 1712345678.123456};
  std::string a = ok(cache_->add_entry(e, bytes("0123456789")));
  std::string b = add("empty", "");
  auto claimed = ok(cache_->claim(claim_request("w1")));
  ASSERT_EQ(ids_of(claimed), (Strings{a, b}));
  const CacheEntry& c = claimed[0];
  EXPECT_EQ(c.name, "feed.json");
  EXPECT_EQ(c.typetag, "cowrie");
  EXPECT_EQ(c.orgid, "org-\xc3\xa9");
  EXPECT_EQ(c.timezone, "US/Pacific");
  EXPECT_EQ(c.timestamp, 1712345678.123456);
  EXPECT_EQ(c.blob_size, 10u);
  EXPECT_EQ(c.attempts, 1);
  ASSERT_TRUE(c.blob.has_value());
  EXPECT_EQ(*c.blob, bytes("0123456789"));
  EXPECT_EQ(claimed[1].blob_size, 0u);  // an empty blob is there, and inline
  ASSERT_TRUE(claimed[1].blob.has_value());
  EXPECT_THAT(*claimed[1].blob, IsEmpty());
  EXPECT_THAT(ok(cache_->fetch_blob(claimed[1], 10)), IsEmpty());
  // Leased: nobody, not even w1, gets them again while the lease lives.
  EXPECT_THAT(ok(cache_->claim(claim_request("w1"))), IsEmpty());
  EXPECT_THAT(ok(cache_->claim(claim_request("w2"))), IsEmpty());
}

TEST_P(StoreContract, ClaimHonoursBatchSizeOldestFirst) {
  Strings ids;
  for (int i = 0; i < 5; ++i) ids.push_back(add("e" + std::to_string(i)));
  EXPECT_THAT(ok(cache_->claim(claim_request("w1", 0))), IsEmpty());
  EXPECT_EQ(ids_of(ok(cache_->claim(claim_request("w1", 2)))), (Strings{ids[0], ids[1]}));
  EXPECT_EQ(ids_of(ok(cache_->claim(claim_request("w2", 10)))), (Strings{ids[2], ids[3], ids[4]}));
  EXPECT_EQ(ok(cache_->count_claimable(false)), 0u);
}

TEST_P(StoreContract, BlobsUpToTheInlineMaximumComeInline) {
  add("at", std::string(10, 'a'));
  add("over", std::string(11, 'b'));
  ClaimRequest req = claim_request("w1");
  req.inline_blob_max = 10;
  auto claimed = ok(cache_->claim(req));
  ASSERT_EQ(claimed.size(), 2u);
  ASSERT_TRUE(claimed[0].blob.has_value());
  EXPECT_EQ(*claimed[0].blob, bytes("aaaaaaaaaa"));
  EXPECT_EQ(claimed[1].blob_size, 11u);
  EXPECT_FALSE(claimed[1].blob.has_value());
  EXPECT_EQ(ok(cache_->fetch_blob(claimed[1], 11)), bytes("bbbbbbbbbbb"));
}

TEST_P(StoreContract, FetchBlobChecksTheLimitBeforeReading) {
  std::string big(100'000, 'x');
  big[99'999] = 'y';
  add("big", big);
  auto claimed = ok(cache_->claim(claim_request("w1")));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].blob_size, 100'000u);
  EXPECT_FALSE(claimed[0].blob.has_value());  // over the default 64 KiB
  EXPECT_EQ(ok(cache_->fetch_blob(claimed[0], 100'000)), bytes(big));
  auto over = cache_->fetch_blob(claimed[0], 99'999);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().kind, ErrorKind::kLimit);
  EXPECT_EQ(over.error().message,
            "blob is 100000 bytes, over the 99999-byte limit (limits.max_blob_bytes)");
}

TEST_P(StoreContract, MissingBlobIsBadData) {
  std::string gone = add("gone", "will be deleted");
  backend_->drop_blob(gone);
  auto claimed = ok(cache_->claim(claim_request("w1")));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].blob_size, 0u);
  EXPECT_FALSE(claimed[0].blob.has_value());
  auto r = cache_->fetch_blob(claimed[0], 1000);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kBadData);
  // The backend may say why (MongoDB: no fid, no file).
  EXPECT_TRUE(r.error().message.starts_with("entry has no blob")) << r.error().message;
  CacheEntry unparsable;
  unparsable.id = "not-an-id";
  EXPECT_EQ(cache_->fetch_blob(unparsable, 10).error().kind, ErrorKind::kInvalidArgument);
}

TEST_P(StoreContract, LiveLeaseBlocksOthersExpiredLeaseDoesNot) {
  std::string a = add("a"), b = add("b");
  ClaimRequest first = claim_request("w1");
  first.lease_seconds = 3;  // the three checks below must fit in it, even on a busy machine
  EXPECT_EQ(ids_of(ok(cache_->claim(first))), (Strings{a, b}));
  EXPECT_THAT(ok(cache_->claim(claim_request("w2"))), IsEmpty());
  EXPECT_EQ(ok(cache_->count_claimable(false)), 0u);
  ASSERT_EQ(entry_counts(*cache_).in_flight.size(), 1u);

  std::this_thread::sleep_for(std::chrono::milliseconds(3200));
  EXPECT_EQ(ok(cache_->count_claimable(false)), 2u);
  EXPECT_THAT(entry_counts(*cache_).in_flight, IsEmpty());  // expired: not in flight
  auto retaken = ok(cache_->claim(claim_request("w2")));
  ASSERT_EQ(ids_of(retaken), (Strings{a, b}));
  EXPECT_EQ(retaken[0].attempts, 2);

  // w1 lost its lease: its results are left alone; w2's count, once.
  std::vector<EntryResult> from_w1 = {processed(a, {"from-w1"}), processed(b, {"from-w1"})};
  Finished lost = finish(*cache_, from_w1, "w1");
  EXPECT_EQ(lost.marked, 0u);
  EXPECT_EQ(lost.lost, (Strings{a, b}));
  EXPECT_EQ(entry_counts(*cache_).processed, 0u);
  std::vector<EntryResult> from_w2 = {processed(a, {"from-w2"}), processed(b, {"from-w2"})};
  EXPECT_EQ(finish_marked(*cache_, from_w2, "w2"), 2u);
  EXPECT_EQ(finish_marked(*cache_, from_w2, "w2"), 0u);  // never finished twice
  EXPECT_EQ(entry_counts(*cache_).processed, 2u);
  EXPECT_THAT(entries()[0].refs, ElementsAre("from-w2"));
}

TEST_P(StoreContract, FinishRecordsProcessedAndSkipped) {
  std::string a = add("a"), b = add("b"), c = add("c", "x", "nope");
  ok(cache_->claim(claim_request("w1")));
  std::vector<EntryResult> results = {
      processed(a, {"h1", "h \"2\""}),
      skipped(b, kStateBadData, "the blob fails authentication"),
      skipped(c, kStateNotSupported, "typetag 'nope' is not in the registry"),
  };
  Finished f = finish(*cache_, results, "w1");
  EXPECT_EQ(f.marked, 3u);
  EXPECT_THAT(f.lost, IsEmpty());
  auto infos = entries();
  ASSERT_EQ(infos.size(), 3u);
  EXPECT_EQ(infos[0].state, "processed");
  EXPECT_THAT(infos[0].refs, ElementsAre("h1", "h \"2\""));
  EXPECT_EQ(infos[0].reason, "");
  EXPECT_EQ(infos[0].lease_owner, "");
  EXPECT_GT(infos[0].finished_at, 1.6e9);
  EXPECT_EQ(infos[1].state, "bad_data");
  EXPECT_EQ(infos[1].reason, "the blob fails authentication");
  EXPECT_THAT(infos[1].refs, IsEmpty());
  EXPECT_EQ(infos[2].state, "typetag_not_supported");
  EXPECT_EQ(infos[2].entry.blob_size, 1u);
  EXPECT_EQ(infos[2].entry.attempts, 1);
  CacheCounts counts = entry_counts(*cache_);
  EXPECT_EQ(counts.pending, 0u);
  EXPECT_EQ(counts.processed, 1u);
  EXPECT_EQ(counts.skipped,
            (std::map<std::string, std::uint64_t>{{"bad_data", 1}, {"typetag_not_supported", 1}}));
  EXPECT_THAT(counts.in_flight, IsEmpty());
  EXPECT_EQ(finish_marked(*cache_, std::vector<EntryResult>{}, "w1"), 0u);
}

TEST_P(StoreContract, FinishMarksOnlyEntriesWhoseLeaseTheWorkerHolds) {
  std::string a = add("a"), b = add("b"), c = add("c");
  ok(cache_->claim(claim_request("w1", 2)));  // a, b
  ok(cache_->claim(claim_request("w2", 1)));  // c
  std::vector<EntryResult> results = {processed(a, {"ha"}), processed(c, {"hc"})};
  Finished f = finish(*cache_, results, "w1");
  EXPECT_EQ(f.marked, 1u);
  EXPECT_EQ(f.lost, (Strings{c}));
  auto infos = entries();
  EXPECT_EQ(infos[0].state, "processed");
  EXPECT_EQ(infos[1].state, "pending");
  EXPECT_EQ(infos[1].lease_owner, "w1");
  EXPECT_EQ(infos[1].finished_at, 0);
  EXPECT_EQ(infos[2].state, "pending");
  EXPECT_EQ(infos[2].lease_owner, "w2");
  std::vector<EntryResult> on_c = {processed(c, {"hc"})};
  EXPECT_EQ(finish_marked(*cache_, on_c, "w2"), 1u);
}

TEST_P(StoreContract, ClaimWithoutAWorkerIsRefused) {
  add("a");
  EXPECT_EQ(cache_->claim(claim_request("")).error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(ok(cache_->count_claimable(false)), 1u);
}

// An id the backend cannot parse names no entry of the store: found by no
// lookup, reported lost by finish, ignored by release; no call fails for it.
TEST_P(StoreContract, AnUnparsableIdNamesNoEntry) {
  std::string a = add("a");
  ok(cache_->claim(claim_request("w1")));
  EntryFilter ids;
  ids.ids = {"not-an-id", a};
  EXPECT_EQ(listed(ids), (Strings{a}));
  ids.ids = {"not-an-id"};
  EXPECT_THAT(listed(ids), IsEmpty());
  EXPECT_EQ(ok(cache_->requeue(ids)), 0u);
  Strings both = {"not-an-id", a};
  release_tried(*cache_, both, "w1");
  EXPECT_EQ(entries()[0].lease_owner, "");
  ok(cache_->claim(claim_request("w1")));
  std::vector<EntryResult> results = {processed("not-an-id", {"h"}), processed(a, {"ha"})};
  Finished f = finish(*cache_, results, "w1");
  EXPECT_EQ(f.marked, 1u);
  EXPECT_EQ(f.lost, (Strings{"not-an-id"}));
}

TEST_P(StoreContract, ReleaseEndsOnlyOwnLease) {
  std::string a = add("a"), b = add("b");
  ok(cache_->claim(claim_request("w1")));
  Strings both = {a, b};
  release_tried(*cache_, both, "w2");  // not w2's to release
  EXPECT_EQ(ok(cache_->count_claimable(false)), 0u);
  Strings one = {b};
  release_tried(*cache_, one, "w1");
  EXPECT_EQ(ok(cache_->count_claimable(false)), 1u);
  auto infos = entries();
  EXPECT_EQ(infos[1].state, "pending");
  EXPECT_EQ(infos[1].lease_owner, "");
  auto taken = ok(cache_->claim(claim_request("w2")));
  EXPECT_EQ(ids_of(taken), (Strings{b}));
  EXPECT_EQ(taken[0].attempts, 2);  // a tried release keeps the attempt
}

TEST_P(StoreContract, ForceRetakesSkippedAndFinishOverwritesTheSkip) {
  std::string a = add("a"), b = add("b"), c = add("c");
  ok(cache_->claim(claim_request("w1")));
  std::vector<EntryResult> results = {skipped(a, kStateBadData, "truncated"), processed(b, {"hb"}),
                                      skipped(c, kStateError, "again")};
  EXPECT_EQ(finish_marked(*cache_, results, "w1"), 3u);
  EXPECT_THAT(ok(cache_->claim(claim_request("w1"))), IsEmpty());
  EXPECT_EQ(ok(cache_->count_claimable(false)), 0u);
  EXPECT_EQ(ok(cache_->count_claimable(true)), 2u);

  auto forced = ok(cache_->claim(claim_request("w2", 64, /*force=*/true)));
  EXPECT_EQ(ids_of(forced), (Strings{a, c}));  // the processed one stays done
  EXPECT_EQ(forced[0].attempts, 2);
  // Until finished it is still reported skipped, and requeue leaves it alone.
  EXPECT_EQ(entries()[0].state, "bad_data");
  EXPECT_EQ(ok(cache_->requeue(with_state("skipped"))), 0u);
  std::vector<EntryResult> done = {processed(a, {"ha"})};
  EXPECT_EQ(finish_marked(*cache_, done, "w2"), 1u);
  EntryInfo info = entries()[0];
  EXPECT_EQ(info.state, "processed");
  EXPECT_EQ(info.reason, "");
  EXPECT_THAT(info.refs, ElementsAre("ha"));
  CacheCounts counts = entry_counts(*cache_);
  EXPECT_EQ(counts.processed, 2u);
  EXPECT_EQ(counts.skipped, (std::map<std::string, std::uint64_t>{{"error", 1}}));
  ASSERT_EQ(counts.in_flight.size(), 1u);  // c, still leased by the forced claim
  EXPECT_EQ(counts.in_flight[0].worker, "w2");
  EXPECT_EQ(counts.in_flight[0].entries, 1u);
}

// ---- attempts count real tries; a forced pass tries each skip once ---------

TEST_P(StoreContract, ReleaseUntriedGivesTheAttemptBack) {
  std::string a = add("a");
  ok(cache_->claim(claim_request("w1")));
  Strings ids = {a};
  release_untried(*cache_, ids, "w1");
  auto taken = ok(cache_->claim(claim_request("w2")));
  ASSERT_EQ(ids_of(taken), (Strings{a}));
  EXPECT_EQ(taken[0].attempts, 1);
  EXPECT_EQ(entries()[0].entry.attempts, 1);
}

TEST_P(StoreContract, ForcedClaimRetakesOnlySkipsFinishedBefore) {
  std::string a = add("a"), b = add("b");
  ok(cache_->claim(claim_request("w1", 1)));
  std::vector<EntryResult> first = {skipped(a, kStateBadData, "truncated")};
  ASSERT_EQ(finish_marked(*cache_, first, "w1"), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const double pass_start = now_seconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ok(cache_->claim(claim_request("w1", 1)));
  std::vector<EntryResult> second = {skipped(b, kStateBadData, "truncated")};
  ASSERT_EQ(finish_marked(*cache_, second, "w1"), 1u);
  // b was skipped during this pass: a forced pass tries it no more.
  EXPECT_EQ(ids_of(ok(cache_->claim(forced_claim("w2", pass_start)))), (Strings{a}));
  EXPECT_THAT(ok(cache_->claim(forced_claim("w2", pass_start))), IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreContract, ::testing::ValuesIn(contract_configs()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace cybexp::testing
