// Waking the daemon from outside (issue 16), on the real binary: `status`
// shows each daemon and when its next pass is due (from the state file it
// publishes), `wake` and SIGUSR1 end its sleep, a new upload is archived
// while it sleeps, and the state file goes when it stops.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "support/daemon.h"
#include "support/process.h"

namespace cybexp {
namespace {

using testing::Daemon;
using testing::eventually;
using testing::run_binary;

class WakeDaemon : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(run_binary(dir_.path(), {"keygen"}).code, 0); }
  // The daemon's own state file (run_dir is $CYBEXP_HOME without a config file).
  std::filesystem::path state_file(int pid) const {
    return dir_ / "cybexp-data" / ("daemon-" + std::to_string(pid) + ".json");
  }
  bool idle_in_status(int pid) {
    const std::string out = run_binary(dir_.path(), {"status"}).out;
    return out.find("daemon      pid " + std::to_string(pid) + " (") != std::string::npos &&
           out.find("): idle; next pass in ") != std::string::npos;
  }
  testing::TempDir dir_;
};

TEST_F(WakeDaemon, StatusShowsTheDaemonAndWakeStartsAPass) {
  Daemon daemon(dir_.path(), {"run", "--workers", "1"});
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  const int pid = daemon.pid();
  ASSERT_TRUE(eventually([&] { return idle_in_status(pid); })) << daemon.err();
  const std::string json = run_binary(dir_.path(), {"status", "--json"}).out;
  EXPECT_TRUE(std::regex_search(
      json, std::regex("\"daemons\": \\[\\{\"pid\": " + std::to_string(pid) +
                       ", \"worker\": \"[^\"]+:" + std::to_string(pid) +
                       ":[0-9a-f]{8}\", \"state\": \"(idle|archiving)\", \"next_pass_at\": ")))
      << json;

  auto woke = run_binary(dir_.path(), {"wake"});
  EXPECT_EQ(woke.code, 0) << woke.err;
  EXPECT_EQ(woke.out, "woke pid " + std::to_string(pid) + "\n");
  EXPECT_TRUE(eventually([&] {
    return daemon.err().find("woken up on request: starting a pass") != std::string::npos;
  })) << daemon.err();

  EXPECT_EQ(daemon.stop(SIGTERM), 0) << daemon.err();
  EXPECT_FALSE(std::filesystem::exists(state_file(pid)));
  auto none = run_binary(dir_.path(), {"wake"});
  EXPECT_EQ(none.code, 1);
  EXPECT_NE(none.err.find("no running daemon publishes its state in "), std::string::npos) << none.err;
}

TEST_F(WakeDaemon, SigusrOneWakesAndAnUploadIsArchivedWhileItSleeps) {
  Daemon daemon(dir_.path(), {"run", "--workers", "1"});
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  ASSERT_TRUE(eventually([&] { return idle_in_status(daemon.pid()); })) << daemon.err();
  daemon.signal(SIGUSR1);
  EXPECT_TRUE(eventually([&] {
    const std::string err = daemon.err();
    return err.find("SIGUSR1: starting the next pass now") != std::string::npos &&
           err.find("woken up on request: starting a pass") != std::string::npos;
  })) << daemon.err();

  testing::write_file(dir_ / "event", "{\"a\": 1}");
  ASSERT_EQ(run_binary(dir_.path(), {"submit", "--typetag", "cowrie", "--orgid", "o", "event"}).code, 0);
  EXPECT_TRUE(eventually([&] {
    return run_binary(dir_.path(), {"status", "--json"}).out.starts_with("{\"pending\": 0, \"processed\": 1, ");
  })) << daemon.err();
  EXPECT_EQ(daemon.stop(SIGTERM), 0) << daemon.err();
}

}  // namespace
}  // namespace cybexp
