// Cache entry documents, queries and updates, without a server: every
// document the store reads or writes in cache_db.file_entries, checked as
// canonical extended JSON (which spells out each BSON type), against entries
// shaped as upstream's API module writes them.
#include "store/mongo/mongo_entries.h"

#include <gtest/gtest.h>

#include "store/mongo/mongo_bson_testing.h"

namespace cybexp::mongo {
namespace {

constexpr const char* kId = "5ea7816a2b3c4d5e6f708192";
constexpr const char* kFid = "5ea7816a2b3c4d5e6f708193";
constexpr std::int64_t kNow = 1700000000123;  // ms

bson_oid_t oid(const char* hex) { return *parse_oid(hex); }

// An entry exactly as upstream's API module inserts it with pymongo.
const char* const kUpstreamEntry =
    R"({"_id": {"$oid": "5ea7816a2b3c4d5e6f708192"}, "name": "ssh.json.04_28_2020.log",
        "typetag": "unr-honeypot", "orgid": "f27df111-ca31-4700-99d4-2635b6c37851",
        "timezone": "US/Pacific", "timestamp": {"$numberDouble": "1588042163.177"},
        "processed": false, "fid": {"$oid": "5ea7816a2b3c4d5e6f708193"}})";

TEST(MongoEntries, NewEntryIsShapedAsTheApiModuleWritesIt) {
  NewEntry e{"ssh.json.04_28_2020.log", "unr-honeypot", "f27df111-ca31-4700-99d4-2635b6c37851",
             "US/Pacific", 1588042163.177};
  EXPECT_EQ(canonical_json(entry_to_bson(oid(kId), e, oid(kFid)).get()), norm(kUpstreamEntry));
}

TEST(MongoEntries, ReadsAnUpstreamEntry) {
  auto got = entry_from_bson(ext(kUpstreamEntry).get());
  ASSERT_TRUE(got) << got.error().message;
  const EntryInfo& i = got->info;
  EXPECT_EQ(i.entry.id, kId);
  EXPECT_EQ(i.entry.name, "ssh.json.04_28_2020.log");
  EXPECT_EQ(i.entry.typetag, "unr-honeypot");
  EXPECT_EQ(i.entry.orgid, "f27df111-ca31-4700-99d4-2635b6c37851");
  EXPECT_EQ(i.entry.timezone, "US/Pacific");
  EXPECT_EQ(i.entry.timestamp, 1588042163.177);
  EXPECT_EQ(i.entry.attempts, 0);
  EXPECT_EQ(i.entry.blob_size, 0u);
  EXPECT_FALSE(i.entry.blob.has_value());
  EXPECT_EQ(i.state, "pending");
  EXPECT_TRUE(i.refs.empty());
  EXPECT_EQ(i.reason, "");
  EXPECT_EQ(i.lease_owner, "");
  EXPECT_EQ(i.lease_until, 0);
  EXPECT_EQ(i.finished_at, 0);
  ASSERT_TRUE(got->fid.has_value());
  EXPECT_EQ(oid_hex(*got->fid), kFid);
}

TEST(MongoEntries, ReadsOldTyptagAndOtherNumberTypes) {
  auto got = entry_from_bson(ext(R"({"_id": {"$oid": "5ea7816a2b3c4d5e6f708192"},
      "typtag": "cowrie", "orgid": "o", "timestamp": {"$numberInt": "1588042163"},
      "processed": false})").get());
  ASSERT_TRUE(got);
  EXPECT_EQ(got->info.entry.typetag, "cowrie");
  EXPECT_EQ(got->info.entry.timestamp, 1588042163.0);
  EXPECT_EQ(got->info.entry.timezone, "UTC");  // upstream's default
  EXPECT_FALSE(got->fid.has_value());

  // typetag wins over typtag when both are there.
  got = entry_from_bson(ext(R"({"_id": {"$oid": "5ea7816a2b3c4d5e6f708192"}, "typtag": "old",
      "typetag": "new", "timestamp": {"$numberLong": "1588042164"}})").get());
  EXPECT_EQ(got->info.entry.typetag, "new");
  EXPECT_EQ(got->info.entry.timestamp, 1588042164.0);

  auto bad = entry_from_bson(ext(R"({"_id": "not-an-oid", "typetag": "x"})").get());
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::kDatabase);
  EXPECT_EQ(bad.error().message,
            R"(mongodb: an entry's _id is not an ObjectId: { "_id" : "not-an-oid", "typetag" : "x" })");
}

