// Opening MongoDB stores (open_mongo, store/backends.h).
#include "store/mongo/mongo_store.h"

namespace cybexp {

Result<Stores> open_mongo(const StoreConfig* cache, const StoreConfig* archive) {
  if (cache == nullptr && archive == nullptr) {
    return make_error(ErrorKind::kInvalidArgument, "mongodb: no store to open");
  }
  // Two objects even on one server: MongoDB has no transaction we could rely
  // on across a standalone server's databases, and none is needed (see
  // mongo_store.h).
  Stores stores;
  if (cache != nullptr) stores.cache = CYBEXP_TRY(mongo::MongoCache::open(*cache));
  if (archive != nullptr) stores.archive = CYBEXP_TRY(mongo::MongoArchive::open(*archive));
  return stores;
}

}  // namespace cybexp
