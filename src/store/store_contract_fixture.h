// The store contract suite's fixture: every test in store_contract_*_test.cpp
// runs once per configuration, as leveldb's ChangeOptions loop runs a test
// body over several options:
//
//   SqliteOneFile, SqliteTwoFiles              always
//   PostgresOneDatabase, PostgresTwoDatabases  on the server the harness starts
//   MongoOneDatabase, MongoTwoDatabases        when CYBEXP_TEST_MONGODB_URI is
//                                              set (skipped, saying so, if not)
//
// The calls whose signature issue 11 changes (counts, finish,
// finish_with_documents, release, forced claims) are made only through the
// functions in support/store_testing.h's "interface" block, so that a change
// there is a change in one place.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "cybexp/store.h"
#include "store/backends.h"
#include "support/store_testing.h"

namespace cybexp::testing {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Strings = std::vector<std::string>;

// One answer of the analytics module's query: the document's own keys
// (sorted, _id left out) and its fields.
struct AnalyticsDocument {
  Strings keys;
  RawDocument doc;
};

// One configuration's databases, fresh for each test and dropped after it.
class StoreBackend {
 public:
  virtual ~StoreBackend() = default;
  // Opens the stores; a later call opens the same databases again.
  virtual Result<Stores> open() = 0;
  // True when cache and archive are one database (one transaction for both).
  virtual bool one_database() const = 0;
  // Behind the stores' back: the entry loses its blob.
  virtual void drop_blob(const std::string& id) = 0;
  // ArchiveCounts::data_bytes is the sum of data_json sizes (MongoDB counts
  // the BSON bytes of the data values instead).
  virtual bool counts_json_bytes() const { return true; }
  // The archive as the analytics module reads raw documents of `sub_type`,
  // in insertion order. By default what `export` prints (for_each_document,
  // each line's keys); MongoDB runs the module's own query on the collection.
  virtual std::vector<AnalyticsDocument> analytics_query(ArchiveStore& archive,
                                                         const std::string& sub_type);
  // The keys of the entry as stored, where the backend stores upstream's
  // document (MongoDB); nullopt where entries are rows.
  virtual std::optional<Strings> stored_entry_keys(const std::string& /*id*/) {
    return std::nullopt;
  }
};

// The configuration names, in the order above (store_contract_backends.cpp);
// those where cache and archive commit in one transaction.
std::vector<std::string> contract_configs();
std::vector<std::string> one_database_configs();
// The backend for a name, or nullptr with *why saying what is missing here.
std::unique_ptr<StoreBackend> make_backend(const std::string& name, std::string* why);

class StoreContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string why;
    backend_ = make_backend(GetParam(), &why);
    if (!backend_) GTEST_SKIP() << why;
    Stores stores = ok(backend_->open());
    cache_ = stores.cache;
    archive_ = stores.archive;
  }

  // Adds an entry with a blob; returns its id.
  std::string add(const std::string& name, std::string_view blob = "x",
                  const std::string& typetag = "unr-honeypot", double timestamp = 1700000000.25) {
    return ok(cache_->add_entry(new_entry(name, typetag, timestamp), bytes(blob)));
  }
  std::vector<EntryInfo> entries(const EntryFilter& filter = {}) {
    return entries_of(*cache_, filter);
  }
  std::vector<std::string> listed(const EntryFilter& filter) { return ids_of(entries(filter)); }
  static EntryFilter with_state(std::string state) {
    EntryFilter f;
    f.state = std::move(state);
    return f;
  }

  std::unique_ptr<StoreBackend> backend_;
  std::shared_ptr<CacheStore> cache_;
  std::shared_ptr<ArchiveStore> archive_;
};

}  // namespace cybexp::testing
