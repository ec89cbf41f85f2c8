// PostgresStore::wait_for_change against a real server: the schema's trigger
// notifies for new, requeued and released entries, the daemon's connection
// hears other sessions (never itself), a burst is consumed as one wake-up,
// a stop request ends the wait; and a version-1 database gets the trigger
// when opened.
#include <chrono>
#include <thread>

#include "store/postgres/pg_test_fixture.h"

namespace cybexp::pg {
namespace {

using Seconds = std::chrono::duration<double>;
using SteadyClock = std::chrono::steady_clock;

class Notify : public PostgresTest {
 protected:
  void SetUp() override {
    PostgresTest::SetUp();
    daemon_ = open_store();
    uploads_ = open_store();  // another session, as the API module's
    // The first wait LISTENs and reports a change (what came before is unknown).
    EXPECT_TRUE(ok(daemon_->wait_for_change(0.1, {})));
    EXPECT_FALSE(ok(daemon_->wait_for_change(0.1, {})));
  }
  // True if the daemon's wait ends with a change, within 10 s.
  bool woken() { return ok(daemon_->wait_for_change(10, {})); }
  bool quiet() { return !ok(daemon_->wait_for_change(0.2, {})); }

  std::shared_ptr<PostgresStore> daemon_;
  std::shared_ptr<PostgresStore> uploads_;
};

TEST_F(Notify, NewEntriesWakeOnceHoweverMany) {
  ok(uploads_->add_entry(new_entry("one"), bytes("x")));
  const auto start = SteadyClock::now();
  EXPECT_TRUE(woken());
  EXPECT_LT(Seconds(SteadyClock::now() - start).count(), 5.0);
  EXPECT_TRUE(quiet());
  for (int i = 0; i < 50; ++i) ok(uploads_->add_entry(new_entry("b" + std::to_string(i)), bytes("x")));
  // Each commit signalled the daemon's backend before add_entry returned, but
  // that backend passes the notifications on only when it next runs, which
  // a busy machine may delay past the wait's 5 ms of quiet. Before it answers
  // a query it sends all of them: this one makes the burst arrive as one.
  ok(daemon_->session_settings("server_version"));
  EXPECT_TRUE(woken());
  EXPECT_TRUE(quiet());  // 50 notifications, one wake-up
}

TEST_F(Notify, OwnWritesClaimsAndFinishesAreSilent) {
  const std::string id = ok(daemon_->add_entry(new_entry("own"), bytes("x")));
  EXPECT_TRUE(quiet());
  ok(uploads_->claim(claim_request("w")));
  EXPECT_TRUE(quiet());
  const EntryResult done[] = {processed(id, {"h"})};
  EXPECT_EQ(finish_marked(*uploads_, done, "w"), 1u);
  EXPECT_TRUE(quiet());
}

TEST_F(Notify, RequeuedAndReleasedEntriesWake) {
  const std::string a = ok(daemon_->add_entry(new_entry("a"), bytes("x")));
  const std::string b = ok(daemon_->add_entry(new_entry("b"), bytes("x")));
  ok(daemon_->claim(claim_request("w")));
  const EntryResult skip[] = {skipped(a, kStateBadData, "bad")};
  EXPECT_EQ(finish_marked(*daemon_, skip, "w"), 1u);
  EXPECT_TRUE(quiet());
  const std::string ids[] = {b};
  ok(uploads_->release(ids, "w", ReleaseKind::kTried));  // another worker gives one back
  EXPECT_TRUE(woken());
  EntryFilter bad;
  bad.state = kStateBadData;
  EXPECT_EQ(ok(uploads_->requeue(bad)), 1u);
  EXPECT_TRUE(woken());
}

TEST_F(Notify, StopEndsTheWait) {
  std::stop_source stop;
  std::jthread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop.request_stop();
  });
  const auto start = SteadyClock::now();
  EXPECT_FALSE(ok(daemon_->wait_for_change(60, stop.get_token())));
  EXPECT_LT(Seconds(SteadyClock::now() - start).count(), 5.0);
}

TEST_F(Notify, VersionOneDatabaseGetsTheTriggerWhenOpened) {
  open_store();
  sql("DROP TRIGGER cybexp_entries_added ON cybexp_entries");
  sql("DROP TRIGGER cybexp_entries_claimable_again ON cybexp_entries");
  sql("DROP FUNCTION cybexp_notify_entries()");
  sql("UPDATE cybexp_meta SET value = '1' WHERE key = 'schema_version'");
  auto upgraded = open_store();
  EXPECT_EQ(ok(upgraded->schema_version()), 2);
  Connection conn(url_);
  auto n = ok(conn.exec("test", std::string("SELECT count(*) FROM pg_trigger WHERE tgname LIKE "
                                            "'cybexp_entries_%' AND NOT tgisinternal")));
  EXPECT_EQ(std::string(PQgetvalue(n.get(), 0, 0)), "2");
}

}  // namespace
}  // namespace cybexp::pg
