#include "cybexp/config.h"

#include <gtest/gtest.h>

namespace cybexp {
namespace {

const std::filesystem::path kOrigin = "/etc/cybexp/config.json";

TEST(Config, UpstreamFileWorksAsIs) {
  auto c = parse_config(R"({"archive": {"mongo_url": "mongodb://a:27017", "db": "tahoe_db", "coll": "instance"},
                            "cache": {"mongo_url": "mongodb://c:27017", "db": "cache_db", "coll": "file_entries"},
                            "api": {"anything": 1}, "identity": {}, "tahoe": {}})",
                        kOrigin);
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->cache.url, "mongodb://c:27017");
  EXPECT_EQ(c->cache.db, "cache_db");
  EXPECT_EQ(c->cache.coll, "file_entries");
  EXPECT_EQ(c->archive.url, "mongodb://a:27017");
  EXPECT_EQ(c->archive.coll, "instance");
  ASSERT_EQ(c->private_keys.size(), 1u);
  EXPECT_EQ(c->private_keys[0], "/etc/cybexp/priv.pem");
  EXPECT_EQ(c->public_key, "/etc/cybexp/pub.pem");
  EXPECT_EQ(c->lease_seconds, 300);
  EXPECT_EQ(c->limits.max_blob_bytes, 256ull << 20);
}

TEST(Config, RelativePathsAreRelativeToTheFile) {
  auto c = parse_config(R"({"cache": {"url": "sqlite:data/cache.db", "private_key": ["k1.pem", "/abs/k2.pem"]},
                            "archive": {"url": "sqlite:/var/lib/cybexp/archive.db"},
                            "public_key": "keys/pub.pem", "lease_seconds": 60,
                            "limits": {"max_depth": 32, "max_blob_bytes": 1024}})",
                        kOrigin);
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->cache.url, "sqlite:/etc/cybexp/data/cache.db");
  EXPECT_EQ(c->archive.url, "sqlite:/var/lib/cybexp/archive.db");
  ASSERT_EQ(c->private_keys.size(), 2u);
  EXPECT_EQ(c->private_keys[0], "/etc/cybexp/k1.pem");
  EXPECT_EQ(c->private_keys[1], "/abs/k2.pem");
  EXPECT_EQ(c->public_key, "/etc/cybexp/keys/pub.pem");
  EXPECT_EQ(c->lease_seconds, 60);
  EXPECT_EQ(c->limits.max_depth, 32u);
  EXPECT_EQ(c->limits.max_blob_bytes, 1024u);
}

TEST(Config, UnknownKeysAreNamed) {
  auto c = parse_config(R"({"cache": {"url": "sqlite:a", "colll": "x"}, "archive": {"url": "sqlite:b"}})",
                        kOrigin);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(c.error().message.find("unknown key 'cache.colll'"), std::string::npos) << c.error().message;

  auto top = parse_config(R"({"cache": {"url": "sqlite:a"}, "archive": {"url": "sqlite:b"}, "workers": 3})",
                          kOrigin);
  ASSERT_FALSE(top.has_value());
  EXPECT_NE(top.error().message.find("unknown key 'workers'"), std::string::npos);
}

TEST(Config, MistakesSayWhatToDo) {
  auto missing = parse_config(R"({"cache": {"url": "sqlite:a"}})", kOrigin);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().message, "/etc/cybexp/config.json: the 'archive' section is missing");

  auto bad_type = parse_config(R"({"cache": {"url": 5}, "archive": {"url": "sqlite:b"}})", kOrigin);
  ASSERT_FALSE(bad_type.has_value());
  EXPECT_EQ(bad_type.error().message, "/etc/cybexp/config.json: 'cache.url' must be a string");

  // An empty URL is a mistake, not the default (found by fuzz_config).
  auto empty_url = parse_config(R"({"cache": {"url": "sqlite:a"}, "archive": {"url": ""}})", kOrigin);
  ASSERT_FALSE(empty_url.has_value());
  EXPECT_EQ(empty_url.error().message,
            "/etc/cybexp/config.json: 'archive.url' is empty: give the store's URL, or leave the "
            "key out for the default");

  auto lease = parse_config(R"({"cache": {"url": "sqlite:a"}, "archive": {"url": "sqlite:b"}, "lease_seconds": 0})",
                            kOrigin);
  ASSERT_FALSE(lease.has_value());
  EXPECT_EQ(lease.error().message,
            "/etc/cybexp/config.json: 'lease_seconds' must be between 1 and 86400");

  auto not_json = parse_config("{cache:", kOrigin);
  ASSERT_FALSE(not_json.has_value());
  EXPECT_EQ(not_json.error().kind, ErrorKind::kInvalidArgument);

  auto file = load_config("/nonexistent/cybexp.json");
  ASSERT_FALSE(file.has_value());
  EXPECT_EQ(file.error().kind, ErrorKind::kInvalidArgument);
}

