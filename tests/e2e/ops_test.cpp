// The operator's commands end to end: check (output and exit codes), inspect
// (pending, processed and skipped entries, --decrypt, --dry-run writing
// nothing, --json), and requeue refusing entries under a live lease.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <regex>
#include <sstream>
#include <thread>

#include "support/daemon.h"
#include "support/binary_test.h"
#include "support/process.h"

namespace cybexp {
namespace {

using testing::run_binary;

constexpr const char* kHash1 = "9fcc3916e806ab66e14a33828f472df3c85b736c3ebb81b398008c3222258ef2";

// Times vary from run to run; the rest of inspect's output must not.
std::string without_times(const std::string& text) {
  static const std::regex kIso(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)");
  static const std::regex kEpoch(R"(\(\d+(\.\d+)?\))");
  return std::regex_replace(std::regex_replace(text, kIso, "TIME"), kEpoch, "(EPOCH)");
}

class Ops : public testing::BinaryTest {
 protected:
  void SetUp() override {
    BinaryTest::SetUp();
    if (HasFatalFailure()) return;
    home_ = std::filesystem::canonical(dir_.path()) / "cybexp-data";
  }
  void submit(const std::string& text, const std::string& typetag,
              const std::string& name = "in.txt") {
    testing::write_file(dir_ / name, text);
    auto r = run("submit", "--typetag", typetag.c_str(), "--orgid", "org-1", name.c_str());
    ASSERT_EQ(r.code, 0) << r.err;
  }
  // Entry 1 processed, entry 2 skipped (unknown typetag), entry 3 pending.
  void three_entries() {
    submit(R"({"b": 1, "a": [2, 1]})", "unr-honeypot");
    submit("{}", "new-feed");
    auto r = run("run", "--once");
    ASSERT_EQ(r.code, 0) << r.err;
    submit("line1\n\x1b[31mred", "email", "mail.txt");
  }
  std::string path(const char* name) const { return (home_ / name).string(); }
  std::filesystem::path home_;
};

TEST_F(Ops, CheckReportsEverythingAndExitsZeroWhenReady) {
  three_entries();
  auto r = run("check");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const std::string workers = std::to_string(std::max(1u, std::thread::hardware_concurrency()));
  const std::string out =
      std::regex_replace(r.out, std::regex("schema version \\d+"), "schema version N");
  EXPECT_EQ(out, "configuration none given: the defaults under " + home_.string() +
                     " ($CYBEXP_HOME)\n"
                     "cache         sqlite:" + path("cache.db") + "\n"
                     "archive       sqlite:" + path("archive.db") + "\n"
                     "private key   " +
                     path("priv.pem") +
                     ": RSA-2048, mode 0600\n"
                     "public key    " +
                     path("pub.pem") + ": RSA-2048, pairs with " + path("priv.pem") +
                     "\n"
                     "cache store   schema version N\n"
                     "archive store schema version N, 1 document (21 bytes of data)\n"
                     "entries       1 pending, 1 processed, 1 skipped (typetag_not_supported 1), 0 "
                     "leased now\n"
                     "sub types     6 typetags registered\n"
                     "run would     claim 1 entry with " +
                     workers +
                     " workers (one per core), leases of 300 s; "
                     "--force-process would claim 2\n"
                     "ok\n");
}

TEST_F(Ops, CheckExitsTwoOnAKeyReadableByOthers) {
  ASSERT_EQ(run("run", "--once").code, 0);  // the stores exist: check opens them read-only
  chmod(path("priv.pem").c_str(), 0644);
  auto r = run("check");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "cybexp-archive: private key " + path("priv.pem") +
                       " is readable by group or others (mode 0644): run chmod 600 " +
                       path("priv.pem") + "\ncybexp-archive: check found 1 problem\n");
  EXPECT_NE(r.out.find("public key    " + path("pub.pem") +
                       ": RSA-2048, not checked (no private key loaded)\n"),
            std::string::npos)
      << r.out;
}

TEST_F(Ops, CheckExitsTwoOnABadConfigurationAndOneOnAnUnreachableStore) {
  testing::write_file(
      dir_ / "bad.json",
      R"({"cache": {"url": "sqlite:c.db"}, "archive": {"url": "sqlite:a.db"}, "x": 1})");
  auto bad = run("-c", "bad.json", "check");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("unknown key 'x'"), std::string::npos) << bad.err;

