// Power loss on the embedded store, as SQLite's own crash tests do it: a
// short but complete life of a machine (submit 16 uploads, `run --once`,
// submit 8 more, `run --once`), driven through the real stores and the real
// Archiver, with the power cut at one event of crash_vfs.h: right after each
// xSync, and at xWrites spread over the whole run (dropped, or torn), for the
// two-file layout (cache.db + archive.db) and the one-file layout. After each
// cut the files are rolled back to what was synced, and then:
//
//   at once:  PRAGMA integrity_check is ok on every file; every upload whose
//             add_entry returned an id before the cut is there; no processed
//             entry refers to a document the archive does not hold.
//   restart:  once the dead run's leases have run out, the real Archiver run
//             once processes every entry, and the archive holds exactly one
//             document per distinct payload among the entries.
//
// A 20,000-entry run checkpoints each file every 1000 pages (16 MiB of WAL);
// this run is 24 entries, so every connection here checkpoints every
// kCheckpointPages pages, which puts the same events (one file checkpointed
// and synced while the other's log is not) into a short run.
//
// Cut points per test: CYBEXP_CRASH_POINTS, else 150 (40 under AddressSanitizer
// or ThreadSanitizer). Each cut point is a fresh directory.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cybexp/archiver.h"
#include "cybexp/envelope.h"
#include "cybexp/parsemain.h"
#include "fault/crash_vfs.h"
#include "fault/fault_fixture.h"
#include "support/fake_clock.h"
#include "support/temp_dir.h"
#include "util/log.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CYBEXP_CRASH_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CYBEXP_CRASH_SANITIZED 1
#endif
#endif

namespace cybexp::testing {
namespace {

constexpr int kEntries = 24;
constexpr int kFirstSubmit = 16;  // then `run --once`, then the rest, then `run --once`
constexpr int kDistinct = 14;     // entry i carries payload i % kDistinct
constexpr int kLeaseSeconds = 1;
constexpr int kCheckpointPages = 8;
constexpr std::size_t kChunk = 100;  // cut points run before their restarts are checked

enum class Layout { kTwoFiles, kOneFile };

struct Upload {
  NewEntry entry;
  std::vector<std::uint8_t> blob;
  std::string hash;  // the document's _hash, from parsemain
};

const std::vector<Upload>& uploads() {
  static const std::vector<Upload> all = [] {
    std::vector<Upload> out;
    auto key = PublicKey::load_file(std::string(CYBEXP_TEST_DATA_DIR) + "/pub.pem");
    if (!key) return out;
    for (int i = 0; i < kEntries; ++i) {
      const int n = i % kDistinct;
      const std::string text = "{\"seq\": " + std::to_string(n) + ", \"src_ip\": \"10.1.0." +
                               std::to_string(n) + "\", \"msg\": \"power loss test " +
                               std::to_string(n) + "\"}";
      auto blob = encrypt_envelope(
          {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()}, *key);
      ParseOutcome parsed =
          parsemain(default_subtypes(), "unr-honeypot", "org-1", "UTC", text, Limits{});
      if (!blob || parsed.state != ParseState::kSuccess) return std::vector<Upload>{};
      out.push_back({{"e" + std::to_string(i), "unr-honeypot", "org-1", "UTC", 1.7e9 + i},
                     std::move(*blob),
                     parsed.document.hash});
    }
    return out;
  }();
  return all;
}

std::string hash_of(const std::string& name) {
  for (const Upload& u : uploads()) {
    if (u.entry.name == name) return u.hash;
  }
  return {};
}

// Every connection opened while it lives checkpoints every kCheckpointPages.
// sqlite3_open sets the default threshold after the automatic extensions
// run, so the extension only installs a statement trace that sets it when
// the connection first runs a statement (and again at each, which is cheap).
int set_small_checkpoints(unsigned, void* db, void*, void*) {
  sqlite3_wal_autocheckpoint(static_cast<sqlite3*>(db), kCheckpointPages);
  return 0;
}
int small_checkpoints(sqlite3* db, char**, const sqlite3_api_routines*) {
  return sqlite3_trace_v2(db, SQLITE_TRACE_STMT, set_small_checkpoints, db);
}
struct SmallCheckpoints {
  SmallCheckpoints() { sqlite3_auto_extension(reinterpret_cast<void (*)()>(small_checkpoints)); }
  ~SmallCheckpoints() {
    sqlite3_cancel_auto_extension(reinterpret_cast<void (*)()>(small_checkpoints));
  }
};

class Machine {
 public:
  Machine(Layout layout, std::filesystem::path dir) : layout_(layout), dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
  }

