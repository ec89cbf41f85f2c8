// The archive loop end to end on a real SQLite store with the real envelope:
// vectors, backoff with an injected clock, store failures, stop.
#include "cybexp/archiver.h"
#include "store/backends.h"

#include <gtest/gtest.h>

#include <set>

#include "support/fake_clock.h"
#include "support/faulty_store.h"
#include "support/temp_dir.h"
#include "support/vectors.h"

namespace cybexp {
namespace {

using testing::Faults;
using testing::Op;
using testing::TempDir;

std::vector<PrivateKey> test_keys() {
  auto k = PrivateKey::load_file(std::string(CYBEXP_TEST_DATA_DIR) + "/priv.pem", false);
  EXPECT_TRUE(k.has_value());
  return {*k};
}

using testing::FakeClock;
using testing::FixedRandom;

struct Fixture {
  TempDir dir;
  Stores stores;
  Fixture(bool combined = false) {
    auto s = combined ? open_sqlite_combined((dir / "one.db").string())
                      : open_stores({"sqlite:" + (dir / "cache.db").string(), "", ""},
                                    {"sqlite:" + (dir / "archive.db").string(), "", ""});
    EXPECT_TRUE(s.has_value()) << s.error().message;
    stores = *s;
  }
  std::string add(const testing::Vector& v) {
    NewEntry e{v.name, v.typetag, v.orgid, v.timezone, 1.0};
    auto id = stores.cache->add_entry(e, v.blob);
    EXPECT_TRUE(id.has_value());
    return *id;
  }
  std::map<std::string, EntryInfo> entries() {
    std::map<std::string, EntryInfo> out;
    auto r = stores.cache->for_each_entry({}, [&](const EntryInfo& i) {
      out[i.entry.name] = i;
      return true;
    });
    EXPECT_TRUE(r.has_value());
    return out;
  }
};

void expect_vectors_archived(std::size_t workers, bool combined) {
  Fixture f(combined);
  auto vectors = testing::load_vectors();
  ASSERT_EQ(vectors.size(), 34u);
  for (const auto& v : vectors) f.add(v);
  RunOptions opt;
  opt.once = true;
  opt.workers = workers;
  opt.batch_entries = 5;  // several claims and group commits
  Archiver a(f.stores, test_keys(), Limits{}, opt);
  auto summary = a.run(std::stop_token{});
  ASSERT_TRUE(summary.has_value()) << summary.error().message;
  auto entries = f.entries();
  std::set<std::string> hashes;
  for (const auto& v : vectors) {
    SCOPED_TRACE(v.name);
    const EntryInfo& info = entries.at(v.name);
    if (v.state == "success") {
      EXPECT_EQ(info.state, "processed");
      ASSERT_EQ(info.refs.size(), 1u);
      EXPECT_EQ(info.refs[0], v.hash);
      hashes.insert(v.hash);
    } else {
      EXPECT_EQ(info.state, v.state);
      EXPECT_FALSE(info.reason.empty());
      EXPECT_TRUE(info.refs.empty());
    }
  }
  std::set<std::string> stored;
  ASSERT_TRUE(f.stores.archive->for_each_document(std::nullopt, [&](const RawDocument& d) {
    EXPECT_TRUE(stored.insert(d.hash).second) << "duplicate " << d.hash;
    return true;
  }));
  EXPECT_EQ(stored, hashes);
  EXPECT_EQ(summary->processed, 25u);
  EXPECT_EQ(summary->skipped.at(EntryFate::kBadData), 6u);
  EXPECT_EQ(summary->skipped.at(EntryFate::kError), 2u);
  EXPECT_EQ(summary->skipped.at(EntryFate::kNotSupported), 1u);
}

TEST(Archiver, VectorsOneWorker) { expect_vectors_archived(1, false); }
TEST(Archiver, VectorsFourWorkers) { expect_vectors_archived(4, false); }
TEST(Archiver, VectorsOneDatabase) { expect_vectors_archived(2, true); }

TEST(Archiver, ReasonsSayWhatToDo) {
  Fixture f;
  auto vectors = testing::load_vectors();
  for (const auto& v : vectors) f.add(v);
  RunOptions opt;
  opt.once = true;
  opt.workers = 2;
  ASSERT_TRUE(Archiver(f.stores, test_keys(), Limits{}, opt).run({}).has_value());
  auto e = f.entries();
  EXPECT_EQ(e.at("wrong_key").reason,
            "no configured private key decrypts this entry (tried 1 key): add the private key of the "
            "API module's public key to cache.private_key, then 'requeue --state bad_data'");
  EXPECT_EQ(e.at("invalid_utf8").reason,
            "payload is not valid UTF-8 (first bad byte at offset 7): upstream decodes uploads as "
            "UTF-8; re-upload it as UTF-8");
  EXPECT_NE(e.at("unknown_typetag").reason.find("subtypes add no-such-feed"), std::string::npos);
  EXPECT_NE(e.at("deep_nesting_40_too_large").reason.find("limits.max_canonical_bytes"),
            std::string::npos);
}

TEST(Archiver, IdleLoopBacksOffExponentiallyAndResetsOnSuccess) {
  Fixture f;
  auto vectors = testing::load_vectors();
  FakeClock clock;
  FixedRandom random;
  clock.stop_after = 6;
  clock.hook = [&](std::size_t n) {
    if (n == 3) f.add(vectors[0]);  // work arrives during the third sleep
  };
  RunOptions opt;
  opt.workers = 2;
  Archiver a(f.stores, test_keys(), Limits{}, opt, clock, random);
  auto summary = a.run(clock.source.get_token());
  ASSERT_TRUE(summary.has_value());
  // n = 1, 2, 3 idle passes; then a success resets n to 0; then idle again.
  EXPECT_EQ(clock.sleeps, (std::vector<double>{2.5, 4.5, 8.5, 1.5, 2.5, 4.5}));
  EXPECT_EQ(summary->processed, 1u);
}

TEST(Archiver, StoreFailuresBackOffAndLoseNothing) {
  Fixture f;
  auto faults = std::make_shared<Faults>();
  auto vectors = testing::load_vectors();
  for (int i = 0; i < 3; ++i) f.add(vectors[i]);
  faults->fail(Op::kClaim, 2);         // two passes cannot even claim
  faults->fail(Op::kPutDocuments, 1);  // the third cannot store documents
  FakeClock clock;
  FixedRandom random;
  RunOptions opt;
  opt.once = true;
  opt.workers = 2;
  Archiver a(testing::faulty(f.stores, faults), test_keys(), Limits{}, opt, clock, random);
  std::vector<std::string> pass_errors;  // what the error metrics count
  a.on_pass_error([&](const Error& e) {
    pass_errors.push_back(std::string(error_kind_name(e.kind)) + ": " + e.message);
  });
  auto summary = a.run({});
  ASSERT_TRUE(summary.has_value()) << summary.error().message;
  EXPECT_EQ(clock.sleeps, (std::vector<double>{2.5, 4.5, 8.5}));
  EXPECT_EQ(summary->failed_passes, 3u);
  EXPECT_EQ(pass_errors, (std::vector<std::string>{"database: injected failure: claim",
                                                   "database: injected failure: claim",
                                                   "database: injected failure: put_documents"}));
  EXPECT_EQ(summary->processed, 3u);
  for (const auto& [name, info] : f.entries()) {
    EXPECT_EQ(info.state, "processed") << name;
    EXPECT_TRUE(info.lease_owner.empty()) << name;
  }
  auto counts = f.stores.archive->document_counts();
  ASSERT_TRUE(counts.has_value());
  EXPECT_EQ(counts->documents, 3u);
}

TEST(Archiver, FailedFinishNeverMarksWithoutDocumentAndRetries) {
  Fixture f;
  auto faults = std::make_shared<Faults>();
  auto vectors = testing::load_vectors();
  f.add(vectors[0]);
  faults->fail(Op::kFinish, 1);  // documents committed, entry update fails
  FakeClock clock;
  FixedRandom random;
  RunOptions opt;
  opt.once = true;
  opt.workers = 1;
  auto summary = Archiver(testing::faulty(f.stores, faults), test_keys(), Limits{}, opt, clock, random)
                     .run({});
  ASSERT_TRUE(summary.has_value());
  EXPECT_EQ(faults->injected(Op::kFinish), 1);
  EXPECT_EQ(summary->processed, 1u);
  EXPECT_EQ(summary->duplicates, 1u);  // the retry found its document already there
  EXPECT_EQ(f.entries().at(vectors[0].name).state, "processed");
  EXPECT_EQ(f.stores.archive->document_counts()->documents, 1u);
}

TEST(Archiver, OnceGivesUpAfterRepeatedStoreFailures) {
  Fixture f;
  auto faults = std::make_shared<Faults>();
  faults->fail(Op::kSubtypes, 100);
  FakeClock clock;
  FixedRandom random;
  RunOptions opt;
  opt.once = true;
  opt.once_max_failures = 3;
  auto r = Archiver(testing::faulty(f.stores, faults), test_keys(), Limits{}, opt, clock, random).run({});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kDatabase);
  EXPECT_EQ(clock.sleeps.size(), 2u);
}

TEST(Archiver, LimitStopsAfterThatManyEntries) {
  Fixture f;
  auto vectors = testing::load_vectors();
  for (int i = 0; i < 10; ++i) f.add(vectors[0]);
  RunOptions opt;
  opt.once = true;
  opt.limit = 4;
  opt.batch_entries = 3;
  auto s = Archiver(f.stores, test_keys(), Limits{}, opt).run({});
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->processed, 4u);
  EXPECT_EQ(s->new_documents, 1u);
  EXPECT_EQ(s->duplicates, 3u);
  EXPECT_EQ(*f.stores.cache->count_claimable(false), 6u);
}