  // Nothing listens on port 1; the public key is missing, which only warns.
  testing::write_file(
      dir_ / "down.json",
      R"({"cache": {"url": "postgresql://127.0.0.1:1/cybexp", "private_key": "cybexp-data/priv.pem"},
                          "archive": {"url": "postgresql://127.0.0.1:1/cybexp"}, "public_key": "nope.pem"})");
  auto down = run("-c", "down.json", "check");
  EXPECT_EQ(down.code, 1) << down.err;
  const std::string dir = std::filesystem::canonical(dir_.path()).string();
  EXPECT_TRUE(down.err.starts_with(
      "cybexp-archive: warning: cannot open public key " + dir +
      "/nope.pem: No such file or directory (only 'submit' needs the public key)\n"
      "cybexp-archive: postgresql 127.0.0.1:1/cybexp: connect: "))
      << down.err;
  EXPECT_TRUE(down.err.ends_with("\ncybexp-archive: check found 1 problem\n")) << down.err;
  EXPECT_EQ(down.out, "configuration " + dir + "/down.json\ncache         postgresql://127.0.0.1:1/cybexp\n"
                      "archive       postgresql://127.0.0.1:1/cybexp\nprivate key   " + path("priv.pem") +
                          ": RSA-2048, mode 0600\n");
}

testing::ProcessOptions home_at(const std::string& home) {
  testing::ProcessOptions options;
  options.env = {{"CYBEXP_HOME", home}};
  return options;
}

// Read commands open the stores read-only: a mistyped CYBEXP_HOME or store
// path is an error (exit 1) that says so, and creates nothing.
TEST_F(Ops, ReadCommandsNeverCreateAStore) {
  const std::string missing = (std::filesystem::canonical(dir_.path()) / "typo").string();
  for (std::vector<std::string> cmd : {std::vector<std::string>{"status"},
                                       {"entries"}, {"export"}, {"subtypes", "list"},
                                       {"inspect", "1"}}) {
    SCOPED_TRACE(cmd[0]);
    auto r = testing::run_binary(dir_.path(), cmd, home_at(missing));
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "cybexp-archive: sqlite " + missing +
                         "/cache.db: No such file or directory (commands that only read never "
                         "create a store: check CYBEXP_HOME, -c and the store's url)\n");
    EXPECT_FALSE(std::filesystem::exists(missing));
  }
  // check reports it among its findings (with the missing keys: exit 2),
  // also without creating anything.
  auto r = testing::run_binary(dir_.path(), {"check"}, home_at(missing));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("/cache.db: No such file or directory (commands that only read never "
                       "create a store"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(missing));
  // An empty archive.db beside a cache is reported, not made a new store.
  three_entries();
  std::filesystem::resize_file(home_ / "archive.db", 0);
  std::filesystem::remove(home_ / "archive.db-wal");
  std::filesystem::remove(home_ / "archive.db-shm");
  auto empty = run("status");
  EXPECT_EQ(empty.code, 1);
  EXPECT_NE(empty.err.find("archive.db: the file is empty (0 bytes)"), std::string::npos)
      << empty.err;
  EXPECT_EQ(std::filesystem::file_size(home_ / "archive.db"), 0u);
}