  Result<Stores> open() const {
    if (layout_ == Layout::kOneFile) return open_sqlite_combined((dir_ / "one.db").string());
    return open_stores({"sqlite:" + (dir_ / "cache.db").string(), "", ""},
                       {"sqlite:" + (dir_ / "archive.db").string(), "", ""});
  }
  // What `submit` opens.
  Result<std::shared_ptr<CacheStore>> open_cache() const {
    if (layout_ == Layout::kOneFile) {
      auto s = CYBEXP_TRY(open_sqlite_combined((dir_ / "one.db").string()));
      return s.cache;
    }
    return open_sqlite_cache((dir_ / "cache.db").string());
  }
  std::vector<std::filesystem::path> files() const {
    if (layout_ == Layout::kOneFile) return {dir_ / "one.db"};
    return {dir_ / "cache.db", dir_ / "archive.db"};
  }

 private:
  Layout layout_;
  std::filesystem::path dir_;
};

// PRAGMA integrity_check as the first connection after the reboot: read-write
// (it rebuilds the WAL index from the WAL), never creating the file.
std::string check_integrity(const std::filesystem::path& file) {
  sqlite3* db = nullptr;
  std::string result;
  if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    result = std::string("cannot open: ") + sqlite3_errmsg(db);
  } else {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nullptr) == SQLITE_OK) {
      int rc;
      while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (!result.empty()) result += "; ";
        result += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      }
      if (rc != SQLITE_DONE) result += std::string("; ") + sqlite3_errmsg(db);
    } else {
      result = std::string("cannot check: ") + sqlite3_errmsg(db);
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close_v2(db);
  return result;
}

// ---- the run the power goes out on ----

struct Life {
  crash::Counts events;
  std::string cut;                  // crash::reboot()'s line
  std::set<std::string> acked;      // names whose add_entry returned an id
  std::vector<std::string> problems;
  double lease_until = 0;           // the latest lease left behind
};

void submit(const Machine& m, int from, int to, Life& life) {
  auto cache = m.open_cache();
  if (!cache) return;
  for (int i = from; i < to; ++i) {
    const Upload& u = uploads()[static_cast<std::size_t>(i)];
    if (!(*cache)->add_entry(u.entry, u.blob)) return;
    life.acked.insert(u.entry.name);
  }
}

void archive_once(const Machine& m) {
  auto stores = m.open();
  if (!stores) return;
  FakeClock clock;  // backoffs after the cut are not slept
  FixedRandom random;
  RunOptions opt;
  opt.once = true;
  opt.workers = 2;
  opt.batch_entries = 4;
  opt.lease_seconds = kLeaseSeconds;
  (void)Archiver(*stores, test_keys(), Limits{}, opt, clock, random).run({});
}

