// PostgresStore as the cache, against a real server: schema, entries, blobs,
// leases, finish, requeue, counts and iteration, with exact values.
#include <chrono>
#include <thread>

#include "store/postgres/pg_test_fixture.h"

namespace cybexp::pg {
namespace {

using Cache = PostgresTest;

std::vector<EntryInfo> entries_of(CacheStore& store, const EntryFilter& filter = {}) {
  std::vector<EntryInfo> out;
  ok(store.for_each_entry(filter, [&](const EntryInfo& e) {
    out.push_back(e);
    return true;
  }));
  return out;
}

std::vector<std::string> ids_of(const std::vector<EntryInfo>& infos) {
  std::vector<std::string> out;
  for (const auto& i : infos) out.push_back(i.entry.id);
  return out;
}

std::vector<std::string> ids_of(const std::vector<CacheEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.id);
  return out;
}

TEST_F(Cache, SchemaCreatedAtVersionOneAndReopens) {
  auto store = open_store();
  EXPECT_EQ(ok(store->schema_version()), 1);
  auto again = open_store();  // existing schema: checked, not recreated
  EXPECT_EQ(ok(again->schema_version()), 1);
  EXPECT_EQ(ok(again->subtypes()).size(), 6u);
}

TEST_F(Cache, RefusesNewerSchema) {
  open_store();
  sql("UPDATE cybexp_meta SET value = '2' WHERE key = 'schema_version'");
  StoreConfig config{url_, "", ""};
  auto stores = open_postgres(&config, nullptr);
  ASSERT_FALSE(stores);
  EXPECT_EQ(stores.error().kind, ErrorKind::kDatabase);
  std::string db = url_.substr(url_.rfind('/') + 1);
  EXPECT_EQ(stores.error().message,
            "postgresql 127.0.0.1:" + std::to_string(test_server().port()) + "/" + db +
                ": schema: schema version 2 is newer than this cybexp-archive supports (1): "
                "upgrade cybexp-archive");
}

TEST_F(Cache, AddAndClaimWithInlineBlobs) {
  auto store = open_store();
  NewEntry e1 = entry("one");
  e1.timezone = "US/Pacific";
  e1.orgid = "org-\xc3\xa9";
  e1.timestamp = 1712345678.123456;
  std::string id1 = ok(store->add_entry(e1, bytes("0123456789")));
  std::string id2 = ok(store->add_entry(entry("two", "cowrie"), std::vector<std::uint8_t>(100, 7)));
  std::string id3 = ok(store->add_entry(entry("three"), {}));
  EXPECT_EQ(std::stoll(id2), std::stoll(id1) + 1);

  ClaimRequest req = request("w1");
  req.inline_blob_max = 50;
  auto claimed = ok(store->claim(req));
  ASSERT_EQ(claimed.size(), 3u);
  EXPECT_EQ(ids_of(claimed), (std::vector<std::string>{id1, id2, id3}));
  EXPECT_EQ(claimed[0].name, "one");
  EXPECT_EQ(claimed[0].typetag, "unr-honeypot");
  EXPECT_EQ(claimed[0].orgid, "org-\xc3\xa9");
  EXPECT_EQ(claimed[0].timezone, "US/Pacific");
  EXPECT_EQ(claimed[0].timestamp, 1712345678.123456);
  EXPECT_EQ(claimed[0].attempts, 1);
  EXPECT_EQ(claimed[0].blob_size, 10u);
  ASSERT_TRUE(claimed[0].blob.has_value());
  EXPECT_EQ(*claimed[0].blob, bytes("0123456789"));
  EXPECT_EQ(claimed[1].typetag, "cowrie");
  EXPECT_EQ(claimed[1].blob_size, 100u);
  EXPECT_FALSE(claimed[1].blob.has_value());  // over inline_blob_max
  EXPECT_EQ(claimed[2].blob_size, 0u);
  ASSERT_TRUE(claimed[2].blob.has_value());
  EXPECT_TRUE(claimed[2].blob->empty());

  EXPECT_EQ(ok(store->fetch_blob(claimed[1], 100)), std::vector<std::uint8_t>(100, 7));
  auto over = store->fetch_blob(claimed[1], 99);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().kind, ErrorKind::kLimit);
  EXPECT_EQ(over.error().message, "blob is 100 bytes, over the 99-byte limit (limits.max_blob_bytes)");

  EXPECT_TRUE(ok(store->claim(req)).empty());  // all leased
}

