// The backends behind store_factory.h, one per folder under src/store/, each
// opened from the scheme table in store_factory.cpp. Tests of one backend
// open it directly through these.
//
// Thread safety: each opener is reentrant; see store.h for the stores.
#pragma once

#include <memory>
#include <string>

#include "cybexp/result.h"
#include "cybexp/store.h"
#include "cybexp/store_factory.h"

namespace cybexp {

// mode: see OpenMode in store_factory.h.
// timeouts: lock_seconds is the busy timeout.
Result<std::shared_ptr<CacheStore>> open_sqlite_cache(const std::string& path,
                                                      OpenMode mode = OpenMode::kReadWrite,
                                                      const StoreTimeouts& timeouts = {});
Result<std::shared_ptr<ArchiveStore>> open_sqlite_archive(const std::string& path,
                                                          OpenMode mode = OpenMode::kReadWrite,
                                                          const StoreTimeouts& timeouts = {});
// One object serving both roles on one SQLite file.
Result<Stores> open_sqlite_combined(const std::string& path, OpenMode mode = OpenMode::kReadWrite,
                                    const StoreTimeouts& timeouts = {});

// Either may be null: that role is served by another backend.
Result<Stores> open_postgres(const StoreConfig* cache, const StoreConfig* archive);

// MongoDB in the upstream layout (db/coll as the upstream config names them;
// defaults cache_db.file_entries and tahoe_db.instance). Either may be null.
Result<Stores> open_mongo(const StoreConfig* cache, const StoreConfig* archive);

}  // namespace cybexp
