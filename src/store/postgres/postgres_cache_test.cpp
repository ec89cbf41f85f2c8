// PostgresStore as the cache, against a real server, what only it does: the
// schema guard, blobs read in slices, paging.
// What every backend promises is in the store contract suite
// (src/store/store_contract_*_test.cpp).
#include "store/postgres/pg_test_fixture.h"

namespace cybexp::pg {
namespace {

using Cache = PostgresTest;

TEST_F(Cache, RefusesNewerSchema) {
  open_store();
  sql("UPDATE cybexp_meta SET value = '3' WHERE key = 'schema_version'");
  StoreConfig config{url_, "", ""};
  auto stores = open_postgres(&config, nullptr);
  ASSERT_FALSE(stores);
  EXPECT_EQ(stores.error().kind, ErrorKind::kDatabase);
  std::string db = url_.substr(url_.rfind('/') + 1);
  EXPECT_EQ(stores.error().message,
            "postgresql 127.0.0.1:" + std::to_string(test_server().port()) + "/" + db +
                ": schema: schema version 3 is newer than this cybexp-archive supports (2): "
                "upgrade cybexp-archive");
}

TEST_F(Cache, LargeBlobComesBackInSlices) {
  auto store = open_store();
  std::vector<std::uint8_t> big(40u << 20);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 2654435761u >> 13);
  ok(store->add_entry(new_entry("big"), big));
  auto claimed = ok(store->claim(claim_request("w")));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].blob_size, big.size());
  EXPECT_FALSE(claimed[0].blob.has_value());
  EXPECT_TRUE(ok(store->fetch_blob(claimed[0], big.size())) == big);
  EXPECT_EQ(store->fetch_blob(claimed[0], big.size() - 1).error().kind, ErrorKind::kLimit);
}

TEST_F(Cache, ForEachEntryPagesThroughManyEntries) {
  auto store = open_store();
  sql("INSERT INTO cybexp_entries (name, typetag) SELECT 'n' || i, 't' FROM generate_series(1, 1234) i");
  std::int64_t last = 0;
  std::size_t n = 0;
  ok(store->for_each_entry({}, [&](const EntryInfo& e) {
    EXPECT_GT(std::stoll(e.entry.id), last);
    last = std::stoll(e.entry.id);
    ++n;
    return true;
  }));
  EXPECT_EQ(n, 1234u);
}

}  // namespace
}  // namespace cybexp::pg
