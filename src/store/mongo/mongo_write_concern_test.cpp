// The archive's inserts, without a server: the options put_documents hands
// to insert_many. Documents must be journaled on a majority of the archive's
// replica set before the cache entry that refers to them is marked, unless
// the URL chose a write concern itself.
#include <gtest/gtest.h>

#include "store/mongo/mongo_client.h"

namespace cybexp::mongo {
namespace {

std::string opts_json(const std::string& url) {
  auto opts = archive_insert_opts(url);
  EXPECT_TRUE(opts.has_value()) << opts.error().message;
  if (!opts) return {};
  char* json = bson_as_relaxed_extended_json(opts->get(), nullptr);
  std::string out = json;
  bson_free(json);
  return out;
}

TEST(MongoWriteConcern, MajorityJournaledByDefault) {
  EXPECT_EQ(opts_json("mongodb://127.0.0.1:27017"),
            R"({ "ordered" : false, "validate" : false, )"
            R"("writeConcern" : { "w" : "majority", "j" : true } })");
  EXPECT_EQ(opts_json("mongodb://a:1,b:2/tahoe_db?replicaSet=rs0"),
            R"({ "ordered" : false, "validate" : false, )"
            R"("writeConcern" : { "w" : "majority", "j" : true } })");
}

TEST(MongoWriteConcern, KeepsTheUrlsTimeout) {
  EXPECT_EQ(opts_json("mongodb://127.0.0.1/?wtimeoutMS=5000"),
            R"({ "ordered" : false, "validate" : false, )"
            R"("writeConcern" : { "w" : "majority", "j" : true, "wtimeout" : 5000 } })");
}

// The URL's own write concern is the client's (libmongoc applies it to every
// operation that names none), so the options carry none.
TEST(MongoWriteConcern, UrlThatSetsWOrJournalWins) {
  const std::string plain = R"({ "ordered" : false, "validate" : false })";
  EXPECT_EQ(opts_json("mongodb://127.0.0.1/?w=1"), plain);
  EXPECT_EQ(opts_json("mongodb://127.0.0.1/?w=2&wtimeoutMS=100"), plain);
  EXPECT_EQ(opts_json("mongodb://127.0.0.1/?w=majority"), plain);
  EXPECT_EQ(opts_json("mongodb://127.0.0.1/?journal=false"), plain);
  EXPECT_EQ(opts_json("mongodb://127.0.0.1/?journal=true"), plain);
}

TEST(MongoWriteConcern, BadUrlIsRefused) {
  auto opts = archive_insert_opts("mongodb://");
  ASSERT_FALSE(opts.has_value());
  EXPECT_EQ(opts.error().kind, ErrorKind::kInvalidArgument);
}

}  // namespace
}  // namespace cybexp::mongo
