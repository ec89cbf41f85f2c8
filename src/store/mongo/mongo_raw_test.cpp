// Archive documents, without a server: Raw documents as upstream stored
// them (tests/data/cowrie_raw.txt, documents the upstream system archived),
// what we write, the index we ask for and the registry documents.
#include "store/mongo/mongo_raw.h"

#include <gtest/gtest.h>

#include "cybexp/canonical.h"
#include "cybexp/python_json.h"
#include "store/mongo/mongo_bson_testing.h"
#include "support/vectors.h"

namespace cybexp::mongo {
namespace {

bson_oid_t oid(const char* hex) { return *parse_oid(hex); }

std::vector<std::string> upstream_lines() { return testing::data_lines("cowrie_raw.txt"); }

// The BSON of doc's data field, as a document of its own for comparing.
BsonPtr data_of(const bson_t* doc) {
  bson_iter_t it;
  EXPECT_TRUE(find_field(doc, "data", &it));
  bson_t out;
  bson_init(&out);
  bson_append_iter(&out, "data", 4, &it);
  BsonPtr copy(bson_copy(&out));
  bson_destroy(&out);  // `out` outgrew its inline buffer: free the heap copy
  return copy;
}

TEST(MongoRaw, WritesTheUpstreamShape) {
  RawDocument d{"c5116d18", "unr_honeypot", "org-1", "US/Pacific",
                R"({"n": 1, "big": 3000000000, "f": 1.0, "s": "\u00e9", "l": [null, true]})"};
  auto b = raw_to_bson(d, oid("5ea7816a2b3c4d5e6f708192"));
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(canonical_json(b->get()),
            norm(R"({"_id": {"$oid": "5ea7816a2b3c4d5e6f708192"}, "itype": "raw",
                     "data": {"n": {"$numberInt": "1"}, "big": {"$numberLong": "3000000000"},
                              "f": {"$numberDouble": "1.0"}, "s": "\u00e9", "l": [null, true]},
                     "orgid": "org-1", "timezone": "US/Pacific", "sub_type": "unr_honeypot",
                     "_hash": "c5116d18"})"));
  auto back = raw_from_bson(b->get());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->hash, d.hash);
  EXPECT_EQ(back->sub_type, d.sub_type);
  EXPECT_EQ(back->orgid, d.orgid);
  EXPECT_EQ(back->timezone, d.timezone);
  EXPECT_EQ(back->data_json, d.data_json);
}

TEST(MongoRaw, ReadsDocumentsTheUpstreamSystemArchived) {
  auto lines = upstream_lines();
  ASSERT_EQ(lines.size(), 16u);
  for (const auto& line : lines) {
    // libbson's JSON reader types numbers as pymongo does (int32, else
    // int64; a fraction or exponent: double), so this is the document as
    // upstream stored it, _ref and filters of the analytics module included.
    BsonPtr stored = ext(line);
    auto raw = raw_from_bson(stored.get());
    ASSERT_TRUE(raw) << raw.error().message;
    JsonParseResult whole = parse_python_json(line);
    ASSERT_EQ(whole.status, JsonParseStatus::kOk);
    EXPECT_EQ(raw->hash, whole.value.find("_hash")->as_string());
    EXPECT_EQ(raw->sub_type, "unr_honeypot");
    EXPECT_EQ(raw->orgid, whole.value.find("orgid")->as_string());
    EXPECT_EQ(raw->timezone, whole.value.find("timezone")->as_string());
    EXPECT_EQ(raw->data_json, python_json(*whole.value.find("data")));
    // What we read hashes to the _hash upstream computed.
    JsonParseResult data = parse_python_json(raw->data_json);
    ASSERT_EQ(data.status, JsonParseStatus::kOk);
    EXPECT_EQ(*raw_hash(raw->sub_type, data.value, 1u << 30), raw->hash);
    // Writing it again gives the very same BSON for data.
    auto again = raw_to_bson(*raw, new_oid());
    ASSERT_TRUE(again);
    EXPECT_TRUE(bson_equal(data_of(again->get()).get(), data_of(stored.get()).get()));
  }
}

TEST(MongoRaw, UnstorableDocumentsGetAReason) {
  RawDocument d{"h", "s", "o", "UTC", R"({"n": 123456789012345678901234567890})"};
  EXPECT_EQ(unstorable_reason(d),
            "the data holds the integer 123456789012345678901234567890, which does not fit in 64 "
            "bits: MongoDB (BSON) cannot store it, and upstream fails on it too");
  d.data_json = R"({"n": 9223372036854775807, "s": "12345678901234567890123"})";
  EXPECT_EQ(unstorable_reason(d), std::nullopt);  // looked at closely: fine
  d.data_json = std::string(101, '[') + std::string(101, ']');
  EXPECT_EQ(unstorable_reason(d),
            "the data nests deeper than MongoDB's limit of 100 levels, so the server refuses it");
  d.data_json = "[" + std::string(99, '[') + "1" + std::string(99, ']') + "]";
  EXPECT_EQ(unstorable_reason(d),
            "the data nests deeper than MongoDB's limit of 100 levels, so the server refuses it");
  d.data_json = R"({"k\u0000": 1})";
  EXPECT_EQ(unstorable_reason(d),
            "the data has a key with a NUL character (\\u0000), which MongoDB (BSON) cannot store");

  // Over 16 MiB as BSON: _id 17 + itype 15 + data (11 + n) + orgid "o" 13 +
  // timezone "UTC" 18 + sub_type "s" 16 + _hash "h" 13 + length and end 5.
  const std::size_t n = 16u << 20;
  d.data_json = "\"" + std::string(n, 'x') + "\"";
  EXPECT_EQ(unstorable_reason(d), "the document is " + std::to_string(108 + n) +
                                      " bytes as BSON, over MongoDB's limit of 16777216 bytes "
                                      "for one document");
  d.data_json = "\"" + std::string(n - 200, 'x') + "\"";
  EXPECT_EQ(unstorable_reason(d), std::nullopt);
  d.data_json = R"({"ok": [1, 2.5, "x"]})";
  EXPECT_EQ(unstorable_reason(d), std::nullopt);
}

TEST(MongoRaw, ReadingNonJsonTypesNamesTheDocument) {
  auto stored = ext(R"({"itype": "raw", "data": {"when": {"$date": {"$numberLong": "0"}}},
                        "sub_type": "s", "_hash": "abc"})");
  auto raw = raw_from_bson(stored.get());
  ASSERT_FALSE(raw);
  EXPECT_EQ(raw.error().kind, ErrorKind::kBadData);
  EXPECT_EQ(raw.error().message,
            "mongodb: raw document abc: data.when holds a BSON date, which JSON cannot represent");
  raw = raw_from_bson(ext(R"({"itype": "raw", "_hash": "abc"})").get());
  EXPECT_EQ(raw.error().message, "mongodb: raw document abc has no data");
}

