// A libpq connection that reconnects itself: the PostgreSQL store talks to the
// server only through Connection, so every statement gets the same handling of
// parameters, errors and broken connections.
//
// A call that fails because the connection broke returns kDatabase with the
// server's message; the next call reconnects (a new PQconnectdbParams with the
// same settings) and prepares its statements again. Errors name the server as
// "postgresql HOST:PORT/DB" and never contain the URL, which may hold a password.
//
// Bounded waits (StoreTimeouts): connect_timeout and TCP keepalives are
// connection parameters, statement_timeout and lock_timeout are set for the
// session when it starts; a URL that names any of them keeps its own.
//
// Thread safety: a Connection is used by one thread at a time, except
// cancel(), which any thread may call at any time; ConnectionPool hands
// connections out to any number of threads, and its cancel_all() may be
// called from any thread.
#pragma once

#include <libpq-fe.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "cybexp/result.h"
#include "cybexp/store_factory.h"

namespace cybexp::pg {

// Type OIDs from the server's pg_type catalog (stable since PostgreSQL 7;
// the server headers that name them are not installed with libpq).
inline constexpr Oid kBoolOid = 16;
inline constexpr Oid kByteaOid = 17;
inline constexpr Oid kInt8Oid = 20;
inline constexpr Oid kInt2Oid = 21;
inline constexpr Oid kInt4Oid = 23;
inline constexpr Oid kTextOid = 25;
inline constexpr Oid kFloat4Oid = 700;
inline constexpr Oid kFloat8Oid = 701;
inline constexpr Oid kBoolArrayOid = 1000;
inline constexpr Oid kTextArrayOid = 1009;
inline constexpr Oid kInt8ArrayOid = 1016;

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

// Statement parameters with their types. Strings and bytes go in binary
// format: no copy, no escaping, and an embedded NUL is an error on the server
// instead of a silent truncation. Referenced values must outlive the call.
class Params {
 public:
  Params& text(std::string_view s);           // s must outlive the statement
  Params& text_copy(std::string s);
  Params& bytes(std::span<const std::uint8_t> b);
  Params& int8(std::int64_t v);
  Params& float8(double v);
  Params& boolean(bool v);
  Params& null(Oid type);
  // A value in PostgreSQL's text input format, e.g. an array literal "{1,2}".
  Params& literal(std::string value, Oid type);

  int size() const { return static_cast<int>(values_.size()); }
  const Oid* types() const { return types_.data(); }
  const char* const* values() const { return values_.data(); }
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }

 private:
  Params& add(Oid type, const char* value, std::size_t length, int format);
  std::deque<std::string> owned_;  // deque: pointers into it stay valid
  std::vector<Oid> types_;
  std::vector<const char*> values_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
};

// A statement prepared once per connection under `name`.
struct Statement {
  const char* name;
  const char* sql;
};

enum class Format { kText = 0, kBinary = 1 };

class Connection {
 public:
  explicit Connection(std::string url, const StoreTimeouts& timeouts = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // "postgresql HOST:PORT/DB", for messages.
  const std::string& label() const { return label_; }

  // Connects if there is no usable connection; a leftover open transaction
  // (from a call that failed half-way) is rolled back.
  Result<void> ensure();

  Result<PgResult> exec(std::string_view what, const std::string& sql, const Params& params = {},
                        Format format = Format::kText);
  Result<PgResult> exec(std::string_view what, const Statement& stmt, const Params& params,
                        Format format = Format::kText);
  // Runs one or more statements without parameters (simple query protocol).
  Result<void> run(std::string_view what, const char* sql);

  // Runs fn between BEGIN and COMMIT; success only if COMMIT succeeded. On an
  // error, the transaction is rolled back (or dies with the connection).
  // Nested calls join the enclosing transaction.
  template <class F>
  auto transaction(std::string_view what, F&& fn) -> decltype(fn()) {
    if (in_tx_) return fn();
    CYBEXP_TRY_VOID(run(what, "BEGIN"));
    in_tx_ = true;
    auto result = fn();
    if (!result) {
      in_tx_ = false;
      rollback_quietly();
      return result;
    }
    auto committed = run(what, "COMMIT");
    in_tx_ = false;
    if (!committed) return std::unexpected(std::move(committed).error());
    return result;
  }

  // kDatabase "<label>: <what>: <message>".
  Error error(std::string_view what, std::string_view message) const;

  // Asks the server to cancel the statement running on this connection, if
  // any (PQcancel): it then fails with kDatabase. Any thread, any time.
  // The server signals the backend twice for one cancel (its pid, then its
  // process group), and the second signal can come after the canceled
  // statement has failed: so that it never cancels the next statement too,
  // every statement waits for a cancel in flight to be delivered in full
  // (PQcancel returns only then) before it is sent.
  void cancel();

  // LISTENs to `channel` (at the first call on each server connection, which
  // reports true: what came before is unknown) and waits up to `seconds` for
  // a notification from another session, or for stop. True when one came;
  // all queued ones are consumed (pg_notify.cpp).
  Result<bool> wait_for_notification(const char* channel, double seconds, std::stop_token stop);

 private:
  Result<void> connect();
  Result<void> start_session();
  void drop();  // PQfinish, under the cancel lock
  Result<PgResult> check(std::string_view what, PGresult* raw);
  void rollback_quietly();
  void wait_for_cancel_in_flight();
  bool drain_notifications();
  void settle_notifications();

  std::string url_;
  StoreTimeouts timeouts_;
  bool url_sets_statement_timeout_ = false;
  bool url_sets_lock_timeout_ = false;
  std::string label_;
  PGconn* conn_ = nullptr;
  std::mutex cancel_mu_;                      // guards cancel_ against cancel() from other threads
  PGcancel* cancel_ = nullptr;                // for conn_; null while not connected
  std::unordered_set<std::string> prepared_;  // names prepared on conn_
  bool in_tx_ = false;  // inside transaction(): never reconnect or roll back
  bool listening_ = false;  // LISTEN issued on conn_
};

// Connections for fetch_blob, which runs on many threads at once. At most
// `max_size` exist; a thread that finds them all busy waits for one.
class ConnectionPool {
 public:
  ConnectionPool(std::string url, std::size_t max_size, const StoreTimeouts& timeouts = {});

  // cancel() on every connection of the pool, idle or handed out.
  void cancel_all();

  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<Connection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) = default;
    ~Lease();
    Connection& operator*() { return *conn_; }
    Connection* operator->() { return conn_.get(); }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  Lease acquire();

 private:
  std::string url_;
  std::size_t max_size_;
  StoreTimeouts timeouts_;
  std::size_t created_ = 0;
  std::vector<Connection*> all_;  // every connection created; they live as long as the pool
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
};

// The label for a URL without connecting (host, port and database only).
std::string label_for_url(const std::string& url);

}  // namespace cybexp::pg
