// Thin RAII layer over the SQLite C API for the embedded store: a connection
// that caches its prepared statements, a statement handle that resets itself
// when done, and a BEGIN IMMEDIATE transaction that rolls back unless
// committed. Every failure becomes a kDatabase error naming the file, the
// operation and SQLite's own message, e.g.
//   "sqlite /data/cache.db: claim: database is locked".
//
// Thread safety: a Connection (and the Statements and Transactions made from
// it) belongs to one thread at a time; connections are opened with
// SQLITE_OPEN_NOMUTEX, so the caller provides the exclusion (see
// sqlite_store.h).
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cybexp/result.h"

namespace cybexp::sqlite {

// The system clock in seconds since the epoch, the unit of every timestamp
// column.
double now_seconds();

// An entry id as the store hands it out (a rowid in decimal), or nullopt when
// `id` cannot be one of ours.
std::optional<std::int64_t> parse_id(std::string_view id);

class Connection;

// True for SQLite's codes that mean the file itself is damaged
// (SQLITE_CORRUPT, SQLITE_NOTADB, and their extended forms).
bool is_corruption(int code);

// What to do about a corrupt store file: keep a copy, recover or restore.
std::string corruption_advice(const std::string& path);

// A prepared statement borrowed from a Connection. Values bound by reference
// (text, blobs) must stay alive until the statement is stepped; the handle is
// reset and its bindings cleared when it goes out of scope, so it can be
// reused by the next caller.
class Statement {
 public:
  Statement(Connection* conn, sqlite3_stmt* stmt, bool* in_use, const char* op)
      : conn_(conn), stmt_(stmt), in_use_(in_use), op_(op) {}
  Statement(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  // Parameters are numbered from 1. A failed bind is reported by the next
  // step(), so call sites can bind without checking each one.
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, double value);
  Statement& bind(int index, std::string_view text);
  Statement& bind_blob(int index, std::span<const std::uint8_t> bytes);
  Statement& bind_null(int index);

  // One step: true when a row is ready, false when the statement is done.
  Result<bool> step();
  // Steps to completion and resets, for statements that return no rows.
  Result<void> run();
  // Rewinds (keeping bindings) so the statement can be stepped again.
  void reset();

  bool is_null(int column) const;
  std::int64_t column_int64(int column) const;
  double column_double(int column) const;
  std::string column_text(int column) const;
  std::vector<std::uint8_t> column_blob(int column) const;

 private:
  Connection* conn_;
  sqlite3_stmt* stmt_;
  bool* in_use_;  // the cache slot's flag; nullptr for an uncached statement
  const char* op_;
  int bind_rc_ = SQLITE_OK;
};

class Connection {
 public:
  // Opens (creating if `create`) the database file with SQLITE_OPEN_NOMUTEX
  // and installs a busy handler so that other processes' write locks are
  // waited for, up to busy_timeout_ms, not reported; interrupt() ends the
  // wait early.
  // read_only: SQLITE_OPEN_READONLY (create is then ignored).
  static Result<std::unique_ptr<Connection>> open(const std::string& path, bool create,
                                                  int busy_timeout_ms, bool read_only = false);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // A prepared statement for `sql`, compiled once per connection and cached
  // (keyed by the SQL text). If the cached one is in use (a callback that
  // re-enters the store), a private copy is compiled for this use.
  Result<Statement> prepare(const std::string& sql, const char* op);
  // Runs SQL text that returns no rows (DDL, pragmas), uncached.
  Result<void> exec(const char* sql, const char* op);

  // "sqlite PATH: OP: <sqlite3_errmsg>" as a kDatabase error; when the
  // error is the file's or the disk's (full, read-only, cannot be opened,
  // corrupt), followed by what to do about it.
  Error error(const char* op) const;
  // The extended result code of the last call on this connection.
  int last_error_code() const { return sqlite3_extended_errcode(db_); }
  Error error(const char* op, std::string_view message) const;

  // Ends the statement running now (sqlite3_interrupt) and a wait for
  // another process's lock in progress (which sqlite3_interrupt alone does
  // not end). Any thread, any time.
  void interrupt();

  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }
  std::int64_t changes() const { return sqlite3_changes64(db_); }
  std::int64_t last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

 private:
  Connection(std::string path, sqlite3* db, int busy_timeout_ms)
      : path_(std::move(path)), db_(db), busy_timeout_ms_(busy_timeout_ms) {}
  static int busy_wait(void* self, int count);

  struct Cached {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };
  std::string path_;
  sqlite3* db_;
  int busy_timeout_ms_;
  std::atomic<std::uint64_t> interrupts_{0};  // interrupt() calls so far
  // The busy wait in progress (the connection's own thread only).
  std::uint64_t wait_interrupts_ = 0;
  std::chrono::steady_clock::time_point wait_started_{};
  std::unordered_map<std::string, Cached> cache_;  // node-based: Cached addresses are stable
};

// How a write transaction's COMMIT reaches the disk. Connections run at
// synchronous=NORMAL: in WAL mode a commit is appended to the log and synced
// only at the next checkpoint, so a power cut (not a process crash) can take
// the last commits back. kDurable runs this one transaction at
// synchronous=FULL: COMMIT returns after the log is fsynced, so it survives a
// power cut. One fsync per transaction, whatever it holds.
enum class Sync { kNormal, kDurable };

// BEGIN IMMEDIATE ... COMMIT (or BEGIN for reads). IMMEDIATE takes the write lock up front, so a
// transaction never has to upgrade a read lock (which in WAL mode fails with
// SQLITE_BUSY_SNAPSHOT instead of waiting); concurrent writers queue on
// busy_timeout. Rolls back on destruction unless committed.
class Transaction {
 public:
  static Result<Transaction> begin(Connection& conn, const char* op, Sync sync = Sync::kNormal);
  // A deferred (read) transaction: several SELECTs see one snapshot.
  static Result<Transaction> begin_read(Connection& conn, const char* op);
  Transaction(Transaction&& other) noexcept
      : conn_(other.conn_), op_(other.op_), durable_(other.durable_) {
    other.conn_ = nullptr;
    other.durable_ = false;
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();

  Result<void> commit();

 private:
  Transaction(Connection* conn, const char* op, bool durable)
      : conn_(conn), op_(op), durable_(durable) {}
  // Back to synchronous=NORMAL after a kDurable transaction ends.
  void restore_sync();
  Connection* conn_;  // nullptr once committed or rolled back
  const char* op_;
  bool durable_;      // the connection is at synchronous=FULL until restore_sync()
};

}  // namespace cybexp::sqlite
