// The small synchronisation pieces of the pipeline: a closable FIFO for tasks
// and a byte budget that bounds the blob bytes in flight.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>

namespace cybexp {

template <class T>
class TaskQueue {
 public:
  void push(T item) {
    {
      std::lock_guard lock(mu_);
      items_.push_back(std::move(item));
    }
    cv_.notify_one();
  }
  // Blocks until an item arrives or the queue is closed and empty.
  std::optional<T> pop() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }
  void close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> items_;
  bool closed_ = false;
};

// A counting semaphore in bytes. A request larger than the whole budget is
// granted when nothing else is held, so one huge blob can always proceed
// alone: peak memory stays within a small multiple of the largest blob.
class ByteBudget {
 public:
  explicit ByteBudget(std::uint64_t capacity) : capacity_(std::max<std::uint64_t>(capacity, 1)) {}

  // Returns the amount actually charged (pass it to release()).
  std::uint64_t acquire(std::uint64_t bytes) {
    std::unique_lock lock(mu_);
    ++waiters_;
    cv_.wait(lock, [&] { return held_ == 0 || held_ + bytes <= capacity_; });
    --waiters_;
    held_ += bytes;
    return bytes;
  }
  void release(std::uint64_t bytes) {
    {
      std::lock_guard lock(mu_);
      held_ -= std::min(bytes, held_);
    }
    cv_.notify_all();
  }
  bool has_waiters() {
    std::lock_guard lock(mu_);
    return waiters_ > 0;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t capacity_;
  std::uint64_t held_ = 0;
  int waiters_ = 0;
};

}  // namespace cybexp
