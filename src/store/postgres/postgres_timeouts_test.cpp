// Bounded waits and interrupts on the PostgreSQL store (issue 14), against a
// real server: the configured statement and lock timeouts are the sessions'
// settings (a URL's own win), a call blocked on a lock fails after
// lock_seconds as a store error, and interrupt() from another thread frees
// a call blocked far longer.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <thread>

#include "store/postgres/pg_test_fixture.h"

namespace cybexp::pg {
namespace {

using Seconds = std::chrono::duration<double>;

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
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
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

}  // namespace
}  // namespace cybexp::pg