TEST_F(Cache, MissingBlobIsBadData) {
  auto store = open_store();
  std::string id = ok(store->add_entry(entry("x"), bytes("abc")));
  sql("DELETE FROM cybexp_blobs WHERE entry_id = " + id);
  auto claimed = ok(store->claim(request("w")));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].blob_size, 0u);
  EXPECT_FALSE(claimed[0].blob.has_value());
  auto blob = store->fetch_blob(claimed[0], 1000);
  ASSERT_FALSE(blob);
  EXPECT_EQ(blob.error().kind, ErrorKind::kBadData);
  EXPECT_EQ(blob.error().message, "entry has no blob");
  CacheEntry bogus;
  bogus.id = "not-an-id";
  EXPECT_EQ(store->fetch_blob(bogus, 10).error().kind, ErrorKind::kInvalidArgument);
}

TEST_F(Cache, LargeBlobComesBackInSlices) {
  auto store = open_store();
  std::vector<std::uint8_t> big(40u << 20);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 2654435761u >> 13);
  ok(store->add_entry(entry("big"), big));
  auto claimed = ok(store->claim(request("w")));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].blob_size, big.size());
  EXPECT_FALSE(claimed[0].blob.has_value());
  EXPECT_TRUE(ok(store->fetch_blob(claimed[0], big.size())) == big);
  EXPECT_EQ(store->fetch_blob(claimed[0], big.size() - 1).error().kind, ErrorKind::kLimit);
}

TEST_F(Cache, LiveLeaseBlocksOthersExpiredLeaseDoesNot) {
  auto store = open_store();
  std::string a = ok(store->add_entry(entry("a"), bytes("a")));
  std::string b = ok(store->add_entry(entry("b"), bytes("b")));
  ClaimRequest first = request("w1");
  first.lease_seconds = 1;
  EXPECT_EQ(ids_of(ok(store->claim(first))), (std::vector<std::string>{a, b}));
  EXPECT_TRUE(ok(store->claim(request("w2"))).empty());
  EXPECT_EQ(ok(store->count_claimable(false)), 0u);

  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_EQ(ok(store->count_claimable(false)), 2u);
  auto retaken = ok(store->claim(request("w2")));
  ASSERT_EQ(ids_of(retaken), (std::vector<std::string>{a, b}));
  EXPECT_EQ(retaken[0].attempts, 2);

  // w1 lost its lease: its results are ignored; w2's count.
  std::vector<EntryResult> results = {done(a, {"h1"}), done(b, {"h2"})};
  EXPECT_EQ(ok(store->finish(results, "w1")).marked, 0u);
  EXPECT_EQ(ok(store->entry_counts()).processed, 0u);
  EXPECT_EQ(ok(store->finish(results, "w2")).marked, 2u);
  EXPECT_EQ(ok(store->finish(results, "w2")).marked, 0u);  // never finished twice
  EXPECT_EQ(ok(store->entry_counts()).processed, 2u);
}

TEST_F(Cache, FinishRecordsResultsAndForceRetakesSkipped) {
  auto store = open_store();
  std::string a = ok(store->add_entry(entry("a"), bytes("a")));
  std::string b = ok(store->add_entry(entry("b"), bytes("b")));
  std::string c = ok(store->add_entry(entry("c", "nope"), bytes("c")));
  ok(store->claim(request("w")));
  std::vector<EntryResult> results = {
      done(a, {"h1", "h \"2\""}),
      skipped(b, kStateBadData, "the blob fails authentication"),
      skipped(c, kStateNotSupported, "typetag 'nope' is not in the registry"),
  };
  EXPECT_EQ(ok(store->finish(results, "w")).marked, 3u);

  auto infos = entries_of(*store);
  ASSERT_EQ(infos.size(), 3u);
  EXPECT_EQ(infos[0].state, "processed");
  EXPECT_EQ(infos[0].refs, (std::vector<std::string>{"h1", "h \"2\""}));
  EXPECT_EQ(infos[0].reason, "");
  EXPECT_EQ(infos[0].lease_owner, "");
  EXPECT_GT(infos[0].finished_at, 1.6e9);
  EXPECT_EQ(infos[1].state, "bad_data");
  EXPECT_EQ(infos[1].reason, "the blob fails authentication");
  EXPECT_TRUE(infos[1].refs.empty());
  EXPECT_EQ(infos[2].state, "typetag_not_supported");
  EXPECT_EQ(infos[2].entry.blob_size, 1u);
  EXPECT_EQ(infos[2].entry.attempts, 1);

  CacheCounts counts = ok(store->entry_counts());
  EXPECT_EQ(counts.pending, 0u);
  EXPECT_EQ(counts.processed, 1u);
  EXPECT_EQ(counts.skipped, (std::map<std::string, std::uint64_t>{
                                {"bad_data", 1}, {"typetag_not_supported", 1}}));
  EXPECT_TRUE(counts.in_flight.empty());

  EXPECT_TRUE(ok(store->claim(request("w"))).empty());
  EXPECT_EQ(ok(store->count_claimable(false)), 0u);
  EXPECT_EQ(ok(store->count_claimable(true)), 2u);
  ClaimRequest force = request("w");
  force.force = true;
  auto retaken = ok(store->claim(force));
  EXPECT_EQ(ids_of(retaken), (std::vector<std::string>{b, c}));
  EXPECT_EQ(retaken[0].attempts, 2);
  EXPECT_EQ(ok(store->finish(std::vector{done(b, {"h3"})}, "w")).marked, 1u);
  counts = ok(store->entry_counts());
  EXPECT_EQ(counts.processed, 2u);
  EXPECT_EQ(counts.skipped, (std::map<std::string, std::uint64_t>{{"typetag_not_supported", 1}}));
  EXPECT_EQ(counts.in_flight.size(), 1u);  // c, still leased by the forced claim
}

