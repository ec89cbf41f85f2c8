// Tests of the SQLite store under concurrency: two processes draining one
// file, fetch_blob from several threads while the main thread claims and
// finishes, and a claim+finish throughput figure.
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include "store/sqlite/sqlite_test_util.h"

namespace cybexp::sqlite::testing {
namespace {

// A child process's whole life: open its own store on the shared file, say
// it is ready, wait for the start signal, drain the queue in batches of 10,
// and write every claimed id (one a line) and then "finished N" to `out`.
// Returns the exit code; runs after fork(), so it touches nothing it
// inherited.
int drain_as_child(const std::string& path, const std::string& out, int ready_fd, int start_fd) {
  auto opened = open_sqlite_cache(path);
  if (!opened) return 10;
  CacheStore& cache = **opened;
  std::string worker = "child-" + std::to_string(::getpid());
  std::FILE* f = std::fopen(out.c_str(), "w");
  if (f == nullptr) return 11;
  char go = 'r';
  if (::write(ready_fd, &go, 1) != 1) return 12;
  if (::read(start_fd, &go, 1) < 0) return 12;  // EOF when the parent says go
  std::uint64_t finished = 0;
  for (;;) {
    auto claimed = cache.claim(claim_request(worker, 10));
    if (!claimed) {
      std::fprintf(f, "error %s\n", claimed.error().message.c_str());
      std::fclose(f);
      return 13;
    }
    if (claimed->empty()) break;
    std::vector<EntryResult> results;
    for (const CacheEntry& e : *claimed) {
      std::fprintf(f, "%s\n", e.id.c_str());
      results.push_back(processed(e.id, {worker}));
    }
    // A little "work" between claim and finish, as a real worker has, so
    // the two processes' transactions interleave.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    auto marked = try_finish_marked(cache, results, worker);
    if (!marked) {
      std::fprintf(f, "error %s\n", marked.error().message.c_str());
      std::fclose(f);
      return 14;
    }
    finished += *marked;
  }
  std::fprintf(f, "finished %llu\n", static_cast<unsigned long long>(finished));
  std::fclose(f);
  return 0;
}

TEST(SqliteConcurrency, TwoProcessesNeverClaimTheSameEntry) {
  constexpr int kEntries = 2000;
  TempDir dir;
  std::string path = dir.file("shared.db");
  {
    auto cache = ok(open_sqlite_cache(path));
    for (int i = 0; i < kEntries; ++i) ok(cache->add_entry(new_entry("upload"), bytes("e")));
  }  // closed before fork: a child must not inherit a live connection

  int start[2], ready[2];
  ASSERT_EQ(::pipe(start), 0);
  ASSERT_EQ(::pipe(ready), 0);
  std::vector<pid_t> pids;
  std::vector<std::string> outs;
  for (int c = 0; c < 2; ++c) {
    std::string out = dir.file("child" + std::to_string(c) + ".txt");
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(start[1]);
      ::_exit(drain_as_child(path, out, ready[1], start[0]));
    }
    pids.push_back(pid);
    outs.push_back(out);
  }
  ::close(start[0]);
  ::close(ready[1]);
  char flags[2];
  int ready_count = 0;
  while (ready_count < 2) {  // until both have opened the store (or died)
    ssize_t n = ::read(ready[0], flags + ready_count, 2 - ready_count);
    if (n <= 0) break;
    ready_count += static_cast<int>(n);
  }
  ::close(ready[0]);
  ::close(start[1]);  // both children start now
  EXPECT_EQ(ready_count, 2);

  std::map<std::string, std::string> claimed_by;  // id -> worker
  std::uint64_t finished_total = 0;
  for (int c = 0; c < 2; ++c) {
    int status = 0;
    ASSERT_EQ(::waitpid(pids[c], &status, 0), pids[c]);
    ASSERT_TRUE(WIFEXITED(status));
    std::ifstream in(outs[c]);
    std::string line, last;
    std::uint64_t lines = 0;
    std::string worker = "child-" + std::to_string(pids[c]);
    while (std::getline(in, line)) {
      last = line;
      if (line.rfind("finished ", 0) == 0 || line.rfind("error ", 0) == 0) continue;
      ++lines;
      auto [it, fresh] = claimed_by.emplace(line, worker);
      EXPECT_TRUE(fresh) << "entry " << line << " claimed by " << it->second << " and " << worker;
    }
    ASSERT_EQ(WEXITSTATUS(status), 0) << last;
    ASSERT_EQ(last.rfind("finished ", 0), 0u) << last;
    finished_total += std::stoull(last.substr(9));
    EXPECT_GT(lines, 0u) << worker << " got no work: the test did not exercise contention";
    std::printf("[ figures  ] %s claimed %llu entries\n", worker.c_str(),
                static_cast<unsigned long long>(lines));
  }
  EXPECT_EQ(claimed_by.size(), static_cast<std::size_t>(kEntries));
  EXPECT_EQ(finished_total, static_cast<std::uint64_t>(kEntries));

