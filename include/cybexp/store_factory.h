// Opens the stores a configuration names, choosing the backend by URL scheme:
//
//   sqlite:PATH            embedded SQLite file (WAL), created on first use
//   postgresql://... / postgres://...   PostgreSQL via libpq
//   mongodb://...          MongoDB (upstream layout)
//
// When the cache and the archive name the same database, one store object
// serves both, so results and documents commit in one transaction.
//
// Thread safety: open_stores is reentrant; see store.h for the stores.
#pragma once

#include <memory>
#include <string>

#include "cybexp/result.h"
#include "cybexp/store.h"

namespace cybexp {

struct StoreConfig {
  std::string url;   // sqlite:PATH (PATH absolute, already resolved), postgresql://, mongodb://
  std::string db;    // database name (MongoDB); upstream meaning
  std::string coll;  // collection (MongoDB); upstream meaning
};

struct Stores {
  std::shared_ptr<CacheStore> cache;
  std::shared_ptr<ArchiveStore> archive;
};

// kReadOnly, for commands that only read (status, entries, export, inspect,
// subtypes list, check): SQLite files are opened SQLITE_OPEN_READONLY, and
// nothing is created, neither a file nor a directory; a missing or empty
// file, or one without the schema, is an error that says so. The server
// backends ignore it.
enum class OpenMode { kReadWrite, kReadOnly };

Result<Stores> open_stores(const StoreConfig& cache, const StoreConfig& archive,
                           OpenMode mode = OpenMode::kReadWrite);

// Backends, one per folder under src/store/.
Result<std::shared_ptr<CacheStore>> open_sqlite_cache(const std::string& path,
                                                      OpenMode mode = OpenMode::kReadWrite);
Result<std::shared_ptr<ArchiveStore>> open_sqlite_archive(const std::string& path,
                                                          OpenMode mode = OpenMode::kReadWrite);
// One object serving both roles on one SQLite file.
Result<Stores> open_sqlite_combined(const std::string& path, OpenMode mode = OpenMode::kReadWrite);

Result<Stores> open_postgres(const StoreConfig* cache, const StoreConfig* archive);

// MongoDB in the upstream layout (db/coll as the upstream config names them;
// defaults cache_db.file_entries and tahoe_db.instance). Either may be null.
Result<Stores> open_mongo(const StoreConfig* cache, const StoreConfig* archive);

}  // namespace cybexp