TEST_F(Cache, FinishRejectsBadInput) {
  auto store = open_store();
  EXPECT_EQ(store->finish(std::vector{done("abc", {})}, "w").error().kind,
            ErrorKind::kInvalidArgument);
  EXPECT_EQ(store->finish(std::vector{skipped("1", "", "")}, "w").error().kind,
            ErrorKind::kInvalidArgument);
  EXPECT_EQ(ok(store->finish(std::vector<EntryResult>{}, "w")).marked, 0u);
  EXPECT_EQ(store->claim(request("")).error().kind, ErrorKind::kInvalidArgument);
}

TEST_F(Cache, ReleaseEndsOnlyOwnLease) {
  auto store = open_store();
  std::string a = ok(store->add_entry(entry("a"), bytes("a")));
  std::string b = ok(store->add_entry(entry("b"), bytes("b")));
  ok(store->claim(request("w1")));
  std::vector<std::string> both = {a, b};
  ok(store->release(both, "w2", ReleaseKind::kTried));  // not w2's to release
  EXPECT_EQ(ok(store->count_claimable(false)), 0u);
  std::vector<std::string> one = {b};
  ok(store->release(one, "w1", ReleaseKind::kTried));
  EXPECT_EQ(ok(store->count_claimable(false)), 1u);
  auto taken = ok(store->claim(request("w2")));
  EXPECT_EQ(ids_of(taken), (std::vector<std::string>{b}));
  EXPECT_EQ(taken[0].attempts, 2);
}

TEST_F(Cache, CountsInFlightPerWorker) {
  auto store = open_store();
  for (int i = 0; i < 6; ++i) ok(store->add_entry(entry("e" + std::to_string(i)), bytes("x")));
  ok(store->claim(request("worker-b", 3)));
  ok(store->claim(request("worker-a", 2)));
  CacheCounts counts = ok(store->entry_counts());
  EXPECT_EQ(counts.pending, 6u);  // leased entries are still pending
  ASSERT_EQ(counts.in_flight.size(), 2u);
  EXPECT_EQ(counts.in_flight[0].worker, "worker-a");
  EXPECT_EQ(counts.in_flight[0].entries, 2u);
  EXPECT_EQ(counts.in_flight[1].worker, "worker-b");
  EXPECT_EQ(counts.in_flight[1].entries, 3u);
  double now = std::chrono::duration<double>(
                   std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_NEAR(counts.in_flight[0].oldest_claim, now, 30.0);
  EXPECT_LE(counts.in_flight[1].oldest_claim, counts.in_flight[0].oldest_claim);
  EXPECT_EQ(ok(store->count_claimable(false)), 1u);
}

TEST_F(Cache, ForEachEntryFilters) {
  auto store = open_store();
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    NewEntry e = entry("e" + std::to_string(i), i % 2 ? "cowrie" : "unr-honeypot");
    e.timestamp = 1000.0 + i;
    ids.push_back(ok(store->add_entry(e, bytes("x"))));
  }
  ok(store->claim(request("w", 4)));
  ok(store->finish(std::vector{done(ids[0], {"h"}), skipped(ids[1], kStateBadData, "r"),
                               skipped(ids[2], kStateError, "r")},
                   "w"));
  auto with_state = [&](std::string s) {
    EntryFilter f;
    f.state = std::move(s);
    return ids_of(entries_of(*store, f));
  };
  EXPECT_EQ(ids_of(entries_of(*store)), ids);
  EXPECT_EQ(with_state("pending"), (std::vector<std::string>{ids[3], ids[4], ids[5]}));
  EXPECT_EQ(with_state("processed"), (std::vector<std::string>{ids[0]}));
  EXPECT_EQ(with_state("skipped"), (std::vector<std::string>{ids[1], ids[2]}));
  EXPECT_EQ(with_state("error"), (std::vector<std::string>{ids[2]}));
  EXPECT_TRUE(with_state("no_such_state").empty());

  EntryFilter f;
  f.typetag = "cowrie";
  EXPECT_EQ(ids_of(entries_of(*store, f)), (std::vector<std::string>{ids[1], ids[3], ids[5]}));
  f = {};
  f.since = 1002.0;
  f.until = 1004.0;
  EXPECT_EQ(ids_of(entries_of(*store, f)), (std::vector<std::string>{ids[2], ids[3]}));
  f = {};
  f.ids = {ids[5], ids[0]};
  EXPECT_EQ(ids_of(entries_of(*store, f)), (std::vector<std::string>{ids[0], ids[5]}));
  f.ids = {"bogus"};
  EXPECT_EQ(store->for_each_entry(f, [](const EntryInfo&) { return true; }).error().kind,
            ErrorKind::kInvalidArgument);

  auto leased = entries_of(*store);
  EXPECT_EQ(leased[3].lease_owner, "w");
  EXPECT_GT(leased[3].lease_until, 1.6e9);
  EXPECT_EQ(leased[4].lease_owner, "");

  int seen = 0;
  ok(store->for_each_entry({}, [&](const EntryInfo&) { return ++seen < 2; }));
  EXPECT_EQ(seen, 2);
}

