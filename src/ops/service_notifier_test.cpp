// A real AF_UNIX datagram socket stands in for systemd: it is set as
// NOTIFY_SOCKET and the test reads what sd_notify sent.
#include "ops/service_notifier.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>

#include "support/temp_dir.h"

namespace cybexp::ops {
namespace {

class NotifySocket {
 public:
  NotifySocket() {
    path_ = (dir_ / "notify.sock").string();
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    bound_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }
  ~NotifySocket() {
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    if (fd_ >= 0) close(fd_);
  }
  bool bound() const { return bound_; }
  // The next datagram, or nullopt after timeout_ms.
  std::optional<std::string> next(int timeout_ms = 5000) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1) return std::nullopt;
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }

 private:
  testing::TempDir dir_;
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
};

TEST(ServiceNotifier, SendsReadyStatusAndStopping) {
  NotifySocket sock;
  ASSERT_TRUE(sock.bound());
  ServiceNotifier n;
  EXPECT_TRUE(n.enabled());
  EXPECT_FALSE(n.watchdog_interval().has_value());
  n.ready("archiving: 12 pending");
  n.status("idle: 0 pending");
  n.stopping("stopping: finishing the entries in hand");
  EXPECT_EQ(sock.next(), "READY=1\nSTATUS=archiving: 12 pending");
  EXPECT_EQ(sock.next(), "STATUS=idle: 0 pending");
  EXPECT_EQ(sock.next(), "STOPPING=1\nSTATUS=stopping: finishing the entries in hand");
  EXPECT_EQ(sock.next(100), std::nullopt);
}

TEST(ServiceNotifier, AStatusCannotAddAnAssignmentOrDriveTheTerminal) {
  NotifySocket sock;
  ASSERT_TRUE(sock.bound());
  ServiceNotifier n;
  n.status("waiting for the stores: boom\nWATCHDOG=1\r\x1b[2J");
  n.ready("x\nREADY=1");
  EXPECT_EQ(sock.next(), "STATUS=waiting for the stores: boom\\nWATCHDOG=1\\r\\x1b[2J");
  EXPECT_EQ(sock.next(), "READY=1\nSTATUS=x\\nREADY=1");
}

TEST(ServiceNotifier, PingsTheWatchdogEveryHalfIntervalUntilDestroyed) {
  NotifySocket sock;
  ASSERT_TRUE(sock.bound());
  setenv("WATCHDOG_USEC", "200000", 1);
  setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  const auto start = std::chrono::steady_clock::now();
  {
    ServiceNotifier n;
    ASSERT_EQ(n.watchdog_interval(), std::chrono::microseconds(100000));
    for (int i = 0; i < 3; ++i) EXPECT_EQ(sock.next(), "WATCHDOG=1") << i;
  }
  // Three pings, the first at once, then every 100 ms.
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(200));
  std::optional<std::string> extra;
  while ((extra = sock.next(300))) EXPECT_EQ(*extra, "WATCHDOG=1");  // at most one more in flight
}

TEST(ServiceNotifier, WatchdogMeantForAnotherProcessIsIgnored) {
  NotifySocket sock;
  setenv("WATCHDOG_USEC", "200000", 1);
  setenv("WATCHDOG_PID", std::to_string(getpid() + 1).c_str(), 1);
  ServiceNotifier n;
  EXPECT_FALSE(n.watchdog_interval().has_value());
  EXPECT_EQ(sock.next(300), std::nullopt);
}

TEST(ServiceNotifier, DoesNothingOutsideSystemd) {
  unsetenv("NOTIFY_SOCKET");
  ServiceNotifier n;
  EXPECT_FALSE(n.enabled());
  n.ready("x");  // must not crash or block
  n.stopping("y");
}

}  // namespace
}  // namespace cybexp::ops
