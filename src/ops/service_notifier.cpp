// See service_notifier.h.
#include "ops/service_notifier.h"

#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <string>

#include "util/terminal_text.h"

namespace cybexp::ops {

ServiceNotifier::ServiceNotifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket != nullptr && *socket != '\0';
  if (!enabled_) return;
  std::uint64_t usec = 0;
  // > 0: WATCHDOG_USEC is set and WATCHDOG_PID, if set, is this process.
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    interval_ = std::chrono::microseconds(usec / 2);
    watchdog_ = std::thread([this] {
      std::unique_lock lock(mu_);
      while (!quit_) {
        const std::function<bool()> alive = alive_;
        lock.unlock();
        if (!alive || alive()) send("WATCHDOG=1");
        lock.lock();
        cv_.wait_for(lock, *interval_, [this] { return quit_; });
      }
    });
  }
}

ServiceNotifier::~ServiceNotifier() {
  {
    std::lock_guard lock(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
}

void ServiceNotifier::set_liveness(std::function<bool()> alive) {
  std::lock_guard lock(mu_);
  alive_ = std::move(alive);
}

void ServiceNotifier::send(std::string_view message) {
  if (!enabled_) return;
  // Failures are ignored, as systemd's own daemons do: a lost status line
  // must not stop the archive.
  sd_notify(0, std::string(message).c_str());
}

namespace {

// STATUS= is one line of a newline-separated datagram, and `systemctl
// status` shows it on a terminal: a status quoting an error's text (a
// store's message may quote what an upload said) must neither add an
// assignment (a forged WATCHDOG=1 or READY=1) nor drive the terminal.
std::string status_assignment(std::string_view status) {
  return "STATUS=" + escape_for_terminal(status);
}

}  // namespace

void ServiceNotifier::ready(std::string_view status) {
  send("READY=1\n" + status_assignment(status));
}

void ServiceNotifier::status(std::string_view status) { send(status_assignment(status)); }

void ServiceNotifier::stopping(std::string_view status) {
  send("STOPPING=1\n" + status_assignment(status));
}

}  // namespace cybexp::ops
