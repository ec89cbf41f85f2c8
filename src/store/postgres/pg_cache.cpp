// PostgresStore as the cache data lake: entries, blobs, leases (see
// postgres_store.h). Every method is one statement, or one transaction, so
// that a failure never leaves half a change behind.
#include <algorithm>
#include <unordered_set>
#include <climits>
#include <cstring>

#include "store/postgres/pg_values.h"
#include "store/postgres/postgres_store.h"

namespace cybexp::pg {
namespace {

// PostgreSQL keeps at most 1 GB in one field; a little less leaves room for
// the header, so the message is ours rather than the server's.
constexpr std::uint64_t kMaxBlobBytes = (1ull << 30) - 4096;
// Blobs up to this size come back in one result; larger ones in slices of it,
// so that a 256 MiB blob is not held twice (libpq's copy and ours).
constexpr std::uint64_t kBlobSlice = 16ull << 20;
constexpr int kPage = 500;  // rows per page of for_each_entry

// Leases are judged by the server's clock, never the worker's.
constexpr const char* kLive = "(lease_owner IS NOT NULL AND lease_until >= now())";
constexpr const char* kFree = "(lease_owner IS NULL OR lease_until < now())";

// The claim statement. The CTE picks and locks the rows (SKIP LOCKED: workers
// claiming at the same moment take different rows instead of queueing), the
// UPDATE takes the lease; the blob rides along when it is small. The blob
// join is LATERAL with OFFSET 0 (which keeps the planner from flattening it)
// so that it is one index probe per claimed row: as a plain join the planner
// hash-joined the whole blob table to pick up 64 rows. Two texts so
// that each can use its own partial index (a parameter for force would make
// the planner give up on both).
#define CYBEXP_CLAIM_SQL(SKIP_COND)                                                     \
  "WITH c AS (SELECT id FROM cybexp_entries WHERE NOT processed " SKIP_COND             \
  " AND (lease_owner IS NULL OR lease_until < now()) ORDER BY id LIMIT $2"              \
  " FOR UPDATE SKIP LOCKED) "                                                           \
  "UPDATE cybexp_entries AS e SET lease_owner = $1,"                                    \
  " lease_until = now() + make_interval(secs => $3), attempts = e.attempts + 1,"        \
  " claimed_at = now() "                                                                \
  "FROM c LEFT JOIN LATERAL (SELECT data FROM cybexp_blobs WHERE entry_id = c.id"      \
  " OFFSET 0) AS b ON true WHERE e.id = c.id "                                          \
  "RETURNING e.id, e.name, e.typetag, e.orgid, e.timezone, e.\"timestamp\", e.attempts," \
  " octet_length(b.data), CASE WHEN octet_length(b.data) <= $4 THEN b.data END, e.skip"

const Statement kClaim{"cybexp_claim", CYBEXP_CLAIM_SQL("AND NOT skip")};
// With force, only skipped entries finished before $5 (seconds since the
// epoch): a forced pass tries each once.
const Statement kClaimForce{
    "cybexp_claim_force",
    CYBEXP_CLAIM_SQL("AND (NOT skip OR finished_at IS NULL OR finished_at < to_timestamp($5))")};
// No finished_before: any skipped entry (a time past every finished_at).
constexpr double kFarFuture = 1e12;

const Statement kFinish{
    "cybexp_finish",
    "UPDATE cybexp_entries AS e SET processed = u.done, skip = NOT u.done,"
    " state = CASE WHEN u.done THEN NULL ELSE u.state END,"
    " reason = CASE WHEN u.done THEN NULL ELSE u.reason END,"
    " refs = CASE WHEN u.done THEN u.refs::text[] END,"
    " lease_owner = NULL, lease_until = NULL, finished_at = now() "
    "FROM unnest($1::bigint[], $2::boolean[], $3::text[], $4::text[], $5::text[])"
    " AS u(id, done, state, reason, refs) "
    "WHERE e.id = u.id AND e.lease_owner = $6 RETURNING e.id"};

// An untried entry ($3 = 1) also gets its claim's attempt back.
const Statement kRelease{"cybexp_release",
                         "UPDATE cybexp_entries SET lease_owner = NULL, lease_until = NULL,"
                         " attempts = greatest(attempts - $3, 0) "
                         "WHERE id = ANY($1::bigint[]) AND lease_owner = $2"};

const Statement kFetchBlob{"cybexp_fetch_blob",
                           "SELECT octet_length(data), CASE WHEN octet_length(data) <= $2 "
                           "THEN data END FROM cybexp_blobs WHERE entry_id = $1"};

const Statement kBlobSliceSql{"cybexp_blob_slice",
                              "SELECT substring(data FROM $2::integer FOR $3::integer) "
                              "FROM cybexp_blobs WHERE entry_id = $1"};

std::int64_t clamp64(std::uint64_t v) {
  return v > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(v);
}

// An id that is not a bigint names no entry here (store.h): it is left out.
std::vector<std::int64_t> parse_ids(std::span<const std::string> ids) {
  std::vector<std::int64_t> out;
  out.reserve(ids.size());
  for (const auto& id : ids) {
    if (auto v = parse_id(id)) out.push_back(*v);
  }
  return out;
}

// Appends " AND ..." for each condition of the filter, with its parameters.
Result<void> add_filter(const EntryFilter& f, Params& params, std::string& sql) {
  auto next = [&] { return "$" + std::to_string(params.size() + 1); };
  if (f.state) {
    const std::string& s = *f.state;
    if (s == kStatePending) {
      sql += " AND NOT processed AND NOT skip";
    } else if (s == kStateProcessed) {
      sql += " AND processed";
    } else if (s == "skipped") {
      sql += " AND skip AND NOT processed";
    } else {
      sql += " AND skip AND NOT processed AND state = " + next();
      params.text_copy(s);
    }
  }
  if (!f.ids.empty()) {
    auto ids = parse_ids(f.ids);
    sql += " AND id = ANY(" + next() + "::bigint[])";
    params.literal(int_array_literal(ids), kInt8ArrayOid);
  }
  if (f.typetag) {
    sql += " AND typetag = " + next();
    params.text_copy(*f.typetag);
  }
  if (f.since) {
    sql += " AND \"timestamp\" >= " + next();
    params.float8(*f.since);
  }
  if (f.until) {
    sql += " AND \"timestamp\" < " + next();
    params.float8(*f.until);
  }
  return {};
}

std::string state_of(bool processed, bool skip, std::string_view state) {
  if (processed) return kStateProcessed;
  if (skip) return std::string(state);
  return kStatePending;
}

}  // namespace

Result<std::string> PostgresStore::add_entry(const NewEntry& entry,
                                             std::span<const std::uint8_t> blob) {
  if (blob.size() > kMaxBlobBytes) {
    return make_error(ErrorKind::kLimit, "blob is " + std::to_string(blob.size()) +
                                             " bytes; PostgreSQL stores at most " +
                                             std::to_string(kMaxBlobBytes) + " in one entry");
  }
  static const Statement kAdd{
      "cybexp_add_entry",
      "WITH e AS (INSERT INTO cybexp_entries (name, typetag, orgid, timezone, \"timestamp\")"
      " VALUES ($1, $2, $3, $4, $5) RETURNING id),"
      " b AS (INSERT INTO cybexp_blobs (entry_id, data) SELECT id, $6 FROM e) "
      "SELECT id FROM e"};
  Params p;
  p.text(entry.name).text(entry.typetag).text(entry.orgid).text(entry.timezone)
      .float8(entry.timestamp).bytes(blob);
  auto res = CYBEXP_TRY(conn_.exec("add_entry", kAdd, p));
  return std::string(get_text(res.get(), 0, 0));
}

Result<std::vector<CacheEntry>> PostgresStore::claim(const ClaimRequest& request) {
  std::vector<CacheEntry> out;
  if (request.max_entries == 0) return out;
  if (request.worker.empty()) {
    return make_error(ErrorKind::kInvalidArgument, "postgresql: claim: the worker name is empty");
  }
  Params p;
  p.text(request.worker).int8(clamp64(request.max_entries))
      .float8(static_cast<double>(request.lease_seconds))
      .int8(clamp64(request.inline_blob_max));
  if (request.force) p.float8(request.finished_before.value_or(kFarFuture));
  auto res = CYBEXP_TRY(
      conn_.exec("claim", request.force ? kClaimForce : kClaim, p, Format::kBinary));
  const PGresult* r = res.get();
  int rows = PQntuples(r);
  out.reserve(rows);
  for (int i = 0; i < rows; ++i) {
    CacheEntry e;
    e.id = std::to_string(get_int(r, i, 0));
    e.name = get_text(r, i, 1);
    e.typetag = get_text(r, i, 2);
    e.orgid = get_text(r, i, 3);
    e.timezone = get_text(r, i, 4);
    e.timestamp = get_double(r, i, 5);
    e.attempts = get_int(r, i, 6);
    e.blob_size = static_cast<std::uint64_t>(get_int(r, i, 7));
    if (!is_null(r, i, 8)) e.blob = get_bytes(r, i, 8);
    e.skipped = get_bool(r, i, 9);
    out.push_back(std::move(e));
  }
  // RETURNING has no order; claim() promises oldest first.
  std::sort(out.begin(), out.end(), [](const CacheEntry& a, const CacheEntry& b) {
    return *parse_id(a.id) < *parse_id(b.id);
  });
  return out;
}

Result<std::vector<std::uint8_t>> PostgresStore::fetch_blob(const CacheEntry& entry,
                                                            std::uint64_t max_bytes) {
  auto id = parse_id(entry.id);
  if (!id) {
    return make_error(ErrorKind::kInvalidArgument,
                      "postgresql: fetch_blob: not an entry id: '" + entry.id + "'");
  }
  auto conn = blob_pool_.acquire();
  Params p;
  p.int8(*id).int8(clamp64(std::min(max_bytes, kBlobSlice)));
  auto res = CYBEXP_TRY(conn->exec("fetch_blob", kFetchBlob, p, Format::kBinary));
  if (PQntuples(res.get()) == 0 || is_null(res.get(), 0, 0)) {
    return make_error(ErrorKind::kBadData, "entry has no blob");
  }
  auto size = static_cast<std::uint64_t>(get_int(res.get(), 0, 0));
  if (size > max_bytes) {
    return make_error(ErrorKind::kLimit, "blob is " + std::to_string(size) + " bytes, over the " +
                                             std::to_string(max_bytes) +
                                             "-byte limit (limits.max_blob_bytes)");
  }
  if (!is_null(res.get(), 0, 1)) return get_bytes(res.get(), 0, 1);
  return read_blob_chunks(*conn, *id, size);
}

Result<std::vector<std::uint8_t>> PostgresStore::read_blob_chunks(Connection& conn,
                                                                  std::int64_t id,
                                                                  std::uint64_t size) {
  std::vector<std::uint8_t> out(size);
  for (std::uint64_t offset = 0; offset < size; offset += kBlobSlice) {
    std::uint64_t want = std::min(kBlobSlice, size - offset);
    Params p;
    p.int8(id).int8(clamp64(offset + 1)).int8(clamp64(want));  // substring counts from 1
    auto res = CYBEXP_TRY(conn.exec("fetch_blob", kBlobSliceSql, p, Format::kBinary));
    if (PQntuples(res.get()) == 0) return make_error(ErrorKind::kBadData, "entry has no blob");
    if (static_cast<std::uint64_t>(PQgetlength(res.get(), 0, 0)) != want) {
      return std::unexpected(conn.error("fetch_blob", "the blob changed while it was read"));
    }
    std::memcpy(out.data() + offset, PQgetvalue(res.get(), 0, 0), want);
  }
  return out;
}

Result<FinishReport> PostgresStore::mark_finished(std::string_view what,
                                                  std::span<const EntryResult> results,
                                                  const std::string& worker) {
  FinishReport report;
  std::vector<std::int64_t> ids;
  std::vector<bool> done;
  std::vector<std::string> states, reasons, refs;
  for (const auto& r : results) {
    auto id = parse_id(r.id);
    if (!id) {  // not one of ours, so not leased to `worker` either
      report.lost.push_back(r.id);
      continue;
    }
    ids.push_back(*id);
    done.push_back(r.processed());
    states.push_back(r.processed() ? std::string() : state_name(r.fate));
    reasons.push_back(r.reason);
    refs.push_back(text_array_literal(r.refs));
  }
  if (ids.empty()) return report;
  Params p;
  p.literal(int_array_literal(ids), kInt8ArrayOid)
      .literal(bool_array_literal(done), kBoolArrayOid)
      .literal(text_array_literal(states), kTextArrayOid)
      .literal(text_array_literal(reasons), kTextArrayOid)
      .literal(text_array_literal(refs), kTextArrayOid)
      .text(worker);
  auto res = CYBEXP_TRY(conn_.exec(what, kFinish, p));
  std::unordered_set<std::int64_t> marked;
  for (int i = 0; i < PQntuples(res.get()); ++i) marked.insert(*parse_id(get_text(res.get(), i, 0)));
  for (const auto& r : results) {
    auto id = parse_id(r.id);
    if (id && !marked.contains(*id)) report.lost.push_back(r.id);
  }
  report.marked = marked.size();
  return report;
}

Result<FinishReport> PostgresStore::finish(std::span<const EntryResult> results,
                                           const std::string& worker) {
  return mark_finished("finish", results, worker);
}

Result<void> PostgresStore::release(std::span<const std::string> ids, const std::string& worker,
                                    ReleaseKind kind) {
  auto parsed = parse_ids(ids);
  if (parsed.empty()) return {};
  Params p;
  p.literal(int_array_literal(parsed), kInt8ArrayOid)
      .text(worker)
      .int8(kind == ReleaseKind::kUntried ? 1 : 0);
  CYBEXP_TRY(conn_.exec("release", kRelease, p));
  return {};
}

Result<std::uint64_t> PostgresStore::count_claimable(bool force) {
  std::string sql = "SELECT count(*) FROM cybexp_entries WHERE NOT processed";
  if (!force) sql += " AND NOT skip";
  sql += std::string(" AND ") + kFree;
  auto res = CYBEXP_TRY(conn_.exec("count_claimable", sql));
  return static_cast<std::uint64_t>(get_int(res.get(), 0, 0));
}

Result<CacheCounts> PostgresStore::entry_counts() {
  CacheCounts counts;
  auto res = CYBEXP_TRY(conn_.exec(
      "counts", std::string("SELECT processed, skip, state, count(*) FROM cybexp_entries "
                            "GROUP BY processed, skip, state")));
  for (int i = 0; i < PQntuples(res.get()); ++i) {
    auto n = static_cast<std::uint64_t>(get_int(res.get(), i, 3));
    std::string state =
        state_of(get_bool(res.get(), i, 0), get_bool(res.get(), i, 1), get_text(res.get(), i, 2));
    if (state == kStatePending) {
      counts.pending += n;
    } else if (state == kStateProcessed) {
      counts.processed += n;
    } else {
      counts.skipped[state] += n;
    }
  }
  auto leases = CYBEXP_TRY(conn_.exec(
      "counts", std::string("SELECT lease_owner, count(*), "
                            "extract(epoch FROM min(claimed_at))::float8 FROM cybexp_entries "
                            "WHERE ") + kLive + " GROUP BY lease_owner ORDER BY lease_owner"));
  for (int i = 0; i < PQntuples(leases.get()); ++i) {
    counts.in_flight.push_back(LeaseInfo{std::string(get_text(leases.get(), i, 0)),
                                         static_cast<std::uint64_t>(get_int(leases.get(), i, 1)),
                                         get_double(leases.get(), i, 2)});
  }
  return counts;
}

Result<void> PostgresStore::for_each_entry(const EntryFilter& filter,
                                           const std::function<bool(const EntryInfo&)>& fn) {
  std::int64_t after = 0;
  for (;;) {
    Params p;
    p.int8(after);
    std::string sql =
        "SELECT e.id, e.name, e.typetag, e.orgid, e.timezone, e.\"timestamp\", e.attempts,"
        " (SELECT octet_length(b.data) FROM cybexp_blobs b WHERE b.entry_id = e.id),"
        " e.processed, e.skip, e.state, e.refs, e.reason, e.lease_owner,"
        " extract(epoch FROM e.lease_until)::float8, extract(epoch FROM e.finished_at)::float8 "
        "FROM cybexp_entries e WHERE e.id > $1";
    CYBEXP_TRY_VOID(add_filter(filter, p, sql));
    sql += " ORDER BY e.id LIMIT " + std::to_string(kPage);
    auto res = CYBEXP_TRY(conn_.exec("for_each_entry", sql, p));
    const PGresult* r = res.get();
    int rows = PQntuples(r);
    for (int i = 0; i < rows; ++i) {
      EntryInfo info;
      after = get_int(r, i, 0);
      info.entry.id = std::to_string(after);
      info.entry.name = get_text(r, i, 1);
      info.entry.typetag = get_text(r, i, 2);
      info.entry.orgid = get_text(r, i, 3);
      info.entry.timezone = get_text(r, i, 4);
      info.entry.timestamp = get_double(r, i, 5);
      info.entry.attempts = get_int(r, i, 6);
      info.entry.blob_size = static_cast<std::uint64_t>(get_int(r, i, 7));
      info.state = state_of(get_bool(r, i, 8), get_bool(r, i, 9), get_text(r, i, 10));
      info.refs = get_text_array(r, i, 11);
      info.reason = get_text(r, i, 12);
      info.lease_owner = get_text(r, i, 13);
      info.lease_until = get_double(r, i, 14);
      info.finished_at = get_double(r, i, 15);
      if (!fn(info)) return {};
    }
    if (rows < kPage) return {};
  }
}

Result<std::uint64_t> PostgresStore::requeue(const EntryFilter& filter) {
  // Processed entries go back only when the filter asks for them by state;
  // otherwise requeue retries what was skipped.
  bool processed = filter.state && *filter.state == kStateProcessed;
  std::string sql =
      "UPDATE cybexp_entries SET skip = false, state = NULL, reason = NULL, finished_at = NULL,"
      " attempts = 0,"
      " lease_owner = NULL, lease_until = NULL";
  if (processed) sql += ", processed = false, refs = NULL";
  sql += std::string(" WHERE ") + kFree;
  sql += processed ? " AND processed" : " AND skip AND NOT processed";
  Params p;
  CYBEXP_TRY_VOID(add_filter(filter, p, sql));
  auto res = CYBEXP_TRY(conn_.exec("requeue", sql, p));
  return rows_affected(res.get());
}

}  // namespace cybexp::pg
