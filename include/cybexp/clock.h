// Time and randomness, injected so that the archive loop and archive_one can
// be tested without sleeping, and upstream's backoff formula
// (docs/UPSTREAM-FORMATS.md section 5).
//
// Thread safety: system_clock() and system_random() may be used from any
// thread; test fakes document their own rules. A Deadline is as thread-safe
// as its Clock.
#pragma once

#include <functional>
#include <stop_token>

#include "cybexp/result.h"

namespace cybexp {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual double now() = 0;  // seconds, monotonic
  // Sleeps, or returns early (false) when stop is requested.
  virtual bool sleep_for(double seconds, std::stop_token stop) = 0;

  // A sleep of up to `seconds` that `wait` (a store's wait_for_change,
  // store.h) may end early; returns what wait returns. The real clock calls
  // wait; a clock that only records sleeps (tests) overrides this to record
  // it as a sleep_for and report no change.
  using ChangeWait = std::function<Result<bool>(double seconds, std::stop_token stop)>;
  virtual Result<bool> wait_for_change(double seconds, std::stop_token stop,
                                       const ChangeWait& wait) {
    return wait(seconds, std::move(stop));
  }
};
Clock& system_clock();

// A point in time on a Clock (limits.entry_seconds), for long loops to
// check every so often so that an entry over its time is abandoned midway.
// The default one never passes.
class Deadline {
 public:
  Deadline() = default;
  Deadline(Clock& clock, double at) : clock_(&clock), at_(at) {}
  bool passed() const { return clock_ != nullptr && clock_->now() > at_; }
  bool set() const { return clock_ != nullptr; }

 private:
  Clock* clock_ = nullptr;
  double at_ = 0;
};

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual int randint(int lo, int hi) = 0;  // inclusive, as Python's random.randint
};
RandomSource& system_random();

// s = min(3600, 2**n + random.randint(0, 1000) / 1000)
double backoff_seconds(int n_failed_attempts, RandomSource& random);

}  // namespace cybexp
