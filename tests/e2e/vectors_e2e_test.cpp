// The core issue's acceptance test: every interoperability vector, submitted
// with `submit --encrypted` and archived with `run --once` under priv.pem,
// ends in its expected state with exactly the expected _hash and sub_type;
// and the upstream-archived honeypot documents hash the same here.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

#include "cybexp/json_value.h"
#include "cybexp/python_json.h"
#include "support/json_lines.h"
#include "support/process.h"
#include "support/vector_checks.h"
#include "support/vectors.h"

namespace cybexp {
namespace {

using testing::run_binary;
using testing::TempDir;

void install_keys(const TempDir& dir) {
  std::filesystem::create_directories(dir / "cybexp-data");
  for (const char* name : {"priv.pem", "pub.pem"}) {
    std::filesystem::copy_file(std::string(CYBEXP_TEST_DATA_DIR) + "/" + name, dir / "cybexp-data" / name);
  }
  std::filesystem::permissions(dir / "cybexp-data" / "priv.pem", std::filesystem::perms::owner_read |
                                                                   std::filesystem::perms::owner_write);
}

using testing::field;
using testing::json_lines;

void archive_vectors(const std::string& workers) {
  TempDir dir;
  install_keys(dir);
  auto vectors = testing::load_vectors();
  ASSERT_EQ(vectors.size(), 34u);
  testing::BinaryRunner run_in_dir = [&](std::vector<std::string> args) {
    return run_binary(dir.path(), args);
  };
  auto id_to_name = testing::submit_vectors(run_in_dir, dir.path(), vectors);
  ASSERT_EQ(id_to_name.size(), vectors.size());
  auto run = run_binary(dir.path(), {"run", "--once", "--workers", workers});
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_TRUE(run.out.starts_with(testing::kVectorsSummary)) << run.out;
  testing::expect_vectors_archived(run_in_dir, vectors, id_to_name);

  auto status = run_binary(dir.path(), {"status", "--json"});
  ASSERT_EQ(status.code, 0) << status.err;
  EXPECT_TRUE(status.out.starts_with(
      "{\"pending\": 0, \"processed\": 25, \"skipped\": {\"bad_data\": 6, \"error\": 2, "
      "\"typetag_not_supported\": 1}, \"documents\": 25, "))
      << status.out;
}

TEST(VectorsEndToEnd, OneWorker) { archive_vectors("1"); }
TEST(VectorsEndToEnd, FourWorkers) { archive_vectors("4"); }

TEST(VectorsEndToEnd, UpstreamHoneypotDocumentsHashTheSame) {
  TempDir dir;
  install_keys(dir);
  std::vector<std::string> upstream_hashes;
  std::vector<std::string> upstream_data;
  for (const std::string& line : testing::data_lines("cowrie_raw.txt")) {
    auto doc = parse_python_json(line);
    ASSERT_EQ(doc.status, JsonParseStatus::kOk);
    std::string data = python_json(*doc.value.find("data"));
    // Python wrote the line; our json.dumps must give back its exact bytes.
    ASSERT_NE(line.find("{\"itype\": \"raw\", \"data\": " + data + ", "), std::string::npos);
    upstream_hashes.push_back(field(doc.value, "_hash"));
    upstream_data.push_back(data);
    testing::write_file(dir / "event.json", data);
    auto r = run_binary(dir.path(), {"submit", "--typetag", "unr-honeypot", "--orgid",
                                     field(doc.value, "orgid"), "--timezone", "US/Pacific", "event.json"});
    ASSERT_EQ(r.code, 0) << r.err;
  }
  ASSERT_EQ(upstream_hashes.size(), 16u);
  auto run = run_binary(dir.path(), {"run", "--once"});
  ASSERT_EQ(run.code, 0) << run.err;
  auto exported = run_binary(dir.path(), {"export", "--sub-type", "unr_honeypot"});
  std::vector<Value> docs = json_lines(exported.out);
  std::set<std::string> ours, theirs(upstream_hashes.begin(), upstream_hashes.end());
  for (const Value& d : docs) ours.insert(field(d, "_hash"));
  EXPECT_EQ(ours, theirs);
  ASSERT_EQ(docs.size(), theirs.size());
  // And the data we store is byte for byte what upstream stored.
  std::map<std::string, std::string> upstream_by_hash;
  for (std::size_t i = 0; i < upstream_hashes.size(); ++i) upstream_by_hash[upstream_hashes[i]] = upstream_data[i];
  for (const Value& d : docs) {
    EXPECT_EQ(python_json(*d.find("data")), upstream_by_hash.at(field(d, "_hash")));
  }
}

}  // namespace
}  // namespace cybexp
