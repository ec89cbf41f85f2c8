// The process killed at each step of archive_one's store traffic: a child
// process runs an Archiver over the real SQLite files, wrapped so that it
// _exit()s (no cleanup, no destructors, no commit) just before or just after
// the chosen step, as kill -9 or a power cut would stop it. The parent then
// checks the files: nothing lost, nothing processed without its document,
// the rest pending (the dead worker's leases expire); and a second run
// completes everything exactly once. Then the same with SIGKILL at random
// moments.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>

#include "fault/fault_fixture.h"
#include "support/hooked_stores.h"

namespace cybexp::testing {
namespace {

constexpr int kKilledExit = 37;  // the child's "I was killed here" status

struct KillCase {
  const char* name;
  bool combined;
  Step step;
  Phase phase;
  int nth = 1;
  bool fail_fetch = false;  // makes the pipeline release a lease (the release step)
};

std::ostream& operator<<(std::ostream& os, const KillCase& c) { return os << c.name; }

// Forks a child that archives the world with the hook; returns its wait
// status. The child never returns into the test framework.
int run_child(const World& world, const Hook& hook) {
  const pid_t pid = fork();
  if (pid == 0) {
    auto stores = world.open();
    if (!stores) _exit(10);
    RunOptions opt;
    opt.once = true;
    opt.workers = 2;
    opt.batch_entries = 4;  // many claims and commits to be killed in
    opt.lease_seconds = 1;  // the parent waits this long for the dead worker's leases
    auto r = Archiver(hook ? hooked(*stores, hook) : *stores, test_keys(), Limits{}, opt).run({});
    _exit(r ? 0 : 11);
  }
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  return status;
}

class FaultKill : public ::testing::TestWithParam<KillCase> {};

TEST_P(FaultKill, AtEachStepLosesNothingAndASecondRunCompletes) {
  const KillCase& c = GetParam();
  World world(c.combined);
  world.fill();
  NthCall kill(c.step, c.phase, c.nth);
  NthCall fetch(Step::kFetch, Phase::kBefore, 1);
  Hook hook = [&](Step s, Phase p) -> std::optional<Error> {
    if (c.fail_fetch && fetch.hit(s, p)) return Error{ErrorKind::kDatabase, "injected"};
    if (kill.hit(s, p)) _exit(kKilledExit);
    return std::nullopt;
  };
  const int status = run_child(world, hook);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  ASSERT_EQ(WEXITSTATUS(status), kKilledExit) << "the child was never killed at " << c.name;

  const std::size_t finished = world.consistent();
  EXPECT_LT(finished, world.size()) << "killed, yet everything is finished";
  for (const auto& file : world.files()) EXPECT_EQ(integrity_check(file), "ok") << file;

  world.recover();
  world.complete();
}

INSTANTIATE_TEST_SUITE_P(
    Steps, FaultKill,
    ::testing::Values(
        KillCase{"after_claim", false, Step::kClaim, Phase::kAfter},
        KillCase{"before_fetch", false, Step::kFetch, Phase::kBefore},
        KillCase{"after_fetch", true, Step::kFetch, Phase::kAfter},
        KillCase{"before_put_documents", false, Step::kPutDocuments, Phase::kBefore, 2},
        KillCase{"after_put_documents", false, Step::kPutDocuments, Phase::kAfter, 2},
        KillCase{"before_finish", false, Step::kFinish, Phase::kBefore, 2},
        KillCase{"after_finish", false, Step::kFinish, Phase::kAfter, 2},
        KillCase{"before_release", false, Step::kRelease, Phase::kBefore, 1, true},
        KillCase{"after_release", true, Step::kRelease, Phase::kAfter, 1, true},
        KillCase{"before_commit", true, Step::kFinishWithDocuments, Phase::kBefore, 2},
        KillCase{"after_commit", true, Step::kFinishWithDocuments, Phase::kAfter, 2}),
    [](const ::testing::TestParamInfo<KillCase>& info) { return std::string(info.param.name); });

// SIGKILL at random moments (seeded, so a failure can be replayed), which
// also lands inside SQLite's own writes and commits.
TEST(FaultKill, AtRandomMomentsLosesNothing) {
  for (bool combined : {false, true}) {
    SCOPED_TRACE(combined ? "one database" : "two databases");
    World world(combined);
    world.fill();
    std::mt19937 rng(20240601 + combined);
    for (int round = 0; round < 6; ++round) {
      const int delay_ms = std::uniform_int_distribution<int>(0, 250)(rng);
      SCOPED_TRACE("round " + std::to_string(round) + ", SIGKILL after " +
                   std::to_string(delay_ms) + " ms");
      const pid_t pid = fork();
      if (pid == 0) {
        auto stores = world.open();
        if (!stores) _exit(10);
        RunOptions opt;
        opt.once = true;
        opt.workers = 2;
        opt.batch_entries = 4;
        opt.lease_seconds = 1;
        _exit(Archiver(*stores, test_keys(), Limits{}, opt).run({}) ? 0 : 11);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      kill(pid, SIGKILL);
      int status = 0;
      ASSERT_EQ(waitpid(pid, &status, 0), pid);
      // Killed, or finished before the signal: either way consistent.
      EXPECT_TRUE((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ||
                  (WIFEXITED(status) && WEXITSTATUS(status) == 0))
          << status;
      world.consistent();
      for (const auto& file : world.files()) EXPECT_EQ(integrity_check(file), "ok") << file;
    }
    world.recover();
    world.complete();
  }
}

}  // namespace
}  // namespace cybexp::testing
