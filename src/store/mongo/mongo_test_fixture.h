// Shared setup for the live MongoDB tests: they run against the server that
// CYBEXP_TEST_MONGODB_URI names (scripts/mongo-smoke.sh starts a CongoDB
// one) and are skipped, saying why, when it is not set. Each test gets its
// own databases, dropped afterwards.
//
// CongoDB (the small wire-compatible server the smoke script runs) keeps
// numbers as JavaScript does (a whole double comes back as an int32) and
// enforces no unique index; the few assertions that need a real MongoDB
// check congo() and say so when they are left out.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>

#include "store/mongo/mongo_entries.h"
#include "store/mongo/mongo_raw.h"
#include "store/mongo/mongo_store.h"
#include "support/store_testing.h"

namespace cybexp::mongo {

using testing::bytes;
using testing::claim_request;
using testing::document_counts;
using testing::documents_of;
using testing::entries_of;
using testing::finish_marked;
using testing::ids_of;
using testing::new_entry;
using testing::ok;
using testing::processed;
using testing::skipped;

// The server CYBEXP_TEST_MONGODB_URI names, or nullptr when it is not set.
inline const char* test_server_uri() {
  const char* uri = std::getenv("CYBEXP_TEST_MONGODB_URI");
  return uri == nullptr || *uri == '\0' ? nullptr : uri;
}
inline constexpr const char* kNoTestServer =
    "CYBEXP_TEST_MONGODB_URI is not set, so there is no MongoDB server to test against: run "
    "scripts/mongo-smoke.sh, or set it to a mongodb:// URL";

// A test's own cache and archive databases (one database for both when
// one_database), dropped on destruction.
class TestDatabases {
 public:
  TestDatabases(const std::string& uri, bool one_database) {
    static std::atomic<int> counter{0};
    const std::string prefix =
        "cybexp_t" + std::to_string(getpid()) + "_" + std::to_string(++counter);
    cache = StoreConfig{uri, prefix + (one_database ? "_one" : "_cache"), "file_entries"};
    archive = StoreConfig{uri, prefix + (one_database ? "_one" : "_tahoe"), "instance"};
    pool = ok(Pool::open(uri));
  }
  ~TestDatabases() {
    Client client = pool->acquire();
    for (const auto& db : {cache.db, archive.db}) {
      mongoc_database_t* d = mongoc_client_get_database(client.get(), db.c_str());
      mongoc_database_drop(d, nullptr);
      mongoc_database_destroy(d);
    }
  }
  TestDatabases(const TestDatabases&) = delete;
  TestDatabases& operator=(const TestDatabases&) = delete;

  StoreConfig cache, archive;
  std::shared_ptr<Pool> pool;
};

class MongoLive : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* uri = test_server_uri();
    if (uri == nullptr) GTEST_SKIP() << kNoTestServer;
    databases_.emplace(uri, false);
    cache_ = databases_->cache;
    archive_ = databases_->archive;
    pool_ = databases_->pool;
    BsonPtr cmd = Doc().int32("buildInfo", 1).take();
    bson_t reply;
    bson_error_t err;
    Client client = pool_->acquire();
    if (mongoc_client_command_simple(client.get(), "admin", cmd.get(), nullptr, &reply, &err)) {
      congo_ = get_string(&reply, "gitVersion").value_or("") == "congodb";
    }
    bson_destroy(&reply);
  }

  void TearDown() override { databases_.reset(); }

  bool congo() const { return congo_; }

  std::shared_ptr<MongoCache> open_cache() { return ok(MongoCache::open(cache_)); }
  std::shared_ptr<MongoArchive> open_archive() { return ok(MongoArchive::open(archive_)); }

  // Behind the store's back: insert documents given as canonical extended
  // JSON (exact BSON types), find, count.
  void insert(const std::string& db, const std::string& coll, std::string_view json) {
    bson_error_t err;
    BsonPtr doc(bson_new_from_json(reinterpret_cast<const std::uint8_t*>(json.data()),
                                   static_cast<ssize_t>(json.size()), &err));
    if (!doc) throw std::runtime_error(std::string("bad test JSON: ") + err.message);
    insert_bson(db, coll, doc.get());
  }
  void insert_bson(const std::string& db, const std::string& coll, const bson_t* doc) {
    Client client = pool_->acquire();
    Collection c = client.collection(db, coll);
    bson_error_t err;
    if (!mongoc_collection_insert_one(c.get(), doc, nullptr, nullptr, &err)) {
      throw std::runtime_error(std::string("insert: ") + err.message);
    }
  }
  std::vector<BsonPtr> find(const std::string& db, const std::string& coll,
                            const bson_t* query = nullptr) {
    Client client = pool_->acquire();
    Collection c = client.collection(db, coll);
    BsonPtr all = new_bson();
    BsonPtr opts = Doc().sub("sort", Doc().int32("_id", 1)).take();
    Cursor cursor(mongoc_collection_find_with_opts(c.get(), query ? query : all.get(), opts.get(),
                                                   nullptr));
    std::vector<BsonPtr> out;
    ok(drain_cursor(cursor.get(), "test", "find", [&](const bson_t* d) {
      out.push_back(copy_bson(d));
      return true;
    }));
    return out;
  }
  void update(const std::string& db, const std::string& coll, const bson_t* query,
              const bson_t* change) {
    Client client = pool_->acquire();
    Collection c = client.collection(db, coll);
    bson_error_t err;
    if (!mongoc_collection_update_many(c.get(), query, change, nullptr, nullptr, &err)) {
      throw std::runtime_error(std::string("update: ") + err.message);
    }
  }
  void remove(const std::string& db, const std::string& coll, const bson_t* query) {
    Client client = pool_->acquire();
    Collection c = client.collection(db, coll);
    bson_error_t err;
    if (!mongoc_collection_delete_many(c.get(), query, nullptr, nullptr, &err)) {
      throw std::runtime_error(std::string("delete: ") + err.message);
    }
  }
  // A file in the cache's GridFS as the API module's pymongo writes one.
  bson_oid_t upload(const std::vector<std::uint8_t>& data);

  std::optional<TestDatabases> databases_;
  StoreConfig cache_, archive_;
  std::shared_ptr<Pool> pool_;
  bool congo_ = false;
};

inline bson_oid_t MongoLive::upload(const std::vector<std::uint8_t>& data) {
  Client client = pool_->acquire();
  mongoc_database_t* db = mongoc_client_get_database(client.get(), cache_.db.c_str());
  bson_error_t err;
  mongoc_gridfs_bucket_t* bucket = mongoc_gridfs_bucket_new(db, nullptr, nullptr, &err);
  bson_value_t id;
  mongoc_stream_t* s =
      mongoc_gridfs_bucket_open_upload_stream(bucket, "upload", nullptr, &id, &err);
  if (s == nullptr) throw std::runtime_error(std::string("upload: ") + err.message);
  auto* p = const_cast<std::uint8_t*>(data.data());
  if (!data.empty() && mongoc_stream_write(s, p, data.size(), 0) != static_cast<ssize_t>(data.size())) {
    throw std::runtime_error("upload: write failed");
  }
  mongoc_stream_close(s);
  mongoc_stream_destroy(s);
  mongoc_gridfs_bucket_destroy(bucket);
  mongoc_database_destroy(db);
  return id.value.v_oid;
}

}  // namespace cybexp::mongo
