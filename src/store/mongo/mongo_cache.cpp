// MongoCache: entries in the upstream cache collection (mongo_store.h). The
// documents, queries and updates are built in mongo_entries.cpp; this file
// only sends them.
#include <algorithm>

#include <set>

#include "store/mongo/mongo_entries.h"
#include "store/mongo/mongo_store.h"
#include "util/log.h"

namespace cybexp::mongo {
namespace {

constexpr std::int64_t kPage = 500;  // entries per page of for_each_entry

struct FindAndModifyOptsDeleter {
  void operator()(mongoc_find_and_modify_opts_t* o) const { mongoc_find_and_modify_opts_destroy(o); }
};

// The modified count of an update reply (libmongoc's "modifiedCount").
std::uint64_t reply_count(const bson_t* reply, const char* field) {
  return get_count(reply, field).value_or(0);
}

}  // namespace

MongoCache::MongoCache(std::shared_ptr<Pool> pool, std::string db, std::string coll)
    : pool_(std::move(pool)), db_(std::move(db)), coll_(std::move(coll)) {}

std::string MongoCache::where() const { return pool_->label() + " " + db_ + "." + coll_; }

Result<std::shared_ptr<MongoCache>> MongoCache::open(const StoreConfig& config) {
  auto pool = CYBEXP_TRY(Pool::open(config.url, config.timeouts));
  std::shared_ptr<MongoCache> cache(new MongoCache(
      pool, config.db.empty() ? "cache_db" : config.db,
      config.coll.empty() ? "file_entries" : config.coll));
  // Creating an index that exists already is a no-op; upstream's modules
  // do not mind one more index.
  Client client = cache->pool_->acquire();
  Collection coll = client.collection(cache->db_, cache->coll_);
  BsonPtr cmd = claim_index_command(cache->coll_);
  bson_t reply;
  bson_error_t err;
  bool ok = mongoc_collection_write_command_with_opts(coll.get(), cmd.get(), nullptr, &reply, &err);
  bson_destroy(&reply);
  if (!ok && !is_server_error(err)) {
    return std::unexpected(db_error(cache->where(), "create index", err));
  }
  if (!ok) {
    // Refused (a user without the createIndex privilege, say): claims work
    // without it, only slower on a large collection.
    log(LogLevel::kWarning, "could not create the claim index on the cache collection",
        {{"collection", cache->db_ + "." + cache->coll_}, {"error", err.message}});
  }
  return cache;
}

Result<std::string> MongoCache::add_entry(const NewEntry& entry,
                                          std::span<const std::uint8_t> blob) {
  Client client = pool_->acquire();
  bson_oid_t fid = CYBEXP_TRY(write_blob(client, entry.name, blob));
  bson_oid_t id = new_oid();
  BsonPtr doc = entry_to_bson(id, entry, fid);
  Collection coll = client.collection(db_, coll_);
  bson_error_t err;
  if (!mongoc_collection_insert_one(coll.get(), doc.get(), nullptr, nullptr, &err)) {
    return std::unexpected(db_error(where(), "add_entry", err));
  }
  return oid_hex(id);
}

Result<std::vector<CacheEntry>> MongoCache::claim(const ClaimRequest& request) {
  std::vector<CacheEntry> out;
  if (request.max_entries == 0) return out;
  if (request.worker.empty()) {
    return make_error(ErrorKind::kInvalidArgument, "mongodb: claim: the worker name is empty");
  }
  Client client = pool_->acquire();
  Collection coll = client.collection(db_, coll_);
  const std::int64_t now = now_ms();
  std::optional<std::int64_t> finished_before_ms;
  if (request.finished_before) {
    finished_before_ms = static_cast<std::int64_t>(*request.finished_before * 1000.0);
  }
  BsonPtr query = claimable_query(request.force, now, finished_before_ms);
  BsonPtr update = claim_update(request.worker, now, request.lease_seconds);
  BsonPtr sort = oldest_first();
  std::unique_ptr<mongoc_find_and_modify_opts_t, FindAndModifyOptsDeleter> opts(
      mongoc_find_and_modify_opts_new());
  mongoc_find_and_modify_opts_set_update(opts.get(), update.get());
  mongoc_find_and_modify_opts_set_sort(opts.get(), sort.get());
  mongoc_find_and_modify_opts_set_flags(opts.get(), MONGOC_FIND_AND_MODIFY_RETURN_NEW);
  std::vector<std::optional<bson_oid_t>> fids;
  // Leases already taken would run out by themselves; a failed claim gives
  // them back at once so that another pass can take them.
  auto fail = [&](Error e) -> Result<std::vector<CacheEntry>> {
    std::vector<std::string> ids;
    ids.reserve(out.size());
    for (const auto& taken : out) ids.push_back(taken.id);
    (void)release(ids, request.worker, ReleaseKind::kUntried);
    return std::unexpected(std::move(e));
  };
  // One entry per findAndModify: each is atomic on its document, so of two
  // workers racing for an entry exactly one gets it.
  while (out.size() < request.max_entries) {
    bson_t reply;
    bson_error_t err;
    bool ok = mongoc_collection_find_and_modify_with_opts(coll.get(), query.get(), opts.get(),
                                                         &reply, &err);
    BsonPtr owned(bson_copy(&reply));
    bson_destroy(&reply);
    if (!ok) return fail(db_error(where(), "claim", err));
    bson_iter_t value;
    if (!find_field(owned.get(), "value", &value) || !BSON_ITER_HOLDS_DOCUMENT(&value)) break;
    std::uint32_t len = 0;
    const std::uint8_t* data = nullptr;
    bson_iter_document(&value, &len, &data);
    bson_t doc;
    if (!bson_init_static(&doc, data, len)) break;
    auto stored = entry_from_bson(&doc);
    if (!stored) return fail(stored.error());
    out.push_back(std::move(stored->info.entry));
    fids.push_back(stored->fid);
  }
  auto attached = attach_blobs(client, out, fids, request.inline_blob_max);
  if (!attached) return fail(attached.error());
  return out;
}

Result<FinishReport> MongoCache::finish(std::span<const EntryResult> results,
                                        const std::string& worker) {
  FinishReport report;
  std::vector<std::pair<BsonPtr, BsonPtr>> updates;
  std::vector<bson_oid_t> ids;
  const std::int64_t now = now_ms();
  for (const auto& r : results) {
    auto id = parse_oid(r.id);
    if (!id) {  // not one of ours, so not leased to `worker` either
      report.lost.push_back(r.id);
      continue;
    }
    ids.push_back(*id);
    updates.emplace_back(leased_by(*id, worker), finish_update(r, now));
  }
  if (updates.empty()) return report;
  Client client = pool_->acquire();
  Collection coll = client.collection(db_, coll_);
  // One round trip for the batch; each update stands alone (no transaction
  // needed: an entry is marked by one update, and a repeat finds no lease).
  mongoc_bulk_operation_t* bulk = mongoc_collection_create_bulk_operation_with_opts(coll.get(), nullptr);
  bson_error_t err;
  for (const auto& [selector, update] : updates) {
    if (!mongoc_bulk_operation_update_one_with_opts(bulk, selector.get(), update.get(), nullptr,
                                                    &err)) {
      mongoc_bulk_operation_destroy(bulk);
      return std::unexpected(db_error(where(), "finish", err));
    }
  }
  bson_t reply;
  bool ok = mongoc_bulk_operation_execute(bulk, &reply, &err) != 0;
  BsonPtr owned(bson_copy(&reply));
  bson_destroy(&reply);
  mongoc_bulk_operation_destroy(bulk);
  if (!ok) return std::unexpected(db_error(where(), "finish", err));
  report.marked = reply_count(owned.get(), "nMatched");
  if (report.marked == 0) {  // none held: no need to ask which
    for (const auto& r : results) {
      if (parse_oid(r.id)) report.lost.push_back(r.id);
    }
  } else if (report.marked < ids.size()) {
    CYBEXP_TRY_VOID(find_lost(coll, ids, now, report));
  }
  return report;
}

// Which entries of a finish the bulk update did not match: those not
// stamped with this finish's time. (Another worker finishing one of them in
// the same millisecond would hide it: a miscount, never a lost entry.)
Result<void> MongoCache::find_lost(Collection& coll, const std::vector<bson_oid_t>& ids,
                                   std::int64_t finished_ms, FinishReport& report) {
  BsonPtr query = finished_at_query(ids, finished_ms);
  BsonPtr opts = Doc().sub("projection", Doc().int32("_id", 1)).take();
  Cursor cursor(mongoc_collection_find_with_opts(coll.get(), query.get(), opts.get(), nullptr));
  std::set<std::string> marked;
  CYBEXP_TRY_VOID(drain_cursor(cursor.get(), where(), "finish", [&](const bson_t* doc) {
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_OID(&it)) {
      char hex[25];
      bson_oid_to_string(bson_iter_oid(&it), hex);
      marked.insert(hex);
    }
    return true;
  }));
  for (const bson_oid_t& oid : ids) {
    char hex[25];
    bson_oid_to_string(&oid, hex);
    if (!marked.contains(hex)) report.lost.push_back(hex);
  }
  report.marked = marked.size();
  return {};
}

