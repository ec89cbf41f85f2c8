// A daemon that never hangs unseen (issue 14), against the real PostgreSQL
// server the harness starts: a table lock held by someone else is a logged
// store error with a backoff and a recovery, SIGTERM interrupts a call
// blocked on it, and a store that hangs beyond every timeout (its server
// process stopped) loses the watchdog pings. Short configured timeouts keep
// each test to seconds.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "e2e/cluster_support.h"
#include "support/daemon.h"

namespace cybexp::cluster {
namespace {

using testing::Daemon;

// config.json naming `url` for both stores, with these timeouts.
void write_config(const WorkDir& dir, const std::string& url, const std::string& timeouts) {
  testing::write_file(dir / "config.json",
                      "{\"cache\": {\"url\": \"" + url +
                          "\", \"private_key\": \"priv.pem\"},\n \"archive\": {\"url\": \"" + url +
                          "\"},\n \"public_key\": \"pub.pem\", \"lease_seconds\": 60,\n"
                          " \"timeouts\": " +
                          timeouts + "}\n");
}

void submit(const WorkDir& dir, int n) {
  std::vector<std::string> args = {"submit", "--typetag", "cowrie", "--orgid", "o"};
  for (int i = 0; i < n; ++i) {
    const std::string name = "event" + std::to_string(i);
    testing::write_file(dir / name, "{\"n\": " + std::to_string(i) + "}");
    args.push_back(name);
  }
  ASSERT_EQ(dir.run(args).code, 0);
}

Daemon start(const WorkDir& dir, std::vector<std::pair<std::string, std::string>> env = {}) {
  return Daemon(dir.path(), {"-c", "config.json", "--log-level", "debug", "run", "--workers", "1"},
                std::move(env));
}

// Waits for `text` in the daemon's log, reading its notify socket meanwhile:
// an AF_UNIX datagram queue holds about ten messages, and a full one blocks
// the daemon's sd_notify, as a systemd that stopped reading would.
bool wait_log(Daemon& daemon, const std::string& text, Seconds limit = Seconds(30)) {
  return poll_until(limit, [&] {
    daemon.notified_during(std::chrono::milliseconds(50));
    return daemon.err().find(text) != std::string::npos;
  });
}

long long leased(Db& db) {
  return db.scalar("SELECT count(*) FROM cybexp_entries WHERE lease_owner IS NOT NULL");
}

// Backends of the daemon (libpq's fallback_application_name) waiting on a lock.
long long blocked_on_lock(Db& db) {
  return db.scalar(
      "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cybexp-archive' AND "
      "wait_event_type = 'Lock'");
}

TEST(DaemonStall, HeldTableLockIsLoggedBackedOffAndRecovered) {
  const std::string url = fresh_database("held_lock");
  WorkDir dir(url, url, 60);
  write_config(dir, url, "{\"statement_seconds\": 5, \"lock_seconds\": 0.5}");
  submit(dir, 3);
  Db holder(url);
  holder.exec("BEGIN; LOCK TABLE cybexp_entries IN ACCESS EXCLUSIVE MODE");

  Daemon daemon = start(dir);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  const std::string failed = "store failed; backing off and retrying";
  ASSERT_TRUE(wait_log(daemon, failed)) << daemon.err();
  EXPECT_NE(daemon.err().find("canceling statement due to lock timeout"), std::string::npos)
      << daemon.err();
  EXPECT_TRUE(daemon.running());

  holder.exec("COMMIT");
  Db db(url);
  ASSERT_TRUE(poll_until(Seconds(30),
                         [&] {
                           daemon.notified_during(std::chrono::milliseconds(50));
                           return unfinished(db) == 0;
                         }))
      << unfinished(db) << " entries left\n"
      << daemon.err();
  EXPECT_EQ(db.scalar("SELECT count(*) FROM cybexp_entries WHERE processed"), 3);
  EXPECT_EQ(leased(db), 0);
  EXPECT_EQ(daemon.stop(SIGTERM), 0) << daemon.err();
}

TEST(DaemonStall, SigtermInterruptsACallBlockedOnALockAndExitsZero) {
  const std::string url = fresh_database("sigterm_lock");
  WorkDir dir(url, url, 60);
  // Timeouts far beyond the test: only the interrupt can free the call.
  write_config(dir, url, "{\"statement_seconds\": 300, \"lock_seconds\": 300}");
  submit(dir, 3);
  Db holder(url);
  holder.exec("BEGIN; LOCK TABLE cybexp_entries IN ACCESS EXCLUSIVE MODE");

  Daemon daemon = start(dir);
  Db db(url);
  ASSERT_TRUE(poll_until(Seconds(20), [&] { return blocked_on_lock(db) >= 1; })) << daemon.err();
  const auto t0 = Clock::now();
  daemon.signal(SIGTERM);
  ASSERT_TRUE(daemon.wait(std::chrono::seconds(10))) << "SIGTERM did not end the daemon\n"
                                                     << daemon.err();
  const double seconds = Seconds(Clock::now() - t0).count();
  EXPECT_EQ(daemon.code(), 0) << daemon.err();
  EXPECT_LT(seconds, 5.0);
  std::printf("[ info ] exited %.2f s after SIGTERM, blocked on a table lock\n", seconds);
  EXPECT_EQ(blocked_on_lock(db), 0);

  holder.exec("COMMIT");
  EXPECT_EQ(unfinished(db), 3);  // nothing was claimed, nothing lost
  EXPECT_EQ(leased(db), 0);
}

// The first signal leaves a commit to finish (it ends within its timeouts);
// a second one interrupts it, releases what it can and exits at once.
TEST(DaemonStall, ASecondSigtermInterruptsABlockedCommitAndReleases) {
  const std::string url = fresh_database("second_sigterm");
  WorkDir dir(url, url, 60);
  write_config(dir, url, "{\"statement_seconds\": 300, \"lock_seconds\": 300}");
  submit(dir, 3);
  Db holder(url);
  holder.exec("BEGIN; LOCK TABLE cybexp_documents IN ACCESS EXCLUSIVE MODE");

  Daemon daemon = start(dir);
  Db db(url);
  ASSERT_TRUE(poll_until(Seconds(20), [&] { return blocked_on_lock(db) >= 1 && leased(db) == 3; }))
      << daemon.err();  // claimed, decrypted, and the commit waits for the documents table
  daemon.signal(SIGTERM);
  EXPECT_FALSE(daemon.wait(std::chrono::milliseconds(1500))) << "the first signal broke the commit";
  const auto t0 = Clock::now();
  daemon.signal(SIGTERM);
  ASSERT_TRUE(daemon.wait(std::chrono::seconds(5))) << daemon.err();
  const double seconds = Seconds(Clock::now() - t0).count();
  EXPECT_LT(seconds, 3.0);
  std::printf("[ info ] exit %d %.2f s after the second SIGTERM, a commit blocked\n",
              daemon.code(), seconds);
  EXPECT_NE(daemon.err().find("second stop signal"), std::string::npos) << daemon.err();
  // The loop finished within the second's grace (exit 0, leases released),
  // or the grace ran out (exit 1, leases left to expire).
  ASSERT_TRUE(daemon.code() == 0 || daemon.code() == 1) << daemon.code() << daemon.err();
  if (daemon.code() == 0) {
    EXPECT_EQ(leased(db), 0);
  }
  holder.exec("COMMIT");
  EXPECT_EQ(unfinished(db), 3);  // nothing marked without its document
}

TEST(DaemonStall, WatchdogPingsStopWhileTheStoreHangsAndResumeAfter) {
  const std::string url = fresh_database("hung_store");
  WorkDir dir(url, url, 60);
  // The longest call: 1 s to connect + 1 s of statement; stuck beyond
  // 2 * 2 + 1 = 5 s without a sign of life, the pings stop.
  write_config(dir, url, "{\"statement_seconds\": 1, \"lock_seconds\": 1, \"connect_seconds\": 1}");
  submit(dir, 2);
  Daemon daemon = start(dir, {{"WATCHDOG_USEC", "1000000"}, {"WATCHDOG_PID", "$PID"}});
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  const auto ping = [](const std::string& m) { return m == "WATCHDOG=1"; };
  ASSERT_TRUE(daemon.wait_notified(ping));

  // The daemon's server process stops: its next statement gets no answer and
  // no timeout of the server's can fire; TCP keepalives are answered by the
  // kernel. Only the watchdog can tell.
  Db db(url);
  std::vector<int> backends;
  for (const auto& row : db.rows("SELECT pid FROM pg_stat_activity WHERE application_name = "
                                 "'cybexp-archive'")) {
    backends.push_back(std::stoi(row.at(0)));
  }
  ASSERT_FALSE(backends.empty());
  struct Resume {
    std::vector<int>& pids;
    ~Resume() {
      for (int pid : pids) kill(pid, SIGCONT);
    }
  } resume{backends};
  for (int pid : backends) ASSERT_EQ(kill(pid, SIGSTOP), 0) << pid;

  const std::string stuck = "the archive loop is stuck";
  ASSERT_TRUE(wait_log(daemon, stuck)) << daemon.err();
  // Pings sent before the line (the test may have been slow to read them)
  // are not the ones the quiet window is about.
  daemon.drain_notified();
  const auto quiet = daemon.notified_during(std::chrono::milliseconds(2500));
  EXPECT_EQ(std::count_if(quiet.begin(), quiet.end(), ping), 0)
      << "pings went on for a stuck loop\n"
      << daemon.err();

  for (int pid : backends) kill(pid, SIGCONT);
  EXPECT_TRUE(daemon.wait_notified(ping)) << daemon.err();
  EXPECT_TRUE(wait_log(daemon, "watchdog pings resume")) << daemon.err();
  EXPECT_TRUE(poll_until(Seconds(30), [&] {
    daemon.notified_during(std::chrono::milliseconds(50));
    return unfinished(db) == 0;
  })) << daemon.err();
  EXPECT_EQ(daemon.stop(SIGTERM), 0) << daemon.err();
}

}  // namespace
}  // namespace cybexp::cluster
