// The archive module's work: archive_one (one entry: fetch, decrypt, parse,
// decide) and Archiver, upstream's archive() loop, here a pipeline that keeps
// every core busy:
//
//   claim (batches, leased) -> workers: fetch + decrypt + parsemain -> group commit
//
// Queues between the stages are bounded (in entries and in blob bytes), so
// memory stays flat however large the backlog. A database failure never skips
// an entry: the pass ends, leases are released, the loop backs off
// (UPSTREAM.md section 5) and tries again. A bad entry is skipped at once with
// a state and a reason. On stop, entries in hand are finished and committed.
//
// Thread safety: archive_one is reentrant. An Archiver is driven by one thread
// (run); it starts and joins its own worker threads.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

#include "cybexp/config.h"
#include "cybexp/envelope.h"
#include "cybexp/store_factory.h"

namespace cybexp {

// Injected so the loop can be tested without sleeping.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual double now() = 0;  // seconds, monotonic
  // Sleeps, or returns early (false) when stop is requested.
  virtual bool sleep_for(double seconds, std::stop_token stop) = 0;
};
Clock& system_clock();

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual int randint(int lo, int hi) = 0;  // inclusive, as Python's random.randint
};
RandomSource& system_random();

// s = min(3600, 2**n + random.randint(0, 1000) / 1000)
double backoff_seconds(int n_failed_attempts, RandomSource& random);

// What archive_one decided. transient_error is set when the store failed
// (not the entry's fault): the entry must be released, not skipped.
struct EntryOutcome {
  EntryResult result;
  std::optional<RawDocument> document;
  std::optional<Error> transient_error;
  std::uint64_t blob_bytes = 0;  // ciphertext bytes read
};

struct ArchiveOneContext {
  CacheStore* cache = nullptr;            // for blobs not delivered inline
  std::span<const PrivateKey> keys;
  const std::map<std::string, std::string>* registry = nullptr;
  Limits limits;
  Clock* clock = nullptr;  // for limits.entry_seconds; nullptr: system_clock()
};

EntryOutcome archive_one(const CacheEntry& entry, const ArchiveOneContext& ctx);

struct RunOptions {
  std::size_t workers = 0;          // 0: one per core
  bool once = false;                // drain what is claimable, then return
  bool force = false;               // also retry skipped entries
  std::optional<std::uint64_t> limit;  // stop after this many entries
  std::size_t batch_entries = 256;  // entries claimed per transaction
  std::uint64_t memory_budget = 256ull << 20;  // blob bytes in flight
  int lease_seconds = 300;
  std::string worker_id;            // lease holder name; empty: host:pid:random
  int once_max_failures = 5;        // --once gives up after this many failed passes
};

struct RunSummary {
  std::uint64_t processed = 0;   // entries marked processed
  std::uint64_t new_documents = 0;
  std::uint64_t duplicates = 0;  // processed entries whose document was already archived
  std::map<std::string, std::uint64_t> skipped;  // state -> entries
  std::uint64_t lost_leases = 0;  // results dropped because another worker took the entry
  std::uint64_t bytes = 0;        // ciphertext bytes read
  std::uint64_t failed_passes = 0;
  double seconds = 0;
  std::uint64_t done() const;
};

struct Progress {
  std::uint64_t done = 0;
  std::uint64_t total = 0;  // claimable when the pass started (0 if unknown)
  double seconds = 0;
};

// One group commit, for metrics and status reporting.
struct CommitReport {
  std::uint64_t processed = 0;
  std::uint64_t new_documents = 0;
  std::uint64_t duplicates = 0;
  std::map<std::string, std::uint64_t> skipped;  // state -> entries
  std::uint64_t bytes = 0;                       // ciphertext bytes read
  double seconds = 0;                            // claim-to-commit latency of the oldest entry
  std::optional<Error> error;                    // the commit (or a fetch) failed
};

class Archiver {
 public:
  Archiver(Stores stores, std::vector<PrivateKey> keys, Limits limits, RunOptions options,
           Clock& clock = system_clock(), RandomSource& random = system_random());

  // Upstream's archive(): passes until stop (or, with once, until nothing is
  // left to claim). Returns an error only when --once gives up on the store.
  Result<RunSummary> run(std::stop_token stop);

  // Called from run()'s thread, at most a few times a second.
  void on_progress(std::function<void(const Progress&)> fn) { progress_ = std::move(fn); }
  // Called after each pass with the sleep about to happen.
  void on_backoff(std::function<void(int n_failed, double seconds)> fn) { backoff_ = std::move(fn); }
  // Called from run()'s thread after every group commit (or failed commit).
  void on_commit(std::function<void(const CommitReport&)> fn) { commit_ = std::move(fn); }
  // Called from run()'s thread when a pass ends on a store failure (once per
  // failed pass, before its backoff), for error metrics.
  void on_pass_error(std::function<void(const Error&)> fn) { pass_error_ = std::move(fn); }

  const std::string& worker_id() const { return options_.worker_id; }

  struct PassResult;

 private:
  PassResult drain(std::stop_token stop, RunSummary& summary);

  Stores stores_;
  std::vector<PrivateKey> keys_;
  Limits limits_;
  RunOptions options_;
  Clock& clock_;
  RandomSource& random_;
  std::function<void(const Progress&)> progress_;
  std::function<void(int, double)> backoff_;
  std::function<void(const CommitReport&)> commit_;
  std::function<void(const Error&)> pass_error_;
};

}  // namespace cybexp
