// One pass of the archive loop (archiver.h) as a pipeline:
//
//   refill:  claim batches (leased)       -> task queue
//   workers: archive_one on each entry    -> done list
//   collect: take finished entries        -> group
//   commit:  documents first, then the entries marked (only where the lease
//            is still held), leases of the rest released
//
// Every claimed entry travels as one InFlight record, numbered in claim order
// so that commits keep the order of the uploads. Bounds: at most
// kOutstandingBatches batches between claim and commit; an entry whose blob
// is fetched apart (a large one) is charged to a ByteBudget
// (limits.memory_budget) for its working memory (working_memory_bound of
// its blob size, document.h) while a worker handles it, then for its
// document's text until it is committed; large entries beyond the budget's
// worth of blobs are given back untried and not claimed again until room is
// made.
//
// Stop: nothing more is claimed, entries queued but not started are
// released (untried), those the workers hold are finished and committed.
//
// Liveness: hooks.alive is called after each store call returns and, while
// entries are with the workers, as long as one was finished within
// limits.entry_seconds + options.store_call_seconds.
//
// Failure: a store error ends the pass (refill stops, what is in hand is
// committed or released); an exception on the committing thread or in a
// worker ends it too, as a failure with a log line. Whatever way the pass
// ends, the queue is closed, the workers are joined and every lease not
// finished is released.
//
// Thread safety: run() is called once, from one thread; the workers it starts
// touch only the queues, the budget, the failure slot and archive_one.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

#include "archive/work_queues.h"
#include "cybexp/archive_one.h"
#include "cybexp/archiver.h"

namespace cybexp {

// What one pass tells the loop.
struct PassResult {
  std::uint64_t successes = 0;    // entries processed (upstream's "success")
  std::optional<Error> db_error;  // the store failed (or the pass broke): back off, retry
  bool limit_reached = false;
};

// One claimed entry, from claim to commit.
struct InFlight {
  std::uint64_t seq = 0;      // claim order
  CacheEntry entry;
  EntryOutcome outcome;
  std::uint64_t charged = 0;  // bytes held in the budget (working memory, then the document) until commit
  double claimed_at = 0;      // Clock time
  bool large = false;         // the blob was not delivered inline
};

// What a pass works with; references outlive the pass.
struct PassSetup {
  const Stores& stores;
  std::span<const PrivateKey> keys;
  const Limits& limits;
  const RunOptions& options;  // workers and batch_entries already made positive
  Clock& clock;
  const Archiver::Hooks& hooks;
  std::atomic<bool>& committing;  // set while write() runs (a stop leaves it alone)
};

class Pass {
 public:
  Pass(const PassSetup& setup, RunSummary& summary);
  PassResult run(std::stop_token stop);

 private:
  void pipeline(std::stop_token stop);
  void work();
  void refill(std::stop_token stop);
  bool claim_batch(std::size_t want);
  bool quarantine(CacheEntry& entry, double claim_time);
  void collect();
  bool group_ready() const;
  void commit();
  Result<FinishReport> write(std::span<const RawDocument> docs,
                             std::span<const EntryResult> results);
  void retire_group();
  void count(std::span<const EntryResult> results, std::span<const std::uint64_t> bytes,
             const FinishReport& written, CommitReport& report);
  void release(std::vector<std::string> ids, ReleaseKind kind);
  void note_failure(const Error& error);
  void release_unfinished();
  void release_queued_on_stop();
  void report_progress();
  void alive();
  void alive_if_progressing();

  PassSetup setup_;
  RunSummary& summary_;
  ArchiveOneContext ctx_;
  std::map<std::string, std::string> registry_;
  std::optional<double> finished_before_;  // force: skipped entries finished before the pass

  TaskQueue<InFlight> tasks_;
  DoneList<InFlight> done_;
  ByteBudget budget_;
  std::mutex worker_failure_mu_;
  std::optional<Error> worker_failure_;  // a worker broke outside archive_one
  std::atomic<bool> worker_failed_{false};

  PassResult result_;
  std::map<std::uint64_t, std::string> unfinished_;  // seq -> id: claimed, lease still ours
  std::uint64_t next_seq_ = 0;
  std::uint64_t claimed_ = 0;
  std::uint64_t large_outstanding_ = 0;  // unfinished entries whose blob is fetched apart
  std::uint64_t large_bytes_ = 0;        // their blob bytes
  bool exhausted_ = false;
  bool wait_for_room_ = false;  // large entries were given back: claim after one commits
  bool stopping_ = false;       // the stop was seen; queued entries given back
  double last_progress_ = 0;    // Clock time the workers last finished an entry
  std::uint64_t done_at_start_ = 0;

  std::vector<InFlight> group_;  // collected, not yet committed
  double group_started_ = 0;
  std::uint64_t group_bytes_ = 0;

  Progress progress_;
  double started_ = 0;
};

}  // namespace cybexp
