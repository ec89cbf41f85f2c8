// MongoCache against a live server (CYBEXP_TEST_MONGODB_URI): upstream-shaped
// entries, GridFS blobs, claims and leases, finish, requeue, counts.
#include <chrono>
#include <set>
#include <thread>

#include "store/mongo/mongo_test_fixture.h"

namespace cybexp::mongo {
namespace {

using MongoCacheLive = MongoLive;

std::vector<EntryInfo> entries_of(CacheStore& store, const EntryFilter& filter = {}) {
  std::vector<EntryInfo> out;
  ok(store.for_each_entry(filter, [&](const EntryInfo& e) {
    out.push_back(e);
    return true;
  }));
  return out;
}

template <class T>
std::vector<std::string> ids_of(const std::vector<T>& items) {
  std::vector<std::string> out;
  for (const auto& i : items) {
    if constexpr (std::is_same_v<T, EntryInfo>) out.push_back(i.entry.id);
    else out.push_back(i.id);
  }
  return out;
}

BsonPtr by_id(const std::string& id) { return Doc().oid("_id", *parse_oid(id)).take(); }

TEST_F(MongoCacheLive, AddEntryWritesWhatTheApiModuleWrites) {
  auto store = open_cache();
  std::string id = ok(store->add_entry(entry("one"), bytes("0123456789")));
  auto docs = find(cache_.db, cache_.coll);
  ASSERT_EQ(docs.size(), 1u);
  const bson_t* d = docs[0].get();
  EXPECT_EQ(oid_hex(*get_oid(d, "_id")), id);
  // Field by field, with the BSON types pymongo uses.
  bson_iter_t it;
  std::vector<std::string> keys;
  ASSERT_TRUE(bson_iter_init(&it, d));
  while (bson_iter_next(&it)) keys.emplace_back(bson_iter_key(&it));
  EXPECT_EQ(keys, (std::vector<std::string>{"_id", "name", "typetag", "orgid", "timezone",
                                            "timestamp", "processed", "fid"}));
  ASSERT_TRUE(find_field(d, "timestamp", &it));
  EXPECT_EQ(bson_iter_type(&it), BSON_TYPE_DOUBLE);
  EXPECT_EQ(bson_iter_double(&it), 1700000000.25);
  ASSERT_TRUE(find_field(d, "processed", &it));
  EXPECT_EQ(bson_iter_type(&it), BSON_TYPE_BOOL);
  EXPECT_FALSE(bson_iter_bool(&it));
  auto fid = get_oid(d, "fid");
  ASSERT_TRUE(fid.has_value());
  BsonPtr file_query = Doc().oid("_id", *fid).take();
  auto files = find(cache_.db, "fs.files", file_query.get());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(gridfs_length(files[0].get()), 10u);
  EXPECT_EQ(get_string(files[0].get(), "filename"), "one");
}

TEST_F(MongoCacheLive, ClaimsUpstreamEntriesWithInlineBlobs) {
  auto store = open_cache();
  bson_oid_t small = upload(bytes("0123456789"));
  bson_oid_t large = upload(std::vector<std::uint8_t>(100, 7));
  // As the API module writes them, one of them from the days of `typtag`.
  insert(cache_.db, cache_.coll,
         R"({"_id": {"$oid": "5ea7816a2b3c4d5e6f700001"}, "name": "a.json", "typetag": "cowrie",
             "orgid": "org-\u00e9", "timezone": "US/Pacific",
             "timestamp": {"$numberDouble": "1712345678.123456"}, "processed": false,
             "fid": {"$oid": ")" + oid_hex(small) + R"("}})");
  insert(cache_.db, cache_.coll,
         R"({"_id": {"$oid": "5ea7816a2b3c4d5e6f700002"}, "name": "b.json", "typtag": "unr-honeypot",
             "orgid": "o", "timezone": "UTC", "timestamp": {"$numberDouble": "1712345679.5"},
             "processed": false, "fid": {"$oid": ")" + oid_hex(large) + R"("}})");
  // Already processed by upstream: never claimed.
  insert(cache_.db, cache_.coll,
         R"({"_id": {"$oid": "5ea7816a2b3c4d5e6f700000"}, "typetag": "cowrie", "processed": true,
             "_ref": ["h0"]})");

  ClaimRequest req = request("w1");
  req.inline_blob_max = 50;
  auto claimed = ok(store->claim(req));
  ASSERT_EQ(ids_of(claimed), (std::vector<std::string>{"5ea7816a2b3c4d5e6f700001",
                                                       "5ea7816a2b3c4d5e6f700002"}));
  EXPECT_EQ(claimed[0].name, "a.json");
  EXPECT_EQ(claimed[0].typetag, "cowrie");
  EXPECT_EQ(claimed[0].orgid, "org-\xc3\xa9");
  EXPECT_EQ(claimed[0].timezone, "US/Pacific");
  EXPECT_EQ(claimed[0].timestamp, 1712345678.123456);
  EXPECT_EQ(claimed[0].attempts, 1);
  EXPECT_EQ(claimed[0].blob_size, 10u);
  ASSERT_TRUE(claimed[0].blob.has_value());
  EXPECT_EQ(*claimed[0].blob, bytes("0123456789"));
  EXPECT_EQ(claimed[1].typetag, "unr-honeypot");
  EXPECT_EQ(claimed[1].blob_size, 100u);
  EXPECT_FALSE(claimed[1].blob.has_value());  // over inline_blob_max

  EXPECT_EQ(ok(store->fetch_blob(claimed[1], 100)), std::vector<std::uint8_t>(100, 7));
  auto over = store->fetch_blob(claimed[1], 99);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().kind, ErrorKind::kLimit);
  EXPECT_EQ(over.error().message,
            "blob is 100 bytes, over the 99-byte limit (limits.max_blob_bytes)");
  EXPECT_TRUE(ok(store->claim(req)).empty());  // all leased
}

