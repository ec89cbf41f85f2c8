// See daemon_state.h.
#include "ops/daemon_state.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "cybexp/json_value.h"
#include "util/log.h"

namespace cybexp::ops {
namespace fs = std::filesystem;
namespace {

double epoch_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string to_json(const DaemonState& s) {
  std::string worker;  // host names and pids: escape what JSON needs, nothing else
  for (char c : s.worker) {
    if (c == '"' || c == '\\') worker += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) worker += c;
  }
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "{\"pid\": %d, \"start_ticks\": %llu, \"worker\": \"%s\", \"state\": \"%s\", "
                "\"pending\": %llu, \"next_pass_at\": %.3f, \"updated_at\": %.3f}\n",
                s.pid, static_cast<unsigned long long>(s.start_ticks), worker.c_str(),
                s.state.c_str(), static_cast<unsigned long long>(s.pending), s.next_pass_at,
                s.updated_at);
  return buf;
}

double number(const Value* v) {
  if (v == nullptr) return 0;
  if (v->is_float()) return v->as_float();
  if (v->is_integer()) return std::strtod(v->as_integer().digits.c_str(), nullptr);
  return 0;
}

std::optional<DaemonState> parse_state(const fs::path& file) {
  std::ifstream in(file);
  std::ostringstream text;
  text << in.rdbuf();
  auto v = parse_json_strict(text.str(), file.string());
  if (!v || !v->is_object()) return std::nullopt;
  DaemonState s;
  s.pid = static_cast<int>(number(v->find("pid")));
  s.start_ticks = static_cast<std::uint64_t>(number(v->find("start_ticks")));
  s.pending = static_cast<std::uint64_t>(number(v->find("pending")));
  s.next_pass_at = number(v->find("next_pass_at"));
  s.updated_at = number(v->find("updated_at"));
  if (const Value* w = v->find("worker"); w != nullptr && w->is_string()) s.worker = w->as_string();
  if (const Value* st = v->find("state"); st != nullptr && st->is_string()) s.state = st->as_string();
  return s;
}

// The pid still names the process that wrote the file.
bool alive(const DaemonState& s) {
  if (s.pid <= 0) return false;
  if (kill(s.pid, 0) != 0 && errno != EPERM) return false;
  auto ticks = process_start_ticks(s.pid);
  return ticks && *ticks == s.start_ticks;
}

}  // namespace

std::optional<std::uint64_t> process_start_ticks(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces and ')': fields resume after the last ')'.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
    if (i == 22) return std::strtoull(field.c_str(), nullptr, 10);
  }
  return std::nullopt;
}

StatePublisher::StatePublisher(const fs::path& dir) {
  state_.pid = static_cast<int>(getpid());
  state_.start_ticks = process_start_ticks(state_.pid).value_or(0);
  file_ = dir / ("daemon-" + std::to_string(state_.pid) + ".json");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir, ec) || access(dir.c_str(), W_OK) != 0) {
    enabled_ = false;
    log(LogLevel::kWarning,
        "cannot publish the daemon's state: `status` will not show it and `wake` will not find "
        "it (set run_dir in the configuration; SIGUSR1 still wakes it)",
        {{"run_dir", dir.string()}, {"error", ec ? ec.message() : std::strerror(EACCES)}});
  }
}

StatePublisher::~StatePublisher() {
  std::error_code ec;
  if (enabled_) fs::remove(file_, ec);
}

void StatePublisher::publish() {
  if (!enabled_) return;
  state_.updated_at = epoch_seconds();
  const fs::path tmp = file_.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << to_json(state_);
    if (!out) {
      log(LogLevel::kDebug, "cannot write the daemon's state", {{"file", tmp.string()}});
      return;
    }
  }
  std::error_code ec;
  fs::permissions(tmp, fs::perms(0644), ec);
  fs::rename(tmp, file_, ec);
}

std::vector<DaemonState> read_daemons(const fs::path& dir) {
  std::vector<DaemonState> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!name.starts_with("daemon-") || !name.ends_with(".json")) continue;
    auto s = parse_state(e.path());
    if (s && alive(*s)) out.push_back(*s);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.pid < b.pid; });
  return out;
}

Result<std::vector<int>> wake_daemons(const fs::path& dir) {
  std::vector<int> woken;
  for (const auto& d : read_daemons(dir)) {
    if (kill(d.pid, SIGUSR1) != 0) {
      return make_error(ErrorKind::kIo, "cannot signal the daemon (pid " + std::to_string(d.pid) +
                                            "): " + std::strerror(errno) +
                                            " (run as its user or root)");
    }
    woken.push_back(d.pid);
  }
  if (woken.empty()) {
    return make_error(ErrorKind::kNotFound,
                      "no running daemon publishes its state in " + dir.string() +
                          " (is `run` running with this configuration? see run_dir)");
  }
  return woken;
}

}  // namespace cybexp::ops
