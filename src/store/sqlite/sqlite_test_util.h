// Shared helpers for the SQLite store tests: a unique temporary directory per
// test, entry and document builders, and a raw sqlite3 side door for looking
// at (or tampering with) the file behind the store's back.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cybexp/store.h"
#include "store/backends.h"
#include "store/sqlite/sqlite_db.h"

namespace cybexp::sqlite::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "cybexp-sqlite-XXXXXX").string();
    char* made = ::mkdtemp(pattern.data());
    if (made == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::vector<std::uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

inline NewEntry new_entry(const std::string& typetag = "unr-honeypot", double timestamp = 1000,
                          const std::string& name = "upload") {
  return NewEntry{name, typetag, "org-1", "UTC", timestamp};
}

inline RawDocument doc(const std::string& hash, const std::string& sub_type = "unr_honeypot",
                       const std::string& data = R"({"a": "1"})") {
  return RawDocument{hash, sub_type, "org-1", "UTC", data};
}

inline EntryResult processed_result(const std::string& id, std::vector<std::string> refs) {
  EntryResult r;
  r.id = id;
  r.fate = EntryFate::kProcessed;
  r.refs = std::move(refs);
  return r;
}

inline EntryResult skipped_result(const std::string& id, const std::string& state,
                                  const std::string& reason) {
  EntryResult r;
  r.id = id;
  r.fate = fate_from_state(state).value_or(EntryFate::kError);
  r.reason = reason;
  return r;
}

inline ClaimRequest claim_request(const std::string& worker, std::size_t max_entries = 64,
                                  bool force = false) {
  ClaimRequest req;
  req.worker = worker;
  req.max_entries = max_entries;
  req.force = force;
  return req;
}

inline std::vector<std::string> ids_of(const std::vector<CacheEntry>& entries) {
  std::vector<std::string> ids;
  for (const auto& e : entries) ids.push_back(e.id);
  return ids;
}

inline std::vector<EntryInfo> list(CacheStore& cache, const EntryFilter& filter = {}) {
  std::vector<EntryInfo> out;
  auto r = cache.for_each_entry(filter, [&](const EntryInfo& info) {
    out.push_back(info);
    return true;
  });
  EXPECT_TRUE(r.has_value()) << r.error().message;
  return out;
}

inline std::vector<std::string> listed_ids(CacheStore& cache, const EntryFilter& filter = {}) {
  std::vector<std::string> ids;
  for (const auto& info : list(cache, filter)) ids.push_back(info.entry.id);
  return ids;
}

// A separate raw connection: runs `sql`, returning the first column of the
// first row as text ("" if none). Fails the test on error.
inline std::string raw_sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 30000);
  std::string first;
  char* err = nullptr;
  auto cb = [](void* out, int n, char** values, char**) {
    auto* s = static_cast<std::string*>(out);
    if (s->empty() && n > 0 && values[0] != nullptr) *s = values[0];
    return 0;
  };
  int rc = sqlite3_exec(db, sql.c_str(), cb, &first, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "") << " in " << sql;
  sqlite3_free(err);
  sqlite3_close(db);
  return first;
}

// Every store method returns a Result; these unwrap with a test failure.
template <class T>
T ok(Result<T> r) {
  if (!r) throw std::runtime_error("unexpected error: " + r.error().message);
  return std::move(r).value();
}
inline void ok(Result<void> r) {
  if (!r) throw std::runtime_error("unexpected error: " + r.error().message);
}

}  // namespace cybexp::sqlite::testing
