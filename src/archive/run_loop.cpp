// Upstream's archive() loop (docs/UPSTREAM-FORMATS.md section 5): pass after
// pass (pass.h), with min(3600, 2**n + random) seconds of sleep between them,
// n counting the consecutive passes without a success (or with a database
// error). A sleep after a pass without work ends early when the cache store
// hears of new entries, or on wake() (archiver.h).
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "archive/pass.h"
#include "cybexp/archiver.h"
#include "util/encoding.h"
#include "util/log.h"

namespace cybexp {
namespace {

std::string default_worker_id() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "unknown");
  std::uint8_t nonce[4];
  for (auto& b : nonce) b = static_cast<std::uint8_t>(system_random().randint(0, 255));
  return std::string(host) + ":" + std::to_string(getpid()) + ":" + to_hex(nonce);
}

// Gauges are refreshed at least this often while the loop sleeps.
constexpr double kIdleRefreshSeconds = 30;
// A change the store reports starts a pass no sooner than this after the
// previous pass ended, so a stream of uploads costs at most five passes a
// second however they arrive (a burst arriving during a pass is taken by it).
constexpr double kMinPassGapSeconds = 0.2;

}  // namespace

Archiver::Archiver(Stores stores, std::vector<PrivateKey> keys, Limits limits, RunOptions options,
                   Clock& clock, RandomSource& random)
    : stores_(std::move(stores)),
      keys_(std::move(keys)),
      limits_(limits),
      options_(std::move(options)),
      clock_(clock),
      random_(random) {
  if (options_.workers == 0) options_.workers = std::max(1u, std::thread::hardware_concurrency());
  if (options_.batch_entries == 0) options_.batch_entries = 1;
  if (options_.worker_id.empty()) options_.worker_id = default_worker_id();
}

Result<RunSummary> Archiver::run(std::stop_token stop) {
  RunSummary summary;
  const double started = clock_.now();
  int n_failed = 0;
  int consecutive_db_failures = 0;
  // A stop request (the signal thread) frees a call blocked on someone
  // else's lock; a commit in progress is left to finish within its timeouts.
  std::stop_callback interrupt_blocked(stop, [this] {
    if (!committing_.load()) stores_.interrupt();
  });
  while (!stop.stop_requested()) {
    take_reloaded_settings();
    {
      std::lock_guard lock(reload_mu_);
      wake_pending_ = false;  // this pass is the one asked for
    }
    if (pass_start_) pass_start_();
    PassResult pass = Pass(PassSetup{stores_, keys_, limits_, options_, clock_, hooks_, committing_},
                           summary)
                          .run(stop);
    last_pass_end_ = clock_.now();
    if (stop.stop_requested()) {
      // A failure now is most likely the interrupt of a blocked call.
      if (pass.db_error) {
        log(LogLevel::kInfo, "stopped during a store call", {{"error", pass.db_error->message}});
      }
      break;
    }
    if (pass.db_error) {
      ++n_failed;
      ++consecutive_db_failures;
      ++summary.failed_passes;
      log(LogLevel::kWarning, "store failed; backing off and retrying",
          {{"error", pass.db_error->message}, {"consecutive_failures", std::to_string(n_failed)}});
      if (pass_error_) pass_error_(*pass.db_error);
      if (options_.once && consecutive_db_failures >= options_.once_max_failures) {
        summary.seconds = clock_.now() - started;
        return make_error(ErrorKind::kDatabase,
                          pass.db_error->message + " (gave up after " +
                              std::to_string(consecutive_db_failures) +
                              " attempts: check the store, then run again)");
      }
    } else {
      consecutive_db_failures = 0;
      n_failed = pass.successes > 0 ? 0 : n_failed + 1;
      if (options_.once || pass.limit_reached) break;
    }
    double s = backoff_seconds(n_failed, random_);
    if (!pass.db_error) s = std::min(s, std::max(0.0, options_.max_idle_seconds));
    if (hooks_.alive) hooks_.alive();
    if (backoff_) backoff_(n_failed, s);
    if (pass.db_error) {
      sleep(s, stop);  // upstream's backoff, whole: no new entry nor wake() ends it
    } else {
      sleep_until_work(s, stop);
    }
  }
  summary.seconds = clock_.now() - started;
  return summary;
}

