// Upstream's command line as an alias of `run` (docs/UPSTREAM-FORMATS.md section 6):
// `cybexp-archive CONF_PATH [-f|--force-process] [-o|--run-once]`, on the
// real binary over SQLite; upstream-shaped files through `check`; the
// private key an upstream layout keeps in the working directory.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>

#include "support/daemon.h"
#include "support/process.h"

namespace cybexp {
namespace {

using testing::run_binary;
using testing::TempDir;

namespace fs = std::filesystem;

class UpstreamCli : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_file(
        dir_ / "conf.json",
        R"({"cache": {"url": "sqlite:cache.db"}, "archive": {"url": "sqlite:archive.db"}})");
    auto r = run("-c", "conf.json", "keygen");
    ASSERT_EQ(r.code, 0) << r.err;
  }
  template <class... A>
  testing::RunResult run(A... args) {
    return run_binary(dir_.path(), {std::string(args)...});
  }
  void submit(const std::string& text, const std::string& typetag) {
    testing::write_file(dir_ / "in.txt", text);
    auto r = run("-c", "conf.json", "submit", "--typetag", typetag.c_str(), "--orgid", "org-1",
                 "in.txt");
    ASSERT_EQ(r.code, 0) << r.err;
  }
  std::string real(const std::string& name) const {
    return (fs::canonical(dir_.path()) / name).string();
  }
  TempDir dir_;
};

TEST_F(UpstreamCli, ConfPathRunsTheLoopLikeRun) {
  submit(R"({"a": 1})", "unr-honeypot");
  submit(R"({"b": 2})", "site-feed");
  auto once = run("conf.json", "-o");
  ASSERT_EQ(once.code, 0) << once.err;
  EXPECT_TRUE(
      once.out.starts_with("processed 1, skipped 1 (typetag_not_supported 1), new documents 1, "
                           "duplicates 0; "))
      << once.out;
  ASSERT_EQ(run("-c", "conf.json", "subtypes", "add", "site-feed", "site_feed").code, 0);
  // Not forced: a skipped entry stays skipped, as upstream leaves it.
  auto again = run(real("conf.json"), "--run-once");
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_TRUE(again.out.starts_with("processed 0, skipped 0, new documents 0, ")) << again.out;
  // -f retries it; argparse's bundled -fo and options before CONF_PATH work too.
  auto forced = run("-fo", "./conf.json");
  ASSERT_EQ(forced.code, 0) << forced.err;
  EXPECT_TRUE(forced.out.starts_with("processed 1, skipped 0, new documents 1, duplicates 0; "))
      << forced.out;
  EXPECT_EQ(run("-c", "conf.json", "status", "--json").out.substr(0, 57),
            "{\"pending\": 0, \"processed\": 2, \"skipped\": {}, \"documents\"");
}

TEST_F(UpstreamCli, ConfPathWithoutRunOnceIsTheDaemonAndStopsOnSigterm) {
  submit(R"({"a": 1})", "unr-honeypot");
  fs::copy_file(dir_ / "conf.json", dir_ / "archive.conf");  // any existing file, not only *.json
  testing::Daemon daemon(dir_.path(), {"archive.conf", "--force-process"});
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  std::string status;
  testing::eventually([&] {
    status = run("-c", "conf.json", "status").out;
    return status.starts_with("pending     0\nprocessed   1\n");
  }, std::chrono::seconds(10));
  EXPECT_EQ(daemon.stop(SIGTERM), 0) << daemon.err();
  EXPECT_TRUE(status.starts_with("pending     0\nprocessed   1\n")) << status;
}

TEST_F(UpstreamCli, WhatIsACommandAndWhatIsAConfPath) {
  testing::write_file(dir_ / "status", "{}");  // a file named like a command: the command wins
  // status only reads (issue 12): the stores must exist first.
  ASSERT_EQ(run("-c", "conf.json", "run", "--once").code, 0);
  auto status = run("-c", "conf.json", "status");
  EXPECT_EQ(status.code, 0) << status.err;
  EXPECT_TRUE(status.out.starts_with("pending     0\n")) << status.out;

  auto missing = run("missing.json", "-o");
  EXPECT_EQ(missing.code, 2);
  EXPECT_EQ(missing.err,
            "cybexp-archive: configuration missing.json does not exist: upstream's command line is "
            "cybexp-archive "
            "CONF_PATH [-f|--force-process] [-o|--run-once], with CONF_PATH an existing file\n");
  fs::create_directories(dir_ / "conf.d");
  auto dir = run("conf.d/", "-o");
  EXPECT_EQ(dir.code, 2);
  EXPECT_TRUE(dir.err.starts_with("cybexp-archive: configuration conf.d/ is not a file: "))
      << dir.err;
  auto twice = run("-c", "conf.json", "conf.json", "-o");
  EXPECT_EQ(twice.code, 2);
  EXPECT_EQ(twice.err,
            "cybexp-archive: the configuration is given twice (-c conf.json and conf.json): use "
            "either -c CONFIG "
            "run ... or upstream's CONF_PATH [-f] [-o] (see 'cybexp-archive --help')\n");
  auto bad = run("conf.json", "-x");
  EXPECT_EQ(bad.code, 2);
  EXPECT_EQ(bad.err, "cybexp-archive: unknown option '-x' (see 'cybexp-archive run --help')\n");
  auto word = run("frobnicate");
  EXPECT_EQ(word.err,
            "cybexp-archive: unknown command 'frobnicate' (see 'cybexp-archive --help')\n");
}