TEST_F(Ops, InspectShowsPendingProcessedAndSkippedEntries) {
  three_entries();
  auto processed = run("inspect", "1");
  ASSERT_EQ(processed.code, 0) << processed.err;
  EXPECT_EQ(
      without_times(processed.out),
      "id          1\nname        in.txt\ntypetag     unr-honeypot\norgid       org-1\n"
      "timezone    UTC\nuploaded    TIME (EPOCH)\nblob        309 bytes\nstate       processed\n"
      "attempts    1\nlease       none\nfinished    TIME\n_ref        " +
          std::string(kHash1) + "\n");

  auto skipped = run("inspect", "2");
  ASSERT_EQ(skipped.code, 0) << skipped.err;
  EXPECT_EQ(
      without_times(skipped.out),
      "id          2\nname        in.txt\ntypetag     new-feed\norgid       org-1\n"
      "timezone    UTC\nuploaded    TIME (EPOCH)\nblob        290 bytes\nstate       "
      "typetag_not_supported\n"
      "reason      typetag \"new-feed\" not in the sub-type registry: add it with 'cybexp-archive "
      "subtypes add new-feed SUB_TYPE', then 'requeue --state typetag_not_supported'\n"
      "attempts    1\nlease       none\nfinished    TIME\n");

  auto pending = run("inspect", "3", "--decrypt");
  ASSERT_EQ(pending.code, 0) << pending.err;
  EXPECT_EQ(
      without_times(pending.out),
      "id          3\nname        mail.txt\ntypetag     email\norgid       org-1\n"
      "timezone    UTC\nuploaded    TIME (EPOCH)\nblob        302 bytes\nstate       pending\n"
      "attempts    0\nlease       none\nfinished    -\n"
      "plaintext   14 bytes:\n  line1\\n\\x1b[31mred\n");

  auto missing = run("inspect", "99");
  EXPECT_EQ(missing.code, 1);
  EXPECT_EQ(missing.err,
            "cybexp-archive: no entry with id '99': 'cybexp-archive entries' lists them\n");
  EXPECT_EQ(run("inspect").code, 2);
}

TEST_F(Ops, InspectDecryptShowsOnlyTheFirst256BytesEscaped) {
  submit(std::string(300, 'x') + "\x07", "unr-honeypot");
  auto r = run("inspect", "1", "--decrypt");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(
      r.out.ends_with("plaintext   301 bytes, the first 256:\n  " + std::string(256, 'x') + "\n"))
      << r.out;
}

TEST_F(Ops, InspectDryRunPrintsTheDocumentOrTheSkipAndWritesNothing) {
  three_entries();
  const std::string entries_before = run("entries", "--json").out;
  const std::string status_before = run("status", "--json").out;
  const std::string export_before = run("export").out;

  auto pending = run("inspect", "3", "--dry-run");
  ASSERT_EQ(pending.code, 0) << pending.err;
  const std::string doc =
      "{\"itype\": \"raw\", \"data\": {\"data\": \"line1\\n\\u001b[31mred\"}, \"orgid\": "
      "\"org-1\", "
      "\"timezone\": \"UTC\", \"sub_type\": \"email\", \"_hash\": \"";
  const std::size_t at = pending.out.find("dry run     would be processed as _ref ");
  ASSERT_NE(at, std::string::npos) << pending.out;
  const std::string hash = pending.out.substr(at + 39, 64);
  EXPECT_EQ(pending.out.substr(at), "dry run     would be processed as _ref " + hash +
                                        " (nothing was written)\ndocument    " + doc + hash +
                                        "\"}\n");

  auto skipped = run("inspect", "2", "--dry-run");
  ASSERT_EQ(skipped.code, 0) << skipped.err;
  EXPECT_TRUE(skipped.out.ends_with(
      "dry run     would be skipped as typetag_not_supported (nothing was written)\n"
      "because     typetag \"new-feed\" not in the sub-type registry: add it with 'cybexp-archive "
      "subtypes add new-feed SUB_TYPE', then 'requeue --state typetag_not_supported'\n"))
      << skipped.out;

  auto json = run("inspect", "3", "--dry-run", "--decrypt", "--json");
  ASSERT_EQ(json.code, 0) << json.err;
  EXPECT_TRUE(
      json.out.starts_with("{\"id\": \"3\", \"name\": \"mail.txt\", \"typetag\": \"email\", "
                           "\"orgid\": \"org-1\", \"timezone\": \"UTC\", \"timestamp\": "))
      << json.out;
  EXPECT_TRUE(
      json.out.ends_with(", \"blob_bytes\": 302, \"state\": \"pending\", \"reason\": null, "
                         "\"attempts\": 0, \"lease_owner\": null, "
                         "\"lease_until\": null, \"lease_live\": false, \"finished_at\": null, "
                         "\"_ref\": [], \"plaintext\": "
                         "{\"bytes\": 14, \"head\": \"line1\\\\n\\\\x1b[31mred\"}, \"dry_run\": "
                         "{\"state\": \"processed\", "
                         "\"reason\": null, \"document\": " +
                         doc + hash + "\"}}}\n"))
      << json.out;

  // Nothing changed: no claim, no attempt counted, no document, no state.
  EXPECT_EQ(run("entries", "--json").out, entries_before);
  EXPECT_EQ(run("status", "--json").out, status_before);
  EXPECT_EQ(run("export").out, export_before);
}

