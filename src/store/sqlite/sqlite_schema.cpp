// Schema creation, versioning and connection pragmas for the embedded store.
#include "store/sqlite/sqlite_schema.h"

#include <string>

#include "cybexp/store.h"

namespace cybexp::sqlite {
namespace {

// Version 1. Entry state lives in two flags, as upstream keeps it
// (processed / skip), plus the skip state and reason; refs is a JSON array of
// _hash strings. Blobs sit in their own table so that scans over entries
// (claim, counts, listings) never page through payload bytes.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE entries (
  id          INTEGER PRIMARY KEY,
  name        TEXT    NOT NULL,
  typetag     TEXT    NOT NULL,
  orgid       TEXT    NOT NULL,
  timezone    TEXT    NOT NULL,
  timestamp   REAL    NOT NULL,
  processed   INTEGER NOT NULL DEFAULT 0,
  skip        INTEGER NOT NULL DEFAULT 0,
  state       TEXT,
  reason      TEXT,
  refs        TEXT,
  attempts    INTEGER NOT NULL DEFAULT 0,
  lease_owner TEXT,
  lease_until REAL,
  claimed_at  REAL,
  finished_at REAL
);
CREATE TABLE blobs (
  entry_id INTEGER PRIMARY KEY REFERENCES entries(id) ON DELETE CASCADE,
  data     BLOB NOT NULL
);
-- Partial indexes hold only what claim() can take, so a claim reads about
-- batch-size index rows however many entries are done or skipped. The claim
-- queries name them with INDEXED BY (the planner would otherwise pick the
-- wider one). lease_until is in the key so leased rows are passed over
-- without visiting the table.
CREATE INDEX entries_claimable ON entries(id, lease_until) WHERE processed = 0 AND skip = 0;
CREATE INDEX entries_unprocessed ON entries(id, lease_until) WHERE processed = 0;
-- Only entries in flight: counts().in_flight and lease checks stay cheap.
CREATE INDEX entries_leased ON entries(lease_owner, lease_until) WHERE lease_owner IS NOT NULL;
CREATE TABLE documents (
  seq      INTEGER PRIMARY KEY,
  hash     TEXT    NOT NULL UNIQUE,
  sub_type TEXT    NOT NULL,
  orgid    TEXT    NOT NULL,
  timezone TEXT    NOT NULL,
  -- Bytes of data, kept because length() of TEXT counts characters and
  -- would read every document; before data so a scan never touches it.
  size     INTEGER NOT NULL,
  data     TEXT    NOT NULL
);
CREATE INDEX documents_sub_type ON documents(sub_type);
CREATE TABLE subtypes (
  typetag  TEXT PRIMARY KEY,
  sub_type TEXT NOT NULL
) WITHOUT ROWID;
)sql";

Result<void> create_schema(Connection& conn) {
  CYBEXP_TRY_VOID(conn.exec(kSchemaV1, "create schema"));
  auto seed = CYBEXP_TRY(
      conn.prepare("INSERT INTO subtypes(typetag, sub_type) VALUES (?1, ?2)", "create schema"));
  for (const auto& [typetag, sub_type] : default_subtypes()) {
    seed.bind(1, std::string_view(typetag)).bind(2, std::string_view(sub_type));
    CYBEXP_TRY_VOID(seed.run());
  }
  // PRAGMA takes no parameters; the version is our own constant.
  std::string set_version = "PRAGMA user_version = " + std::to_string(kSchemaVersion);
  return conn.exec(set_version.c_str(), "create schema");
}

Result<void> check_version(Connection& conn, int version) {
  if (version > kSchemaVersion) {
    return std::unexpected(conn.error(
        "open", "schema version " + std::to_string(version) +
                    " is newer than this cybexp-archive supports (" +
                    std::to_string(kSchemaVersion) + "): upgrade cybexp-archive"));
  }
  return {};
}

}  // namespace

Result<int> read_user_version(Connection& conn, const char* op) {
  auto stmt = CYBEXP_TRY(conn.prepare("PRAGMA user_version", op));
  if (!CYBEXP_TRY(stmt.step())) return std::unexpected(conn.error(op, "no user_version"));
  return static_cast<int>(stmt.column_int64(0));
}

// Shared by every connection: read through a memory map rather than one
// pread(2) per page. A 1 MiB blob spans 256 overflow pages; on a VM each
// syscall costs more than copying the page.
constexpr const char* kMmapPragma = "PRAGMA mmap_size = 1073741824";

Result<void> configure_main(Connection& conn) {
  // Larger pages for new files: a large blob or document is a chain of
  // overflow pages, each one read and written with its own syscall. Ignored
  // for a file that already has content.
  CYBEXP_TRY_VOID(conn.exec("PRAGMA page_size = 16384", "page_size"));
  CYBEXP_TRY_VOID(conn.exec(kMmapPragma, "mmap_size"));
  // WAL: readers (fetch_blob threads, other processes' listings) never block
  // the writer or each other, and a commit is one append to the log.
  auto mode = CYBEXP_TRY(conn.prepare("PRAGMA journal_mode = WAL", "journal_mode"));
  if (!CYBEXP_TRY(mode.step()) || mode.column_text(0) != "wal") {
    return std::unexpected(conn.error(
        "journal_mode", "cannot use WAL mode here (a network file system?): put the "
                        "database on a local disk"));
  }
  mode.reset();
  // synchronous=NORMAL in WAL mode does not fsync on every commit, only at
  // checkpoints: a process crash loses nothing (the log is in the OS cache),
  // a power cut can take the last commits back, and the file rolls back to a
  // consistent earlier state. That is fine for claims, leases and marks (an
  // entry whose mark is lost is claimed and archived again; documents are
  // deduplicated by _hash), and it saves an fsync per claim and per finish.
  // What must survive a power cut is committed with Sync::kDurable (fsynced
  // before COMMIT returns): add_entry (submit acknowledged it), documents
  // (put_documents, before any entry refers to them from the cache file),
  // requeue and the sub-type registry (an operator was told it is done).
  // With cache and archive in two files this ordering is what keeps a
  // processed entry from pointing at a document a power cut took back: each
  // file is synced at its own checkpoints. See docs/DURABILITY.md.
  CYBEXP_TRY_VOID(conn.exec("PRAGMA synchronous = NORMAL", "synchronous"));
  // Enforced per connection: a blob must belong to an entry.
  return conn.exec("PRAGMA foreign_keys = ON", "foreign_keys");
}

Result<void> configure_reader(Connection& conn) {
  CYBEXP_TRY_VOID(conn.exec(kMmapPragma, "mmap_size"));
  return conn.exec("PRAGMA query_only = ON", "query_only");
}

Result<void> check_schema(Connection& conn) {
  int version = CYBEXP_TRY(read_user_version(conn, "open"));
  if (version == 0) {
    return std::unexpected(conn.error("open", "no cybexp schema in this file: not a cybexp store"));
  }
  return check_version(conn, version);
}

Result<void> ensure_schema(Connection& conn) {
  // Usual case first, without the write lock: the schema is there.
  int version = CYBEXP_TRY(read_user_version(conn, "open"));
  if (version != 0) return check_version(conn, version);
  // First use. The version is read again under the write lock: another
  // process may have created the schema since.
  auto txn = CYBEXP_TRY(Transaction::begin(conn, "create schema", Sync::kDurable));
  version = CYBEXP_TRY(read_user_version(conn, "create schema"));
  if (version != 0) return check_version(conn, version);
  CYBEXP_TRY_VOID(create_schema(conn));
  return txn.commit();
}

}  // namespace cybexp::sqlite
