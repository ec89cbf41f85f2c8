// archive_one's per-entry time budget (limits.entry_seconds), with a clock
// that returns scripted times: one reading at the start and one after each
// stage (fetch, when the blob is not inline; decryption; parsing).
#include <gtest/gtest.h>

#include <deque>
#include <new>
#include <stdexcept>
#include <string>

#include "cybexp/archive_one.h"
#include "cybexp/envelope.h"
#include "support/vectors.h"

namespace cybexp {
namespace {

class ScriptedClock : public Clock {
 public:
  explicit ScriptedClock(std::deque<double> times) : times_(std::move(times)) {}
  double now() override {
    EXPECT_FALSE(times_.empty()) << "archive_one read the clock more often than scripted";
    if (times_.empty()) return 1e9;
    const double t = times_.front();
    times_.pop_front();
    return t;
  }
  bool sleep_for(double, std::stop_token) override { return true; }
  std::size_t left() const { return times_.size(); }

 private:
  std::deque<double> times_;
};

// Serves one blob: archive_one needs nothing more of the cache.
class OneBlobCache final : public BlobSource {
 public:
  explicit OneBlobCache(std::vector<std::uint8_t> blob) : blob_(std::move(blob)) {}
  Result<std::vector<std::uint8_t>> fetch_blob(const CacheEntry&, std::uint64_t) override {
    return blob_;
  }

 private:
  std::vector<std::uint8_t> blob_;
};

struct Fixture {
  testing::Vector v = testing::load_vectors().at(0);  // cowrie_login: archives successfully
  std::vector<PrivateKey> keys;
  std::map<std::string, std::string> registry = default_subtypes();
  CacheEntry entry;

  Fixture() {
    auto k = PrivateKey::load_file(std::string(CYBEXP_TEST_DATA_DIR) + "/priv.pem", false);
    EXPECT_TRUE(k.has_value());
    if (k) keys.push_back(*k);
    entry.id = "7";
    entry.typetag = v.typetag;
    entry.orgid = v.orgid;
    entry.timezone = v.timezone;
    entry.blob_size = v.blob.size();
  }

