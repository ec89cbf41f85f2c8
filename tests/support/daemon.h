// The real cybexp-archive binary as a daemon (`run` without --once): a
// Process (support/process.h) with an AF_UNIX datagram socket of the test's
// own as systemd's NOTIFY_SOCKET, so a test waits for READY=1 instead of
// sleeping. Plus `eventually`, the bounded poll the end-to-end tests wait with.
//
//   Daemon daemon(dir, {"run", "--workers", "1"});
//   ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
//
// Thread safety: one Daemon per test thread.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/process.h"

namespace cybexp::testing {

// Polls pred every 20 ms until it holds (true) or timeout passes (false).
inline bool eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// An AF_UNIX datagram socket standing in for systemd's notify socket.
class NotifySocket {
 public:
  explicit NotifySocket(const std::filesystem::path& path) : path_(path.string()) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    bound_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) close(fd_);
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  bool bound() const { return bound_; }
  const std::string& path() const { return path_; }
  // Reads datagrams into `seen` until one satisfies pred (true) or 30 s pass.
  bool wait_for(const std::function<bool(const std::string&)>& pred,
                std::vector<std::string>& seen) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (bound_ && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 100) != 1) continue;
      char buf[4096];
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n < 0) return false;
      seen.emplace_back(buf, static_cast<std::size_t>(n));
      if (pred(seen.back())) return true;
    }
    return false;
  }
  // Reads every datagram already queued into `seen`, without waiting.
  void drain(std::vector<std::string>& seen) {
    pollfd p{fd_, POLLIN, 0};
    while (bound_ && poll(&p, 1, 0) == 1) {
      char buf[4096];
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n < 0) return;
      seen.emplace_back(buf, static_cast<std::size_t>(n));
    }
  }
  // Reads every datagram that arrives during `period` into `seen`.
  void collect_for(std::chrono::milliseconds period, std::vector<std::string>& seen) {
    const auto deadline = std::chrono::steady_clock::now() + period;
    while (bound_) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) != 1) continue;
      char buf[4096];
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n < 0) return;
      seen.emplace_back(buf, static_cast<std::size_t>(n));
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
};

// NOTIFY_SOCKET for a daemon started in dir: a fresh socket's path.
inline std::string notify_socket_path(const std::filesystem::path& dir) {
  static int counter = 0;
  return (dir / ("notify." + std::to_string(counter++) + ".sock")).string();
}

// The notify socket, bound before the daemon starts (a base, so it is
// constructed before the Process base).
struct NotifyEndpoint {
  explicit NotifyEndpoint(const std::filesystem::path& dir) : notify_(notify_socket_path(dir)) {}
  NotifySocket notify_;
};

class Daemon : private NotifyEndpoint, public Process {
 public:
  // env values equal to "$PID" become the child's own pid (WATCHDOG_PID).
  Daemon(const std::filesystem::path& dir, const std::vector<std::string>& args,
         std::vector<std::pair<std::string, std::string>> env = {})
      : NotifyEndpoint(dir),
        Process(dir, binary_argv(args), {with_socket(std::move(env), notify_.path()), {}, {}}) {}

  // Every notify message so far, oldest first.
  const std::vector<std::string>& notified() const { return seen_; }
  // Waits (30 s at most) for the daemon to tell systemd READY=1.
  bool wait_ready() {
    return wait_notified([](const std::string& m) { return m.starts_with("READY=1"); });
  }
  // Waits (30 s at most) for a notify message that satisfies pred.
  bool wait_notified(const std::function<bool(const std::string&)>& pred) {
    return notify_.wait_for(pred, seen_);
  }
  // The notify messages sent so far and not yet read (also added to
  // notified()). A test that watches the daemon a long while calls this
  // now and then: an unread socket fills up after net.unix.max_dgram_qlen
  // datagrams, and then the daemon's sd_notify blocks.
  std::vector<std::string> drain_notified() {
    const std::size_t before = seen_.size();
    notify_.drain(seen_);
    return {seen_.begin() + static_cast<std::ptrdiff_t>(before), seen_.end()};
  }
  // The notify messages that arrive during `period` (also added to notified()).
  std::vector<std::string> notified_during(std::chrono::milliseconds period) {
    const std::size_t before = seen_.size();
    notify_.collect_for(period, seen_);
    return {seen_.begin() + static_cast<std::ptrdiff_t>(before), seen_.end()};
  }

 private:
  static std::vector<std::pair<std::string, std::string>> with_socket(
      std::vector<std::pair<std::string, std::string>> env, const std::string& socket) {
    env.emplace_back("NOTIFY_SOCKET", socket);
    return env;
  }

  std::vector<std::string> seen_;
};

}  // namespace cybexp::testing
