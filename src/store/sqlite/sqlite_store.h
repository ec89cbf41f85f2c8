// The embedded store: one SQLite file (WAL mode) holding both the cache data
// lake (entries + blobs) and the archive database (documents + sub types).
// One SqliteStore object serves either role or both; open_sqlite_combined()
// hands the same object out as both, so finish_with_documents() commits
// results and documents in one transaction.
//
// Several processes may share the file: writes are BEGIN IMMEDIATE
// transactions that queue on the file's write lock (busy timeout:
// StoreTimeouts::lock_seconds, 10 s by default), and a
// claim is one such transaction, so two processes never lease the same entry.
//
// Thread safety (store.h's contract, plus some slack):
//   - fetch_blob() may be called from any number of threads at once and
//     alongside anything else: each call checks a read connection out of a
//     small pool (opened on demand, one per concurrent caller) and reads the
//     blob with incremental blob I/O.
//   - Everything else runs on the main connection under a recursive mutex,
//     so misuse from two threads serialises instead of corrupting state, and
//     a for_each_* callback may call back into the store on its own thread.
//     Reads from a callback are fine; a write from one runs while the
//     listing's read transaction is still open, which SQLite may refuse
//     (SQLITE_BUSY_SNAPSHOT) if another process wrote meanwhile: collect ids
//     first, write after the listing.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cybexp/store.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/sqlite_schema.h"

namespace cybexp::sqlite {

class SqliteStore final : public CacheStore, public ArchiveStore, public CheckableDatabase {
 public:
  // Opens or creates the file (and missing parent directories, mode 0700),
  // sets WAL mode and creates or checks the schema. read_only: opens an
  // existing store SQLITE_OPEN_READONLY, creating and writing nothing (every
  // write fails); a missing or empty file, or one without our schema, is an
  // error.
  // busy_timeout_ms: how long a call waits for another process's lock
  // before failing (kDatabase).
  static Result<std::shared_ptr<SqliteStore>> open(const std::string& path, bool read_only = false,
                                                   int busy_timeout_ms = kBusyTimeoutMs);
  ~SqliteStore() override;

  const std::string& path() const { return path_; }

  // CacheStore
  Result<std::string> add_entry(const NewEntry& entry, std::span<const std::uint8_t> blob) override;
  Result<std::vector<CacheEntry>> claim(const ClaimRequest& request) override;
  Result<std::vector<std::uint8_t>> fetch_blob(const CacheEntry& entry,
                                               std::uint64_t max_bytes) override;
  Result<FinishReport> finish(std::span<const EntryResult> results,
                              const std::string& worker) override;
  Result<void> release(std::span<const std::string> ids, const std::string& worker,
                       ReleaseKind kind) override;
  // True for any SqliteStore on the same file (itself included): then one
  // transaction on this store's connection covers both.
  bool shares_database_with(const ArchiveStore& archive) const override;
  Result<FinishReport> finish_with_documents(std::span<const RawDocument> docs,
                                             std::span<const EntryResult> results,
                                             const std::string& worker) override;
  Result<std::uint64_t> count_claimable(bool force) override;
  Result<void> for_each_entry(const EntryFilter& filter,
                              const std::function<bool(const EntryInfo&)>& fn) override;
  Result<std::uint64_t> requeue(const EntryFilter& filter) override;
  Result<CacheCounts> entry_counts() override;
  // Polls PRAGMA data_version (sqlite_wait.cpp).
  Result<bool> wait_for_change(double seconds, std::stop_token stop) override;

  // ArchiveStore
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

  // CheckableDatabase (sqlite_check.cpp)
  Result<std::vector<std::string>> check_database(CheckDepth depth) override;

  // Interrupts the main connection: the statement running now fails
  // (SQLITE_INTERRUPT), a wait for another process's lock ends (SQLITE_BUSY).
  // Thread-safe.
  void interrupt() override;

 private:
  SqliteStore(std::string path, std::string canonical_path, std::unique_ptr<Connection> db)
      : path_(std::move(path)), canonical_path_(std::move(canonical_path)), db_(std::move(db)) {}

  // The bodies of finish() and put_documents(), run inside a transaction the
  // caller holds (so finish_with_documents can run both in one).
  Result<FinishReport> finish_in_transaction(std::span<const EntryResult> results,
                                             const std::string& worker);
  Result<std::uint64_t> put_in_transaction(std::span<const RawDocument> docs);

  // claim()'s parts. kNone reads nothing of the blob tree in the select (for
  // a cache file whose blob pages are corrupt); sizes are then read one by one.
  enum class BlobColumns { kInline, kNone };
  // *corrupt: the select failed on a corrupt page.
  Result<std::vector<CacheEntry>> claim_in_transaction(const ClaimRequest& request,
                                                       BlobColumns blobs, bool* corrupt);
  Result<std::vector<CacheEntry>> select_claimable(const ClaimRequest& request, double now,
                                                   BlobColumns blobs);
  std::uint64_t blob_size_or_zero(std::int64_t id);

  // wait_for_change's steps: the main connection's data_version, and whether
  // it moved since the last look with something claimable now.
  Result<std::int64_t> read_data_version();
  Result<bool> changed_claimable();

  // fetch_blob's connection pool.
  Result<std::unique_ptr<Connection>> take_reader();
  void return_reader(std::unique_ptr<Connection> reader);

  const std::string path_;
  const std::string canonical_path_;  // symlinks resolved, for shares_database_with

  bool read_only_ = false;   // opened read-only (readers too)
  int busy_timeout_ms_ = kBusyTimeoutMs;
  std::recursive_mutex mu_;  // guards db_ (and its statement cache)
  std::unique_ptr<Connection> db_;
  std::int64_t data_version_ = -1;  // db_'s PRAGMA data_version at the last look

  std::mutex readers_mu_;
  std::vector<std::unique_ptr<Connection>> idle_readers_;
};

// Every listing of entries selects these first, in this order: id, name,
// typetag, orgid, timezone, timestamp, attempts, then the blob's length (or
// NULL: no blob, or not read). Reads them from the row into e, attempts as
// stored; a missing blob reads as size 0.
void read_entry_columns(const Statement& row, CacheEntry& e);

}  // namespace cybexp::sqlite
