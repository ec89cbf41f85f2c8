// PostgresStore under concurrency and failure: workers claiming together,
// fetch_blob from many threads, concurrent first starts, a server restart
// between calls, the same documents committed in opposite orders, and the
// claim+finish rate on small entries.
#include <barrier>
#include <chrono>
#include <cstdio>
#include <latch>
#include <set>
#include <thread>

#include "store/postgres/pg_test_fixture.h"

namespace cybexp::pg {
namespace {

class ConcurrencyTest : public PostgresTest {
 protected:
  // Inserts n small entries (blob "blob-<id>") in two statements, for speed.
  void bulk(int n) {
    sql("INSERT INTO cybexp_entries (name, typetag, orgid) "
        "SELECT 'n' || i, 'unr-honeypot', 'org' FROM generate_series(1, " +
        std::to_string(n) + ") i");
    sql("INSERT INTO cybexp_blobs (entry_id, data) "
        "SELECT id, convert_to('blob-' || id, 'UTF8') FROM cybexp_entries");
  }
};

TEST_F(ConcurrencyTest, TwoWorkersClaimDisjointSets) {
  open_store();  // creates the schema
  bulk(2000);
  std::vector<std::string> got[2];
  std::string errors[2];
  // Both hold a first batch before either goes on: otherwise one that
  // connects late (a busy machine) could find every entry already taken.
  std::latch first_claims(2);
  auto work = [&](int w) {
    bool arrived = false;
    try {
      StoreConfig config{url_, "", ""};
      auto store = ok(open_postgres(&config, nullptr)).cache;
      std::string worker = "worker-" + std::to_string(w);
      for (;;) {
        auto claimed = ok(store->claim(claim_request(worker, 50)));
        if (!arrived) {
          arrived = true;
          first_claims.arrive_and_wait();
        }
        if (claimed.empty()) break;
        std::vector<EntryResult> results;
        for (const auto& e : claimed) {
          got[w].push_back(e.id);
          results.push_back(processed(e.id, {"h" + e.id}));
        }
        if (finish_marked(*store, results, worker) != claimed.size()) {
          throw std::runtime_error("finish marked fewer than claimed");
        }
      }
    } catch (const std::exception& e) {
      errors[w] = e.what();
      if (!arrived) first_claims.count_down();
    }
  };
  std::thread t0(work, 0), t1(work, 1);
  t0.join();
  t1.join();
  EXPECT_EQ(errors[0], "");
  EXPECT_EQ(errors[1], "");
  std::set<std::string> s0(got[0].begin(), got[0].end()), s1(got[1].begin(), got[1].end());
  EXPECT_EQ(s0.size(), got[0].size());
  EXPECT_EQ(s1.size(), got[1].size());
  std::set<std::string> all = s0;
  for (const auto& id : s1) EXPECT_TRUE(all.insert(id).second) << "claimed twice: " << id;
  EXPECT_EQ(all.size(), 2000u);
  EXPECT_GT(s0.size(), 0u);
  EXPECT_GT(s1.size(), 0u);
  auto store = open_store();
  EXPECT_EQ(entry_counts(*store).processed, 2000u);
  std::printf("[ info ] worker-0 took %zu, worker-1 took %zu\n", s0.size(), s1.size());
}

TEST_F(ConcurrencyTest, FetchBlobFromFourThreads) {
  auto store = open_store();
  std::vector<std::vector<std::uint8_t>> blobs;
  for (int i = 0; i < 40; ++i) {
    std::vector<std::uint8_t> b(100000 + i * 1000);
    for (std::size_t j = 0; j < b.size(); ++j) b[j] = static_cast<std::uint8_t>(i * 31 + j);
    ok(store->add_entry(new_entry("e" + std::to_string(i)), b));
    blobs.push_back(std::move(b));
  }
  ClaimRequest req = claim_request("w", 100);
  req.inline_blob_max = 0;
  auto claimed = ok(store->claim(req));
  ASSERT_EQ(claimed.size(), 40u);
  std::atomic<int> mismatches{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        for (std::size_t i = 0; i < claimed.size(); ++i) {
          std::size_t k = (i + t * 10) % claimed.size();
          auto blob = store->fetch_blob(claimed[k], 1u << 20);
          if (!blob) {
            ++failures;
          } else if (*blob != blobs[k]) {
            ++mismatches;
          }
        }
      }
    });
  }
  // The main connection keeps working meanwhile.
  for (int i = 0; i < 20; ++i) EXPECT_EQ(entry_counts(*store).in_flight.size(), 1u);
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
}

TEST_F(ConcurrencyTest, ConcurrentFirstStartsCreateTheSchemaOnce) {
  std::string errors[6];
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      StoreConfig config{url_, "", ""};
      auto stores = open_postgres(&config, &config);
      if (!stores) errors[i] = stores.error().message;
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  auto store = open_store();
  EXPECT_EQ(ok(store->subtypes()), default_subtypes());
  EXPECT_EQ(ok(store->schema_version()), 2);
}

