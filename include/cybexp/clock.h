// Time and randomness, injected so that the archive loop and archive_one can
// be tested without sleeping, and upstream's backoff formula
// (docs/UPSTREAM-FORMATS.md section 5).
//
// Thread safety: system_clock() and system_random() may be used from any
// thread; test fakes document their own rules.
#pragma once

#include <stop_token>

namespace cybexp {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual double now() = 0;  // seconds, monotonic
  // Sleeps, or returns early (false) when stop is requested.
  virtual bool sleep_for(double seconds, std::stop_token stop) = 0;
};
Clock& system_clock();

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual int randint(int lo, int hi) = 0;  // inclusive, as Python's random.randint
};
RandomSource& system_random();

// s = min(3600, 2**n + random.randint(0, 1000) / 1000)
double backoff_seconds(int n_failed_attempts, RandomSource& random);

}  // namespace cybexp
