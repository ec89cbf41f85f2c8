// Waiting for another process's write lock (issue 14): bounded by the busy
// timeout (timeouts.lock_seconds), and ended at once by interrupt() from
// another thread, which sqlite3_interrupt alone does not do.
#include <sqlite3.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/sqlite_test_util.h"

namespace cybexp::sqlite::testing {
namespace {

using Seconds = std::chrono::duration<double>;

// Another connection holding the file's write lock until destroyed.
class WriteLockHolder {
 public:
  explicit WriteLockHolder(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  }
  ~WriteLockHolder() { sqlite3_close_v2(db_); }
  WriteLockHolder(const WriteLockHolder&) = delete;
  WriteLockHolder& operator=(const WriteLockHolder&) = delete;

 private:
  sqlite3* db_ = nullptr;
};

struct Timed {
  Result<std::vector<CacheEntry>> claimed;
  double seconds;
};

Timed timed_claim(SqliteStore& store) {
  const auto t0 = std::chrono::steady_clock::now();
  auto claimed = store.claim(claim_request("w1"));
  return {std::move(claimed), Seconds(std::chrono::steady_clock::now() - t0).count()};
}

TEST(SqliteBusy, AWaitForAnotherProcesssLockEndsAtTheBusyTimeout) {
  TempDir dir;
  const std::string path = (dir / "s.db").string();
  auto store = ok(SqliteStore::open(path, false, /*busy_timeout_ms=*/300));
  ok(store->add_entry(new_entry("a"), bytes("blob")));
  WriteLockHolder holder(path);
  Timed t = timed_claim(*store);
  ASSERT_FALSE(t.claimed.has_value());
  EXPECT_EQ(t.claimed.error().kind, ErrorKind::kDatabase);
  EXPECT_NE(t.claimed.error().message.find("database is locked"), std::string::npos)
      << t.claimed.error().message;
  EXPECT_GE(t.seconds, 0.29);
  EXPECT_LT(t.seconds, 5.0);
}

TEST(SqliteBusy, InterruptEndsAWaitForAnotherProcesssLock) {
  TempDir dir;
  const std::string path = (dir / "s.db").string();
  auto store = ok(SqliteStore::open(path, false, /*busy_timeout_ms=*/60'000));
  ok(store->add_entry(new_entry("a"), bytes("blob")));
  std::optional<WriteLockHolder> holder(std::in_place, path);
  // An interrupt before the claim waits would find nothing to end (the wait
  // counts the interrupts that come while it waits): repeat it until the
  // claim has returned.
  std::atomic<bool> returned{false};
  std::jthread interrupter([&] {
    while (!returned) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      store->interrupt();
    }
  });
  Timed t = timed_claim(*store);
  returned = true;
  interrupter.join();
  ASSERT_FALSE(t.claimed.has_value());
  EXPECT_EQ(t.claimed.error().kind, ErrorKind::kDatabase);
  EXPECT_LT(t.seconds, 5.0);
  holder.reset();
  EXPECT_EQ(ok(store->claim(claim_request("w1"))).size(), 1u);  // later calls run normally
}

}  // namespace
}  // namespace cybexp::sqlite::testing
