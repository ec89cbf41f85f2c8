// The two stores the archive module talks to, one interface each, with a
// backend per URL scheme behind them (sqlite:, postgresql://, mongodb://):
//
//   CacheStore   - the cache data lake: entries and their encrypted blobs.
//   ArchiveStore - the archive database: Raw documents and the sub-type registry.
//
// Claiming: claim() leases entries to one worker until lease_seconds pass
// and counts the attempt; an expired lease (its worker died) can be claimed
// by anyone. finish() marks entries done or skipped and ends the lease, but
// only for entries whose lease the worker still holds, so an entry is never
// finished twice; it reports the others as lost.
//
// Entry ids: each backend's own ids as text (SQLite rowid, PostgreSQL bigint,
// MongoDB ObjectId hex). The one rule for an id a backend cannot parse: it
// names no entry of this store, so lookups find nothing (for_each_entry,
// requeue), finish() reports it lost, release() ignores it; none of them
// fails the call for it.
//
// Waiting for work (CacheStore::wait_for_change): the archive loop sleeps
// between passes inside the store, which ends the sleep as soon as a new (or
// requeued, or released) entry may be claimable, at no cost to the database:
// PostgreSQL LISTENs for a trigger's NOTIFY on the store's connection, SQLite
// polls PRAGMA data_version of its kept-open connection a few times a second
// (a local read of the WAL index, no query of the entries unless another
// connection wrote), MongoDB follows a change stream where the deployment
// has one. A store without a way to hear of changes just sleeps.
//
// Bounded waits: every call ends, at the latest after the StoreTimeouts it
// was opened with (store_factory.h); a call that times out fails with
// kDatabase like any other store error.
//
// Interrupting: interrupt() asks the calls running now on this store to end
// early; each fails with kDatabase ("canceling statement due to user
// request"), the store stays usable and later calls run normally. A call
// that has not started yet is not affected. PostgreSQL cancels the running
// statement on every connection of the store (PQcancel), SQLite interrupts
// its main connection (sqlite3_interrupt); MongoDB does nothing (its calls
// end at socketTimeoutMS). Used by `run` so that SIGTERM does not wait for a
// lock held by someone else.
//
// Thread safety: one store object is used by one thread at a time, except
// fetch_blob() and ArchiveStore::validate(), which may be called concurrently
// from any number of threads and concurrently with the other methods, and
// interrupt(), which may be called from any thread at any time (a signal
// thread), as often as wanted.
// wait_for_change() counts as a use of the store (one thread, not alongside
// the other methods); its stop_token may be requested from any thread, and
// ends the wait within a fraction of a second.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

#include "cybexp/entry_state.h"
#include "cybexp/raw_document.h"
#include "cybexp/result.h"

