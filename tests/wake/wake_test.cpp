// The archive loop wakes for new work (issue 16): a loop asleep in a backoff
// of over 60 s archives a new upload within seconds (SQLite: the file's
// data_version; PostgreSQL: LISTEN/NOTIFY), a burst of uploads costs a
// bounded number of passes, a store failure still backs off by upstream's
// formula whatever arrives meanwhile, and wake() ends an idle sleep.
// Real stores (a throwaway PostgreSQL server), the real clock; the uploads
// come through a second store object, as from another process. Deadlines are
// generous: these are functional tests, the latency figures are
// scripts/bench.sh --latency's.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "cybexp/archiver.h"
#include "store/backends.h"
#include "support/fake_clock.h"
#include "support/faulty_store.h"
#include "support/postgres_server.h"
#include "support/temp_dir.h"
#include "support/vectors.h"

namespace cybexp {
namespace {

using Seconds = std::chrono::duration<double>;
using SteadyClock = std::chrono::steady_clock;

// 2**n + 59 s: every sleep is over a minute, the first one included.
class LongSleeps : public RandomSource {
 public:
  int randint(int, int hi) override { return hi * 59; }
};

std::vector<PrivateKey> test_keys() {
  auto k = PrivateKey::load_file(std::string(CYBEXP_TEST_DATA_DIR) + "/priv.pem", false);
  EXPECT_TRUE(k.has_value());
  return {*k};
}

// The Archiver on its own thread, with what its hooks saw.
class RunningLoop {
 public:
  RunningLoop(const Stores& stores, RandomSource& random)
      : archiver_(stores, test_keys(), Limits{}, options(), system_clock(), random) {
    archiver_.on_pass_start([this] { note([this] { ++passes_; }); });
    archiver_.on_backoff([this](int, double s) {
      note([&] {
        last_sleep_ = s;
        sleeps_ = passes_;
      });
    });
    archiver_.on_commit([this](const CommitReport& r) { note([&] { processed_ += r.processed; }); });
    archiver_.on_pass_error([this](const Error&) { note([this] { failed_at_ = SteadyClock::now(); }); });
    thread_ = std::jthread([this] { EXPECT_TRUE(archiver_.run(stop_.get_token()).has_value()); });
  }
  ~RunningLoop() {
    stop_.request_stop();
    thread_.join();
  }

  // Waits until the loop sleeps a sleep of at least `min_seconds` after its
  // latest pass, and has stayed asleep for 300 ms.
  bool wait_asleep(double min_seconds) {
    for (int tries = 0; tries < 100; ++tries) {
      std::unique_lock lock(mu_);
      if (!cv_.wait_for(lock, std::chrono::seconds(20), [&] {
            return passes_ > 0 && sleeps_ == passes_ && last_sleep_ >= min_seconds;
          }))
        return false;
      const int seen = passes_;
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      if (passes() == seen) return true;
    }
    return false;
  }
  bool wait_processed(std::uint64_t n, Seconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return processed_ >= n; });
  }
  bool wait_passes(int n, Seconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return passes_ >= n; });
  }
  bool wait_failed(Seconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return failed_at_ != SteadyClock::time_point{}; });
  }
  int passes() {
    std::lock_guard lock(mu_);
    return passes_;
  }
  SteadyClock::time_point failed_at() {
    std::lock_guard lock(mu_);
    return failed_at_;
  }
  Archiver& archiver() { return archiver_; }

 private:
  static RunOptions options() {
    RunOptions opt;
    opt.workers = 2;
    return opt;
  }
  template <class F>
  void note(F&& change) {
    {
      std::lock_guard lock(mu_);
      change();
    }
    cv_.notify_all();
  }

  Archiver archiver_;
  std::mutex mu_;
  std::condition_variable cv_;
  int passes_ = 0;
  int sleeps_ = 0;  // passes followed by their backoff so far
  double last_sleep_ = 0;
  std::uint64_t processed_ = 0;
  SteadyClock::time_point failed_at_{};
  std::stop_source stop_;
  std::jthread thread_;
};

