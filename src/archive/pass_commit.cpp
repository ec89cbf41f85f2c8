// The group commit of a pass (pass.h): documents first, then the entries
// marked, counted only as the store reports them marked.
#include <algorithm>
#include <unordered_set>

#include "archive/pass.h"
#include "util/defer.h"
#include "util/keyed_hash.h"
#include "util/log.h"

namespace cybexp {

void Pass::commit() {
  // Workers finish in any order; committing in claim order keeps the
  // archive's insertion order (and `export`) the order of the uploads.
  std::sort(group_.begin(), group_.end(),
            [](const InFlight& a, const InFlight& b) { return a.seq < b.seq; });
  std::vector<RawDocument> docs;
  std::vector<EntryResult> results;
  std::vector<std::uint64_t> bytes;  // per result: ciphertext bytes read
  std::vector<std::string> retry;    // the store failed while reading these
  std::unordered_set<std::string, KeyedStringHash, std::equal_to<>> seen;  // _hash from uploads
  CommitReport report;
  double oldest_claim = setup_.clock.now();
  for (InFlight& f : group_) {
    EntryOutcome& o = f.outcome;
    oldest_claim = std::min(oldest_claim, f.claimed_at);
    if (o.transient_error) {
      retry.push_back(f.entry.id);
      note_failure(*o.transient_error);
      if (!report.error) report.error = o.transient_error;
      continue;
    }
    if (o.document && seen.insert(o.document->hash).second) docs.push_back(std::move(*o.document));
    bytes.push_back(o.blob_bytes);
    results.push_back(std::move(o.result));
  }
  setup_.committing.store(true);
  auto written = [&] {
    DEFER(setup_.committing.store(false));
    return write(docs, results);
  }();
  alive();
  std::vector<std::string> not_marked;
  if (!written) {
    // Nothing is marked done unless its document is committed; the entries
    // go back (not their fault: untried) to be retried after the backoff.
    note_failure(written.error());
    report.error = written.error();
    for (auto& r : results) not_marked.push_back(std::move(r.id));
  } else {
    count(results, bytes, *written, report);
  }
  report.seconds = setup_.clock.now() - oldest_claim;
  if (setup_.hooks.commit) setup_.hooks.commit(report);
  retire_group();
  // The store failed on these entries' own blobs: a real try.
  release(std::move(retry), ReleaseKind::kTried);
  release(std::move(not_marked), ReleaseKind::kUntried);
}

Result<FinishReport> Pass::write(std::span<const RawDocument> docs,
                                 std::span<const EntryResult> results) {
  CacheStore& cache = *setup_.stores.cache;
  ArchiveStore& archive = *setup_.stores.archive;
  const std::string& worker = setup_.options.worker_id;
  if (cache.shares_database_with(archive)) return cache.finish_with_documents(docs, results, worker);
  const std::uint64_t inserted = CYBEXP_TRY(archive.put_documents(docs));
  FinishReport report = CYBEXP_TRY(cache.finish(results, worker));
  report.inserted = inserted;
  return report;
}

// Only what the store marked counts: a result whose lease another worker
// took is that worker's to count.
void Pass::count(std::span<const EntryResult> results, std::span<const std::uint64_t> bytes,
                 const FinishReport& written, CommitReport& report) {
  const std::unordered_set<std::string_view> lost(written.lost.begin(), written.lost.end());
  for (std::size_t i = 0; i < results.size(); ++i) {
    const EntryResult& r = results[i];
    if (lost.contains(r.id)) continue;
    report.bytes += bytes[i];
    if (r.processed()) {
      ++report.processed;
    } else {
      ++report.skipped[r.fate];
      log(LogLevel::kInfo, "entry skipped",
          {{"id", r.id}, {"state", state_name(r.fate)}, {"reason", r.reason}});
    }
  }
  report.lost_leases = written.lost.size();
  report.new_documents = written.inserted;
  report.duplicates = report.processed - std::min(report.processed, written.inserted);
  summary_.add(report);
  result_.successes += report.processed;
  if (!written.lost.empty()) {
    log(LogLevel::kWarning, "leases lost: another worker took these entries; its results count",
        {{"entries", std::to_string(written.lost.size())}});
  }
}

// The group is done with: its budget freed, its entries no longer ours.
void Pass::retire_group() {
  for (const InFlight& f : group_) {
    budget_.release(f.charged);
    if (f.large) {
      --large_outstanding_;
      large_bytes_ -= std::min(large_bytes_, f.entry.blob_size);
      wait_for_room_ = false;
    }
    unfinished_.erase(f.seq);
  }
  group_.clear();
  group_bytes_ = 0;
}

}  // namespace cybexp
