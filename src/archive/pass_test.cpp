// Regression tests for one pass of the pipeline (pass.h), each for a bug the
// redesign fixed: forced passes that never ended, give-backs that re-leased
// in a loop, exceptions that hung or killed the process, lost leases counted
// as processed, and the injected clock not reaching archive_one. All run the
// real Archiver over real SQLite stores with the real envelope.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <stdexcept>
#include <thread>

#include "archive/pass_test_support.h"
#include "cybexp/document.h"

namespace cybexp {
namespace {

using testing::PassFixture;

// Runs fn on another thread; a hang fails the test and ends the process
// (a hung pipeline cannot be joined) instead of blocking ctest for good.
template <class F>
auto within(std::chrono::seconds limit, F fn) {
  auto fut = std::async(std::launch::async, std::move(fn));
  if (fut.wait_for(limit) == std::future_status::timeout) {
    ADD_FAILURE() << "did not finish within " << limit.count() << " s";
    std::fprintf(stderr, "hung: giving up\n");
    std::_Exit(1);
  }
  return fut.get();
}

// Bug 1: a forced pass re-claimed entries it had just skipped, forever, once
// more of them failed again than three claim batches hold.
TEST(Pass, ForcedPassTriesEachSkippedEntryOnceAndEnds) {
  PassFixture f;
  f.add_copies(1000);
  RunOptions opt = f.options();
  auto first = within(std::chrono::seconds(300),
                      [&] { return f.archiver(opt, f.other_keys()).run({}); });
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->skipped.at(EntryFate::kBadData), 1000u);
  opt.force = true;
  auto forced = within(std::chrono::seconds(300),
                       [&] { return f.archiver(opt, f.other_keys()).run({}); });
  ASSERT_TRUE(forced.has_value());
  EXPECT_EQ(forced->skipped.at(EntryFate::kBadData), 1000u);
  EXPECT_EQ(forced->processed, 0u);
  for (const auto& [id, info] : f.entries()) {
    ASSERT_EQ(info.entry.attempts, 2) << "entry " << id;
    EXPECT_EQ(info.state, kStateBadData);
  }
}

// Bug 1, the daemon: each forced pass tries each skipped entry once.
TEST(Pass, ForcedDaemonPassTriesEachSkippedEntryOncePerPass) {
  PassFixture f;
  f.add_copies(300);
  RunOptions opt = f.options();
  opt.once = false;
  opt.force = true;
  opt.batch_entries = 16;
  testing::FakeClock clock;
  clock.stop_after = 2;  // two passes, two backoff sleeps
  auto run = within(std::chrono::seconds(300), [&] {
    return f.archiver(opt, f.other_keys(), clock).run(clock.source.get_token());
  });
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(clock.sleeps.size(), 2u);
  EXPECT_EQ(run->skipped.at(EntryFate::kBadData), 600u);
  for (const auto& [id, info] : f.entries()) ASSERT_EQ(info.entry.attempts, 2) << "entry " << id;
}

// Bug 2: entries beyond the memory budget were given back and re-claimed
// within 0.1 s, each claim counting an attempt that release never undid.
TEST(Pass, LargeEntriesBeyondTheBudgetWaitAndCountOneAttempt) {
  PassFixture f;
  const std::size_t kEntries = 24;
  f.add_large(kEntries, 200 * 1024);  // not inline: fetched apart, charged to the budget
  RunOptions opt = f.options();
  opt.memory_budget = 500 * 1024;  // two of them at a time
  auto counting = std::make_shared<testing::CountingCache>(f.stores.cache);
  auto run = within(std::chrono::seconds(300), [&] {
    return f.archiver(opt, f.keys(), system_clock(), Stores{counting, f.stores.archive}).run({});
  });
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->processed, kEntries);
  for (const auto& [id, info] : f.entries()) ASSERT_EQ(info.entry.attempts, 1) << "entry " << id;
  // Each give-back waits for a commit of a large entry: at most one claim a
  // commit, and the pass commits at most once per entry.
  EXPECT_LE(counting->claims.load(), kEntries + 2);
}

// Issue 15: the budget is charged an entry's working memory, not only its
// blob bytes. Budget room for one entry's working memory but for many
// blobs: two workers never handle two large entries at once (the old charge,
// blob bytes, let both run).
TEST(Pass, TheBudgetChargesWorkingMemoryNotOnlyBlobBytes) {
  PassFixture f;
  const std::size_t kEntries = 6;
  f.add_large(kEntries, 200 * 1024);
  RunOptions opt = f.options();
  opt.workers = 2;
  opt.memory_budget = working_memory_bound(200 * 1024) * 3 / 2;  // room for 1.5 entries
  auto overlap = std::make_shared<testing::OverlapCountingCache>(f.stores.cache);
  auto run = within(std::chrono::seconds(300), [&] {
    return f.archiver(opt, f.keys(), system_clock(), Stores{overlap, f.stores.archive}).run({});
  });
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->processed, kEntries);
  EXPECT_EQ(overlap->most.load(), 1);
  // With room for two, both workers fetch at once (the test can tell).
  PassFixture g;
  g.add_large(kEntries, 200 * 1024);
  opt.memory_budget = working_memory_bound(300 * 1024) * 2;
  auto both = std::make_shared<testing::OverlapCountingCache>(g.stores.cache,
                                                              std::chrono::seconds(10));
  auto run2 = within(std::chrono::seconds(300), [&] {
    return g.archiver(opt, g.keys(), system_clock(), Stores{both, g.stores.archive}).run({});
  });
  ASSERT_TRUE(run2.has_value());
  EXPECT_EQ(run2->processed, kEntries);
  EXPECT_EQ(both->most.load(), 2);
}

