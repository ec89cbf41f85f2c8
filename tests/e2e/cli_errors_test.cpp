// The command line's mistakes and refusals, each with its exact exit code and
// message: an unknown --state, an --id that names no entry, entries under a
// live lease, -c without its value, and a public key no private key pairs with.
#include <gtest/gtest.h>

#include <regex>

#include "cybexp/store_factory.h"
#include "support/process.h"

namespace cybexp {
namespace {

using testing::run_binary;

std::string without_times(const std::string& text) {
  return std::regex_replace(text, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"), "TIME");
}

class CliErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(run({"keygen"}).code, 0);
    home_ = std::filesystem::canonical(dir_.path()) / "cybexp-data";
  }
  testing::RunResult run(std::vector<std::string> args) { return run_binary(dir_.path(), args); }
  // n entries of a typetag the registry lacks, all skipped by one run.
  void skipped_entries(int n) {
    std::vector<std::string> args = {"submit", "--typetag", "no-such-feed", "--orgid", "o"};
    for (int i = 0; i < n; ++i) {
      args.push_back("f" + std::to_string(i));
      testing::write_file(dir_ / args.back(), "{}");
    }
    ASSERT_EQ(run(args).code, 0);
    ASSERT_EQ(run({"run", "--once"}).code, 0);
  }
  // Leases the oldest n claimable entries (skipped ones too) to worker, as a
  // forced run that crashed would leave them.
  void lease(const std::string& worker, std::size_t n) {
    auto stores =
        open_stores({"sqlite:" + (home_ / "cache.db").string(), "", ""},
                    {"sqlite:" + (home_ / "archive.db").string(), "", ""}, OpenMode::kReadWrite);
    ASSERT_TRUE(stores.has_value()) << stores.error().message;
    ClaimRequest claim;
    claim.worker = worker;
    claim.max_entries = n;
    claim.force = true;
    ASSERT_EQ(stores->cache->claim(claim).value().size(), n);
  }
  testing::TempDir dir_;
  std::filesystem::path home_;
};

TEST_F(CliErrors, EntriesWithAnUnknownStateIsAUsageError) {
  skipped_entries(1);
  auto r = run({"entries", "--state", "bogus"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "cybexp-archive: --state must be pending, processed, skipped, bad_data, error or "
            "typetag_not_supported, not 'bogus' (see 'cybexp-archive entries --help')\n");
  for (const char* state : {"pending", "processed", "bad_data", "error"}) {
    auto ok = run({"entries", "--state", state});
    EXPECT_EQ(ok.code, 0) << state << ": " << ok.err;
    EXPECT_EQ(ok.out, "") << state;
  }
  EXPECT_EQ(run({"entries", "--state", "skipped"}).out.substr(0, 23), "1\ttypetag_not_supported");
}

TEST_F(CliErrors, RequeueOfAnUnknownIdSaysSoAndRequeuesNothing) {
  skipped_entries(2);
  auto r = run({"requeue", "--id", "1", "--id", "99"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "cybexp-archive: no entry with id '99': nothing was requeued; 'cybexp-archive "
            "entries' lists them\n");
  EXPECT_EQ(run({"status", "--json"}).out.substr(0, 72),
            "{\"pending\": 0, \"processed\": 0, \"skipped\": {\"typetag_not_supported\": 2}, ");
  auto known = run({"requeue", "--id", "1"});
  EXPECT_EQ(known.code, 0) << known.err;
  EXPECT_EQ(known.out, "requeued 1 entry\n");
  auto pending = run({"requeue", "--id", "1"});
  EXPECT_EQ(pending.out,
            "skipped 1: it is pending, which --state skipped does not select\n"
            "requeued 0 entries\n");
}

TEST_F(CliErrors, RequeueNamesEachEntryUnderALiveLeaseAsSkipped) {
  skipped_entries(3);
  lease("other-host:4242:feedbeef", 2);  // entries 1 and 2
  auto one = run({"requeue", "--id", "2"});
  EXPECT_EQ(one.code, 0) << one.err;
  EXPECT_EQ(without_times(one.out),
            "skipped 2: under a live lease of other-host:4242:feedbeef until TIME\n"
            "requeued 0 entries\n");
  auto all = run({"requeue", "--state", "typetag_not_supported"});
  EXPECT_EQ(all.code, 0) << all.err;
  EXPECT_EQ(without_times(all.out),
            "skipped 1: under a live lease of other-host:4242:feedbeef until TIME\n"
            "skipped 2: under a live lease of other-host:4242:feedbeef until TIME\n"
            "requeued 1 entry\n");
}

TEST_F(CliErrors, RequeueCountsLeasedEntriesBeyondTwenty) {
  skipped_entries(23);
  lease("w", 22);
  auto r = run({"requeue"});
  EXPECT_EQ(r.code, 0) << r.err;
  std::string expected;
  for (int i = 1; i <= 20; ++i) {
    expected += "skipped " + std::to_string(i) + ": under a live lease of w until TIME\n";
  }
  EXPECT_EQ(without_times(r.out),
            expected + "skipped 2 more under live leases\nrequeued 1 entry\n");
}

TEST_F(CliErrors, AConfigOptionWithoutItsValueSaysSo) {
  const std::string tail = " (see 'cybexp-archive --help')\n";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"-c"}, "option '-c' needs a value: the configuration file"},
      {{"--config"}, "option '--config' needs a value: the configuration file"},
      {{"-c", ""}, "option '-c' needs a value: the configuration file (it was empty)"},
      {{"--config=", "status"},
       "option '--config' needs a value: the configuration file (it was empty)"},
      {{"-c", "--log-level", "debug", "status"},
       "option '-c' needs a value: the configuration file ('--log-level' is an option)"},
      {{"-c", "status"},
       "option '-c' needs a value: the configuration file ('status' is a command)"},
  };
  for (const auto& [args, message] : cases) {
    auto r = run(args);
    EXPECT_EQ(r.code, 2) << args[0];
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "cybexp-archive: " + message + tail);
  }
}

TEST_F(CliErrors, CheckRefusesAPublicKeyThatPairsWithNoPrivateKey) {
  ASSERT_EQ(run({"run", "--once"}).code, 0);  // the stores exist
  const auto other = dir_ / "other";
  std::filesystem::create_directory(other);
  ASSERT_EQ(run_binary(other, {"keygen"}).code, 0);
  std::filesystem::copy_file(other / "cybexp-data/pub.pem", home_ / "pub.pem",
                             std::filesystem::copy_options::overwrite_existing);
  auto r = run({"check"});
  EXPECT_EQ(r.code, 2);
  const std::string pub = (home_ / "pub.pem").string();
  const std::string priv = (home_ / "priv.pem").string();
  EXPECT_NE(
      r.out.find("public key    " + pub + ": RSA-2048, pairs with none of the private keys\n"),
      std::string::npos)
      << r.out;
  EXPECT_EQ(r.err,
            "cybexp-archive: public key " + pub + " pairs with none of the private keys (" + priv +
                "): everything submitted with it would be skipped as bad_data. Compare the moduli "
                "('openssl rsa -pubin -in " +
                pub +
                " -noout -modulus' and 'openssl rsa -in PRIVATE_KEY -noout -modulus' for each "
                "private key), then add the matching private key to cache.private_key, or set "
                "public_key to one made from a configured private key ('openssl rsa -in "
                "PRIVATE_KEY -pubout')\ncybexp-archive: check found 1 problem\n");
}

}  // namespace
}  // namespace cybexp
