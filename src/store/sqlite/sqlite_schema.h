// The embedded store's schema (version kSchemaVersion, kept in PRAGMA
// user_version) and the per-connection settings every connection to the file
// needs.
//
// Thread safety: functions act on the Connection they are given; see
// sqlite_db.h.
#pragma once

#include "cybexp/result.h"
#include "store/sqlite/sqlite_db.h"

namespace cybexp::sqlite {

inline constexpr int kSchemaVersion = 1;
// How long a connection waits for another process's write lock before
// reporting "database is locked", unless the configuration says otherwise
// (timeouts.lock_seconds; this is its default).
inline constexpr int kBusyTimeoutMs = 10'000;

// The main (read-write) connection: WAL, synchronous=NORMAL (durable commits
// raise it per transaction, see Sync in sqlite_db.h), foreign keys.
Result<void> configure_main(Connection& conn);
// A fetch_blob reader: foreign keys do not matter, writes are refused.
Result<void> configure_reader(Connection& conn);

// Creates the schema in one transaction on first use (and seeds the sub-type
// registry), or checks that an existing file is a version we understand.
Result<void> ensure_schema(Connection& conn);

Result<int> read_user_version(Connection& conn, const char* op);

// For a read-only connection: the schema must be there, in a version we
// understand (a file without it is not a cybexp store).
Result<void> check_schema(Connection& conn);

}  // namespace cybexp::sqlite
