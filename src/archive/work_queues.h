// The small synchronisation pieces of the pipeline (pass.h): a closable FIFO
// for tasks, a list of finished items handed to the committing thread, and a
// byte budget that bounds the working memory of the entries in flight.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

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
  // Workers finish what is queued, then pop() returns nullopt.
  void close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }
  // Takes every item still queued (never started), leaving the queue open.
  std::vector<T> take_all() {
    std::lock_guard lock(mu_);
    std::vector<T> out;
    out.reserve(items_.size());
    for (auto& item : items_) out.push_back(std::move(item));
    items_.clear();
    return out;
  }
  // As close(), but what is still queued is dropped: its items were never
  // started. Returns how many.
  std::size_t cancel() {
    std::size_t dropped;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      dropped = items_.size();
      items_.clear();
    }
    cv_.notify_all();
    return dropped;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> items_;
  bool closed_ = false;
};

// Finished items, handed from workers to the committing thread, which sleeps
// until `wanted` items are there (or a time out): workers wake it once per
// group rather than once per entry, since with small entries a wake-up per
// entry costs a context switch per RSA operation.
template <class T>
class DoneList {
 public:
  void push(T item) {
    bool wake;
    {
      std::lock_guard lock(mu_);
      items_.push_back(std::move(item));
      wake = items_.size() >= wanted_;
    }
    if (wake) cv_.notify_one();
  }
  // Waits up to `seconds` for at least `wanted` items; moves everything into out.
  void take(std::vector<T>& out, std::size_t wanted, double seconds) {
    std::unique_lock lock(mu_);
    wanted_ = std::max<std::size_t>(wanted, 1);
    cv_.wait_for(lock, std::chrono::duration<double>(seconds),
                 [&] { return items_.size() >= wanted_; });
    wanted_ = 1;
    for (auto& item : items_) out.push_back(std::move(item));
    items_.clear();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<T> items_;
  std::size_t wanted_ = 1;
};

// A counting semaphore in bytes. A request larger than the whole budget is
// granted when nothing else is held, so one huge blob can always proceed
// alone: peak memory stays within a small multiple of the largest blob.
class ByteBudget {
 public:
  explicit ByteBudget(std::uint64_t capacity) : capacity_(std::max<std::uint64_t>(capacity, 1)) {}

  // Returns the amount actually charged (pass it to release()); 0 once
  // cancelled, so no worker waits on a pass that has ended.
  std::uint64_t acquire(std::uint64_t bytes) {
    std::unique_lock lock(mu_);
    ++waiters_;
    cv_.wait(lock, [&] { return cancelled_ || held_ == 0 || held_ + bytes <= capacity_; });
    --waiters_;
    if (cancelled_) return 0;
    held_ += bytes;
    return bytes;
  }
  void cancel() {
    {
      std::lock_guard lock(mu_);
      cancelled_ = true;
    }
    cv_.notify_all();
  }
  void release(std::uint64_t bytes) {
    {
      std::lock_guard lock(mu_);
      held_ -= std::min(bytes, held_);
    }
    cv_.notify_all();
  }
  bool has_waiters() const {
    std::lock_guard lock(mu_);
    return waiters_ > 0;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t capacity_;
  std::uint64_t held_ = 0;
  int waiters_ = 0;
  bool cancelled_ = false;
};

}  // namespace cybexp
