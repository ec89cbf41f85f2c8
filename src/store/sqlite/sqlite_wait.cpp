// SqliteStore::wait_for_change (store.h): while the archive loop sleeps, the
// main connection's PRAGMA data_version is read every 50 ms. It changes only
// when another connection (any process: `submit`, the API module, another
// daemon, `requeue`) commits to the file, and reading it costs a look at the
// WAL index in shared memory, not a query. Only when it changed is the
// entries index asked whether anything is claimable now, so other workers'
// finishing (which changes the file too) wakes nobody for nothing.
#include <algorithm>

#include "store/sqlite/sqlite_store.h"
#include "store/store_wait.h"

namespace cybexp::sqlite {
namespace {

constexpr double kPollSeconds = 0.05;

}  // namespace

Result<std::int64_t> SqliteStore::read_data_version() {
  auto stmt = CYBEXP_TRY(db_->prepare("PRAGMA data_version", "wait_for_change"));
  if (!CYBEXP_TRY(stmt.step())) return std::unexpected(db_->error("wait_for_change", "no data_version"));
  return stmt.column_int64(0);
}

Result<bool> SqliteStore::changed_claimable() {
  std::lock_guard lock(mu_);
  const std::int64_t version = CYBEXP_TRY(read_data_version());
  if (version == data_version_) return false;
  data_version_ = version;
  auto any = CYBEXP_TRY(db_->prepare(
      "SELECT EXISTS (SELECT 1 FROM entries INDEXED BY entries_claimable "
      "WHERE processed = 0 AND skip = 0 AND (lease_until IS NULL OR lease_until < ?1))",
      "wait_for_change"));
  any.bind(1, now_seconds());
  CYBEXP_TRY(any.step());
  return any.column_int64(0) != 0;
}

Result<bool> SqliteStore::wait_for_change(double seconds, std::stop_token stop) {
  double left = seconds;
  while (!stop.stop_requested()) {
    if (CYBEXP_TRY(changed_claimable())) return true;
    if (left <= 0) break;
    const double step = std::min(left, kPollSeconds);
    if (!sleep_or_stop(step, stop)) break;
    left -= step;
  }
  return false;
}

}  // namespace cybexp::sqlite
