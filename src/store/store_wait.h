// Helpers for CacheStore::wait_for_change (store.h) shared by the backends:
// a sleep that a stop request ends, and a file descriptor that becomes
// readable when a stop is requested, so that a backend can poll() its
// database socket and the stop request at once.
//
// Thread safety: StopFd is made, polled and destroyed by one thread; the
// stop request that triggers it may come from any thread.
#pragma once

#include <functional>
#include <optional>
#include <stop_token>

namespace cybexp {

// Sleeps `seconds`, or less when stop is requested. False if stopped.
bool sleep_or_stop(double seconds, std::stop_token stop);

// An eventfd that is readable once `stop` is requested.
class StopFd {
 public:
  explicit StopFd(std::stop_token stop);
  ~StopFd();
  StopFd(const StopFd&) = delete;
  StopFd& operator=(const StopFd&) = delete;

  int fd() const { return fd_; }  // -1 if no eventfd could be made

 private:
  int fd_ = -1;
  std::optional<std::stop_callback<std::function<void()>>> on_stop_;
};

}  // namespace cybexp
