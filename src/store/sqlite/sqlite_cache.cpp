// The cache data lake's work queue on SQLite: adding entries, leasing them to
// workers (claim), and ending leases (finish, release). Each call is one
// BEGIN IMMEDIATE transaction whatever the batch size, with statements reused
// from the connection's cache: batches, not entries, pay for the commit.
#include <algorithm>
#include <limits>

#include "store/sqlite/sqlite_json.h"
#include "util/log.h"
#include "store/sqlite/sqlite_store.h"

namespace cybexp::sqlite {
namespace {

// The columns claim() returns, with the blob inline only when it is small
// enough (length() of a blob reads no payload, and the CASE keeps larger ones
// from being loaded at all). Rows are in id order, oldest upload first.
constexpr const char* kClaimColumns =
    "SELECT id, name, typetag, orgid, timezone, timestamp, attempts, length(data), "
    "CASE WHEN length(data) <= ?3 THEN data END, skip ";

// Entries that are pending (or, with force, skipped too: those finished
// before ?4, so that a forced pass tries each once) and not under a live
// lease. INDEXED BY pins each query to its partial index; see the schema.
const std::string kClaimSql =
    std::string(kClaimColumns) +
    "FROM entries INDEXED BY entries_claimable LEFT JOIN blobs ON entry_id = id "
    "WHERE processed = 0 AND skip = 0 AND (lease_until IS NULL OR lease_until < ?1) "
    "ORDER BY id LIMIT ?2";
const std::string kClaimForceSql =
    std::string(kClaimColumns) +
    "FROM entries INDEXED BY entries_unprocessed LEFT JOIN blobs ON entry_id = id "
    "WHERE processed = 0 AND (lease_until IS NULL OR lease_until < ?1) "
    "AND (skip = 0 OR finished_at IS NULL OR finished_at < ?4) "
    "ORDER BY id LIMIT ?2";

// The same without the blob tree (?3 unused): for a cache file whose blob
// pages are corrupt.
constexpr const char* kBareColumns =
    "SELECT id, name, typetag, orgid, timezone, timestamp, attempts, NULL, NULL, skip ";
const std::string kClaimBareSql =
    std::string(kBareColumns) +
    "FROM entries INDEXED BY entries_claimable "
    "WHERE processed = 0 AND skip = 0 AND (lease_until IS NULL OR lease_until < ?1) "
    "ORDER BY id LIMIT ?2";
const std::string kClaimForceBareSql =
    std::string(kBareColumns) +
    "FROM entries INDEXED BY entries_unprocessed "
    "WHERE processed = 0 AND (lease_until IS NULL OR lease_until < ?1) "
    "AND (skip = 0 OR finished_at IS NULL OR finished_at < ?4) "
    "ORDER BY id LIMIT ?2";

const std::string kLeaseSql =
    "UPDATE entries SET lease_owner = ?1, lease_until = ?2, claimed_at = ?3, "
    "attempts = attempts + 1 WHERE id = ?4";

// Only while `worker` still holds the lease (lease_owner = worker): once a
// lease has expired and another worker has claimed the entry, the first
// worker's result is dropped, so an entry is finished once. A worker whose
// lease expired unnoticed by anyone else may still finish it.
const std::string kFinishProcessedSql =
    "UPDATE entries SET processed = 1, skip = 0, state = 'processed', reason = NULL, refs = ?1, "
    "lease_owner = NULL, lease_until = NULL, claimed_at = NULL, finished_at = ?2 "
    "WHERE id = ?3 AND lease_owner = ?4";
const std::string kFinishSkippedSql =
    "UPDATE entries SET processed = 0, skip = 1, state = ?1, reason = ?2, refs = NULL, "
    "lease_owner = NULL, lease_until = NULL, claimed_at = NULL, finished_at = ?3 "
    "WHERE id = ?4 AND lease_owner = ?5";

// An untried entry (?3 = 1) also gets its claim's attempt back.
const std::string kReleaseSql =
    "UPDATE entries SET lease_owner = NULL, lease_until = NULL, claimed_at = NULL, "
    "attempts = max(attempts - ?3, 0) WHERE id = ?1 AND lease_owner = ?2";

std::int64_t clamp_to_int64(std::uint64_t v) {
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(std::min(v, kMax));
}

}  // namespace

// Durable before the id is returned: `submit` (the API module) acknowledges
// the upload with it.
Result<std::string> SqliteStore::add_entry(const NewEntry& entry,
                                           std::span<const std::uint8_t> blob) {
  std::lock_guard lock(mu_);
  auto txn = CYBEXP_TRY(Transaction::begin(*db_, "add_entry", Sync::kDurable));
  auto insert = CYBEXP_TRY(db_->prepare(
      "INSERT INTO entries(name, typetag, orgid, timezone, timestamp) VALUES (?1, ?2, ?3, ?4, ?5)",
      "add_entry"));
  insert.bind(1, std::string_view(entry.name))
      .bind(2, std::string_view(entry.typetag))
      .bind(3, std::string_view(entry.orgid))
      .bind(4, std::string_view(entry.timezone))
      .bind(5, entry.timestamp);
  CYBEXP_TRY_VOID(insert.run());
  std::int64_t id = db_->last_insert_rowid();
  auto put_blob =
      CYBEXP_TRY(db_->prepare("INSERT INTO blobs(entry_id, data) VALUES (?1, ?2)", "add_entry"));
  put_blob.bind(1, id).bind_blob(2, blob);
  CYBEXP_TRY_VOID(put_blob.run());
  CYBEXP_TRY_VOID(txn.commit());
  return std::to_string(id);
}

Result<std::vector<CacheEntry>> SqliteStore::claim(const ClaimRequest& request) {
  if (request.worker.empty()) {
    return make_error(ErrorKind::kInvalidArgument, "sqlite " + path_ + ": claim: no worker name");
  }
  if (request.lease_seconds <= 0) {
    return make_error(ErrorKind::kInvalidArgument,
                      "sqlite " + path_ + ": claim: lease_seconds must be positive");
  }
  if (request.max_entries == 0) return std::vector<CacheEntry>{};
  std::lock_guard lock(mu_);
  bool corrupt = false;
  auto claimed = claim_in_transaction(request, BlobColumns::kInline, &corrupt);
  if (claimed || !corrupt) return claimed;
  // A corrupt page in the blob tree fails every claim that reads it. Claim
  // without touching the blobs instead: each entry's size is then read on
  // its own, and fetch_blob reports the blob that cannot be read as that
  // entry's bad data, so the others go on.
  log(LogLevel::kWarning,
      "claim: the cache file is corrupt where blobs are kept; claiming without inline blobs "
      "(run 'cybexp-archive check')",
      {{"store", path_}, {"error", claimed.error().message}});
  return claim_in_transaction(request, BlobColumns::kNone, &corrupt);
}

Result<std::vector<CacheEntry>> SqliteStore::claim_in_transaction(const ClaimRequest& request,
                                                                  BlobColumns blobs,
                                                                  bool* corrupt) {
  // The write lock is taken before the select, so the rows chosen here
  // cannot be chosen by another process until this commits: no entry is
  // ever leased twice.
  auto txn = CYBEXP_TRY(Transaction::begin(*db_, "claim"));
  double now = now_seconds();
  auto selected = select_claimable(request, now, blobs);
  if (!selected) {
    // Read before the rollback resets the connection's error code.
    *corrupt = is_corruption(db_->last_error_code());
    return std::unexpected(std::move(selected).error());
  }
  std::vector<CacheEntry> claimed = std::move(*selected);
  if (blobs == BlobColumns::kNone) {
    for (CacheEntry& e : claimed) e.blob_size = blob_size_or_zero(*parse_id(e.id));
  }
  auto lease = CYBEXP_TRY(db_->prepare(kLeaseSql, "claim"));
  double lease_until = now + request.lease_seconds;
  for (const CacheEntry& e : claimed) {
    lease.bind(1, std::string_view(request.worker))
        .bind(2, lease_until)
        .bind(3, now)
        .bind(4, *parse_id(e.id));
    CYBEXP_TRY_VOID(lease.run());
  }
  CYBEXP_TRY_VOID(txn.commit());
  return claimed;
}

Result<std::vector<CacheEntry>> SqliteStore::select_claimable(const ClaimRequest& request,
                                                              double now, BlobColumns blobs) {
  const bool inline_blobs = blobs == BlobColumns::kInline;
  const std::string& sql = request.force ? (inline_blobs ? kClaimForceSql : kClaimForceBareSql)
                                         : (inline_blobs ? kClaimSql : kClaimBareSql);
  auto select = CYBEXP_TRY(db_->prepare(sql, "claim"));
  select.bind(1, now).bind(2, clamp_to_int64(request.max_entries));
  if (inline_blobs) select.bind(3, clamp_to_int64(request.inline_blob_max));
  if (request.force) {
    select.bind(4, request.finished_before.value_or(std::numeric_limits<double>::infinity()));
  }
  // All rows are read before any is updated: updating lease_until moves
  // rows within the very index the select walks.
  std::vector<CacheEntry> claimed;
  while (CYBEXP_TRY(select.step())) {
    CacheEntry& e = claimed.emplace_back();
    // A missing blob reads as size 0 and no inline copy; fetch_blob then
    // reports it as bad data.
    read_entry_columns(select, e);
    e.attempts += 1;  // this claim included
    if (!select.is_null(8)) e.blob = select.column_blob(8);
    e.skipped = select.column_int64(9) != 0;
  }
  return claimed;
}

// The blob's size from its record header (no payload read), or 0 when it
// is missing or even that cannot be read: fetch_blob then says why.
std::uint64_t SqliteStore::blob_size_or_zero(std::int64_t id) {
  auto size = db_->prepare("SELECT length(data) FROM blobs WHERE entry_id = ?1", "claim");
  if (!size) return 0;
  size->bind(1, id);
  auto row = size->step();
  if (!row || !*row || size->is_null(0)) return 0;
  return static_cast<std::uint64_t>(size->column_int64(0));
}

Result<FinishReport> SqliteStore::finish(std::span<const EntryResult> results,
                                         const std::string& worker) {
  if (results.empty()) return FinishReport{};
  std::lock_guard lock(mu_);
  auto txn = CYBEXP_TRY(Transaction::begin(*db_, "finish"));
  FinishReport report = CYBEXP_TRY(finish_in_transaction(results, worker));
  CYBEXP_TRY_VOID(txn.commit());
  return report;
}

Result<FinishReport> SqliteStore::finish_in_transaction(std::span<const EntryResult> results,
                                                        const std::string& worker) {
  auto processed = CYBEXP_TRY(db_->prepare(kFinishProcessedSql, "finish"));
  auto skipped = CYBEXP_TRY(db_->prepare(kFinishSkippedSql, "finish"));
  double now = now_seconds();
  FinishReport report;
  for (const EntryResult& r : results) {
    auto id = parse_id(r.id);
    if (!id) {  // not one of ours, so not leased to `worker` either
      report.lost.push_back(r.id);
      continue;
    }
    if (r.processed()) {
      std::string refs = string_array_to_json(r.refs);
      processed.bind(1, std::string_view(refs))
          .bind(2, now)
          .bind(3, *id)
          .bind(4, std::string_view(worker));
      CYBEXP_TRY_VOID(processed.run());
    } else {
      skipped.bind(1, std::string_view(state_name(r.fate)))
          .bind(2, std::string_view(r.reason))
          .bind(3, now)
          .bind(4, *id)
          .bind(5, std::string_view(worker));
      CYBEXP_TRY_VOID(skipped.run());
    }
    if (db_->changes() > 0) {
      ++report.marked;
    } else {
      report.lost.push_back(r.id);
    }
  }
  return report;
}

Result<void> SqliteStore::release(std::span<const std::string> ids, const std::string& worker,
                                  ReleaseKind kind) {
  if (ids.empty()) return {};
  std::lock_guard lock(mu_);
  auto txn = CYBEXP_TRY(Transaction::begin(*db_, "release"));
  auto release = CYBEXP_TRY(db_->prepare(kReleaseSql, "release"));
  for (const std::string& text : ids) {
    auto id = parse_id(text);
    if (!id) continue;
    release.bind(1, *id)
        .bind(2, std::string_view(worker))
        .bind(3, std::int64_t{kind == ReleaseKind::kUntried ? 1 : 0});
    CYBEXP_TRY_VOID(release.run());
  }
  return txn.commit();
}

Result<std::uint64_t> SqliteStore::count_claimable(bool force) {
  std::lock_guard lock(mu_);
  const char* sql =
      force ? "SELECT count(*) FROM entries INDEXED BY entries_unprocessed "
              "WHERE processed = 0 AND (lease_until IS NULL OR lease_until < ?1)"
            : "SELECT count(*) FROM entries INDEXED BY entries_claimable "
              "WHERE processed = 0 AND skip = 0 AND (lease_until IS NULL OR lease_until < ?1)";
  auto count = CYBEXP_TRY(db_->prepare(sql, "count_claimable"));
  count.bind(1, now_seconds());
  CYBEXP_TRY(count.step());
  return static_cast<std::uint64_t>(count.column_int64(0));
}

}  // namespace cybexp::sqlite
