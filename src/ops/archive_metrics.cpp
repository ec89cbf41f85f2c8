// See archive_metrics.h.
#include "ops/archive_metrics.h"

#include "cybexp/entry_state.h"

namespace cybexp::ops {

ArchiveMetrics::ArchiveMetrics() : registry_("cybexp_archive_") {
  MetricsRegistry& r = registry_;
  r.declare_counter("entries_processed_total", "Cache entries archived and marked processed.");
  r.declare_counter(
      "entries_skipped_total",
      "Cache entries skipped, by skip state (see 'cybexp-archive entries --state STATE').");
  r.declare_counter("leases_lost_total",
                    "Results dropped because another worker had taken the entry (its lease "
                    "expired first); that worker's result counts instead.");
  r.declare_counter("documents_new_total", "Raw documents inserted into the archive.");
  r.declare_counter("documents_duplicate_total",
                    "Processed entries whose document was already archived.");
  r.declare_counter("errors_total",
                    "Store failures that ended a pass (the loop then backs off), by error kind.");
  r.declare_counter("bytes_decrypted_total",
                    "Ciphertext bytes read from the cache lake and decrypted.");
  r.declare_counter("backoff_sleeps_total", "Sleeps between passes of the archive loop.");
  r.declare_counter("backoff_seconds_total", "Seconds spent sleeping between passes.");
  r.declare_gauge(
      "consecutive_failures",
      "Passes in a row without a processed entry or with a store failure (upstream's n).");
  r.declare_histogram("batch_latency_seconds",
                      "Claim-to-commit latency of each group commit (its oldest entry).",
                      {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60});
  r.declare_gauge("pending_entries", "Entries the loop could claim now (the backlog).");
  r.declare_gauge("oldest_pending_age_seconds",
                  "Age of the oldest pending entry (now minus its upload timestamp); 0 if none.");
  r.declare_gauge("workers", "Decrypting worker threads.");
  r.declare_gauge("build_info", "The running build; always 1.");

  // Series that exist from the start, so that rate() and alerts see zeros
  // rather than gaps.
  for (const char* state : {kStateBadData, kStateError, kStateNotSupported}) {
    r.add("entries_skipped_total", 0, {{"state", state}});
  }
  r.add("errors_total", 0, {{"kind", error_kind_name(ErrorKind::kDatabase)}});
  for (const char* name :
       {"entries_processed_total", "leases_lost_total", "documents_new_total", "documents_duplicate_total",
        "bytes_decrypted_total", "backoff_sleeps_total", "backoff_seconds_total",
        "consecutive_failures", "pending_entries", "oldest_pending_age_seconds", "workers"}) {
    r.add(name, 0);
  }
  r.set("build_info", 1, {{"version", CYBEXP_VERSION}});
}

void ArchiveMetrics::record_commit(const CommitReport& report) {
  MetricsRegistry& r = registry_;
  r.observe("batch_latency_seconds", report.seconds);
  if (report.error) return;  // nothing was committed; the pass error counts it
  r.add("entries_processed_total", static_cast<double>(report.processed));
  for (const auto& [fate, n] : report.skipped) {
    r.add("entries_skipped_total", static_cast<double>(n), {{"state", state_name(fate)}});
  }
  r.add("leases_lost_total", static_cast<double>(report.lost_leases));
  r.add("documents_new_total", static_cast<double>(report.new_documents));
  r.add("documents_duplicate_total", static_cast<double>(report.duplicates));
  r.add("bytes_decrypted_total", static_cast<double>(report.bytes));
}

void ArchiveMetrics::record_pass_error(const Error& error) {
  registry_.add("errors_total", 1, {{"kind", error_kind_name(error.kind)}});
}

void ArchiveMetrics::record_backoff(int consecutive_failures, double seconds) {
  registry_.add("backoff_sleeps_total", 1);
  registry_.add("backoff_seconds_total", seconds);
  registry_.set("consecutive_failures", consecutive_failures);
}

void ArchiveMetrics::set_pending(std::uint64_t entries) {
  registry_.set("pending_entries", static_cast<double>(entries));
}

void ArchiveMetrics::set_oldest_pending_age(double seconds) {
  registry_.set("oldest_pending_age_seconds", seconds);
}

void ArchiveMetrics::set_workers(std::size_t workers) {
  registry_.set("workers", static_cast<double>(workers));
}

}  // namespace cybexp::ops
