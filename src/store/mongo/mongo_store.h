// The MongoDB backend of CacheStore and ArchiveStore (store.h), a drop-in
// for an existing CYBEX-P deployment: it reads and writes upstream's own
// collections (docs/UPSTREAM-FORMATS.md sections 2, 3, 6), so the upstream API and
// analytics modules keep working beside it, unchanged.
//
//   MongoCache:   <cache db>.<coll> entries (default cache_db.file_entries),
//                 blobs in GridFS (fs.files / fs.chunks of the cache db).
//   MongoArchive: <archive db>.<coll> Raw documents (default
//                 tahoe_db.instance), cybexp_subtypes and cybexp_meta beside.
//
// Documents and their BSON are in mongo_entries.h and mongo_raw.h.
//
// Claims are one findAndModify per entry (atomic on one document), so two
// workers never hold the same entry; finish() updates only entries whose
// lease the worker still holds. Leases are judged by the workers' clocks
// (BSON dates): keep the machines' clocks in sync (NTP); the lease lasts
// minutes, far more than any sane skew.
//
// The two roles are separate objects (no transaction spans them): documents
// are inserted first, entries marked after, and inserts are idempotent, so a
// crash in between only repeats work.
//
// Thread safety: as store.h says; every method checks a client out of a
// thread-safe pool, so fetch_blob() runs on any number of threads at once.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>

#include "cybexp/store.h"
#include "store/backends.h"
#include "store/mongo/mongo_client.h"

namespace cybexp::mongo {

class MongoCache final : public CacheStore {
 public:
  static Result<std::shared_ptr<MongoCache>> open(const StoreConfig& config);

  Result<std::string> add_entry(const NewEntry& entry, std::span<const std::uint8_t> blob) override;
  Result<std::vector<CacheEntry>> claim(const ClaimRequest& request) override;
  Result<std::vector<std::uint8_t>> fetch_blob(const CacheEntry& entry,
                                               std::uint64_t max_bytes) override;
  Result<FinishReport> finish(std::span<const EntryResult> results,
                              const std::string& worker) override;
  Result<void> release(std::span<const std::string> ids, const std::string& worker,
                       ReleaseKind kind) override;
  Result<std::uint64_t> count_claimable(bool force) override;
  Result<CacheCounts> entry_counts() override;
  Result<void> for_each_entry(const EntryFilter& filter,
                              const std::function<bool(const EntryInfo&)>& fn) override;
  Result<std::uint64_t> requeue(const EntryFilter& filter) override;
  // A change stream where the deployment has one (mongo_watch.cpp).
  Result<bool> wait_for_change(double seconds, std::stop_token stop) override;

  const std::string& db() const { return db_; }
  const std::string& coll() const { return coll_; }

 private:
  MongoCache(std::shared_ptr<Pool> pool, std::string db, std::string coll);

  // "mongodb HOST cache_db.file_entries", for messages.
  std::string where() const;
  // finish(): the ids of `ids` not stamped finished at finished_ms, as lost.
  Result<void> find_lost(Collection& coll, const std::vector<bson_oid_t>& ids,
                         std::int64_t finished_ms, FinishReport& report);
  // GridFS (mongo_gridfs.cpp): the blob's length (nullopt: no such file),
  // its bytes, and a new file.
  Result<std::optional<std::uint64_t>> blob_length(const Client& client, const bson_oid_t& fid);
  Result<std::vector<std::uint8_t>> read_blob(const Client& client, const bson_oid_t& fid,
                                              std::uint64_t length);
  Result<bson_oid_t> write_blob(const Client& client, const std::string& name,
                                std::span<const std::uint8_t> blob);
  // Adds blob_size (and the blob itself when small) to claimed entries.
  Result<void> attach_blobs(const Client& client, std::vector<CacheEntry>& entries,
                            const std::vector<std::optional<bson_oid_t>>& fids,
                            std::uint64_t inline_max);

  std::shared_ptr<Pool> pool_;
  std::string db_;
  std::string coll_;

  // wait_for_change's change stream, on a client of its own (run()'s thread).
  Result<bool> open_stream();
  struct StreamDeleter {
    void operator()(mongoc_change_stream_t* s) const;
  };
  std::optional<Client> watch_client_;  // declared before stream_: destroyed after it
  std::unique_ptr<mongoc_change_stream_t, StreamDeleter> stream_;
  bool no_streams_ = false;  // the deployment has none: sleep instead
};

class MongoArchive final : public ArchiveStore {
 public:
  // Creates the unique index on _hash (or notes why it cannot) and seeds the
  // sub-type registry on first use.
  static Result<std::shared_ptr<MongoArchive>> open(const StoreConfig& config);

  Result<std::map<std::string, std::string>> subtypes() override;
  Result<void> add_subtype(const std::string& typetag, const std::string& sub_type) override;
  Result<bool> remove_subtype(const std::string& typetag) override;
  std::optional<std::string> validate(const RawDocument& doc) const override;
  Result<std::uint64_t> put_documents(std::span<const RawDocument> docs) override;
  Result<void> for_each_document(const std::optional<std::string>& sub_type,
                                 const std::function<bool(const RawDocument&)>& fn) override;
  Result<ArchiveCounts> document_counts() override;
  Result<int> schema_version() override;

  // True while a unique index keeps _hash unique among raw documents; false
  // when the collection already held duplicates (look-up-then-insert only).
  bool unique_index() const { return unique_index_; }

 private:
  MongoArchive(std::shared_ptr<Pool> pool, std::string db, std::string coll);

  std::string where() const;
  Result<void> ensure_meta();
  Result<void> ensure_hash_index();
  void ensure_sub_type_index();
  // An index whose first key is sub_type (any name).
  bool has_sub_type_index(mongoc_collection_t* coll) const;
  Result<std::uint64_t> scan_data_bytes(const Client& client);

  std::shared_ptr<Pool> pool_;
  std::string db_;
  std::string coll_;
  bool unique_index_ = false;
  BsonPtr insert_opts_;  // archive_insert_opts(): unordered, durable write concern
};

}  // namespace cybexp::mongo