TEST(Archiver, ForceRetriesSkippedEntries) {
  Fixture f;
  auto vectors = testing::load_vectors();
  testing::Vector v = vectors[0];
  v.typetag = "later-added";
  f.add(v);
  RunOptions opt;
  opt.once = true;
  ASSERT_TRUE(Archiver(f.stores, test_keys(), Limits{}, opt).run({}).has_value());
  EXPECT_EQ(f.entries().at(v.name).state, "typetag_not_supported");
  ASSERT_TRUE(f.stores.archive->add_subtype("later-added", "unr_honeypot").has_value());
  // A normal run leaves skipped entries alone; a forced one retries them.
  auto normal = Archiver(f.stores, test_keys(), Limits{}, opt).run({});
  EXPECT_EQ(normal->done(), 0u);
  opt.force = true;
  auto forced = Archiver(f.stores, test_keys(), Limits{}, opt).run({});
  EXPECT_EQ(forced->processed, 1u);
  EXPECT_EQ(f.entries().at(v.name).state, "processed");
  EXPECT_EQ(f.entries().at(v.name).refs.at(0), vectors[0].hash);
}

TEST(Archiver, StopFinishesEntriesInHand) {
  Fixture f;
  auto vectors = testing::load_vectors();
  for (int i = 0; i < 300; ++i) f.add(vectors[0]);
  RunOptions opt;
  opt.once = true;
  opt.workers = 2;
  opt.batch_entries = 16;
  std::stop_source stop;
  Archiver a(f.stores, test_keys(), Limits{}, opt);
  a.on_progress([&](const Progress& p) {
    if (p.done >= 32) stop.request_stop();
  });
  auto s = a.run(stop.get_token());
  ASSERT_TRUE(s.has_value());
  EXPECT_GE(s->processed, 32u);
  EXPECT_LT(s->processed, 300u);
  std::uint64_t processed = 0, pending = 0;
  ASSERT_TRUE(f.stores.cache->for_each_entry({}, [&](const EntryInfo& i) {
    EXPECT_TRUE(i.lease_owner.empty()) << "entry " << i.entry.id << " left leased";
    if (i.state == "processed") ++processed;
    else if (i.state == "pending") ++pending;
    else ADD_FAILURE() << i.state;
    return true;
  }));
  EXPECT_EQ(processed, s->processed);
  EXPECT_EQ(processed + pending, 300u);
}

}  // namespace
}  // namespace cybexp

