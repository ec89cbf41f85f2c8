// The analytics module's contract (issue 13), over every backend: after the
// archive loop has run, the analytics module's query returns every archived
// document exactly once, with the fields upstream writes (itype, sub_type,
// data, orgid, timezone, _hash) and none of the archive module's own
// (filters, _valid, _ref); a forced re-archive of a skipped entry clears its
// skip and state. On MongoDB the query is the analytics module's own,
//   {"itype": "raw", "sub_type": S, "filters": {"$ne": F}, "_valid": {"$ne": false}};
// on the others, the listing `export` prints (for_each_document).
#include <algorithm>

#include "cybexp/archiver.h"
#include "cybexp/envelope.h"
#include "store/store_contract_fixture.h"

namespace cybexp::testing {
namespace {

std::vector<PrivateKey> test_private_keys() {
  std::vector<PrivateKey> keys;
  // The repository does not keep file modes: the test key may be 0644.
  keys.push_back(ok(PrivateKey::load_file(std::string(CYBEXP_TEST_DATA_DIR) + "/priv.pem",
                                          /*check_permissions=*/false)));
  return keys;
}

const Strings kUpstreamKeys = {"_hash", "data", "itype", "orgid", "sub_type", "timezone"};

class StoreContractAnalytics : public StoreContract {
 protected:
  std::string upload(const std::string& typetag, const std::string& payload) {
    static const PublicKey pub =
        ok(PublicKey::load_file(std::string(CYBEXP_TEST_DATA_DIR) + "/pub.pem"));
    auto blob = ok(encrypt_envelope(bytes(payload), pub));
    return ok(cache_->add_entry(new_entry("upload", typetag), blob));
  }
  RunSummary archive_once(bool force) {
    RunOptions opt;
    opt.once = true;
    opt.force = force;
    opt.workers = 2;
    return ok(Archiver(Stores{cache_, archive_}, test_private_keys(), Limits{}, opt).run({}));
  }
  std::string ref_of(const std::string& id) {
    for (const EntryInfo& info : entries()) {
      if (info.entry.id == id) return info.refs.size() == 1 ? info.refs[0] : "";
    }
    return "";
  }
  // Checks one answer of the query: upstream's keys only, these values.
  void expect_document(const AnalyticsDocument& got, const std::string& hash,
                       const std::string& sub_type, const std::string& data_json) {
    EXPECT_EQ(got.keys, kUpstreamKeys);
    EXPECT_EQ(got.doc.hash, hash);
    EXPECT_EQ(got.doc.sub_type, sub_type);
    EXPECT_EQ(got.doc.orgid, "org1");
    EXPECT_EQ(got.doc.timezone, "UTC");
    EXPECT_EQ(got.doc.data_json, data_json);
  }
};

TEST_P(StoreContractAnalytics, TheQueryReturnsEveryArchivedDocumentOnceAsUpstreamWroteIt) {
  const std::string a = upload("cowrie", R"({"eventid": "a", "n": 1})");
  const std::string b = upload("cowrie", R"({"eventid": "b", "n": 2})");
  const std::string c = upload("unr-honeypot", R"({"x": [1, 2.5, null]})");
  const std::string a2 = upload("cowrie", R"({"n": 1, "eventid": "a"})");  // a's document again
  const std::string d = upload("site-feed", R"({"y": 1})");                 // not registered yet
  RunSummary first = archive_once(false);
  EXPECT_EQ(first.processed, 4u);
  EXPECT_EQ(ref_of(a), ref_of(a2));

  auto cowrie = backend_->analytics_query(*archive_, "cowrie");
  ASSERT_EQ(cowrie.size(), 2u);
  expect_document(cowrie[0], ref_of(a), "cowrie", R"({"eventid": "a", "n": 1})");
  expect_document(cowrie[1], ref_of(b), "cowrie", R"({"eventid": "b", "n": 2})");
  auto honeypot = backend_->analytics_query(*archive_, "unr_honeypot");
  ASSERT_EQ(honeypot.size(), 1u);
  expect_document(honeypot[0], ref_of(c), "unr_honeypot", R"({"x": [1, 2.5, null]})");
  EXPECT_TRUE(backend_->analytics_query(*archive_, "site_feed").empty());
  EXPECT_EQ(entries(with_state("typetag_not_supported")).size(), 1u);

  // The forced pass after the registry learns the typetag.
  ok(archive_->add_subtype("site-feed", "site_feed"));
  RunSummary forced = archive_once(true);
  EXPECT_EQ(forced.processed, 1u);
  const EntryInfo redone = entries(with_state("processed")).back();
  EXPECT_EQ(redone.entry.id, d);
  EXPECT_EQ(redone.reason, "");
  if (auto keys = backend_->stored_entry_keys(d)) {  // MongoDB: the fields themselves
    EXPECT_EQ(std::count(keys->begin(), keys->end(), "skip"), 0) << ::testing::PrintToString(*keys);
    EXPECT_EQ(std::count(keys->begin(), keys->end(), "state"), 0) << ::testing::PrintToString(*keys);
  }
  auto feed = backend_->analytics_query(*archive_, "site_feed");
  ASSERT_EQ(feed.size(), 1u);
  expect_document(feed[0], ref_of(d), "site_feed", R"({"y": 1})");
  EXPECT_EQ(backend_->analytics_query(*archive_, "cowrie").size(), 2u);  // nothing twice
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreContractAnalytics, ::testing::ValuesIn(contract_configs()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace cybexp::testing
