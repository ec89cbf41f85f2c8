// Both upstream configuration shapes (docs/UPSTREAM-FORMATS.md section 6), loaded from
// the files upstream ships (tests/data/upstream, verbatim), and what they
// resolve to; conflicting archive targets; the private key's advice.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "cybexp/config.h"

namespace cybexp {
namespace {

namespace fs = std::filesystem;

const fs::path kUpstream = fs::path(CYBEXP_TEST_DATA_DIR) / "upstream";
const fs::path kOrigin = "/etc/cybexp/archive/config.json";

void expect_target(const StoreConfig& t, const std::string& url, const std::string& db,
                   const std::string& coll) {
  EXPECT_EQ(t.url, url);
  EXPECT_EQ(t.db, db);
  EXPECT_EQ(t.coll, coll);
}

TEST(UpstreamConfig, A18b070ShippedFileLoadsUnchanged) {
  auto c = load_config(kUpstream / "a18b070-config.json");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->shape, ConfigShape::kA18b070);
  expect_target(c->cache, "mongodb://cici-api/", "cache_db", "file_entries");
  expect_target(c->archive, "mongodb://mongo1,mongo2,mongo2:27020/?replicaSet=rs0", "tahoe_db",
                "instance");
  EXPECT_EQ(c->private_keys, std::vector<fs::path>{kUpstream / "priv.pem"});
  EXPECT_FALSE(c->private_key_configured);
  EXPECT_EQ(c->public_key, kUpstream / "pub.pem");
  EXPECT_EQ(c->lease_seconds, 300);
  EXPECT_EQ(c->warnings, std::vector<std::string>{});
  EXPECT_EQ(describe_target(c->archive),
            "mongodb://mongo1,mongo2,mongo2:27020/?replicaSet=rs0 (database tahoe_db, collection "
            "instance)");
}

TEST(UpstreamConfig, HeadShippedFileLoadsUnchanged) {
  auto c = load_config(kUpstream / "head-config.json");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->shape, ConfigShape::kHead);
  expect_target(c->cache, "...", "cache_db", "file_entries");
  expect_target(c->archive, "...", "tahoe_db", "instance");
  EXPECT_EQ(c->private_keys, std::vector<fs::path>{kUpstream / "priv.pem"});
  EXPECT_EQ(c->warnings, std::vector<std::string>{});
}

TEST(UpstreamConfig, A18b070DefaultsForWhatTheFileLeavesOut) {
  auto c = parse_config(
      R"({"archive": {"tahoe_db": "t"}, "cache": {"cache_coll": "fe", "private_key": "k.pem"}})",
      kOrigin);
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->shape, ConfigShape::kA18b070);
  expect_target(c->cache, "mongodb://localhost:27017/", "cache_db", "fe");
  expect_target(c->archive, "mongodb://localhost:27017/", "t",
                "tahoe_coll");  // a18b070's default, not instance
  EXPECT_EQ(c->private_keys, std::vector<fs::path>{"/etc/cybexp/archive/k.pem"});
  EXPECT_TRUE(c->private_key_configured);
}

TEST(UpstreamConfig, HeadDefaultsAndDocumentsThroughTahoe) {
  auto empty = parse_config("{}", kOrigin);
  ASSERT_TRUE(empty.has_value()) << empty.error().message;
  EXPECT_EQ(empty->shape, ConfigShape::kHead);
  expect_target(empty->cache, "mongodb://localhost:27017/", "cache_db", "file_entries");
  expect_target(empty->archive, "mongodb://localhost:27017/", "tahoe_db", "instance");
  EXPECT_EQ(empty->warnings,
            std::vector<std::string>{
                "no archive collection is named: using upstream HEAD's default 'instance' "
                "(upstream a18b070 defaulted to 'tahoe_coll'); set archive.coll to say which"});

  auto tahoe_only = parse_config(R"({"cache": {"mongo_url": "mongodb://c/"},
                                     "tahoe": {"mongo_url": "mongodb://t/", "db": "tdb", "coll": "docs", "x": 1},
                                     "analytics": {"anything": true}})",
                                 kOrigin);
  ASSERT_TRUE(tahoe_only.has_value()) << tahoe_only.error().message;
  expect_target(tahoe_only->cache, "mongodb://c/", "cache_db", "file_entries");
  expect_target(tahoe_only->archive, "mongodb://t/", "tdb", "docs");

  auto same = parse_config(R"({"archive": {"mongo_url": "mongodb://a:27017"},
                               "tahoe": {"mongo_url": "mongodb://a:27017/", "coll": "instance"}})",
                           kOrigin);
  ASSERT_TRUE(same.has_value()) << same.error().message;
  expect_target(same->archive, "mongodb://a:27017", "tahoe_db", "instance");
}

