// An injected clock and random source for the archive loop: sleeps are
// recorded, never slept; the run can be stopped after N sleeps, and a hook
// runs at each (with the sleep's number, from 1). randint always gives 500,
// so every backoff is 2**n + 0.5.
#pragma once

#include <functional>
#include <stop_token>
#include <vector>

#include "cybexp/archiver.h"

namespace cybexp::testing {

class FakeClock : public Clock {
 public:
  double now() override { return t_; }
  bool sleep_for(double s, std::stop_token) override {
    sleeps.push_back(s);
    t_ += s;
    if (hook) hook(sleeps.size());
    if (sleeps.size() >= stop_after) source.request_stop();
    return true;
  }
  // Recorded as a sleep; the store is never waited on.
  Result<bool> wait_for_change(double s, std::stop_token stop, const ChangeWait&) override {
    sleep_for(s, std::move(stop));
    return false;
  }
  std::vector<double> sleeps;
  std::size_t stop_after = 1000;
  std::stop_source source;
  std::function<void(std::size_t)> hook;

 private:
  double t_ = 1000;
};

class FixedRandom : public RandomSource {
 public:
  int randint(int, int) override { return 500; }
};

}  // namespace cybexp::testing