// Leaves entries under live leases the way a crashed worker does: a forced
// run is killed (SIGKILL) while it holds some.
TEST_F(Ops, RequeueNeverTouchesEntriesUnderALiveLease) {
  std::vector<std::string> args = {"submit", "--typetag", "no-such-feed", "--orgid", "o"};
  for (int i = 0; i < 600; ++i) {
    const std::string name = "f" + std::to_string(i);
    testing::write_file(dir_ / name, "{\"i\": " + std::to_string(i) + "}");
    args.push_back(name);
  }
  ASSERT_EQ(run_binary(dir_.path(), args).code, 0);
  ASSERT_EQ(run("run", "--once").code, 0);
  auto leased_ids = [&] {
    std::vector<std::string> ids;
    std::istringstream in(run("entries", "--json").out);
    for (std::string line; std::getline(in, line);) {
      if (line.find("\"lease_owner\": null") == std::string::npos) {
        ids.push_back(line.substr(8, line.find('"', 8) - 8));  // {"id": "N", ...
      }
    }
    return ids;
  };
  std::vector<std::string> leased;
  for (int attempt = 0; attempt < 10 && leased.empty(); ++attempt) {
    testing::Daemon worker(dir_.path(),
                           {"run", "--force-process", "--workers", "1", "--batch", "8"});
    testing::eventually([&] { return !leased_ids().empty(); }, std::chrono::seconds(20));
    worker.stop(SIGKILL);
    leased = leased_ids();  // as the killed worker left them
  }
  ASSERT_FALSE(leased.empty()) << "no run was caught holding a lease";
  const std::size_t n = leased.size();

  auto live = run("inspect", leased[0].c_str());
  EXPECT_NE(live.out.find("state       typetag_not_supported\n"), std::string::npos) << live.out;
  EXPECT_TRUE(
      std::regex_search(live.out, std::regex("\nlease       [^\n]+ until [^\n]+ \\(live\\)\n")))
      << live.out;

  // Each is named as skipped, with the worker that holds it.
  const std::string by = "[^\n]+ until \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\n";
  const std::string one = run("requeue", "--id", leased[0].c_str()).out;
  EXPECT_TRUE(std::regex_match(one, std::regex("skipped " + leased[0] + ": under a live lease of " +
                                               by + "requeued 0 entries\n")))
      << one;
  const std::string all = run("requeue", "--state", "typetag_not_supported").out;
  const std::string requeued =
      "requeued " + std::to_string(600 - n) + (600 - n == 1 ? " entry\n" : " entries\n");
  EXPECT_TRUE(all.ends_with(requeued)) << all;
  EXPECT_EQ(std::count(all.begin(), all.end(), '\n'),
            static_cast<long>(std::min<std::size_t>(n, 20) + (n > 20) + 1))
      << all;
  EXPECT_TRUE(all.starts_with("skipped " + leased[0] + ": under a live lease of ")) << all;
  auto still = run("entries", "--state", "typetag_not_supported");
  EXPECT_EQ(std::count(still.out.begin(), still.out.end(), '\n'), static_cast<long>(n))
      << still.out;
  EXPECT_EQ(leased_ids(), leased);  // the leases themselves are left alone
  auto status = run("status", "--json");
  EXPECT_TRUE(status.out.starts_with(
      "{\"pending\": " + std::to_string(600 - n) +
      ", \"processed\": 0, \"skipped\": {\"typetag_not_supported\": " + std::to_string(n) + "}"))
      << status.out;
}

}  // namespace
}  // namespace cybexp
