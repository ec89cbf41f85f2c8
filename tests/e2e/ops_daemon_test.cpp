// `run` as a daemon, watched from outside: /metrics scraped while it works
// and checked against `status --json`, and systemd's notify protocol seen on
// a socket the test owns (READY, STATUS, WATCHDOG, STOPPING).
#include <gtest/gtest.h>
#include <httplib.h>

#include <map>
#include <optional>
#include <regex>
#include <sstream>

#include "support/daemon.h"
#include "support/process.h"

namespace cybexp {
namespace {

using testing::Daemon;
using testing::eventually;
using testing::run_binary;

// "name{labels}" -> value, for every sample line.
std::map<std::string, double> parse_metrics(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const std::size_t space = line.rfind(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

std::uint64_t json_count(const std::string& json, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(json, m, std::regex("\"" + key + "\": (\\d+)"))) return UINT64_MAX;
  return std::stoull(m[1]);
}

class OpsDaemon : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(run_binary(dir_.path(), {"keygen"}).code, 0); }
  // Submits one entry per payload; returns the ciphertext bytes they take.
  std::uint64_t submit(const std::string& typetag, const std::vector<std::string>& payloads) {
    std::vector<std::string> args = {"submit", "--typetag", typetag, "--orgid", "o"};
    std::uint64_t bytes = 0;
    for (std::size_t i = 0; i < payloads.size(); ++i) {
      const std::string name = typetag + std::to_string(i);
      testing::write_file(dir_ / name, payloads[i]);
      args.push_back(name);
      bytes += 256 + 32 + payloads[i].size();  // RSA-2048 session key, nonce, tag, ciphertext
    }
    EXPECT_EQ(run_binary(dir_.path(), args).code, 0);
    return bytes;
  }
  testing::TempDir dir_;
};

TEST_F(OpsDaemon, MetricsScrapedWhileRunWorksAgreeWithStatus) {
  std::vector<std::string> events, unknown;
  for (int i = 0; i < 2000; ++i)
    events.push_back("{\"n\": " + std::to_string(i % 1700) + "}");  // 300 duplicates
  for (int i = 0; i < 200; ++i) unknown.push_back("{\"m\": " + std::to_string(i) + "}");
  const std::uint64_t bytes = submit("cowrie", events) + submit("no-such-feed", unknown);

  Daemon daemon(dir_.path(),
                {"run", "--workers", "2", "--batch", "32", "--metrics-listen", "127.0.0.1:0"});
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  std::smatch address;
  const std::string err = daemon.err();
  ASSERT_TRUE(std::regex_search(
      err, address, std::regex("serving metrics address=http://127\\.0\\.0\\.1:(\\d+)/metrics")))
      << err;
  const int port = std::stoi(address[1]);

  httplib::Client client("127.0.0.1", port);
  std::map<std::string, double> m;
  bool saw_work_in_progress = false;
  ASSERT_TRUE(eventually([&] {
    daemon.drain_notified();  // a STATUS every 2 s: see drain_notified
    auto res = client.Get("/metrics");
    if (!res || res->status != 200) return false;
    m = parse_metrics(res->body);
    const double processed = m["cybexp_archive_entries_processed_total"];
    if (processed > 0 && processed < 2000) saw_work_in_progress = true;
    // Done when the pass has ended and the loop sleeps: every entry is
    // counted and pending reads 0 a moment before the sleep is counted.
    return processed + m["cybexp_archive_entries_skipped_total{state=\"typetag_not_supported\"}"] ==
               2200 &&
           m["cybexp_archive_pending_entries"] == 0 && m["cybexp_archive_backoff_sleeps_total"] >= 1;
  })) << "last scrape: processed "
      << m["cybexp_archive_entries_processed_total"] << "\n"
      << daemon.err();
  EXPECT_TRUE(saw_work_in_progress);

  const std::string status = run_binary(dir_.path(), {"status", "--json"}).out;
  ASSERT_TRUE(status.starts_with(
      "{\"pending\": 0, \"processed\": 2000, \"skipped\": {\"typetag_not_supported\": 200}, "
      "\"documents\": 1700, "))
      << status;
  EXPECT_EQ(m["cybexp_archive_entries_processed_total"], json_count(status, "processed"));
  EXPECT_EQ(m["cybexp_archive_entries_skipped_total{state=\"typetag_not_supported\"}"],
            json_count(status, "typetag_not_supported"));
  EXPECT_EQ(m["cybexp_archive_entries_skipped_total{state=\"bad_data\"}"], 0);
  EXPECT_EQ(m["cybexp_archive_entries_skipped_total{state=\"error\"}"], 0);
  EXPECT_EQ(m["cybexp_archive_documents_new_total"], json_count(status, "documents"));
  EXPECT_EQ(m["cybexp_archive_documents_duplicate_total"],
            json_count(status, "processed") - json_count(status, "documents"));
  EXPECT_EQ(m["cybexp_archive_pending_entries"], json_count(status, "pending"));
  EXPECT_EQ(m["cybexp_archive_bytes_decrypted_total"], static_cast<double>(bytes));
  EXPECT_EQ(m["cybexp_archive_errors_total{kind=\"database\"}"], 0);
  EXPECT_EQ(m["cybexp_archive_workers"], 2);
  std::string version = run_binary(dir_.path(), {"--version"}).out;  // "cybexp-archive 0.1.0\n"
  version = version.substr(15, version.size() - 16);
  EXPECT_EQ(m["cybexp_archive_build_info{version=\"" + version + "\"}"], 1) << version;
  EXPECT_GE(m["cybexp_archive_batch_latency_seconds_count"], 1);
  EXPECT_EQ(m["cybexp_archive_batch_latency_seconds_bucket{le=\"+Inf\"}"],
            m["cybexp_archive_batch_latency_seconds_count"]);
  EXPECT_GE(m["cybexp_archive_backoff_sleeps_total"],
            1);  // the pass ended: pending was counted then

  auto other = client.Get("/");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
  EXPECT_EQ(daemon.stop(SIGTERM), 0) << daemon.err();
}

TEST_F(OpsDaemon, TellsSystemdReadyStatusWatchdogAndStopping) {
  submit("cowrie", {"{\"a\": 1}", "{\"a\": 2}", "{\"a\": 3}"});
  Daemon daemon(dir_.path(), {"run", "--workers", "1"},
                {{"WATCHDOG_USEC", "400000"}, {"WATCHDOG_PID", "$PID"}});
  const std::vector<std::string>& seen = daemon.notified();
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  EXPECT_EQ(seen.back(), "READY=1\nSTATUS=archiving: 3 pending");
  EXPECT_EQ(std::count(seen.begin(), seen.end(), "STATUS=starting: opening the stores"), 1);
  EXPECT_TRUE(daemon.wait_notified(
      [](const std::string& m) { return m.starts_with("STATUS=idle: 0 pending; next pass in "); }))
      << daemon.err();
  EXPECT_TRUE(daemon.wait_notified([](const std::string& m) { return m == "WATCHDOG=1"; }));
  EXPECT_TRUE(daemon.wait_notified([](const std::string& m) { return m == "WATCHDOG=1"; }))
      << "the watchdog pings go on while the loop sleeps";

  daemon.signal(SIGTERM);
  EXPECT_TRUE(daemon.wait_notified([](const std::string& m) { return m.starts_with("STOPPING=1"); }));
  EXPECT_EQ(seen.back(), "STOPPING=1\nSTATUS=stopping: finishing the entries in hand");
  // Not stop(): a second SIGTERM would leave a main thread that a busy
  // machine holds up for a second to exit 1 (OPERATIONS.md, "Signals").
  ASSERT_TRUE(daemon.wait(std::chrono::seconds(60))) << daemon.err();
  EXPECT_EQ(daemon.code(), 0) << daemon.err();
  EXPECT_EQ(run_binary(dir_.path(), {"status", "--json"}).out.substr(0, 31),
            "{\"pending\": 0, \"processed\": 3, ");
}

}  // namespace
}  // namespace cybexp