TEST_F(Cache, ForEachEntryPagesThroughManyEntries) {
  auto store = open_store();
  sql("INSERT INTO cybexp_entries (name, typetag) SELECT 'n' || i, 't' FROM generate_series(1, 1234) i");
  std::int64_t last = 0;
  std::size_t n = 0;
  ok(store->for_each_entry({}, [&](const EntryInfo& e) {
    EXPECT_GT(std::stoll(e.entry.id), last);
    last = std::stoll(e.entry.id);
    ++n;
    return true;
  }));
  EXPECT_EQ(n, 1234u);
}

TEST_F(Cache, RequeueByFilterLeavesLiveLeasesAlone) {
  auto store = open_store();
  std::vector<std::string> id;
  for (int i = 0; i < 6; ++i) {
    id.push_back(ok(store->add_entry(entry("e" + std::to_string(i), i == 4 ? "cowrie" : "x"),
                                     bytes("x"))));
  }
  ok(store->claim(request("w", 5)));
  ok(store->finish(std::vector{done(id[0], {"h"}), skipped(id[1], kStateBadData, "r1"),
                               skipped(id[2], kStateError, "r2"),
                               skipped(id[3], kStateBadData, "r3"),
                               skipped(id[4], kStateError, "r4")},
                   "w"));
  // id[3] is being retried by a forced run right now.
  sql("UPDATE cybexp_entries SET lease_owner = 'forced', lease_until = now() + interval '1 hour' "
      "WHERE id = " + id[3]);

  EntryFilter bad;
  bad.state = "bad_data";
  EXPECT_EQ(ok(store->requeue(bad)), 1u);  // id[1]; id[3] is under a live lease
  EntryFilter cowrie;
  cowrie.typetag = "cowrie";
  EXPECT_EQ(ok(store->requeue(cowrie)), 1u);  // id[4]
  EXPECT_EQ(ok(store->requeue({})), 1u);      // id[2]; processed ones stay
  EXPECT_EQ(ok(store->requeue({})), 0u);
  EntryFilter processed;
  processed.state = "processed";
  EXPECT_EQ(ok(store->requeue(processed)), 1u);  // id[0]

  auto infos = entries_of(*store);
  EXPECT_EQ(infos[0].state, "pending");
  EXPECT_TRUE(infos[0].refs.empty());
  EXPECT_EQ(infos[0].finished_at, 0);
  EXPECT_EQ(infos[1].state, "pending");
  EXPECT_EQ(infos[1].reason, "");
  EXPECT_EQ(infos[3].state, "bad_data");
  EXPECT_EQ(infos[3].lease_owner, "forced");
  CacheCounts counts = ok(store->entry_counts());
  EXPECT_EQ(counts.pending, 5u);
  EXPECT_EQ(counts.skipped, (std::map<std::string, std::uint64_t>{{"bad_data", 1}}));
  // The requeued entries are claimable again, oldest first.
  auto again = ok(store->claim(request("w2")));
  EXPECT_EQ(ids_of(again), (std::vector<std::string>{id[0], id[1], id[2], id[4], id[5]}));
}

}  // namespace
}  // namespace cybexp::pg
