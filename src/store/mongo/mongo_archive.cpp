// MongoArchive: Raw documents in the upstream archive collection, and our
// sub-type registry beside it (mongo_store.h). Documents are built in
// mongo_raw.cpp; this file only sends them.
#include <set>

#include "store/backends.h"
#include "store/mongo/mongo_json.h"
#include "store/mongo/mongo_raw.h"
#include "store/mongo/mongo_store.h"
#include "util/log.h"

namespace cybexp::mongo {
namespace {

// for_each_document reads pages of at most this many documents, or this
// many BSON bytes past the first document of a page.
constexpr std::int64_t kDocPage = 1000;
constexpr std::size_t kDocPageBytes = 64u << 20;
// Hashes looked up per query in put_documents.
constexpr std::size_t kLookup = 1000;

// The BSON size of a value (what $bsonSize counts for it).
std::uint64_t value_bytes(const bson_iter_t* it) {
  switch (bson_iter_type(it)) {
    case BSON_TYPE_DOCUMENT:
    case BSON_TYPE_ARRAY: {
      std::uint32_t len = 0;
      const std::uint8_t* data = nullptr;
      if (BSON_ITER_HOLDS_ARRAY(it)) bson_iter_array(it, &len, &data);
      else bson_iter_document(it, &len, &data);
      return len;
    }
    case BSON_TYPE_UTF8: {
      std::uint32_t len = 0;
      bson_iter_utf8(it, &len);
      return 4u + len + 1u;
    }
    case BSON_TYPE_DOUBLE:
    case BSON_TYPE_INT64:
    case BSON_TYPE_DATE_TIME: return 8;
    case BSON_TYPE_INT32: return 4;
    case BSON_TYPE_BOOL: return 1;
    default: return 0;
  }
}

// Runs a createIndexes command on coll: true if the server made the index
// (or already had it under this name); err says why not.
bool run_index_command(mongoc_collection_t* coll, const bson_t* cmd, bson_error_t& err) {
  bson_t reply;
  const bool ok = mongoc_collection_write_command_with_opts(coll, cmd, nullptr, &reply, &err);
  bson_destroy(&reply);
  return ok;
}

}  // namespace

MongoArchive::MongoArchive(std::shared_ptr<Pool> pool, std::string db, std::string coll)
    : pool_(std::move(pool)), db_(std::move(db)), coll_(std::move(coll)) {}

std::string MongoArchive::where() const { return pool_->label() + " " + db_ + "." + coll_; }

Result<std::shared_ptr<MongoArchive>> MongoArchive::open(const StoreConfig& config) {
  auto pool = CYBEXP_TRY(Pool::open(config.url, config.timeouts));
  std::shared_ptr<MongoArchive> archive(new MongoArchive(
      pool, config.db.empty() ? "tahoe_db" : config.db,
      config.coll.empty() ? "instance" : config.coll));
  archive->insert_opts_ = CYBEXP_TRY(archive_insert_opts(config.url));
  CYBEXP_TRY_VOID(archive->ensure_meta());
  CYBEXP_TRY_VOID(archive->ensure_hash_index());
  archive->ensure_sub_type_index();
  return archive;
}

Result<void> MongoArchive::ensure_meta() {
  Client client = pool_->acquire();
  // Our collections: unique keys so that concurrent first starts cannot
  // write the version or a sub type twice.
  for (const char* coll : {kMetaCollection, kSubtypesCollection}) {
    const char* key = coll == std::string_view(kMetaCollection) ? "key" : "typetag";
    BsonPtr cmd = unique_index_command(coll, key);
    Collection c = client.collection(db_, coll);
    bson_t reply;
    bson_error_t err;
    bool ok = mongoc_collection_write_command_with_opts(c.get(), cmd.get(), nullptr, &reply, &err);
    bson_destroy(&reply);
    if (!ok) return std::unexpected(db_error(where(), "schema", err));
  }
  Collection meta = client.collection(db_, kMetaCollection);
  BsonPtr selector = schema_version_selector();
  BsonPtr update = schema_version_upsert();
  BsonPtr opts = Doc().boolean("upsert", true).take();
  bson_t reply;
  bson_error_t err;
  bool ok = mongoc_collection_update_one(meta.get(), selector.get(), update.get(), opts.get(),
                                         &reply, &err);
  BsonPtr owned(bson_copy(&reply));
  bson_destroy(&reply);
  if (!ok) return std::unexpected(db_error(where(), "schema", err));
  if (get_count(owned.get(), "upsertedCount").value_or(0) > 0) {
    // First use of this database: the registry starts with upstream's
    // defaults; later a person's removals stay removed.
    for (const auto& [typetag, sub_type] : default_subtypes()) {
      Collection subtypes = client.collection(db_, kSubtypesCollection);
      BsonPtr sel = subtype_selector(typetag);
      BsonPtr upd = subtype_update(sub_type, true);
      if (!mongoc_collection_update_one(subtypes.get(), sel.get(), upd.get(), opts.get(), nullptr,
                                        &err)) {
        return std::unexpected(db_error(where(), "schema", err));
      }
    }
  }
  int version = CYBEXP_TRY(schema_version());
  if (version > kSchemaVersion) {
    return make_error(ErrorKind::kDatabase,
                      where() + ": schema: schema version " + std::to_string(version) +
                          " is newer than this cybexp-archive supports (" +
                          std::to_string(kSchemaVersion) + "): upgrade cybexp-archive");
  }
  return {};
}

Result<void> MongoArchive::ensure_hash_index() {
  Client client = pool_->acquire();
  Collection coll = client.collection(db_, coll_);
  bson_error_t err;
  if (run_index_command(coll.get(), hash_index_command(coll_).get(), err)) {
    unique_index_ = true;
    return {};
  }
  if (!is_server_error(err)) return std::unexpected(db_error(where(), "create index", err));
  if (is_duplicate_key(err)) {
    // Upstream never enforced uniqueness, so an old archive may hold the same
    // document twice. That is no reason to stop: every insert looks its
    // _hash up first anyway; only two workers racing could now both insert.
    log(LogLevel::kWarning,
        "the archive collection already holds raw documents with the same _hash, so no unique "
        "index can be made: falling back to look-up-then-insert; remove the duplicates and "
        "restart to get the index",
        {{"collection", db_ + "." + coll_}});
    return {};
  }
  // Another index on _hash may be in the way (an older server refuses a
  // second index on the same key): fine if it is unique itself.
  Cursor indexes(mongoc_collection_find_indexes_with_opts(coll.get(), nullptr));
  CYBEXP_TRY_VOID(drain_cursor(indexes.get(), where(), "create index", [&](const bson_t* index) {
    if (enforces_unique_hash(index)) unique_index_ = true;
    return !unique_index_;
  }));
  if (!unique_index_) {
    log(LogLevel::kWarning,
        "could not create the unique index on _hash: falling back to look-up-then-insert",
        {{"collection", db_ + "." + coll_}, {"error", err.message}});
  }
  return {};
}

// Only speed depends on it, so it never stops a start: an index on sub_type
// under another name (made by hand, or by the analytics side) makes the
// server refuse ours, and that is as good; any other refusal is logged.
void MongoArchive::ensure_sub_type_index() {
  Client client = pool_->acquire();
  Collection coll = client.collection(db_, coll_);
  bson_error_t err;
  if (run_index_command(coll.get(), sub_type_index_command(coll_).get(), err) ||
      has_sub_type_index(coll.get())) {
    return;
  }
  log(LogLevel::kWarning,
      "could not create the index on sub_type that the analytics module's queries use: "
      "create it by hand (db.COLL.createIndex({sub_type: 1}))",
      {{"collection", db_ + "." + coll_}, {"error", err.message}});
}

bool MongoArchive::has_sub_type_index(mongoc_collection_t* coll) const {
  bool found = false;
  Cursor indexes(mongoc_collection_find_indexes_with_opts(coll, nullptr));
  auto drained = drain_cursor(indexes.get(), where(), "indexes", [&](const bson_t* index) {
    bson_iter_t key, field;
    found = find_field(index, "key", &key) && BSON_ITER_HOLDS_DOCUMENT(&key) &&
            bson_iter_recurse(&key, &field) && bson_iter_next(&field) &&
            std::string_view(bson_iter_key(&field)) == "sub_type";
    return !found;
  });
  return drained.has_value() && found;
}

Result<std::map<std::string, std::string>> MongoArchive::subtypes() {
  std::map<std::string, std::string> out;
  Client client = pool_->acquire();
  Collection coll = client.collection(db_, kSubtypesCollection);
  BsonPtr all = new_bson();
  Cursor cursor(mongoc_collection_find_with_opts(coll.get(), all.get(), nullptr, nullptr));
  CYBEXP_TRY_VOID(drain_cursor(cursor.get(), where(), "subtypes", [&](const bson_t* doc) {
    if (auto pair = subtype_from_bson(doc)) out.insert(std::move(*pair));
    return true;
  }));
  return out;
}

Result<void> MongoArchive::add_subtype(const std::string& typetag, const std::string& sub_type) {
  if (typetag.empty()) {
    return make_error(ErrorKind::kInvalidArgument, "mongodb: add_subtype: empty typetag");
  }
  if (!is_identifier(sub_type)) {
    return make_error(ErrorKind::kInvalidArgument,
                      "mongodb: add_subtype: sub type '" + sub_type +
                          "' is not an identifier ([A-Za-z_][A-Za-z0-9_]*)");
  }
  Client client = pool_->acquire();
  Collection coll = client.collection(db_, kSubtypesCollection);
  BsonPtr sel = subtype_selector(typetag);
  BsonPtr upd = subtype_update(sub_type, false);
  BsonPtr opts = Doc().boolean("upsert", true).take();
  bson_error_t err;
  if (!mongoc_collection_update_one(coll.get(), sel.get(), upd.get(), opts.get(), nullptr, &err)) {
    return std::unexpected(db_error(where(), "add_subtype", err));
  }
  return {};
}

Result<bool> MongoArchive::remove_subtype(const std::string& typetag) {
  Client client = pool_->acquire();
  Collection coll = client.collection(db_, kSubtypesCollection);
  BsonPtr sel = subtype_selector(typetag);
  bson_t reply;
  bson_error_t err;
  bool ok = mongoc_collection_delete_many(coll.get(), sel.get(), nullptr, &reply, &err);
  BsonPtr owned(bson_copy(&reply));
  bson_destroy(&reply);
  if (!ok) return std::unexpected(db_error(where(), "remove_subtype", err));
  return get_count(owned.get(), "deletedCount").value_or(0) > 0;
}

std::optional<std::string> MongoArchive::validate(const RawDocument& doc) const {
  return unstorable_reason(doc);
}

Result<std::uint64_t> MongoArchive::put_documents(std::span<const RawDocument> docs) {
  // Build everything first: a document that cannot be stored fails the
  // batch before anything is written (validate() keeps such documents out).
  std::vector<BsonPtr> bson;
  std::vector<std::string> hashes;
  std::set<std::string> seen;
  for (const auto& d : docs) {
    if (!seen.insert(d.hash).second) continue;
    auto b = raw_to_bson(d, new_oid());
    if (!b) {
      return make_error(ErrorKind::kInvalidArgument,
                        "mongodb: put_documents: document " + d.hash + ": " + b.error().message);
    }
    bson.push_back(std::move(*b));
    hashes.push_back(d.hash);
  }
  if (bson.empty()) return 0;
  Client client = pool_->acquire();
  Collection coll = client.collection(db_, coll_);
  // Look the hashes up first: with the unique index this saves sending
  // documents that are there already; without it (old duplicates) it is
  // what keeps the archive from growing more.
  std::set<std::string> existing;
  for (std::size_t start = 0; start < hashes.size(); start += kLookup) {
    std::vector<std::string> part(hashes.begin() + start,
                                  hashes.begin() + std::min(hashes.size(), start + kLookup));
    BsonPtr query = hashes_query(part);
    BsonPtr opts = Doc().sub("projection", Doc().int32("_hash", 1)).take();
    Cursor cursor(mongoc_collection_find_with_opts(coll.get(), query.get(), opts.get(), nullptr));
    CYBEXP_TRY_VOID(drain_cursor(cursor.get(), where(), "put_documents", [&](const bson_t* doc) {
      if (auto h = get_string(doc, "_hash")) existing.insert(*h);
      return true;
    }));
  }
  std::vector<const BsonStruct*> fresh;
  for (std::size_t i = 0; i < bson.size(); ++i) {
    if (!existing.contains(hashes[i])) fresh.push_back(bson[i].get());
  }
  if (fresh.empty()) return 0;
  // Unordered: a duplicate (another worker inserted it since the look-up)
  // does not stop the rest. No client-side key checks: pymongo 4 stores keys
  // with dots and dollars too, and the server decides. Majority and
  // journaled unless the URL says otherwise (archive_insert_opts).
  bson_t reply;
  bson_error_t err;
  bool ok = mongoc_collection_insert_many(coll.get(), fresh.data(), fresh.size(), insert_opts_.get(),
                                          &reply, &err);
  BsonPtr owned(bson_copy(&reply));
  bson_destroy(&reply);
  const std::uint64_t inserted = get_count(owned.get(), "insertedCount").value_or(0);
  if (ok) return inserted;
  // Only duplicates refused: the documents are there, which is all we want.
  bson_iter_t errors, item;
  bool only_duplicates = is_duplicate_key(err) && find_field(owned.get(), "writeErrors", &errors) &&
                         BSON_ITER_HOLDS_ARRAY(&errors) && bson_iter_recurse(&errors, &item);
  while (only_duplicates && bson_iter_next(&item)) {
    bson_iter_t code;
    only_duplicates = BSON_ITER_HOLDS_DOCUMENT(&item) && bson_iter_recurse(&item, &code) &&
                      bson_iter_find(&code, "code") && bson_iter_as_int64(&code) == 11000;
  }
  if (only_duplicates) return inserted;
  return std::unexpected(db_error(where(), "put_documents", err));
}

Result<void> MongoArchive::for_each_document(const std::optional<std::string>& sub_type,
                                             const std::function<bool(const RawDocument&)>& fn) {
  // Insertion order is _id order (ObjectIds grow with time); pages are fresh
  // queries so that no cursor is open while fn runs.
  std::optional<bson_oid_t> after;
  for (;;) {
    std::vector<RawDocument> page;
    bool more = false;
    {
      Client client = pool_->acquire();
      Collection coll = client.collection(db_, coll_);
      BsonPtr query = raw_query(sub_type, after ? &*after : nullptr);
      BsonPtr opts = Doc().sub("sort", Doc().int32("_id", 1)).int64("limit", kDocPage).take();
      Cursor cursor(mongoc_collection_find_with_opts(coll.get(), query.get(), opts.get(), nullptr));
      std::size_t bytes = 0, rows = 0;
      Result<void> bad;
      CYBEXP_TRY_VOID(drain_cursor(cursor.get(), where(), "for_each_document", [&](const bson_t* doc) {
        ++rows;
        auto raw = raw_from_bson(doc);
        if (!raw) {
          bad = std::unexpected(raw.error());
          return false;
        }
        after = get_oid(doc, "_id");
        page.push_back(std::move(*raw));
        bytes += doc->len;
        if (bytes >= kDocPageBytes) {
          more = true;
          return false;
        }
        return true;
      }));
      CYBEXP_TRY_VOID(bad);
      more = more || rows == static_cast<std::size_t>(kDocPage);
    }
    for (const auto& d : page) {
      if (!fn(d)) return {};
    }
    if (!more || !after) return {};
  }
}

Result<ArchiveCounts> MongoArchive::document_counts() {
  Client client = pool_->acquire();
  Collection coll = client.collection(db_, coll_);
  BsonPtr pipeline = raw_counts_pipeline();
  Cursor cursor(mongoc_collection_aggregate(coll.get(), MONGOC_QUERY_NONE, pipeline.get(), nullptr,
                                            nullptr));
  ArchiveCounts out;
  auto aggregated = drain_cursor(cursor.get(), where(), "counts", [&](const bson_t* doc) {
    out.documents = get_count(doc, "n").value_or(0);
    const std::uint64_t bytes = get_count(doc, "bytes").value_or(0);
    out.data_bytes = bytes > 8 * out.documents ? bytes - 8 * out.documents : 0;
    return false;
  });
  if (aggregated) return out;
  // Servers before 4.4 (and test servers) have no $bsonSize: count and add
  // the sizes up here instead.
  BsonPtr query = raw_query(std::nullopt, nullptr);
  bson_error_t err;
  std::int64_t n = mongoc_collection_count_documents(coll.get(), query.get(), nullptr, nullptr,
                                                     nullptr, &err);
  if (n < 0) return std::unexpected(db_error(where(), "counts", err));
  out.documents = static_cast<std::uint64_t>(n);
  out.data_bytes = CYBEXP_TRY(scan_data_bytes(client));
  return out;
}

Result<std::uint64_t> MongoArchive::scan_data_bytes(const Client& client) {
  Collection coll = client.collection(db_, coll_);
  BsonPtr query = raw_query(std::nullopt, nullptr);
  BsonPtr opts = Doc().sub("projection", Doc().int32("data", 1)).take();
  Cursor cursor(mongoc_collection_find_with_opts(coll.get(), query.get(), opts.get(), nullptr));
  std::uint64_t total = 0;
  CYBEXP_TRY_VOID(drain_cursor(cursor.get(), where(), "counts", [&](const bson_t* doc) {
    bson_iter_t it;
    if (find_field(doc, "data", &it)) total += value_bytes(&it);
    return true;
  }));
  return total;
}

Result<int> MongoArchive::schema_version() {
  Client client = pool_->acquire();
  Collection coll = client.collection(db_, kMetaCollection);
  BsonPtr query = schema_version_selector();
  Cursor cursor(mongoc_collection_find_with_opts(coll.get(), query.get(), nullptr, nullptr));
  int version = 0;
  CYBEXP_TRY_VOID(drain_cursor(cursor.get(), where(), "schema_version", [&](const bson_t* doc) {
    version = schema_version_from_bson(doc);
    return false;
  }));
  return version;
}

}  // namespace cybexp::mongo