  auto cache = ok(open_sqlite_cache(path));
  auto counts = entry_counts(*cache);
  EXPECT_EQ(counts.processed, static_cast<std::uint64_t>(kEntries));
  EXPECT_EQ(counts.pending, 0u);
  EXPECT_TRUE(counts.in_flight.empty());
  std::size_t checked = 0;
  ok(cache->for_each_entry({}, [&](const EntryInfo& info) {
    EXPECT_EQ(info.entry.attempts, 1) << info.entry.id;
    EXPECT_THAT(info.refs, ::testing::ElementsAre(claimed_by[info.entry.id])) << info.entry.id;
    ++checked;
    return true;
  }));
  EXPECT_EQ(checked, static_cast<std::size_t>(kEntries));
}

std::string blob_for(int i) {
  std::string s(20'000 + i, static_cast<char>('a' + i % 26));
  s.replace(0, std::to_string(i).size(), std::to_string(i));
  return s;
}

TEST(SqliteConcurrency, FetchBlobFromThreadsWhileClaiming) {
  constexpr int kEntries = 300;
  TempDir dir;
  auto cache = ok(open_sqlite_cache(dir.file("threads.db")));
  for (int i = 1; i <= kEntries; ++i) ok(cache->add_entry(new_entry("upload"), bytes(blob_for(i))));

  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::vector<std::uint64_t> fetched(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      // Keep going until the main thread has drained the queue, then one
      // more full pass so every thread overlaps with the writes.
      bool last_pass = false;
      while (!last_pass) {
        last_pass = done.load();
        for (int i = 1 + t; i <= kEntries; i += 3) {
          CacheEntry e;
          e.id = std::to_string(i);
          auto blob = cache->fetch_blob(e, 1 << 20);
          if (!blob || *blob != bytes(blob_for(i))) failures.fetch_add(1);
          ++fetched[t];
        }
      }
    });
  }
  ClaimRequest req = claim_request("main", 10);
  req.inline_blob_max = 0;  // never inline: the workers fetch
  std::uint64_t finished = 0;
  for (;;) {
    auto claimed = ok(cache->claim(req));
    if (claimed.empty()) break;
    std::vector<EntryResult> results;
    for (const auto& e : claimed) {
      EXPECT_FALSE(e.blob.has_value());
      results.push_back(processed(e.id, {"h" + e.id}));
    }
    finished += finish_marked(*cache, results, "main");
  }
  done = true;
  for (auto& th : threads) th.join();
  EXPECT_EQ(finished, static_cast<std::uint64_t>(kEntries));
  EXPECT_EQ(failures.load(), 0);
  // At least the one full pass each thread makes after the drain (thread 3
  // starts at 4: 99 entries a pass; the others 100).
  for (int t = 0; t < 4; ++t) {
    const std::uint64_t one_pass = static_cast<std::uint64_t>((kEntries - 1 - t) / 3 + 1);
    EXPECT_GE(fetched[t], one_pass) << "thread " << t;
  }
}

TEST(SqliteConcurrency, ClaimFinishThroughput) {
  constexpr int kEntries = 20'000;
  TempDir dir;
  auto stores = ok(open_sqlite_combined(dir.file("bench.db")));
  auto& cache = *stores.cache;
  std::vector<std::uint8_t> small(200, 'x');
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kEntries; ++i) ok(cache.add_entry(new_entry("upload"), small));
  auto t1 = std::chrono::steady_clock::now();
  std::uint64_t finished = 0;
  std::set<std::string> claimed_ids;
  for (;;) {
    auto claimed = ok(cache.claim(claim_request("bench", 64)));
    if (claimed.empty()) break;
    std::vector<EntryResult> results;
    for (const auto& e : claimed) {
      EXPECT_TRUE(claimed_ids.insert(e.id).second) << "entry " << e.id << " claimed twice";
      results.push_back(processed(e.id, {"hash-" + e.id}));
    }
    finished += finish_marked(cache, results, "bench");
  }
  auto t2 = std::chrono::steady_clock::now();
  EXPECT_EQ(finished, static_cast<std::uint64_t>(kEntries));
  EXPECT_EQ(claimed_ids.size(), static_cast<std::size_t>(kEntries));
  double add_s = std::chrono::duration<double>(t1 - t0).count();
  double cycle_s = std::chrono::duration<double>(t2 - t1).count();
  double rate = kEntries / cycle_s;
  std::printf("[ figures  ] add_entry: %.0f entries/s; claim(64)+finish: %.0f entries/s\n",
              kEntries / add_s, rate);
  RecordProperty("claim_finish_per_s", static_cast<int>(rate));
  // The rate is printed, never asserted: under ThreadSanitizer on a loaded
  // machine it fell to 1,751/s. Speed is measured by BM_SqliteClaimFinish
  // (bench/, docs/PERFORMANCE.md); what this test asserts is that batches
  // of 64 claim and finish every entry exactly once.
}

}  // namespace
}  // namespace cybexp::sqlite::testing
