// Output a person reads is safe: fields that came from uploads (typetag,
// name, orgid, timezone, reasons quoting them, a worker's name) are escaped
// in every text output and log line, so they can neither forge a row or a
// log line nor drive the terminal; --log-format json keeps stderr JSON lines
// on every path, errors included.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "cybexp/json_value.h"
#include "cybexp/store_factory.h"
#include "support/process.h"

namespace cybexp {
namespace {

using namespace std::string_literals;
using testing::run_binary;

// ESC sequences (clear screen, window title), \r and \t that would forge a
// row, \b, DEL, a C1 CSI (U+009B) and a byte that is not UTF-8.
const std::string kTypetag = "ev\x1b[2Jil";
const std::string kName = "x\r1\tprocessed\tcowrie\tforged\x1b]0;pwned\x07";
const std::string kBrokenTypetag =
    "no-feed\x9b"
    "31m";
const std::string kName2 = "n\xc2\x9b\x7f\bz";
const std::string kOrgid = "o\x1b[1m";
const std::string kTimezone = "UTC\r\n";
const std::string kWorker = "evil\x1b[2K\rworker";

std::string without_times(const std::string& text) {
  static const std::regex kIso(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)");
  static const std::regex kEpoch(R"(\(\d+(\.\d+)?\))");
  static const std::regex kSeconds(R"(\d+\.\d\d s, \d+\.\d entries/s)");
  return std::regex_replace(
      std::regex_replace(std::regex_replace(text, kIso, "TIME"), kEpoch, "(EPOCH)"), kSeconds, "S");
}

// Each line parses as strict JSON, is UTF-8 and holds no control byte.
std::vector<Value> json_log_lines(const std::string& err) {
  std::vector<Value> out;
  std::istringstream in(err);
  for (std::string line; std::getline(in, line);) {
    for (unsigned char c : line) EXPECT_TRUE(c >= 0x20 && c != 0x7f) << line;
    auto v = parse_json_strict(line, "stderr");
    EXPECT_TRUE(v.has_value()) << line << ": " << (v ? "" : v.error().message);
    if (v) out.push_back(std::move(*v));
  }
  return out;
}

std::string member(const Value& v, std::string_view key) {
  const Value* f = v.find(key);
  return f && f->is_string() ? f->as_string() : "<absent>";
}

class SafeOutput : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(run({"keygen"}).code, 0);
    testing::write_file(dir_ / "in.txt", "{\"a\": 1}");
  }
  testing::RunResult run(std::vector<std::string> args) { return run_binary(dir_.path(), args); }
  void submit(const std::string& typetag, const std::string& name, const std::string& orgid = "o",
              const std::string& timezone = "UTC") {
    auto r = run({"submit", "--typetag", typetag, "--orgid", orgid, "--timezone", timezone,
                  "--name", name, "in.txt"});
    ASSERT_EQ(r.code, 0) << r.err;
  }
  // Entry 1 hostile but UTF-8 (typetag_not_supported), 2 with a typetag that
  // is not UTF-8 (bad_data), 3 with a newline in its name.
  void hostile_entries() {
    submit(kTypetag, kName, kOrgid, kTimezone);
    submit(kBrokenTypetag, kName2);
    submit("new-feed", "line\nforged");
  }
  testing::TempDir dir_;
};

TEST_F(SafeOutput, EntriesAndStatusEscapeEveryUploadedField) {
  hostile_entries();
  ASSERT_EQ(run({"run", "--once"}).code, 0);
  auto entries = run({"entries"});
  ASSERT_EQ(entries.code, 0) << entries.err;
  EXPECT_EQ(entries.out,
            "1\ttypetag_not_supported\tev\\x1b[2Jil\tx\\r1\\tprocessed\\tcowrie\\tforged"
            "\\x1b]0;pwned\\x07\ttypetag \"ev\\\\u001b[2Jil\" not in the sub-type registry: add "
            "it with 'cybexp-archive subtypes add \"ev\\\\u001b[2Jil\" SUB_TYPE', then 'requeue "
            "--state typetag_not_supported'\n"
            "2\tbad_data\tno-feed\\x9b31m\tn\\xc2\\x9b\\x7f\\x08z\tthe entry's typetag is not "
            "valid UTF-8, so no store can hold its document: the uploader's metadata is damaged; "
            "upload the data again with valid metadata\n"
            "3\ttypetag_not_supported\tnew-feed\tline\\nforged\ttypetag \"new-feed\" not in the "
            "sub-type registry: add it with 'cybexp-archive subtypes add new-feed SUB_TYPE', "
            "then 'requeue --state typetag_not_supported'\n");

  // --json escapes every control and non-ASCII character; a byte that is not
  // UTF-8 shows as Python's surrogate escape, not dropped.
  auto json = run({"entries", "--json", "--state", "bad_data"});
  EXPECT_TRUE(
      json.out.starts_with("{\"id\": \"2\", \"name\": \"n\\u009b\\u007f\\bz\", "
                           "\"typetag\": \"no-feed\\udc9b31m\", "))
      << json.out;

  auto inspect = run({"inspect", "1"});
  ASSERT_EQ(inspect.code, 0) << inspect.err;
  EXPECT_EQ(without_times(inspect.out),
            "id          1\nname        x\\r1\\tprocessed\\tcowrie\\tforged\\x1b]0;pwned\\x07\n"
            "typetag     ev\\x1b[2Jil\norgid       o\\x1b[1m\ntimezone    UTC\\r\\n\n"
            "uploaded    TIME (EPOCH)\nblob        296 bytes\nstate       typetag_not_supported\n"
            "reason      typetag \"ev\\\\u001b[2Jil\" not in the sub-type registry: add it with "
            "'cybexp-archive subtypes add \"ev\\\\u001b[2Jil\" SUB_TYPE', then 'requeue --state "
            "typetag_not_supported'\nattempts    1\nlease       none\nfinished    TIME\n");
}

