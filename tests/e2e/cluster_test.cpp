// The cluster issue's acceptance tests against a real PostgreSQL server, with
// the real binary as workers: four `run` processes draining 20,000 entries
// while one is SIGKILLed and another stopped past its lease, and daemon
// workers living through a database restart. Both end with the same audit:
// every entry finished exactly once (a trigger logs each finishing) with the
// right _ref, the archive holding exactly the expected _hashes, and
// `status --json` agreeing.
#include <signal.h>

#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "cluster_support.h"
#include "cybexp/envelope.h"
#include "cybexp/json_value.h"
#include "cybexp/parsemain.h"
#include "cybexp/store_factory.h"

namespace cybexp::cluster {
namespace {

constexpr Seconds kDrainLimit{90};

struct Expected {
  std::string state;  // processed or typetag_not_supported
  std::string hash;   // when processed
};

struct Filled {
  std::map<std::string, Expected> by_id;
  std::set<std::string> hashes;  // the documents the archive must end with
  std::uint64_t processed = 0;
  std::uint64_t unsupported = 0;
};

// Adds `count` entries through the library (a process per entry would take
// minutes). Entry i carries payload i % distinct, so entries past `distinct`
// repeat earlier documents (deduplication across workers); every
// `unsupported_every`-th entry has a typetag the registry does not know. The
// expected _hash is computed here with parsemain, independently of the run.
Filled fill(const std::string& url, int count, int distinct, int unsupported_every) {
  auto key = PublicKey::load_file(std::string(CYBEXP_TEST_DATA_DIR) + "/pub.pem");
  if (!key) throw std::runtime_error(key.error().message);
  auto stores = open_stores({url, "", ""}, {url, "", ""});
  if (!stores) throw std::runtime_error(stores.error().message);
  Filled out;
  for (int i = 0; i < count; ++i) {
    const int n = i % distinct;
    const bool supported = unsupported_every == 0 || i % unsupported_every != unsupported_every - 1;
    const std::string typetag = supported ? "unr-honeypot" : "no-such-feed";
    const std::string text = "{\"seq\": " + std::to_string(n) + ", \"src_ip\": \"10.0." +
                             std::to_string(n / 256 % 256) + "." + std::to_string(n % 256) +
                             "\", \"msg\": \"cluster test event " + std::to_string(n) + "\"}";
    auto blob = encrypt_envelope({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()}, *key);
    if (!blob) throw std::runtime_error(blob.error().message);
    auto id = stores->cache->add_entry({"e" + std::to_string(i), typetag, "org-1", "UTC", 1.7e9 + i}, *blob);
    if (!id) throw std::runtime_error(id.error().message);
    Expected e;
    if (supported) {
      ParseOutcome parsed = parsemain(default_subtypes(), typetag, "org-1", "UTC", text, Limits{});
      if (parsed.state != ParseState::kSuccess) throw std::runtime_error(parsed.reason);
      e = {kStateProcessed, parsed.document.hash};
      out.hashes.insert(e.hash);
      ++out.processed;
    } else {
      e = {kStateNotSupported, ""};
      ++out.unsupported;
    }
    out.by_id.emplace(*id, std::move(e));
  }
  return out;
}

// The common ending of both tests: nothing pending or leased, each entry in
// its expected state, finished by exactly one worker, the archive's _hashes
// exactly the expected set, and status agreeing.
void expect_all_done_once(const std::string& url, const WorkDir& dir, const Filled& filled) {
  Db db(url);
  std::size_t wrong = 0;
  std::string first_wrong;
  auto rows = db.rows(
      "SELECT id, CASE WHEN processed THEN 'processed' WHEN skip THEN state ELSE 'pending' END,"
      " coalesce(array_to_string(refs, ','), ''), coalesce(lease_owner, '') "
      "FROM cybexp_entries ORDER BY id");
  ASSERT_EQ(rows.size(), filled.by_id.size());
  for (const auto& r : rows) {
    const Expected& e = filled.by_id.at(r[0]);
    if (r[1] != e.state || r[2] != e.hash || !r[3].empty()) {
      if (wrong++ == 0) first_wrong = r[0] + ": " + r[1] + " [" + r[2] + "] leased by '" + r[3] + "'";
    }
  }
  EXPECT_EQ(wrong, 0u) << "first: " << first_wrong;

  // Exactly once: one finishing per entry, no more, no fewer.
  auto finishes = db.rows("SELECT count(*), count(DISTINCT entry_id) FROM test_finishes");
  EXPECT_EQ(finishes[0][0], std::to_string(filled.by_id.size()));
  EXPECT_EQ(finishes[0][1], std::to_string(filled.by_id.size()));

  EXPECT_EQ(db.scalar("SELECT count(*) FROM cybexp_documents"),
            static_cast<long long>(filled.hashes.size()));
  EXPECT_EQ(db.scalar("SELECT count(*) FROM (SELECT hash FROM cybexp_documents GROUP BY hash "
                      "HAVING count(*) > 1) d"),
            0);
  auto exported = dir.run({"export"});
  ASSERT_EQ(exported.code, 0) << exported.err;
  std::multiset<std::string> hashes;
  std::istringstream lines(exported.out);
  for (std::string line; std::getline(lines, line);) {
    auto at = line.rfind("\"_hash\": \"");
    ASSERT_NE(at, std::string::npos) << line;
    hashes.insert(line.substr(at + 10, 64));
  }
  EXPECT_EQ(hashes.size(), filled.hashes.size());
  EXPECT_EQ(std::set<std::string>(hashes.begin(), hashes.end()), filled.hashes);

  auto status = dir.run({"status", "--json"});
  ASSERT_EQ(status.code, 0) << status.err;
  std::string skipped = filled.unsupported == 0
                            ? "{}"
                            : "{\"typetag_not_supported\": " + std::to_string(filled.unsupported) + "}";
  EXPECT_TRUE(status.out.starts_with("{\"pending\": 0, \"processed\": " + std::to_string(filled.processed) +
                                     ", \"skipped\": " + skipped + ", \"documents\": " +
                                     std::to_string(filled.hashes.size()) + ", "))
      << status.out;
  EXPECT_TRUE(status.out.ends_with("\"in_flight\": [], \"daemons\": []}\n")) << status.out;
}

// The in_flight item of `status --json` for `worker`, if listed.
std::optional<Value> in_flight_of(const std::string& status_json, const std::string& worker) {
  auto parsed = parse_json_strict(status_json, "status --json");
  if (!parsed) throw std::runtime_error(parsed.error().message);
  for (const Value& item : parsed->find("in_flight")->as_array()) {
    if (item.find("worker")->as_string() == worker) return item;
  }
  return std::nullopt;
}

// SIGSTOPs `worker` at a moment when it has no transaction open (its
// connections carry application_name `app`): stopped inside one, it would
// keep row locks that no lease expiry can take away, and the test would
// measure lock waits instead of leases. Retries a few times if unlucky.
bool stop_between_transactions(Child& worker, Db& db, const std::string& app) {
  const std::string stat = "/proc/" + std::to_string(worker.pid()) + "/stat";
  for (int attempt = 0; attempt < 50; ++attempt) {
    worker.signal(SIGSTOP);
    if (!poll_until(Seconds(5), [&] {
          std::string text = testing::read_file(stat);
          auto at = text.rfind(") ");
          return at != std::string::npos && text.size() > at + 2 && text[at + 2] == 'T';
        })) {
      return false;
    }
    // A statement already sent finishes on the server; then the backend is
    // either idle (good) or idle in transaction (try again).
    poll_until(Seconds(2), [&] {
      return db.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = '" + app +
                       "' AND state = 'active'") == 0;
    });
    if (db.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = '" + app +
                  "' AND xact_start IS NOT NULL") == 0) {
      return true;
    }
    worker.signal(SIGCONT);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// The ids `worker_like` (a LIKE pattern on lease_owner) holds, and its name.
std::pair<std::string, std::string> held_by(Db& db, const std::string& worker_like) {
  std::string ids, owner;
  for (const auto& r : db.rows("SELECT id, lease_owner FROM cybexp_entries WHERE lease_owner LIKE " +
                               worker_like + " ORDER BY id")) {
    ids += (ids.empty() ? "" : ",") + r[0];
    owner = r[1];
  }
  return {ids, owner};
}

std::string like_pid(const Child& c) { return "'%:" + std::to_string(c.pid()) + ":%'"; }

TEST(Cluster, FourWorkersOneKilledOneStalledEveryEntryFinishedOnce) {
  const std::string url = fresh_database("kill");
  // A short lease, so that the dead worker's entries come back within the
  // test; small batches keep a live worker's leases far shorter than that.
  WorkDir dir(url, url, 3);
  dir.add_config("stalled.json", url + "?application_name=cluster-stalled",
                 url + "?application_name=cluster-stalled", 3);
  const auto t0 = Clock::now();
  Filled filled = fill(url, 20000, 19000, 500);
  ASSERT_EQ(filled.unsupported, 40u);
  std::printf("[ info ] filled 20000 entries in %.1f s\n", Seconds(Clock::now() - t0).count());
  Db db(url);
  install_finish_log(db);

  const std::vector<std::string> run = {"run", "--once", "--workers", "1", "--batch", "20"};
  std::vector<std::unique_ptr<Child>> workers;
  for (int i = 0; i < 4; ++i) {
    workers.push_back(std::make_unique<Child>(dir, "w" + std::to_string(i), run,
                                              i == 1 ? "stalled.json" : "config.json"));
  }
  Child& victim = *workers[0];
  Child& stalled = *workers[1];

  // Mid-run: a fifth of the entries done, and the victim holding leases (or
  // the victim gone early, which fails below without waiting the limit out).
  ASSERT_TRUE(poll_until(kDrainLimit, [&] {
    auto r = db.rows("SELECT count(*) FILTER (WHERE processed OR skip), count(*) FILTER (WHERE "
                     "lease_owner LIKE " + like_pid(victim) + " AND lease_until >= now()) FROM cybexp_entries");
    return (std::stoll(r[0][0]) >= 4000 && std::stoll(r[0][1]) > 0) || victim.wait(Seconds(0));
  })) << "never mid-run with the victim holding leases";
  ASSERT_TRUE(victim.running()) << "the victim ended early: " << victim.err();
  victim.signal(SIGKILL);
  ASSERT_TRUE(victim.wait(Seconds(10)));
  EXPECT_EQ(victim.code(), 128 + SIGKILL);
  // The other worker only stops answering (a long GC pause, a partition):
  // its leases expire while it lives, and it comes back later.
  ASSERT_TRUE(stop_between_transactions(stalled, db, "cluster-stalled"));

  // What the two left leased: nobody may finish these under their names.
  const auto [victim_ids, victim_id] = held_by(db, like_pid(victim));
  const auto [stalled_ids, stalled_id] = held_by(db, like_pid(stalled));
  ASSERT_FALSE(victim_ids.empty());
  ASSERT_FALSE(stalled_ids.empty());
  const long long held = db.scalar("SELECT count(*) FROM cybexp_entries WHERE id IN (" + victim_ids +
                                   "," + stalled_ids + ")");

  // status shows the dead worker's entries in flight while its lease lives.
  auto status = dir.run({"status", "--json"});
  ASSERT_EQ(status.code, 0) << status.err;
  const long long live_after = db.scalar("SELECT count(*) FROM cybexp_entries WHERE lease_owner = '" +
                                         victim_id + "' AND lease_until >= now()");
  if (live_after > 0) {
    auto item = in_flight_of(status.out, victim_id);
    ASSERT_TRUE(item.has_value()) << status.out;
    const long long shown = std::stoll(item->find("entries")->as_integer().digits);
    EXPECT_GE(shown, live_after);
    EXPECT_LE(shown, db.scalar("SELECT count(*) FROM cybexp_entries WHERE id IN (" + victim_ids + ")"));
    ASSERT_TRUE(item->find("since")->is_float()) << status.out;
    const double age = static_cast<double>(std::time(nullptr)) - item->find("since")->as_float();
    EXPECT_GT(age, -5.0);
    EXPECT_LT(age, 60.0);
  } else {
    std::printf("[ info ] the dead worker's leases expired before status ran; not checked\n");
  }

  for (std::size_t i = 2; i < workers.size(); ++i) {
    ASSERT_TRUE(workers[i]->wait(kDrainLimit)) << "worker " << i << " did not finish";
    EXPECT_EQ(workers[i]->code(), 0) << workers[i]->err();
    EXPECT_TRUE(workers[i]->out().starts_with("processed ")) << workers[i]->out();
    EXPECT_GT(db.scalar("SELECT count(*) FROM test_finishes WHERE worker LIKE " + like_pid(*workers[i])), 0)
        << "worker " << i << " finished nothing";
  }
  // The running survivors finished or gave back everything they took.
  EXPECT_EQ(db.scalar("SELECT count(*) FROM cybexp_entries WHERE lease_owner IS NOT NULL AND "
                      "lease_owner NOT IN ('" + victim_id + "', '" + stalled_id + "')"),
            0);

  // Whatever the survivors could not take yet (a lease was still live when
  // they ran out of work) is claimable once it expires.
  ASSERT_TRUE(poll_until(Seconds(15), [&] {
    return db.scalar("SELECT count(*) FROM cybexp_entries WHERE lease_until >= now()") == 0;
  }));
  const long long leftover = unfinished(db);
  auto sweep = dir.run({"run", "--once", "--workers", "2"});
  ASSERT_EQ(sweep.code, 0) << sweep.err;
  unsigned long long swept_processed = 0, swept_skipped = 0;
  ASSERT_EQ(std::sscanf(sweep.out.c_str(), "processed %llu, skipped %llu", &swept_processed,
                        &swept_skipped),
            2)
      << sweep.out;
  EXPECT_EQ(static_cast<long long>(swept_processed + swept_skipped), leftover) << sweep.out;

  // The stalled worker wakes up with results for entries others have since
  // finished: its finish must not count, its documents must not duplicate.
  stalled.signal(SIGCONT);
  ASSERT_TRUE(stalled.wait(kDrainLimit));
  EXPECT_EQ(stalled.code(), 0) << stalled.err();

  // The entries both left were claimed again and finished by someone else.
  EXPECT_EQ(db.scalar("SELECT count(*) FROM cybexp_entries WHERE id IN (" + victim_ids + "," +
                      stalled_ids + ") AND attempts >= 2 AND (processed OR skip)"),
            held);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM test_finishes WHERE entry_id IN (" + victim_ids + "," +
                      stalled_ids + ") AND worker NOT IN ('" + victim_id + "', '" + stalled_id + "')"),
            held);
  for (const auto& r : db.rows("SELECT worker, count(*) FROM test_finishes GROUP BY worker ORDER BY 1")) {
    std::printf("[ info ] %s finished %s entries\n", r[0].c_str(), r[1].c_str());
  }
  std::printf("[ info ] dead and stalled workers held %lld entries; sweep took %lld; total %.1f s\n",
              held, leftover, Seconds(Clock::now() - t0).count());
  expect_all_done_once(url, dir, filled);
}

TEST(Cluster, DaemonWorkersRecoverFromADatabaseRestart) {
  const std::string url = fresh_database("restart");
  WorkDir dir(url, url, 3);
  // Each worker's connections carry its own application_name, so that
  // pg_stat_activity tells whether both came back after the restart.
  dir.add_config("w1.json", url + "?application_name=cluster-w1", url + "?application_name=cluster-w1", 3);
  dir.add_config("w2.json", url + "?application_name=cluster-w2", url + "?application_name=cluster-w2", 3);
  Filled filled = fill(url, 6000, 6000, 0);
  Db before(url);
  install_finish_log(before);

  const std::vector<std::string> run = {"run", "--workers", "1", "--batch", "20"};
  Child w1(dir, "w1", run, "w1.json"), w2(dir, "w2", run, "w2.json");
  ASSERT_TRUE(poll_until(kDrainLimit, [&] {
    return before.scalar("SELECT count(*) FROM cybexp_entries WHERE processed") >= 300;
  })) << w1.err() << w2.err();

  // The server goes away under the workers and stays away until both have
  // noticed; then it comes back on the same port with the same data. (If an
  // assertion ends the test early, the guard brings it back for the tests
  // that follow in this process.)
  struct StartAgain {
    ~StartAgain() {
      if (!server().running()) (void)server().start();
    }
  } start_again;
  ASSERT_TRUE(server().stop().has_value());
  const std::string noticed = "store failed; backing off and retrying";
  ASSERT_TRUE(poll_until(Seconds(30), [&] {
    return w1.err().find(noticed) != std::string::npos && w2.err().find(noticed) != std::string::npos;
  })) << "w1:\n" << w1.err() << "w2:\n" << w2.err();
  auto started = server().start();
  ASSERT_TRUE(started.has_value()) << started.error().message;

  Db db(url);
  // There was work left when the server went away.
  EXPECT_GT(unfinished(db), 0);
  ASSERT_TRUE(poll_until(Seconds(40), [&] {
    return db.scalar("SELECT count(DISTINCT application_name) FROM pg_stat_activity WHERE "
                     "application_name IN ('cluster-w1', 'cluster-w2')") == 2;
  })) << "a worker did not reconnect; w1:\n" << w1.err() << "w2:\n" << w2.err();
  ASSERT_TRUE(poll_until(kDrainLimit, [&] { return unfinished(db) == 0; }))
      << unfinished(db) << " entries left; w1:\n" << w1.err() << "w2:\n" << w2.err();

  // Nobody restarted them: both are the processes started above.
  EXPECT_FALSE(w1.wait(Seconds(0)));
  EXPECT_FALSE(w2.wait(Seconds(0)));
  w1.signal(SIGTERM);
  w2.signal(SIGTERM);
  ASSERT_TRUE(w1.wait(Seconds(20)));
  ASSERT_TRUE(w2.wait(Seconds(20)));
  EXPECT_EQ(w1.code(), 0) << w1.err();
  EXPECT_EQ(w2.code(), 0) << w2.err();
  expect_all_done_once(url, dir, filled);
}

}  // namespace
}  // namespace cybexp::cluster
