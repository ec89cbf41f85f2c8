// `wake`, and what `status` shows of running daemons: both read the state
// files `run` publishes in run_dir (src/ops/daemon_state.h).
#include <chrono>
#include <cstdio>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/options.h"
#include "ops/daemon_state.h"
#include "util/terminal_text.h"

namespace cybexp::cli {
namespace {

double epoch_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", s);
  return buf;
}

}  // namespace

std::string daemon_status(const Config& config, bool json) {
  const auto daemons = ops::read_daemons(config.run_dir);
  std::string out;
  for (const auto& d : daemons) {
    if (json) {
      out += std::string(out.empty() ? "" : ", ") + "{\"pid\": " + std::to_string(d.pid) +
             ", \"worker\": " + json_str(d.worker) + ", \"state\": " + json_str(d.state) +
             ", \"next_pass_at\": " + (d.next_pass_at > 0 ? number(d.next_pass_at) : "null") + "}";
      continue;
    }
    // The file is the daemon's, but run_dir may be writable by others: escaped.
    out += "daemon      pid " + std::to_string(d.pid) + " (" + escape_for_terminal(d.worker) +
           "): " + escape_for_terminal(d.state);
    if (d.next_pass_at > 0 && (d.state == "idle" || d.state == "backoff")) {
      const double left = d.next_pass_at - epoch_now();
      out += "; next pass " + (left > 0 ? "in " + seconds_text(left) : std::string("due now")) +
             " (" + utc(d.next_pass_at) + ")";
      if (d.state == "idle") out += ", sooner when entries arrive";
    }
    out += "\n";
  }
  return json ? "[" + out + "]" : out;
}

int cmd_wake(Context& ctx, std::vector<char*> args) {
  static const char* kHelp = R"(usage: cybexp-archive wake

Starts the next pass of every `run` daemon of this configuration now, as
SIGUSR1 does: it ends an idle sleep at once (a sleep after a store failure
keeps its length). The daemons are found by the state files they publish in
run_dir (default /run/cybexp-archive with a configuration file; the
packaged unit's RuntimeDirectory). Run it as the daemon's user or root.
Under systemd, `systemctl kill -s USR1 cybexp-archive` does the same.
Exit 1 when no daemon is running.
)";
  auto rest = parse_options(args, {}, kHelp, [](const std::string&, const char*) {});
  if (!rest.empty()) usage_error("wake takes no arguments", "wake");
  const auto woken = must(ops::wake_daemons(ctx.config().run_dir));
  std::string out;
  for (int pid : woken) out += "woke pid " + std::to_string(pid) + "\n";
  print(out);
  return kExitOk;
}

}  // namespace cybexp::cli