TEST(MongoEntries, ReadsProcessedSkippedAndLeasedEntries) {
  auto processed = entry_from_bson(ext(R"({"_id": {"$oid": "5ea7816a2b3c4d5e6f708192"},
      "typetag": "cowrie", "processed": true, "_ref": ["h1", "h2"],
      "_cybexp_attempts": {"$numberInt": "2"},
      "_cybexp_finished": {"$date": {"$numberLong": "1700000000500"}}})").get());
  EXPECT_EQ(processed->info.state, "processed");
  EXPECT_EQ(processed->info.refs, (std::vector<std::string>{"h1", "h2"}));
  EXPECT_EQ(processed->info.entry.attempts, 2);
  EXPECT_EQ(processed->info.finished_at, 1700000000.5);

  // As upstream's archive module leaves a skipped entry (no reason of ours).
  auto upstream_skip = entry_from_bson(ext(R"({"_id": {"$oid": "5ea7816a2b3c4d5e6f708192"},
      "processed": false, "skip": true, "state": "typetag_not_supported"})").get());
  EXPECT_EQ(upstream_skip->info.state, "typetag_not_supported");
  EXPECT_EQ(upstream_skip->info.reason, "");

  auto leased = entry_from_bson(ext(R"({"_id": {"$oid": "5ea7816a2b3c4d5e6f708192"},
      "processed": false, "skip": true, "state": "bad_data", "reason": "r",
      "_cybexp_lease": {"owner": "host:1:abc", "until": {"$date": {"$numberLong": "1700000300123"}},
                        "since": {"$date": {"$numberLong": "1700000000123"}}}})").get());
  EXPECT_EQ(leased->info.state, "bad_data");
  EXPECT_EQ(leased->info.reason, "r");
  EXPECT_EQ(leased->info.lease_owner, "host:1:abc");
  EXPECT_EQ(leased->info.lease_until, 1700000300.123);
}

TEST(MongoEntries, ClaimQueryAndUpdate) {
  EXPECT_EQ(canonical_json(claimable_query(false, kNow).get()),
            norm(R"({"processed": {"$ne": true}, "skip": {"$ne": true},
                     "$or": [{"_cybexp_lease": null},
                             {"_cybexp_lease.until": {"$lt": {"$date": {"$numberLong": "1700000000123"}}}}]})"));
  EXPECT_EQ(canonical_json(claimable_query(true, kNow).get()),
            norm(R"({"processed": {"$ne": true},
                     "$or": [{"_cybexp_lease": null},
                             {"_cybexp_lease.until": {"$lt": {"$date": {"$numberLong": "1700000000123"}}}}]})"));
  EXPECT_EQ(canonical_json(claim_update("w1", kNow, 300).get()),
            norm(R"({"$set": {"_cybexp_lease": {"owner": "w1",
                         "until": {"$date": {"$numberLong": "1700000300123"}},
                         "since": {"$date": {"$numberLong": "1700000000123"}}}},
                     "$inc": {"_cybexp_attempts": {"$numberInt": "1"}}})"));
  EXPECT_EQ(canonical_json(oldest_first().get()), norm(R"({"_id": {"$numberInt": "1"}})"));
  EXPECT_EQ(canonical_json(claim_index_command("file_entries").get()),
            norm(R"({"createIndexes": "file_entries", "indexes": [{"key": {"processed": {"$numberInt": "1"},
                     "_id": {"$numberInt": "1"}}, "name": "cybexp_claim"}]})"));
}

TEST(MongoEntries, FinishMarksAsUpstreamDoes) {
  EXPECT_EQ(canonical_json(leased_by(oid(kId), "w1").get()),
            norm(R"({"_id": {"$oid": "5ea7816a2b3c4d5e6f708192"}, "_cybexp_lease.owner": "w1"})"));
  auto done = finish_update(EntryResult{kId, EntryFate::kProcessed, {"h1"}, ""}, kNow);
  EXPECT_EQ(canonical_json(done.get()),
            norm(R"({"$set": {"processed": true,
                              "_cybexp_finished": {"$date": {"$numberLong": "1700000000123"}}},
                     "$addToSet": {"_ref": {"$each": ["h1"]}},
                     "$unset": {"_cybexp_lease": "", "skip": "", "state": "", "reason": ""}})"));
  auto skipped = finish_update(EntryResult{kId, EntryFate::kBadData, {}, "blob fails"}, kNow);
  EXPECT_EQ(canonical_json(skipped.get()),
            norm(R"({"$set": {"skip": true, "state": "bad_data", "reason": "blob fails",
                              "_cybexp_finished": {"$date": {"$numberLong": "1700000000123"}}},
                     "$unset": {"_cybexp_lease": ""}})"));
}

