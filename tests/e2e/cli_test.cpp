// The command line as users script it: outputs, exit codes, key handling,
// two processes on one store, and SIGTERM.
#include <signal.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include "support/binary_test.h"
#include "support/daemon.h"
#include "support/process.h"
#include "util/encoding.h"

namespace cybexp {
namespace {

using testing::run_binary;

class Cli : public testing::BinaryTest {
 protected:
  std::string submit_text(const std::string& text, const std::string& typetag = "unr-honeypot") {
    testing::write_file(dir_ / "in.txt", text);
    auto r = run("submit", "--typetag", typetag.c_str(), "--orgid", "org-1", "in.txt");
    EXPECT_EQ(r.code, 0) << r.err;
    return r.out;
  }
  // Submits n files NAME0... (content(i) each) with one submit.
  void submit_files(const std::string& name, int n, const std::function<std::string(int)>& content) {
    std::vector<std::string> args = {"submit", "--typetag", "cowrie", "--orgid", "o"};
    for (int i = 0; i < n; ++i) {
      args.push_back(name + std::to_string(i));
      testing::write_file(dir_ / args.back(), content(i));
    }
    auto r = run_binary(dir_.path(), args);
    ASSERT_EQ(r.code, 0) << r.err;
  }
};

TEST_F(Cli, KeygenWritesPrivateKeyOwnerOnlyAndNeverOverwrites) {
  struct stat st {};
  ASSERT_EQ(stat((dir_ / "cybexp-data/priv.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(testing::read_file(dir_ / "cybexp-data/priv.pem").starts_with("-----BEGIN RSA PRIVATE KEY-----"));
  EXPECT_TRUE(testing::read_file(dir_ / "cybexp-data/pub.pem").starts_with("-----BEGIN PUBLIC KEY-----"));
  std::string before = testing::read_file(dir_ / "cybexp-data/priv.pem");
  auto again = run("keygen");
  EXPECT_EQ(again.code, 2);
  EXPECT_NE(again.err.find("--force"), std::string::npos) << again.err;
  EXPECT_EQ(testing::read_file(dir_ / "cybexp-data/priv.pem"), before);
  EXPECT_EQ(run("keygen", "--force").code, 0);
  EXPECT_NE(testing::read_file(dir_ / "cybexp-data/priv.pem"), before);
}

TEST_F(Cli, SubmitRunExportRoundTrip) {
  EXPECT_EQ(submit_text(R"({"b": 1, "a": [2, 1]})"), "1\n");
  EXPECT_EQ(submit_text("From: a@example.com\r\n\r\nhello", "email"), "2\n");
  auto run_once = run("run", "--once");
  ASSERT_EQ(run_once.code, 0) << run_once.err;
  EXPECT_TRUE(run_once.out.starts_with("processed 2, skipped 0, new documents 2, duplicates 0; "))
      << run_once.out;
  auto exported = run("export");
  ASSERT_EQ(exported.code, 0);
  EXPECT_EQ(exported.out,
            "{\"itype\": \"raw\", \"data\": {\"b\": 1, \"a\": [2, 1]}, \"orgid\": \"org-1\", "
            "\"timezone\": \"UTC\", \"sub_type\": \"unr_honeypot\", \"_hash\": "
            "\"9fcc3916e806ab66e14a33828f472df3c85b736c3ebb81b398008c3222258ef2\"}\n"
            "{\"itype\": \"raw\", \"data\": {\"data\": \"From: a@example.com\\r\\n\\r\\nhello\"}, "
            "\"orgid\": \"org-1\", \"timezone\": \"UTC\", \"sub_type\": \"email\", \"_hash\": "
            "\"6cbc17ab29a124c47144c104704441e6b480d16d88d73b2ffcb7deb32469b0c4\"}\n");
  auto only_email = run("export", "--sub-type", "email");
  EXPECT_EQ(std::count(only_email.out.begin(), only_email.out.end(), '\n'), 1);
  auto status = run("status");
  EXPECT_EQ(status.out.substr(0, status.out.find("documents")),
            "pending     0\nprocessed   2\nskipped     0\n");
}

TEST_F(Cli, UnknownTypetagCanBeAddedAndRequeued) {
  submit_text("{}", "new-feed");
  ASSERT_EQ(run("run", "--once").code, 0);
  auto skipped = run("entries", "--state", "typetag_not_supported");
  EXPECT_TRUE(skipped.out.starts_with("1\ttypetag_not_supported\tnew-feed\tin.txt\ttypetag \"new-feed\" not in "))
      << skipped.out;
  EXPECT_EQ(run("subtypes", "add", "new-feed", "not an id").code, 2);
  ASSERT_EQ(run("subtypes", "add", "new-feed", "new_feed").code, 0);
  EXPECT_NE(run("subtypes", "list").out.find("new-feed\tnew_feed\n"), std::string::npos);
  EXPECT_EQ(run("requeue", "--state", "typetag_not_supported").out, "requeued 1 entry\n");
  ASSERT_EQ(run("run", "--once").code, 0);
  EXPECT_EQ(run("entries", "--state", "processed").out.substr(0, 12), "1\tprocessed\t");
  EXPECT_EQ(run("subtypes", "remove", "new-feed").code, 0);
  EXPECT_EQ(run("subtypes", "remove", "new-feed").code, 1);
}

TEST_F(Cli, ExitCodesAndMessages) {
  auto unknown = run("frobnicate");
  EXPECT_EQ(unknown.code, 2);
  EXPECT_EQ(unknown.err, "cybexp-archive: unknown command 'frobnicate' (see 'cybexp-archive --help')\n");
  EXPECT_EQ(run("run", "--bogus").code, 2);
  EXPECT_EQ(run("submit", "--orgid", "o", "in.txt").err,
            "cybexp-archive: --typetag is required (see 'cybexp-archive submit --help')\n");
  EXPECT_EQ(run("run", "--help").code, 0);
  EXPECT_EQ(run("--version").code, 0);
  testing::write_file(dir_ / "bad.json", R"({"cache": {"url": "sqlite:c.db"}, "archive": {"url": "sqlite:a.db"}, "x": 1})");
  auto bad = run("-c", "bad.json", "status");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("unknown key 'x'"), std::string::npos) << bad.err;
  chmod((dir_ / "cybexp-data/priv.pem").c_str(), 0644);
  auto loose = run("run", "--once");
  EXPECT_EQ(loose.code, 2);
  EXPECT_NE(loose.err.find("chmod 600"), std::string::npos) << loose.err;
  EXPECT_EQ(run("decrypt", "nonexistent").code, 1);
}

TEST_F(Cli, DecryptShowsThePlaintextOfAnEnvelope) {
  testing::write_file(dir_ / "plain.txt", "secret payload");
  auto notenv = run("decrypt", "plain.txt");
  EXPECT_EQ(notenv.code, 1);
  EXPECT_NE(notenv.err.find("envelope"), std::string::npos) << notenv.err;
  // A vector blob, with the vectors' key configured.
  std::filesystem::copy_file(std::string(CYBEXP_TEST_DATA_DIR) + "/priv.pem", dir_ / "vpriv.pem");
  std::filesystem::permissions(dir_ / "vpriv.pem", std::filesystem::perms::owner_read);
  testing::write_file(dir_ / "v.json", R"({"cache": {"url": "sqlite:c.db", "private_key": ["cybexp-data/priv.pem", "vpriv.pem"]}, "archive": {"url": "sqlite:a.db"}})");
  std::string line = testing::read_file(std::string(CYBEXP_TEST_DATA_DIR) + "/vectors.jsonl");
  line = line.substr(0, line.find('\n'));
  std::string b64 = line.substr(line.find("\"blob_b64\": \"") + 13);
  b64 = b64.substr(0, b64.find('"'));
  auto blob = base64_decode(b64);
  ASSERT_TRUE(blob.has_value());
  testing::write_file(dir_ / "blob", std::string(blob->begin(), blob->end()));
  auto r = run("-c", "v.json", "decrypt", "blob");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("{\"eventid\": \"cowrie.login.failed\", \"username\": \"root\""))
      << r.out;
}

TEST_F(Cli, TwoProcessesNeverProcessOneEntryTwice) {
  submit_files("e", 400, [](int i) { return "{\"i\": " + std::to_string(i) + "}"; });
  const std::vector<std::string> once = {"run", "--once", "--batch", "8", "--workers", "1"};
  testing::Process a(dir_.path(), testing::binary_argv(once));
  testing::Process b(dir_.path(), testing::binary_argv(once));
  auto processed_of = [](testing::Process& p) {
    testing::RunResult r = p.result(std::chrono::seconds(120));
    EXPECT_EQ(r.code, 0) << r.err;
    const std::string both = r.out + r.err;
    return std::stoul(both.substr(both.find("processed ") + 10));
  };
  EXPECT_EQ(processed_of(a) + processed_of(b), 400u);
  auto status = run("status", "--json");
  EXPECT_TRUE(status.out.starts_with("{\"pending\": 0, \"processed\": 400, \"skipped\": {}, \"documents\": 400, "))
      << status.out;
}

TEST_F(Cli, SigtermFinishesTheEntriesInHandAndExitsZero) {
  // One process adding 3000 files is faster than 3000 submits.
  submit_files("f", 3000, [](int i) { return "{\"n\": " + std::to_string(i) + "}"; });
  testing::Daemon daemon(dir_.path(), {"run", "--workers", "1", "--batch", "16"});
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  // Working: at least one entry is done.
  ASSERT_TRUE(testing::eventually([&] {
    return run("status", "--json").out.find("\"processed\": 0,") == std::string::npos;
  })) << daemon.err();
  EXPECT_EQ(daemon.stop(SIGTERM), 0) << daemon.err();
  auto entries = run("entries", "--json");
  std::istringstream in(entries.out);
  std::string line;
  int processed = 0, pending = 0;
  while (std::getline(in, line)) {
    EXPECT_NE(line.find("\"lease_owner\": null"), std::string::npos) << line;
    if (line.find("\"state\": \"processed\"") != std::string::npos) ++processed;
    if (line.find("\"state\": \"pending\"") != std::string::npos) ++pending;
  }
  EXPECT_EQ(processed + pending, 3000);
  EXPECT_GT(processed, 0);
}

}  // namespace
}  // namespace cybexp