TEST_F(SafeOutput, AWorkerNameAndARegisteredTypetagAreEscapedToo) {
  hostile_entries();
  ASSERT_EQ(run({"subtypes", "add", kTypetag, "evil"}).code, 0);
  auto list = run({"subtypes", "list"});
  EXPECT_NE(list.out.find("ev\\x1b[2Jil\tevil\n"), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find('\x1b'), std::string::npos) << list.out;
  {
    // A lease held by a worker with a hostile name (the store takes any).
    const std::string db = (std::filesystem::canonical(dir_.path()) / "cybexp-data").string();
    auto stores = open_stores({"sqlite:" + db + "/cache.db", "", ""},
                              {"sqlite:" + db + "/archive.db", "", ""}, OpenMode::kReadWrite);
    ASSERT_TRUE(stores.has_value()) << stores.error().message;
    ClaimRequest claim;
    claim.worker = kWorker;
    claim.max_entries = 1;
    ASSERT_EQ(stores->cache->claim(claim).value().size(), 1u);
  }
  auto status = run({"status"});
  ASSERT_EQ(status.code, 0) << status.err;
  EXPECT_EQ(without_times(status.out),
            "pending     3\nprocessed   0\nskipped     0\ndocuments   0 (0 bytes of data)\n"
            "in flight   1 entries leased by evil\\x1b[2K\\rworker since TIME\n");
  auto requeue = run({"requeue", "--id", "1", "--state", "skipped"});
  ASSERT_EQ(requeue.code, 0) << requeue.err;
  EXPECT_EQ(without_times(requeue.out),
            "skipped 1: it is pending, which --state skipped does not select\n"
            "requeued 0 entries\n");
}

TEST_F(SafeOutput, LogLinesOfSkippedEntriesStayOneLineInTextAndJson) {
  hostile_entries();
  auto text = run({"run", "--once"});
  ASSERT_EQ(text.code, 0) << text.err;
  const std::string skipped1 =
      "info: entry skipped id=1 state=typetag_not_supported reason=\"typetag "
      "\\\"ev\\\\u001b[2Jil\\\" not in the sub-type registry: add it with 'cybexp-archive subtypes "
      "add \\\"ev\\\\u001b[2Jil\\\" SUB_TYPE', then 'requeue --state typetag_not_supported'\"\n";
  EXPECT_NE(text.err.find(skipped1), std::string::npos) << text.err;
  EXPECT_EQ(text.err.find('\x1b'), std::string::npos) << text.err;

  ASSERT_EQ(run({"requeue"}).out, "requeued 3 entries\n");
  auto json = run({"--log-format", "json", "run", "--once"});
  ASSERT_EQ(json.code, 0) << json.err;
  std::vector<Value> lines = json_log_lines(json.err);
  std::vector<std::string> skips;
  for (const Value& v : lines) {
    if (member(v, "msg") != "entry skipped") continue;
    skips.push_back(member(v, "id") + " " + member(v, "state") + " " + member(v, "reason"));
  }
  EXPECT_EQ(skips, (std::vector<std::string>{
                       "1 typetag_not_supported typetag \"ev\\u001b[2Jil\" not in the sub-type "
                       "registry: add it with 'cybexp-archive subtypes add \"ev\\u001b[2Jil\" "
                       "SUB_TYPE', then 'requeue --state typetag_not_supported'",
                       "2 bad_data the entry's typetag is not valid UTF-8, so no store can hold "
                       "its document: the uploader's metadata is damaged; upload the data again "
                       "with valid metadata",
                       "3 typetag_not_supported typetag \"new-feed\" not in the sub-type registry: "
                       "add it with 'cybexp-archive subtypes add new-feed SUB_TYPE', then "
                       "'requeue --state typetag_not_supported'"}));
}

