// See run_monitor.h.
#include "ops/run_monitor.h"

#include <algorithm>
#include <cstdio>

#include "util/log.h"

namespace cybexp::ops {
namespace {

constexpr auto kPendingEvery = std::chrono::seconds(1);
constexpr auto kStatusEvery = std::chrono::seconds(2);

std::string one_decimal(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

RunMonitor::RunMonitor(std::size_t workers) {
  metrics_.set_workers(workers);
  beat();
  status("starting: opening the stores");
}

void RunMonitor::watch_liveness(double stall_seconds) {
  stall_seconds_ = stall_seconds;
  notifier_.set_liveness([this] { return alive(); });
}

// On run()'s thread: the loop is not stuck; it may now sleep sleep_seconds
// on purpose.
void RunMonitor::beat(double sleep_seconds) {
  const std::int64_t now = steady_ns();
  last_beat_.store(now);
  sleep_until_.store(now + static_cast<std::int64_t>(sleep_seconds * 1e9));
}

// On the watchdog thread.
bool RunMonitor::alive() {
  const std::int64_t since = std::max(last_beat_.load(), sleep_until_.load());
  const double stuck = static_cast<double>(steady_ns() - since) / 1e9;
  const bool ok = stuck <= stall_seconds_;
  if (ok == said_stuck_) {
    said_stuck_ = !ok;
    if (ok) {
      log(LogLevel::kInfo, "the archive loop moves again; watchdog pings resume");
    } else {
      log(LogLevel::kError,
          "the archive loop is stuck (a store call or a stage has run past its timeouts); "
          "watchdog pings stop, so that systemd restarts the service",
          {{"seconds", one_decimal(stuck)}});
    }
  }
  return ok;
}

Result<void> RunMonitor::serve_metrics(const ListenAddress& address) {
  server_ = CYBEXP_TRY(MetricsServer::start(address, [this] { return metrics_.render(); }));
  const ListenAddress& bound = server_->address();
  log(LogLevel::kInfo, "serving metrics", {{"address", "http://" + bound.text() + "/metrics"}});
  if (!bound.loopback()) {
    log(LogLevel::kWarning, "the metrics endpoint is reachable from other hosts; firewall it",
        {{"address", bound.text()}});
  }
  return {};
}

void RunMonitor::waiting(const std::string& why, double seconds) {
  beat(seconds);
  status("waiting for the stores: " + why);
}

void RunMonitor::publish_state(const std::filesystem::path& run_dir, const std::string& worker) {
  state_ = std::make_unique<StatePublisher>(run_dir);
  state_->state().worker = worker;
  state_->publish();
}

void RunMonitor::publish(const std::string& state, double next_pass_in) {
  if (!state_) return;
  DaemonState& s = state_->state();
  s.state = state;
  s.pending = pending_;
  s.next_pass_at = next_pass_in < 0 ? 0
                                    : std::chrono::duration<double>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                              .count() +
                                          next_pass_in;
  state_->publish();
}

void RunMonitor::attach(Archiver& archiver, CacheStore& cache, bool force) {
  cache_ = &cache;
  force_ = force;
  archiver.on_commit([this](const CommitReport& r) { on_commit(r); });
  archiver.on_backoff([this](int n, double s) { on_backoff(n, s); });
  archiver.on_pass_error([this](const Error& e) { on_pass_error(e); });
  archiver.on_alive([this] { beat(); });
  archiver.on_pass_start([this] { on_pass_start(); });
  archiver.on_idle([this](double left) { on_idle(left); });
}

void RunMonitor::ready() {
  refresh_pending();
  last_status_ = Clock::now();
  notifier_.ready("archiving: " + std::to_string(pending_) + " pending");
}

void RunMonitor::stopping() {
  stopping_ = true;
  notifier_.stopping("stopping: finishing the entries in hand");
}

void RunMonitor::status(const std::string& text) {
  if (!stopping_) notifier_.status(text);
}

// Worth a query only when someone can see the answer.
void RunMonitor::refresh_pending() {
  if (cache_ == nullptr || (!server_ && !notifier_.enabled() && !state_)) return;
  last_pending_ = Clock::now();
  auto n = cache_->count_claimable(force_);
  if (!n) {
    log(LogLevel::kDebug, "cannot count the backlog", {{"error", n.error().message}});
    return;
  }
  pending_ = *n;
  metrics_.set_pending(*n);
  if (server_) refresh_oldest();
}

// The first pending entry, oldest first, is the oldest upload waiting.
void RunMonitor::refresh_oldest() {
  EntryFilter pending;
  pending.state = "pending";
  double oldest = 0;
  auto r = cache_->for_each_entry(pending, [&](const EntryInfo& info) {
    oldest = info.entry.timestamp;
    return false;
  });
  if (!r) return;
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  metrics_.set_oldest_pending_age(oldest > 0 ? std::max(0.0, now - oldest) : 0.0);
}

// A pass woken early ends the sleep the watchdog was told of: from now on
// only the pass's own beats count.
void RunMonitor::on_pass_start() {
  beat();
  publish("archiving", -1);
}

void RunMonitor::on_idle(double seconds_left) {
  refresh_pending();
  beat(seconds_left);
  status("idle: " + std::to_string(pending_) + " pending; next pass in " +
         one_decimal(seconds_left) + " s");
  publish("idle", seconds_left);
}

void RunMonitor::on_commit(const CommitReport& report) {
  metrics_.record_commit(report);
  if (!report.error) done_ += report.done();
  const auto now = Clock::now();
  if (now - last_pending_ >= kPendingEvery) refresh_pending();
  if (now - last_status_ >= kStatusEvery) {
    const double seconds = std::chrono::duration<double>(now - last_status_).count();
    const double rate = static_cast<double>(done_ - done_at_status_) / seconds;
    status("archiving: " + one_decimal(rate) + " entries/s, " + std::to_string(pending_) +
           " pending");
    last_status_ = now;
    done_at_status_ = done_;
  }
}

void RunMonitor::on_pass_error(const Error& error) {
  metrics_.record_pass_error(error);
  pass_error_ = error.message;
}

void RunMonitor::on_backoff(int consecutive_failures, double seconds) {
  beat(seconds);
  metrics_.record_backoff(consecutive_failures, seconds);
  log(LogLevel::kDebug, "sleeping",
      {{"seconds", one_decimal(seconds)},
       {"consecutive_failures", std::to_string(consecutive_failures)}});
  if (pass_error_) {
    status("store failing (" + std::to_string(consecutive_failures) +
           " passes in a row): " + *pass_error_ + "; retrying in " + one_decimal(seconds) + " s");
    pass_error_.reset();
    publish("backoff", seconds);
  } else {
    refresh_pending();
    status("idle: " + std::to_string(pending_) + " pending; next pass in " + one_decimal(seconds) +
           " s (sooner when entries arrive)");
    publish("idle", seconds);
  }
  last_status_ = Clock::now();
  done_at_status_ = done_;
}

}  // namespace cybexp::ops