namespace cybexp {

struct NewEntry {
  std::string name;
  std::string typetag;
  std::string orgid;
  std::string timezone = "UTC";
  double timestamp = 0;  // seconds since the epoch
};

struct CacheEntry {
  std::string id;  // backend's id as text (SQLite rowid, Mongo ObjectId hex, ...)
  std::string name;
  std::string typetag;
  std::string orgid;
  std::string timezone;
  double timestamp = 0;
  std::uint64_t blob_size = 0;
  std::int64_t attempts = 0;  // tries so far, this claim included
  bool skipped = false;       // claimed by a forced pass as a skipped entry
  // Filled by claim() when the blob is at most ClaimRequest::inline_blob_max.
  std::optional<std::vector<std::uint8_t>> blob;
};

struct ClaimRequest {
  std::string worker;            // lease holder, e.g. "host:pid:nonce"
  std::size_t max_entries = 64;  // batch size
  bool force = false;            // also retake skipped entries (upstream force_process)
  // With force: only skipped entries finished before this time (seconds
  // since the epoch), so that a forced pass tries each skipped entry once,
  // as upstream reads its list once per pass; nullopt: any skipped entry.
  std::optional<double> finished_before;
  int lease_seconds = 300;
  std::uint64_t inline_blob_max = std::uint64_t{64} * 1024;
};

// What archive_one decided for an entry.
struct EntryResult {
  std::string id;
  EntryFate fate = EntryFate::kProcessed;
  std::vector<std::string> refs;  // _ref: the _hash values (processed)
  std::string reason;             // a sentence a person can act on (skipped)
  bool processed() const { return fate == EntryFate::kProcessed; }
};

// What a finish call committed.
struct FinishReport {
  std::uint64_t inserted = 0;     // documents new to the archive (finish_with_documents)
  std::uint64_t marked = 0;       // entries marked processed or skipped
  std::vector<std::string> lost;  // ids left alone: `worker` no longer held their lease
};

// Whether release() gives back an entry that was tried: an untried one (given
// back before any work, e.g. to wait for memory) also gets its claim's
// attempt back, so `attempts` counts real tries.
enum class ReleaseKind { kTried, kUntried };

struct EntryInfo {
  CacheEntry entry;
  std::string state;  // pending, processed, or a skip state
  std::vector<std::string> refs;
  std::string reason;
  std::string lease_owner;      // empty when not leased
  double lease_until = 0;       // seconds since the epoch
  double finished_at = 0;       // 0 while pending
};

struct EntryFilter {
  std::optional<std::string> state;  // pending, processed, skipped, or a skip state
  std::vector<std::string> ids;      // empty: any
  std::optional<std::string> typetag;
  std::optional<double> since;  // upload timestamp >= since
  std::optional<double> until;  // upload timestamp < until
};

struct LeaseInfo {
  std::string worker;
  std::uint64_t entries = 0;
  double oldest_claim = 0;  // seconds since the epoch
};

struct CacheCounts {
  std::uint64_t pending = 0;
  std::uint64_t processed = 0;
  std::map<std::string, std::uint64_t> skipped;  // state -> count
  std::vector<LeaseInfo> in_flight;              // live leases per worker
};

struct ArchiveCounts {
  std::uint64_t documents = 0;
  std::uint64_t data_bytes = 0;  // sum of data_json sizes
};

class ArchiveStore;

// What a check of a store's database found, for `check` and `check --deep`.
// kQuick: the cheap physical checks (SQLite: PRAGMA quick_check, which reads
// the whole file once). kDeep: everything the backend can check (SQLite:
// integrity_check; every backend: its tables and indexes are all there).
enum class CheckDepth { kQuick, kDeep };

// The problems found, one line each saying what to do; empty when sound.
// Backends that check nothing return none.
class CheckableDatabase {
 public:
  virtual ~CheckableDatabase() = default;
  virtual Result<std::vector<std::string>> check_database(CheckDepth /*depth*/) {
    return std::vector<std::string>{};
  }
};

// Where archive_one reads a blob that claim() did not deliver inline.
class BlobSource {
 public:
  virtual ~BlobSource() = default;
  // The entry's blob. kBadData if it is missing, kLimit if larger than
  // max_bytes (checked before reading it). Safe to call concurrently.
  virtual Result<std::vector<std::uint8_t>> fetch_blob(const CacheEntry& entry,
                                                       std::uint64_t max_bytes) = 0;
};

class CacheStore : public BlobSource {
 public:

  // Adds an unprocessed entry; returns its id.
  virtual Result<std::string> add_entry(const NewEntry& entry,
                                        std::span<const std::uint8_t> blob) = 0;

  // Leases up to max_entries claimable entries (pending, or skipped when
  // force; not under another worker's live lease), oldest first.
  virtual Result<std::vector<CacheEntry>> claim(const ClaimRequest& request) = 0;

  // Marks entries processed or skipped and ends their lease. Entries whose
  // lease `worker` no longer holds are left alone and listed in `lost`.
  virtual Result<FinishReport> finish(std::span<const EntryResult> results,
                                      const std::string& worker) = 0;

  // Ends `worker`'s lease on these entries without changing their state.
  virtual Result<void> release(std::span<const std::string> ids, const std::string& worker,
                               ReleaseKind kind) = 0;

  // True if this store and `archive` are one database, so that
  // finish_with_documents() can commit both in one transaction.
  virtual bool shares_database_with(const ArchiveStore& /*archive*/) const { return false; }
  // Inserts documents (ignoring existing _hash) and finishes results in one
  // transaction. Only when shares_database_with().
  virtual Result<FinishReport> finish_with_documents(std::span<const RawDocument> /*docs*/,
                                                     std::span<const EntryResult> /*results*/,
                                                     const std::string& /*worker*/) {
    return make_error(ErrorKind::kInternal, "finish_with_documents on separate databases");
  }

