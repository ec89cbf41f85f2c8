// Schema creation and version check (see pg_schema.h).
#include "store/postgres/pg_schema.h"

#include <charconv>
#include <string>

#include "cybexp/store.h"
#include "store/postgres/pg_values.h"

namespace cybexp::pg {
namespace {

// Any constant works as long as every cybexp-archive uses the same one; this
// is "cybexp" in ASCII.
constexpr const char* kLockSql = "SELECT pg_advisory_xact_lock(109304838814832)";

// Why the choices below:
// - fillfactor 80 on entries: claim() rewrites a row without touching an
//   indexed column, so with free room on the page the update is HOT (no index
//   writes, no index bloat).
// - blobs in their own table: entry rows stay small for the hot claim/finish
//   updates; STORAGE EXTERNAL because encrypted data does not compress, and
//   uncompressed out-of-line values let substring() read just a slice.
// - the partial indexes cover exactly the claim queries (normal and forced),
//   so a backlog of processed or skipped entries costs claim() nothing.
constexpr const char* kCreateSql = R"sql(
CREATE TABLE cybexp_meta (
  key text PRIMARY KEY,
  value text NOT NULL
);
CREATE TABLE cybexp_entries (
  id bigserial PRIMARY KEY,
  name text NOT NULL DEFAULT '',
  typetag text NOT NULL DEFAULT '',
  orgid text NOT NULL DEFAULT '',
  timezone text NOT NULL DEFAULT 'UTC',
  "timestamp" double precision NOT NULL DEFAULT 0,
  processed boolean NOT NULL DEFAULT false,
  skip boolean NOT NULL DEFAULT false,
  state text,
  reason text,
  refs text[],
  attempts integer NOT NULL DEFAULT 0,
  lease_owner text,
  lease_until timestamptz,
  claimed_at timestamptz,
  finished_at timestamptz
) WITH (fillfactor = 80);
CREATE INDEX cybexp_entries_claimable ON cybexp_entries (id) WHERE NOT processed AND NOT skip;
CREATE INDEX cybexp_entries_unprocessed ON cybexp_entries (id) WHERE NOT processed;
CREATE TABLE cybexp_blobs (
  entry_id bigint PRIMARY KEY REFERENCES cybexp_entries (id) ON DELETE CASCADE,
  data bytea NOT NULL
);
ALTER TABLE cybexp_blobs ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE TABLE cybexp_documents (
  seq bigserial PRIMARY KEY,
  hash text NOT NULL UNIQUE,
  sub_type text NOT NULL,
  orgid text NOT NULL,
  timezone text NOT NULL,
  data text NOT NULL
);
CREATE INDEX cybexp_documents_sub_type ON cybexp_documents (sub_type, seq);
CREATE TABLE cybexp_subtypes (
  typetag text PRIMARY KEY,
  sub_type text NOT NULL
);
)sql";

// Version 2: a NOTIFY on channel cybexp_entries whenever an entry may have
// become claimable, which wakes sleeping daemons (they LISTEN while they
// sleep; pg_notify.cpp). Inserts notify once per statement; an update
// notifies when it makes an entry pending again (requeue) or ends a lease on
// a pending entry (release). The server folds identical notifications of one
// transaction into one, and delivers them at commit. finish() and claim()
// never notify, so a busy daemon costs nothing here. Run once per database,
// at creation or at the upgrade from version 1, both under the lock.
constexpr const char* kNotifySql = R"sql(
CREATE OR REPLACE FUNCTION cybexp_notify_entries() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('cybexp_entries', '');
  RETURN NULL;
END
$$;
CREATE TRIGGER cybexp_entries_added AFTER INSERT ON cybexp_entries
  FOR EACH STATEMENT EXECUTE FUNCTION cybexp_notify_entries();
CREATE TRIGGER cybexp_entries_claimable_again AFTER UPDATE ON cybexp_entries
  FOR EACH ROW WHEN (NOT NEW.processed AND NOT NEW.skip
                     AND (OLD.processed OR OLD.skip
                          OR (OLD.lease_owner IS NOT NULL AND NEW.lease_owner IS NULL)))
  EXECUTE FUNCTION cybexp_notify_entries();
)sql";