  EntryOutcome run(ScriptedClock& clock, BlobSource* cache = nullptr) {
    ArchiveOneContext ctx;
    ctx.blobs = cache;
    ctx.keys = keys;
    ctx.registry = &registry;
    ctx.limits.entry_seconds = 60;
    ctx.clock = &clock;
    if (cache == nullptr) entry.blob = v.blob;
    return archive_one(entry, ctx);
  }
};

void expect_over_budget(const EntryOutcome& out, const std::string& stage,
                        const std::string& took) {
  EXPECT_FALSE(out.result.processed());
  EXPECT_FALSE(out.document.has_value());
  EXPECT_FALSE(out.transient_error.has_value());
  EXPECT_EQ(out.result.id, "7");
  EXPECT_EQ(out.result.fate, EntryFate::kError);
  EXPECT_EQ(out.result.reason,
            "entry took " + took +
                " s, over the 60-second budget (limits.entry_seconds), by the end of " + stage +
                ": if the store or this machine was only slow for a while, 'requeue --state "
                "error'; otherwise raise limits.entry_seconds");
}

TEST(ArchiveOneBudget, WithinBudgetIsProcessed) {
  Fixture f;
  ScriptedClock clock({100, 130, 160});  // exactly 60 s by the end: still within
  EntryOutcome out = f.run(clock);
  EXPECT_TRUE(out.result.processed()) << out.result.reason;
  ASSERT_TRUE(out.document.has_value());
  EXPECT_EQ(out.document->hash, f.v.hash);
  EXPECT_EQ(clock.left(), 0u);
}

TEST(ArchiveOneBudget, SlowFetchIsSkipped) {
  Fixture f;
  OneBlobCache cache(f.v.blob);
  ScriptedClock clock({100, 160.5});  // no further reading: it stops after the fetch
  EntryOutcome out = f.run(clock, &cache);
  expect_over_budget(out, "fetching the blob", "60.5");
  EXPECT_EQ(out.blob_bytes, f.v.blob.size());
  EXPECT_EQ(clock.left(), 0u);
}

TEST(ArchiveOneBudget, SlowDecryptionIsSkipped) {
  Fixture f;
  OneBlobCache cache(f.v.blob);
  ScriptedClock clock({100, 110, 161});
  EntryOutcome out = f.run(clock, &cache);
  expect_over_budget(out, "decryption", "61.0");
  EXPECT_EQ(out.blob_bytes, f.v.blob.size());
}

TEST(ArchiveOneBudget, SlowParsingIsSkippedAndTheDocumentDropped) {
  Fixture f;
  ScriptedClock clock({100, 101, 400});
  EntryOutcome out = f.run(clock);
  expect_over_budget(out, "parsing and hashing", "300.0");
}

// Issue 12: the time is checked inside parsemain too, every 64 Ki values,
// so a huge payload is abandoned midway instead of at the end of its parse.
// A payload of 200,000 values: three checks in the parse, three (and more)
// in the canonical form; the old code read the clock only after the whole
// stage (and here found the entry within its time).
struct LargeEntry : Fixture {
  LargeEntry() {
    std::string payload = "[0";
    for (int i = 1; i < 200000; ++i) payload += ",0";
    payload += "]";
    auto pub = PublicKey::load_file(std::string(CYBEXP_TEST_DATA_DIR) + "/pub.pem");
    EXPECT_TRUE(pub.has_value());
    auto blob = encrypt_envelope(
        {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()}, *pub);
    EXPECT_TRUE(blob.has_value());
    v.blob = *blob;
    entry.blob_size = v.blob.size();
  }
};

void expect_abandoned(const EntryOutcome& out, const std::string& took) {
  EXPECT_FALSE(out.document.has_value());
  EXPECT_EQ(out.result.fate, EntryFate::kError);
  EXPECT_EQ(out.result.reason,
            "entry took " + took +
                " s, over the 60-second budget (limits.entry_seconds), and was abandoned during "
                "parsing and hashing: if the store or this machine was only slow for a while, "
                "'requeue --state error'; otherwise raise limits.entry_seconds");
}

TEST(ArchiveOneBudget, TimeRunningOutDuringTheParseAbandonsIt) {
  LargeEntry f;
  // Start, after decryption, the parse's first check (within), its second
  // (over: abandoned there), and the reason's reading; nothing after.
  ScriptedClock clock({100, 101, 102, 500, 500});
  expect_abandoned(f.run(clock), "400.0");
  EXPECT_EQ(clock.left(), 0u);
}

TEST(ArchiveOneBudget, TimeRunningOutDuringTheCanonicalFormAbandonsIt) {
  LargeEntry f;
  // The parse's three checks within; the canonical form's first over, then
  // parsemain's and the reason's readings.
  ScriptedClock clock({100, 101, 102, 103, 104, 500, 500, 500});
  expect_abandoned(f.run(clock), "400.0");
  EXPECT_EQ(clock.left(), 0u);
}

TEST(ArchiveOneBudget, ALargeEntryWithinItsTimeIsProcessed) {
  LargeEntry f;
  ArchiveOneContext ctx;
  ctx.keys = f.keys;
  ctx.registry = &f.registry;
  ctx.limits.entry_seconds = 60;
  f.entry.blob = f.v.blob;
  EntryOutcome out = archive_one(f.entry, ctx);
  EXPECT_TRUE(out.result.processed()) << out.result.reason;
}

// Found by fuzz_archive_one: a typetag that is not UTF-8 overran a buffer
// when quoted in the reason, and such an orgid would reach the stores.
TEST(ArchiveOneMetadata, DamagedMetadataIsBadDataBeforeAnythingIsRead) {
  const std::pair<std::string, std::string> cases[] = {{"typetag", "unr-honeypot\xF0"},
                                                       {"orgid", "identity--\xFF"},
                                                       {"timezone", std::string("UTC\0x", 5)}};
  for (const auto& [field, value] : cases) {
    SCOPED_TRACE(field);
    Fixture f;
    if (field == "typetag") f.entry.typetag = value;
    if (field == "orgid") f.entry.orgid = value;
    if (field == "timezone") f.entry.timezone = value;
    OneBlobCache cache(f.v.blob);
    ScriptedClock clock({100});  // refused before the fetch: one reading only
    EntryOutcome out = f.run(clock, &cache);
    EXPECT_FALSE(out.result.processed());
    EXPECT_EQ(out.result.fate, EntryFate::kBadData);
    EXPECT_EQ(out.blob_bytes, 0u);
    const std::string problem = field == "timezone" ? "holds a NUL byte" : "is not valid UTF-8";
    EXPECT_EQ(out.result.reason, "the entry's " + field + " " + problem +
                                     ", so no store can hold its document: the uploader's metadata "
                                     "is damaged; upload the data again with valid metadata");
  }
}

TEST(ArchiveOneBudget, NoClockMeansTheSystemClock) {
  Fixture f;
  ArchiveOneContext ctx;
  ctx.keys = f.keys;
  ctx.registry = &f.registry;
  ctx.limits.entry_seconds = 1;  // the real entry takes milliseconds
  f.entry.blob = f.v.blob;
  EntryOutcome out = archive_one(f.entry, ctx);
  EXPECT_TRUE(out.result.processed()) << out.result.reason;
}

// A blob source that throws, as an allocation can on a hostile payload.
class ThrowingBlobs final : public BlobSource {
 public:
  explicit ThrowingBlobs(bool bad_alloc) : bad_alloc_(bad_alloc) {}
  Result<std::vector<std::uint8_t>> fetch_blob(const CacheEntry&, std::uint64_t) override {
    if (bad_alloc_) throw std::bad_alloc();
    throw std::runtime_error("boom");
  }