// Every way a command can fail, with --log-format json: each stderr line a
// JSON object with level and msg, nothing else on stderr.
TEST_F(SafeOutput, JsonLogFormatHoldsOnEveryErrorPath) {
  testing::write_file(dir_ / "bad.json", "{\"cache\": 1}");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"frobnicate"}, "unknown command 'frobnicate' (see 'cybexp-archive --help')"},
      {{}, "a command is needed (see 'cybexp-archive --help')"},
      {{"-c"}, "option '-c' needs a value: the configuration file (see 'cybexp-archive --help')"},
      {{"entries", "--state", "bogus\x1b[2J"},
       "--state must be pending, processed, skipped, bad_data, error or typetag_not_supported, "
       "not 'bogus\x1b[2J' (see 'cybexp-archive entries --help')"},
      {{"inspect", "9\r\n"}, "no entry with id '9\r\n': 'cybexp-archive entries' lists them"},
      {{"requeue", "--id", "99"},
       "no entry with id '99': nothing was requeued; 'cybexp-archive entries' lists them"},
      {{"run", "--bogus"}, "unknown option '--bogus' (see 'cybexp-archive run --help')"},
  };
  ASSERT_EQ(run({"run", "--once"}).code, 0);  // the stores exist
  for (const auto& [args, message] : cases) {
    std::vector<std::string> argv = {"--log-format", "json"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run(argv);
    SCOPED_TRACE(r.err);
    EXPECT_NE(r.code, 0);
    std::vector<Value> lines = json_log_lines(r.err);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(member(lines[0], "level"), "error");
    EXPECT_EQ(member(lines[0], "msg"), message);  // decoded: the JSON escapes are gone
  }
  auto bad = run({"--log-format=json", "-c", "bad.json", "check"});
  EXPECT_EQ(bad.code, 2);
  std::vector<Value> lines = json_log_lines(bad.err);
  ASSERT_EQ(lines.size(), 1u) << bad.err;
  EXPECT_EQ(member(lines[0], "level"), "error");

  // check's warnings and problems: a missing public key warns (exit 0).
  std::filesystem::remove(dir_ / "cybexp-data/pub.pem");
  auto warned = run({"--log-format", "json", "check"});
  EXPECT_EQ(warned.code, 0) << warned.err;
  lines = json_log_lines(warned.err);
  ASSERT_EQ(lines.size(), 1u) << warned.err;
  EXPECT_EQ(member(lines[0], "level"), "warning");
  EXPECT_TRUE(
      member(lines[0], "msg")
          .ends_with("pub.pem: No such file or directory (only 'submit' needs the public key)"))
      << warned.err;
  // A key readable by others is a problem; the count ends it.
  std::filesystem::permissions(dir_ / "cybexp-data/priv.pem", std::filesystem::perms::group_read,
                               std::filesystem::perm_options::add);
  auto loose = run({"--log-format", "json", "check"});
  EXPECT_EQ(loose.code, 2);
  lines = json_log_lines(loose.err);
  ASSERT_EQ(lines.size(), 3u) << loose.err;
  EXPECT_EQ(member(lines[0], "level"), "error");
  EXPECT_TRUE(member(lines[0], "msg").starts_with("private key ")) << loose.err;
  EXPECT_EQ(member(lines[1], "level"), "warning");
  EXPECT_EQ(member(lines[2], "level"), "error");
  EXPECT_EQ(member(lines[2], "msg"), "check found 1 problem");
}

// libmongoc initialises itself before main, whatever the store; when a
// killed process with the same pid left /dev/shm/mongoc-PID behind, it used
// to print "Falling back to malloc for counters." bare on stderr (CI saw
// it: our tests kill processes, pids come round again).
TEST_F(SafeOutput, ALeftoverMongocCounterFileDoesNotBreakJsonLogs) {
  const std::vector<std::string> argv = {
      "/bin/sh", "-c", "touch /dev/shm/mongoc-$$ && exec \"$0\" --log-format json frobnicate",
      CYBEXP_BINARY};
  testing::Process p(dir_.path(), argv);
  testing::RunResult r = p.result(std::chrono::seconds(60));
  std::filesystem::remove("/dev/shm/mongoc-" + std::to_string(p.pid()));
  EXPECT_EQ(r.code, 2);
  std::vector<Value> lines = json_log_lines(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_EQ(member(lines[0], "msg"), "unknown command 'frobnicate' (see 'cybexp-archive --help')");
}

}  // namespace
}  // namespace cybexp