// Upstream's unit: WorkingDirectory=/opt/cybexp/archive with priv.pem in it,
// the configuration elsewhere. The fix is one line, and it works.
TEST_F(UpstreamCli, AKeyInTheWorkingDirectoryGetsAOneLineFix) {
  fs::create_directories(dir_ / "etc");
  testing::write_file(
      dir_ / "etc/config.json",
      R"({"archive": {"mongo_url": "sqlite:../archive.db", "tahoe_db": "tahoe_db", "tahoe_coll": "instance"},
                          "cache": {"mongo_url": "sqlite:../cache.db", "cache_db": "cache_db", "cache_coll": "file_entries"}})");
  submit(R"({"a": 1})", "unr-honeypot");
  auto r = run("etc/config.json", "-o");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(
      r.err,
      "cybexp-archive: cannot open private key " + real("etc") +
          "/priv.pem: No such file or directory: cache.private_key is not set, so it is priv.pem "
          "beside the configuration; found priv.pem in the working directory " +
          fs::canonical(dir_.path()).string() +
          ", where upstream reads it: set cache.private_key to \"" + real("priv.pem") +
          "\" (or move the key beside the configuration, mode 0600)\n");
  // check says the same, after the targets, and counts it as a configuration problem.
  auto check = run("-c", "etc/config.json", "check");
  EXPECT_EQ(check.code, 2);
  EXPECT_TRUE(check.err.starts_with(r.err)) << check.err;
  EXPECT_TRUE(check.out.starts_with(
      "configuration " + real("etc/config.json") +
      " (upstream a18b070's shape)\ncache         sqlite:" + real("cache.db") +
      "\narchive       sqlite:" + real("archive.db") + "\n"))
      << check.out;
  testing::write_file(
      dir_ / "etc/config.json",
      R"({"archive": {"mongo_url": "sqlite:../archive.db", "tahoe_db": "tahoe_db", "tahoe_coll": "instance"},
                          "cache": {"mongo_url": "sqlite:../cache.db", "cache_db": "cache_db", "cache_coll": "file_entries",
                                    "private_key": ")" +
          real("priv.pem") + R"("}})");
  auto fixed = run("etc/config.json", "-o");
  ASSERT_EQ(fixed.code, 0) << fixed.err;
  EXPECT_TRUE(fixed.out.starts_with("processed 1, skipped 0, ")) << fixed.out;
}

TEST_F(UpstreamCli, CheckPrintsTheResolvedTargetsOfAnUpstreamFile) {
  testing::write_file(
      dir_ / "head.json",
      R"({"archive": {"mongo_url": "sqlite:archive.db", "db": "tahoe_db", "coll": "instance"},
                          "cache":   {"mongo_url": "sqlite:cache.db", "db": "cache_db", "coll": "file_entries"},
                          "tahoe":   {"mongo_url": "sqlite:archive.db", "db": "tahoe_db", "coll": "instance"},
                          "api": {"port": 5000}})");
  // check only reads (issue 12): the stores must exist first.
  auto created = run("-c", "head.json", "run", "--once");
  ASSERT_EQ(created.code, 0) << created.err;
  auto r = run("-c", "head.json", "check");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("configuration " + real("head.json") +
                                " (upstream HEAD's shape)\n"
                                "cache         sqlite:" +
                                real("cache.db") +
                                "\n"
                                "archive       sqlite:" +
                                real("archive.db") +
                                "\n"
                                "private key   " +
                                real("priv.pem") + ": RSA-2048, mode 0600\n"))
      << r.out;

  // A MongoDB target shows its database and collection, never the password;
  // it is printed before the store is tried, so an unreachable one shows too.
  testing::write_file(
      dir_ / "old.json",
      R"({"archive": {"mongo_url": "mongodb://arch:s3cret@127.0.0.1:1/?serverSelectionTimeoutMS=300&connectTimeoutMS=300",
                                      "archive_db": "tahoe_db", "archive_coll": "instance",
                                      "tahoe_db": "tahoe_db", "tahoe_coll": "instance"},
                          "cache": {"mongo_url": "sqlite:cache.db", "cache_db": "cache_db", "cache_coll": "file_entries"}})");
  auto old = run("-c", "old.json", "check");
  EXPECT_NE(old.code, 0);
  EXPECT_TRUE(old.out.starts_with(
      "configuration " + real("old.json") +
      " (upstream a18b070's shape)\n"
      "cache         sqlite:" +
      real("cache.db") +
      "\n"
      "archive       mongodb://arch:***@127.0.0.1:1/?serverSelectionTimeoutMS=300&"
      "connectTimeoutMS=300 (database tahoe_db, collection instance)\n"))
      << old.out;
  EXPECT_EQ((old.out + old.err).find("s3cret"), std::string::npos) << old.out << old.err;
}

}  // namespace
}  // namespace cybexp
