// Upstream's exponential backoff (docs/UPSTREAM-FORMATS.md section 5) and the real clock
// and random source it runs on in production.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>

#include "cybexp/clock.h"

namespace cybexp {

double backoff_seconds(int n_failed_attempts, RandomSource& random) {
  // 2**n passes 3600 at n = 12; clamp before shifting so n never overflows.
  const int n = std::clamp(n_failed_attempts, 0, 12);
  const double s = static_cast<double>(1u << n) + random.randint(0, 1000) / 1000.0;
  return std::min(3600.0, s);
}

namespace {

class SystemClock final : public Clock {
 public:
  double now() override {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
  bool sleep_for(double seconds, std::stop_token stop) override {
    std::mutex m;
    std::condition_variable_any cv;
    // The mutex only serves the wait: stop requests wake it, nothing else.
    // cppcheck-suppress localMutex
    std::unique_lock lock(m);
    cv.wait_for(lock, stop, std::chrono::duration<double>(seconds), [] { return false; });
    return !stop.stop_requested();
  }
};

class SystemRandom final : public RandomSource {
 public:
  int randint(int lo, int hi) override {
    std::lock_guard lock(mu_);
    return std::uniform_int_distribution<int>(lo, hi)(engine_);
  }

 private:
  std::mutex mu_;
  std::mt19937 engine_{std::random_device{}()};
};

}  // namespace

Clock& system_clock() {
  static SystemClock clock;
  return clock;
}

RandomSource& system_random() {
  static SystemRandom random;
  return random;
}

}  // namespace cybexp
