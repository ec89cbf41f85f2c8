// `check --deep` on the embedded store, one test per kind of finding:
// processed entries whose documents are missing, documents no entry refers
// to, a schema object missing, a corrupt file; exit 1 with a summary when
// anything is wrong, 0 when all is well. (PostgreSQL: cluster_integrity_test.)
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>

#include "support/binary_test.h"

namespace cybexp {
namespace {


std::string sql_value(const std::filesystem::path& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string value;
  EXPECT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  sqlite3_exec(
      db, sql.c_str(),
      [](void* out, int, char** values, char**) {
        *static_cast<std::string*>(out) = values[0] ? values[0] : "NULL";
        return 0;
      },
      &value, nullptr);
  sqlite3_close(db);
  return value;
}

class CheckDeep : public testing::BinaryTest {
 protected:
  void SetUp() override {
    BinaryTest::SetUp();
    if (HasFatalFailure()) return;
    for (const char* payload : {R"({"a": 1})", R"({"b": 2})"}) {
      testing::write_file(dir_ / "in.txt", payload);
      ASSERT_EQ(run("submit", "--typetag", "unr-honeypot", "--orgid", "o", "in.txt").code, 0);
    }
    ASSERT_EQ(run("run", "--once").code, 0);
    hash1_ = sql_value(cache(), "SELECT json_extract(refs, '$[0]') FROM entries WHERE id = 1");
    hash2_ = sql_value(cache(), "SELECT json_extract(refs, '$[0]') FROM entries WHERE id = 2");
    ASSERT_EQ(hash1_.size(), 64u);
  }
  // The lines `check --deep` adds to stdout.
  static std::string deep_line(const testing::RunResult& r) {
    auto at = r.out.find("deep check");
    return at == std::string::npos ? r.out : r.out.substr(at);
  }
  std::string hash1_, hash2_;
};

TEST_F(CheckDeep, AllWellExitsZero) {
  auto r = run("check", "--deep");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(deep_line(r), "deep check    2 processed entries refer to 2 documents; the archive "
                          "holds 2 documents\nok\n");
}

TEST_F(CheckDeep, AProcessedEntryWhoseDocumentIsMissing) {
  sql_value(archive(), "DELETE FROM documents WHERE hash = '" + hash1_ + "'");
  auto r = run("check", "--deep");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "cybexp-archive: entry 1 is processed but its document " + hash1_ +
                       " is not in the archive: archive it again with 'cybexp-archive requeue "
                       "--state processed --id 1', then 'run'\n"
                       "cybexp-archive: deep check: 1 processed entry without its documents, 0 "
                       "documents no entry refers to, 0 database problems\n"
                       "cybexp-archive: check found 1 problem\n");
  EXPECT_EQ(deep_line(r), "deep check    2 processed entries refer to 2 documents; the archive "
                          "holds 1 document\n");
  // The advice works.
  ASSERT_EQ(run("requeue", "--state", "processed", "--id", "1").code, 0);
  ASSERT_EQ(run("run", "--once").code, 0);
  EXPECT_EQ(run("check", "--deep").code, 0);
}

TEST_F(CheckDeep, ADocumentNoEntryRefersTo) {
  ASSERT_EQ(run("requeue", "--state", "processed", "--id", "2").code, 0);
  auto r = run("check", "--deep");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "cybexp-archive: document " + hash2_ +
                       " (sub_type unr_honeypot) is referred to by no processed entry: left by an "
                       "entry requeued, or whose mark was lost, after the document was written; "
                       "'run' refers to it again when that entry is archived\n"
                       "cybexp-archive: deep check: 0 processed entries without their documents, "
                       "1 document no entry refers to, 0 database problems\n"
                       "cybexp-archive: check found 1 problem\n");
  ASSERT_EQ(run("run", "--once").code, 0);
  EXPECT_EQ(run("check", "--deep").code, 0);
}

TEST_F(CheckDeep, AMissingIndex) {
  sql_value(archive(), "DROP INDEX documents_sub_type");
  auto r = run("check", "--deep");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "cybexp-archive: sqlite " + archive().string() +
                       ": schema: index documents_sub_type is missing (was the file changed by "
                       "hand?): restore the file from a backup, or recreate what is missing as "
                       "docs/OPERATIONS.md (\"Checking the stores\") says\n"
                       "cybexp-archive: deep check: 0 processed entries without their documents, "
                       "0 documents no entry refers to, 1 database problem\n"
                       "cybexp-archive: check found 1 problem\n");
  // Plain check does not look at the schema's objects.
  EXPECT_EQ(run("check").code, 0);
}

// integrity_check finds what quick_check does not: an index that no longer
// matches its table.
TEST_F(CheckDeep, AnIndexOutOfStepWithItsTable) {
  sql_value(archive(), "PRAGMA writable_schema = ON; "
                       "UPDATE sqlite_master SET sql = replace(sql, 'documents(sub_type)', "
                       "'documents(orgid)') WHERE name = 'documents_sub_type'");
  auto quick = run("check");
  EXPECT_EQ(quick.code, 0) << quick.err;
  auto r = run("check", "--deep");
  EXPECT_EQ(r.code, 1);
  // At the start of a line, not of stderr: libmongoc may warn first (under
  // ASan it says it falls back to malloc for its counters).
  EXPECT_NE(("\n" + r.err).find("\ncybexp-archive: sqlite " + archive().string() +
                                ": the database file is corrupt (integrity_check: "),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(r.err.ends_with("cybexp-archive: deep check: 0 processed entries without their "
                              "documents, 0 documents no entry refers to, 1 database problem\n"
                              "cybexp-archive: check found 1 problem\n"))
      << r.err;
}

}  // namespace
}  // namespace cybexp
