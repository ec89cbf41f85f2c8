// On PostgreSQL, with the real binary (issues 12 and 13): upstream's command
// line as an alias of `run`, an entry whose blob the API module never wrote,
// and `check --deep` with each kind of finding.
#include <gtest/gtest.h>

#include "e2e/cluster_support.h"

namespace cybexp::cluster {
namespace {

class PgIntegrity : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = fresh_database(::testing::UnitTest::GetInstance()->current_test_info()->name());
    dir_ = std::make_unique<WorkDir>(url_, url_, 60);
  }
  void submit(const std::string& text, const std::string& typetag = "unr-honeypot") {
    testing::write_file(*dir_ / "in.txt", text);
    auto r = dir_->run({"submit", "--typetag", typetag, "--orgid", "org-1", "in.txt"});
    ASSERT_EQ(r.code, 0) << r.err;
  }
  testing::RunResult upstream(std::vector<std::string> args) const {
    return testing::run_binary(dir_->path(), args);
  }
  std::string ref(int id) {
    return Db(url_).rows("SELECT refs[1] FROM cybexp_entries WHERE id = " + std::to_string(id))
        .at(0).at(0);
  }
  std::string url_;
  std::unique_ptr<WorkDir> dir_;
};

// Upstream's a18b070 file shape naming PostgreSQL stores, run as upstream's
// unit runs it: CONF_PATH [-f] [-o].
TEST_F(PgIntegrity, UpstreamCommandLineRunsTheLoop) {
  testing::write_file(*dir_ / "upstream.json",
                      R"({"archive": {"mongo_url": ")" + url_ +
                          R"(", "tahoe_db": "tahoe_db", "tahoe_coll": "instance"},
                          "cache": {"mongo_url": ")" + url_ +
                          R"(", "cache_db": "cache_db", "cache_coll": "file_entries",
                                    "private_key": "priv.pem"}})");
  submit(R"({"a": 1})");
  submit(R"({"b": 2})", "site-feed");
  auto once = upstream({"upstream.json", "-o"});
  ASSERT_EQ(once.code, 0) << once.err;
  EXPECT_TRUE(once.out.starts_with(
      "processed 1, skipped 1 (typetag_not_supported 1), new documents 1, duplicates 0; "))
      << once.out;
  ASSERT_EQ(dir_->run({"subtypes", "add", "site-feed", "site_feed"}).code, 0);
  auto again = upstream({"upstream.json", "--run-once"});
  EXPECT_TRUE(again.out.starts_with("processed 0, skipped 0, new documents 0, ")) << again.out;
  auto forced = upstream({"-fo", "upstream.json"});
  ASSERT_EQ(forced.code, 0) << forced.err;
  EXPECT_TRUE(forced.out.starts_with("processed 1, skipped 0, new documents 1, duplicates 0; "))
      << forced.out;
  // The forced re-archive cleared the skip and the state, as upstream's does.
  Db db(url_);
  EXPECT_EQ(db.rows("SELECT id, processed, skip, coalesce(state, '-') FROM cybexp_entries "
                    "ORDER BY id"),
            (std::vector<std::vector<std::string>>{{"1", "t", "f", "-"}, {"2", "t", "f", "-"}}));
}

// Entries as an older API module left them: no name, no blob ever written.
TEST_F(PgIntegrity, AnEntryWithoutItsBlobIsBadDataAndTheRestGoOn) {
  submit(R"({"a": 1})");
  submit(R"({"b": 2})");
  submit(R"({"c": 3})");
  Db db(url_);
  db.exec("DELETE FROM cybexp_blobs WHERE entry_id = 2; UPDATE cybexp_entries SET name = '' "
          "WHERE id = 3");
  auto once = upstream({"config.json", "-o"});
  ASSERT_EQ(once.code, 0) << once.err;
  EXPECT_TRUE(once.out.starts_with("processed 2, skipped 1 (bad_data 1), new documents 2, "))
      << once.out;
  EXPECT_EQ(dir_->run({"entries"}).out,
            "1\tprocessed\tunr-honeypot\tin.txt\n"
            "2\tbad_data\tunr-honeypot\tin.txt\tentry has no blob: upload the file again\n"
            "3\tprocessed\tunr-honeypot\t\n");
}

TEST_F(PgIntegrity, CheckDeepFindsEachKindOfProblem) {
  submit(R"({"a": 1})");
  submit(R"({"b": 2})");
  submit(R"({"c": 3})");
  ASSERT_EQ(dir_->run({"run", "--once"}).code, 0);
  auto fine = dir_->run({"check", "--deep"});
  EXPECT_EQ(fine.code, 0) << fine.err;
  EXPECT_NE(fine.out.find("deep check    3 processed entries refer to 3 documents; the archive "
                          "holds 3 documents\nok\n"),
            std::string::npos)
      << fine.out;

  const std::string missing = ref(1), orphan = ref(2);
  Db db(url_);
  db.exec("DELETE FROM cybexp_documents WHERE hash = '" + missing + "'");
  ASSERT_EQ(dir_->run({"requeue", "--state", "processed", "--id", "2"}).code, 0);
  db.exec("DROP INDEX cybexp_documents_sub_type");
  auto r = dir_->run({"check", "--deep"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "cybexp-archive: postgresql " + url_.substr(url_.find('@') + 1) +
            ": schema: index cybexp_documents_sub_type is missing (was the database changed by "
            "hand?): restore the database from a backup, or recreate what is missing as "
            "docs/OPERATIONS.md (\"Checking the stores\") says\n"
            "cybexp-archive: entry 1 is processed but its document " + missing +
            " is not in the archive: archive it again with 'cybexp-archive requeue --state "
            "processed --id 1', then 'run'\n"
            "cybexp-archive: document " + orphan +
            " (sub_type unr_honeypot) is referred to by no processed entry: left by an entry "
            "requeued, or whose mark was lost, after the document was written; 'run' refers to "
            "it again when that entry is archived\n"
            "cybexp-archive: deep check: 1 processed entry without its documents, 1 document no "
            "entry refers to, 1 database problem\n"
            "cybexp-archive: check found 3 problems\n");
}

}  // namespace
}  // namespace cybexp::cluster
