// Opening PostgreSQL stores (open_postgres) and what spans both roles of a
// PostgresStore (see postgres_store.h).
#include "store/postgres/postgres_store.h"

#include "store/backends.h"
#include "store/postgres/pg_schema.h"

namespace cybexp {
namespace pg {
namespace {

// fetch_blob runs on the archive loop's worker threads; a few connections
// keep them busy without tying up server backends (one process each).
constexpr std::size_t kBlobConnections = 4;

bool postgres_url(const std::string& url) {
  return url.starts_with("postgresql://") || url.starts_with("postgres://");
}

}  // namespace

PostgresStore::PostgresStore(const std::string& url, bool both_roles, const StoreTimeouts& timeouts)
    : conn_(url, timeouts), blob_pool_(url, kBlobConnections, timeouts), both_roles_(both_roles) {}

void PostgresStore::interrupt() {
  conn_.cancel();
  blob_pool_.cancel_all();
}

Result<std::shared_ptr<PostgresStore>> PostgresStore::open(const std::string& url, bool both_roles,
                                                           const StoreTimeouts& timeouts) {
  if (!postgres_url(url)) {
    return make_error(ErrorKind::kInvalidArgument,
                      "postgresql: the URL must start with postgresql:// or postgres://");
  }
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (opts == nullptr) {
    // libpq's message names the problem, not the URL (which may hold a password).
    std::string message = err != nullptr ? err : "out of memory";
    PQfreemem(err);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
    return make_error(ErrorKind::kInvalidArgument, "postgresql: bad URL: " + message);
  }
  PQconninfoFree(opts);
  std::shared_ptr<PostgresStore> store(new PostgresStore(url, both_roles, timeouts));
  CYBEXP_TRY_VOID(store->conn_.ensure());
  CYBEXP_TRY_VOID(ensure_schema(store->conn_));
  return store;
}

bool PostgresStore::shares_database_with(const ArchiveStore& archive) const {
  return both_roles_ && static_cast<const ArchiveStore*>(this) == &archive;
}

Result<FinishReport> PostgresStore::finish_with_documents(std::span<const RawDocument> docs,
                                                          std::span<const EntryResult> results,
                                                          const std::string& worker) {
  if (!both_roles_) {
    // A cache-only object would put the documents in the cache's database.
    return make_error(ErrorKind::kInternal, "finish_with_documents on separate databases");
  }
  return conn_.transaction("finish_with_documents", [&]() -> Result<FinishReport> {
    const std::uint64_t inserted = CYBEXP_TRY(insert_documents("finish_with_documents", docs));
    FinishReport report = CYBEXP_TRY(mark_finished("finish_with_documents", results, worker));
    report.inserted = inserted;
    return report;
  });
}

Result<std::vector<std::string>> PostgresStore::session_settings(const std::string& setting) {
  std::vector<std::string> values;
  Params p;
  p.text(setting);
  auto main = CYBEXP_TRY(conn_.exec("session_settings", "SELECT current_setting($1)", p));
  values.emplace_back(PQgetvalue(main.get(), 0, 0));
  auto blob = blob_pool_.acquire();
  auto pooled = CYBEXP_TRY(blob->exec("session_settings", "SELECT current_setting($1)", p));
  values.emplace_back(PQgetvalue(pooled.get(), 0, 0));
  return values;
}

}  // namespace pg

Result<Stores> open_postgres(const StoreConfig* cache, const StoreConfig* archive) {
  if (cache == nullptr && archive == nullptr) {
    return make_error(ErrorKind::kInvalidArgument, "postgresql: no store to open");
  }
  Stores stores;
  if (cache != nullptr && archive != nullptr && cache->url == archive->url) {
    // One object, one connection: finish_with_documents commits both at once.
    auto both = CYBEXP_TRY(pg::PostgresStore::open(cache->url, true, cache->timeouts));
    stores.cache = both;
    stores.archive = both;
    return stores;
  }
  if (cache != nullptr)
    stores.cache = CYBEXP_TRY(pg::PostgresStore::open(cache->url, false, cache->timeouts));
  if (archive != nullptr) {
    stores.archive = CYBEXP_TRY(pg::PostgresStore::open(archive->url, false, archive->timeouts));
  }
  return stores;
}

}  // namespace cybexp
