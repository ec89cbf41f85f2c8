// Chooses a backend by URL scheme (store_factory.h). Unknown schemes are a
// configuration error that lists what is accepted.
#include "cybexp/store_factory.h"

namespace cybexp {
namespace {

enum class Scheme { kSqlite, kPostgres, kMongo, kUnknown };

Scheme scheme_of(const std::string& url) {
  if (url.starts_with("sqlite:")) return Scheme::kSqlite;
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) return Scheme::kPostgres;
  if (url.starts_with("mongodb://") || url.starts_with("mongodb+srv://")) return Scheme::kMongo;
  return Scheme::kUnknown;
}

std::unexpected<Error> unsupported(const std::string& role, const std::string& url) {
  // Never echo a URL that may hold a password; the scheme is enough.
  std::string scheme = url.substr(0, url.find(':'));
  return make_error(ErrorKind::kInvalidArgument,
                    role + ".url has scheme '" + scheme +
                        "', which this build does not support: use sqlite:PATH"
#ifdef CYBEXP_WITH_POSTGRES
                        " or postgresql://HOST/DB"
#endif
#ifdef CYBEXP_WITH_MONGO
                        " or mongodb://HOST"
#endif
    );
}

}  // namespace

Result<Stores> open_stores(const StoreConfig& cache, const StoreConfig& archive, OpenMode mode) {
  const Scheme cs = scheme_of(cache.url), as = scheme_of(archive.url);
  const bool same = cache.url == archive.url;
  Stores out;
  if (cs == Scheme::kSqlite) {
    const std::string path = cache.url.substr(7);
    if (same) return open_sqlite_combined(path, mode);
    out.cache = CYBEXP_TRY(open_sqlite_cache(path, mode));
  }
  if (as == Scheme::kSqlite && !same) {
    out.archive = CYBEXP_TRY(open_sqlite_archive(archive.url.substr(7), mode));
  }
#ifdef CYBEXP_WITH_POSTGRES
  if (cs == Scheme::kPostgres || as == Scheme::kPostgres) {
    Stores pg = CYBEXP_TRY(open_postgres(cs == Scheme::kPostgres ? &cache : nullptr,
                                         as == Scheme::kPostgres ? &archive : nullptr));
    if (pg.cache) out.cache = pg.cache;
    if (pg.archive) out.archive = pg.archive;
  }
#endif
#ifdef CYBEXP_WITH_MONGO
  if (cs == Scheme::kMongo || as == Scheme::kMongo) {
    Stores mg = CYBEXP_TRY(open_mongo(cs == Scheme::kMongo ? &cache : nullptr,
                                      as == Scheme::kMongo ? &archive : nullptr));
    if (mg.cache) out.cache = mg.cache;
    if (mg.archive) out.archive = mg.archive;
  }
#endif
  if (!out.cache) return unsupported("cache", cache.url);
  if (!out.archive) return unsupported("archive", archive.url);
  return out;
}

}  // namespace cybexp
