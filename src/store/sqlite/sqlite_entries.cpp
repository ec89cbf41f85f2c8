// Looking at and repairing the cache: counts(), for_each_entry() and
// requeue(), all driven by an EntryFilter turned into a WHERE clause.
#include <variant>

#include "store/sqlite/sqlite_json.h"
#include "store/sqlite/sqlite_store.h"

namespace cybexp::sqlite {
namespace {

constexpr const char* kStateSkipped = "skipped";  // any skip state, in filters

// An EntryFilter as SQL. The text depends only on which fields are set, so
// the statement cache holds a handful of variants; values are bound, and an
// id list is one JSON parameter read with json_each().
struct Where {
  std::string sql;  // "" or " AND (...) AND (...)"
  std::vector<std::variant<double, std::string>> params;
};

Where filter_where(const EntryFilter& f, int first_param) {
  Where w;
  auto param = [&](std::variant<double, std::string> value) {
    w.params.push_back(std::move(value));
    return "?" + std::to_string(first_param + static_cast<int>(w.params.size()) - 1);
  };
  if (f.state) {
    const std::string& s = *f.state;
    if (s == kStatePending) {
      w.sql += " AND (processed = 0 AND skip = 0)";
    } else if (s == kStateProcessed) {
      w.sql += " AND (processed = 1)";
    } else if (s == kStateSkipped) {
      w.sql += " AND (skip = 1)";
    } else {
      w.sql += " AND (skip = 1 AND state = " + param(s) + ")";
    }
  }
  if (!f.ids.empty()) {
    std::vector<std::int64_t> ids;
    for (const std::string& text : f.ids) {
      if (auto id = parse_id(text)) ids.push_back(*id);  // foreign ids match nothing
    }
    w.sql += " AND (id IN (SELECT value FROM json_each(" + param(int_array_to_json(ids)) + ")))";
  }
  if (f.typetag) w.sql += " AND (typetag = " + param(*f.typetag) + ")";
  if (f.since) w.sql += " AND (timestamp >= " + param(*f.since) + ")";
  if (f.until) w.sql += " AND (timestamp < " + param(*f.until) + ")";
  return w;
}

void bind_params(Statement& stmt, const Where& w, int first_param) {
  int index = first_param;
  for (const auto& value : w.params) {
    if (const double* d = std::get_if<double>(&value)) {
      stmt.bind(index++, *d);
    } else {
      stmt.bind(index++, std::string_view(std::get<std::string>(value)));
    }
  }
}

// The state an entry is reported in: pending, processed, or its skip state.
std::string state_of(bool processed, bool skip, std::string stored) {
  if (processed) return kStateProcessed;
  if (!skip) return kStatePending;
  return stored.empty() ? std::string(kStateError) : std::move(stored);
}

}  // namespace

void read_entry_columns(const Statement& row, CacheEntry& e) {
  e.id = std::to_string(row.column_int64(0));
  e.name = row.column_text(1);
  e.typetag = row.column_text(2);
  e.orgid = row.column_text(3);
  e.timezone = row.column_text(4);
  e.timestamp = row.column_double(5);
  e.attempts = row.column_int64(6);
  e.blob_size = row.is_null(7) ? 0 : static_cast<std::uint64_t>(row.column_int64(7));
}

Result<CacheCounts> SqliteStore::entry_counts() {
  std::lock_guard lock(mu_);
  // One snapshot for both queries, so the totals add up.
  auto txn = CYBEXP_TRY(Transaction::begin_read(*db_, "counts"));
  CacheCounts counts;
  {
    auto by_state = CYBEXP_TRY(db_->prepare(
        "SELECT processed, skip, state, count(*) FROM entries GROUP BY processed, skip, state",
        "counts"));
    while (CYBEXP_TRY(by_state.step())) {
      auto n = static_cast<std::uint64_t>(by_state.column_int64(3));
      bool processed = by_state.column_int64(0) != 0;
      bool skip = by_state.column_int64(1) != 0;
      if (processed) {
        counts.processed += n;
      } else if (!skip) {
        counts.pending += n;
      } else {
        counts.skipped[state_of(false, true, by_state.column_text(2))] += n;
      }
    }
  }
  {
    // Live leases only: an expired one belongs to a worker that is gone.
    auto leases = CYBEXP_TRY(db_->prepare(
        "SELECT lease_owner, count(*), min(claimed_at) FROM entries "
        "WHERE lease_owner IS NOT NULL AND lease_until >= ?1 "
        "GROUP BY lease_owner ORDER BY lease_owner",
        "counts"));
    leases.bind(1, now_seconds());
    while (CYBEXP_TRY(leases.step())) {
      counts.in_flight.push_back(LeaseInfo{leases.column_text(0),
                                           static_cast<std::uint64_t>(leases.column_int64(1)),
                                           leases.column_double(2)});
    }
  }
  CYBEXP_TRY_VOID(txn.commit());
  return counts;
}

Result<void> SqliteStore::for_each_entry(const EntryFilter& filter,
                                         const std::function<bool(const EntryInfo&)>& fn) {
  std::lock_guard lock(mu_);
  Where where = filter_where(filter, 1);
  std::string sql =
      "SELECT id, name, typetag, orgid, timezone, timestamp, attempts, length(data), "
      "processed, skip, state, refs, reason, lease_owner, lease_until, finished_at "
      "FROM entries LEFT JOIN blobs ON entry_id = id WHERE 1" +
      where.sql + " ORDER BY id";
  auto rows = CYBEXP_TRY(db_->prepare(sql, "for_each_entry"));
  bind_params(rows, where, 1);
  // Streamed: one row in memory at a time, however many match.
  while (CYBEXP_TRY(rows.step())) {
    EntryInfo info;
    CacheEntry& e = info.entry;
    read_entry_columns(rows, e);
    info.state = state_of(rows.column_int64(8) != 0, rows.column_int64(9) != 0,
                          rows.column_text(10));
    if (!rows.is_null(11)) {
      std::string refs = rows.column_text(11);
      auto parsed = string_array_from_json(refs);
      if (!parsed) {
        return std::unexpected(db_->error(
            "for_each_entry", "entry " + e.id + " has malformed refs " + refs));
      }
      info.refs = std::move(*parsed);
    }
    info.reason = rows.column_text(12);
    // As stored: a lease that has expired still names the worker that let
    // it lapse, which is what a person investigating wants to see.
    info.lease_owner = rows.column_text(13);
    info.lease_until = rows.column_double(14);  // NULL reads as 0
    info.finished_at = rows.column_double(15);
    if (!fn(info)) break;
  }
  return {};
}

Result<std::uint64_t> SqliteStore::requeue(const EntryFilter& filter) {
  std::lock_guard lock(mu_);
  Where where = filter_where(filter, 2);
  // Skipped entries change; processed ones only when the filter asks for
  // them by state (as the PostgreSQL store does), so a filter without a
  // state never re-archives everything. Entries under a live lease are
  // someone's work in progress (a forced retry of a skipped entry) and are
  // left to finish.
  const bool processed_too = filter.state && *filter.state == kStateProcessed;
  std::string sql =
      std::string("UPDATE entries SET processed = 0, skip = 0, state = NULL, reason = NULL, refs = NULL, "
                  "finished_at = NULL, attempts = 0 WHERE ") +
      (processed_too ? "(processed = 1 OR skip = 1)" : "skip = 1") +
      " AND (lease_until IS NULL OR lease_until < ?1)" + where.sql;
  auto txn = CYBEXP_TRY(Transaction::begin(*db_, "requeue", Sync::kDurable));
  auto update = CYBEXP_TRY(db_->prepare(sql, "requeue"));
  update.bind(1, now_seconds());
  bind_params(update, where, 2);
  CYBEXP_TRY_VOID(update.run());
  auto requeued = static_cast<std::uint64_t>(db_->changes());
  CYBEXP_TRY_VOID(txn.commit());
  return requeued;
}

}  // namespace cybexp::sqlite
