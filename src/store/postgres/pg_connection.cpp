// Connection, Params and ConnectionPool (see pg_connection.h).
#include "store/postgres/pg_connection.h"

#include <algorithm>
#include <bit>
#include <climits>
#include <cmath>
#include <cstring>

#include "util/log.h"

namespace cybexp::pg {
namespace {

// Collapses libpq's multi-line messages ("FATAL: ...\n\tThis probably means
// ...") into the one line an Error carries.
std::string one_line(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out.empty() ? std::string("unknown error") : out;
}

const char* or_default(const char* v, const char* fallback) {
  return v != nullptr && *v != '\0' ? v : fallback;
}

std::string make_label(const char* host, const char* port, const char* db) {
  return std::string("postgresql ") + or_default(host, "localhost") + ":" +
         or_default(port, "5432") + "/" + or_default(db, "?");
}

// libpq writes a server's notices (RAISE NOTICE, WARNING) to stderr by
// itself, raw; they go through the log instead, one line each, so
// `--log-format json` stays JSON and a notice cannot drive the terminal.
void log_server_notice(void* arg, const PGresult* res) {
  const auto* conn = static_cast<const Connection*>(arg);
  const char* severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
  if (severity == nullptr) severity = PQresultErrorField(res, PG_DIAG_SEVERITY);
  const std::string_view sev = or_default(severity, "NOTICE");
  const LogLevel level = sev == "WARNING"                           ? LogLevel::kWarning
                         : sev.starts_with("DEBUG") || sev == "LOG" ? LogLevel::kDebug
                                                                    : LogLevel::kInfo;
  const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  log(level, "postgresql server notice",
      {{"store", conn->label()},
       {"severity", std::string(sev)},
       {"notice", one_line(or_default(primary, PQresultErrorMessage(res)))}});
}

void put_be64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}

}  // namespace

std::string label_for_url(const std::string& url) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (opts == nullptr) {
    PQfreemem(err);
    return "postgresql (bad URL)";
  }
  const char* host = nullptr;
  const char* port = nullptr;
  const char* db = nullptr;
  const char* user = nullptr;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    std::string_view k = o->keyword;
    if (k == "host" && o->val) host = o->val;
    if (k == "hostaddr" && o->val && !host) host = o->val;
    if (k == "port" && o->val) port = o->val;
    if (k == "dbname" && o->val) db = o->val;
    if (k == "user" && o->val) user = o->val;
  }
  std::string label = make_label(host, port, db ? db : user);
  PQconninfoFree(opts);
  return label;
}

// ---- Params ----------------------------------------------------------------

Params& Params::add(Oid type, const char* value, std::size_t length, int format) {
  types_.push_back(type);
  values_.push_back(value);
  // Values over INT_MAX cannot be sent; PostgreSQL fields end at 1 GB anyway,
  // and callers check their sizes before getting here.
  lengths_.push_back(length > INT_MAX ? INT_MAX : static_cast<int>(length));
  formats_.push_back(format);
  return *this;
}

Params& Params::text(std::string_view s) {
  // A null pointer would mean SQL NULL; an empty value needs a real one.
  return add(kTextOid, s.data() != nullptr ? s.data() : "", s.size(), 1);
}

Params& Params::text_copy(std::string s) {
  owned_.push_back(std::move(s));
  return text(owned_.back());
}

Params& Params::bytes(std::span<const std::uint8_t> b) {
  const char* p = b.data() != nullptr ? reinterpret_cast<const char*>(b.data()) : "";
  return add(kByteaOid, p, b.size(), 1);
}

Params& Params::int8(std::int64_t v) {
  std::string s;
  put_be64(s, static_cast<std::uint64_t>(v));
  owned_.push_back(std::move(s));
  return add(kInt8Oid, owned_.back().data(), 8, 1);
}

Params& Params::float8(double v) {
  std::string s;
  put_be64(s, std::bit_cast<std::uint64_t>(v));
  owned_.push_back(std::move(s));
  return add(kFloat8Oid, owned_.back().data(), 8, 1);
}

Params& Params::boolean(bool v) {
  owned_.push_back(std::string(1, v ? '\1' : '\0'));
  return add(kBoolOid, owned_.back().data(), 1, 1);
}

Params& Params::null(Oid type) { return add(type, nullptr, 0, 1); }

Params& Params::literal(std::string value, Oid type) {
  owned_.push_back(std::move(value));
  return add(type, owned_.back().c_str(), owned_.back().size(), 0);
}

// ---- Connection --------------------------------------------------------------

