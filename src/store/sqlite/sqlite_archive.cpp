// The archive database on SQLite: Raw documents deduplicated by _hash, and
// the typetag -> raw sub type registry.
#include "store/sqlite/sqlite_store.h"

namespace cybexp::sqlite {
namespace {

// [A-Za-z_][A-Za-z0-9_]*, the sub_type rule of docs/UPSTREAM-FORMATS.md section 3. Kept
// here so the store refuses a bad registry entry whoever calls it.
bool is_sub_type_name(std::string_view s) {
  auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (s.empty() || !alpha(s[0])) return false;
  for (char c : s.substr(1)) {
    if (!alpha(c) && !(c >= '0' && c <= '9')) return false;
  }
  return true;
}

// Existing _hash: nothing happens and changes() stays 0, which is how
// put_documents counts the new ones.
const std::string kInsertDocumentSql =
    "INSERT INTO documents(hash, sub_type, orgid, timezone, size, data) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(hash) DO NOTHING";

}  // namespace

Result<std::map<std::string, std::string>> SqliteStore::subtypes() {
  std::lock_guard lock(mu_);
  auto rows = CYBEXP_TRY(db_->prepare("SELECT typetag, sub_type FROM subtypes", "subtypes"));
  std::map<std::string, std::string> registry;
  while (CYBEXP_TRY(rows.step())) registry.emplace(rows.column_text(0), rows.column_text(1));
  return registry;
}

Result<void> SqliteStore::add_subtype(const std::string& typetag, const std::string& sub_type) {
  if (typetag.empty()) {
    return make_error(ErrorKind::kInvalidArgument,
                      "sqlite " + path_ + ": add_subtype: the typetag is empty");
  }
  if (!is_sub_type_name(sub_type)) {
    return make_error(ErrorKind::kInvalidArgument,
                      "sqlite " + path_ + ": add_subtype: sub type '" + sub_type +
                          "' is not an identifier ([A-Za-z_][A-Za-z0-9_]*)");
  }
  std::lock_guard lock(mu_);
  auto upsert = CYBEXP_TRY(db_->prepare(
      "INSERT INTO subtypes(typetag, sub_type) VALUES (?1, ?2) "
      "ON CONFLICT(typetag) DO UPDATE SET sub_type = excluded.sub_type",
      "add_subtype"));
  upsert.bind(1, std::string_view(typetag)).bind(2, std::string_view(sub_type));
  // Durable: the operator was told it is done.
  auto txn = CYBEXP_TRY(Transaction::begin(*db_, "add_subtype", Sync::kDurable));
  CYBEXP_TRY_VOID(upsert.run());
  return txn.commit();
}

Result<bool> SqliteStore::remove_subtype(const std::string& typetag) {
  std::lock_guard lock(mu_);
  auto remove =
      CYBEXP_TRY(db_->prepare("DELETE FROM subtypes WHERE typetag = ?1", "remove_subtype"));
  remove.bind(1, std::string_view(typetag));
  auto txn = CYBEXP_TRY(Transaction::begin(*db_, "remove_subtype", Sync::kDurable));
  CYBEXP_TRY_VOID(remove.run());
  const bool removed = db_->changes() > 0;
  CYBEXP_TRY_VOID(txn.commit());
  return removed;
}

// Durable (fsynced) before it returns: the pipeline marks entries processed
// in the cache right after, possibly in another file, and that mark may
// reach the disk first (at the cache's next checkpoint). One fsync per group
// commit, however many documents it holds.
Result<std::uint64_t> SqliteStore::put_documents(std::span<const RawDocument> docs) {
  if (docs.empty()) return 0;
  std::lock_guard lock(mu_);
  auto txn = CYBEXP_TRY(Transaction::begin(*db_, "put_documents", Sync::kDurable));
  std::uint64_t inserted = CYBEXP_TRY(put_in_transaction(docs));
  CYBEXP_TRY_VOID(txn.commit());
  return inserted;
}

Result<std::uint64_t> SqliteStore::put_in_transaction(std::span<const RawDocument> docs) {
  auto insert = CYBEXP_TRY(db_->prepare(kInsertDocumentSql, "put_documents"));
  std::uint64_t inserted = 0;
  for (const RawDocument& doc : docs) {
    insert.bind(1, std::string_view(doc.hash))
        .bind(2, std::string_view(doc.sub_type))
        .bind(3, std::string_view(doc.orgid))
        .bind(4, std::string_view(doc.timezone))
        .bind(5, static_cast<std::int64_t>(doc.data_json.size()))
        .bind(6, std::string_view(doc.data_json));
    CYBEXP_TRY_VOID(insert.run());
    inserted += static_cast<std::uint64_t>(db_->changes());
  }
  return inserted;
}

Result<void> SqliteStore::for_each_document(const std::optional<std::string>& sub_type,
                                            const std::function<bool(const RawDocument&)>& fn) {
  std::lock_guard lock(mu_);
  const char* sql = sub_type ? "SELECT hash, sub_type, orgid, timezone, data FROM documents "
                               "WHERE sub_type = ?1 ORDER BY seq"
                             : "SELECT hash, sub_type, orgid, timezone, data FROM documents "
                               "ORDER BY seq";
  auto rows = CYBEXP_TRY(db_->prepare(sql, "for_each_document"));
  if (sub_type) rows.bind(1, std::string_view(*sub_type));
  // Streamed in insertion order; one document in memory at a time.
  while (CYBEXP_TRY(rows.step())) {
    RawDocument doc{rows.column_text(0), rows.column_text(1), rows.column_text(2),
                    rows.column_text(3), rows.column_text(4)};
    if (!fn(doc)) break;
  }
  return {};
}

Result<ArchiveCounts> SqliteStore::document_counts() {
  std::lock_guard lock(mu_);
  auto totals = CYBEXP_TRY(
      db_->prepare("SELECT count(*), coalesce(sum(size), 0) FROM documents", "counts"));
  CYBEXP_TRY(totals.step());
  return ArchiveCounts{static_cast<std::uint64_t>(totals.column_int64(0)),
                       static_cast<std::uint64_t>(totals.column_int64(1))};
}

}  // namespace cybexp::sqlite