TEST(Config, EntrySecondsIsALimit) {
  auto c = parse_config(R"({"cache": {"url": "sqlite:a"}, "archive": {"url": "sqlite:b"},
                            "limits": {"entry_seconds": 5}})",
                        kOrigin);
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->limits.entry_seconds, 5u);
  EXPECT_EQ(Limits{}.entry_seconds, 60u);

  for (const char* bad : {"0", "86401", "1.5", "\"5\""}) {
    SCOPED_TRACE(bad);
    auto r = parse_config(std::string(R"({"cache": {"url": "sqlite:a"}, "archive": {"url": "sqlite:b"},
                                          "limits": {"entry_seconds": )") + bad + "}}",
                          kOrigin);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);
    EXPECT_EQ(r.error().message, std::string("/etc/cybexp/config.json: 'limits.entry_seconds' must ") +
                                     (bad[0] == '0' || bad[0] == '8' ? "be between 1 and 86400"
                                                                     : "be an integer"));
  }
}

TEST(Config, DefaultsLiveUnderHome) {
  Config c = default_config("/srv/cybexp-data");
  EXPECT_EQ(c.cache.url, "sqlite:/srv/cybexp-data/cache.db");
  EXPECT_EQ(c.archive.url, "sqlite:/srv/cybexp-data/archive.db");
  EXPECT_EQ(c.private_keys.at(0), "/srv/cybexp-data/priv.pem");
  EXPECT_EQ(c.public_key, "/srv/cybexp-data/pub.pem");
}

}  // namespace
}  // namespace cybexp

namespace cybexp {
namespace {

TEST(Config, TimeoutsAndLogLevel) {
  auto c = parse_config(R"({"cache": {"url": "sqlite:a"}, "archive": {"url": "postgresql://h/db"},
                            "timeouts": {"statement_seconds": 2.5, "lock_seconds": 1,
                                         "connect_seconds": 3, "keepalive_seconds": 12},
                            "log_level": "debug"})",
                        kOrigin);
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->timeouts.statement_seconds, 2.5);
  EXPECT_EQ(c->timeouts.lock_seconds, 1.0);
  EXPECT_EQ(c->timeouts.connect_seconds, 3.0);
  EXPECT_EQ(c->timeouts.keepalive_seconds, 12.0);
  EXPECT_EQ(c->cache.timeouts.lock_seconds, 1.0);  // every store gets them
  EXPECT_EQ(c->archive.timeouts.statement_seconds, 2.5);
  EXPECT_EQ(c->log_level, "debug");
}

TEST(Config, TimeoutsDefaultForEveryShape) {
  auto upstream = parse_config(R"({"archive": {"mongo_url": "mongodb://a:27017"},
                                   "cache": {"mongo_url": "mongodb://c:27017"}})",
                               kOrigin);
  ASSERT_TRUE(upstream.has_value()) << upstream.error().message;
  EXPECT_EQ(upstream->cache.timeouts.statement_seconds, 30.0);
  EXPECT_EQ(upstream->cache.timeouts.lock_seconds, 10.0);
  EXPECT_EQ(upstream->archive.timeouts.connect_seconds, 10.0);
  EXPECT_EQ(upstream->archive.timeouts.keepalive_seconds, 30.0);
  EXPECT_FALSE(upstream->log_level.has_value());
  EXPECT_EQ(default_config("/tmp/h").cache.timeouts.statement_seconds, 30.0);
}

TEST(Config, BadTimeoutsAndLogLevelAreNamed) {
  const auto error = [](const std::string& extra) {
    auto c = parse_config(
        R"({"cache": {"url": "sqlite:a"}, "archive": {"url": "sqlite:b"}, )" + extra + "}",
        kOrigin);
    return c ? std::string("loaded") : c.error().message;
  };
  EXPECT_EQ(
      error(R"("timeouts": {"lock_seconds": 0})"),
      "/etc/cybexp/config.json: 'timeouts.lock_seconds' must be between 0.1 and 86400 seconds");
  EXPECT_EQ(error(R"("timeouts": {"statement_seconds": "30"})"),
            "/etc/cybexp/config.json: 'timeouts.statement_seconds' must be a number of seconds");
  EXPECT_EQ(error(R"("timeouts": {"idle_seconds": 3})"),
            "/etc/cybexp/config.json: unknown key 'timeouts.idle_seconds': expected "
            "statement_seconds, lock_seconds, connect_seconds, keepalive_seconds");
  EXPECT_EQ(error(R"("log_level": "loud")"),
            "/etc/cybexp/config.json: 'log_level' is 'loud': use debug, info, warning or error");
}

}  // namespace
}  // namespace cybexp
