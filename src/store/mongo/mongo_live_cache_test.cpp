// MongoCache against a live server (CYBEXP_TEST_MONGODB_URI), what only it
// does: entries and GridFS blobs as the upstream API module writes them, the
// upstream fields finish and requeue write. What every backend promises is in
// the store contract suite (src/store/store_contract_*_test.cpp).
#include <chrono>
#include <set>
#include <thread>

#include "store/mongo/mongo_test_fixture.h"

namespace cybexp::mongo {
namespace {

using MongoCacheLive = MongoLive;

BsonPtr by_id(const std::string& id) { return Doc().oid("_id", *parse_oid(id)).take(); }

TEST_F(MongoCacheLive, AddEntryWritesWhatTheApiModuleWrites) {
  auto store = open_cache();
  std::string id = ok(store->add_entry(new_entry("one"), bytes("0123456789")));
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

  ClaimRequest req = claim_request("w1");
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

  auto claimed = ok(store->claim(claim_request("w")));
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
}

TEST_F(MongoCacheLive, LargeBlobsRoundTripThroughGridfs) {
  // CongoDB handles at most 16 MiB in GridFS; a real server takes 64 MiB.
  const std::size_t size = congo() ? (16u << 20) - 1024 : 64u << 20;
  if (congo()) std::cout << "[   NOTE   ] CongoDB: blob of 16 MiB instead of 64 MiB\n";
  auto store = open_cache();
  std::vector<std::uint8_t> big(size);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 2654435761u >> 13);
  ok(store->add_entry(new_entry("big"), big));
  auto claimed = ok(store->claim(claim_request("w")));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].blob_size, big.size());
  EXPECT_FALSE(claimed[0].blob.has_value());
  EXPECT_TRUE(ok(store->fetch_blob(claimed[0], big.size())) == big);
  auto over = store->fetch_blob(claimed[0], big.size() - 1);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().kind, ErrorKind::kLimit);
}

TEST_F(MongoCacheLive, FinishMarksEntriesAsUpstreamDoes) {
  auto store = open_cache();
  std::string a = ok(store->add_entry(new_entry("a"), bytes("a")));
  std::string b = ok(store->add_entry(new_entry("b"), bytes("b")));
  std::string c = ok(store->add_entry(new_entry("c", "nope"), bytes("c")));
  // a was archived once before (upstream adds to the _ref set).
  BsonPtr sel = by_id(a);
  BsonPtr pre = Doc().sub("$set", std::move(Doc().sub("_ref", std::move(Doc::array().str("", "h0"))))).take();
  update(cache_.db, cache_.coll, sel.get(), pre.get());
  ok(store->claim(claim_request("w")));
  std::vector<EntryResult> results = {
      processed(a, {"h1"}),
      skipped(b, kStateBadData, "the blob fails authentication"),
      skipped(c, kStateNotSupported, "typetag 'nope' is not in the registry"),
  };
  EXPECT_EQ(finish_marked(*store, results, "w"), 3u);

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

  // The _ref set as upstream keeps it, the earlier hash included.
  EXPECT_EQ(entries_of(*store)[0].refs, (std::vector<std::string>{"h0", "h1"}));

  // A forced run takes b again; success clears the skip marks.
  ClaimRequest force = claim_request("w", 1, /*force=*/true);
  EXPECT_EQ(ids_of(ok(store->claim(force))), (std::vector<std::string>{b}));
  EXPECT_EQ(finish_marked(*store, std::vector{processed(b, {"h3"})}, "w"), 1u);
  docs = find(cache_.db, cache_.coll);
  EXPECT_TRUE(get_true(docs[1].get(), "processed"));
  EXPECT_FALSE(find_field(docs[1].get(), "skip", &it));
  EXPECT_FALSE(find_field(docs[1].get(), "state", &it));
  EXPECT_FALSE(find_field(docs[1].get(), "reason", &it));
}

TEST_F(MongoCacheLive, ConcurrentClaimsNeverShareAnEntry) {
  auto store = open_cache();
  auto other = open_cache();
  std::set<std::string> all;
  for (int i = 0; i < 40; ++i) all.insert(ok(store->add_entry(new_entry("e"), bytes("x"))));
  std::vector<std::string> got1, got2;
  auto worker = [](std::shared_ptr<MongoCache> s, std::string name, std::vector<std::string>& got) {
    for (;;) {
      auto batch = ok(s->claim(claim_request(name, 3)));
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

// More than a page (500) of entries, old ones that say `typtag`.
TEST_F(MongoCacheLive, ForEachEntryPagesAndReadsTheOldTypetagField) {
  auto store = open_cache();
  Client client = pool_->acquire();
  Collection coll = client.collection(cache_.db, cache_.coll);
  for (int i = 0; i < 1200; ++i) {
    BsonPtr d = Doc().oid("_id", new_oid()).str("typtag", "old").dbl("timestamp", 5.5)
                    .boolean("processed", false).take();
    ASSERT_TRUE(mongoc_collection_insert_one(coll.get(), d.get(), nullptr, nullptr, nullptr));
  }
  EntryFilter f;
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

TEST_F(MongoCacheLive, RequeuedEntriesAreBackInTheApiModulesShape) {
  auto store = open_cache();
  std::vector<std::string> id;
  for (int i = 0; i < 3; ++i) id.push_back(ok(store->add_entry(new_entry("e"), bytes("x"))));
  ok(store->claim(claim_request("w")));
  std::vector<EntryResult> results = {processed(id[0], {"h"}), skipped(id[1], kStateBadData, "r1"),
                                      skipped(id[2], kStateError, "r2")};
  ASSERT_EQ(finish_marked(*store, results, "w"), 3u);
  EntryFilter done;
  done.state = "processed";
  EXPECT_EQ(ok(store->requeue(done)), 1u);
  EXPECT_EQ(ok(store->requeue({})), 2u);
  auto docs = find(cache_.db, cache_.coll);
  ASSERT_EQ(docs.size(), 3u);
  bson_iter_t it;
  for (int i : {0, 1, 2}) {
    EXPECT_FALSE(find_field(docs[i].get(), "skip", &it)) << i;
    EXPECT_FALSE(find_field(docs[i].get(), "state", &it)) << i;
    EXPECT_FALSE(find_field(docs[i].get(), "reason", &it)) << i;
    EXPECT_FALSE(get_true(docs[i].get(), "processed")) << i;
  }
  EXPECT_FALSE(find_field(docs[0].get(), "_ref", &it));
}

}  // namespace
}  // namespace cybexp::mongo