// The backoff sleep: ends at a stop request or when reload() brings new
// settings.
bool Archiver::sleep(double seconds, std::stop_token stop) {
  std::stop_source nap;
  std::stop_callback on_stop(stop, [&nap] { nap.request_stop(); });
  {
    std::lock_guard lock(reload_mu_);
    if (reloaded_) return true;
    nap_ = &nap;
  }
  clock_.sleep_for(seconds, nap.get_token());
  std::lock_guard lock(reload_mu_);
  nap_ = nullptr;
  return !stop.stop_requested();
}

void Archiver::reload(std::vector<PrivateKey> keys, Limits limits) {
  std::lock_guard lock(reload_mu_);
  reloaded_ = Settings{std::move(keys), limits};
  if (nap_ != nullptr) nap_->request_stop();
}

// At a pass boundary: no Pass refers to keys_ or limits_.
void Archiver::take_reloaded_settings() {
  std::lock_guard lock(reload_mu_);
  if (!reloaded_) return;
  keys_ = std::move(reloaded_->keys);
  limits_ = reloaded_->limits;
  reloaded_.reset();
  log(LogLevel::kInfo, "new keys and limits in use",
      {{"private_keys", std::to_string(keys_.size())}});
}

void Archiver::wake() {
  std::lock_guard lock(reload_mu_);
  wake_pending_ = true;
  if (nap_ != nullptr && idle_nap_) nap_->request_stop();
}

void Archiver::sleep_until_work(double seconds, std::stop_token stop) {
  std::stop_source interrupt;  // stop, wake() or reload()
  std::stop_callback forward_stop(stop, [&interrupt] { interrupt.request_stop(); });
  {
    std::lock_guard lock(reload_mu_);
    if (reloaded_) return;
    nap_ = &interrupt;
    idle_nap_ = true;
    if (wake_pending_) interrupt.request_stop();
  }
  const Clock::ChangeWait wait = [this](double s, std::stop_token t) -> Result<bool> {
    const double gap = std::min(s, last_pass_end_ + kMinPassGapSeconds - clock_.now());
    if (gap > 0 && !clock_.sleep_for(gap, t)) return false;
    return stores_.cache->wait_for_change(s - std::max(gap, 0.0), std::move(t));
  };
  const double deadline = clock_.now() + seconds;
  bool changed = false;
  double left = seconds;
  while (left > 0 && !interrupt.stop_requested() && !changed) {
    const double slice = std::min(left, kIdleRefreshSeconds);
    auto r = clock_.wait_for_change(slice, interrupt.get_token(), wait);
    if (!r) {
      log(LogLevel::kDebug, "cannot wait for new entries; sleeping instead",
          {{"error", r.error().message}});
      clock_.sleep_for(slice, interrupt.get_token());
    }
    changed = r && *r;
    if (!changed && idle_ && !interrupt.stop_requested() && deadline - clock_.now() > 0) {
      idle_(deadline - clock_.now());
    }
    left = deadline - clock_.now();
  }
  bool woken = false;
  {
    std::lock_guard lock(reload_mu_);
    nap_ = nullptr;
    idle_nap_ = false;
    woken = wake_pending_;
  }
  if (stop.stop_requested()) return;
  if (woken) log(LogLevel::kInfo, "woken up on request: starting a pass");
  if (changed) log(LogLevel::kDebug, "new entries: starting a pass");
}

std::uint64_t FinishCounts::done() const {
  std::uint64_t n = processed;
  for (const auto& [fate, count] : skipped) n += count;
  return n;
}

void FinishCounts::add(const FinishCounts& other) {
  processed += other.processed;
  new_documents += other.new_documents;
  duplicates += other.duplicates;
  for (const auto& [fate, n] : other.skipped) skipped[fate] += n;
  lost_leases += other.lost_leases;
  bytes += other.bytes;
}

}  // namespace cybexp
