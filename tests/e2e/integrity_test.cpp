// Corruption and the environment on the embedded store (issue 12, part 3),
// on the real binary: a corrupt page in the blob tree costs the entries whose
// blobs it holds (bad_data, with a reason) and no other; `check` finds it
// and says what to do; a lost archive next to processed entries is refused.
#include <gtest/gtest.h>
#include <sched.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "support/binary_test.h"
#include "support/process.h"

namespace cybexp {
namespace {

using testing::run_binary;
namespace fs = std::filesystem;

// Runs SQL on a store file outside the binary (to damage or inspect it).
std::vector<std::string> sql_rows(const fs::path& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::vector<std::string> rows;
  if (sqlite3_open(db_path.c_str(), &db) != SQLITE_OK) {
    ADD_FAILURE() << sqlite3_errmsg(db);
  } else {
    sqlite3_exec(
        db, sql.c_str(),
        [](void* out, int n, char** values, char**) {
          std::string row;
          for (int i = 0; i < n; ++i) row += (i ? "|" : "") + std::string(values[i] ? values[i] : "NULL");
          static_cast<std::vector<std::string>*>(out)->push_back(row);
          return 0;
        },
        &rows, nullptr);
  }
  sqlite3_close(db);
  return rows;
}

std::vector<std::uint8_t> read_blob(const fs::path& db_path, int entry_id) {
  sqlite3* db = nullptr;
  std::vector<std::uint8_t> blob;
  sqlite3_open(db_path.c_str(), &db);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, "SELECT data FROM blobs WHERE entry_id = ?1", -1, &stmt, nullptr);
  sqlite3_bind_int(stmt, 1, entry_id);
  if (sqlite3_step(stmt) == SQLITE_ROW) {
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt, 0));
    blob.assign(p, p + sqlite3_column_bytes(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  return blob;
}

// Breaks the overflow chain of `entry_id`'s blob: finds the page holding the
// blob's bytes at `offset` (a unique 64-byte run of ciphertext) and points
// its next-page link far past the end of the file. The blob must span more
// than one overflow page after that one, so the link is followed.
void corrupt_blob_page(const fs::path& db_path, int entry_id, std::size_t offset) {
  std::vector<std::uint8_t> blob = read_blob(db_path, entry_id);
  ASSERT_GT(blob.size(), offset + 64);
  const int page_size = std::stoi(sql_rows(db_path, "PRAGMA page_size").at(0));
  std::string file = testing::read_file(db_path);
  std::string needle(blob.begin() + static_cast<long>(offset), blob.begin() + static_cast<long>(offset) + 64);
  std::size_t at = file.find(needle);
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(file.find(needle, at + 1), std::string::npos);
  std::size_t page_start = at / static_cast<std::size_t>(page_size) * static_cast<std::size_t>(page_size);
  ASSERT_GT(at - page_start, 4u) << "the run must be in an overflow page's content";
  std::fill_n(file.begin() + static_cast<long>(page_start), 4, '\x7f');
  testing::write_file(db_path, file);
}

class Integrity : public testing::BinaryTest {
 protected:
  // One entry whose JSON payload is about `size` bytes of random text, so
  // its encrypted blob spans overflow pages.
  void submit_sized(int i, std::size_t size) {
    std::mt19937 rng(static_cast<unsigned>(i));
    std::string pad(size, 'a');
    for (char& c : pad) c = static_cast<char>('a' + rng() % 26);
    testing::write_file(dir_ / "in.txt", R"({"i": )" + std::to_string(i) + R"(, "pad": ")" + pad + "\"}");
    auto r = run("submit", "--typetag", "unr-honeypot", "--orgid", "org-1", "in.txt");
    ASSERT_EQ(r.code, 0) << r.err;
  }
};

TEST_F(Integrity, ACorruptBlobPageMakesOnlyItsEntryBadData) {
  // 50 kB blobs come inline with the claim (<= 64 KiB); 150 kB ones are
  // fetched by the worker. One of each is corrupted.
  const std::size_t sizes[] = {50'000, 50'000, 300, 150'000, 150'000, 300};
  for (int i = 0; i < 6; ++i) submit_sized(i + 1, sizes[i]);
  corrupt_blob_page(cache(), 2, 5'000);
  corrupt_blob_page(cache(), 4, 5'000);
  ASSERT_NE(sql_rows(cache(), "PRAGMA quick_check").at(0), "ok");

  auto once = run("run", "--once");
  EXPECT_EQ(once.code, 0) << once.err;
  EXPECT_TRUE(once.out.starts_with("processed 4, skipped 2 (bad_data 2), new documents 4, ")) << once.out;
  const std::string cache_path = (dir_ / "cybexp-data/cache.db").string();
  const std::string reason =
      "the blob cannot be read: the cache database is corrupt there (sqlite " + cache_path +
      ": database disk image is malformed; see 'cybexp-archive check'): upload the file again";
  auto listing = run("entries");
  EXPECT_EQ(listing.out, "1\tprocessed\tunr-honeypot\tin.txt\n"
                         "2\tbad_data\tunr-honeypot\tin.txt\t" + reason + "\n"
                         "3\tprocessed\tunr-honeypot\tin.txt\n"
                         "4\tbad_data\tunr-honeypot\tin.txt\t" + reason + "\n"
                         "5\tprocessed\tunr-honeypot\tin.txt\n"
                         "6\tprocessed\tunr-honeypot\tin.txt\n") << listing.err;

  auto check = run("check");
  EXPECT_EQ(check.code, 1);
  const std::string advice =
      ": stop the service, keep a copy of the file, then recover it (sqlite3 " + cache_path +
      " .recover) or restore it from a backup (docs/OPERATIONS.md, \"A corrupt store\")\n";
  EXPECT_TRUE(check.err.starts_with("cybexp-archive: sqlite " + cache_path +
                                    ": the database file is corrupt (quick_check: "))
      << check.err;
  EXPECT_TRUE(check.err.ends_with(advice + "cybexp-archive: check found 1 problem\n")) << check.err;
}

// A forced pass retakes the two bad_data entries: the claim meets the corrupt
// pages again, degrades again, and the rest of the store is untouched.
TEST_F(Integrity, AForcedPassOverCorruptBlobsStillFinishes) {
  for (int i = 1; i <= 3; ++i) submit_sized(i, 50'000);
  corrupt_blob_page(cache(), 2, 5'000);
  ASSERT_EQ(run("run", "--once").code, 0);
  auto forced = run("run", "--once", "--force-process");
  EXPECT_EQ(forced.code, 0) << forced.err;
  EXPECT_TRUE(forced.out.starts_with("processed 0, skipped 1 (bad_data 1), new documents 0, "))
      << forced.out;
  auto status = run("status").out;
  EXPECT_TRUE(status.starts_with("pending     0\nprocessed   2\nskipped     1 (bad_data 1)\n"
                                 "documents   2 ("))
      << status;
}

// A file that is not a database at all: every command says so, and what to do.
TEST_F(Integrity, ACorruptFileSaysWhatToDo) {
  submit_sized(1, 300);
  ASSERT_EQ(run("run", "--once").code, 0);
  testing::write_file(archive(), std::string(8192, 'x'));
  const std::string path = archive().string();
  const std::string advice =
      ": file is not a database: the file is corrupt: stop the service, keep a copy of the file, "
      "then recover it (sqlite3 " + path + " .recover) or restore it from a backup "
      "(docs/OPERATIONS.md, \"A corrupt store\")\n";
  auto once = run("run", "--once");
  EXPECT_EQ(once.code, 1);
  EXPECT_TRUE(once.err.starts_with("cybexp-archive: sqlite " + path + ": ")) << once.err;
  EXPECT_TRUE(once.err.ends_with(advice)) << once.err;
  auto check = run("check");
  EXPECT_EQ(check.code, 1);
  EXPECT_NE(check.err.find(advice), std::string::npos) << check.err;
}

// The archive file emptied (or replaced) while the cache still says its
// entries are processed: `run` refuses rather than archive into a new empty
// file and leave those entries pointing at nothing; `check` reports it.
TEST_F(Integrity, AnEmptiedArchiveNextToProcessedEntriesIsRefused) {
  submit_sized(1, 300);
  submit_sized(2, 300);
  ASSERT_EQ(run("run", "--once").code, 0);
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(archive().string() + suffix);
  testing::write_file(archive(), "");
  const std::string lost =
      "the archive holds no documents, but the cache has processed entries (entry 1 refers to "
      "a document): the archive was lost or replaced (an emptied archive file?): restore it "
      "from a backup (docs/DURABILITY.md), or archive those entries again with "
      "'cybexp-archive requeue --state processed'\n";
  auto check = run("check");
  EXPECT_EQ(check.code, 1);
  EXPECT_NE(check.err.find("cybexp-archive: sqlite " + archive().string() +
                           ": the file is empty (0 bytes), not a cybexp store; if entries were "
                           "archived into it, restore it from a backup\n"),
            std::string::npos)
      << check.err;
  auto once = run("run", "--once");
  EXPECT_EQ(once.code, 1);
  EXPECT_EQ(once.err, "cybexp-archive: " + lost);
  // Now a store, still without documents: check names the same problem.
  auto again = run("check");
  EXPECT_EQ(again.code, 1);
  EXPECT_NE(again.err.find("cybexp-archive: " + lost), std::string::npos) << again.err;
  // The way out it names works.
  ASSERT_EQ(run("requeue", "--state", "processed").code, 0);
  auto redo = run("run", "--once");
  EXPECT_EQ(redo.code, 0) << redo.err;
  EXPECT_TRUE(redo.out.starts_with("processed 2, skipped 0, new documents 2, ")) << redo.out;
}

// The store's directory on a file system mounted read-only (as root, which
// file modes do not stop): `run` says what to do about it.
TEST_F(Integrity, AReadOnlyDirectorySaysWhatToDo) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to mount a file system read-only";
  if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    GTEST_SKIP() << "cannot make a private mount namespace here";
  const fs::path mnt = dir_ / "mnt";
  fs::create_directories(mnt);
  if (mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=16m,mode=0700") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here";
  struct Unmount {
    std::string path;
    ~Unmount() { umount2(path.c_str(), MNT_DETACH); }
  } unmount{mnt.string()};
  testing::ProcessOptions home{{{"CYBEXP_HOME", (mnt / "data").string()}}, {}, {}};
  auto in_home = [&](std::vector<std::string> args) { return run_binary(dir_.path(), args, home); };
  ASSERT_EQ(in_home({"keygen"}).code, 0);
  testing::write_file(dir_ / "in.txt", R"({"a": 1})");
  ASSERT_EQ(in_home({"submit", "--typetag", "unr-honeypot", "--orgid", "o", "in.txt"}).code, 0);
  ASSERT_EQ(mount(nullptr, mnt.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr), 0);
  auto once = in_home({"run", "--once"});
  EXPECT_EQ(once.code, 1);
  const std::string cache = (mnt / "data/cache.db").string();
  const bool says_what_to_do =
      once.err.find(cache + " or its directory is read-only for this user: give the service's "
                    "user write access to both") != std::string::npos ||
      once.err.find("check that the directory of " + cache + " exists and that this user may "
                    "write there") != std::string::npos;
  EXPECT_TRUE(says_what_to_do) << once.err;
}

}  // namespace
}  // namespace cybexp