class Wake : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    url_ = GetParam() == "Sqlite" ? "sqlite:" + (dir_ / "one.db").string()
                                  : test_support::fresh_test_database();
    daemon_ = open();
    uploads_ = open();  // another connection, as the API module's
    // The first wait LISTENs on PostgreSQL and reports a change (what came
    // before is unknown), and on SQLite sees the second open's writes: taken
    // here, neither starts an extra pass right after the loop's first, which
    // a loaded machine could delay past wait_asleep's 300 ms of quiet.
    auto first = daemon_.cache->wait_for_change(0, {});
    ASSERT_TRUE(first.has_value()) << first.error().message;
  }
  Stores open() {
    auto s = open_stores({url_, "", ""}, {url_, "", ""});
    EXPECT_TRUE(s.has_value()) << s.error().message;
    return *s;
  }
  void upload(int n = 1) {
    static const testing::Vector v = testing::load_vectors().at(0);
    ASSERT_EQ(v.state, "success");
    for (int i = 0; i < n; ++i) {
      NewEntry e{v.name + std::to_string(i), v.typetag, v.orgid, v.timezone, 1.0};
      ASSERT_TRUE(uploads_.cache->add_entry(e, v.blob).has_value());
    }
  }

  testing::TempDir dir_;
  std::string url_;
  Stores daemon_;
  Stores uploads_;
};

TEST_P(Wake, NewEntryEndsAMinuteLongSleepAtOnce) {
  LongSleeps random;
  RunningLoop loop(daemon_, random);
  ASSERT_TRUE(loop.wait_asleep(60));
  const int passes = loop.passes();
  const auto submitted = SteadyClock::now();
  upload();
  ASSERT_TRUE(loop.wait_processed(1, std::chrono::seconds(30)));
  const double waited = Seconds(SteadyClock::now() - submitted).count();
  EXPECT_LT(waited, 5.0) << "the entry waited for the sleep to end";
  ASSERT_TRUE(loop.wait_asleep(60));
  EXPECT_EQ(loop.passes(), passes + 1);  // one wake-up, one pass
}

TEST_P(Wake, BurstOfUploadsCostsBoundedPasses) {
  LongSleeps random;
  RunningLoop loop(daemon_, random);
  ASSERT_TRUE(loop.wait_asleep(60));
  const int passes = loop.passes();
  const auto start = SteadyClock::now();
  upload(1000);  // one transaction each, as separate uploads
  const double burst = Seconds(SteadyClock::now() - start).count();
  ASSERT_TRUE(loop.wait_processed(1000, std::chrono::seconds(120)));
  ASSERT_TRUE(loop.wait_asleep(60));
  // A pass takes whatever arrived while it ran; a wake-up starts one at most
  // every 0.2 s; and one last pass may find the tail already taken.
  const int bound = 2 + static_cast<int>(std::ceil(burst / 0.2));
  EXPECT_LE(loop.passes() - passes, bound) << "burst of " << burst << " s";
  std::printf("1000 uploads in %.2f s: %d passes\n", burst, loop.passes() - passes);
  EXPECT_GE(loop.passes() - passes, 1);
}

TEST_P(Wake, StoreFailureBacksOffByTheFormulaWhateverArrives) {
  auto faults = std::make_shared<testing::Faults>();
  faults->fail(testing::Op::kClaim, 1);
  testing::FixedRandom random;  // 2**n + 0.5 s
  RunningLoop loop(testing::faulty(daemon_, faults), random);
  ASSERT_TRUE(loop.wait_failed(std::chrono::seconds(20)));
  upload();               // a change the store reports...
  loop.archiver().wake(); // ...and a request: neither shortens a failure backoff
  ASSERT_TRUE(loop.wait_processed(1, std::chrono::seconds(30)));
  const double backoff = Seconds(SteadyClock::now() - loop.failed_at()).count();
  EXPECT_GE(backoff, 2.5);  // 2**1 + 0.5: the first failure's sleep, whole
  EXPECT_EQ(faults->injected(testing::Op::kClaim), 1);
}

TEST_P(Wake, WakeEndsAnIdleSleep) {
  LongSleeps random;
  RunningLoop loop(daemon_, random);
  ASSERT_TRUE(loop.wait_asleep(60));
  const int passes = loop.passes();
  loop.archiver().wake();  // what SIGUSR1 and `cybexp-archive wake` call
  EXPECT_TRUE(loop.wait_passes(passes + 1, std::chrono::seconds(10)));
}

INSTANTIATE_TEST_SUITE_P(Backends, Wake, ::testing::Values("Sqlite", "Postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace cybexp
