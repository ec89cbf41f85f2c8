// Bounded waits and interrupts on the PostgreSQL store (issue 14), against a
// real server: the configured statement and lock timeouts are the sessions'
// settings (a URL's own win), a call blocked on a lock fails after
// lock_seconds as a store error, and interrupt() from another thread frees
// a call blocked far longer, and never the call after it.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <thread>

#include "store/postgres/pg_test_fixture.h"

namespace cybexp::pg {
namespace {

using Seconds = std::chrono::duration<double>;

// Waits (10 s at most) until a session on the server matches `where`, a
// condition on pg_stat_activity: a cancel sent before the statement runs
// would find nothing to cancel.
bool wait_for_session(const std::string& url, const std::string& where) {
  PGconn* watcher = PQconnectdb(url.c_str());
  bool seen = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  const std::string sql = "SELECT count(*) FROM pg_stat_activity WHERE " + where;
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    PGresult* r = PQexec(watcher, sql.c_str());
    seen = PQresultStatus(r) == PGRES_TUPLES_OK && std::string(PQgetvalue(r, 0, 0)) != "0";
    PQclear(r);
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  PQfinish(watcher);
  return seen;
}

class PostgresTimeoutsTest : public PostgresTest {
 protected:
  std::shared_ptr<PostgresStore> open_with(const std::string& url, const StoreTimeouts& t) {
    StoreConfig config{url, "", "", t};
    Stores stores = ok(open_postgres(&config, &config));
    return std::dynamic_pointer_cast<PostgresStore>(stores.cache);
  }
  // Another session holding ACCESS EXCLUSIVE on the entries until it ends.
  PGconn* hold_entries_lock() {
    PGconn* holder = PQconnectdb(url_.c_str());
    EXPECT_EQ(PQstatus(holder), CONNECTION_OK);
    PGresult* r = PQexec(holder, "BEGIN; LOCK TABLE cybexp_entries IN ACCESS EXCLUSIVE MODE");
    EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQresultErrorMessage(r);
    PQclear(r);
    return holder;
  }
};

TEST_F(PostgresTimeoutsTest, SessionsGetTheConfiguredTimeouts) {
  StoreTimeouts t;
  t.statement_seconds = 2.5;
  t.lock_seconds = 0.75;
  auto store = open_with(url_, t);
  EXPECT_EQ(ok(store->session_settings("statement_timeout")),
            (std::vector<std::string>{"2500ms", "2500ms"}));
  EXPECT_EQ(ok(store->session_settings("lock_timeout")),
            (std::vector<std::string>{"750ms", "750ms"}));
  auto defaults = open_store();
  EXPECT_EQ(ok(defaults->session_settings("statement_timeout")),
            (std::vector<std::string>{"30s", "30s"}));
  EXPECT_EQ(ok(defaults->session_settings("lock_timeout")),
            (std::vector<std::string>{"10s", "10s"}));
}

TEST_F(PostgresTimeoutsTest, TheUrlsOwnSettingWins) {
  auto store = open_with(url_ + "?options=-c%20statement_timeout%3D7s", StoreTimeouts{});
  EXPECT_EQ(ok(store->session_settings("statement_timeout")),
            (std::vector<std::string>{"7s", "7s"}));
  EXPECT_EQ(ok(store->session_settings("lock_timeout")), (std::vector<std::string>{"10s", "10s"}));
}

TEST_F(PostgresTimeoutsTest, ACallBlockedOnALockFailsAfterLockSeconds) {
  StoreTimeouts t;
  t.lock_seconds = 0.5;
  auto store = open_with(url_, t);
  ok(store->add_entry(new_entry("a"), bytes("blob")));
  PGconn* holder = hold_entries_lock();
  const auto t0 = std::chrono::steady_clock::now();
  auto claimed = store->claim(claim_request("w1"));
  const double waited = Seconds(std::chrono::steady_clock::now() - t0).count();
  ASSERT_FALSE(claimed.has_value());
  EXPECT_EQ(claimed.error().kind, ErrorKind::kDatabase);
  EXPECT_NE(claimed.error().message.find("canceling statement due to lock timeout"),
            std::string::npos)
      << claimed.error().message;
  EXPECT_GE(waited, 0.45);
  EXPECT_LT(waited, 10.0);
  PQfinish(holder);                                             // the lock goes with the session
  EXPECT_EQ(ok(store->claim(claim_request("w1"))).size(), 1u);  // the store is usable again
}

TEST_F(PostgresTimeoutsTest, InterruptFreesACallBlockedOnALock) {
  auto store = open_with(url_, StoreTimeouts{});  // lock_timeout 10 s: only the interrupt helps
  ok(store->add_entry(new_entry("a"), bytes("blob")));
  PGconn* holder = hold_entries_lock();
  std::jthread interrupter([&] {
    EXPECT_TRUE(wait_for_session(url_, "wait_event_type = 'Lock'"));
    store->interrupt();
  });
  const auto t0 = std::chrono::steady_clock::now();
  auto claimed = store->claim(claim_request("w1"));
  const double waited = Seconds(std::chrono::steady_clock::now() - t0).count();
  ASSERT_FALSE(claimed.has_value());
  EXPECT_EQ(claimed.error().kind, ErrorKind::kDatabase);
  EXPECT_NE(claimed.error().message.find("canceling statement due to user request"),
            std::string::npos)
      << claimed.error().message;
  EXPECT_LT(waited, 5.0);
  PQfinish(holder);
  EXPECT_EQ(ok(store->claim(claim_request("w1"))).size(), 1u);
}

// The server answers a cancel with two signals (backend, then its process
// group); here the second comes 1.5 s late (late_group_signal.cpp), long
// after the canceled statement has failed. The next statement must not be
// the one it cancels: it waits until the cancel was delivered in full.
TEST(PostgresLateCancelTest, TheNextStatementIsNotCanceledBySignalsLeftOver) {
  test_support::PostgresServerOptions options;
  options.preload = CYBEXP_LATE_GROUP_SIGNAL_LIBRARY;
  options.environment = {"CYBEXP_TEST_GROUP_SIGINT_DELAY_MS=1500"};
  test_support::PostgresServer server(options);
  auto url = server.start();
  ASSERT_TRUE(url) << url.error().message;
  Connection conn(*url);
  ok(conn.ensure());
  std::jthread interrupter([&] {
    EXPECT_TRUE(wait_for_session(*url, "query = 'SELECT pg_sleep(30)' AND state = 'active'"));
    conn.cancel();
  });
  auto canceled = conn.exec("sleep", "SELECT pg_sleep(30)");
  ASSERT_FALSE(canceled.has_value());
  EXPECT_NE(canceled.error().message.find("canceling statement due to user request"),
            std::string::npos)
      << canceled.error().message;
  // Sent at once, it would still be running when the late signal comes.
  auto next = conn.exec("next", "SELECT pg_sleep(2.5)");
  EXPECT_TRUE(next.has_value()) << next.error().message;
}

}  // namespace
}  // namespace cybexp::pg
