// One pass of the archive loop (pass.h): refill, collect, commit.
#include "archive/pass.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <unordered_set>

#include "cybexp/document.h"
#include "util/defer.h"
#include "util/keyed_hash.h"
#include "util/log.h"

namespace cybexp {
namespace {

constexpr std::size_t kOutstandingBatches = 3;
constexpr double kMaxGroupSeconds = 0.5;  // commit at least this often
// Commit once this much document text waits, so that writing large documents
// overlaps with decrypting the next ones instead of piling up at the end.
constexpr std::uint64_t kMaxGroupBytes = 8ull << 20;
constexpr double kCollectSeconds = 0.1;

// Wall-clock seconds since the epoch, as the stores stamp finished_at.
double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Pass::Pass(const PassSetup& setup, RunSummary& summary)
    : setup_(setup), summary_(summary), budget_(setup.options.memory_budget) {
  ctx_.blobs = setup.stores.cache.get();
  ctx_.archive = setup.stores.archive.get();
  ctx_.keys = setup.keys;
  ctx_.registry = &registry_;
  ctx_.limits = setup.limits;
  ctx_.clock = &setup.clock;
  // A forced pass retries each skipped entry once: those skipped again in
  // this pass are finished after its start, so claim() leaves them alone.
  if (setup.options.force) finished_before_ = wall_seconds();
}

PassResult Pass::run(std::stop_token stop) {
  auto registry = setup_.stores.archive->subtypes();
  if (!registry) {
    result_.db_error = registry.error();
    return result_;
  }
  registry_ = std::move(*registry);
  alive();
  done_at_start_ = summary_.done();
  started_ = last_progress_ = setup_.clock.now();
  if (setup_.hooks.progress) {
    auto n = setup_.stores.cache->count_claimable(setup_.options.force);
    alive();
    progress_.total = n ? *n : 0;
    if (setup_.options.limit) {
      progress_.total = std::min(progress_.total, *setup_.options.limit - done_at_start_);
    }
  }
  try {
    pipeline(stop);
  } catch (const std::exception& e) {
    Error error{ErrorKind::kInternal, std::string("the archive pass failed: ") + e.what()};
    log(LogLevel::kError, "archive pass failed; releasing its entries and backing off",
        {{"error", error.message}});
    note_failure(error);
  }
  release_unfinished();
  return result_;
}

// The committing thread's loop. The workers are joined when it returns or
// throws; DEFER, declared after them, first cancels the queue and the budget
// so that none of them waits for a pass that has ended.
void Pass::pipeline(std::stop_token stop) {
  std::vector<std::jthread> workers;
  DEFER(tasks_.cancel(); budget_.cancel());
  for (std::size_t i = 0; i < setup_.options.workers; ++i) workers.emplace_back([this] { work(); });
  while (true) {
    if (stop.stop_requested() && !stopping_) release_queued_on_stop();
    refill(stop);
    if (unfinished_.empty()) break;
    collect();
    alive_if_progressing();
    if (worker_failed_.load()) {
      std::lock_guard lock(worker_failure_mu_);
      throw std::runtime_error(worker_failure_->message);
    }
    if (group_ready()) commit();
    report_progress();
  }
}

// A worker: archive_one on each entry. archive_one turns an exception while
// handling an entry into that entry's error; anything thrown around it (the
// budget, the hand-over) breaks the pass instead, reported to the
// committing thread, which releases the entry with the rest.
void Pass::work() {
  while (auto item = tasks_.pop()) {
    try {
      InFlight& f = *item;
      if (f.large) {
        // The entry's working memory (document.h), not only its blob: what
        // decrypting and parsemain may hold at once (issue 15).
        f.charged = budget_.acquire(
            working_memory_bound(std::min(f.entry.blob_size, setup_.limits.max_blob_bytes)));
      }
      f.outcome = archive_one(f.entry, ctx_);
      f.entry.blob.reset();
      // Until the commit only the document's text stays in hand.
      const std::uint64_t kept =
          f.outcome.document ? f.outcome.document->data_json.capacity() : 0;
      if (f.charged > kept) {
        budget_.release(f.charged - kept);
        f.charged = kept;
      }
      done_.push(std::move(f));
    } catch (const std::exception& e) {
      std::lock_guard lock(worker_failure_mu_);
      if (!worker_failure_) {
        worker_failure_ = Error{ErrorKind::kInternal, std::string("a worker failed: ") + e.what()};
      }
      worker_failed_.store(true);
    }
  }
}

// Keeps a few batches in flight so workers never wait for a claim.
void Pass::refill(std::stop_token stop) {
  const std::size_t batch = setup_.options.batch_entries;
  while (!exhausted_ && !result_.db_error && !stop.stop_requested() &&
         !wait_for_room_ &&
         unfinished_.size() + batch <= kOutstandingBatches * batch) {
    std::size_t want = batch;
    if (setup_.options.limit) {
      const std::uint64_t limit = *setup_.options.limit;
      const std::uint64_t left = limit - std::min(limit, done_at_start_ + claimed_);
      if (left == 0) {
        exhausted_ = result_.limit_reached = true;
        return;
      }
      want = static_cast<std::size_t>(std::min<std::uint64_t>(want, left));
    }
    if (!claim_batch(want)) return;
  }
}

// Claims one batch and queues it. Holds no more large blobs than the budget
// can take: the rest go back untried (their attempt undone), and refill waits
// for the commit of a large entry to make room before claiming again. Returns false to stop
// refilling for now.
bool Pass::claim_batch(std::size_t want) {
  ClaimRequest req;
  req.worker = setup_.options.worker_id;
  req.max_entries = want;
  req.force = setup_.options.force;
  req.finished_before = finished_before_;
  req.lease_seconds = setup_.options.lease_seconds;
  const double claim_time = setup_.clock.now();
  auto batch = setup_.stores.cache->claim(req);
  alive();
  if (!batch) {
    note_failure(batch.error());
    return false;
  }
  if (batch->empty()) {
    exhausted_ = true;
    return false;
  }
  std::vector<std::string> give_back;
  for (CacheEntry& e : *batch) {
    if (quarantine(e, claim_time)) continue;
    const bool large = !e.blob.has_value();
    if (large && large_bytes_ > 0 && large_bytes_ + e.blob_size > setup_.options.memory_budget) {
      give_back.push_back(std::move(e.id));
      continue;
    }
    if (large) {
      large_bytes_ += e.blob_size;
      ++large_outstanding_;
    }
    InFlight f{next_seq_++, std::move(e), {}, 0, claim_time, large};
    unfinished_.emplace(f.seq, f.entry.id);
    ++claimed_;
    tasks_.push(std::move(f));
  }
  if (give_back.empty()) return true;
  release(std::move(give_back), ReleaseKind::kUntried);
  wait_for_room_ = true;
  return false;
}

// An entry claimed limits.max_attempts times without being finished took
// its worker down (or past its lease) each time: it is not tried again but
// skipped as `error`, through the same commit as every other outcome.
// Skipped entries retried by a forced pass were finished before, so they are
// not counted as poison.
bool Pass::quarantine(CacheEntry& e, double claim_time) {
  const auto tries_before = static_cast<std::uint64_t>(std::max<std::int64_t>(e.attempts - 1, 0));
  if (e.skipped || tries_before < setup_.limits.max_attempts) return false;
  InFlight f{next_seq_++, std::move(e), {}, 0, claim_time, false};
  f.outcome.result.id = f.entry.id;
  f.outcome.result.fate = EntryFate::kError;
  f.outcome.result.reason =
      "claimed " + std::to_string(tries_before) +
      " times without being finished (limits.max_attempts): the worker handling it died or was "
      "stopped each time; see 'inspect " + f.entry.id + " --dry-run', fix the cause, then "
      "'requeue --id " + f.entry.id + "'";
  unfinished_.emplace(f.seq, f.entry.id);
  ++claimed_;
  done_.push(std::move(f));
  return true;
}

// Small entries: wake for a useful group (or when all are in). While large
// ones are in flight: for each, so their documents are written while others
// decrypt.
void Pass::collect() {
  const std::size_t before = group_.size();
  const std::size_t waiting = unfinished_.size() - group_.size();
  const std::size_t wanted =
      large_outstanding_ > 0
          ? 1
          : std::min<std::size_t>(waiting,
                                  std::max<std::size_t>(setup_.options.batch_entries / 4, 1));
  done_.take(group_, wanted, kCollectSeconds);
  if (group_.size() > before || group_.size() == unfinished_.size()) {
    last_progress_ = setup_.clock.now();
  }
  if (before == 0 && !group_.empty()) group_started_ = setup_.clock.now();
  for (std::size_t i = before; i < group_.size(); ++i) {
    if (group_[i].outcome.document) group_bytes_ += group_[i].outcome.document->data_json.size();
  }
}

bool Pass::group_ready() const {
  return !group_.empty() &&
         (group_.size() >= setup_.options.batch_entries || group_.size() == unfinished_.size() ||
          group_bytes_ >= kMaxGroupBytes || budget_.has_waiters() ||
          setup_.clock.now() - group_started_ >= kMaxGroupSeconds);
}

void Pass::report_progress() {
  if (!setup_.hooks.progress) return;
  progress_.done = summary_.done() - done_at_start_;
  progress_.seconds = setup_.clock.now() - started_;
  setup_.hooks.progress(progress_);
}

void Pass::alive() {
  if (setup_.hooks.alive) setup_.hooks.alive();
}

// Workers stuck inside entries (beyond the limits that bound each stage)
// show as no entry finished for longer than one entry and one store call
// may take.
void Pass::alive_if_progressing() {
  const double allowance =
      static_cast<double>(setup_.limits.entry_seconds) + setup_.options.store_call_seconds;
  if (setup_.clock.now() - last_progress_ <= allowance) alive();
}

// The first signal: what the workers hold is finished; what waits in the
// queue was never started and goes back at once (its attempt undone).
void Pass::release_queued_on_stop() {
  stopping_ = true;
  std::vector<std::string> ids;
  for (InFlight& f : tasks_.take_all()) {
    unfinished_.erase(f.seq);
    if (f.large) {
      --large_outstanding_;
      large_bytes_ -= std::min(large_bytes_, f.entry.blob_size);
    }
    ids.push_back(std::move(f.entry.id));
  }
  if (ids.empty()) return;
  log(LogLevel::kInfo, "stopping: releasing the entries not started",
      {{"entries", std::to_string(ids.size())}});
  release(std::move(ids), ReleaseKind::kUntried);
}

void Pass::note_failure(const Error& error) {
  if (!result_.db_error) result_.db_error = error;
}

void Pass::release(std::vector<std::string> ids, ReleaseKind kind) {
  if (ids.empty()) return;
  auto released = setup_.stores.cache->release(ids, setup_.options.worker_id, kind);
  alive();
  if (!released) {
    log(LogLevel::kWarning, "could not release leases; they expire by themselves",
        {{"entries", std::to_string(ids.size())}, {"error", released.error().message}});
    note_failure(released.error());
  }
}

// Entries claimed in this pass and not finished: the pass ended on a failure
// (store, exception) before their commit. Not their fault, so untried.
void Pass::release_unfinished() {
  std::vector<std::string> ids;
  ids.reserve(unfinished_.size());
  for (auto& [seq, id] : unfinished_) ids.push_back(std::move(id));
  unfinished_.clear();
  try {
    release(std::move(ids), ReleaseKind::kUntried);
  } catch (const std::exception& e) {
    log(LogLevel::kError, "could not release leases; they expire by themselves",
        {{"error", e.what()}});
  }
}

}  // namespace cybexp
