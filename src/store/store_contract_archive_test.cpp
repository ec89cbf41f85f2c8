// The store contract, archive side: the sub-type registry, documents
// (idempotent by _hash, insertion order, sub-type filter), validate, schema
// version, and the one-transaction finish when cache and archive share a
// database, on every backend and configuration.
#include "store/store_contract_fixture.h"

namespace cybexp::testing {
namespace {

TEST_P(StoreContract, SubtypeRegistryIsSeededOnceAndKept) {
  EXPECT_EQ(ok(archive_->subtypes()), default_subtypes());
  EXPECT_EQ(ok(archive_->subtypes()).at("unr-honeypot"), "unr_honeypot");
  ok(archive_->add_subtype("my-feed", "my_feed"));
  ok(archive_->add_subtype("cowrie", "cowrie_v2"));  // upsert
  auto registry = ok(archive_->subtypes());
  EXPECT_EQ(registry.size(), 7u);
  EXPECT_EQ(registry.at("my-feed"), "my_feed");
  EXPECT_EQ(registry.at("cowrie"), "cowrie_v2");
  EXPECT_TRUE(ok(archive_->remove_subtype("email")));
  EXPECT_FALSE(ok(archive_->remove_subtype("email")));
  // Opening again must not reseed what was changed or removed.
  Stores reopened = ok(backend_->open());
  registry = ok(reopened.archive->subtypes());
  EXPECT_EQ(registry.size(), 6u);
  EXPECT_EQ(registry.at("my-feed"), "my_feed");
  EXPECT_EQ(registry.at("cowrie"), "cowrie_v2");
  EXPECT_EQ(registry.count("email"), 0u);
}

TEST_P(StoreContract, BadSubtypesAreRefused) {
  EXPECT_EQ(archive_->add_subtype("x", "not-an-identifier").error().kind,
            ErrorKind::kInvalidArgument);
  EXPECT_EQ(archive_->add_subtype("x", "not an identifier").error().kind,
            ErrorKind::kInvalidArgument);
  EXPECT_EQ(archive_->add_subtype("x", "9lives").error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(archive_->add_subtype("", "ok").error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(ok(archive_->subtypes()), default_subtypes());
}

TEST_P(StoreContract, PutDocumentsIsIdempotentByHash) {
  std::vector<RawDocument> first = {doc("h1"), doc("h2", R"({"b": "2"})", "cowrie"), doc("h1")};
  EXPECT_EQ(ok(archive_->put_documents(first)), 2u);
  std::vector<RawDocument> second = {doc("h2", R"({"b": "2"})", "cowrie"),
                                     doc("h3", "[]", "email")};
  EXPECT_EQ(ok(archive_->put_documents(second)), 1u);
  EXPECT_EQ(ok(archive_->put_documents(second)), 0u);
  EXPECT_EQ(ok(archive_->put_documents(std::vector<RawDocument>{})), 0u);
  RawDocument other_org = doc("h1");
  other_org.orgid = "org2";  // the same _hash from elsewhere: still one document
  EXPECT_EQ(ok(archive_->put_documents(std::vector{other_org})), 0u);
  ArchiveCounts counts = document_counts(*archive_);
  EXPECT_EQ(counts.documents, 3u);
  if (backend_->counts_json_bytes()) {
    EXPECT_EQ(counts.data_bytes, 10u + 10u + 2u);
  }

  auto docs = documents_of(*archive_);
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(hashes_of(docs), (Strings{"h1", "h2", "h3"}));
  EXPECT_EQ(docs[0].sub_type, "unr_honeypot");
  EXPECT_EQ(docs[0].orgid, "org1");
  EXPECT_EQ(docs[0].timezone, "UTC");
  EXPECT_EQ(docs[0].data_json, R"({"a": "1"})");
  EXPECT_EQ(docs[1].data_json, R"({"b": "2"})");
  EXPECT_EQ(docs[2].data_json, "[]");
}

TEST_P(StoreContract, ForEachDocumentInInsertionOrderBySubtype) {
  std::vector<RawDocument> docs;
  for (int i = 0; i < 2500; ++i) {
    // Hashes out of alphabetical order, to see that order is insertion order.
    docs.push_back(doc("h" + std::to_string((i * 7919) % 2500), "{}", i % 3 ? "cowrie" : "email"));
  }
  EXPECT_EQ(ok(archive_->put_documents(docs)), 2500u);
  EXPECT_EQ(hashes_of(documents_of(*archive_)), hashes_of(docs));
  auto emails = documents_of(*archive_, std::string("email"));
  ASSERT_EQ(emails.size(), 834u);
  EXPECT_EQ(emails[1].hash, docs[3].hash);
  EXPECT_EQ(emails[1].sub_type, "email");
  EXPECT_THAT(documents_of(*archive_, std::string("none")), IsEmpty());
  int calls = 0;
  ok(archive_->for_each_document({}, [&](const RawDocument&) { return ++calls < 3; }));
  EXPECT_EQ(calls, 3);
}

TEST_P(StoreContract, ValidateAcceptsOrdinaryDocuments) {
  EXPECT_EQ(archive_->validate(doc("h1")), std::nullopt);
  EXPECT_EQ(archive_->validate(doc("h2", R"({"n": 12, "f": 2.5, "l": [null, true, "x"]})")),
            std::nullopt);
  EXPECT_EQ(archive_->validate(doc("h3", "[]", "cowrie")), std::nullopt);
}

TEST_P(StoreContract, SchemaVersionIsCurrentAndSurvivesReopening) {
  // PostgreSQL is at 2 (the notify trigger); the others at 1.
  const int current = GetParam().starts_with("Postgres") ? 2 : 1;
  EXPECT_EQ(ok(archive_->schema_version()), current);
  Stores reopened = ok(backend_->open());
  EXPECT_EQ(ok(reopened.archive->schema_version()), current);
  EXPECT_EQ(ok(reopened.archive->subtypes()).size(), 6u);
}

TEST_P(StoreContract, SharesDatabaseOnlyWhenOne) {
  EXPECT_EQ(cache_->shares_database_with(*archive_), backend_->one_database());
}

// finish_with_documents, only where cache and archive are one database.
using StoreContractOneDatabase = StoreContract;

TEST_P(StoreContractOneDatabase, FinishWithDocumentsCommitsBoth) {
  ASSERT_TRUE(cache_->shares_database_with(*archive_));
  std::string a = add("a"), b = add("b"), c = add("c");
  ok(cache_->claim(claim_request("w1", 2)));  // a, b
  ok(cache_->claim(claim_request("w2", 1)));  // c
  std::vector<RawDocument> docs = {doc("ha"), doc("hb"), doc("ha")};
  std::vector<EntryResult> results = {processed(a, {"ha"}), processed(b, {"hb"}),
                                      processed(c, {"hb"})};
  Finished f = finish_with_documents(*cache_, docs, results, "w1");
  EXPECT_EQ(f.inserted, 2u);
  EXPECT_EQ(f.marked, 2u);
  EXPECT_EQ(f.lost, (Strings{c}));  // w2's lease
  EXPECT_EQ(hashes_of(documents_of(*archive_)), (Strings{"ha", "hb"}));
  CacheCounts counts = entry_counts(*cache_);
  EXPECT_EQ(counts.processed, 2u);
  ASSERT_EQ(counts.in_flight.size(), 1u);
  EXPECT_EQ(counts.in_flight[0].worker, "w2");
  EXPECT_THAT(entries()[1].refs, ElementsAre("hb"));

  // Again from w2: the documents are there already, c is marked.
  std::vector<EntryResult> on_c = {processed(c, {"hb"})};
  std::vector<RawDocument> doc_c = {doc("hb")};
  f = finish_with_documents(*cache_, doc_c, on_c, "w2");
  EXPECT_EQ(f.inserted, 0u);
  EXPECT_EQ(f.marked, 1u);
  EXPECT_THAT(f.lost, IsEmpty());
  EXPECT_EQ(document_counts(*archive_).documents, 2u);
  EXPECT_EQ(entry_counts(*cache_).processed, 3u);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreContractOneDatabase,
                         ::testing::ValuesIn(one_database_configs()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace cybexp::testing
