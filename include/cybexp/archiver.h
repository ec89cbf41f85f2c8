// Archiver: upstream's archive() loop (docs/UPSTREAM-FORMATS.md section 5),
// here passes of a pipeline that keeps every core busy:
//
//   claim (batches, leased) -> workers: archive_one -> group commit
//
// (src/archive/pass.h). Queues between the stages are bounded (in entries and
// in blob bytes), so memory stays flat however large the backlog. A database
// failure never skips an entry: the pass ends, leases are released, the loop
// backs off and tries again. A bad entry is skipped at once with a fate and a
// reason. On stop, the entries being decrypted are finished and committed;
// those claimed but not started are released, and a store call blocked on
// someone else's lock is interrupted (Stores::interrupt), unless it is a
// commit (a commit ends within the store's timeouts).
//
// Between passes it sleeps upstream's min(3600, 2**n + random) seconds. After
// a failed pass that sleep is kept whole (only stop ends it). After a pass
// without work it is spent in CacheStore::wait_for_change, so a new entry
// starts the next pass at once (at most one such pass per 0.2 s), and wake()
// (SIGUSR1, `cybexp-archive wake`) ends it too; the formula stays the bound
// on how often the stores are polled.
//
// Thread safety: an Archiver is driven by one thread (run); it starts and
// joins its own worker threads. The callbacks run on run()'s thread.
// reload() and interrupt_now() may be called from any thread (a signal
// thread), as may the stop request of run()'s stop token. wake()
// may be called from any thread at any time.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "cybexp/clock.h"
#include "cybexp/entry_state.h"
#include "cybexp/envelope.h"
#include "cybexp/limits.h"
#include "cybexp/store.h"

namespace cybexp {

struct RunOptions {
  std::size_t workers = 0;          // 0: one per core
  bool once = false;                // drain what is claimable, then return
  bool force = false;               // also retry skipped entries, each once a pass
  std::optional<std::uint64_t> limit;  // stop after this many entries
  std::size_t batch_entries = 256;  // entries claimed per transaction
  std::uint64_t memory_budget = Limits{}.memory_budget;  // working memory of large entries in flight (limits.memory_budget)
  int lease_seconds = 300;
  std::string worker_id;            // lease holder name; empty: host:pid:random
  int once_max_failures = 5;        // --once gives up after this many failed passes
  // The longest one store call may take (StoreTimeouts::longest_call()):
  // with limits.entry_seconds, how long workers may go without finishing an
  // entry before the pass stops reporting itself alive (on_alive).
  double store_call_seconds = 40;
  // Cap on the sleep after a pass without work (backoff.max_idle_seconds);
  // failure backoffs keep upstream's formula whatever this says.
  double max_idle_seconds = 3600;
};

// Counts of committed finishes: an entry counts once, when its mark commits.
struct FinishCounts {
  std::uint64_t processed = 0;       // entries marked processed
  std::uint64_t new_documents = 0;
  std::uint64_t duplicates = 0;      // processed entries whose document was already archived
  std::map<EntryFate, std::uint64_t> skipped;  // skip fate -> entries
  std::uint64_t lost_leases = 0;     // results dropped: another worker took the entry
  std::uint64_t bytes = 0;           // ciphertext bytes read for committed entries
  std::uint64_t done() const;        // processed + skipped
  void add(const FinishCounts& other);
};

struct RunSummary : FinishCounts {
  std::uint64_t failed_passes = 0;
  double seconds = 0;
};

struct Progress {
  std::uint64_t done = 0;
  std::uint64_t total = 0;  // claimable when the pass started (0 if unknown)
  double seconds = 0;
};

// One group commit, for metrics and status reporting.
struct CommitReport : FinishCounts {
  double seconds = 0;                // claim-to-commit latency of the oldest entry
  std::optional<Error> error;        // the commit (or a fetch) failed
};

class Archiver {
 public:
  Archiver(Stores stores, std::vector<PrivateKey> keys, Limits limits, RunOptions options,
           Clock& clock = system_clock(), RandomSource& random = system_random());

