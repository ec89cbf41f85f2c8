// The configurations the store contract suite runs over (see
// store_contract_fixture.h), each with a way behind the stores' back.
#include <stdexcept>

#include "store/sqlite/sqlite_test_util.h"
#include "store/store_contract_fixture.h"

#if CYBEXP_WITH_POSTGRES
#include "store/postgres/pg_connection.h"
#include "support/postgres_server.h"
#endif
#if CYBEXP_WITH_MONGO
#include "store/mongo/mongo_test_fixture.h"
#endif

namespace cybexp::testing {
namespace {

class SqliteBackend final : public StoreBackend {
 public:
  explicit SqliteBackend(bool one_file)
      : one_file_(one_file),
        cache_path_((dir_ / (one_file ? "one.db" : "cache.db")).string()),
        archive_path_((dir_ / (one_file ? "one.db" : "archive.db")).string()) {}

  Result<Stores> open() override {
    if (one_file_) return open_sqlite_combined(cache_path_);
    return open_stores({"sqlite:" + cache_path_, "", ""}, {"sqlite:" + archive_path_, "", ""});
  }
  bool one_database() const override { return one_file_; }
  void drop_blob(const std::string& id) override {
    sqlite::testing::raw_sql(cache_path_, "DELETE FROM blobs WHERE entry_id = " + id);
  }

 private:
  TempDir dir_;
  bool one_file_;
  std::string cache_path_, archive_path_;
};

#if CYBEXP_WITH_POSTGRES
class PostgresBackend final : public StoreBackend {
 public:
  explicit PostgresBackend(bool one_database)
      : cache_{test_support::fresh_test_database(), "", ""},
        archive_{one_database ? cache_.url : test_support::fresh_test_database(), "", ""} {}

  Result<Stores> open() override { return open_postgres(&cache_, &archive_); }
  bool one_database() const override { return cache_.url == archive_.url; }
  void drop_blob(const std::string& id) override {
    pg::Connection conn(cache_.url);
    ok(conn.exec("test", "DELETE FROM cybexp_blobs WHERE entry_id = " + id));
  }

 private:
  StoreConfig cache_, archive_;
};
#endif

#if CYBEXP_WITH_MONGO
class MongoBackend final : public StoreBackend {
 public:
  MongoBackend(const std::string& uri, bool one_database) : dbs_(uri, one_database) {}

  Result<Stores> open() override { return open_mongo(&dbs_.cache, &dbs_.archive); }
  // MongoDB commits cache and archive apart even in one database.
  bool one_database() const override { return false; }
  bool counts_json_bytes() const override { return false; }
  void drop_blob(const std::string& id) override {
    mongo::Client client = dbs_.pool->acquire();
    mongo::Collection coll = client.collection(dbs_.cache.db, dbs_.cache.coll);
    mongo::BsonPtr sel = mongo::Doc().oid("_id", *mongo::parse_oid(id)).take();
    mongo::BsonPtr unset =
        mongo::Doc().sub("$unset", mongo::Doc().str("fid", "")).take();
    bson_error_t err;
    if (!mongoc_collection_update_one(coll.get(), sel.get(), unset.get(), nullptr, nullptr, &err)) {
      throw std::runtime_error(std::string("drop_blob: ") + err.message);
    }
  }

 private:
  mongo::TestDatabases dbs_;
};
#endif

}  // namespace

std::vector<std::string> contract_configs() {
  return {"SqliteOneFile",        "SqliteTwoFiles",   "PostgresOneDatabase",
          "PostgresTwoDatabases", "MongoOneDatabase", "MongoTwoDatabases"};
}

std::vector<std::string> one_database_configs() { return {"SqliteOneFile", "PostgresOneDatabase"}; }

std::unique_ptr<StoreBackend> make_backend(const std::string& name, std::string* why) {
  if (name.starts_with("Sqlite")) return std::make_unique<SqliteBackend>(name == "SqliteOneFile");
  if (name.starts_with("Postgres")) {
#if CYBEXP_WITH_POSTGRES
    return std::make_unique<PostgresBackend>(name == "PostgresOneDatabase");
#else
    *why = "built without PostgreSQL (CYBEXP_WITH_POSTGRES=OFF)";
    return nullptr;
#endif
  }
#if CYBEXP_WITH_MONGO
  if (const char* uri = mongo::test_server_uri()) {
    return std::make_unique<MongoBackend>(uri, name == "MongoOneDatabase");
  }
  *why = mongo::kNoTestServer;
#else
  *why = "built without MongoDB (CYBEXP_WITH_MONGO=OFF)";
#endif
  return nullptr;
}

}  // namespace cybexp::testing
