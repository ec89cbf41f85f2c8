// The store failing at each step of archive_one's traffic (fetch, archive
// insert, entry update, the one-transaction commit, lease release), before
// the step or after it took effect (a commit whose acknowledgement was
// lost). Each time: the pass ends, the loop backs off, nothing is lost or
// marked done without its document, and a later pass completes everything.
#include <gtest/gtest.h>

#include "fault/fault_fixture.h"
#include "support/hooked_stores.h"

namespace cybexp::testing {
namespace {

struct Case {
  const char* name;
  bool combined;
  Step step;
  Phase phase;
  int nth = 1;  // which call of that step fails
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.name; }

class FaultStore : public ::testing::TestWithParam<Case> {};

TEST_P(FaultStore, BacksOffLosesNothingAndCompletes) {
  const Case& c = GetParam();
  World world(c.combined);
  world.fill();
  auto real = world.open();
  ASSERT_TRUE(real.has_value());
  NthCall fault(c.step, c.phase, c.nth);
  // A lost lease release also needs a reason to release: a failed fetch.
  NthCall first_fetch(Step::kFetch, Phase::kBefore, 1);
  const bool release_case = c.step == Step::kRelease;
  Hook hook = [&](Step s, Phase p) -> std::optional<Error> {
    if (fault.hit(s, p) || (release_case && first_fetch.hit(s, p)))
      return Error{ErrorKind::kDatabase, std::string("injected failure: ") + step_name(s)};
    return std::nullopt;
  };
  FakeClock clock;
  FixedRandom random;
  RunOptions opt;
  opt.once = true;
  opt.workers = 2;
  opt.batch_entries = 8;  // several claims and group commits
  // Long enough never to expire within the run, even under a sanitizer;
  // the lost-release case waits for it.
  opt.lease_seconds = release_case ? 4 : 60;
  std::vector<CommitReport> commits;
  Archiver archiver(hooked(*real, hook), test_keys(), Limits{}, opt, clock, random);
  archiver.on_commit([&](const CommitReport& r) { commits.push_back(r); });
  auto summary = archiver.run({});
  ASSERT_TRUE(summary.has_value()) << summary.error().message;

  ASSERT_GE(fault.seen(), c.nth) << "the fault was never reached";
  // One failed pass, one backoff of 2^1 + 0.5 s, then success.
  EXPECT_EQ(summary->failed_passes, 1u);
  EXPECT_EQ(clock.sleeps, std::vector<double>{2.5});
  if (c.step != Step::kClaim && c.step != Step::kRelease) {
    // The failed commit (or fetch) is reported, with the store's error as it came.
    std::size_t failed = 0;
    for (const CommitReport& r : commits) {
      if (!r.error) continue;
      ++failed;
      EXPECT_EQ(r.error->kind, ErrorKind::kDatabase);
      EXPECT_EQ(r.error->message, std::string("injected failure: ") + step_name(c.step));
    }
    EXPECT_EQ(failed, 1u);
  }
  world.consistent();
  if (release_case) {
    // The lease could not be given back: the entry waits for it to expire
    // (pending, never lost), then any worker takes it again.
    std::size_t leased = 0;
    for (const auto& [name, info] : world.entries()) {
      if (!info.lease_owner.empty()) {
        ++leased;
        EXPECT_EQ(info.state, kStatePending) << name;
        EXPECT_EQ(info.lease_owner, archiver.worker_id());
      }
    }
    EXPECT_EQ(leased, 1u);
    world.recover();
  }
  world.complete();
}

INSTANTIATE_TEST_SUITE_P(
    Steps, FaultStore,
    ::testing::Values(
        Case{"claim", false, Step::kClaim, Phase::kBefore, 2},
        Case{"fetch", false, Step::kFetch, Phase::kBefore},
        Case{"fetch_after_read", true, Step::kFetch, Phase::kAfter},
        Case{"put_documents", false, Step::kPutDocuments, Phase::kBefore, 2},
        Case{"put_documents_ack_lost", false, Step::kPutDocuments, Phase::kAfter, 2},
        Case{"finish", false, Step::kFinish, Phase::kBefore, 2},
        Case{"finish_ack_lost", false, Step::kFinish, Phase::kAfter, 2},
        Case{"release", false, Step::kRelease, Phase::kBefore},
        Case{"finish_with_documents", true, Step::kFinishWithDocuments, Phase::kBefore, 2},
        Case{"finish_with_documents_ack_lost", true, Step::kFinishWithDocuments, Phase::kAfter, 2}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

// Store failures that never stop: --once gives up with the store's error and
// what to do, leaving every entry pending for the next run.
TEST(FaultStore, OnceGivesUpWithAClearErrorAndKeepsEverything) {
  World world(true);
  world.fill();
  auto real = world.open();
  ASSERT_TRUE(real.has_value());
  Hook hook = [](Step s, Phase p) -> std::optional<Error> {
    if (s == Step::kFinishWithDocuments && p == Phase::kBefore)
      return Error{ErrorKind::kDatabase,
                   "sqlite one.db: finish_with_documents: database or disk is full"};
    return std::nullopt;
  };
  FakeClock clock;
  FixedRandom random;
  RunOptions opt;
  opt.once = true;
  opt.workers = 2;
  opt.lease_seconds = 1;
  auto r = Archiver(hooked(*real, hook), test_keys(), Limits{}, opt, clock, random).run({});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kDatabase);
  EXPECT_EQ(r.error().message,
            "sqlite one.db: finish_with_documents: database or disk is full (gave up after 5 "
            "attempts: check the store, then run again)");
  EXPECT_EQ(clock.sleeps, (std::vector<double>{2.5, 4.5, 8.5, 16.5}));
  EXPECT_EQ(world.consistent(), 0u);
  world.recover();
  world.complete();
}

}  // namespace
}  // namespace cybexp::testing
