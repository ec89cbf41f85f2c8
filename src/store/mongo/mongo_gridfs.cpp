// MongoCache's blobs: GridFS in the cache database (bucket "fs", as pymongo's
// GridFS(db) that the upstream API module writes with), found by the entry's
// `fid`. Sizes come from fs.files first, so a blob over the limit is refused
// before a byte of it is read.
#include <map>

#include "store/mongo/mongo_entries.h"
#include "store/mongo/mongo_store.h"

namespace cybexp::mongo {
namespace {

// Streams are read and written in slices of this size; libmongoc moves whole
// chunks (255 KiB by default) underneath.
constexpr std::size_t kSlice = 4u << 20;
constexpr std::int32_t kNoTimeout = 0;  // the socket timeout of the URL applies

struct BucketDeleter {
  void operator()(mongoc_gridfs_bucket_t* b) const { mongoc_gridfs_bucket_destroy(b); }
};
using Bucket = std::unique_ptr<mongoc_gridfs_bucket_t, BucketDeleter>;
struct StreamDeleter {
  void operator()(mongoc_stream_t* s) const { mongoc_stream_destroy(s); }
};
using Stream = std::unique_ptr<mongoc_stream_t, StreamDeleter>;
struct DatabaseDeleter {
  void operator()(mongoc_database_t* d) const { mongoc_database_destroy(d); }
};

Result<Bucket> open_bucket(const Client& client, const std::string& db, const std::string& where) {
  std::unique_ptr<mongoc_database_t, DatabaseDeleter> database(
      mongoc_client_get_database(client.get(), db.c_str()));
  bson_error_t err;
  Bucket bucket(mongoc_gridfs_bucket_new(database.get(), nullptr, nullptr, &err));
  if (!bucket) return std::unexpected(db_error(where, "gridfs", err));
  return bucket;
}

bson_value_t oid_value(const bson_oid_t& oid) {
  bson_value_t v;
  v.value_type = BSON_TYPE_OID;
  bson_oid_copy(&oid, &v.value.v_oid);
  return v;
}

// A damaged file (a chunk missing or of the wrong size) is the entry's
// problem, not the store's: bad data, skipped; anything else is retried.
Error stream_error(mongoc_stream_t* stream, const std::string& where) {
  bson_error_t err;
  if (!mongoc_gridfs_bucket_stream_error(stream, &err)) {
    return Error{ErrorKind::kDatabase, where + ": gridfs: the blob stream failed"};
  }
  if (err.domain == MONGOC_ERROR_GRIDFS) {
    return Error{ErrorKind::kBadData, std::string("entry's blob is damaged: ") + err.message};
  }
  return db_error(where, "gridfs", err);
}

}  // namespace

Result<std::optional<std::uint64_t>> MongoCache::blob_length(const Client& client,
                                                             const bson_oid_t& fid) {
  Collection files = client.collection(db_, "fs.files");
  BsonPtr query = Doc().oid("_id", fid).take();
  BsonPtr opts = Doc().sub("projection", Doc().int32("length", 1)).int64("limit", 1).take();
  Cursor cursor(mongoc_collection_find_with_opts(files.get(), query.get(), opts.get(), nullptr));
  std::optional<std::uint64_t> length;
  CYBEXP_TRY_VOID(drain_cursor(cursor.get(), where(), "fetch_blob", [&](const bson_t* doc) {
    length = gridfs_length(doc);
    return false;
  }));
  return length;
}

Result<std::vector<std::uint8_t>> MongoCache::read_blob(const Client& client, const bson_oid_t& fid,
                                                        std::uint64_t length) {
  std::vector<std::uint8_t> out(length);
  if (length == 0) return out;
  Bucket bucket = CYBEXP_TRY(open_bucket(client, db_, where()));
  bson_value_t id = oid_value(fid);
  bson_error_t err;
  Stream stream(mongoc_gridfs_bucket_open_download_stream(bucket.get(), &id, &err));
  if (!stream) {
    if (err.domain == MONGOC_ERROR_GRIDFS) return make_error(ErrorKind::kBadData, "entry has no blob");
    return std::unexpected(db_error(where(), "fetch_blob", err));
  }
  std::size_t got = 0;
  while (got < out.size()) {
    std::size_t want = std::min(kSlice, out.size() - got);
    ssize_t n = mongoc_stream_read(stream.get(), out.data() + got, want, want, kNoTimeout);
    if (n < 0) return std::unexpected(stream_error(stream.get(), where()));
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got != out.size()) {
    return make_error(ErrorKind::kBadData, "entry's blob is damaged: fs.files says " +
                                               std::to_string(length) + " bytes, its chunks hold " +
                                               std::to_string(got));
  }
  return out;
}

Result<bson_oid_t> MongoCache::write_blob(const Client& client, const std::string& name,
                                          std::span<const std::uint8_t> blob) {
  Bucket bucket = CYBEXP_TRY(open_bucket(client, db_, where()));
  bson_value_t id;
  bson_error_t err;
  Stream stream(mongoc_gridfs_bucket_open_upload_stream(bucket.get(), name.c_str(), nullptr, &id, &err));
  if (!stream) return std::unexpected(db_error(where(), "add_entry", err));
  std::size_t put = 0;
  while (put < blob.size()) {
    std::size_t n = std::min(kSlice, blob.size() - put);
    // libmongoc's signature takes a non-const buffer; it only reads from it.
    auto* data = const_cast<std::uint8_t*>(blob.data() + put);
    if (mongoc_stream_write(stream.get(), data, n, kNoTimeout) != static_cast<ssize_t>(n)) {
      Error e = stream_error(stream.get(), where());
      mongoc_gridfs_bucket_abort_upload(stream.get());
      e.kind = ErrorKind::kDatabase;
      return std::unexpected(e);
    }
    put += n;
  }
  // Closing writes the last chunk and the fs.files document.
  if (mongoc_stream_close(stream.get()) != 0) {
    Error e = stream_error(stream.get(), where());
    e.kind = ErrorKind::kDatabase;
    return std::unexpected(e);
  }
  bson_oid_t fid;
  bson_oid_copy(&id.value.v_oid, &fid);
  return fid;
}

Result<void> MongoCache::attach_blobs(const Client& client, std::vector<CacheEntry>& entries,
                                      const std::vector<std::optional<bson_oid_t>>& fids,
                                      std::uint64_t inline_max) {
  Doc in = Doc::array();
  bool any = false;
  for (const auto& fid : fids) {
    if (fid) {
      in.oid("", *fid);
      any = true;
    }
  }
  if (!any) return {};
  std::map<std::string, std::uint64_t> lengths;
  {
    Collection files = client.collection(db_, "fs.files");
    BsonPtr query = Doc().sub("_id", Doc().sub("$in", in)).take();
    BsonPtr opts = Doc().sub("projection", Doc().int32("length", 1)).take();
    Cursor cursor(mongoc_collection_find_with_opts(files.get(), query.get(), opts.get(), nullptr));
    CYBEXP_TRY_VOID(drain_cursor(cursor.get(), where(), "claim", [&](const bson_t* doc) {
      auto id = get_oid(doc, "_id");
      auto length = gridfs_length(doc);
      if (id && length) lengths[oid_hex(*id)] = *length;
      return true;
    }));
  }
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (!fids[i]) continue;
    auto it = lengths.find(oid_hex(*fids[i]));
    if (it == lengths.end()) continue;  // no such file: fetch_blob says so
    entries[i].blob_size = it->second;
    if (it->second > inline_max) continue;
    auto blob = read_blob(client, *fids[i], it->second);
    if (blob) {
      entries[i].blob = std::move(*blob);
    } else if (blob.error().kind == ErrorKind::kDatabase) {
      return std::unexpected(blob.error());
    }  // a damaged blob: left to fetch_blob, which reports it for this entry
  }
  return {};
}

