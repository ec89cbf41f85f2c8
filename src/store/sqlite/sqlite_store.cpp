// Opening the embedded store, the openers of store/backends.h, and
// the parts that span both roles or both kinds of connection: fetch_blob's
// reader pool and finish_with_documents.
#include "store/sqlite/sqlite_store.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "store/backends.h"
#include "store/sqlite/sqlite_schema.h"

namespace cybexp::sqlite {
namespace {

// Readers kept open between fetch_blob calls; enough for the decrypt workers
// of one process. More concurrent callers open extra readers that are closed
// after use.
constexpr std::size_t kMaxIdleReaders = 16;

// The default data directory (./cybexp-data) may not exist on first run.
// Created 0700: it holds the cache's still-encrypted uploads and the archive.
Result<void> make_parent_dirs(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(path).parent_path();
  std::error_code ec;
  if (dir.empty() || fs::is_directory(dir, ec)) return {};
  fs::path partial;
  for (const auto& part : dir) {
    partial /= part;
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      return make_error(ErrorKind::kIo, "sqlite " + path + ": cannot create directory " +
                                            partial.string() + ": " + std::strerror(errno));
    }
  }
  if (!fs::is_directory(dir, ec)) {
    return make_error(ErrorKind::kIo,
                      "sqlite " + path + ": " + dir.string() + " is not a directory");
  }
  return {};
}

// Read-only opening never creates anything: a missing file (a mistyped
// CYBEXP_HOME or path) and an empty one (which a read-write open would
// silently turn into an empty store) are errors that say what to do.
Result<void> check_existing_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return make_error(ErrorKind::kIo,
                      "sqlite " + path + ": " + std::strerror(errno) +
                          " (commands that only read never create a store: check CYBEXP_HOME, "
                          "-c and the store's url)");
  }
  if (S_ISDIR(st.st_mode)) {
    return make_error(ErrorKind::kIo, "sqlite " + path + ": is a directory, not a database file");
  }
  if (st.st_size == 0) {
    return make_error(ErrorKind::kDatabase,
                      "sqlite " + path +
                          ": the file is empty (0 bytes), not a cybexp store; if entries were "
                          "archived into it, restore it from a backup");
  }
  return {};
}

// A blob on a corrupt page is that entry's bad data (it will never read
// better), not a store failure to retry forever; other errors are the store's.
Error fetch_error(const Connection& conn, int rc) {
  if (is_corruption(rc) || is_corruption(conn.last_error_code())) {
    return Error{ErrorKind::kBadData,
                 "the blob cannot be read: the cache database is corrupt there (sqlite " +
                     conn.path() + ": " + sqlite3_errstr(rc) + "; see 'cybexp-archive check')"};
  }
  return conn.error("fetch_blob");
}

}  // namespace

Result<std::shared_ptr<SqliteStore>> SqliteStore::open(const std::string& path, bool read_only,
                                                       int busy_timeout_ms) {
  if (path.empty()) {
    return make_error(ErrorKind::kInvalidArgument, "sqlite: the database path is empty");
  }
  if (path == ":memory:") {
    // fetch_blob's readers would each get their own empty database.
    return make_error(ErrorKind::kInvalidArgument,
                      "sqlite: an in-memory database cannot be shared; give a file path");
  }
  std::unique_ptr<Connection> db;
  if (read_only) {
    CYBEXP_TRY_VOID(check_existing_file(path));
    db = CYBEXP_TRY(Connection::open(path, /*create=*/false, busy_timeout_ms, /*read_only=*/true));
    CYBEXP_TRY_VOID(configure_reader(*db));
    CYBEXP_TRY_VOID(check_schema(*db));
  } else {
    CYBEXP_TRY_VOID(make_parent_dirs(path));
    db = CYBEXP_TRY(Connection::open(path, /*create=*/true, busy_timeout_ms));
    CYBEXP_TRY_VOID(configure_main(*db));
    CYBEXP_TRY_VOID(ensure_schema(*db));
  }

  std::error_code ec;
  auto canonical = std::filesystem::weakly_canonical(path, ec);
  std::string canonical_path = ec ? path : canonical.string();
  std::shared_ptr<SqliteStore> store(new SqliteStore(path, canonical_path, std::move(db)));
  store->read_only_ = read_only;
  store->busy_timeout_ms_ = busy_timeout_ms;
  // The baseline for wait_for_change: what others commit from now on counts.
  store->data_version_ = CYBEXP_TRY(store->read_data_version());
  return store;
}

SqliteStore::~SqliteStore() = default;

// db_ lives as long as the store, and Connection::interrupt may be called
// from any thread while another uses the connection.
void SqliteStore::interrupt() { db_->interrupt(); }

bool SqliteStore::shares_database_with(const ArchiveStore& archive) const {
  const auto* other = dynamic_cast<const SqliteStore*>(&archive);
  return other != nullptr && (other == this || other->canonical_path_ == canonical_path_);
}

