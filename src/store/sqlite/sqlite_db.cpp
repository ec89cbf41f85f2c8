// The RAII SQLite layer of sqlite_db.h: statement cache, binding and stepping
// with errors as values, and the IMMEDIATE transaction guard.
#include "store/sqlite/sqlite_db.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <thread>

namespace cybexp::sqlite {

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::optional<std::int64_t> parse_id(std::string_view id) {
  std::int64_t value = 0;
  const char* end = id.data() + id.size();
  auto [ptr, ec] = std::from_chars(id.data(), end, value);
  // Rowids we hand out are positive; anything else (sign, junk, overflow) is
  // not an id of this store.
  if (id.empty() || ec != std::errc() || ptr != end || value <= 0) return std::nullopt;
  return value;
}

bool is_corruption(int code) {
  return (code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB;
}

std::string corruption_advice(const std::string& path) {
  return "stop the service, keep a copy of the file, then recover it (sqlite3 " + path +
         " .recover) or restore it from a backup (docs/OPERATIONS.md, \"A corrupt store\")";
}

namespace {

// What to do about an error of the file or the disk rather than of the
// statement; empty for the others. Appended to SQLite's own message.
std::string environment_advice(int code, const std::string& path) {
  switch (code & 0xff) {
    case SQLITE_FULL:
      return ": the file system holding " + path +
             " is full: free space there (SQLite also needs room for its -wal file); nothing "
             "is lost, the work is retried";
    case SQLITE_READONLY:
      return ": " + path +
             " or its directory is read-only for this user: give the service's user write "
             "access to both (SQLite writes " + path + "-wal and -shm beside the file)";
    case SQLITE_CANTOPEN:
      return ": check that the directory of " + path +
             " exists and that this user may write there (SQLite creates the file and its "
             "-wal and -shm files beside it)";
    default:
      if (is_corruption(code)) return ": the file is corrupt: " + corruption_advice(path);
      return {};
  }
}

}  // namespace

// ---- Statement ----

Statement::Statement(Statement&& other) noexcept
    : conn_(other.conn_),
      stmt_(other.stmt_),
      in_use_(other.in_use_),
      op_(other.op_),
      bind_rc_(other.bind_rc_) {
  other.stmt_ = nullptr;
  other.in_use_ = nullptr;
}

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  if (in_use_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);  // drop references to the caller's buffers
    *in_use_ = false;
  } else {
    sqlite3_finalize(stmt_);
  }
}

Statement& Statement::bind(int index, std::int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::bind(int index, double value) {
  int rc = sqlite3_bind_double(stmt_, index, value);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
  // A null data pointer would bind SQL NULL; an empty string must stay ''.
  const char* data = text.data() != nullptr ? text.data() : "";
  int rc = sqlite3_bind_text64(stmt_, index, data, text.size(), SQLITE_STATIC, SQLITE_UTF8);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::bind_blob(int index, std::span<const std::uint8_t> bytes) {
  // Same as text: an empty blob is a zero-length blob, not NULL.
  int rc = bytes.empty() ? sqlite3_bind_zeroblob(stmt_, index, 0)
                         : sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(),
                                               SQLITE_STATIC);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::bind_null(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Result<bool> Statement::step() {
  if (bind_rc_ != SQLITE_OK) {
    return std::unexpected(conn_->error(op_, std::string("bind: ") + sqlite3_errstr(bind_rc_)));
  }
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return std::unexpected(conn_->error(op_));
}

Result<void> Statement::run() {
  while (CYBEXP_TRY(step())) {
  }
  sqlite3_reset(stmt_);
  return {};
}

void Statement::reset() { sqlite3_reset(stmt_); }

bool Statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t Statement::column_int64(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

double Statement::column_double(int column) const { return sqlite3_column_double(stmt_, column); }

std::string Statement::column_text(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  if (text == nullptr) return {};
  return std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
}

std::vector<std::uint8_t> Statement::column_blob(int column) const {
  // column_blob before column_bytes: the documented order that avoids a
  // second conversion.
  const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, column));
  auto size = static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column));
  if (data == nullptr) return {};
  return std::vector<std::uint8_t>(data, data + size);
}

// ---- Connection ----

Result<std::unique_ptr<Connection>> Connection::open(const std::string& path, bool create,
                                                     int busy_timeout_ms, bool read_only) {
  // NOMUTEX: each connection is used by one thread at a time (the store's
  // own mutex, or a reader checked out of the pool), so SQLite's per-call
  // mutex would only cost time. That still needs a thread-safe library build.
  if (sqlite3_threadsafe() == 0) {
    return make_error(ErrorKind::kDatabase,
                      "sqlite " + path + ": open: the SQLite library was built without threads");
  }
  int flags = (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX;
  if (create && !read_only) flags |= SQLITE_OPEN_CREATE;
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    message += environment_advice(db != nullptr ? sqlite3_extended_errcode(db) : rc, path);
    sqlite3_close_v2(db);
    return make_error(ErrorKind::kDatabase, "sqlite " + path + ": open: " + message);
  }
  std::unique_ptr<Connection> conn(new Connection(path, db, busy_timeout_ms));
  rc = sqlite3_busy_handler(db, &Connection::busy_wait, conn.get());
  if (rc != SQLITE_OK) return std::unexpected(conn->error("busy_handler"));
  return conn;
}

