// Shared by the fault-injection tests: a cache and archive on real SQLite
// files (separate, or one combined file) filled with the interoperability
// vectors, and the two checks every fault must pass:
//
//   consistent(): at any moment (after a failure, after a kill) every entry
//     is still there, and is pending (maybe under a lease) or finished in its
//     expected state; a processed entry's document is in the archive; no
//     document is stored twice.
//   complete(): after recovery, every entry is finished in its expected
//     state and the archive holds exactly the expected documents.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "cybexp/archiver.h"
#include "store/backends.h"
#include "support/fake_clock.h"
#include "support/temp_dir.h"
#include "support/vectors.h"

namespace cybexp::testing {

inline std::vector<PrivateKey> test_keys() {
  auto k = PrivateKey::load_file(std::string(CYBEXP_TEST_DATA_DIR) + "/priv.pem", false);
  EXPECT_TRUE(k.has_value());
  return k ? std::vector<PrivateKey>{*k} : std::vector<PrivateKey>{};
}

class World {
 public:
  explicit World(bool combined, std::filesystem::path dir = {}) : combined_(combined) {
    root_ = dir.empty() ? temp_.path() : dir;
    for (const Vector& v : load_vectors()) {
      expected_[v.name] = v.state == "success" ? std::string(kStateProcessed) : v.state;
      if (v.state == "success") {
        hashes_.insert(v.hash);
        hash_of_[v.name] = v.hash;
      }
      vectors_.push_back(v);
    }
  }

  Result<Stores> open() const {
    if (combined_) return open_sqlite_combined((root_ / "one.db").string());
    return open_stores({"sqlite:" + (root_ / "cache.db").string(), "", ""},
                       {"sqlite:" + (root_ / "archive.db").string(), "", ""});
  }

  // Adds every vector once.
  void fill() {
    auto s = open();
    ASSERT_TRUE(s.has_value()) << s.error().message;
    for (const Vector& v : vectors_) {
      NewEntry e{v.name, v.typetag, v.orgid, v.timezone, 1.0};
      ASSERT_TRUE(s->cache->add_entry(e, v.blob).has_value());
    }
  }

  std::vector<std::filesystem::path> files() const {
    if (combined_) return {root_ / "one.db"};
    return {root_ / "cache.db", root_ / "archive.db"};
  }

  std::map<std::string, EntryInfo> entries() const {
    std::map<std::string, EntryInfo> out;
    auto s = open();
    EXPECT_TRUE(s.has_value());
    if (!s) return out;
    auto r = s->cache->for_each_entry({}, [&](const EntryInfo& i) {
      EXPECT_TRUE(out.emplace(i.entry.name, i).second) << "two entries named " << i.entry.name;
      return true;
    });
    EXPECT_TRUE(r.has_value());
    return out;
  }

  std::multiset<std::string> documents() const {
    std::multiset<std::string> out;
    auto s = open();
    EXPECT_TRUE(s.has_value());
    if (!s) return out;
    EXPECT_TRUE(s->archive->for_each_document(std::nullopt, [&](const RawDocument& d) {
      out.insert(d.hash);
      return true;
    }));
    return out;
  }

  // Returns how many entries are finished.
  std::size_t consistent() const {
    const auto entries = this->entries();
    const auto docs = documents();
    EXPECT_EQ(entries.size(), vectors_.size()) << "an entry was lost";
    for (const std::string& h : docs)
      EXPECT_EQ(docs.count(h), 1u) << "document stored twice: " << h;
    std::size_t finished = 0;
    for (const auto& [name, info] : entries) {
      SCOPED_TRACE(name);
      if (info.state == kStatePending) {
        EXPECT_TRUE(info.refs.empty());
        continue;
      }
      ++finished;
      EXPECT_EQ(info.state, expected_.at(name));
      EXPECT_TRUE(info.lease_owner.empty()) << "finished but still leased";
      if (info.state == kStateProcessed) {
        EXPECT_EQ(info.refs.size(), 1u);
        if (info.refs.size() != 1) continue;
        EXPECT_EQ(info.refs[0], hash_of_.at(name));
        EXPECT_EQ(docs.count(info.refs[0]), 1u) << "processed without its document";
      }
    }
    return finished;
  }

  void complete() const {
    EXPECT_EQ(consistent(), vectors_.size()) << "entries left pending";
    const auto docs = documents();
    EXPECT_EQ(std::set<std::string>(docs.begin(), docs.end()), hashes_);
  }

  // Waits (at most lease_seconds + 1 s) until no entry is under a live lease.
  void wait_for_leases_to_expire() const {
    double until = 0;
    for (const auto& [name, info] : entries()) {
      if (!info.lease_owner.empty()) until = std::max(until, info.lease_until);
    }
    const double now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    if (until > now) std::this_thread::sleep_for(std::chrono::duration<double>(until - now + 0.05));
  }

  // A normal run to the end, as the service would do after a restart.
  void recover() const {
    wait_for_leases_to_expire();
    auto s = open();
    ASSERT_TRUE(s.has_value()) << s.error().message;
    RunOptions opt;
    opt.once = true;
    opt.workers = 2;
    opt.lease_seconds = 1;
    auto r = Archiver(*s, test_keys(), Limits{}, opt).run({});
    ASSERT_TRUE(r.has_value()) << r.error().message;
  }

  std::size_t size() const { return vectors_.size(); }
  const std::filesystem::path& root() const { return root_; }

 private:
  bool combined_;
  TempDir temp_;
  std::filesystem::path root_;
  std::vector<Vector> vectors_;
  std::map<std::string, std::string> expected_;
  std::map<std::string, std::string> hash_of_;
  std::set<std::string> hashes_;
};

// PRAGMA integrity_check on a database file: "ok" when it is sound.
std::string integrity_check(const std::filesystem::path& file);

}  // namespace cybexp::testing