TEST_F(MongoCacheLive, MissingOrDamagedBlobIsBadData) {
  auto store = open_cache();
  bson_oid_t gone = upload(bytes("abc"));
  bson_oid_t damaged = upload(std::vector<std::uint8_t>(300000, 1));  // two chunks
  insert(cache_.db, cache_.coll, R"({"_id": {"$oid": "5ea7816a2b3c4d5e6f700001"},
      "typetag": "x", "timestamp": {"$numberDouble": "1.5"}, "processed": false})");
  insert(cache_.db, cache_.coll, R"({"_id": {"$oid": "5ea7816a2b3c4d5e6f700002"},
      "typetag": "x", "timestamp": {"$numberDouble": "1.5"}, "processed": false,
      "fid": {"$oid": ")" + oid_hex(gone) + R"("}})");
  insert(cache_.db, cache_.coll, R"({"_id": {"$oid": "5ea7816a2b3c4d5e6f700003"},
      "typetag": "x", "timestamp": {"$numberDouble": "1.5"}, "processed": false,
      "fid": {"$oid": ")" + oid_hex(damaged) + R"("}})");
  BsonPtr gone_file = Doc().oid("_id", gone).take();
  remove(cache_.db, "fs.files", gone_file.get());
  BsonPtr second_chunk = Doc().oid("files_id", damaged).int32("n", 1).take();
  remove(cache_.db, "fs.chunks", second_chunk.get());

  auto claimed = ok(store->claim(request("w")));
  ASSERT_EQ(claimed.size(), 3u);
  for (int i : {0, 1}) {
    EXPECT_EQ(claimed[i].blob_size, 0u);
    EXPECT_FALSE(claimed[i].blob.has_value());
    auto blob = store->fetch_blob(claimed[i], 1000);
    ASSERT_FALSE(blob);
    EXPECT_EQ(blob.error().kind, ErrorKind::kBadData);
    EXPECT_EQ(blob.error().message,
              i == 0 ? "entry has no blob: it has no fid (the API module never wrote the blob)"
                     : "entry has no blob: fs.files has no file " + oid_hex(gone) +
                           " (the API module never wrote it, or it was deleted)");
  }
  EXPECT_EQ(claimed[2].blob_size, 300000u);
  auto blob = store->fetch_blob(claimed[2], 1u << 20);
  ASSERT_FALSE(blob);
  EXPECT_EQ(blob.error().kind, ErrorKind::kBadData);
  EXPECT_TRUE(blob.error().message.starts_with("entry's blob is damaged: ")) << blob.error().message;
  CacheEntry bogus;
  bogus.id = "not-an-id";
  EXPECT_EQ(store->fetch_blob(bogus, 10).error().kind, ErrorKind::kInvalidArgument);
}

