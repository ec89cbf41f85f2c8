// Durability on PostgreSQL: the store's sessions never run with
// synchronous_commit=off, whatever the server, database, role or URL says,
// since a commit the server acknowledged may be acted on at once (a document
// before the cache entry that refers to it is marked, an entry before
// `submit` prints its id). Stronger settings are left as they are.
#include <libpq-fe.h>

#include "store/postgres/pg_test_fixture.h"

namespace cybexp::pg {
namespace {

class PostgresDurabilityTest : public PostgresTest {
 protected:
  // ALTER DATABASE ... SET: the default of every new session on it.
  void set_database_default(const std::string& value) {
    Connection admin(test_server().url());
    const std::string db = url_.substr(url_.rfind('/') + 1);
    ok(admin.run("alter database",
                 ("ALTER DATABASE " + db + " SET synchronous_commit = " + value).c_str()));
  }
  static std::vector<std::string> settings(PostgresStore& store) {
    return ok(store.session_settings("synchronous_commit"));
  }
};

TEST_F(PostgresDurabilityTest, DatabaseDefaultOffIsOverridden) {
  set_database_default("off");
  auto store = open_store();
  EXPECT_EQ(settings(*store), (std::vector<std::string>{"on", "on"}));
}

TEST_F(PostgresDurabilityTest, UrlOptionsOffIsOverridden) {
  StoreConfig config{url_ + "?options=-c%20synchronous_commit%3Doff", "", ""};
  Stores stores = ok(open_postgres(&config, &config));
  auto store = std::dynamic_pointer_cast<PostgresStore>(stores.archive);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(settings(*store), (std::vector<std::string>{"on", "on"}));
}

TEST_F(PostgresDurabilityTest, SeparateArchiveAndCacheSessionsAreSynchronous) {
  set_database_default("off");
  StoreConfig cache{url_, "", ""};
  StoreConfig archive{url_ + "?application_name=archive", "", ""};
  Stores stores = ok(open_postgres(&cache, &archive));
  for (auto* s : {dynamic_cast<PostgresStore*>(stores.cache.get()),
                  dynamic_cast<PostgresStore*>(stores.archive.get())}) {
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(settings(*s), (std::vector<std::string>{"on", "on"}));
  }
}

TEST_F(PostgresDurabilityTest, StrongerSettingIsKept) {
  set_database_default("remote_apply");
  auto store = open_store();
  EXPECT_EQ(settings(*store), (std::vector<std::string>{"remote_apply", "remote_apply"}));
}

// A session the store did not open still gets the database default: the
// override is the store's own doing, not the test server's.
TEST_F(PostgresDurabilityTest, ServerWouldOtherwiseRunOff) {
  set_database_default("off");
  PGconn* raw = PQconnectdb(url_.c_str());
  ASSERT_EQ(PQstatus(raw), CONNECTION_OK) << PQerrorMessage(raw);
  PGresult* r = PQexec(raw, "SHOW synchronous_commit");
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK);
  EXPECT_STREQ(PQgetvalue(r, 0, 0), "off");
  PQclear(r);
  PQfinish(raw);
}

}  // namespace
}  // namespace cybexp::pg