TEST(MongoEntries, ReleaseOnlyOwnLeases) {
  EXPECT_EQ(canonical_json(release_query({oid(kId), oid(kFid)}, "w1").get()),
            norm(R"({"_id": {"$in": [{"$oid": "5ea7816a2b3c4d5e6f708192"},
                                     {"$oid": "5ea7816a2b3c4d5e6f708193"}]},
                     "_cybexp_lease.owner": "w1"})"));
  EXPECT_EQ(canonical_json(release_update(ReleaseKind::kTried).get()),
            norm(R"({"$unset": {"_cybexp_lease": ""}})"));
  EXPECT_EQ(canonical_json(release_update(ReleaseKind::kUntried).get()),
            norm(R"({"$unset": {"_cybexp_lease": ""}, "$inc": {"_cybexp_attempts": -1}})"));
  // An id that is not an ObjectId names no entry of this store: left out.
  const std::vector<std::string> ids = {kId, "42"};
  EXPECT_EQ(parse_entry_ids(ids).size(), 1u);
}

std::string filter_json(const EntryFilter& f, const bson_oid_t* after = nullptr) {
  auto q = filter_query(f, after);
  if (!q) return "error: " + q.error().message;
  return canonical_json(q->get());
}

TEST(MongoEntries, FilterQueries) {
  EntryFilter f;
  EXPECT_EQ(filter_json(f), norm("{}"));
  f.state = "pending";
  EXPECT_EQ(filter_json(f), norm(R"({"processed": {"$ne": true}, "skip": {"$ne": true}})"));
  f.state = "processed";
  EXPECT_EQ(filter_json(f), norm(R"({"processed": true})"));
  f.state = "skipped";
  EXPECT_EQ(filter_json(f), norm(R"({"processed": {"$ne": true}, "skip": true})"));
  f.state = "bad_data";
  EXPECT_EQ(filter_json(f),
            norm(R"({"processed": {"$ne": true}, "skip": true, "state": "bad_data"})"));

  EntryFilter g;
  g.ids = {kId};
  g.typetag = "unr-honeypot";
  g.since = 1000.5;
  g.until = 2000.0;
  bson_oid_t after = oid(kFid);
  EXPECT_EQ(filter_json(g, &after),
            norm(R"({"_id": {"$in": [{"$oid": "5ea7816a2b3c4d5e6f708192"}]},
                     "$and": [{"$or": [{"typetag": "unr-honeypot"},
                                       {"typetag": {"$exists": false}, "typtag": "unr-honeypot"}]},
                              {"$or": [{"timestamp": {"$gte": {"$numberDouble": "1000.5"},
                                                      "$lt": {"$numberDouble": "2000.0"}}},
                                       {"timestamp": {"$exists": false},
                                        "datetime": {"$gte": "1970-01-01T00:16:40.500000",
                                                     "$lt": "1970-01-01T00:33:20"}},
                                       {"timestamp": {"$exists": false},
                                        "datetime": {"$gte": {"$date": {"$numberLong": "1000500"}},
                                                     "$lt": {"$date": {"$numberLong": "2000000"}}}}]},
                              {"_id": {"$gt": {"$oid": "5ea7816a2b3c4d5e6f708193"}}}]})"));
  g = {};
  g.ids = {"zz"};  // not an ObjectId: names no entry of this store (store.h)
  EXPECT_EQ(filter_json(g), norm(R"({"_id": {"$in": []}})"));
}

