// What `run` shows the outside world while it works: the metrics (served
// over HTTP when asked) and systemd's READY/STATUS/STOPPING/WATCHDOG, both
// fed from the Archiver's hooks.
//
// The backlog (pending_entries, oldest_pending_age_seconds, and the STATUS
// line) is counted on run()'s thread, inside the hooks, at most once a second
// while archiving, after every pass and every 30 s while the loop sleeps:
// stores are not thread-safe, so the HTTP threads only ever read the registry.
// The daemon's state (archiving, idle until when) also goes to the state file
// that `status` and `wake` read (daemon_state.h), when publish_state is
// called.
//
// The watchdog (watch_liveness): the Archiver's on_alive and on_backoff
// hooks are the loop's heartbeat; the pings go out while the last beat, or
// the end of a backoff sleep the loop chose, is at most `stall_seconds` ago.
// A store call or a stage stuck beyond that stops the pings, and systemd
// restarts the service (WatchdogSec later).
//
// Thread safety: attach()'s hooks run on run()'s thread; serve_metrics,
// watch_liveness, waiting and ready on the thread that calls run(), before
// it; stopping() may be called from any thread (the signal thread); the
// liveness check runs on the notifier's watchdog thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "cybexp/archiver.h"
#include "ops/archive_metrics.h"
#include "ops/daemon_state.h"
#include "ops/metrics_server.h"
#include "ops/service_notifier.h"

namespace cybexp::ops {

class RunMonitor {
 public:
  explicit RunMonitor(std::size_t workers);

  // Starts the endpoint and logs its address; kIo if it cannot bind.
  Result<void> serve_metrics(const ListenAddress& address);
  // STATUS while the stores cannot be opened; the loop sleeps `seconds`
  // before trying again (the watchdog counts that as alive).
  void waiting(const std::string& why, double seconds = 0);
  // Pings the watchdog only while the loop beat within stall_seconds.
  void watch_liveness(double stall_seconds);
  // Publishes the daemon's state into `run_dir` from now on (daemon_state.h).
  void publish_state(const std::filesystem::path& run_dir, const std::string& worker);
  // Installs on_commit, on_backoff, on_pass_error, on_alive, on_pass_start
  // and on_idle; `cache` is the store
  // run() uses, only ever read from run()'s thread.
  void attach(Archiver& archiver, CacheStore& cache, bool force);
  void ready();     // READY=1 with the backlog
  void stopping();  // STOPPING=1; later STATUS updates are dropped

  const ArchiveMetrics& metrics() const { return metrics_; }

 private:
  using Clock = std::chrono::steady_clock;

  void on_commit(const CommitReport& report);
  void on_backoff(int consecutive_failures, double seconds);
  void on_pass_error(const Error& error);
  void beat(double sleep_seconds = 0);
  bool alive();
  void on_pass_start();
  void on_idle(double seconds_left);
  void refresh_pending();
  void refresh_oldest();
  void publish(const std::string& state, double next_pass_in);
  void status(const std::string& text);

  ArchiveMetrics metrics_;
  ServiceNotifier notifier_;
  std::unique_ptr<MetricsServer> server_;
  std::unique_ptr<StatePublisher> state_;  // run()'s thread only
  std::atomic<bool> stopping_{false};

  // The heartbeat, in steady_clock nanoseconds: written on run()'s thread,
  // read on the watchdog thread.
  std::atomic<std::int64_t> last_beat_{0};
  std::atomic<std::int64_t> sleep_until_{0};
  double stall_seconds_ = 0;  // set before the watchdog reads it
  bool said_stuck_ = false;   // the watchdog thread only

  // run()'s thread only.
  CacheStore* cache_ = nullptr;
  bool force_ = false;
  std::uint64_t pending_ = 0;
  std::uint64_t done_ = 0;
  std::uint64_t done_at_status_ = 0;
  Clock::time_point last_pending_{};
  Clock::time_point last_status_{};
  std::optional<std::string> pass_error_;
};

}  // namespace cybexp::ops