namespace {

// Whether the URL's `options` (server settings, "-c name=value ...") names
// a setting: then the URL's value is kept.
bool url_options_name(const std::string& url, std::string_view setting) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (opts == nullptr) {
    PQfreemem(err);
    return false;
  }
  bool found = false;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (std::string_view(o->keyword) == "options" && o->val != nullptr &&
        std::string_view(o->val).find(setting) != std::string_view::npos) {
      found = true;
    }
  }
  PQconninfoFree(opts);
  return found;
}

std::string whole_seconds(double seconds) {
  return std::to_string(std::max(1L, std::lround(seconds)));
}

std::string milliseconds(double seconds) { return std::to_string(std::lround(seconds * 1000)); }

}  // namespace

Connection::Connection(std::string url, const StoreTimeouts& timeouts)
    : url_(std::move(url)),
      timeouts_(timeouts),
      url_sets_statement_timeout_(url_options_name(url_, "statement_timeout")),
      url_sets_lock_timeout_(url_options_name(url_, "lock_timeout")),
      label_(label_for_url(url_)) {}

Connection::~Connection() { drop(); }

void Connection::drop() {
  std::lock_guard lock(cancel_mu_);
  if (cancel_ != nullptr) PQfreeCancel(cancel_);
  cancel_ = nullptr;
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = nullptr;
}

void Connection::cancel() {
  std::lock_guard lock(cancel_mu_);
  if (cancel_ == nullptr) return;
  char why[256];
  // A failure to deliver the cancel leaves the call to its timeouts.
  (void)PQcancel(cancel_, why, sizeof why);
}

Error Connection::error(std::string_view what, std::string_view message) const {
  return Error{ErrorKind::kDatabase,
               label_ + ": " + std::string(what) + ": " + one_line(message)};
}

Result<void> Connection::connect() {
  drop();
  prepared_.clear();
  listening_ = false;
  // Settings before "dbname" are defaults the URL may override; those after
  // it are forced. Without connect_timeout libpq waits forever on a host that
  // drops packets; the keepalives notice a server that vanished mid-call.
  const std::string connect_timeout = whole_seconds(timeouts_.connect_seconds);
  const std::string idle = whole_seconds(timeouts_.keepalive_seconds);
  const std::string interval = whole_seconds(timeouts_.keepalive_seconds / 3);
  const char* keys[] = {"connect_timeout", "keepalives_idle", "keepalives_interval",
                        "keepalives_count", "fallback_application_name", "dbname",
                        "client_encoding", nullptr};
  const char* vals[] = {connect_timeout.c_str(), idle.c_str(), interval.c_str(), "3",
                        "cybexp-archive", url_.c_str(),
                        // Documents must round-trip byte for byte: never let
                        // the server convert to another client encoding.
                        "UTF8", nullptr};
  PGconn* conn = PQconnectdbParams(keys, vals, 1);
  if (conn == nullptr) return std::unexpected(error("connect", "out of memory"));
  PQsetNoticeReceiver(conn, log_server_notice, this);
  {
    std::lock_guard lock(cancel_mu_);
    conn_ = conn;
    if (PQstatus(conn_) == CONNECTION_OK) cancel_ = PQgetCancel(conn_);
  }
  label_ = make_label(PQhost(conn_), PQport(conn_), PQdb(conn_));
  if (PQstatus(conn_) != CONNECTION_OK) {
    Error e = error("connect", PQerrorMessage(conn_));
    drop();
    return std::unexpected(std::move(e));
  }
  auto started = start_session();
  if (!started) drop();
  return started;
}

// Session settings: durable commits, and the statement and lock timeouts.
Result<void> Connection::start_session() {
  // A commit the server acknowledged is acted on at once: a document before
  // the cache entry that refers to it (maybe on another server) is marked
  // processed, an entry before `submit` prints its id. With
  // synchronous_commit=off the server acknowledges before its WAL is flushed,
  // and a crash of the server takes such commits back. A server, database or
  // role default of off, or `options=-c synchronous_commit=off` in the URL,
  // is raised to on for this session; the other values (local, remote_write,
  // on, remote_apply) all flush locally first and are kept.
  PgResult sync(PQexec(conn_,
                       "SELECT set_config('synchronous_commit', 'on', false) "
                       "WHERE current_setting('synchronous_commit') = 'off'"));
  if (!sync || PQresultStatus(sync.get()) != PGRES_TUPLES_OK) {
    return std::unexpected(error("connect: synchronous_commit",
                                 sync ? PQresultErrorMessage(sync.get()) : PQerrorMessage(conn_)));
  }
  // A lock held by someone else, or a statement the server cannot finish,
  // fails the call after these instead of hanging it (docs/OPERATIONS.md,
  // "Timeouts"); a URL's own options=-c statement_timeout=... is kept.
  const std::string statement =
      url_sets_statement_timeout_ ? "" : milliseconds(timeouts_.statement_seconds);
  const std::string lock = url_sets_lock_timeout_ ? "" : milliseconds(timeouts_.lock_seconds);
  const char* values[] = {statement.c_str(), lock.c_str()};
  PgResult set(PQexecParams(conn_,
                            "SELECT set_config('statement_timeout', $1, false) WHERE $1 <> '' "
                            "UNION ALL SELECT set_config('lock_timeout', $2, false) WHERE $2 <> ''",
                            2, nullptr, values, nullptr, nullptr, 0));
  if (!set || PQresultStatus(set.get()) != PGRES_TUPLES_OK) {
    return std::unexpected(
        error("connect: timeouts", set ? PQresultErrorMessage(set.get()) : PQerrorMessage(conn_)));
  }
  return {};
}