Result<void> MongoCache::release(std::span<const std::string> ids, const std::string& worker,
                                 ReleaseKind kind) {
  auto oids = parse_entry_ids(ids);
  if (oids.empty()) return {};
  Client client = pool_->acquire();
  Collection coll = client.collection(db_, coll_);
  BsonPtr query = release_query(oids, worker);
  BsonPtr update = release_update(kind);
  bson_error_t err;
  if (!mongoc_collection_update_many(coll.get(), query.get(), update.get(), nullptr, nullptr,
                                     &err)) {
    return std::unexpected(db_error(where(), "release", err));
  }
  return {};
}

Result<std::uint64_t> MongoCache::count_claimable(bool force) {
  Client client = pool_->acquire();
  Collection coll = client.collection(db_, coll_);
  BsonPtr query = claimable_query(force, now_ms());
  bson_error_t err;
  std::int64_t n = mongoc_collection_count_documents(coll.get(), query.get(), nullptr, nullptr,
                                                     nullptr, &err);
  if (n < 0) return std::unexpected(db_error(where(), "count_claimable", err));
  return static_cast<std::uint64_t>(n);
}

Result<CacheCounts> MongoCache::entry_counts() {
  CacheCounts counts;
  Client client = pool_->acquire();
  Collection coll = client.collection(db_, coll_);
  BsonPtr states = state_counts_pipeline();
  Cursor c1(mongoc_collection_aggregate(coll.get(), MONGOC_QUERY_NONE, states.get(), nullptr, nullptr));
  CYBEXP_TRY_VOID(drain_cursor(c1.get(), where(), "counts", [&](const bson_t* doc) {
    add_state_count(doc, counts);
    return true;
  }));
  BsonPtr leases = in_flight_pipeline(now_ms());
  Cursor c2(mongoc_collection_aggregate(coll.get(), MONGOC_QUERY_NONE, leases.get(), nullptr, nullptr));
  CYBEXP_TRY_VOID(drain_cursor(c2.get(), where(), "counts", [&](const bson_t* doc) {
    counts.in_flight.push_back(lease_info_from(doc));
    return true;
  }));
  return counts;
}