TEST(MongoRaw, QueriesAndTheUniqueIndex) {
  EXPECT_EQ(canonical_json(raw_query(std::nullopt, nullptr).get()), norm(R"({"itype": "raw"})"));
  bson_oid_t after = oid("5ea7816a2b3c4d5e6f708192");
  EXPECT_EQ(canonical_json(raw_query(std::string("cowrie"), &after).get()),
            norm(R"({"itype": "raw", "sub_type": "cowrie",
                     "_id": {"$gt": {"$oid": "5ea7816a2b3c4d5e6f708192"}}})"));
  EXPECT_EQ(canonical_json(hashes_query({"a", "b"}).get()),
            norm(R"({"itype": "raw", "_hash": {"$in": ["a", "b"]}})"));
  EXPECT_EQ(canonical_json(hash_index_command("instance").get()),
            norm(R"({"createIndexes": "instance", "indexes": [{"key": {"_hash": {"$numberInt": "1"}},
                     "name": "cybexp_raw_hash_unique", "unique": true,
                     "partialFilterExpression": {"itype": "raw"}}]})"));
  EXPECT_EQ(canonical_json(sub_type_index_command("instance").get()),
            norm(R"({"createIndexes": "instance", "indexes": [{"key": {"sub_type": {"$numberInt": "1"}},
                     "name": "cybexp_sub_type"}]})"));
  EXPECT_EQ(canonical_json(raw_counts_pipeline().get()),
            norm(R"({"pipeline": [{"$match": {"itype": "raw"}},
                     {"$group": {"_id": null, "n": {"$sum": {"$numberInt": "1"}},
                                 "bytes": {"$sum": {"$bsonSize": {"d": "$data"}}}}}]})"));

  // Index descriptions as listIndexes returns them.
  EXPECT_TRUE(enforces_unique_hash(ext(R"({"v": 2, "key": {"_hash": 1}, "name": "x", "unique": true})").get()));
  EXPECT_TRUE(enforces_unique_hash(ext(R"({"v": 2, "key": {"_hash": 1}, "name": "cybexp_raw_hash_unique",
      "unique": true, "partialFilterExpression": {"itype": "raw"}})").get()));
  EXPECT_FALSE(enforces_unique_hash(ext(R"({"v": 2, "key": {"_hash": 1}, "name": "_hash_1"})").get()));
  EXPECT_FALSE(enforces_unique_hash(ext(R"({"key": {"_hash": 1, "itype": 1}, "unique": true})").get()));
  EXPECT_FALSE(enforces_unique_hash(ext(R"({"key": {"_id": 1}, "unique": true})").get()));
  EXPECT_FALSE(enforces_unique_hash(ext(R"({"key": {"_hash": 1}, "unique": true,
      "partialFilterExpression": {"itype": "event"}})").get()));
}

TEST(MongoRaw, RegistryAndMetaDocuments) {
  EXPECT_EQ(canonical_json(subtype_selector("unr-honeypot").get()),
            norm(R"({"typetag": "unr-honeypot"})"));
  EXPECT_EQ(canonical_json(subtype_update("unr_honeypot", true).get()),
            norm(R"({"$setOnInsert": {"sub_type": "unr_honeypot"}})"));
  EXPECT_EQ(canonical_json(subtype_update("unr_honeypot", false).get()),
            norm(R"({"$set": {"sub_type": "unr_honeypot"}})"));
  EXPECT_EQ(canonical_json(unique_index_command("cybexp_subtypes", "typetag").get()),
            norm(R"({"createIndexes": "cybexp_subtypes", "indexes": [{"key": {"typetag": {"$numberInt": "1"}},
                     "name": "typetag_unique", "unique": true}]})"));
  EXPECT_EQ(canonical_json(schema_version_selector().get()), norm(R"({"key": "schema_version"})"));
  EXPECT_EQ(canonical_json(schema_version_upsert().get()),
            norm(R"({"$setOnInsert": {"value": {"$numberInt": "1"}}})"));
  EXPECT_EQ(schema_version_from_bson(ext(R"({"key": "schema_version", "value": {"$numberInt": "2"}})").get()), 2);
  EXPECT_EQ(schema_version_from_bson(ext(R"({"key": "schema_version"})").get()), 0);
  auto pair = subtype_from_bson(ext(R"({"_id": {"$oid": "5ea7816a2b3c4d5e6f708192"},
      "typetag": "cowrie", "sub_type": "cowrie"})").get());
  ASSERT_TRUE(pair);
  EXPECT_EQ(pair->first, "cowrie");
  EXPECT_EQ(pair->second, "cowrie");
  EXPECT_FALSE(subtype_from_bson(ext(R"({"typetag": "x"})").get()));
}

}  // namespace
}  // namespace cybexp::mongo