Result<std::vector<std::uint8_t>> MongoCache::fetch_blob(const CacheEntry& entry,
                                                         std::uint64_t max_bytes) {
  auto id = parse_oid(entry.id);
  if (!id) {
    return make_error(ErrorKind::kInvalidArgument,
                      "mongodb: fetch_blob: not an entry id (24 hex digits): '" + entry.id + "'");
  }
  Client client = pool_->acquire();
  std::optional<bson_oid_t> fid;
  {
    Collection coll = client.collection(db_, coll_);
    BsonPtr query = Doc().oid("_id", *id).take();
    BsonPtr opts = Doc().sub("projection", Doc().int32("fid", 1)).int64("limit", 1).take();
    Cursor cursor(mongoc_collection_find_with_opts(coll.get(), query.get(), opts.get(), nullptr));
    CYBEXP_TRY_VOID(drain_cursor(cursor.get(), where(), "fetch_blob", [&](const bson_t* doc) {
      fid = get_oid(doc, "fid");
      return false;
    }));
  }
  // The API module inserts the entry and writes the blob in two steps, not
  // atomically (docs/UPSTREAM-FORMATS.md section 7): after its crash an entry can name no
  // blob or one never written. Nothing will ever come; upstream retried it
  // forever, we skip it as bad data saying so.
  if (!fid) {
    return make_error(ErrorKind::kBadData,
                      "entry has no blob: it has no fid (the API module never wrote the blob)");
  }
  auto length = CYBEXP_TRY(blob_length(client, *fid));
  if (!length) {
    return make_error(ErrorKind::kBadData, "entry has no blob: fs.files has no file " + oid_hex(*fid) +
                                               " (the API module never wrote it, or it was deleted)");
  }
  if (*length > max_bytes) {
    return make_error(ErrorKind::kLimit, "blob is " + std::to_string(*length) + " bytes, over the " +
                                             std::to_string(max_bytes) +
                                             "-byte limit (limits.max_blob_bytes)");
  }
  return read_blob(client, *fid, *length);
}

}  // namespace cybexp::mongo