  // Entries that claim() could return now (force: skipped ones too).
  virtual Result<std::uint64_t> count_claimable(bool force) = 0;
  virtual Result<CacheCounts> entry_counts() = 0;
  // Calls fn for each matching entry, oldest first, until it returns false.
  virtual Result<void> for_each_entry(const EntryFilter& filter,
                                      const std::function<bool(const EntryInfo&)>& fn) = 0;
  // Clears skip (and processed, if the filter selects processed entries) and
  // the attempts so the entries are tried again afresh; never touches entries
  // under a live lease.
  // Returns how many were requeued.
  virtual Result<std::uint64_t> requeue(const EntryFilter& filter) = 0;

  // See "Interrupting" above. Thread-safe; the default does nothing.
  virtual void interrupt() {}

  // Blocks for up to `seconds`, or less when another connection may have
  // made an entry claimable (added, requeued or released one) since the
  // previous wait_for_change() or the store's opening, or when `stop` is
  // requested. True: such a change was seen (it may be spurious: claim to
  // find out); false: the time passed or stop was requested. Changes this
  // object made itself do not count. The base class hears of nothing and
  // only sleeps. An error (the connection broke) returns at once; the caller
  // sleeps the rest itself.
  virtual Result<bool> wait_for_change(double seconds, std::stop_token stop);
};

class ArchiveStore {
 public:
  virtual ~ArchiveStore() = default;

  // The sub-type registry (typetag -> raw sub type), seeded on first use with
  // unr-honeypot -> unr_honeypot and cowrie, email, openphish_feed,
  // phishtank_feed, sighting mapped to themselves.
  virtual Result<std::map<std::string, std::string>> subtypes() = 0;
  virtual Result<void> add_subtype(const std::string& typetag, const std::string& sub_type) = 0;
  virtual Result<bool> remove_subtype(const std::string& typetag) = 0;

  // Why this store cannot hold doc (the entry is then skipped as `error` with
  // this reason), or nullopt when it can. A per-document refusal must not
  // fail a whole put_documents batch into a retry loop, so the pipeline asks
  // first. MongoDB refuses what BSON cannot hold (an integer beyond 64 bits,
  // ...); the other stores hold anything. Safe to call from any thread,
  // concurrently with anything else.
  virtual std::optional<std::string> validate(const RawDocument& /*doc*/) const {
    return std::nullopt;
  }

  // Inserts documents whose _hash is not there yet (idempotent); returns how
  // many were new.
  virtual Result<std::uint64_t> put_documents(std::span<const RawDocument> docs) = 0;

  // Calls fn for each document (optionally of one sub type) in insertion
  // order until it returns false.
  virtual Result<void> for_each_document(const std::optional<std::string>& sub_type,
                                         const std::function<bool(const RawDocument&)>& fn) = 0;
  virtual Result<ArchiveCounts> document_counts() = 0;
  // Calls fn with each document's _hash and sub type, in insertion order,
  // until it returns false: a deep check's scan. Backends that can skip
  // reading `data` override it.
  virtual Result<void> for_each_hash(
      const std::function<bool(const std::string& hash, const std::string& sub_type)>& fn) {
    return for_each_document(std::nullopt,
                             [&](const RawDocument& d) { return fn(d.hash, d.sub_type); });
  }
  // Schema version of the backing database.
  virtual Result<int> schema_version() = 0;

  // See "Interrupting" above. Thread-safe; the default does nothing.
  virtual void interrupt() {}
};

// The two stores a configuration names. One object may serve both roles
// (cache and archive in one database): then both pointers share it.
struct Stores {
  std::shared_ptr<CacheStore> cache;
  std::shared_ptr<ArchiveStore> archive;
  // interrupt() on both (once when one object serves both). Thread-safe.
  void interrupt() const;
};

// The default registry contents (docs/UPSTREAM-FORMATS.md section 4).
const std::map<std::string, std::string>& default_subtypes();

}  // namespace cybexp
