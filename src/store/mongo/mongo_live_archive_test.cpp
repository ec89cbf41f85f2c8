// MongoArchive against a live server (CYBEXP_TEST_MONGODB_URI), what only it
// does: documents in the upstream shape, an upstream archive read as it is,
// duplicate hashes upstream left, the schema guard, and the archive loop end
// to end on MongoDB. What every backend promises is in the store contract
// suite (src/store/store_contract_*_test.cpp).

#include <algorithm>
#include "cybexp/archiver.h"
#include "cybexp/canonical.h"
#include "cybexp/parsemain.h"
#include "store/mongo/mongo_test_fixture.h"
#include "support/vectors.h"

namespace cybexp::mongo {
namespace {

using MongoArchiveLive = MongoLive;

std::vector<std::string> upstream_lines() { return testing::data_lines("cowrie_raw.txt"); }

std::string without_id(const bson_t* doc) {
  bson_t copy;
  bson_init(&copy);
  bson_copy_to_excluding_noinit(doc, &copy, "_id", nullptr);
  std::string out = canonical_json(&copy);
  bson_destroy(&copy);
  return out;
}

TEST_F(MongoArchiveLive, FreshCollectionGetsTheUniqueIndex) {
  auto store = open_archive();
  EXPECT_TRUE(store->unique_index());
  Client client = pool_->acquire();
  Collection coll = client.collection(archive_.db, archive_.coll);
  Cursor cursor(mongoc_collection_find_indexes_with_opts(coll.get(), nullptr));
  bool found = false;
  ok(drain_cursor(cursor.get(), "test", "indexes", [&](const bson_t* index) {
    if (get_string(index, "name") == std::string(kHashIndexName)) {
      found = true;
      EXPECT_TRUE(enforces_unique_hash(index)) << canonical_json(index);
    }
    return true;
  }));
  EXPECT_TRUE(found);
  EXPECT_EQ(ok(store->schema_version()), 1);
}

// The analytics module's query selects by sub_type: the index is made on
// every start (a no-op once there), on a collection that already holds
// documents, and one on sub_type under another name is as good.
TEST_F(MongoArchiveLive, TheSubTypeIndexIsMadeIdempotently) {
  auto index_names = [&] {
    Client client = pool_->acquire();
    Collection coll = client.collection(archive_.db, archive_.coll);
    Cursor cursor(mongoc_collection_find_indexes_with_opts(coll.get(), nullptr));
    std::vector<std::string> names;
    ok(drain_cursor(cursor.get(), "test", "indexes", [&](const bson_t* index) {
      names.push_back(get_string(index, "name").value_or(""));
      return true;
    }));
    std::sort(names.begin(), names.end());
    return names;
  };
  {
    auto store = open_archive();
    std::vector<RawDocument> docs = {{"aaaa", "cowrie", "o", "UTC", "{}"}};
    EXPECT_EQ(ok(store->put_documents(docs)), 1u);
  }
  const std::vector<std::string> expected = {"_id_", kHashIndexName, kSubTypeIndexName};
  EXPECT_EQ(index_names(), expected);
  auto again = open_archive();  // documents there, index there: fine
  EXPECT_EQ(index_names(), expected);
  EXPECT_EQ(documents_of(*again).size(), 1u);
}

TEST_F(MongoArchiveLive, DocumentsAreStoredInTheUpstreamShape) {
  auto store = open_archive();
  // Numbers whose BSON type CongoDB keeps (see the next test for the rest).
  RawDocument a{"aaaa", "unr_honeypot", "org1", "US/Pacific",
                R"({"n": 12, "f": 2.5, "s": "x\u00e9", "l": [null, true, {"k": []}]})"};
  RawDocument b{"bbbb", "cowrie", "org2", "UTC", R"([1, "two"])"};
  std::vector<RawDocument> docs = {a, b};
  EXPECT_EQ(ok(store->put_documents(docs)), 2u);

  auto stored = find(archive_.db, archive_.coll);
  ASSERT_EQ(stored.size(), 2u);
  bson_error_t err;
  BsonPtr expected(bson_new_from_json(reinterpret_cast<const std::uint8_t*>(
      R"({"itype": "raw", "data": {"n": {"$numberInt": "12"}, "f": {"$numberDouble": "2.5"},
          "s": "x\u00e9", "l": [null, true, {"k": []}]}, "orgid": "org1",
          "timezone": "US/Pacific", "sub_type": "unr_honeypot", "_hash": "aaaa"})"), -1, &err));
  EXPECT_EQ(without_id(stored[0].get()), canonical_json(expected.get()));
  EXPECT_TRUE(get_oid(stored[0].get(), "_id").has_value());

  auto back = documents_of(*store);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].data_json, a.data_json);
  EXPECT_EQ(back[1].data_json, b.data_json);
  ArchiveCounts counts = document_counts(*store);
  // The BSON bytes of the two data values.
  std::uint64_t bytes = 0;
  for (const auto& d : stored) {
    bson_iter_t it;
    ASSERT_TRUE(find_field(d.get(), "data", &it));
    std::uint32_t len = 0;
    const std::uint8_t* p = nullptr;
    if (BSON_ITER_HOLDS_ARRAY(&it)) bson_iter_array(&it, &len, &p);
    else bson_iter_document(&it, &len, &p);
    bytes += len;
  }
  EXPECT_EQ(bytes, 65u + 23u);
  EXPECT_EQ(counts.data_bytes, bytes);
}

