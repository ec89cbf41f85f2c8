// One pass of the archive loop as a pipeline (see archiver.h):
//
//   this thread: claim batches -> TaskQueue -> N workers: archive_one -> done list
//   this thread: group commit of done outcomes (documents first, then entries)
//
// Bounds: at most kOutstandingBatches batches of entries between claim and
// commit; blob bytes fetched by workers are charged to a ByteBudget released
// only when their outcome is committed.
#include <unistd.h>

#include <algorithm>
#include <thread>
#include <unordered_set>

#include "archive/pass_result.h"
#include "archive/work_queues.h"
#include "cybexp/archiver.h"
#include "util/keyed_hash.h"
#include "util/log.h"

namespace cybexp {

namespace {

constexpr std::size_t kOutstandingBatches = 3;
constexpr double kMaxGroupSeconds = 0.5;  // commit at least this often
// Commit once this much document text waits, so that writing large documents
// overlaps with decrypting the next ones instead of piling up at the end.
constexpr std::uint64_t kMaxGroupBytes = 8ull << 20;

struct Task {
  CacheEntry entry;
  std::uint64_t charged = 0;  // bytes held in the budget until commit
  double claimed_at = 0;
  bool large = false;  // the blob was not delivered inline
};

struct Done {
  EntryOutcome outcome;
  std::uint64_t charged = 0;
  double claimed_at = 0;
  bool large = false;
};

// Completed outcomes, handed from workers to the committing thread.
// The committing thread sleeps until `wanted` items are there (or a time
// out), so workers wake it once per group rather than once per entry: with
// small entries a wake-up per entry costs a context switch per RSA operation.
class DoneList {
 public:
  void push(Done d) {
    bool wake;
    {
      std::lock_guard lock(mu_);
      items_.push_back(std::move(d));
      wake = items_.size() >= wanted_;
    }
    if (wake) cv_.notify_one();
  }
  // Waits up to `seconds` for at least `wanted` items; moves everything into out.
  void take(std::vector<Done>& out, std::size_t wanted, double seconds) {
    std::unique_lock lock(mu_);
    wanted_ = std::max<std::size_t>(wanted, 1);
    cv_.wait_for(lock, std::chrono::duration<double>(seconds),
                 [&] { return items_.size() >= wanted_; });
    wanted_ = 1;
    for (auto& d : items_) out.push_back(std::move(d));
    items_.clear();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Done> items_;
  std::size_t wanted_ = 1;
};

}  // namespace

Archiver::PassResult Archiver::drain(std::stop_token stop, RunSummary& summary) {
  PassResult pass;
  CacheStore& cache = *stores_.cache;
  ArchiveStore& archive = *stores_.archive;

  auto registry = archive.subtypes();
  if (!registry) {
    pass.db_error = registry.error();
    return pass;
  }
  Progress progress;
  if (progress_) {
    auto n = cache.count_claimable(options_.force);
    progress.total = n ? *n : 0;
    if (options_.limit) progress.total = std::min(progress.total, *options_.limit - summary.done());
  }
  const std::uint64_t done_at_start = summary.done();
  const double started = clock_.now();

  ArchiveOneContext ctx;
  ctx.cache = &cache;
  ctx.keys = keys_;
  ctx.registry = &*registry;
  ctx.limits = limits_;

  TaskQueue<Task> tasks;
  DoneList done;
  ByteBudget budget(options_.memory_budget);
  std::vector<std::jthread> workers;
  for (std::size_t i = 0; i < options_.workers; ++i) {
    workers.emplace_back([&] {
      while (auto task = tasks.pop()) {
        if (!task->entry.blob.has_value() && task->entry.blob_size > 0) {
          task->charged = budget.acquire(std::min(task->entry.blob_size, limits_.max_blob_bytes));
        }
        Done d{archive_one(task->entry, ctx), task->charged, task->claimed_at, task->large};
        // A document the archive cannot hold (MongoDB: an integer beyond 64
        // bits, ...) is this entry's error, not a failed batch to retry.
        if (d.outcome.document) {
          if (auto why = archive.validate(*d.outcome.document)) {
            d.outcome.document.reset();
            d.outcome.result = EntryResult{d.outcome.result.id, false, {}, kStateError, *why};
          }
        }
        done.push(std::move(d));
      }
    });
  }

  const bool together = cache.shares_database_with(archive);
  std::uint64_t outstanding = 0;  // claimed, not yet committed or released
  std::uint64_t claimed = 0;
  bool exhausted = false;
  std::vector<Done> group;
  double group_started = 0;
  std::uint64_t group_bytes = 0;
  std::uint64_t large_outstanding = 0;  // outstanding entries whose blob is fetched apart

  auto commit = [&](std::vector<Done>& items) {
    // Workers finish in any order; committing in entry order keeps the
    // archive's insertion order (and `export`) the order of the uploads.
    std::sort(items.begin(), items.end(), [](const Done& a, const Done& b) {
      const std::string& x = a.outcome.result.id;
      const std::string& y = b.outcome.result.id;
      return x.size() != y.size() ? x.size() < y.size() : x < y;
    });
    std::vector<RawDocument> docs;
    std::vector<EntryResult> results;
    std::vector<std::string> release_ids;
    std::unordered_set<std::string, KeyedStringHash, std::equal_to<>> seen;  // ids from the lake
    std::uint64_t processed = 0, bytes = 0;
    CommitReport report;
    double oldest_claim = clock_.now();
    for (Done& d : items) {
      EntryOutcome& o = d.outcome;
      oldest_claim = std::min(oldest_claim, d.claimed_at);
      if (o.transient_error) {
        release_ids.push_back(o.result.id);
        if (!pass.db_error) pass.db_error = o.transient_error;
        if (!report.error) report.error = o.transient_error;
        continue;
      }
      bytes += o.blob_bytes;
      if (o.result.processed) ++processed;
      if (o.document && seen.insert(o.document->hash).second) docs.push_back(std::move(*o.document));
      results.push_back(std::move(o.result));
    }
    Result<std::uint64_t> inserted = std::uint64_t{0};
    std::uint64_t marked = results.size();
    if (together) {
      inserted = cache.finish_with_documents(docs, results, options_.worker_id);
    } else {
      inserted = archive.put_documents(docs);
      if (inserted) {
        auto m = cache.finish(results, options_.worker_id);
        if (m) marked = *m;
        else inserted = std::unexpected(m.error());
      }
    }
    if (!inserted) {
      // Nothing is marked done unless its document is committed; give the
      // entries back so this or another worker retries them after the backoff.
      if (!pass.db_error) pass.db_error = inserted.error();
      report.error = inserted.error();
      for (auto& r : results) release_ids.push_back(r.id);
    } else {
      report.processed = processed;
      report.new_documents = *inserted;
      report.duplicates = processed - std::min(processed, *inserted);
      report.bytes = bytes;
      for (const auto& r : results) {
        if (!r.processed) ++report.skipped[r.state];
      }
      summary.processed += processed;
      summary.new_documents += report.new_documents;
      summary.duplicates += report.duplicates;
      summary.bytes += bytes;
      summary.lost_leases += results.size() - std::min<std::uint64_t>(results.size(), marked);
      pass.successes += processed;
      for (const auto& [state, n] : report.skipped) summary.skipped[state] += n;
    }
    report.seconds = clock_.now() - oldest_claim;
    if (commit_) commit_(report);
    if (!release_ids.empty()) {
      auto released = cache.release(release_ids, options_.worker_id);
      if (!released) {
        log(LogLevel::kWarning, "could not release leases; they expire by themselves",
            {{"entries", std::to_string(release_ids.size())}, {"error", released.error().message}});
      }
    }
    for (Done& d : items) {
      budget.release(d.charged);
      if (d.large) --large_outstanding;
    }
    outstanding -= items.size();
    items.clear();
  };

  while (true) {
    // Refill: keep a few batches in flight so workers never wait for a claim.
    while (!exhausted && !pass.db_error && !stop.stop_requested() &&
           outstanding + options_.batch_entries <= kOutstandingBatches * options_.batch_entries) {
      std::size_t want = options_.batch_entries;
      if (options_.limit) {
        std::uint64_t left = *options_.limit - std::min(*options_.limit, done_at_start + claimed);
        if (left == 0) {
          exhausted = pass.limit_reached = true;
          break;
        }
        want = static_cast<std::size_t>(std::min<std::uint64_t>(want, left));
      }
      ClaimRequest req;
      req.worker = options_.worker_id;
      req.max_entries = want;
      req.force = options_.force;
      req.lease_seconds = options_.lease_seconds;
      const double claim_time = clock_.now();
      auto batch = cache.claim(req);
      if (!batch) {
        pass.db_error = batch.error();
        break;
      }
      if (batch->empty()) {
        exhausted = true;
        break;
      }
      // Hold no more large blobs than the budget can process soon: give the
      // rest back at once rather than let their leases run out in a queue.
      std::uint64_t large_bytes = 0;
      std::vector<std::string> give_back;
      for (CacheEntry& e : *batch) {
        bool large = !e.blob.has_value();
        if (large && large_bytes > 0 && large_bytes + e.blob_size > options_.memory_budget) {
          give_back.push_back(e.id);
          continue;
        }
        if (large) {
          large_bytes += e.blob_size;
          ++large_outstanding;
        }
        ++outstanding;
        ++claimed;
        tasks.push(Task{std::move(e), 0, claim_time, large});
      }
      if (!give_back.empty()) {
        auto released = cache.release(give_back, options_.worker_id);
        if (!released) pass.db_error = released.error();
        break;  // wait for room before claiming more
      }
    }
    if (outstanding == 0) break;

    std::size_t before = group.size();
    // Small entries: wake for a useful group (or when all are in). While
    // large ones are in flight: for each, so their documents are written
    // while others decrypt.
    const std::size_t wanted =
        large_outstanding > 0 ? 1
                        : std::min<std::uint64_t>(outstanding - group.size(),
                                                  std::max<std::size_t>(options_.batch_entries / 4, 1));
    done.take(group, wanted, 0.1);
    if (before == 0 && !group.empty()) group_started = clock_.now();
    for (std::size_t i = before; i < group.size(); ++i) {
      if (group[i].outcome.document) group_bytes += group[i].outcome.document->data_json.size();
    }
    if (!group.empty() &&
        (group.size() >= options_.batch_entries || group.size() == outstanding ||
         group_bytes >= kMaxGroupBytes || budget.has_waiters() ||
         clock_.now() - group_started >= kMaxGroupSeconds)) {
      commit(group);
      group_bytes = 0;
    }
    if (progress_) {
      progress.done = summary.done() - done_at_start;
      progress.seconds = clock_.now() - started;
      progress_(progress);
    }
  }
  tasks.close();
  return pass;
}

std::uint64_t RunSummary::done() const {
  std::uint64_t n = processed;
  for (const auto& [state, count] : skipped) n += count;
  return n;
}

}  // namespace cybexp
