// SqliteStore::wait_for_change: another connection's commit that leaves
// something claimable ends the wait; the store's own writes, other writes
// that leave nothing to claim, and the time running out do not; a stop
// request ends it at once.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "store/sqlite/sqlite_test_util.h"

namespace cybexp::sqlite::testing {
namespace {

using Seconds = std::chrono::duration<double>;
using SteadyClock = std::chrono::steady_clock;

class SqliteWait : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("store.db");
    daemon_ = ok(open_sqlite_combined(path_));
    uploads_ = ok(open_sqlite_combined(path_));  // another connection, as another process
  }
  TempDir dir_;
  std::string path_;
  Stores daemon_;
  Stores uploads_;
};

TEST_F(SqliteWait, AnotherConnectionsNewEntryEndsTheWait) {
  EXPECT_FALSE(ok(daemon_.cache->wait_for_change(0.1, {})));
  ok(uploads_.cache->add_entry(new_entry("upload"), bytes("x")));
  const auto start = SteadyClock::now();
  EXPECT_TRUE(ok(daemon_.cache->wait_for_change(30, {})));
  EXPECT_LT(Seconds(SteadyClock::now() - start).count(), 5.0);
  EXPECT_FALSE(ok(daemon_.cache->wait_for_change(0.1, {})));  // seen once
}

TEST_F(SqliteWait, OwnWritesAndNothingClaimableDoNotCount) {
  ok(daemon_.cache->add_entry(new_entry("own"), bytes("x")));
  EXPECT_FALSE(ok(daemon_.cache->wait_for_change(0.2, {})));
  // Another connection writes, but all it leaves is under this worker's lease.
  ok(daemon_.cache->claim(claim_request("w", 10)));
  ok(uploads_.archive->add_subtype("feed", "feed"));
  EXPECT_FALSE(ok(daemon_.cache->wait_for_change(0.2, {})));
}

TEST_F(SqliteWait, StopEndsTheWait) {
  std::stop_source stop;
  std::jthread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop.request_stop();
  });
  const auto start = SteadyClock::now();
  EXPECT_FALSE(ok(daemon_.cache->wait_for_change(60, stop.get_token())));
  EXPECT_LT(Seconds(SteadyClock::now() - start).count(), 5.0);
}

}  // namespace
}  // namespace cybexp::sqlite::testing