TEST_F(MongoCacheLive, LargeBlobsRoundTripThroughGridfs) {
  // CongoDB handles at most 16 MiB in GridFS; a real server takes 64 MiB.
  const std::size_t size = congo() ? (16u << 20) - 1024 : 64u << 20;
  if (congo()) std::cout << "[   NOTE   ] CongoDB: blob of 16 MiB instead of 64 MiB\n";
  auto store = open_cache();
  std::vector<std::uint8_t> big(size);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 2654435761u >> 13);
  ok(store->add_entry(entry("big"), big));
  auto claimed = ok(store->claim(request("w")));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].blob_size, big.size());
  EXPECT_FALSE(claimed[0].blob.has_value());
  EXPECT_TRUE(ok(store->fetch_blob(claimed[0], big.size())) == big);
  auto over = store->fetch_blob(claimed[0], big.size() - 1);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().kind, ErrorKind::kLimit);
}

TEST_F(MongoCacheLive, LiveLeaseBlocksOthersExpiredLeaseDoesNot) {
  auto store = open_cache();
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

  // w1 lost its lease: its results are ignored; w2's count, once.
  std::vector<EntryResult> results = {done(a, {"h1"}), done(b, {"h2"})};
  EXPECT_EQ(ok(store->finish(results, "w1")).marked, 0u);
  EXPECT_EQ(ok(store->entry_counts()).processed, 0u);
  EXPECT_EQ(ok(store->finish(results, "w2")).marked, 2u);
  EXPECT_EQ(ok(store->finish(results, "w2")).marked, 0u);
  EXPECT_EQ(ok(store->entry_counts()).processed, 2u);
}

TEST_F(MongoCacheLive, FinishMarksEntriesAsUpstreamDoes) {
  auto store = open_cache();
  std::string a = ok(store->add_entry(entry("a"), bytes("a")));
  std::string b = ok(store->add_entry(entry("b"), bytes("b")));
  std::string c = ok(store->add_entry(entry("c", "nope"), bytes("c")));
  // a was archived once before (upstream adds to the _ref set).
  BsonPtr sel = by_id(a);
  BsonPtr pre = Doc().sub("$set", std::move(Doc().sub("_ref", std::move(Doc::array().str("", "h0"))))).take();
  update(cache_.db, cache_.coll, sel.get(), pre.get());
  ok(store->claim(request("w")));
  std::vector<EntryResult> results = {
      done(a, {"h1"}),
      skipped(b, kStateBadData, "the blob fails authentication"),
      skipped(c, kStateNotSupported, "typetag 'nope' is not in the registry"),
  };
  EXPECT_EQ(ok(store->finish(results, "w")).marked, 3u);

  auto docs = find(cache_.db, cache_.coll);
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_TRUE(get_true(docs[0].get(), "processed"));
  EXPECT_EQ(get_string_array(docs[0].get(), "_ref"), (std::vector<std::string>{"h0", "h1"}));
  bson_iter_t it;
  EXPECT_FALSE(find_field(docs[0].get(), "skip", &it));
  EXPECT_FALSE(find_field(docs[0].get(), "_cybexp_lease", &it));
  ASSERT_TRUE(find_field(docs[1].get(), "processed", &it));
  EXPECT_FALSE(bson_iter_bool(&it));  // a skipped entry stays processed: false
  EXPECT_TRUE(get_true(docs[1].get(), "skip"));
  EXPECT_EQ(get_string(docs[1].get(), "state"), "bad_data");
  EXPECT_EQ(get_string(docs[1].get(), "reason"), "the blob fails authentication");
  EXPECT_EQ(get_string(docs[2].get(), "state"), "typetag_not_supported");

  auto infos = entries_of(*store);
  ASSERT_EQ(infos.size(), 3u);
  EXPECT_EQ(infos[0].state, "processed");
  EXPECT_EQ(infos[0].refs, (std::vector<std::string>{"h0", "h1"}));
  EXPECT_EQ(infos[0].lease_owner, "");
  EXPECT_GT(infos[0].finished_at, 1.6e9);
  EXPECT_EQ(infos[1].state, "bad_data");
  EXPECT_EQ(infos[1].reason, "the blob fails authentication");
  EXPECT_EQ(infos[2].state, "typetag_not_supported");
  EXPECT_EQ(infos[2].entry.blob_size, 1u);
  EXPECT_EQ(infos[2].entry.attempts, 1);

  CacheCounts counts = ok(store->entry_counts());
  EXPECT_EQ(counts.pending, 0u);
  EXPECT_EQ(counts.processed, 1u);
  EXPECT_EQ(counts.skipped, (std::map<std::string, std::uint64_t>{
                                {"bad_data", 1}, {"typetag_not_supported", 1}}));
  EXPECT_TRUE(counts.in_flight.empty());

  // A forced run takes the skipped ones again; success clears the skip marks.
  EXPECT_TRUE(ok(store->claim(request("w"))).empty());
  EXPECT_EQ(ok(store->count_claimable(true)), 2u);
  ClaimRequest force = request("w");
  force.force = true;
  auto retaken = ok(store->claim(force));
  EXPECT_EQ(ids_of(retaken), (std::vector<std::string>{b, c}));
  EXPECT_EQ(retaken[0].attempts, 2);
  EXPECT_EQ(ok(store->finish(std::vector{done(b, {"h3"})}, "w")).marked, 1u);
  docs = find(cache_.db, cache_.coll);
  EXPECT_TRUE(get_true(docs[1].get(), "processed"));
  EXPECT_FALSE(find_field(docs[1].get(), "skip", &it));
  EXPECT_FALSE(find_field(docs[1].get(), "reason", &it));
  counts = ok(store->entry_counts());
  EXPECT_EQ(counts.processed, 2u);
  ASSERT_EQ(counts.in_flight.size(), 1u);  // c, leased by the forced claim
  EXPECT_EQ(counts.in_flight[0].worker, "w");
  EXPECT_EQ(counts.in_flight[0].entries, 1u);

  EXPECT_EQ(store->finish(std::vector{done("abc", {})}, "w").error().kind,
            ErrorKind::kInvalidArgument);
  EXPECT_EQ(store->claim(request("")).error().kind, ErrorKind::kInvalidArgument);
}