Result<FinishReport> SqliteStore::finish_with_documents(std::span<const RawDocument> docs,
                                                        std::span<const EntryResult> results,
                                                        const std::string& worker) {
  std::lock_guard lock(mu_);
  auto txn = CYBEXP_TRY(Transaction::begin(*db_, "finish_with_documents"));
  const std::uint64_t inserted = CYBEXP_TRY(put_in_transaction(docs));
  FinishReport report = CYBEXP_TRY(finish_in_transaction(results, worker));
  CYBEXP_TRY_VOID(txn.commit());
  report.inserted = inserted;
  return report;
}

Result<int> SqliteStore::schema_version() {
  std::lock_guard lock(mu_);
  return read_user_version(*db_, "schema_version");
}

// ---- fetch_blob and its readers ----

Result<std::unique_ptr<Connection>> SqliteStore::take_reader() {
  {
    std::lock_guard lock(readers_mu_);
    if (!idle_readers_.empty()) {
      auto reader = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return reader;
    }
  }
  // Opened outside the pool lock: opening touches the file and may wait.
  auto reader = CYBEXP_TRY(Connection::open(path_, /*create=*/false, busy_timeout_ms_, read_only_));
  CYBEXP_TRY_VOID(configure_reader(*reader));
  // Blobs are read once, straight into the caller's buffer: through the
  // memory map every page read would stay mapped into the process (a
  // second copy of each large blob in its resident memory, issue 15); with
  // pread(2) it is one syscall per 16 KiB page and SQLite's small page
  // cache.
  CYBEXP_TRY_VOID(reader->exec("PRAGMA mmap_size = 0", "mmap_size"));
  return reader;
}

void SqliteStore::return_reader(std::unique_ptr<Connection> reader) {
  std::lock_guard lock(readers_mu_);
  if (idle_readers_.size() < kMaxIdleReaders) idle_readers_.push_back(std::move(reader));
}

Result<std::vector<std::uint8_t>> SqliteStore::fetch_blob(const CacheEntry& entry,
                                                          std::uint64_t max_bytes) {
  auto id = parse_id(entry.id);
  if (!id) {
    return make_error(ErrorKind::kInvalidArgument,
                      "sqlite " + path_ + ": fetch_blob: '" + entry.id + "' is not an entry id");
  }
  // Hands the reader back to the pool on every path out.
  struct Lease {
    SqliteStore* store;
    std::unique_ptr<Connection> conn;
    ~Lease() {
      if (conn) store->return_reader(std::move(conn));
    }
  } lease{this, CYBEXP_TRY(take_reader())};
  // The blob handle's statement is the only thing open on this connection,
  // and closing it ends the read transaction.
  struct BlobCloser {
    sqlite3_blob* blob = nullptr;
    ~BlobCloser() { sqlite3_blob_close(blob); }  // harmless on nullptr
  } handle;

  int rc = sqlite3_blob_open(lease.conn->handle(), "main", "blobs", "data", *id, 0, &handle.blob);
  if (rc == SQLITE_ERROR) {
    // "no such rowid" (or a NULL value): the schema is ours, so nothing
    // else reports a plain SQLITE_ERROR here.
    return make_error(ErrorKind::kBadData, "entry has no blob");
  }
  if (rc != SQLITE_OK) return std::unexpected(fetch_error(*lease.conn, rc));

  // Incremental blob I/O: the size comes from the record header, so an
  // oversized blob is refused without reading it.
  auto size = static_cast<std::uint64_t>(sqlite3_blob_bytes(handle.blob));
  if (size > max_bytes) {
    return make_error(ErrorKind::kLimit, "blob is " + std::to_string(size) + " bytes, over the " +
                                             std::to_string(max_bytes) +
                                             "-byte limit (limits.max_blob_bytes)");
  }
  std::vector<std::uint8_t> data(size);
  if (size > 0) {
    rc = sqlite3_blob_read(handle.blob, data.data(), static_cast<int>(size), 0);
    if (rc != SQLITE_OK) return std::unexpected(fetch_error(*lease.conn, rc));
  }
  return data;
}

}  // namespace cybexp::sqlite

// ---- store/backends.h ----

namespace cybexp {

namespace {
int busy_ms(const StoreTimeouts& t) { return static_cast<int>(t.lock_seconds * 1000); }
}  // namespace

Result<std::shared_ptr<CacheStore>> open_sqlite_cache(const std::string& path, OpenMode mode,
                                                      const StoreTimeouts& timeouts) {
  return CYBEXP_TRY(
      sqlite::SqliteStore::open(path, mode == OpenMode::kReadOnly, busy_ms(timeouts)));
}

Result<std::shared_ptr<ArchiveStore>> open_sqlite_archive(const std::string& path, OpenMode mode,
                                                          const StoreTimeouts& timeouts) {
  return CYBEXP_TRY(
      sqlite::SqliteStore::open(path, mode == OpenMode::kReadOnly, busy_ms(timeouts)));
}

Result<Stores> open_sqlite_combined(const std::string& path, OpenMode mode,
                                    const StoreTimeouts& timeouts) {
  auto store =
      CYBEXP_TRY(sqlite::SqliteStore::open(path, mode == OpenMode::kReadOnly, busy_ms(timeouts)));
  return Stores{store, store};
}

}  // namespace cybexp