TEST_F(MongoArchiveLive, NumberTypesRoundTripExactly) {
  if (congo()) {
    GTEST_SKIP() << "CongoDB keeps numbers as JavaScript does (1.0 comes back as int32 1), so "
                    "exact BSON number types need a real MongoDB server";
  }
  auto store = open_archive();
  RawDocument d{"cccc", "s", "o", "UTC",
                R"({"whole": 1.0, "neg0": -0.0, "big": 3000000000, "max": 9223372036854775807, )"
                R"("nan": NaN, "inf": -Infinity, "small": 5e-324})"};
  EXPECT_EQ(ok(store->put_documents(std::vector{d})), 1u);
  auto back = documents_of(*store);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].data_json, d.data_json);
}

TEST_F(MongoArchiveLive, ReadsAnUpstreamArchiveAsItIs) {
  auto lines = upstream_lines();
  ASSERT_EQ(lines.size(), 16u);
  for (const auto& line : lines) insert(archive_.db, archive_.coll, line);
  // The analytics module keeps its own TAHOE instances in the same collection.
  insert(archive_.db, archive_.coll,
         R"({"itype": "object", "sub_type": "session", "_hash": "ffff", "data": {"x": 1}})");
  auto store = open_archive();
  auto docs = documents_of(*store);
  ASSERT_EQ(docs.size(), 16u);
  for (std::size_t i = 0; i < docs.size(); ++i) {
    JsonParseResult line = parse_python_json(lines[i]);
    EXPECT_EQ(docs[i].hash, line.value.find("_hash")->as_string());
    JsonParseResult data = parse_python_json(docs[i].data_json);
    ASSERT_EQ(data.status, JsonParseStatus::kOk);
    EXPECT_EQ(*raw_hash(docs[i].sub_type, data.value, 1u << 30), docs[i].hash);
  }
  EXPECT_EQ(document_counts(*store).documents, 16u);
  // Archiving one of them again stores nothing new.
  EXPECT_EQ(ok(store->put_documents(std::vector{docs[3]})), 0u);
  EXPECT_EQ(find(archive_.db, archive_.coll).size(), 17u);
}

TEST_F(MongoArchiveLive, ExistingDuplicatesFallBackToLookUpThenInsert) {
  const std::string dup =
      R"({"itype": "raw", "data": {"a": 1}, "orgid": "o", "timezone": "UTC", "sub_type": "s",
          "_hash": "dddd"})";
  insert(archive_.db, archive_.coll, dup);
  insert(archive_.db, archive_.coll, dup);  // upstream never enforced uniqueness
  auto store = open_archive();               // warns once, does not fail
  EXPECT_FALSE(store->unique_index());
  RawDocument again{"dddd", "s", "o", "UTC", R"({"a": 1})"};
  RawDocument fresh{"eeee", "s", "o", "UTC", R"({"b": 2})"};
  EXPECT_EQ(ok(store->put_documents(std::vector{again, fresh})), 1u);
  EXPECT_EQ(ok(store->put_documents(std::vector{again, fresh})), 0u);
  EXPECT_EQ(document_counts(*store).documents, 3u);
  auto docs = documents_of(*store);
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[2].hash, "eeee");
}

