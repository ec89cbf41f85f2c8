// See store_wait.h; also the base CacheStore::wait_for_change (store.h).
#include "store/store_wait.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "cybexp/store.h"

namespace cybexp {

bool sleep_or_stop(double seconds, std::stop_token stop) {
  std::mutex m;
  std::condition_variable_any cv;
  // The mutex only serves the wait: stop requests wake it, nothing else.
  // cppcheck-suppress localMutex
  std::unique_lock lock(m);
  cv.wait_for(lock, stop, std::chrono::duration<double>(seconds), [] { return false; });
  return !stop.stop_requested();
}

StopFd::StopFd(std::stop_token stop) : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (fd_ < 0) return;
  const int fd = fd_;
  on_stop_.emplace(std::move(stop), std::function<void()>([fd] {
                     const std::uint64_t one = 1;
                     // Nothing to do if it fails: the counter is already non-zero.
                     [[maybe_unused]] auto n = write(fd, &one, sizeof one);
                   }));
}

StopFd::~StopFd() {
  on_stop_.reset();  // no callback may write after the close
  if (fd_ >= 0) close(fd_);
}

Result<bool> CacheStore::wait_for_change(double seconds, std::stop_token stop) {
  sleep_or_stop(seconds, std::move(stop));
  return false;
}

}  // namespace cybexp
