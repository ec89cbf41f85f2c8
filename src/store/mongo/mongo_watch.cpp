// MongoCache::wait_for_change (store.h): a change stream on the cache
// collection, kept open across sleeps on a client of its own, reporting
// inserts and the updates that can make an entry claimable again (a requeue
// removes `skip` or sets `processed` false; a release removes the lease).
// Finishing also removes the lease, so an event is confirmed by asking
// whether anything is claimable before it ends the wait. A deployment
// without change streams (a standalone server answers "only supported on
// replica sets") is told once in the log; the daemon then sleeps the
// formula, capped by backoff.max_idle_seconds.
#include <chrono>

#include "store/mongo/mongo_store.h"
#include "util/log.h"

namespace cybexp::mongo {
namespace {

constexpr const char* kPipeline = R"({"pipeline": [{"$match": {"$or": [
  {"operationType": "insert"},
  {"updateDescription.removedFields": {"$in": ["skip", "_cybexp_lease"]}},
  {"updateDescription.updatedFields.processed": false}]}}]})";
// How long one getMore waits on the server: the stop request is looked at
// this often.
constexpr const char* kStreamOpts = R"({"maxAwaitTimeMS": 250})";

BsonPtr from_json(const char* json) {
  bson_error_t err;
  return BsonPtr(bson_new_from_json(reinterpret_cast<const std::uint8_t*>(json), -1, &err));
}

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

void MongoCache::StreamDeleter::operator()(mongoc_change_stream_t* s) const {
  mongoc_change_stream_destroy(s);
}

// Opens the stream; true if it is open now, false if the deployment has none.
Result<bool> MongoCache::open_stream() {
  watch_client_.emplace(pool_->acquire());
  Collection coll = watch_client_->collection(db_, coll_);
  BsonPtr pipeline = from_json(kPipeline);
  BsonPtr opts = from_json(kStreamOpts);
  stream_.reset(mongoc_collection_watch(coll.get(), pipeline.get(), opts.get()));
  bson_error_t err;
  const bson_t* reply = nullptr;
  if (!mongoc_change_stream_error_document(stream_.get(), &err, &reply)) return true;
  stream_.reset();
  watch_client_.reset();
  if (!is_server_error(err)) return std::unexpected(db_error(where(), "watch", err));
  no_streams_ = true;
  log(LogLevel::kInfo,
      "no change streams on this MongoDB deployment (a replica set has them): new entries wait "
      "for the next pass (backoff.max_idle_seconds caps the sleep)",
      {{"collection", db_ + "." + coll_}, {"reason", err.message}});
  return false;
}

Result<bool> MongoCache::wait_for_change(double seconds, std::stop_token stop) {
  if (no_streams_) return CacheStore::wait_for_change(seconds, std::move(stop));
  if (!stream_) {
    // What happened before the stream opened is unknown: say "changed".
    if (CYBEXP_TRY(open_stream())) return true;
    return CacheStore::wait_for_change(seconds, std::move(stop));
  }
  const double deadline = steady_seconds() + seconds;
  bool event = false;
  while (!stop.stop_requested()) {
    const bson_t* doc = nullptr;
    if (mongoc_change_stream_next(stream_.get(), &doc)) {
      event = true;
      continue;  // drain the batch: a burst is one look
    }
    bson_error_t err;
    const bson_t* reply = nullptr;
    if (mongoc_change_stream_error_document(stream_.get(), &err, &reply)) {
      stream_.reset();  // reopened (and reported as a change) by the next call
      watch_client_.reset();
      return std::unexpected(db_error(where(), "watch", err));
    }
    if (event) {
      if (CYBEXP_TRY(count_claimable(false)) > 0) return true;
      event = false;
    }
    if (steady_seconds() >= deadline) break;
  }
  return false;
}

}  // namespace cybexp::mongo