// Fresh files, the machine's life until the power goes (or to its end), the
// files as the disk would show them after the reboot, and the checks that
// need no restart.
Life live(const Machine& m, const crash::Plan& plan) {
  Life life;
  {
    SmallCheckpoints small;
    crash::arm(plan);
    submit(m, 0, kFirstSubmit, life);
    if (!crash::power_lost()) archive_once(m);
    if (!crash::power_lost()) submit(m, kFirstSubmit, kEntries, life);
    if (!crash::power_lost()) archive_once(m);
    life.events = crash::counts();
    life.cut = crash::reboot();
  }

  for (const auto& file : m.files()) {
    if (!std::filesystem::exists(file)) continue;  // the cut came before it was made
    const std::string ok = check_integrity(file);
    if (ok != "ok") life.problems.push_back(file.filename().string() + ": integrity_check: " + ok);
  }
  auto stores = m.open();
  if (!stores) {
    life.problems.push_back("cannot open the stores: " + stores.error().message);
    return life;
  }
  std::set<std::string> docs;
  auto listed = stores->archive->for_each_document(std::nullopt, [&](const RawDocument& d) {
    docs.insert(d.hash);
    return true;
  });
  if (!listed) life.problems.push_back("cannot list documents: " + listed.error().message);
  std::set<std::string> present;
  auto r = stores->cache->for_each_entry({}, [&](const EntryInfo& i) {
    present.insert(i.entry.name);
    life.lease_until = std::max(life.lease_until, i.lease_until);
    for (const std::string& ref : i.refs) {
      if (!docs.contains(ref)) {
        life.problems.push_back(i.entry.name + " is processed but its document " +
                                ref.substr(0, 12) + "... is not in the archive");
      }
    }
    return true;
  });
  if (!r) life.problems.push_back("cannot list entries: " + r.error().message);
  for (const std::string& name : life.acked) {
    if (!present.contains(name)) {
      life.problems.push_back("submit of " + name + " was acknowledged, the entry is gone");
    }
  }
  return life;
}

// ---- the restart ----

void restart(const Machine& m, Life& life) {
  auto stores = m.open();
  if (!stores) {
    life.problems.push_back("restart: cannot open the stores: " + stores.error().message);
    return;
  }
  RunOptions opt;
  opt.once = true;
  opt.workers = 2;
  auto run = Archiver(*stores, test_keys(), Limits{}, opt).run({});
  if (!run) life.problems.push_back("restart: run --once failed: " + run.error().message);
  std::set<std::string> want;
  auto r = stores->cache->for_each_entry({}, [&](const EntryInfo& i) {
    if (i.state != kStateProcessed) {
      life.problems.push_back("restart: " + i.entry.name + " left " + i.state +
                              (i.reason.empty() ? "" : " (" + i.reason + ")"));
    }
    want.insert(hash_of(i.entry.name));
    return true;
  });
  if (!r) life.problems.push_back("restart: cannot list entries: " + r.error().message);
  std::multiset<std::string> docs;
  auto listed = stores->archive->for_each_document(std::nullopt, [&](const RawDocument& d) {
    docs.insert(d.hash);
    return true;
  });
  if (!listed) life.problems.push_back("restart: cannot list documents: " + listed.error().message);
  for (const std::string& h : docs) {
    if (docs.count(h) != 1) life.problems.push_back("restart: document " + h + " stored twice");
    if (!want.contains(h)) life.problems.push_back("restart: document " + h + " has no entry");
  }
  for (const std::string& h : want) {
    if (!docs.contains(h)) life.problems.push_back("restart: no document " + h.substr(0, 12));
  }
}

std::string kind_of(const std::string& problem) {
  if (problem.find("processed but") != std::string::npos) return "processed without its document";
  if (problem.find("acknowledged") != std::string::npos) return "acknowledged submit lost";
  if (problem.find("integrity") != std::string::npos) return "integrity_check failed";
  return "restart incomplete";
}

void wait_until(double epoch_seconds) {
  using namespace std::chrono;
  const double now = duration<double>(system_clock::now().time_since_epoch()).count();
  if (epoch_seconds > now) std::this_thread::sleep_for(duration<double>(epoch_seconds - now + 0.01));
}

// ---- cut points ----

std::size_t budget() {
  if (const char* env = std::getenv("CYBEXP_CRASH_POINTS")) {
    const long n = std::strtol(env, nullptr, 10);
    if (n > 0) return static_cast<std::size_t>(n);
  }
#ifdef CYBEXP_CRASH_SANITIZED
  return 40;
#else
  return 150;
#endif
}