 private:
  bool bad_alloc_;
};

TEST(ArchiveOneFailures, OutOfMemoryIsThisEntrysErrorNotTheProcesss) {
  Fixture f;
  ThrowingBlobs blobs(true);
  ScriptedClock clock({100});
  EntryOutcome out = f.run(clock, &blobs);
  EXPECT_EQ(out.result.id, "7");
  EXPECT_EQ(out.result.fate, EntryFate::kError);
  EXPECT_FALSE(out.transient_error.has_value());
  EXPECT_EQ(out.result.reason,
            "ran out of memory while archiving this entry (payload of " +
                std::to_string(f.v.blob.size()) +
                " encrypted bytes): lower limits.max_blob_bytes or give the service more memory, "
                "then 'requeue --state error'");
}

TEST(ArchiveOneFailures, AnyExceptionIsThisEntrysError) {
  Fixture f;
  ThrowingBlobs blobs(false);
  ScriptedClock clock({100});
  EntryOutcome out = f.run(clock, &blobs);
  EXPECT_EQ(out.result.fate, EntryFate::kError);
  EXPECT_EQ(out.result.reason,
            "internal error while archiving this entry (boom): report it with 'inspect 7', then "
            "'requeue --state error'");
}

// An archive that refuses every document, as MongoDB refuses what BSON
// cannot hold. Only validate() is asked for.
class RefusingArchive final : public ArchiveStore {
 public:
  std::optional<std::string> validate(const RawDocument& doc) const override {
    return "refused " + doc.hash.substr(0, 8);
  }
  Result<std::map<std::string, std::string>> subtypes() override { return unused(); }
  Result<void> add_subtype(const std::string&, const std::string&) override { return unused(); }
  Result<bool> remove_subtype(const std::string&) override { return unused(); }
  Result<std::uint64_t> put_documents(std::span<const RawDocument>) override { return unused(); }
  Result<void> for_each_document(const std::optional<std::string>&,
                                 const std::function<bool(const RawDocument&)>&) override {
    return unused();
  }
  Result<ArchiveCounts> document_counts() override { return unused(); }
  Result<int> schema_version() override { return unused(); }

 private:
  static std::unexpected<Error> unused() { return make_error(ErrorKind::kInternal, "not used"); }
};

// The loop and `inspect --dry-run` both decide through archive_one, so a
// document the archive cannot hold is decided there: `error`, no document.
TEST(ArchiveOneValidate, ADocumentTheArchiveCannotHoldIsError) {
  Fixture f;
  RefusingArchive archive;
  ArchiveOneContext ctx;
  ctx.archive = &archive;
  ctx.keys = f.keys;
  ctx.registry = &f.registry;
  f.entry.blob = f.v.blob;
  EntryOutcome out = archive_one(f.entry, ctx);
  EXPECT_EQ(out.result.fate, EntryFate::kError);
  EXPECT_EQ(out.result.reason, "refused " + f.v.hash.substr(0, 8));
  EXPECT_FALSE(out.document.has_value());
  EXPECT_TRUE(out.result.refs.empty());
}

}  // namespace
}  // namespace cybexp
