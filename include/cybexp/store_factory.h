// Opens the stores a configuration names, choosing the backend by URL scheme
// from one table (src/store/store_factory.cpp):
//
//   sqlite:PATH                         embedded SQLite file (WAL), created on first use
//   postgresql://... / postgres://...   PostgreSQL via libpq
//   mongodb://... / mongodb+srv://...   MongoDB (upstream layout)
//
// When the cache and the archive name the same database, one store object
// serves both, so results and documents commit in one transaction.
//
// Thread safety: open_stores is reentrant; see store.h for the stores.
#pragma once

#include <string>

#include "cybexp/result.h"
#include "cybexp/store.h"

namespace cybexp {

struct StoreConfig {
  std::string url;   // sqlite:PATH (PATH absolute, already resolved), postgresql://, mongodb://
  std::string db;    // database name (MongoDB); upstream meaning
  std::string coll;  // collection (MongoDB); upstream meaning
};

// kReadOnly, for commands that only read (status, entries, export, inspect,
// subtypes list, check): SQLite files are opened SQLITE_OPEN_READONLY, and
// nothing is created, neither a file nor a directory; a missing or empty
// file, or one without the schema, is an error that says so. The server
// backends ignore it.
enum class OpenMode { kReadWrite, kReadOnly };

Result<Stores> open_stores(const StoreConfig& cache, const StoreConfig& archive,
                           OpenMode mode = OpenMode::kReadWrite);

}  // namespace cybexp
