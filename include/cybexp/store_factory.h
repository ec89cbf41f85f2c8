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

// How long a store call may wait before it fails as a store error (kDatabase),
// so that a held lock, a dead server or a lost network is a log line and a
// backoff, never a silent hang (docs/OPERATIONS.md, "Timeouts"). Settings a
// URL gives explicitly (PostgreSQL options=-c statement_timeout=...,
// connect_timeout=, keepalives_*; MongoDB socketTimeoutMS=, ...) win.
struct StoreTimeouts {
  // PostgreSQL statement_timeout; MongoDB socketTimeoutMS.
  double statement_seconds = 30;
  // PostgreSQL lock_timeout; SQLite's busy timeout (waiting for another
  // process's write lock).
  double lock_seconds = 10;
  // PostgreSQL connect_timeout; MongoDB connectTimeoutMS and
  // serverSelectionTimeoutMS.
  double connect_seconds = 10;
  // TCP keepalive idle time (PostgreSQL keepalives_idle; probes every
  // third of it, three of them), so a server that vanished is noticed.
  double keepalive_seconds = 30;

  // The longest one store call can legitimately take: connecting, then its
  // statement. The watchdog counts a call stuck beyond it as a hang.
  double longest_call() const { return connect_seconds + statement_seconds; }
};

struct StoreConfig {
  std::string url;   // sqlite:PATH (PATH absolute, already resolved), postgresql://, mongodb://
  std::string db;    // database name (MongoDB); upstream meaning
  std::string coll;  // collection (MongoDB); upstream meaning
  StoreTimeouts timeouts{};
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
