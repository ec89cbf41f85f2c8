// See run_signals.h.
#include "cli/run_signals.h"

#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "util/log.h"

namespace cybexp::cli {
namespace {

// How long a second stop signal waits for the releases already under way.
constexpr auto kSecondStopGrace = std::chrono::seconds(1);

const char* signal_name(int sig) {
  switch (sig) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    case SIGHUP:
      return "SIGHUP";
    case SIGUSR1:
      return "SIGUSR1";
    default:
      return "?";
  }
}

}  // namespace

SignalThread::SignalThread() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGTERM);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGHUP);
  sigaddset(&set_, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  // The destructor's wake-up call to the thread. It stays blocked for the
  // process's life, so that one arriving late (or sent by someone else)
  // never takes its default action, which is to terminate.
  sigset_t quit;
  sigemptyset(&quit);
  sigaddset(&quit, quit_signal());
  pthread_sigmask(SIG_BLOCK, &quit, nullptr);
  thread_ = std::jthread([this, waited = set_](std::stop_token self) mutable {
    sigaddset(&waited, quit_signal());
    while (!self.stop_requested()) {
      int sig = 0;
      if (sigwait(&waited, &sig) == 0 && sig != quit_signal()) take(sig);
    }
  });
}

// Without the signal the thread would sleep in sigwait until the next one:
// `run --once` would end only when its operator sends it SIGTERM.
SignalThread::~SignalThread() {
  thread_.request_stop();
  pthread_kill(thread_.native_handle(), quit_signal());
  thread_.join();
  pthread_sigmask(SIG_UNBLOCK, &set_, nullptr);
}

int SignalThread::quit_signal() { return SIGRTMIN; }

void SignalThread::on_reload(std::function<void()> fn) {
  std::lock_guard lock(callbacks_mu_);
  reload_ = std::move(fn);
}

void SignalThread::on_wake(std::function<void()> fn) {
  std::lock_guard lock(callbacks_mu_);
  wake_ = std::move(fn);
}

void SignalThread::on_second_stop(std::function<void()> fn) {
  std::lock_guard lock(callbacks_mu_);
  second_stop_ = std::move(fn);
}

// Once this returns no callback runs any more, so what they refer to may go.
void SignalThread::finished() {
  {
    std::lock_guard lock(callbacks_mu_);
    reload_ = nullptr;
    wake_ = nullptr;
    second_stop_ = nullptr;
  }
  {
    std::lock_guard lock(mu_);
    finished_ = true;
  }
  cv_.notify_all();
}

void SignalThread::take(int sig) {
  if (sig == SIGUSR1) {
    std::lock_guard lock(callbacks_mu_);
    log(LogLevel::kInfo, "SIGUSR1: starting the next pass now");
    if (wake_) wake_();
    return;
  }
  if (sig == SIGHUP) {
    std::lock_guard lock(callbacks_mu_);
    if (!reload_) {
      log(LogLevel::kWarning, "SIGHUP while the archive loop is not running: nothing reloaded");
      return;
    }
    log(LogLevel::kInfo, "reloading the configuration", {{"signal", "SIGHUP"}});
    reload_();
    return;
  }
  if (stop_.stop_requested()) {
    second_stop();
    return;
  }
  log(LogLevel::kInfo, "stopping: finishing the entries being decrypted, releasing the rest",
      {{"signal", signal_name(sig)}});
  stop_.request_stop();
}

// Interrupts whatever the stores do, gives the releases that follow a
// moment, and leaves: whoever sends a second signal wants the process gone.
void SignalThread::second_stop() {
  {
    std::lock_guard lock(callbacks_mu_);
    if (!second_stop_) return;  // finished, or not started: the exit is near anyway
    log(LogLevel::kWarning,
        "second stop signal: interrupting the stores and exiting; leases still held expire "
        "after lease_seconds");
    second_stop_();
  }
  std::unique_lock lock(mu_);
  if (cv_.wait_for(lock, kSecondStopGrace, [this] { return finished_; })) return;
  log(LogLevel::kError, "exiting at once (second stop signal)");
  _exit(kExitFailure);
}

}  // namespace cybexp::cli

