// PostgresStore as the archive, and open_postgres, what only they do:
// byte-exact document text, paging by size, a refused batch, the atomic
// finish_with_documents, which objects serve which role, connect errors.
// What every backend promises is in the store contract suite
// (src/store/store_contract_*_test.cpp).
#include "store/postgres/pg_test_fixture.h"

namespace cybexp::pg {
namespace {

using Archive = PostgresTest;

TEST_F(Archive, DocumentTextRoundTripsByteForByte) {
  auto store = open_store();
  std::string tricky =
      R"({"data": "caf\u00e9 \ud83d\ude00 \\ \"q\" \n", "n": 1e+16, "f": -0.0, "k": NaN})";
  std::string big = "{\"data\": \"" + std::string(5u << 20, 'z') + "\"}";
  RawDocument d1 = doc("h1", tricky, "email");
  d1.orgid = "org-\xc3\xa9\xe2\x82\xac";
  d1.timezone = "US/Pacific";
  std::vector<RawDocument> docs = {d1, doc("h2", big), doc("h3", "")};
  EXPECT_EQ(ok(store->put_documents(docs)), 3u);
  auto back = documents_of(*store);
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[0].hash, "h1");
  EXPECT_EQ(back[0].sub_type, "email");
  EXPECT_EQ(back[0].orgid, "org-\xc3\xa9\xe2\x82\xac");
  EXPECT_EQ(back[0].timezone, "US/Pacific");
  EXPECT_EQ(back[0].data_json, tricky);
  EXPECT_TRUE(back[1].data_json == big);
  EXPECT_EQ(back[2].data_json, "");
}

TEST_F(Archive, ForEachDocumentPagesLargeDocuments) {
  auto store = open_store();
  // 3 x 30 MB: more than one page's 64 MiB budget, so pages split by size.
  std::vector<RawDocument> docs;
  for (int i = 0; i < 3; ++i) docs.push_back(doc("big" + std::to_string(i), std::string(30u << 20, 'a' + i)));
  EXPECT_EQ(ok(store->put_documents(docs)), 3u);
  int i = 0;
  ok(store->for_each_document({}, [&](const RawDocument& d) {
    EXPECT_EQ(d.hash, docs[i].hash);
    EXPECT_TRUE(d.data_json == docs[i].data_json);
    ++i;
    return true;
  }));
  EXPECT_EQ(i, 3);
}

TEST_F(Archive, FailedPutStoresNothing) {
  auto store = open_store();
  // PostgreSQL text cannot hold NUL: the server refuses the batch.
  std::vector<RawDocument> docs = {doc("ok1", "{}"), doc("bad", std::string("a\0b", 3))};
  auto r = store->put_documents(docs);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kDatabase);
  EXPECT_EQ(document_counts(*store).documents, 0u);
  EXPECT_EQ(ok(store->put_documents(std::vector{doc("ok1", "{}")})), 1u);  // usable afterwards
}

TEST_F(Archive, FinishWithDocumentsIsAtomic) {
  auto store = open_store();
  std::shared_ptr<ArchiveStore> archive = store;
  EXPECT_TRUE(store->shares_database_with(*archive));
  std::string a = ok(store->add_entry(new_entry("a"), bytes("a")));
  std::string b = ok(store->add_entry(new_entry("b"), bytes("b")));
  ok(store->claim(claim_request("w")));

  // A document the server refuses: neither documents nor results are stored.
  std::vector<RawDocument> bad = {doc("h1", "{}"), doc("h2", std::string("\0", 1))};
  std::vector<EntryResult> results = {processed(a, {"h1"}), processed(b, {"h2"})};
  auto failed = try_finish_with_documents(*store, bad, results, "w");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().kind, ErrorKind::kDatabase);
  EXPECT_EQ(document_counts(*store).documents, 0u);
  EXPECT_EQ(entry_counts(*store).processed, 0u);
  EXPECT_EQ(entry_counts(*store).in_flight.at(0).entries, 2u);

  std::vector<RawDocument> good = {doc("h1", "{}"), doc("h2", "[]"), doc("h1", "{}")};
  EXPECT_EQ(finish_with_documents(*store, good, results, "w").inserted, 2u);
  EXPECT_EQ(document_counts(*store).documents, 2u);
  CacheCounts counts = entry_counts(*store);
  EXPECT_EQ(counts.processed, 2u);
  EXPECT_TRUE(counts.in_flight.empty());
}

TEST_F(Archive, OpenPostgresRoles) {
  StoreConfig config{url_, "", ""};
  Stores both = ok(open_postgres(&config, &config));
  EXPECT_EQ(static_cast<void*>(dynamic_cast<PostgresStore*>(both.cache.get())),
            static_cast<void*>(dynamic_cast<PostgresStore*>(both.archive.get())));
  EXPECT_TRUE(both.cache->shares_database_with(*both.archive));

  Stores cache_only = ok(open_postgres(&config, nullptr));
  EXPECT_TRUE(cache_only.cache && !cache_only.archive);
  Stores archive_only = ok(open_postgres(nullptr, &config));
  EXPECT_TRUE(!archive_only.cache && archive_only.archive);
  EXPECT_FALSE(cache_only.cache->shares_database_with(*archive_only.archive));
  EXPECT_EQ(try_finish_with_documents(*cache_only.cache, {}, {}, "w").error().kind,
            ErrorKind::kInternal);

  std::string other_url = ok(test_server().create_database(url_.substr(url_.rfind('/') + 1) + "b"));
  StoreConfig other{other_url, "", ""};
  Stores split = ok(open_postgres(&config, &other));
  EXPECT_NE(static_cast<void*>(dynamic_cast<PostgresStore*>(split.cache.get())),
            static_cast<void*>(dynamic_cast<PostgresStore*>(split.archive.get())));
  EXPECT_FALSE(split.cache->shares_database_with(*split.archive));
  ok(split.archive->put_documents(std::vector{doc("x", "{}")}));
  EXPECT_EQ(document_counts(*both.archive).documents, 0u);  // went to the other database

  EXPECT_EQ(open_postgres(nullptr, nullptr).error().kind, ErrorKind::kInvalidArgument);
  StoreConfig sqlite{"sqlite:/tmp/x.db", "", ""};
  EXPECT_EQ(open_postgres(&sqlite, nullptr).error().kind, ErrorKind::kInvalidArgument);
}

TEST_F(Archive, ConnectErrorNamesServerNotPassword) {
  StoreConfig config{"postgresql://someone:hunter2@127.0.0.1:1/nowhere?connect_timeout=5", "", ""};
  auto r = open_postgres(&config, nullptr);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kDatabase);
  EXPECT_EQ(r.error().message.rfind("postgresql 127.0.0.1:1/nowhere: connect: ", 0), 0u)
      << r.error().message;
  EXPECT_EQ(r.error().message.find("hunter2"), std::string::npos);
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace cybexp::pg
