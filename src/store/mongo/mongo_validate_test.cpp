// Without a server: the archive loop asks the archive store whether it can
// hold each document (ArchiveStore::validate), so an entry MongoDB would
// refuse ends `error` with the reason, and the rest of its batch is archived.
// The cache and the documents are SQLite here; only the rules are MongoDB's.
#include <gtest/gtest.h>

#include "cybexp/archiver.h"
#include "store/backends.h"
#include "store/mongo/mongo_raw.h"
#include "support/store_testing.h"
#include "support/store_wrappers.h"
#include "support/temp_dir.h"

namespace cybexp::mongo {
namespace {

// A SQLite archive that refuses what MongoDB would.
class MongoRules final : public testing::ArchiveStoreWrapper {
 public:
  using ArchiveStoreWrapper::ArchiveStoreWrapper;
  std::optional<std::string> validate(const RawDocument& doc) const override {
    return unstorable_reason(doc);
  }
  Result<std::uint64_t> put_documents(std::span<const RawDocument> docs) override {
    for (const auto& d : docs) {
      if (auto why = unstorable_reason(d)) {
        return make_error(ErrorKind::kInvalidArgument, "refused: " + *why);
      }
    }
    return ArchiveStoreWrapper::put_documents(docs);
  }
};

TEST(MongoValidate, UnstorableDocumentMakesOnlyItsEntryAnError) {
  testing::TempDir dir;
  auto stores = open_stores({"sqlite:" + (dir / "cache.db").string(), "", ""},
                            {"sqlite:" + (dir / "archive.db").string(), "", ""});
  ASSERT_TRUE(stores) << stores.error().message;
  stores->archive = std::make_shared<MongoRules>(stores->archive);
  auto key = PrivateKey::load_file(std::string(CYBEXP_TEST_DATA_DIR) + "/priv.pem", false);
  auto pub = PublicKey::load_file(std::string(CYBEXP_TEST_DATA_DIR) + "/pub.pem");
  ASSERT_TRUE(key && pub);
  std::vector<std::string> ids;
  for (std::string payload : {R"({"n": 1})", R"({"n": 123456789012345678901234567890})",
                              R"({"k\u0000": 2})", R"({"n": 9223372036854775807})"}) {
    std::vector<std::uint8_t> plain(payload.begin(), payload.end());
    auto envelope = encrypt_envelope(plain, *pub);
    ASSERT_TRUE(envelope);
    auto id = stores->cache->add_entry(NewEntry{"p", "cowrie", "o", "UTC", 1.5}, *envelope);
    ASSERT_TRUE(id);
    ids.push_back(*id);
  }
  RunOptions options;
  options.once = true;
  options.workers = 2;
  Archiver archiver(*stores, {*key}, Limits{}, options);
  std::stop_source stop;
  auto summary = archiver.run(stop.get_token());
  ASSERT_TRUE(summary) << summary.error().message;
  EXPECT_EQ(summary->processed, 2u);
  EXPECT_EQ(summary->skipped, (std::map<EntryFate, std::uint64_t>{{EntryFate::kError, 2}}));
  EXPECT_EQ(summary->failed_passes, 0u);

  std::vector<EntryInfo> infos;
  ASSERT_TRUE(stores->cache->for_each_entry({}, [&](const EntryInfo& e) {
    infos.push_back(e);
    return true;
  }));
  ASSERT_EQ(infos.size(), 4u);
  EXPECT_EQ(infos[0].state, "processed");
  EXPECT_EQ(infos[1].state, "error");
  EXPECT_EQ(infos[1].reason,
            "the data holds the integer 123456789012345678901234567890, which does not fit in 64 "
            "bits: MongoDB (BSON) cannot store it, and upstream fails on it too");
  EXPECT_EQ(infos[2].state, "error");
  EXPECT_EQ(infos[2].reason,
            "the data has a key with a NUL character (\\u0000), which MongoDB (BSON) cannot store");
  EXPECT_EQ(infos[3].state, "processed");
  EXPECT_EQ(testing::document_counts(*stores->archive).documents, 2u);
}

}  // namespace
}  // namespace cybexp::mongo
