// The archive loop's metrics, as `run --metrics-listen` serves them (all
// names prefixed cybexp_archive_):
//
//   entries_processed_total            entries marked processed
//   leases_lost_total                  results dropped: another worker had the entry
//   entries_skipped_total{state}       entries skipped, by skip state
//   documents_new_total                documents inserted into the archive
//   documents_duplicate_total          processed entries whose document was already archived
//   errors_total{kind}                 store failures that ended a pass, by error kind
//   bytes_decrypted_total              ciphertext bytes read and decrypted
//   backoff_sleeps_total               sleeps between passes
//   backoff_seconds_total              seconds spent in them
//   consecutive_failures               upstream's n: passes in a row without success
//   batch_latency_seconds              histogram: claim-to-commit latency of each group commit
//   pending_entries                    entries run could claim now
//   oldest_pending_age_seconds         now minus the upload timestamp of the oldest pending entry
//   workers                            decrypting threads
//   build_info{version}                always 1
//
// The values come from the Archiver's hooks, on run()'s thread; render() is
// called from the HTTP server's threads.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <string>

#include "cybexp/archiver.h"
#include "ops/metrics_registry.h"

namespace cybexp::ops {

class ArchiveMetrics {
 public:
  ArchiveMetrics();

  void record_commit(const CommitReport& report);
  void record_pass_error(const Error& error);
  void record_backoff(int consecutive_failures, double seconds);
  void set_pending(std::uint64_t entries);
  void set_oldest_pending_age(double seconds);
  void set_workers(std::size_t workers);

  std::string render() const { return registry_.render(); }
  const MetricsRegistry& registry() const { return registry_; }

 private:
  MetricsRegistry registry_;
};

}  // namespace cybexp::ops