TEST(MongoEntries, RequeueQueriesAndUpdates) {
  const char* free_lease =
      R"({"$or": [{"_cybexp_lease": null},
                  {"_cybexp_lease.until": {"$lt": {"$date": {"$numberLong": "1700000000123"}}}}]})";
  auto all = requeue_query({}, kNow);
  EXPECT_EQ(canonical_json(all->get()),
            norm(std::string(R"({"$and": [{"processed": {"$ne": true}, "skip": true}, )") +
                 free_lease + "]}"));
  EntryFilter bad;
  bad.state = "bad_data";
  EXPECT_EQ(canonical_json(requeue_query(bad, kNow)->get()),
            norm(std::string(R"({"processed": {"$ne": true}, "skip": true, "state": "bad_data",
                                 "$and": [{"processed": {"$ne": true}, "skip": true}, )") +
                 free_lease + "]}"));
  EntryFilter processed;
  processed.state = "processed";
  EXPECT_EQ(canonical_json(requeue_query(processed, kNow)->get()),
            norm(std::string(R"({"processed": true, "$and": [)") + free_lease + "]}"));

  EXPECT_EQ(canonical_json(requeue_update(false).get()),
            norm(R"({"$unset": {"skip": "", "state": "", "reason": "", "_cybexp_finished": "",
                                "_cybexp_lease": "", "_cybexp_attempts": ""}})"));
  EXPECT_EQ(canonical_json(requeue_update(true).get()),
            norm(R"({"$set": {"processed": false},
                     "$unset": {"skip": "", "state": "", "reason": "", "_cybexp_finished": "",
                                "_cybexp_lease": "", "_cybexp_attempts": "", "_ref": ""}})"));
}

TEST(MongoEntries, CountPipelinesAndTheirResults) {
  EXPECT_EQ(canonical_json(state_counts_pipeline().get()),
            norm(R"({"pipeline": [{"$group": {"_id": {"p": "$processed", "s": "$skip", "st": "$state"},
                                              "n": {"$sum": {"$numberInt": "1"}}}}]})"));
  CacheCounts c;
  add_state_count(ext(R"({"_id": {"p": false}, "n": {"$numberInt": "3"}})").get(), c);
  add_state_count(ext(R"({"_id": {}, "n": {"$numberInt": "1"}})").get(), c);  // no processed field
  add_state_count(ext(R"({"_id": {"p": true, "s": true, "st": "error"}, "n": {"$numberLong": "5"}})").get(), c);
  add_state_count(ext(R"({"_id": {"p": false, "s": true, "st": "error"}, "n": {"$numberInt": "2"}})").get(), c);
  add_state_count(ext(R"({"_id": {"p": false, "s": true}, "n": {"$numberDouble": "1.0"}})").get(), c);
  EXPECT_EQ(c.pending, 4u);
  EXPECT_EQ(c.processed, 5u);
  EXPECT_EQ(c.skipped, (std::map<std::string, std::uint64_t>{{"error", 2}, {"skipped", 1}}));

  EXPECT_EQ(canonical_json(in_flight_pipeline(kNow).get()),
            norm(R"({"pipeline": [
                {"$match": {"_cybexp_lease.until": {"$gte": {"$date": {"$numberLong": "1700000000123"}}}}},
                {"$group": {"_id": "$_cybexp_lease.owner", "n": {"$sum": {"$numberInt": "1"}},
                            "oldest": {"$min": "$_cybexp_lease.since"}}},
                {"$sort": {"_id": {"$numberInt": "1"}}}]})"));
  LeaseInfo l = lease_info_from(ext(R"({"_id": "w1", "n": {"$numberInt": "7"},
      "oldest": {"$date": {"$numberLong": "1700000000250"}}})").get());
  EXPECT_EQ(l.worker, "w1");
  EXPECT_EQ(l.entries, 7u);
  EXPECT_EQ(l.oldest_claim, 1700000000.25);
}

TEST(MongoEntries, GridfsLengthInEveryNumberType) {
  // pymongo's GridFS writes int64; older drivers int32; some servers double.
  EXPECT_EQ(gridfs_length(ext(R"({"length": {"$numberLong": "67108864"}})").get()), 67108864u);
  EXPECT_EQ(gridfs_length(ext(R"({"length": {"$numberInt": "10"}})").get()), 10u);
  EXPECT_EQ(gridfs_length(ext(R"({"length": {"$numberDouble": "10.0"}})").get()), 10u);
  EXPECT_EQ(gridfs_length(ext(R"({"length": {"$numberDouble": "10.5"}})").get()), std::nullopt);
  EXPECT_EQ(gridfs_length(ext(R"({"length": {"$numberInt": "-1"}})").get()), std::nullopt);
  EXPECT_EQ(gridfs_length(ext(R"({"chunkSize": {"$numberInt": "261120"}})").get()), std::nullopt);
}

}  // namespace
}  // namespace cybexp::mongo