// Right after every sync (spaced out if there are too many), then writes
// evenly over the whole run, up to `total` cut points.
std::vector<crash::Plan> cut_points(const crash::Counts& events, bool torn, std::size_t total) {
  std::vector<crash::Plan> plans;
  auto spread = [&](crash::Event event, std::uint64_t count, std::size_t want) {
    if (count == 0 || want == 0) return;
    want = std::min<std::size_t>(want, count);
    for (std::size_t k = 0; k < want; ++k) {
      const std::uint64_t n = 1 + (count - 1) * k / std::max<std::size_t>(want - 1, 1);
      if (!plans.empty() && plans.back().event == event && plans.back().n == n) continue;
      plans.push_back({event, n, torn});
    }
  };
  spread(crash::Event::kSync, events.syncs, total / 3);
  spread(crash::Event::kWrite, events.writes, total - plans.size());
  return plans;
}

void power_loss_everywhere(Layout layout, bool torn) {
  ASSERT_EQ(uploads().size(), static_cast<std::size_t>(kEntries));
  crash::Session session;
  // A dead disk warns at every release; the defaults come back at the end.
  log_configure(LogLevel::kError, LogFormat::kText);
  struct RestoreLog {
    ~RestoreLog() { log_configure(LogLevel::kInfo, LogFormat::kText); }
  } restore_log;
  TempDir root;

  // A run without a cut: the events to cut at, and the checks must pass.
  Machine dry(layout, root / "dry");
  Life whole = live(dry, {});
  restart(dry, whole);
  ASSERT_TRUE(whole.problems.empty()) << "without a power cut: " << whole.problems.front();
  ASSERT_GT(whole.events.syncs, 0u);

  const auto plans = cut_points(whole.events, torn, budget());
  std::size_t broken = 0, cut = 0;
  std::map<std::string, std::size_t> tally;  // kind of problem -> cut points that had it
  for (std::size_t first = 0; first < plans.size(); first += kChunk) {
    const std::size_t last = std::min(plans.size(), first + kChunk);
    TempDir chunk;
    std::vector<Life> lives;
    double leases = 0;
    for (std::size_t i = first; i < last; ++i) {
      lives.push_back(live(Machine(layout, chunk / std::to_string(i)), plans[i]));
      leases = std::max(leases, lives.back().lease_until);
    }
    wait_until(leases);  // the dead runs' leases run out, as after a reboot
    for (std::size_t i = first; i < last; ++i) {
      Life& life = lives[i - first];
      if (life.cut.starts_with("cut")) ++cut;
      if (life.problems.empty()) restart(Machine(layout, chunk / std::to_string(i)), life);
      if (life.problems.empty()) continue;
      ++broken;
      std::set<std::string> kinds;
      for (const std::string& p : life.problems) kinds.insert(kind_of(p));
      for (const std::string& k : kinds) ++tally[k];
      if (broken <= 5) {
        std::string all;
        for (std::size_t k = 0; k < life.problems.size() && k < 4; ++k) all += "\n    " + life.problems[k];
        if (life.problems.size() > 4) all += "\n    (" + std::to_string(life.problems.size() - 4) + " more)";
        ADD_FAILURE() << life.cut << all;
      }
    }
  }
  std::string summary;
  for (const auto& [kind, n] : tally) summary += "\n  " + std::to_string(n) + " x " + kind;
  std::printf("[ crash    ] %zu cut points (%zu took effect; run: %llu syncs, %llu writes), "
              "%zu broke an invariant%s\n",
              plans.size(), cut, static_cast<unsigned long long>(whole.events.syncs),
              static_cast<unsigned long long>(whole.events.writes), broken, summary.c_str());
  EXPECT_EQ(broken, 0u) << "of " << plans.size() << " cut points:" << summary;
  EXPECT_GE(plans.size(), std::min<std::size_t>(budget(), 20));
}

TEST(FaultPowerLoss, TwoFilesAtEverySyncAndAcrossWrites) {
  power_loss_everywhere(Layout::kTwoFiles, false);
}
TEST(FaultPowerLoss, TwoFilesTornWrites) { power_loss_everywhere(Layout::kTwoFiles, true); }
TEST(FaultPowerLoss, OneFileAtEverySyncAndAcrossWrites) {
  power_loss_everywhere(Layout::kOneFile, false);
}
TEST(FaultPowerLoss, OneFileTornWrites) { power_loss_everywhere(Layout::kOneFile, true); }

}  // namespace
}  // namespace cybexp::testing