TEST_F(MongoCacheLive, ReleaseEndsOnlyOwnLease) {
  auto store = open_cache();
  std::string a = ok(store->add_entry(entry("a"), bytes("a")));
  std::string b = ok(store->add_entry(entry("b"), bytes("b")));
  ok(store->claim(request("w1")));
  std::vector<std::string> both = {a, b};
  ok(store->release(both, "w2", ReleaseKind::kTried));
  EXPECT_EQ(ok(store->count_claimable(false)), 0u);
  std::vector<std::string> one = {b};
  ok(store->release(one, "w1", ReleaseKind::kTried));
  EXPECT_EQ(ok(store->count_claimable(false)), 1u);
  auto taken = ok(store->claim(request("w2")));
  EXPECT_EQ(ids_of(taken), (std::vector<std::string>{b}));
  EXPECT_EQ(taken[0].attempts, 2);
}

TEST_F(MongoCacheLive, ConcurrentClaimsNeverShareAnEntry) {
  auto store = open_cache();
  auto other = open_cache();
  std::set<std::string> all;
  for (int i = 0; i < 40; ++i) all.insert(ok(store->add_entry(entry("e" + std::to_string(i)), bytes("x"))));
  std::vector<std::string> got1, got2;
  auto worker = [](std::shared_ptr<MongoCache> s, std::string name, std::vector<std::string>& got) {
    for (;;) {
      auto batch = ok(s->claim(request(name, 3)));
      if (batch.empty()) return;
      for (auto& e : batch) got.push_back(e.id);
    }
  };
  std::thread t1(worker, store, "w1", std::ref(got1));
  std::thread t2(worker, other, "w2", std::ref(got2));
  t1.join();
  t2.join();
  std::set<std::string> seen(got1.begin(), got1.end());
  for (const auto& id : got2) EXPECT_TRUE(seen.insert(id).second) << id << " claimed twice";
  EXPECT_EQ(seen, all);
  EXPECT_EQ(got1.size() + got2.size(), 40u);
}

