// `run`: the archive loop as a Unix service. Signals (run_signals.h): the
// first SIGTERM/SIGINT stops claiming, finishes and commits the entries being
// decrypted, releases the rest and exits 0; a second exits at once; SIGHUP
// reloads keys, limits and log level; SIGUSR1 starts the next pass now
// (Archiver::wake).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <mutex>
#include <thread>

#include "cli/check_deep.h"
#include "cli/options.h"
#include "cli/run_signals.h"
#include "cybexp/archiver.h"
#include "ops/run_monitor.h"
#include "util/defer.h"
#include "util/log.h"

namespace cybexp::cli {
namespace {

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
success (capped by backoff.max_idle_seconds after passes without work). A
new or requeued entry ends such a sleep at once (PostgreSQL: LISTEN/NOTIFY;
SQLite: the file's data_version; MongoDB: a change stream on replica sets),
as do SIGUSR1 and `cybexp-archive wake`; a sleep after a store failure is
kept whole. The daemon's state (and when its next pass is due) is in
`status`. SIGTERM or SIGINT: finish the entries being decrypted, commit,
release the rest, exit 0 (a second signal: exit 1 at once). SIGHUP: read the
configuration again for the private and public keys, limits and log level.

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
  opt.max_idle_seconds = ctx.config().max_idle_seconds;
  opt.memory_budget = ctx.config().limits.memory_budget;
  const StoreTimeouts& timeouts = ctx.config().timeouts;
  opt.store_call_seconds = timeouts.longest_call();
  auto keys = ctx.private_keys();
  SignalThread stopper;  // before any thread starts
  if (opt.workers == 0) opt.workers = std::max(1u, std::thread::hardware_concurrency());
  ops::RunMonitor monitor(opt.workers);  // metrics, sd_notify (its watchdog thread)
  // A loop that shows no sign of life for longer than two store calls may
  // take (a commit is two) is stuck: the watchdog pings stop.
  monitor.watch_liveness(2 * timeouts.longest_call() + 1);
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
      monitor.waiting(s.error().message, wait);
      if (!system_clock().sleep_for(wait, stopper.token())) return kExitOk;
    }
  }
  Stores stores = std::move(*opened);
  // An archive file emptied or replaced under processed entries (a 0-byte
  // archive.db, which SQLite silently turns into a new database) would be
  // filled again from new entries only, and those entries would point at
  // nothing. Only for SQLite archives: there the check reads through WAL
  // and never waits for a lock; a server's table lock could hold the start
  // for lock_seconds, and `check` covers the servers.
  if (ctx.config().archive.url.starts_with("sqlite:")) {
    std::stop_callback interrupt_check(stopper.token(), [&stores] { stores.interrupt(); });
    if (auto lost = lost_archive(stores); !lost) {
      if (stopper.token().stop_requested()) return kExitOk;
      log(LogLevel::kWarning, "cannot check that the archive matches the cache; going on",
          {{"error", lost.error().message}});
    } else if (*lost) {
      fail(kExitFailure, **lost);
    }
  }
  Archiver archiver(stores, std::move(keys), ctx.config().limits, opt);
  Reloader reloader(ctx, archiver, ctx.config());
  stopper.on_reload([&reloader] { reloader(); });
  stopper.on_second_stop([&archiver] { archiver.interrupt_now(); });
  DEFER(stopper.finished());  // before reloader and archiver go
  log(LogLevel::kInfo, "archive loop starting",
      {{"worker", archiver.worker_id()}, {"once", opt.once ? "true" : "false"},
       {"force", opt.force ? "true" : "false"}});
  // The progress line redraws itself with \r: for a person, never in JSON logs.
  const bool tty = isatty(STDERR_FILENO) && opt.once && log_format() == LogFormat::kText;
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
  if (!opt.once) monitor.publish_state(ctx.config().run_dir, archiver.worker_id());
  stopper.on_wake([&archiver] { archiver.wake(); });
  {
    // READY counts the backlog first: a stop frees that count if it waits
    // for a lock (from run() on, the Archiver does this).
    std::stop_callback interrupt_count(stopper.token(), [&stores] { stores.interrupt(); });
    monitor.ready();
  }
  auto summary = archiver.run(stopper.token());
  stopper.finished();  // a second signal from here on waits for the exit
  if (tty) std::fputs("\n", stderr);
  if (!summary) fail(kExitFailure, summary.error().message);
  std::string line = summary_line(*summary);
  if (opt.once) print(line);
  line.pop_back();
  log(LogLevel::kInfo, "archive loop stopped", {{"summary", line}});
  return kExitOk;
}

}  // namespace cybexp::cli
