// The MongoDB store's I/O plumbing over libmongoc: a client pool per URL,
// clients checked out per operation, owning handles, and errors turned into
// cybexp::Error (kDatabase, with a label that never shows credentials).
//
// Thread safety: a Pool may be used from any number of threads at once
// (mongoc_client_pool_t is thread-safe); a Client, a Collection and a
// cursor belong to the thread that checked them out.
#pragma once

#include <mongoc/mongoc.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "cybexp/result.h"
#include "cybexp/store_factory.h"
#include "store/mongo/mongo_bson.h"

namespace cybexp::mongo {

struct CollectionDeleter {
  void operator()(mongoc_collection_t* c) const { mongoc_collection_destroy(c); }
};
using Collection = std::unique_ptr<mongoc_collection_t, CollectionDeleter>;

struct CursorDeleter {
  void operator()(mongoc_cursor_t* c) const { mongoc_cursor_destroy(c); }
};
using Cursor = std::unique_ptr<mongoc_cursor_t, CursorDeleter>;

class Pool;

// A client out of the pool, returned to it on destruction.
class Client {
 public:
  Client(mongoc_client_pool_t* pool, mongoc_client_t* client) : pool_(pool), client_(client) {}
  Client(Client&& o) noexcept : pool_(o.pool_), client_(o.client_) { o.client_ = nullptr; }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  Client& operator=(Client&&) = delete;
  ~Client() {
    if (client_ != nullptr) mongoc_client_pool_push(pool_, client_);
  }
  mongoc_client_t* get() const { return client_; }
  Collection collection(const std::string& db, const std::string& coll) const {
    return Collection(mongoc_client_get_collection(client_, db.c_str(), coll.c_str()));
  }

 private:
  mongoc_client_pool_t* pool_;
  mongoc_client_t* client_;
};

class Pool {
 public:
  // Parses the URL (kInvalidArgument when it is not one) and checks that the
  // server answers a ping (kDatabase).
  // timeouts: socketTimeoutMS, connectTimeoutMS and serverSelectionTimeoutMS
  // unless the URL sets them.
  static Result<std::shared_ptr<Pool>> open(const std::string& url,
                                            const StoreTimeouts& timeouts = {});
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  Client acquire() const { return Client(pool_, mongoc_client_pool_pop(pool_)); }
  // "mongodb HOST:PORT": for messages; no user name or password.
  const std::string& label() const { return label_; }
  const std::string& url() const { return url_; }

 private:
  Pool() = default;
  std::string url_;
  std::string label_;
  mongoc_uri_t* uri_ = nullptr;
  mongoc_client_pool_t* pool_ = nullptr;
};

// The options of the archive's insert_many: unordered, no client-side key
// checks, and a write concern of {w: "majority", j: true} unless the URL sets
// w or journal itself (then the URL's write concern applies). A document must
// be in the journal of a majority of the archive's replica set before the
// cache entry that refers to it is marked processed: the cache is another
// server, and a mark that outlives a rolled-back insert would point at a
// document that is gone. wtimeoutMS from the URL is kept. kInvalidArgument
// for a URL libmongoc cannot parse.
Result<BsonPtr> archive_insert_opts(const std::string& url);

// kDatabase: "<where>: <what>: <libmongoc's message>".
Error db_error(std::string_view where, std::string_view what, const bson_error_t& e);
// The server said E11000 (a unique index refused a write).
bool is_duplicate_key(const bson_error_t& e);
// The server answered with an error (as opposed to a network failure).
bool is_server_error(const bson_error_t& e);

// Calls fn for each document of the cursor until it returns false; the
// cursor's error, if any, as kDatabase.
Result<void> drain_cursor(mongoc_cursor_t* cursor, std::string_view where, std::string_view what,
                          const std::function<bool(const BsonStruct*)>& fn);

}  // namespace cybexp::mongo