TEST_F(MongoCacheLive, ForEachEntryFiltersAndPages) {
  auto store = open_cache();
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    NewEntry e = entry("e" + std::to_string(i), i % 2 ? "cowrie" : "unr-honeypot");
    e.timestamp = 1000.5 + i;
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
  f.since = 1002.5;
  f.until = 1004.5;
  EXPECT_EQ(ids_of(entries_of(*store, f)), (std::vector<std::string>{ids[2], ids[3]}));
  f = {};
  f.ids = {ids[5], ids[0]};
  EXPECT_EQ(ids_of(entries_of(*store, f)), (std::vector<std::string>{ids[0], ids[5]}));
  auto leased = entries_of(*store);
  EXPECT_EQ(leased[3].lease_owner, "w");
  EXPECT_GT(leased[3].lease_until, 1.6e9);
  EXPECT_EQ(leased[4].lease_owner, "");

  // More than a page (500), and old entries that say `typtag`.
  Client client = pool_->acquire();
  Collection coll = client.collection(cache_.db, cache_.coll);
  for (int i = 0; i < 1200; ++i) {
    BsonPtr d = Doc().oid("_id", new_oid()).str("typtag", "old").dbl("timestamp", 5.5)
                    .boolean("processed", false).take();
    ASSERT_TRUE(mongoc_collection_insert_one(coll.get(), d.get(), nullptr, nullptr, nullptr));
  }
  f = {};
  f.typetag = "old";
  std::string last;
  std::size_t n = 0;
  ok(store->for_each_entry(f, [&](const EntryInfo& e) {
    EXPECT_GT(e.entry.id, last);
    EXPECT_EQ(e.entry.typetag, "old");
    last = e.entry.id;
    ++n;
    return true;
  }));
  EXPECT_EQ(n, 1200u);
}

TEST_F(MongoCacheLive, RequeueLeavesLiveLeasesAlone) {
  auto store = open_cache();
  std::vector<std::string> id;
  for (int i = 0; i < 6; ++i) {
    id.push_back(ok(store->add_entry(entry("e" + std::to_string(i), i == 4 ? "cowrie" : "x"),
                                     bytes("x"))));
  }
  ok(store->claim(request("w", 5)));
  ok(store->finish(std::vector{done(id[0], {"h"}), skipped(id[1], kStateBadData, "r1"),
                               skipped(id[2], kStateError, "r2"), skipped(id[3], kStateBadData, "r3"),
                               skipped(id[4], kStateError, "r4")},
                   "w"));
  // id[3] is being retried by a forced run right now.
  BsonPtr sel = by_id(id[3]);
  BsonPtr lease = Doc().sub("$set", std::move(Doc().str(kFieldLeaseOwner, "forced")
                                                  .date(kFieldLeaseUntil, now_ms() + 3600000)))
                      .take();
  update(cache_.db, cache_.coll, sel.get(), lease.get());

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

  // Requeued entries are back in the API module's shape.
  auto docs = find(cache_.db, cache_.coll);
  bson_iter_t it;
  for (int i : {0, 1, 2, 4}) {
    EXPECT_FALSE(find_field(docs[i].get(), "skip", &it)) << i;
    EXPECT_FALSE(find_field(docs[i].get(), "state", &it)) << i;
    EXPECT_FALSE(find_field(docs[i].get(), "reason", &it)) << i;
    EXPECT_FALSE(get_true(docs[i].get(), "processed")) << i;
  }
  EXPECT_FALSE(find_field(docs[0].get(), "_ref", &it));
  auto infos = entries_of(*store);
  EXPECT_EQ(infos[3].state, "bad_data");
  EXPECT_EQ(infos[3].lease_owner, "forced");
  CacheCounts counts = ok(store->entry_counts());
  EXPECT_EQ(counts.pending, 5u);
  EXPECT_EQ(counts.skipped, (std::map<std::string, std::uint64_t>{{"bad_data", 1}}));
  auto again = ok(store->claim(request("w2")));
  EXPECT_EQ(ids_of(again), (std::vector<std::string>{id[0], id[1], id[2], id[4], id[5]}));
}

}  // namespace
}  // namespace cybexp::mongo