// ---- Reloader ----------------------------------------------------------------

namespace cybexp::cli {
namespace {

void add(std::string& list, const std::string& name, bool changed) {
  if (changed) list += (list.empty() ? "" : ", ") + name;
}

// What a reload applies, by name, where it differs.
std::string applied_changes(const Config& old, const Config& now) {
  std::string list;
  add(list, "private_key", old.private_keys != now.private_keys);
  add(list, "public_key", old.public_key != now.public_key);
  const Limits& a = old.limits;
  const Limits& b = now.limits;
  add(list, "limits.max_blob_bytes", a.max_blob_bytes != b.max_blob_bytes);
  add(list, "limits.max_canonical_bytes", a.max_canonical_bytes != b.max_canonical_bytes);
  add(list, "limits.canonical_payload_factor",
      a.canonical_payload_factor != b.canonical_payload_factor);
  add(list, "limits.max_depth", a.max_depth != b.max_depth);
  add(list, "limits.entry_seconds", a.entry_seconds != b.entry_seconds);
  add(list, "limits.max_attempts", a.max_attempts != b.max_attempts);
  add(list, "log_level", old.log_level != now.log_level);
  return list;
}

bool same_target(const StoreConfig& a, const StoreConfig& b) {
  return a.url == b.url && a.db == b.db && a.coll == b.coll;
}

// What changed in the file but only takes effect at a restart.
std::string restart_changes(const Config& old, const Config& now) {
  std::string list;
  add(list, "cache", !same_target(old.cache, now.cache));
  add(list, "archive", !same_target(old.archive, now.archive));
  add(list, "lease_seconds", old.lease_seconds != now.lease_seconds);
  // The pipeline's byte budget is sized once, when `run` starts.
  add(list, "limits.memory_budget", old.limits.memory_budget != now.limits.memory_budget);
  const StoreTimeouts& a = old.timeouts;
  const StoreTimeouts& b = now.timeouts;
  add(list, "timeouts",
      a.statement_seconds != b.statement_seconds || a.lock_seconds != b.lock_seconds ||
          a.connect_seconds != b.connect_seconds || a.keepalive_seconds != b.keepalive_seconds);
  return list;
}

void keep_old(const std::string& why) {
  log(LogLevel::kError, "reload failed; keeping the old settings", {{"error", why}});
}

}  // namespace

Reloader::Reloader(const Context& ctx, Archiver& archiver, Config current)
    : ctx_(ctx), archiver_(archiver), current_(std::move(current)) {}

// Everything is read and checked before anything is applied.
void Reloader::operator()() {
  auto fresh = ctx_.read_config_again();
  if (!fresh) return keep_old(fresh.error().message);
  std::vector<PrivateKey> keys;
  for (const auto& path : fresh->private_keys) {
    auto key = PrivateKey::load_file(path);
    if (!key) return keep_old(key.error().message);
    keys.push_back(std::move(*key));
  }
  // `run` itself never encrypts; a public key file that is there must load.
  std::error_code ec;
  if (std::filesystem::exists(fresh->public_key, ec)) {
    auto key = PublicKey::load_file(fresh->public_key);
    if (!key) return keep_old(key.error().message);
  }
  const std::string changed = applied_changes(current_, *fresh);
  const std::string restart = restart_changes(current_, *fresh);
  if (fresh->log_level) log_apply_configured_level(*parse_log_level(*fresh->log_level));
  const std::size_t n_keys = keys.size();
  archiver_.reload(std::move(keys), fresh->limits);
  log(LogLevel::kInfo, "configuration reloaded",
      {{"changed", changed.empty() ? "nothing" : changed},
       {"private_keys", std::to_string(n_keys)},
       {"log_level", log_level_name(log_level())}});
  if (!restart.empty()) {
    log(LogLevel::kWarning, "changed settings that take effect only at a restart",
        {{"settings", restart}});
  }
  current_ = std::move(*fresh);
}

}  // namespace cybexp::cli
