// What the pass tests share: a fixture of real SQLite stores filled with real
// envelopes, and the store wrappers and clocks that provoke each bug.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "cybexp/archiver.h"
#include "store/backends.h"
#include "support/fake_clock.h"
#include "support/store_wrappers.h"
#include "support/temp_dir.h"
#include "support/vectors.h"

namespace cybexp::testing {

inline PrivateKey load_test_key(const char* file) {
  auto k = PrivateKey::load_file(std::string(CYBEXP_TEST_DATA_DIR) + "/" + file, false);
  if (!k) throw std::runtime_error(k.error().message);
  return *k;
}

struct PassFixture {
  TempDir dir;
  Stores stores;
  Vector vector = load_vectors().at(0);  // cowrie_login: archives successfully

  explicit PassFixture(bool combined = false) {
    auto s = combined ? open_sqlite_combined((dir / "one.db").string())
                      : open_stores({"sqlite:" + (dir / "cache.db").string(), "", ""},
                                    {"sqlite:" + (dir / "archive.db").string(), "", ""});
    if (!s) throw std::runtime_error(s.error().message);
    stores = *s;
  }
  std::vector<PrivateKey> keys() const { return {load_test_key("priv.pem")}; }
  // A key the entries were not encrypted for: every entry is bad_data.
  std::vector<PrivateKey> other_keys() const { return {load_test_key("other-priv.pem")}; }

  void add_copies(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      NewEntry e{vector.name + std::to_string(i), vector.typetag, vector.orgid, vector.timezone, 1.0};
      if (!stores.cache->add_entry(e, vector.blob)) throw std::runtime_error("add_entry");
    }
  }
  // n entries whose envelopes are about `bytes` long: past the inline limit,
  // so fetched apart and charged to the memory budget.
  void add_large(std::size_t n, std::size_t bytes) {
    auto pub = PublicKey::load_file(std::string(CYBEXP_TEST_DATA_DIR) + "/pub.pem");
    if (!pub) throw std::runtime_error(pub.error().message);
    for (std::size_t i = 0; i < n; ++i) {
      const std::string text = "{\"n\": " + std::to_string(i) + ", \"pad\": \"" +
                               std::string(bytes, 'x') + "\"}";
      auto blob = encrypt_envelope(
          {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()}, *pub);
      NewEntry e{"large" + std::to_string(i), "unr-honeypot", "o", "UTC", 1.0};
      if (!blob || !stores.cache->add_entry(e, *blob)) throw std::runtime_error("add_entry");
    }
  }
  RunOptions options() const {
    RunOptions opt;
    opt.once = true;
    opt.workers = 2;
    return opt;
  }
  Archiver archiver(const RunOptions& opt, std::vector<PrivateKey> keys,
                    Clock& clock = system_clock(), std::optional<Stores> over = std::nullopt) {
    return Archiver(over ? *over : stores, std::move(keys), Limits{}, opt, clock);
  }
  std::map<std::string, EntryInfo> entries() {
    std::map<std::string, EntryInfo> out;
    auto r = stores.cache->for_each_entry({}, [&](const EntryInfo& i) {
      out[i.entry.id] = i;
      return true;
    });
    if (!r) throw std::runtime_error(r.error().message);
    return out;
  }
  std::uint64_t processed_count() {
    std::uint64_t n = 0;
    for (const auto& [id, info] : entries()) n += info.state == kStateProcessed ? 1 : 0;
    return n;
  }
};

// Counts claims.
class CountingCache final : public CacheStoreWrapper {
 public:
  using CacheStoreWrapper::CacheStoreWrapper;
  Result<std::vector<CacheEntry>> claim(const ClaimRequest& request) override {
    ++claims;
    return CacheStoreWrapper::claim(request);
  }
  std::atomic<std::uint64_t> claims{0};
};

// Throws from the nth fetch_blob, as an allocation can on a hostile payload.
class ThrowOnFetch final : public CacheStoreWrapper {
 public:
  ThrowOnFetch(std::shared_ptr<CacheStore> target, int nth)
      : CacheStoreWrapper(std::move(target)), nth_(nth) {}
  Result<std::vector<std::uint8_t>> fetch_blob(const CacheEntry& e, std::uint64_t max) override {
    if (++calls_ == nth_) throw std::bad_alloc();
    return CacheStoreWrapper::fetch_blob(e, max);
  }

 private:
  int nth_;
  std::atomic<int> calls_{0};
};

// Counts how many fetch_blob calls run at once. Each holds on until another
// fetch runs beside it or `hold` has passed, so that workers free to overlap
// do, however late a busy machine wakes the second one; once two have met,
// fetches no longer wait.
class OverlapCountingCache final : public CacheStoreWrapper {
 public:
  OverlapCountingCache(std::shared_ptr<CacheStore> inner,
                       std::chrono::milliseconds hold = std::chrono::milliseconds(20))
      : CacheStoreWrapper(std::move(inner)), hold_(hold) {}
  Result<std::vector<std::uint8_t>> fetch_blob(const CacheEntry& e, std::uint64_t max) override {
    {
      std::unique_lock lock(mu_);
      most = std::max(most.load(), ++running_);
      cv_.notify_all();
      cv_.wait_for(lock, hold_, [&] { return running_ >= 2 || most >= 2; });
    }
    auto blob = CacheStoreWrapper::fetch_blob(e, max);
    std::lock_guard lock(mu_);
    --running_;
    return blob;
  }
  std::atomic<int> most{0};

 private:
  std::chrono::milliseconds hold_;
  std::mutex mu_;
  std::condition_variable cv_;
  int running_ = 0;  // guarded by mu_
};

// Before the first finish, lets the leases run out and has another worker
// claim everything: the finish that follows holds no lease any more, as
// when a worker stalls past lease_seconds.
class StealingCache final : public CacheStoreWrapper {
 public:
  using CacheStoreWrapper::CacheStoreWrapper;
  Result<FinishReport> finish(std::span<const EntryResult> results,
                              const std::string& worker) override {
    steal_once();
    return CacheStoreWrapper::finish(results, worker);
  }
  Result<FinishReport> finish_with_documents(std::span<const RawDocument> docs,
                                             std::span<const EntryResult> results,
                                             const std::string& worker) override {
    steal_once();
    return CacheStoreWrapper::finish_with_documents(docs, results, worker);
  }
  std::size_t stolen = 0;

 private:
  void steal_once() {
    if (done_) return;
    done_ = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // past a 1 s lease
    ClaimRequest thief;
    thief.worker = "thief";
    thief.max_entries = 1000;
    auto taken = CacheStoreWrapper::claim(thief);
    if (!taken) throw std::runtime_error(taken.error().message);
    stolen = taken->size();
  }
  bool done_ = false;
};

// A clock that leaps an hour at every reading.
class LeapingClock final : public Clock {
 public:
  double now() override { return t_.fetch_add(3600.0); }
  bool sleep_for(double, std::stop_token) override { return true; }

 private:
  std::atomic<double> t_{0};
};

}  // namespace cybexp::testing