  // Upstream's archive(): passes until stop (or, with once, until nothing is
  // left to claim). Returns an error only when --once gives up on the store.
  Result<RunSummary> run(std::stop_token stop);

  // Starts the next pass now: ends an idle sleep at once; during a pass,
  // another pass follows it without sleeping; during a failure backoff,
  // nothing (the pass after the backoff is that next pass).
  void wake();

  // Called at most a few times a second.
  void on_progress(std::function<void(const Progress&)> fn) { hooks_.progress = std::move(fn); }
  // Called as each pass begins.
  void on_pass_start(std::function<void()> fn) { pass_start_ = std::move(fn); }
  // Called after each pass with the sleep about to happen.
  void on_backoff(std::function<void(int n_failed, double seconds)> fn) { backoff_ = std::move(fn); }
  // Called after every group commit (or failed commit).
  void on_commit(std::function<void(const CommitReport&)> fn) { hooks_.commit = std::move(fn); }
  // Called when a pass ends on a store failure (once per failed pass, before
  // its backoff), for error metrics.
  void on_pass_error(std::function<void(const Error&)> fn) { pass_error_ = std::move(fn); }
  // Called whenever the loop shows it is not stuck: after each store call of
  // a pass (claim, commit, release), while workers finish entries, and
  // before each backoff sleep (on_backoff says how long). Not called while a
  // store call or the workers are stuck: the watchdog's liveness signal.
  void on_alive(std::function<void()> fn) { hooks_.alive = std::move(fn); }

  // New keys and limits (a reload), taken at the next pass boundary; a
  // backoff sleep in progress ends early so that the next pass uses them.
  void reload(std::vector<PrivateKey> keys, Limits limits);
  // Interrupts the stores' running calls whatever they are (a commit too):
  // for a second stop signal.
  void interrupt_now() const { stores_.interrupt(); }
  // Called at least every 30 s during a sleep between passes (not at its
  // end), with the seconds left, so that gauges can be refreshed; the stores
  // are free to use from it.
  void on_idle(std::function<void(double seconds_left)> fn) { idle_ = std::move(fn); }

  const std::string& worker_id() const { return options_.worker_id; }

  // What a pass reports to its observers (src/archive/pass.h).
  struct Hooks {
    std::function<void(const Progress&)> progress;
    std::function<void(const CommitReport&)> commit;
    std::function<void()> alive;
  };

 private:
  Stores stores_;
  std::vector<PrivateKey> keys_;
  Limits limits_;
  RunOptions options_;
  Clock& clock_;
  RandomSource& random_;
  Hooks hooks_;
  std::function<void(int, double)> backoff_;
  std::function<void(const Error&)> pass_error_;
  std::atomic<bool> committing_{false};  // a commit is running: a stop does not interrupt it

  struct Settings {
    std::vector<PrivateKey> keys;
    Limits limits;
  };
  void take_reloaded_settings();
  bool sleep(double seconds, std::stop_token stop);
  std::mutex reload_mu_;                 // guards reloaded_, nap_, wake_pending_, idle_nap_
  std::optional<Settings> reloaded_;     // waiting for the next pass
  std::stop_source* nap_ = nullptr;      // the backoff sleep in progress, if any
  std::function<void(double)> idle_;
  std::function<void()> pass_start_;

  // Sleeps after a pass without work, until `seconds` pass, the cache
  // store reports a change, wake(), reload() or stop.
  void sleep_until_work(double seconds, std::stop_token stop);
  double last_pass_end_ = 0;  // clock_.now() when the last pass ended
  bool wake_pending_ = false;  // guarded by reload_mu_: wake() since the last pass began
  bool idle_nap_ = false;      // guarded by reload_mu_: nap_ is an idle sleep (wake() ends it)
};

}  // namespace cybexp