TEST_F(MongoArchiveLive, RefusesNewerSchema) {
  open_archive();
  BsonPtr sel = Doc().str("key", "schema_version").take();
  BsonPtr newer = Doc().sub("$set", std::move(Doc().int32("value", 2))).take();
  update(archive_.db, kMetaCollection, sel.get(), newer.get());
  auto refused = MongoArchive::open(archive_);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::kDatabase);
  EXPECT_TRUE(refused.error().message.ends_with(
      "schema: schema version 2 is newer than this cybexp-archive supports (1): upgrade "
      "cybexp-archive"))
      << refused.error().message;
}

// The archive loop on MongoDB: the upstream interoperability vectors end as
// upstream decided, with the same _hash; an integer beyond 64 bits, which
// BSON cannot hold, makes its entry `error` instead of stalling the batch.
TEST_F(MongoArchiveLive, ArchiverEndToEndOnMongo) {
  Stores stores = ok(open_stores(cache_, archive_));
  auto key = ok(PrivateKey::load_file(std::string(CYBEXP_TEST_DATA_DIR) + "/priv.pem", false));
  auto pub = ok(PublicKey::load_file(std::string(CYBEXP_TEST_DATA_DIR) + "/pub.pem"));
  auto vectors = testing::load_vectors();
  ASSERT_EQ(vectors.size(), 34u);
  std::map<std::string, const testing::Vector*> by_id;
  for (const auto& v : vectors) {
    NewEntry e{v.name, v.typetag, v.orgid, v.timezone, 1700000000.5};
    by_id[ok(stores.cache->add_entry(e, v.blob))] = &v;
  }
  std::string huge = R"({"n": 123456789012345678901234567890})";
  auto envelope = ok(encrypt_envelope(bytes(huge), pub));
  std::string huge_id = ok(stores.cache->add_entry(new_entry("huge", "cowrie"), envelope));

  RunOptions options;
  options.once = true;
  options.workers = 2;
  options.batch_entries = 8;
  Archiver archiver(stores, {key}, Limits{}, options);
  std::stop_source stop;
  RunSummary summary = ok(archiver.run(stop.get_token()));
  EXPECT_EQ(summary.done(), 35u);

  std::set<std::string> hashes;
  int refused_count = 0;
  ok(stores.cache->for_each_entry({}, [&](const EntryInfo& info) {
    if (info.entry.id == huge_id) {
      EXPECT_EQ(info.state, "error");
      EXPECT_EQ(info.reason,
                "the data holds the integer 123456789012345678901234567890, which does not fit "
                "in 64 bits: MongoDB (BSON) cannot store it, and upstream fails on it too");
      return true;
    }
    const testing::Vector& v = *by_id.at(info.entry.id);
    // Upstream's own stack decided "success"; through pymongo a document
    // BSON cannot hold (the "numbers" vector's 30-digit integer) ends `error`.
    std::optional<std::string> refused;
    if (v.state == "success") {
      std::string_view text(reinterpret_cast<const char*>(v.plaintext.data()), v.plaintext.size());
      ParseOutcome parsed = parsemain(default_subtypes(), v.typetag, v.orgid, v.timezone, text, Limits{});
      refused = unstorable_reason(parsed.document);
    }
    if (refused) {
      EXPECT_EQ(info.state, "error") << v.name;
      EXPECT_EQ(info.reason, *refused) << v.name;
      ++refused_count;
    } else if (v.state == "success") {
      EXPECT_EQ(info.state, "processed") << v.name;
      EXPECT_EQ(info.refs, std::vector<std::string>{v.hash}) << v.name;
      hashes.insert(v.hash);
    } else {
      EXPECT_EQ(info.state, v.state) << v.name << ": " << info.reason;
    }
    return true;
  }));
  EXPECT_EQ(refused_count, 1);
  std::set<std::string> archived;
  for (const auto& d : documents_of(*stores.archive)) archived.insert(d.hash);
  EXPECT_EQ(archived, hashes);
}

}  // namespace
}  // namespace cybexp::mongo
