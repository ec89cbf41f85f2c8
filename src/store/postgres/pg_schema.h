// The PostgreSQL store's schema: created on first use, versioned in
// cybexp_meta (key 'schema_version'), refused when a newer cybexp-archive has
// upgraded the database past what this build understands.
//
//   cybexp_entries    cache entries with their state and lease
//   cybexp_blobs      the encrypted blob of each entry (bytea)
//   cybexp_documents  Raw documents, unique by hash, seq = insertion order
//   cybexp_subtypes   typetag -> raw sub type, seeded with default_subtypes()
//
// Thread safety: functions of one Connection (one thread).
#pragma once

#include "cybexp/result.h"
#include "store/postgres/pg_connection.h"

namespace cybexp::pg {

// 2: the notify trigger that wakes sleeping daemons (pg_schema.cpp); a version-1
// database is upgraded in place when opened.
inline constexpr int kSchemaVersion = 2;

// Creates the schema if the database has none (one transaction, under an
// advisory lock so that workers starting together do not race), or checks
// that the version it has is one this build supports.
Result<void> ensure_schema(Connection& conn);

// The version recorded in cybexp_meta.
Result<int> read_schema_version(Connection& conn, std::string_view what);

}  // namespace cybexp::pg
