// Shared by the SQLite store's own tests (what every backend promises is in
// the store contract suite, src/store/store_contract_*_test.cpp): the common
// store test helpers, and a raw sqlite3 side door for looking at (or
// tampering with) the file behind the store's back.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>

#include "cybexp/store.h"
#include "store/backends.h"
#include "support/store_testing.h"
#include "support/temp_dir.h"

namespace cybexp::sqlite::testing {

using cybexp::testing::bytes;
using cybexp::testing::claim_request;
using cybexp::testing::doc;
using cybexp::testing::document_counts;
using cybexp::testing::entries_of;
using cybexp::testing::entry_counts;
using cybexp::testing::Finished;
using cybexp::testing::finish_marked;
using cybexp::testing::finish_with_documents;
using cybexp::testing::ids_of;
using cybexp::testing::new_entry;
using cybexp::testing::ok;
using cybexp::testing::processed;
using cybexp::testing::skipped;
using cybexp::testing::TempDir;
using cybexp::testing::try_finish_marked;
using cybexp::testing::try_finish_with_documents;

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

}  // namespace cybexp::sqlite::testing
