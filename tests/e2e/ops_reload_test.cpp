// SIGHUP on a running daemon (issue 14): the configuration is read again
// without a restart - a new private key archives its entries at once - and
// a bad file keeps every old setting, with a log line.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/daemon.h"
#include "support/process.h"

namespace cybexp {
namespace {

using testing::Daemon;
using testing::eventually;
using testing::run_binary;

class OpsReload : public ::testing::Test {
 protected:
  void SetUp() override {
    write_config("config.json", "[\"a-priv.pem\"]", "a-pub.pem");
    write_config("b.json", "[\"b-priv.pem\"]", "b-pub.pem");
    ASSERT_EQ(run_binary(dir_.path(), {"-c", "config.json", "keygen"}).code, 0);
    ASSERT_EQ(run_binary(dir_.path(), {"-c", "b.json", "keygen"}).code, 0);
  }
  void write_config(const std::string& name, const std::string& private_keys,
                    const std::string& public_key, const std::string& extra = "") const {
    testing::write_file(
        dir_ / name, "{\"cache\": {\"url\": \"sqlite:store.db\", \"private_key\": " + private_keys +
                         "},\n \"archive\": {\"url\": \"sqlite:store.db\"},\n"
                         " \"public_key\": \"" +
                         public_key + "\"" + extra + "}\n");
  }
  // Submits n entries encrypted for the public key `config` names.
  void submit(const std::string& config, const std::string& prefix, int n) const {
    std::vector<std::string> args = {"-c", config, "submit", "--typetag", "cowrie", "--orgid", "o"};
    for (int i = 0; i < n; ++i) {
      const std::string name = prefix + std::to_string(i);
      testing::write_file(dir_ / name, "{\"" + prefix + "\": " + std::to_string(i) + "}");
      args.push_back(name);
    }
    ASSERT_EQ(run_binary(dir_.path(), args).code, 0);
  }
  std::string status() const {
    return run_binary(dir_.path(), {"-c", "config.json", "status", "--json"}).out;
  }
  Daemon start() { return Daemon(dir_.path(), {"-c", "config.json", "run", "--workers", "1"}); }
  // Waits for `text` to appear in the daemon's log `after` its first n
  // bytes, reading the notify socket meanwhile (a full one blocks sd_notify).
  static bool logged(Daemon& d, const std::string& text, std::size_t after = 0) {
    return eventually(
        [&] {
          d.notified_during(std::chrono::milliseconds(20));
          return d.err().find(text, after) != std::string::npos;
        },
        std::chrono::seconds(30));
  }
  // Waits for pred, reading the notify socket meanwhile.
  static bool until(Daemon& d, const std::function<bool()>& pred) {
    return eventually([&] {
      d.notified_during(std::chrono::milliseconds(20));
      return pred();
    });
  }
  testing::TempDir dir_;
};

TEST_F(OpsReload, SighupWithANewKeyArchivesItsEntriesWithoutARestart) {
  submit("config.json", "a", 2);
  Daemon daemon = start();
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  ASSERT_TRUE(until(daemon, [&] {
    return status().starts_with("{\"pending\": 0, \"processed\": 2, ");
  })) << status();

  write_config("config.json", "[\"a-priv.pem\", \"b-priv.pem\"]", "a-pub.pem",
               ", \"limits\": {\"max_depth\": 100}");
  const pid_t pid = daemon.pid();
  daemon.signal(SIGHUP);
  ASSERT_TRUE(logged(daemon,
                     "configuration reloaded changed=\"private_key, limits.max_depth\" "
                     "private_keys=2 log_level=info"))
      << daemon.err();
  ASSERT_TRUE(logged(daemon, "new keys and limits in use private_keys=2")) << daemon.err();
  submit("b.json", "b", 3);
  EXPECT_TRUE(until(
      daemon,
      [&] { return status().starts_with("{\"pending\": 0, \"processed\": 5, \"skipped\": {}, "); }))
      << status() << daemon.err();
  EXPECT_TRUE(daemon.running());
  EXPECT_EQ(daemon.pid(), pid);
  EXPECT_EQ(daemon.stop(SIGTERM), 0) << daemon.err();
}

TEST_F(OpsReload, ABadFileOnSighupKeepsTheOldSettings) {
  Daemon daemon = start();
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  const std::string failed = "reload failed; keeping the old settings";

  testing::write_file(dir_ / "config.json", "{\"cache\": ");
  std::size_t mark = daemon.err().size();
  daemon.signal(SIGHUP);
  ASSERT_TRUE(logged(daemon, failed, mark)) << daemon.err();

  // A key file that is not there, and a log level that does not exist.
  write_config("config.json", "[\"a-priv.pem\", \"missing.pem\"]", "a-pub.pem");
  mark = daemon.err().size();
  daemon.signal(SIGHUP);
  ASSERT_TRUE(logged(daemon, failed, mark)) << daemon.err();
  EXPECT_NE(daemon.err().find("missing.pem", mark), std::string::npos) << daemon.err();
  write_config("config.json", "[\"a-priv.pem\"]", "a-pub.pem", ", \"log_level\": \"loud\"");
  mark = daemon.err().size();
  daemon.signal(SIGHUP);
  ASSERT_TRUE(logged(daemon, failed, mark)) << daemon.err();
  EXPECT_EQ(daemon.err().find("new keys and limits in use"), std::string::npos) << daemon.err();

  // The old key still works, in the same process.
  write_config("config.json", "[\"a-priv.pem\"]", "a-pub.pem");
  submit("config.json", "a", 2);
  EXPECT_TRUE(
      until(daemon, [&] { return status().starts_with("{\"pending\": 0, \"processed\": 2, "); }))
      << status() << daemon.err();
  EXPECT_TRUE(daemon.running());
  EXPECT_EQ(daemon.stop(SIGTERM), 0) << daemon.err();
}

TEST_F(OpsReload, SighupChangesTheLogLevel) {
  Daemon daemon = start();
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  EXPECT_EQ(daemon.err().find("debug: "), std::string::npos);
  write_config("config.json", "[\"a-priv.pem\"]", "a-pub.pem", ", \"log_level\": \"debug\"");
  daemon.signal(SIGHUP);
  ASSERT_TRUE(logged(daemon, "changed=log_level private_keys=1 log_level=debug")) << daemon.err();
  submit("config.json", "a", 1);
  EXPECT_TRUE(logged(daemon, "debug: sleeping")) << daemon.err();
  EXPECT_EQ(daemon.stop(SIGTERM), 0) << daemon.err();
}

}  // namespace
}  // namespace cybexp
