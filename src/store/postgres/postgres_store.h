// The PostgreSQL backend of CacheStore and ArchiveStore (store.h), for many
// workers on many machines against one server.
//
// One PostgresStore object can serve as cache, archive or both; open_postgres
// gives one object both roles when the two URLs are equal, so that
// finish_with_documents() commits documents and results in one transaction.
// Leases use the server's clock (now()), so workers' clocks do not matter.
// Iteration (for_each_entry, for_each_document) pages by key: no transaction
// is held open across the callback, which may call the store itself; rows
// changed during the walk are seen as they are when their page is read.
//
// The methods are defined in pg_cache.cpp (CacheStore) and pg_archive.cpp
// (ArchiveStore).
//
// Thread safety: as store.h says, one thread at a time on the main
// connection; fetch_blob() uses a separate connection pool and may run on any
// number of threads at once.
#pragma once

#include <memory>
#include <string>

#include "cybexp/store.h"
#include "store/postgres/pg_connection.h"

namespace cybexp::pg {

class PostgresStore final : public CacheStore, public ArchiveStore, public CheckableDatabase {
 public:
  // Connects and creates or checks the schema. `both_roles`: this object is
  // cache and archive at once (finish_with_documents is allowed).
  static Result<std::shared_ptr<PostgresStore>> open(const std::string& url, bool both_roles,
                                                     const StoreTimeouts& timeouts = {});

  // CacheStore.
  Result<std::string> add_entry(const NewEntry& entry, std::span<const std::uint8_t> blob) override;
  Result<std::vector<CacheEntry>> claim(const ClaimRequest& request) override;
  Result<std::vector<std::uint8_t>> fetch_blob(const CacheEntry& entry,
                                               std::uint64_t max_bytes) override;
  Result<FinishReport> finish(std::span<const EntryResult> results,
                              const std::string& worker) override;
  Result<void> release(std::span<const std::string> ids, const std::string& worker,
                       ReleaseKind kind) override;
  bool shares_database_with(const ArchiveStore& archive) const override;
  Result<FinishReport> finish_with_documents(std::span<const RawDocument> docs,
                                             std::span<const EntryResult> results,
                                             const std::string& worker) override;
  Result<std::uint64_t> count_claimable(bool force) override;
  Result<CacheCounts> entry_counts() override;
  Result<void> for_each_entry(const EntryFilter& filter,
                              const std::function<bool(const EntryInfo&)>& fn) override;
  Result<std::uint64_t> requeue(const EntryFilter& filter) override;
  // LISTENs for the schema's trigger (pg_notify.cpp).
  Result<bool> wait_for_change(double seconds, std::stop_token stop) override;
  static constexpr const char* kEntriesChannel = "cybexp_entries";

  // ArchiveStore.
  Result<std::map<std::string, std::string>> subtypes() override;
  Result<void> add_subtype(const std::string& typetag, const std::string& sub_type) override;
  Result<bool> remove_subtype(const std::string& typetag) override;
  Result<std::uint64_t> put_documents(std::span<const RawDocument> docs) override;
  Result<void> for_each_document(const std::optional<std::string>& sub_type,
                                 const std::function<bool(const RawDocument&)>& fn) override;
  Result<ArchiveCounts> document_counts() override;
  Result<int> schema_version() override;
  Result<void> for_each_hash(
      const std::function<bool(const std::string&, const std::string&)>& fn) override;

  // CheckableDatabase (pg_check.cpp): the schema's tables and indexes.
  Result<std::vector<std::string>> check_database(CheckDepth depth) override;

  // Cancels the statement running on the main connection and on every blob
  // connection (store.h, "Interrupting"). Any thread.
  void interrupt() override;

  // SHOW `setting` in this store's sessions: the main connection's value,
  // then a blob connection's. For checks and tests (synchronous_commit).
  Result<std::vector<std::string>> session_settings(const std::string& setting);

 private:
  PostgresStore(const std::string& url, bool both_roles, const StoreTimeouts& timeouts);

  Result<std::uint64_t> insert_documents(std::string_view what, std::span<const RawDocument> docs);
  Result<FinishReport> mark_finished(std::string_view what, std::span<const EntryResult> results,
                                     const std::string& worker);
  Result<std::vector<std::uint8_t>> read_blob_chunks(Connection& conn, std::int64_t id,
                                                     std::uint64_t size);

  Connection conn_;
  ConnectionPool blob_pool_;
  bool both_roles_;
};

}  // namespace cybexp::pg