namespace cybexp {
namespace {

// The first stop: the entries a worker holds are finished, the ones claimed
// but still queued go back untried (attempts as before), not all three
// batches in flight.
TEST(Archiver, StopReleasesClaimedEntriesNotStarted) {
  Fixture f;
  auto vectors = testing::load_vectors();
  for (int i = 0; i < 300; ++i) f.add(vectors[0]);
  RunOptions opt;
  opt.once = true;
  opt.workers = 1;
  opt.batch_entries = 32;  // three batches: 96 entries claimed at once
  std::stop_source stop;
  Archiver a(f.stores, test_keys(), Limits{}, opt);
  a.on_progress([&](const Progress& p) {
    if (p.done >= 1) stop.request_stop();
  });
  auto s = a.run(stop.get_token());
  ASSERT_TRUE(s.has_value());
  EXPECT_GE(s->processed, 1u);
  // Not all three batches: the worker may finish a few dozen more entries
  // while the first commit (an fsync) runs on a busy machine, never all.
  EXPECT_LT(s->processed, 96u) << "the queued batches were processed after the stop";
  std::uint64_t processed = 0, pending = 0;
  ASSERT_TRUE(f.stores.cache->for_each_entry({}, [&](const EntryInfo& i) {
    EXPECT_TRUE(i.lease_owner.empty()) << "entry " << i.entry.id << " left leased";
    if (i.state == "processed") {
      ++processed;
    } else {
      ++pending;
      EXPECT_EQ(i.entry.attempts, 0) << "entry " << i.entry.id << " released as tried";
    }
    return true;
  }));
  EXPECT_EQ(processed, s->processed);
  EXPECT_EQ(processed + pending, 300u);
}

}  // namespace
}  // namespace cybexp
