// Shared setup for the PostgreSQL store's own tests: the test process's one
// throwaway server (tests/support/postgres_server.h) and a fresh database per
// test, so tests never see each other's rows.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "store/backends.h"
#include "store/postgres/postgres_store.h"
#include "support/postgres_server.h"
#include "support/store_testing.h"

namespace cybexp::pg {

using testing::bytes;
using testing::claim_request;
using testing::doc;
using testing::document_counts;
using testing::documents_of;
using testing::entry_counts;
using testing::finish_marked;
using testing::finish_with_documents;
using testing::new_entry;
using testing::ok;
using testing::processed;
using testing::skipped;
using testing::try_entry_counts;
using testing::try_finish_marked;
using testing::try_finish_with_documents;

inline test_support::PostgresServer& test_server() { return test_support::shared_test_server(); }

class PostgresTest : public ::testing::Test {
 protected:
  void SetUp() override { url_ = test_support::fresh_test_database(); }

  // One object serving cache and archive (same URL for both).
  std::shared_ptr<PostgresStore> open_store() {
    StoreConfig config{url_, "", ""};
    Stores stores = ok(open_postgres(&config, &config));
    return std::dynamic_pointer_cast<PostgresStore>(stores.cache);
  }

  // Runs SQL directly (to look behind the store's back, or to break things).
  void sql(const std::string& statement) {
    Connection conn(url_);
    ok(conn.exec("test", statement));
  }

  std::string url_;
};

}  // namespace cybexp::pg