void Connection::wait_for_cancel_in_flight() {
  // cancel() holds the lock until PQcancel has returned, which the server
  // allows only after it has sent both of its signals (see the header).
  std::lock_guard wait(cancel_mu_);
}

Result<void> Connection::ensure() {
  wait_for_cancel_in_flight();
  if (in_tx_) {
    // Reconnecting here would run the rest of the transaction's statements
    // outside it, each committing on its own.
    if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK)
      return std::unexpected(error("transaction", "connection lost"));
    return {};
  }
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) return connect();
  if (PQtransactionStatus(conn_) != PQTRANS_IDLE) rollback_quietly();
  if (PQstatus(conn_) != CONNECTION_OK) return connect();
  return {};
}

void Connection::rollback_quietly() {
  wait_for_cancel_in_flight();
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) return;
  PQclear(PQexec(conn_, "ROLLBACK"));
}

Result<PgResult> Connection::check(std::string_view what, PGresult* raw) {
  PgResult res(raw);
  ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return res;
  std::string message;
  if (res) {
    const char* primary = PQresultErrorField(res.get(), PG_DIAG_MESSAGE_PRIMARY);
    const char* detail = PQresultErrorField(res.get(), PG_DIAG_MESSAGE_DETAIL);
    if (primary != nullptr) {
      message = primary;
      if (detail != nullptr) message += std::string(" (") + detail + ")";
    } else {
      message = PQresultErrorMessage(res.get());
    }
  }
  if (message.empty() || message == "\n") message = PQerrorMessage(conn_);
  if (PQstatus(conn_) == CONNECTION_BAD) {
    // Drop it now so that the next call starts with a fresh connection even
    // if this one's state looked fine to libpq.
    Error e = error(what, message);
    drop();
    return std::unexpected(std::move(e));
  }
  return std::unexpected(error(what, message));
}

Result<PgResult> Connection::exec(std::string_view what, const std::string& sql,
                                  const Params& params, Format format) {
  CYBEXP_TRY_VOID(ensure());
  return check(what, PQexecParams(conn_, sql.c_str(), params.size(), params.types(),
                                  params.values(), params.lengths(), params.formats(),
                                  static_cast<int>(format)));
}

Result<PgResult> Connection::exec(std::string_view what, const Statement& stmt,
                                  const Params& params, Format format) {
  CYBEXP_TRY_VOID(ensure());
  if (!prepared_.contains(stmt.name)) {
    CYBEXP_TRY(check(what, PQprepare(conn_, stmt.name, stmt.sql, params.size(), params.types())));
    prepared_.insert(stmt.name);
  }
  return check(what, PQexecPrepared(conn_, stmt.name, params.size(), params.values(),
                                    params.lengths(), params.formats(),
                                    static_cast<int>(format)));
}

Result<void> Connection::run(std::string_view what, const char* sql) {
  CYBEXP_TRY_VOID(ensure());
  CYBEXP_TRY(check(what, PQexec(conn_, sql)));
  return {};
}

// ---- ConnectionPool ----------------------------------------------------------

ConnectionPool::ConnectionPool(std::string url, std::size_t max_size, const StoreTimeouts& timeouts)
    : url_(std::move(url)), max_size_(max_size == 0 ? 1 : max_size), timeouts_(timeouts) {}

void ConnectionPool::cancel_all() {
  std::lock_guard lock(mu_);
  for (Connection* c : all_) c->cancel();
}

ConnectionPool::Lease ConnectionPool::acquire() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !idle_.empty() || created_ < max_size_; });
  if (!idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(conn));
  }
  ++created_;
  // Connecting happens on first use (Connection::ensure), outside the lock.
  auto conn = std::make_unique<Connection>(url_, timeouts_);
  all_.push_back(conn.get());
  return Lease(this, std::move(conn));
}

ConnectionPool::Lease::~Lease() {
  if (!conn_) return;  // moved from
  {
    std::lock_guard lock(pool_->mu_);
    pool_->idle_.push_back(std::move(conn_));
  }
  pool_->cv_.notify_one();
}

}  // namespace cybexp::pg
