// Entries of every age (mongo_legacy.h), without a server: legacy entries
// with `typtag`, no `name`, no `timezone` and `datetime` for `timestamp`.
#include "store/mongo/mongo_legacy.h"

#include <gtest/gtest.h>

#include "store/mongo/mongo_entries.h"

namespace cybexp::mongo {
namespace {

BsonPtr ext(std::string_view json) {
  bson_error_t err;
  bson_t* b = bson_new_from_json(reinterpret_cast<const std::uint8_t*>(json.data()),
                                 static_cast<ssize_t>(json.size()), &err);
  EXPECT_NE(b, nullptr) << err.message;
  return BsonPtr(b);
}

TEST(MongoLegacy, IsoDatetimes) {
  EXPECT_EQ(iso_datetime_seconds("2020-04-28T03:29:23"), 1588044563.0);
  EXPECT_EQ(iso_datetime_seconds("2020-04-28 03:29:23"), 1588044563.0);
  EXPECT_EQ(iso_datetime_seconds("2020-04-28T03:29:23.250000"), 1588044563.25);
  EXPECT_EQ(iso_datetime_seconds("2020-04-28T03:29:23Z"), 1588044563.0);
  EXPECT_EQ(iso_datetime_seconds("2020-04-28T03:29:23+02:00"), 1588044563.0 - 7200);
  EXPECT_EQ(iso_datetime_seconds("2020-04-28T03:29:23.5-0700"), 1588044563.5 + 25200);
  for (const char* bad :
       {"", "2020-04-28", "2020-04-28T03:29", "2020-13-28T03:29:23", "2020-04-28T03:29:23.",
        "2020-04-28T03:29:23+2", "2020-04-28X03:29:23", "yesterday at noon"}) {
    EXPECT_EQ(iso_datetime_seconds(bad), std::nullopt) << bad;
  }
}

TEST(MongoLegacy, AnEntryOfTheOldDaysReadsWhole) {
  auto got =
      entry_from_bson(ext(R"({"_id": {"$oid": "5ea7816a2b3c4d5e6f708192"}, "typtag": "unr-honeypot",
      "orgid": "o", "datetime": "2019-11-02T10:00:00.500000", "processed": false,
      "fid": {"$oid": "5ea7816a2b3c4d5e6f708193"}})")
                          .get());
  ASSERT_TRUE(got) << got.error().message;
  const CacheEntry& e = got->info.entry;
  EXPECT_EQ(e.name, "");
  EXPECT_EQ(e.typetag, "unr-honeypot");
  EXPECT_EQ(e.timezone, "UTC");
  EXPECT_EQ(e.timestamp, 1572688800.5);
  EXPECT_EQ(got->info.state, "pending");

  auto date = entry_from_bson(ext(R"({"_id": {"$oid": "5ea7816a2b3c4d5e6f708192"}, "typtag": "x",
      "datetime": {"$date": {"$numberLong": "1572688800500"}}})")
                                  .get());
  ASSERT_TRUE(date);
  EXPECT_EQ(date->info.entry.timestamp, 1572688800.5);

  auto both = entry_from_bson(ext(R"({"_id": {"$oid": "5ea7816a2b3c4d5e6f708192"}, "typetag": "x",
      "timestamp": 1.5, "datetime": "2019-11-02T10:00:00"})")
                                  .get());
  EXPECT_EQ(both->info.entry.timestamp, 1.5);  // timestamp wins

  auto neither =
      entry_from_bson(ext(R"({"_id": {"$oid": "5ea7816a2b3c4d5e6f708192"}, "typetag": "x",
      "datetime": "not a time"})")
                          .get());
  EXPECT_EQ(neither->info.entry.timestamp, 0);
}

TEST(MongoLegacy, TheTimeRangeCoversBothFields) {
  EXPECT_EQ(
      canonical_json(upload_time_range(1572688800.0, std::nullopt).get()),
      canonical_json(ext(R"({"$or": [{"timestamp": {"$gte": {"$numberDouble": "1572688800.0"}}},
                {"timestamp": {"$exists": false}, "datetime": {"$gte": "2019-11-02T10:00:00"}},
                {"timestamp": {"$exists": false},
                 "datetime": {"$gte": {"$date": {"$numberLong": "1572688800000"}}}}]})")
                         .get()));
}

}  // namespace
}  // namespace cybexp::mongo
