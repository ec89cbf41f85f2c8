// Disk full on the embedded store: the store reports SQLite's own error
// (kDatabase, "database or disk is full") naming the file and the operation,
// the loop backs off, no entry is skipped or lost, the files stay sound
// (PRAGMA integrity_check), and everything completes once space returns.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>

#include "fault/fault_fixture.h"
#include "fault/full_disk_vfs.h"
#include "support/hooked_stores.h"

namespace cybexp::testing {
namespace {

const std::string kFull = "database or disk is full";
// What the message says to do, after SQLite's own words.
std::string full_advice(const std::filesystem::path& file) {
  return ": the file system holding " + file.string() +
         " is full: free space there (SQLite also needs room for its -wal file); nothing is "
         "lost, the work is retried";
}

struct PassLog {
  std::vector<CommitReport> commits;
  std::vector<double> sleeps;
  RunSummary summary;
};

// Runs the loop until 5 backoff sleeps: the disk fills up right after the
// first claim (fill), and space returns at the third sleep (free_space),
// after which the dead leases are waited out.
PassLog run_through_full_disk(const World& world, const std::function<void()>& fill,
                              const std::function<void()>& free_space) {
  PassLog out;
  auto real = world.open();
  EXPECT_TRUE(real.has_value());
  if (!real) return out;
  std::atomic<bool> filled{false};
  Hook hook = [&](Step s, Phase p) -> std::optional<Error> {
    if (s == Step::kClaim && p == Phase::kAfter && !filled.exchange(true)) fill();
    return std::nullopt;
  };
  FakeClock clock;
  FixedRandom random;
  clock.stop_after = 5;
  clock.hook = [&](std::size_t n) {
    if (n != 3) return;
    free_space();
    world.wait_for_leases_to_expire();
  };
  RunOptions opt;
  opt.workers = 2;
  opt.lease_seconds = 1;
  Archiver archiver(hooked(*real, hook), test_keys(), Limits{}, opt, clock, random);
  archiver.on_commit([&](const CommitReport& r) { out.commits.push_back(r); });
  auto summary = archiver.run(clock.source.get_token());
  EXPECT_TRUE(summary.has_value());
  if (summary) out.summary = *summary;
  out.sleeps = clock.sleeps;
  return out;
}

void expect_clear_error(const PassLog& run, const std::filesystem::path& file,
                        const std::string& op) {
  ASSERT_FALSE(run.commits.empty());
  ASSERT_TRUE(run.commits[0].error.has_value()) << "the first commit should hit the full disk";
  EXPECT_EQ(run.commits[0].error->kind, ErrorKind::kDatabase);
  EXPECT_EQ(run.commits[0].error->message,
            "sqlite " + file.string() + ": " + op + ": " + kFull + full_advice(file));
  // n = 1, 2, 3 passes without success, then one that completes everything
  // (n back to 0), then an idle one.
  EXPECT_EQ(run.sleeps, (std::vector<double>{2.5, 4.5, 8.5, 1.5, 2.5}));
  EXPECT_GE(run.summary.failed_passes, 1u);
  EXPECT_EQ(run.summary.processed, 25u);  // all in the pass after space returned
}

// The archive database's disk fills up, the cache's does not: every pass
// claims, fails to store documents and gives the leases back.
TEST(FaultDiskFull, ArchiveDiskFullBacksOffThenCompletes) {
  full_disk::install();
  full_disk::Guard guard;
  World world(false);
  world.fill();
  const auto archive_file = world.root() / "archive.db";
  PassLog run = run_through_full_disk(
      world, [&] { full_disk::set_full(true, archive_file.string()); },
      [] { full_disk::set_full(false); });
  expect_clear_error(run, archive_file, "put_documents");
  EXPECT_EQ(run.summary.failed_passes, 3u);
  EXPECT_GT(full_disk::refused_writes(), 0);
  world.complete();
  for (const auto& file : world.files()) EXPECT_EQ(integrity_check(file), "ok") << file;
}

// One database for both: the lease release fails too, so the leases expire
// by themselves (pending entries, never skipped).
TEST(FaultDiskFull, CombinedDiskFullBacksOffThenCompletes) {
  full_disk::install();
  full_disk::Guard guard;
  World world(true);
  world.fill();
  PassLog run = run_through_full_disk(
      world, [] { full_disk::set_full(true); }, [] { full_disk::set_full(false); });
  expect_clear_error(run, world.root() / "one.db", "finish_with_documents");
  EXPECT_LE(run.summary.failed_passes, 3u);
  world.complete();
  EXPECT_EQ(integrity_check(world.root() / "one.db"), "ok");
}

// run --once on a full disk gives up after 5 attempts with the store's error
// and what to do; nothing is skipped, and the next run completes.
TEST(FaultDiskFull, OnceGivesUpClearlyAndTheNextRunCompletes) {
  full_disk::install();
  full_disk::Guard guard;
  World world(true);
  world.fill();
  auto stores = world.open();
  ASSERT_TRUE(stores.has_value());
  full_disk::set_full(true);
  FakeClock clock;
  FixedRandom random;
  RunOptions opt;
  opt.once = true;
  opt.workers = 2;
  auto r = Archiver(*stores, test_keys(), Limits{}, opt, clock, random).run({});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kDatabase);
  EXPECT_EQ(r.error().message, "sqlite " + (world.root() / "one.db").string() +
                                   ": claim: " + kFull + full_advice(world.root() / "one.db") +
                                   " (gave up after 5 attempts: check the store, then run again)");
  full_disk::set_full(false);
  EXPECT_EQ(world.consistent(), 0u);
  world.recover();
  world.complete();
  EXPECT_EQ(integrity_check(world.root() / "one.db"), "ok");
}

// A real file system out of space (ENOSPC from the kernel, not a shim): a
// 16 MiB tmpfs in a private mount namespace, filled up by a file after the
// first claim and emptied at the third backoff. Needs root (CAP_SYS_ADMIN).
TEST(FaultDiskFull, RealTmpfsOutOfSpace) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to mount a tmpfs";
  if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    GTEST_SKIP() << "cannot make a private mount namespace here";
  TempDir mnt;
  if (mount("tmpfs", mnt.path().c_str(), "tmpfs", 0, "size=16m,mode=0700") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here";
  struct Unmount {
    std::string path;
    ~Unmount() { umount2(path.c_str(), MNT_DETACH); }
  } unmount{mnt.path().string()};

  World world(false, mnt.path());
  world.fill();
  const auto filler = mnt.path() / "filler";
  PassLog run = run_through_full_disk(
      world,
      [&] {
        const int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ASSERT_GE(fd, 0);
        static const std::vector<char> block(4096, 'x');
        while (::write(fd, block.data(), block.size()) > 0) {
        }
        EXPECT_EQ(errno, ENOSPC);
        ::close(fd);
      },
      [&] { std::filesystem::remove(filler); });
  // Which write hits the wall first depends on what SQLite can rewrite in
  // place; the error is SQLite's ENOSPC, whatever the operation.
  ASSERT_FALSE(run.commits.empty());
  ASSERT_TRUE(run.commits[0].error.has_value());
  EXPECT_EQ(run.commits[0].error->kind, ErrorKind::kDatabase);
  const std::string& message = run.commits[0].error->message;
  EXPECT_NE(message.find(": " + kFull + ": the file system holding "), std::string::npos) << message;
  EXPECT_TRUE(message.ends_with(" is full: free space there (SQLite also needs room for its -wal "
                                "file); nothing is lost, the work is retried"))
      << run.commits[0].error->message;
  EXPECT_EQ(run.sleeps, (std::vector<double>{2.5, 4.5, 8.5, 1.5, 2.5}));
  world.complete();
  for (const auto& file : world.files()) EXPECT_EQ(integrity_check(file), "ok") << file;
}

}  // namespace
}  // namespace cybexp::testing