Result<void> MongoCache::for_each_entry(const EntryFilter& filter,
                                        const std::function<bool(const EntryInfo&)>& fn) {
  // Pages by _id, a fresh query each: no cursor stays open across the
  // callback, which may itself use the store.
  std::optional<bson_oid_t> after;
  for (;;) {
    BsonPtr query = CYBEXP_TRY(filter_query(filter, after ? &*after : nullptr));
    BsonPtr opts = Doc().sub("sort", Doc().int32("_id", 1)).int64("limit", kPage).take();
    std::vector<StoredEntry> page;
    {
      Client client = pool_->acquire();
      Collection coll = client.collection(db_, coll_);
      Cursor cursor(mongoc_collection_find_with_opts(coll.get(), query.get(), opts.get(), nullptr));
      Result<void> entry_error;
      CYBEXP_TRY_VOID(drain_cursor(cursor.get(), where(), "for_each_entry", [&](const bson_t* doc) {
        auto stored = entry_from_bson(doc);
        if (!stored) {
          entry_error = std::unexpected(stored.error());
          return false;
        }
        page.push_back(std::move(*stored));
        return true;
      }));
      CYBEXP_TRY_VOID(entry_error);
      // Sizes of the page's blobs, in one query.
      std::vector<CacheEntry> entries;
      std::vector<std::optional<bson_oid_t>> fids;
      for (auto& s : page) {
        entries.push_back(s.info.entry);
        fids.push_back(s.fid);
      }
      CYBEXP_TRY_VOID(attach_blobs(client, entries, fids, 0));
      for (std::size_t i = 0; i < page.size(); ++i) page[i].info.entry.blob_size = entries[i].blob_size;
    }
    for (const auto& s : page) {
      if (!fn(s.info)) return {};
    }
    if (page.size() < static_cast<std::size_t>(kPage)) return {};
    after = parse_oid(page.back().info.entry.id);
  }
}

Result<std::uint64_t> MongoCache::requeue(const EntryFilter& filter) {
  const bool processed = filter.state && *filter.state == kStateProcessed;
  BsonPtr query = CYBEXP_TRY(requeue_query(filter, now_ms()));
  BsonPtr update = requeue_update(processed);
  Client client = pool_->acquire();
  Collection coll = client.collection(db_, coll_);
  bson_t reply;
  bson_error_t err;
  bool ok = mongoc_collection_update_many(coll.get(), query.get(), update.get(), nullptr, &reply,
                                          &err);
  BsonPtr owned(bson_copy(&reply));
  bson_destroy(&reply);
  if (!ok) return std::unexpected(db_error(where(), "requeue", err));
  return reply_count(owned.get(), "matchedCount");
}

}  // namespace cybexp::mongo