// Whether cybexp_meta is on the search path. Read from pg_class with a fresh
// snapshot rather than with to_regclass(): after waiting for the lock inside
// a transaction, the backend's catalog cache may still say "no such table"
// about one another worker has just created (the cache hears of other
// transactions' commits only when it next takes a table lock).
Result<bool> meta_exists(Connection& conn) {
  auto res = CYBEXP_TRY(conn.exec(
      "schema", std::string("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c "
                            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE c.relname = 'cybexp_meta' "
                            "AND n.nspname = ANY (current_schemas(false)))")));
  return get_bool(res.get(), 0, 0);
}

Result<void> check_version(Connection& conn) {
  int version = CYBEXP_TRY(read_schema_version(conn, "schema"));
  if (version > kSchemaVersion) {
    return std::unexpected(conn.error(
        "schema", "schema version " + std::to_string(version) +
                      " is newer than this cybexp-archive supports (" +
                      std::to_string(kSchemaVersion) + "): upgrade cybexp-archive"));
  }
  if (version < kSchemaVersion) {
    return std::unexpected(
        conn.error("schema", "schema version " + std::to_string(version) + " is not supported"));
  }
  return {};
}

Result<void> create(Connection& conn) {
  CYBEXP_TRY_VOID(conn.run("schema", kCreateSql));
  CYBEXP_TRY_VOID(conn.run("schema", kNotifySql));
  Params version;
  version.text_copy(std::to_string(kSchemaVersion));
  CYBEXP_TRY(conn.exec("schema",
                       std::string("INSERT INTO cybexp_meta (key, value) VALUES ('schema_version', $1)"),
                       version));
  std::vector<std::string> typetags;
  std::vector<std::string> sub_types;
  for (const auto& [typetag, sub_type] : default_subtypes()) {
    typetags.push_back(typetag);
    sub_types.push_back(sub_type);
  }
  Params seed;
  seed.literal(text_array_literal(typetags), kTextArrayOid)
      .literal(text_array_literal(sub_types), kTextArrayOid);
  CYBEXP_TRY(conn.exec(
      "schema", std::string("INSERT INTO cybexp_subtypes (typetag, sub_type) "
                            "SELECT * FROM unnest($1::text[], $2::text[])"),
      seed));
  return {};
}

}  // namespace

Result<int> read_schema_version(Connection& conn, std::string_view what) {
  auto res = CYBEXP_TRY(conn.exec(
      what, std::string("SELECT value FROM cybexp_meta WHERE key = 'schema_version'")));
  if (PQntuples(res.get()) != 1) {
    return std::unexpected(conn.error(what, "cybexp_meta has no schema_version"));
  }
  std::string_view text = get_text(res.get(), 0, 0);
  int version = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return std::unexpected(
        conn.error(what, "cybexp_meta schema_version is not a number: " + std::string(text)));
  }
  return version;
}

namespace {

// Version 1 to 2: the notify trigger. Under the lock, as creation, so that
// workers starting together upgrade once.
Result<void> upgrade_from_1(Connection& conn) {
  return conn.transaction("schema upgrade", [&]() -> Result<void> {
    CYBEXP_TRY_VOID(conn.run("schema upgrade", kLockSql));
    if (CYBEXP_TRY(read_schema_version(conn, "schema upgrade")) != 1) return {};
    CYBEXP_TRY_VOID(conn.run("schema upgrade", kNotifySql));
    CYBEXP_TRY_VOID(conn.run("schema upgrade",
                             "UPDATE cybexp_meta SET value = '2' WHERE key = 'schema_version'"));
    return {};
  });
}

}  // namespace

Result<void> ensure_schema(Connection& conn) {
  // Usual case first, without the lock: the schema is there.
  if (CYBEXP_TRY(meta_exists(conn))) {
    if (CYBEXP_TRY(read_schema_version(conn, "schema")) == 1) CYBEXP_TRY_VOID(upgrade_from_1(conn));
    return check_version(conn);
  }
  return conn.transaction("schema", [&]() -> Result<void> {
    CYBEXP_TRY_VOID(conn.run("schema", kLockSql));
    // Another worker may have created it while we waited for the lock.
    if (CYBEXP_TRY(meta_exists(conn))) return check_version(conn);
    return create(conn);
  });
}

}  // namespace cybexp::pg