// Bug 3: an exception on the committing thread left the workers blocked in
// the queue and the process hung.
TEST(Pass, ExceptionOnTheCommittingThreadEndsThePassAndReleasesLeases) {
  PassFixture f;
  f.add_copies(100);
  RunOptions opt = f.options();
  opt.once_max_failures = 1;
  Archiver a = f.archiver(opt, f.keys());
  a.on_commit([](const CommitReport&) { throw std::runtime_error("observer broke"); });
  auto run = within(std::chrono::seconds(120), [&] { return a.run({}); });
  ASSERT_FALSE(run.has_value());
  EXPECT_EQ(run.error().message,
            "the archive pass failed: observer broke (gave up after 1 attempts: check the "
            "store, then run again)");
  std::uint64_t leased = 0, untried = 0;
  for (const auto& [id, info] : f.entries()) {
    leased += info.lease_owner.empty() ? 0 : 1;
    untried += info.entry.attempts == 0 ? 1 : 0;
  }
  EXPECT_EQ(leased, 0u);
  EXPECT_EQ(untried, f.entries().size() - f.processed_count());
  auto again = f.archiver(f.options(), f.keys()).run({});
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(f.processed_count(), 100u);
}

// Bug 3, workers: an exception while handling an entry called std::terminate.
// It is that entry's error now; the rest of the batch is archived.
TEST(Pass, ExceptionInAWorkerIsThatEntrysErrorAndTheRestGoOn) {
  PassFixture f;
  f.add_large(6, 100 * 1024);
  auto throwing = std::make_shared<testing::ThrowOnFetch>(f.stores.cache, /*nth=*/3);
  auto run = within(std::chrono::seconds(120), [&] {
    return f.archiver(f.options(), f.keys(), system_clock(), Stores{throwing, f.stores.archive})
        .run({});
  });
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->processed, 5u);
  EXPECT_EQ(run->skipped.at(EntryFate::kError), 1u);
}

// Bug 4: results whose lease another worker had taken were counted as
// processed. Only what the store marked counts; the rest are lost leases.
void expect_lost_leases_not_counted(bool combined) {
  PassFixture f(combined);
  f.add_copies(20);
  RunOptions opt = f.options();
  opt.lease_seconds = 1;
  auto stealing = std::make_shared<testing::StealingCache>(f.stores.cache);
  Stores wrapped{stealing, f.stores.archive};
  if (combined) wrapped.archive = std::make_shared<testing::ArchiveStoreWrapper>(f.stores.archive);
  auto run = within(std::chrono::seconds(120),
                    [&] { return f.archiver(opt, f.keys(), system_clock(), wrapped).run({}); });
  ASSERT_TRUE(run.has_value());
  ASSERT_GT(stealing->stolen, 0u);
  EXPECT_EQ(run->lost_leases, stealing->stolen);
  EXPECT_EQ(run->processed + run->lost_leases, 20u);
  EXPECT_EQ(run->processed, f.processed_count());
  for (const auto& [id, info] : f.entries()) {
    if (info.state != kStateProcessed) {
      EXPECT_EQ(info.lease_owner, "thief") << "entry " << id;
    }
  }
}

TEST(Pass, LostLeasesAreNotCountedAsProcessed) { expect_lost_leases_not_counted(false); }
TEST(Pass, LostLeasesAreNotCountedAsProcessedInOneDatabase) {
  expect_lost_leases_not_counted(true);
}

// Issue 12, quarantine: an entry whose worker died on it max_attempts times
// is skipped as `error` at its next claim; the rest of its batch is
// archived; requeue gives it a fresh start.
TEST(Pass, AnEntryClaimedMaxAttemptsTimesWithoutFinishingIsQuarantined) {
  PassFixture f;
  f.add_copies(1);
  for (int i = 0; i < 5; ++i) {  // five workers that died holding it
    ClaimRequest dead;
    dead.worker = "dead-" + std::to_string(i);
    auto claimed = f.stores.cache->claim(dead);
    ASSERT_TRUE(claimed.has_value() && claimed->size() == 1u);
    const std::vector<std::string> ids = {claimed->at(0).id};
    ASSERT_TRUE(f.stores.cache->release(ids, dead.worker, ReleaseKind::kTried).has_value());
  }
  const std::string poison = f.entries().begin()->first;
  f.add_copies(9);
  auto run = f.archiver(f.options(), f.keys()).run({});
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->processed, 9u);
  EXPECT_EQ(run->skipped.at(EntryFate::kError), 1u);
  const EntryInfo info = f.entries().at(poison);
  EXPECT_EQ(info.state, kStateError);
  EXPECT_EQ(info.entry.attempts, 6);
  EXPECT_EQ(info.reason,
            "claimed 5 times without being finished (limits.max_attempts): the worker handling "
            "it died or was stopped each time; see 'inspect " + poison +
                " --dry-run', fix the cause, then 'requeue --id " + poison + "'");
  EntryFilter which;
  which.ids = {poison};
  ASSERT_EQ(f.stores.cache->requeue(which).value_or(0), 1u);
  EXPECT_EQ(f.entries().at(poison).entry.attempts, 0);
  auto again = f.archiver(f.options(), f.keys()).run({});
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->processed, 1u);
}

// Bug 6: archive_one timed entries with the system clock whatever clock the
// Archiver was given. A clock that leaps an hour at every reading makes
// every entry run over its budget.
TEST(Pass, TheInjectedClockReachesArchiveOne) {
  PassFixture f;
  f.add_copies(3);
  testing::LeapingClock clock;
  auto run = f.archiver(f.options(), f.keys(), clock).run({});
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->processed, 0u);
  EXPECT_EQ(run->skipped.at(EntryFate::kError), 3u);
}

}  // namespace
}  // namespace cybexp