TEST(UpstreamConfig, TwoArchiveTargetsAreAnErrorNamingBoth) {
  auto colls =
      parse_config(R"({"archive": {"archive_coll": "raw", "tahoe_coll": "instance"}})", kOrigin);
  ASSERT_FALSE(colls.has_value());
  EXPECT_EQ(colls.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(colls.error().message,
            "/etc/cybexp/archive/config.json: 'archive.tahoe_coll' is \"instance\" but "
            "'archive.archive_coll' is "
            "\"raw\": the file names two different archive collections; make them the same");

  auto defaulted = parse_config(R"({"archive": {"archive_coll": "instance"}})", kOrigin);
  ASSERT_FALSE(defaulted.has_value());
  EXPECT_EQ(defaulted.error().message,
            "/etc/cybexp/archive/config.json: 'archive.tahoe_coll (not set: upstream a18b070's "
            "default, where it "
            "wrote)' is \"tahoe_coll\" but 'archive.archive_coll' is \"instance\": the file names "
            "two different "
            "archive collections; make them the same");

  auto sections =
      parse_config(R"({"archive": {"mongo_url": "mongodb://arch:s3cret@a/", "db": "tahoe_db"},
                                   "tahoe": {"mongo_url": "mongodb://t/", "db": "tahoe_db"}})",
                   kOrigin);
  ASSERT_FALSE(sections.has_value());
  EXPECT_EQ(sections.error().message,
            "/etc/cybexp/archive/config.json: the 'archive' and 'tahoe' sections name different "
            "archive targets "
            "(archive: mongodb://arch:***@a/ (database tahoe_db, collection instance); tahoe: "
            "mongodb://t/ "
            "(database tahoe_db, collection instance)): upstream HEAD writes documents through "
            "tahoe and expects "
            "archive to be the same; make them the same");

  auto cache = parse_config(R"({"cache": {"db": "a", "cache_db": "b"}})", kOrigin);
  ASSERT_FALSE(cache.has_value());
  EXPECT_EQ(cache.error().message,
            "/etc/cybexp/archive/config.json: 'cache.db' is \"a\" but 'cache.cache_db' is \"b\": "
            "the file names "
            "two different cache databases; make them the same");

  auto urls = parse_config(
      R"({"cache": {"url": "sqlite:a", "mongo_url": "mongodb://c/"}, "archive": {"url": "sqlite:b"}})",
      kOrigin);
  ASSERT_FALSE(urls.has_value());
  EXPECT_EQ(urls.error().message,
            "/etc/cybexp/archive/config.json: 'cache.url' and 'cache.mongo_url' name different "
            "servers: keep one");
}

TEST(UpstreamConfig, OurShapeStillRequiresItsSections) {
  auto c = parse_config(
      R"({"cache": {"url": "sqlite:c.db"}, "archive": {"mongo_url": "mongodb://a/"}})", kOrigin);
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->shape, ConfigShape::kExtended);
  expect_target(c->cache, "sqlite:/etc/cybexp/archive/c.db", "cache_db", "file_entries");
  expect_target(c->archive, "mongodb://a/", "tahoe_db", "instance");
  EXPECT_EQ(describe_target(c->cache), "sqlite:/etc/cybexp/archive/c.db");

  auto no_url =
      parse_config(R"({"cache": {"url": "sqlite:c.db"}, "archive": {"db": "x"}})", kOrigin);
  ASSERT_FALSE(no_url.has_value());
  EXPECT_EQ(no_url.error().message,
            "/etc/cybexp/archive/config.json: 'archive.url' is missing: give sqlite:PATH, "
            "postgresql://... or "
            "mongodb://...");

  auto unknown = parse_config(R"({"archive": {"tahoe_url": "x"}})", kOrigin);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().message,
            "/etc/cybexp/archive/config.json: unknown key 'archive.tahoe_url': expected url (or "
            "mongo_url), db, "
            "coll, tahoe_db, tahoe_coll, archive_db, archive_coll");
}

TEST(UpstreamConfig, AMissingKeySaysWhereElseItLooked) {
  const fs::path dir =
      fs::temp_directory_path() / ("cybexp-key-advice-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  Config c = *parse_config(R"({"archive": {"tahoe_db": "tahoe_db"}})", kOrigin);
  const fs::path missing = "/etc/cybexp/archive/priv.pem";
  EXPECT_EQ(private_key_advice(c, missing, dir),
            "cache.private_key is not set, so it is priv.pem beside the configuration; also looked "
            "for priv.pem in "
            "the working directory " +
                dir.string() +
                " (where upstream reads it): not there either. Create a key pair with "
                "'cybexp-archive keygen', or "
                "set cache.private_key to the key whose public half the API module encrypts with");
  std::ofstream(dir / "priv.pem") << "key";
  EXPECT_EQ(private_key_advice(c, missing, dir),
            "cache.private_key is not set, so it is priv.pem beside the configuration; found "
            "priv.pem in the "
            "working directory " +
                dir.string() + ", where upstream reads it: set cache.private_key to \"" +
                (dir / "priv.pem").string() +
                "\" (or move the key beside the configuration, mode 0600)");
  c.private_key_configured = true;
  EXPECT_TRUE(private_key_advice(c, missing, dir)
                  .starts_with("cache.private_key names it; found priv.pem"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cybexp
