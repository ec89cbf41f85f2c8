#include "ops/archive_metrics.h"

#include <gtest/gtest.h>

namespace cybexp::ops {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.starts_with(line + "\n");
}

TEST(ArchiveMetrics, StartsWithZerosForEverySeriesAlertsUse) {
  ArchiveMetrics m;
  m.set_workers(4);
  const std::string text = m.render();
  for (const char* line : {
           "cybexp_archive_entries_processed_total 0",
           "cybexp_archive_entries_skipped_total{state=\"bad_data\"} 0",
           "cybexp_archive_entries_skipped_total{state=\"error\"} 0",
           "cybexp_archive_entries_skipped_total{state=\"typetag_not_supported\"} 0",
           "cybexp_archive_documents_new_total 0",
           "cybexp_archive_documents_duplicate_total 0",
           "cybexp_archive_errors_total{kind=\"database\"} 0",
           "cybexp_archive_bytes_decrypted_total 0",
           "cybexp_archive_backoff_sleeps_total 0",
           "cybexp_archive_backoff_seconds_total 0",
           "cybexp_archive_consecutive_failures 0",
           "cybexp_archive_batch_latency_seconds_count 0",
           "cybexp_archive_pending_entries 0",
           "cybexp_archive_oldest_pending_age_seconds 0",
           "cybexp_archive_workers 4",
           "cybexp_archive_build_info{version=\"" CYBEXP_VERSION "\"} 1",
           "# TYPE cybexp_archive_batch_latency_seconds histogram",
           "# TYPE cybexp_archive_consecutive_failures gauge",
           "# TYPE cybexp_archive_entries_processed_total counter",
       }) {
    EXPECT_TRUE(has_line(text, line)) << line << "\n" << text;
  }
}

TEST(ArchiveMetrics, CommitsBackoffsAndErrorsAddUp) {
  ArchiveMetrics m;
  CommitReport a;
  a.processed = 10;
  a.new_documents = 7;
  a.duplicates = 3;
  a.skipped = {{EntryFate::kBadData, 2}, {EntryFate::kNotSupported, 1}};
  a.bytes = 4096;
  a.seconds = 0.015625;  // exact in binary, so the sum prints exactly
  m.record_commit(a);
  m.record_commit(a);
  CommitReport failed;
  failed.processed = 99;  // not committed: must not count
  failed.error = Error{ErrorKind::kDatabase, "down"};
  failed.seconds = 3;
  m.record_commit(failed);
  m.record_pass_error(Error{ErrorKind::kDatabase, "down"});
  m.record_pass_error(Error{ErrorKind::kIo, "disk"});
  m.record_backoff(2, 4.5);
  m.record_backoff(3, 8.25);
  m.set_pending(1234);
  m.set_oldest_pending_age(61.5);
  const MetricsRegistry& r = m.registry();
  EXPECT_EQ(r.value("entries_processed_total"), 20);
  EXPECT_EQ(r.value("entries_skipped_total", {{"state", "bad_data"}}), 4);
  EXPECT_EQ(r.value("entries_skipped_total", {{"state", "typetag_not_supported"}}), 2);
  EXPECT_EQ(r.value("entries_skipped_total", {{"state", "error"}}), 0);
  EXPECT_EQ(r.value("documents_new_total"), 14);
  EXPECT_EQ(r.value("documents_duplicate_total"), 6);
  EXPECT_EQ(r.value("bytes_decrypted_total"), 8192);
  EXPECT_EQ(r.value("errors_total", {{"kind", "database"}}), 1);
  EXPECT_EQ(r.value("errors_total", {{"kind", "io"}}), 1);
  EXPECT_EQ(r.value("backoff_sleeps_total"), 2);
  EXPECT_EQ(r.value("backoff_seconds_total"), 12.75);
  EXPECT_EQ(r.value("consecutive_failures"), 3);
  EXPECT_EQ(r.value("pending_entries"), 1234);
  EXPECT_EQ(r.value("oldest_pending_age_seconds"), 61.5);
  EXPECT_EQ(r.value("batch_latency_seconds"), 3);  // every commit is timed, failed ones too
  const std::string text = m.render();
  EXPECT_TRUE(has_line(text, "cybexp_archive_batch_latency_seconds_bucket{le=\"0.025\"} 2"))
      << text;
  EXPECT_TRUE(has_line(text, "cybexp_archive_batch_latency_seconds_bucket{le=\"2.5\"} 2")) << text;
  EXPECT_TRUE(has_line(text, "cybexp_archive_batch_latency_seconds_bucket{le=\"5\"} 3")) << text;
  EXPECT_TRUE(has_line(text, "cybexp_archive_batch_latency_seconds_sum 3.03125")) << text;
}

}  // namespace
}  // namespace cybexp::ops
