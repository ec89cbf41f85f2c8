// Chooses a backend by URL scheme (store_factory.h) from one table, as
// ccache picks its storage backends: each backend opens the roles whose URL
// has its scheme and leaves the other role to another backend. Unknown
// schemes are a configuration error that lists what this build accepts.
#include <array>
#include <string_view>

#include "store/backends.h"

namespace cybexp {
namespace {

// Opens the roles given (null: not this backend's). When both are given and
// name one database, the backend returns one object for both. The mode
// matters to SQLite only (the servers create no files).
using Opener = Result<Stores> (*)(const StoreConfig* cache, const StoreConfig* archive,
                                  OpenMode mode);

Result<Stores> open_sqlite(const StoreConfig* cache, const StoreConfig* archive, OpenMode mode) {
  constexpr std::size_t kPrefix = std::string_view("sqlite:").size();
  if (cache != nullptr && archive != nullptr && cache->url == archive->url) {
    return open_sqlite_combined(cache->url.substr(kPrefix), mode, cache->timeouts);
  }
  Stores out;
  if (cache != nullptr) {
    out.cache = CYBEXP_TRY(open_sqlite_cache(cache->url.substr(kPrefix), mode, cache->timeouts));
  }
  if (archive != nullptr) {
    out.archive =
        CYBEXP_TRY(open_sqlite_archive(archive->url.substr(kPrefix), mode, archive->timeouts));
  }
  return out;
}

struct Backend {
  std::array<std::string_view, 2> prefixes;  // URL prefixes; empty: unused slot
  std::string_view hint;                     // how the accepted form reads in a message
  Opener open;
};

constexpr Backend kBackends[] = {
    {{"sqlite:", ""}, "sqlite:PATH", open_sqlite},
#ifdef CYBEXP_WITH_POSTGRES
    {{"postgresql://", "postgres://"},
     "postgresql://HOST/DB",
     [](const StoreConfig* c, const StoreConfig* a, OpenMode) { return open_postgres(c, a); }},
#endif
#ifdef CYBEXP_WITH_MONGO
    {{"mongodb://", "mongodb+srv://"},
     "mongodb://HOST",
     [](const StoreConfig* c, const StoreConfig* a, OpenMode) { return open_mongo(c, a); }},
#endif
};

const Backend* backend_for(const std::string& url) {
  for (const Backend& b : kBackends) {
    for (std::string_view p : b.prefixes) {
      if (!p.empty() && url.starts_with(p)) return &b;
    }
  }
  return nullptr;
}

std::unexpected<Error> unsupported(const std::string& role, const std::string& url) {
  // Never echo a URL that may hold a password; the scheme is enough.
  std::string accepted;
  for (const Backend& b : kBackends) {
    accepted += (accepted.empty() ? "use " : " or ") + std::string(b.hint);
  }
  return make_error(ErrorKind::kInvalidArgument,
                    role + ".url has scheme '" + url.substr(0, url.find(':')) +
                        "', which this build does not support: " + accepted);
}

}  // namespace

void Stores::interrupt() const {
  if (cache) cache->interrupt();
  // One object serving both roles is interrupted once.
  if (archive &&
      dynamic_cast<const void*>(archive.get()) != dynamic_cast<const void*>(cache.get())) {
    archive->interrupt();
  }
}

Result<Stores> open_stores(const StoreConfig& cache, const StoreConfig& archive, OpenMode mode) {
  const Backend* cb = backend_for(cache.url);
  const Backend* ab = backend_for(archive.url);
  if (cb == nullptr) return unsupported("cache", cache.url);
  if (ab == nullptr) return unsupported("archive", archive.url);
  if (cb == ab) return cb->open(&cache, &archive, mode);
  Stores out;
  out.cache = CYBEXP_TRY(cb->open(&cache, nullptr, mode)).cache;
  out.archive = CYBEXP_TRY(ab->open(nullptr, &archive, mode)).archive;
  return out;
}

}  // namespace cybexp
