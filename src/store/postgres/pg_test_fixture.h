// Shared setup for the PostgreSQL store tests: one throwaway server per test
// process (started on first use, stopped at exit) and a fresh database per
// test, so tests never see each other's rows.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>

#include "store/backends.h"
#include "store/postgres/postgres_store.h"
#include "support/postgres_server.h"

namespace cybexp::pg {

// The value of a Result, or a test failure (thrown, so it works in helpers and
// expressions; gtest reports it with the message).
template <class T>
T ok(Result<T> r) {
  if (!r) throw std::runtime_error(std::string(error_kind_name(r.error().kind)) + ": " +
                                   r.error().message);
  return std::move(*r);
}
inline void ok(Result<void> r) {
  if (!r) throw std::runtime_error(std::string(error_kind_name(r.error().kind)) + ": " +
                                   r.error().message);
}

inline test_support::PostgresServer& test_server() {
  static test_support::PostgresServer server;
  static Result<std::string> started = server.start();
  if (!started) throw std::runtime_error(started.error().message);
  return server;
}

class PostgresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    url_ = ok(test_server().create_database("t" + std::to_string(++counter)));
  }

  // One object serving cache and archive (same URL for both).
  std::shared_ptr<PostgresStore> open_store() {
    StoreConfig config{url_, "", ""};
    Stores stores = ok(open_postgres(&config, &config));
    return std::dynamic_pointer_cast<PostgresStore>(stores.cache);
  }

  static std::vector<std::uint8_t> bytes(std::string_view s) {
    return std::vector<std::uint8_t>(s.begin(), s.end());
  }

  static NewEntry entry(std::string name, std::string typetag = "unr-honeypot") {
    NewEntry e;
    e.name = std::move(name);
    e.typetag = std::move(typetag);
    e.orgid = "org1";
    e.timezone = "UTC";
    e.timestamp = 1700000000.25;
    return e;
  }

  static ClaimRequest request(std::string worker, std::size_t n = 64) {
    ClaimRequest r;
    r.worker = std::move(worker);
    r.max_entries = n;
    return r;
  }

  static EntryResult done(const std::string& id, std::vector<std::string> refs) {
    return EntryResult{id, EntryFate::kProcessed, std::move(refs), ""};
  }
  static EntryResult skipped(const std::string& id, std::string state, std::string reason) {
    return EntryResult{id, fate_from_state(state).value_or(EntryFate::kError), {},
                       std::move(reason)};
  }

  // Runs SQL directly (to look behind the store's back, or to break things).
  void sql(const std::string& statement) {
    Connection conn(url_);
    ok(conn.exec("test", statement));
  }

  std::string url_;
};

}  // namespace cybexp::pg