// SQLite's own busy_timeout, plus a way out: count is 0 at the start of
// each wait; an interrupt() since then, or busy_timeout_ms, ends it
// (SQLITE_BUSY, "database is locked").
int Connection::busy_wait(void* self, int count) {
  auto* c = static_cast<Connection*>(self);
  const auto now = std::chrono::steady_clock::now();
  if (count == 0) {
    c->wait_interrupts_ = c->interrupts_.load();
    c->wait_started_ = now;
  }
  if (c->interrupts_.load() != c->wait_interrupts_) return 0;
  if (now - c->wait_started_ >= std::chrono::milliseconds(c->busy_timeout_ms_)) return 0;
  // 1, 2, 4 ... ms, then every 20 ms: quick for a short lock, cheap for a long one.
  std::this_thread::sleep_for(std::chrono::milliseconds(std::min(1 << std::min(count, 5), 20)));
  return 1;
}

void Connection::interrupt() {
  ++interrupts_;
  sqlite3_interrupt(db_);
}

Connection::~Connection() {
  for (auto& [sql, cached] : cache_) sqlite3_finalize(cached.stmt);
  sqlite3_close_v2(db_);
}

Result<Statement> Connection::prepare(const std::string& sql, const char* op) {
  auto it = cache_.find(sql);
  if (it != cache_.end() && !it->second.in_use) {
    it->second.in_use = true;
    return Statement(this, it->second.stmt, &it->second.in_use, op);
  }
  // PERSISTENT: these statements live as long as the connection.
  unsigned flags = it == cache_.end() ? SQLITE_PREPARE_PERSISTENT : 0;
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), flags, &stmt,
                              nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return std::unexpected(error(op));
  }
  if (it != cache_.end()) return Statement(this, stmt, nullptr, op);  // nested use: private copy
  auto [slot, inserted] = cache_.emplace(sql, Cached{stmt, true});
  (void)inserted;
  return Statement(this, stmt, &slot->second.in_use, op);
}

Result<void> Connection::exec(const char* sql, const char* op) {
  char* message = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return {};
  std::string text = message != nullptr ? message : sqlite3_errstr(rc);
  sqlite3_free(message);
  return std::unexpected(error(op, text));
}

Error Connection::error(const char* op) const {
  return error(op, sqlite3_errmsg(db_) + environment_advice(sqlite3_extended_errcode(db_), path_));
}

Error Connection::error(const char* op, std::string_view message) const {
  return Error{ErrorKind::kDatabase,
               "sqlite " + path_ + ": " + op + ": " + std::string(message)};
}

// ---- Transaction ----

namespace {
// PRAGMA synchronous cannot change inside a transaction, so a durable one
// sets it before BEGIN and puts it back after COMMIT or ROLLBACK.
constexpr const char* kSyncFull = "PRAGMA synchronous = FULL";
constexpr const char* kSyncNormal = "PRAGMA synchronous = NORMAL";
}  // namespace

Result<Transaction> Transaction::begin(Connection& conn, const char* op, Sync sync) {
  const bool durable = sync == Sync::kDurable;
  if (durable) {
    auto full = CYBEXP_TRY(conn.prepare(kSyncFull, op));
    CYBEXP_TRY_VOID(full.run());
  }
  Transaction txn(&conn, op, durable);  // from here on, restores NORMAL on every path
  auto stmt = CYBEXP_TRY(conn.prepare("BEGIN IMMEDIATE", op));
  CYBEXP_TRY_VOID(stmt.run());
  return txn;
}

Result<Transaction> Transaction::begin_read(Connection& conn, const char* op) {
  auto stmt = CYBEXP_TRY(conn.prepare("BEGIN", op));
  CYBEXP_TRY_VOID(stmt.run());
  return Transaction(&conn, op, false);
}

Result<void> Transaction::commit() {
  auto stmt = CYBEXP_TRY(conn_->prepare("COMMIT", op_));
  CYBEXP_TRY_VOID(stmt.run());  // on failure the destructor rolls back
  Connection* conn = conn_;
  conn_ = nullptr;
  if (durable_) {
    durable_ = false;
    // Committed and synced; a failure here would only leave the connection
    // syncing more often than it needs to.
    if (auto normal = conn->prepare(kSyncNormal, op_)) (void)normal->run();
  }
  return {};
}

void Transaction::restore_sync() {
  if (!durable_ || conn_ == nullptr) return;
  durable_ = false;
  sqlite3_exec(conn_->handle(), kSyncNormal, nullptr, nullptr, nullptr);
}

Transaction::~Transaction() {
  if (conn_ == nullptr) return;
  // Some errors (SQLITE_FULL, IOERR, ...) already rolled back; ROLLBACK
  // would then fail with "no transaction is active".
  if (sqlite3_get_autocommit(conn_->handle()) == 0) {
    sqlite3_exec(conn_->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
  restore_sync();
}

}  // namespace cybexp::sqlite
