// `run`: the archive loop as a Unix service. SIGTERM/SIGINT stop claiming,
// finish and commit the entries in hand, and exit 0. Signals are taken by a
// dedicated thread (sigwait), so no handler runs inside the pipeline.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <thread>

#include "cli/check_deep.h"
#include "cli/options.h"
#include "cybexp/archiver.h"
#include "ops/run_monitor.h"
#include "util/log.h"

namespace cybexp::cli {
namespace {

// Blocks SIGTERM/SIGINT in every thread (call before starting any) and turns
// them into a stop request.
class SignalStopper {
 public:
  SignalStopper() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    thread_ = std::jthread([this](std::stop_token self) {
      const timespec tick{0, 200'000'000};
      while (!self.stop_requested()) {
        int sig = sigtimedwait(&set_, nullptr, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
          log(LogLevel::kInfo, "stopping: finishing the entries in hand",
              {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
          source_.request_stop();
        }
      }
    });
  }
  ~SignalStopper() {
    thread_.request_stop();
    thread_.join();
    pthread_sigmask(SIG_UNBLOCK, &set_, nullptr);
  }
  std::stop_token token() { return source_.get_token(); }

 private:
  sigset_t set_;
  std::stop_source source_;
  std::jthread thread_;
};

std::string format_rate(double per_second) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", per_second);
  return buf;
}

std::string summary_line(const RunSummary& s) {
  std::string line = "processed " + std::to_string(s.processed);
  std::uint64_t skipped = 0;
  std::string by_state;
  for (const auto& [fate, n] : s.skipped) {
    skipped += n;
    by_state += (by_state.empty() ? "" : ", ") + std::string(state_name(fate)) + " " +
                std::to_string(n);
  }
  line += ", skipped " + std::to_string(skipped);
  if (!by_state.empty()) line += " (" + by_state + ")";
  line += ", new documents " + std::to_string(s.new_documents) + ", duplicates " +
          std::to_string(s.duplicates);
  if (s.lost_leases > 0) line += ", lost leases " + std::to_string(s.lost_leases);
  char tail[128];
  const double rate = s.seconds > 0 ? static_cast<double>(s.done()) / s.seconds : 0;
  std::snprintf(tail, sizeof tail, "; %.2f s, %.1f entries/s, %.1f MB/s", s.seconds, rate,
                s.seconds > 0 ? static_cast<double>(s.bytes) / 1e6 / s.seconds : 0.0);
  return line + tail + "\n";
}

}  // namespace

int cmd_run(Context& ctx, std::vector<char*> args) {
  static const char* kHelp = R"(usage: cybexp-archive run [--once] [--force-process] [--limit N] [--workers N] [--batch N]
                          [--metrics-listen [HOST:]PORT]

The archive loop (upstream's archive()): claims pending entries, decrypts,
parses and archives them, marks each processed or skipped, and sleeps
min(3600, 2^n + random) seconds between passes, n counting passes without
success. SIGTERM or SIGINT: finish the entries in hand, commit, exit 0.

  --once            process what is pending now, print a summary, exit
  --force-process   also retry skipped entries (upstream -f)
  --limit N         stop after N entries
  --workers N       decrypting threads (default: one per core)
  --batch N         entries claimed per transaction (default 256)
  --metrics-listen [HOST:]PORT
                    serve Prometheus metrics at http://HOST:PORT/metrics
                    (off by default; a bare PORT listens on 127.0.0.1 only)

Under systemd (Type=notify) it reports READY, STATUS, STOPPING and, with
WatchdogSec, WATCHDOG pings.
)";
  RunOptions opt;
  std::optional<ops::ListenAddress> metrics;
  auto rest = parse_options(args,
                            {{"once", false}, {"force-process", false}, {"limit", true},
                             {"workers", true}, {"batch", true}, {"run-once", false},
                             {"metrics-listen", true}},
                            kHelp, [&](const std::string& name, const char* value) {
                              if (name == "once" || name == "run-once") opt.once = true;
                              if (name == "force-process") opt.force = true;
                              if (name == "limit") opt.limit = parse_count(name, value, 1, UINT64_MAX, "run");
                              if (name == "workers") opt.workers = parse_count(name, value, 1, 256, "run");
                              if (name == "batch") opt.batch_entries = parse_count(name, value, 1, 10000, "run");
                              if (name == "metrics-listen") {
                                auto a = ops::parse_listen_address(value);
                                if (!a) usage_error(a.error().message, "run");
                                metrics = *a;
                              }
                            });
  if (!rest.empty()) usage_error("run takes no arguments", "run");
  opt.lease_seconds = ctx.config().lease_seconds;  // after --help, which needs no configuration
  auto keys = ctx.private_keys();
  SignalStopper stopper;  // before any thread starts
  if (opt.workers == 0) opt.workers = std::max(1u, std::thread::hardware_concurrency());
  ops::RunMonitor monitor(opt.workers);  // metrics, sd_notify (its watchdog thread)
  if (metrics) must(monitor.serve_metrics(*metrics));
  std::stop_callback notify_stop(stopper.token(), [&] { monitor.stopping(); });

  // Upstream connects retrying with backoff: a database that is not up yet
  // (boot order, failover) is waited for, not a reason to exit.
  std::optional<Stores> opened;
  for (int n = 0; !opened;) {
    auto s = open_stores(ctx.config().cache, ctx.config().archive);
    if (s) {
      opened = std::move(*s);
    } else if (s.error().kind != ErrorKind::kDatabase || opt.once) {
      fail(s.error());
    } else {
      const double wait = backoff_seconds(++n, system_random());
      log(LogLevel::kWarning, "cannot open the stores; retrying",
          {{"error", s.error().message}, {"seconds", format_rate(wait)}});
      monitor.waiting(s.error().message);
      if (!system_clock().sleep_for(wait, stopper.token())) return kExitOk;
    }
  }
  Stores stores = std::move(*opened);
  // An archive emptied or replaced under processed entries would be filled
  // again from new entries only, and those entries would point at nothing.
  if (auto lost = must(lost_archive(stores))) fail(kExitFailure, *lost);
  Archiver archiver(stores, std::move(keys), ctx.config().limits, opt);
  log(LogLevel::kInfo, "archive loop starting",
      {{"worker", archiver.worker_id()}, {"once", opt.once ? "true" : "false"},
       {"force", opt.force ? "true" : "false"}});
  const bool tty = isatty(STDERR_FILENO) && opt.once;
  double last_draw = -1;
  if (tty) {
    archiver.on_progress([&](const Progress& p) {
      if (p.seconds - last_draw < 0.2 && p.done < p.total) return;
      last_draw = p.seconds;
      const double rate = p.seconds > 0 ? static_cast<double>(p.done) / p.seconds : 0;
      std::string eta = "?";
      if (rate > 0 && p.total >= p.done) eta = std::to_string(static_cast<long>(std::ceil((p.total - p.done) / rate))) + "s";
      std::fprintf(stderr, "\r%llu/%llu entries  %s/s  ETA %s   ", static_cast<unsigned long long>(p.done),
                   static_cast<unsigned long long>(p.total), format_rate(rate).c_str(), eta.c_str());
    });
  }
  monitor.attach(archiver, *stores.cache, opt.force);  // also logs each backoff sleep
  monitor.ready();
  auto summary = archiver.run(stopper.token());
  if (tty) std::fputs("\n", stderr);
  if (!summary) fail(kExitFailure, summary.error().message);
  std::string line = summary_line(*summary);
  if (opt.once) print(line);
  line.pop_back();
  log(LogLevel::kInfo, "archive loop stopped", {{"summary", line}});
  return kExitOk;
}

}  // namespace cybexp::cli
