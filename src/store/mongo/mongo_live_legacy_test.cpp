// Entries of every age against a live server (CYBEXP_TEST_MONGODB_URI):
// legacy entries (typtag, no name, no timezone, `datetime` for `timestamp`)
// are listed, filtered by time and claimed like current ones; an entry whose
// blob the API module never wrote is bad data that says so.
#include "store/mongo/mongo_test_fixture.h"

namespace cybexp::mongo {
namespace {

using MongoLegacyLive = MongoLive;

TEST_F(MongoLegacyLive, OldEntriesAreReadFilteredAndClaimed) {
  auto store = open_cache();
  bson_oid_t blob = upload(bytes("0123456789"));
  insert(cache_.db, cache_.coll,
         R"({"_id": {"$oid": "5ea7816a2b3c4d5e6f700001"}, "typtag": "unr-honeypot", "orgid": "o",
             "datetime": "2019-11-02T10:00:00.500000", "processed": false,
             "fid": {"$oid": ")" +
             oid_hex(blob) + R"("}})");
  insert(cache_.db, cache_.coll,
         R"({"_id": {"$oid": "5ea7816a2b3c4d5e6f700002"}, "name": "new.json", "typetag": "cowrie",
             "orgid": "o", "timezone": "UTC", "timestamp": {"$numberDouble": "1712345679.5"},
             "processed": false})");

  EntryFilter in_2019;
  in_2019.since = 1572652800.0;  // 2019-11-02T00:00:00Z
  in_2019.until = 1572739200.0;  // 2019-11-03T00:00:00Z
  auto old = entries_of(*store, in_2019);
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(old[0].entry.id, "5ea7816a2b3c4d5e6f700001");
  EXPECT_EQ(old[0].entry.name, "");
  EXPECT_EQ(old[0].entry.typetag, "unr-honeypot");
  EXPECT_EQ(old[0].entry.timezone, "UTC");
  EXPECT_EQ(old[0].entry.timestamp, 1572688800.5);
  EntryFilter after_noon;
  after_noon.since = 1572696000.0;  // 2019-11-02T12:00:00Z: the old entry is before it
  auto later = entries_of(*store, after_noon);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].entry.id, "5ea7816a2b3c4d5e6f700002");

  auto claimed = ok(store->claim(claim_request("w1")));
  ASSERT_EQ(claimed.size(), 2u);
  EXPECT_EQ(claimed[0].typetag, "unr-honeypot");
  EXPECT_EQ(claimed[0].timestamp, 1572688800.5);
  EXPECT_EQ(ok(store->fetch_blob(claimed[0], 100)), bytes("0123456789"));
  auto never = store->fetch_blob(claimed[1], 100);
  ASSERT_FALSE(never);
  EXPECT_EQ(never.error().kind, ErrorKind::kBadData);
  EXPECT_EQ(never.error().message,
            "entry has no blob: it has no fid (the API module never wrote the blob)");
}

}  // namespace
}  // namespace cybexp::mongo
