// The configurations the store contract suite runs over (see
// store_contract_fixture.h), each with a way behind the stores' back.
#include <algorithm>
#include <stdexcept>

#include "cybexp/json_value.h"

#include "store/sqlite/sqlite_test_util.h"
#include "store/store_contract_fixture.h"

#if CYBEXP_WITH_POSTGRES
#include "store/postgres/pg_connection.h"
#include "support/postgres_server.h"
#endif
#if CYBEXP_WITH_MONGO
#include "store/mongo/mongo_raw.h"
#include "store/mongo/mongo_test_fixture.h"
#endif

namespace cybexp::testing {

std::vector<AnalyticsDocument> StoreBackend::analytics_query(ArchiveStore& archive,
                                                             const std::string& sub_type) {
  std::vector<AnalyticsDocument> out;
  ok(archive.for_each_document(sub_type, [&](const RawDocument& d) {
    AnalyticsDocument& got = out.emplace_back();
    got.doc = d;
    Value line = ok(parse_json_strict(raw_document_json(d), "export"));
    for (const auto& [key, value] : line.as_object()) got.keys.push_back(key);
    std::sort(got.keys.begin(), got.keys.end());
    return true;
  }));
  return out;
}

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
  std::vector<AnalyticsDocument> analytics_query(ArchiveStore& /*archive*/,
                                                 const std::string& sub_type) override {
    using mongo::Doc;
    mongo::Client client = dbs_.pool->acquire();
    mongo::Collection coll = client.collection(dbs_.archive.db, dbs_.archive.coll);
    mongo::BsonPtr query = Doc().str("itype", "raw")
                               .str("sub_type", sub_type)
                               .sub("filters", Doc().str("$ne", "cybexp-test-filter"))
                               .sub("_valid", Doc().boolean("$ne", false))
                               .take();
    mongo::BsonPtr opts = Doc().sub("sort", Doc().int32("_id", 1)).take();
    mongo::Cursor cursor(mongoc_collection_find_with_opts(coll.get(), query.get(), opts.get(), nullptr));
    std::vector<AnalyticsDocument> out;
    ok(mongo::drain_cursor(cursor.get(), "test", "analytics query", [&](const bson_t* found) {
      AnalyticsDocument& got = out.emplace_back();
      got.keys = keys_of(found);
      got.doc = ok(mongo::raw_from_bson(found));
      return true;
    }));
    return out;
  }
  std::optional<Strings> stored_entry_keys(const std::string& id) override {
    mongo::Client client = dbs_.pool->acquire();
    mongo::Collection coll = client.collection(dbs_.cache.db, dbs_.cache.coll);
    mongo::BsonPtr sel = mongo::Doc().oid("_id", *mongo::parse_oid(id)).take();
    mongo::Cursor cursor(mongoc_collection_find_with_opts(coll.get(), sel.get(), nullptr, nullptr));
    Strings keys;
    ok(mongo::drain_cursor(cursor.get(), "test", "entry", [&](const bson_t* found) {
      keys = keys_of(found);
      return false;
    }));
    return keys;
  }
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
  static Strings keys_of(const bson_t* doc) {
    Strings keys;
    bson_iter_t it;
    if (bson_iter_init(&it, doc)) {
      while (bson_iter_next(&it)) {
        if (std::string_view(bson_iter_key(&it)) != "_id") keys.emplace_back(bson_iter_key(&it));
      }
    }
    std::sort(keys.begin(), keys.end());
    return keys;
  }
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
