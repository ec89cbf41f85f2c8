// Tells systemd (Type=notify) how the service is doing, through libsystemd's
// sd_notify: READY=1 once the stores are open and the keys loaded, STATUS=
// lines for `systemctl status`, STOPPING=1 on a stop request, and WATCHDOG=1
// every half WatchdogSec from a timer thread of its own, so the pings go on
// while the loop sleeps in a backoff of up to an hour. The timer thread does
// nothing but ping: it proves the process is alive and scheduled, which is
// what the watchdog can check without false alarms during long sleeps.
//
// Outside systemd (no NOTIFY_SOCKET) every call is a no-op.
//
// Thread safety: every method may be called from any thread; sd_notify sends
// one datagram per call and keeps no state.
#pragma once

#include <chrono>
#include <condition_variable>
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
  std::thread watchdog_;
};

}  // namespace cybexp::ops
