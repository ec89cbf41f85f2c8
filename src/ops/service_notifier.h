// Tells systemd (Type=notify) how the service is doing, through libsystemd's
// sd_notify: READY=1 once the stores are open and the keys loaded, STATUS=
// lines for `systemctl status`, STOPPING=1 on a stop request, and WATCHDOG=1
// every half WatchdogSec from a timer thread of its own, so the pings go on
// while the loop sleeps in a backoff of up to an hour. The timer thread pings
// only while the liveness check (set_liveness) says the loop is alive, so a
// loop stuck in a store call or a stage loses its pings and systemd restarts
// it; without a check it pings whenever it runs.
//
// Outside systemd (no NOTIFY_SOCKET) every call is a no-op.
//
// Thread safety: every method may be called from any thread; sd_notify sends
// one datagram per call and keeps no state.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>

namespace cybexp::ops {

class ServiceNotifier {
 public:
  // Reads NOTIFY_SOCKET and WATCHDOG_USEC/WATCHDOG_PID; starts the watchdog
  // thread when systemd asks for pings.
  ServiceNotifier();
  ~ServiceNotifier();  // stops the watchdog thread
  ServiceNotifier(const ServiceNotifier&) = delete;
  ServiceNotifier& operator=(const ServiceNotifier&) = delete;

  bool enabled() const { return enabled_; }
  // Half of WATCHDOG_USEC, when the watchdog is on.
  std::optional<std::chrono::microseconds> watchdog_interval() const { return interval_; }

  // The watchdog thread pings only when alive() returns true. alive is
  // called on that thread, every half WatchdogSec.
  void set_liveness(std::function<bool()> alive);

  void ready(std::string_view status);
  void status(std::string_view status);
  void stopping(std::string_view status);

 private:
  void send(std::string_view message);

  bool enabled_ = false;
  std::optional<std::chrono::microseconds> interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool quit_ = false;
  std::function<bool()> alive_;  // guarded by mu_
  std::thread watchdog_;
};

}  // namespace cybexp::ops