TEST_F(ConcurrencyTest, ServerRestartBetweenCalls) {
  auto store = open_store();
  for (int i = 0; i < 10; ++i) ok(store->add_entry(new_entry("e" + std::to_string(i)), bytes("b" + std::to_string(i))));
  auto first = ok(store->claim(claim_request("w", 5)));
  ASSERT_EQ(first.size(), 5u);
  ok(test_server().restart());

  // The first call after the restart finds the connection dead...
  std::vector<EntryResult> results;
  for (const auto& e : first) results.push_back(processed(e.id, {"h" + e.id}));
  auto failed = try_finish_marked(*store, results, "w");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().kind, ErrorKind::kDatabase);
  std::string db = url_.substr(url_.rfind('/') + 1);
  std::string prefix =
      "postgresql 127.0.0.1:" + std::to_string(test_server().port()) + "/" + db + ": finish: ";
  EXPECT_EQ(failed.error().message.rfind(prefix, 0), 0u) << failed.error().message;
  std::printf("[ info ] after restart: %s\n", failed.error().message.c_str());
  // ...and the next one reconnects; nothing was lost.
  EXPECT_EQ(finish_marked(*store, results, "w"), 5u);
  CacheEntry fetched = first[0];
  auto blob_after = store->fetch_blob(fetched, 100);  // the pool's connection died too
  if (!blob_after) {
    EXPECT_EQ(blob_after.error().kind, ErrorKind::kDatabase);
    blob_after = store->fetch_blob(fetched, 100);
  }
  EXPECT_EQ(ok(std::move(blob_after)), bytes("b0"));

  // Server down for a while: calls fail cleanly, then work once it is back.
  ok(test_server().stop());
  auto down = store->claim(claim_request("w"));
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().kind, ErrorKind::kDatabase);
  auto still_down = try_entry_counts(*store);
  ASSERT_FALSE(still_down);
  EXPECT_NE(still_down.error().message.find(": connect: "), std::string::npos)
      << still_down.error().message;
  std::printf("[ info ] while down: %s\n", still_down.error().message.c_str());
  ok(test_server().start());
  auto second = ok(store->claim(claim_request("w")));
  EXPECT_EQ(second.size(), 5u);
  results.clear();
  for (const auto& e : second) results.push_back(processed(e.id, {"h" + e.id}));
  EXPECT_EQ(finish_marked(*store, results, "w"), 5u);
  CacheCounts counts = entry_counts(*store);
  EXPECT_EQ(counts.processed, 10u);
  EXPECT_EQ(counts.pending, 0u);
}

TEST_F(ConcurrencyTest, SameDocumentsInOppositeOrdersDoNotDeadlock) {
  // Two workers committing the same payloads (one feed uploaded twice) in
  // opposite orders: each insert waits for the other's uncommitted row of the
  // same _hash, so without one global insert order they deadlock and the
  // server fails one commit. Rounds start together to make them overlap.
  open_store();
  constexpr int kRounds = 20, kDocs = 300;
  std::string errors[2];
  std::uint64_t inserted[2] = {0, 0};
  std::barrier start(2);
  StoreConfig config{url_, "", ""};
  std::shared_ptr<ArchiveStore> stores[2] = {ok(open_postgres(&config, &config)).archive,
                                             ok(open_postgres(&config, &config)).archive};
  auto work = [&](int w) {
    ArchiveStore* store = stores[w].get();
    for (int round = 0; round < kRounds; ++round) {
      std::vector<RawDocument> docs;
      for (int i = 0; i < kDocs; ++i) {
        int k = w == 0 ? i : kDocs - 1 - i;
        docs.push_back({"r" + std::to_string(round) + "-" + std::to_string(k), "unr_honeypot", "o",
                        "UTC", "{\"k\": " + std::to_string(k) + "}"});
      }
      start.arrive_and_wait();
      auto n = store->put_documents(docs);
      if (!n) {
        errors[w] = n.error().message;
        start.arrive_and_drop();
        return;
      }
      inserted[w] += *n;
    }
  };
  std::thread t0(work, 0), t1(work, 1);
  t0.join();
  t1.join();
  EXPECT_EQ(errors[0], "");
  EXPECT_EQ(errors[1], "");
  EXPECT_EQ(inserted[0] + inserted[1], static_cast<std::uint64_t>(kRounds * kDocs));
  auto store = open_store();
  EXPECT_EQ(document_counts(*store).documents, static_cast<std::uint64_t>(kRounds * kDocs));
}

TEST_F(ConcurrencyTest, ClaimAndFinishRate) {
  constexpr int kEntries = 20000;
  auto store = open_store();
  bulk(kEntries);
  for (std::size_t batch : {64u, 256u}) {
    if (batch == 256u) sql("UPDATE cybexp_entries SET processed = false, refs = NULL, finished_at = NULL");
    auto start = std::chrono::steady_clock::now();
    std::size_t n = 0;
    for (;;) {
      auto claimed = ok(store->claim(claim_request("bench", batch)));
      if (claimed.empty()) break;
      std::vector<EntryResult> results;
      results.reserve(claimed.size());
      for (const auto& e : claimed) results.push_back(processed(e.id, {"0123456789abcdef" + e.id}));
      n += finish_marked(*store, results, "bench");
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(n, static_cast<std::size_t>(kEntries));
    std::printf("[ info ] claim+finish, batch %zu: %d entries in %.2f s = %.0f entries/s\n", batch,
                kEntries, seconds, kEntries / seconds);
    // The rate is printed, never asserted: speed is the benchmarks' business
    // (docs/PERFORMANCE.md), and a loaded or sanitized build is slow.
  }
}

}  // namespace
}  // namespace cybexp::pg
