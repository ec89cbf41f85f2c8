// Upstream's archive() loop (docs/UPSTREAM-FORMATS.md section 5): pass after
// pass (pass.h), with min(3600, 2**n + random) seconds of sleep between them,
// n counting the consecutive passes without a success (or with a database
// error).
#include <unistd.h>

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
    PassResult pass =
        Pass(PassSetup{stores_, keys_, limits_, options_, clock_, hooks_, committing_}, summary)
            .run(stop);
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
    const double s = backoff_seconds(n_failed, random_);
    if (hooks_.alive) hooks_.alive();
    if (backoff_) backoff_(n_failed, s);
    sleep(s, stop);
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
