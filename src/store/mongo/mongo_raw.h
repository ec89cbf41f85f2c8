// The archive database's documents as BSON, apart from the I/O so that
// tests check them byte for byte.
//
// Raw documents live in tahoe_db.instance in the upstream TAHOE shape
// (docs/UPSTREAM-FORMATS.md section 3), which the analytics module reads:
//
//   {_id: ObjectId, itype: "raw", data: <BSON of the parsed payload>,
//    orgid, timezone, sub_type, _hash}
//
// The collection also holds the analytics module's other TAHOE instances
// (events, attributes, ...), and it may add fields (_ref, filters) to ours:
// reads select itype "raw" and ignore fields they do not know.
//
// Our own bookkeeping sits beside it in the same database, in collections
// named cybexp_* that upstream never reads: cybexp_subtypes (typetag ->
// sub_type) and cybexp_meta (schema version).
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cybexp/raw_document.h"
#include "cybexp/result.h"
#include "store/mongo/mongo_bson.h"

namespace cybexp::mongo {

inline constexpr const char* kSubtypesCollection = "cybexp_subtypes";
inline constexpr const char* kMetaCollection = "cybexp_meta";
inline constexpr int kSchemaVersion = 1;
// The unique index on _hash among raw documents (see hash_index_command).
inline constexpr const char* kHashIndexName = "cybexp_raw_hash_unique";
// The index the analytics module's query needs ({itype: "raw", sub_type: S,
// ...}): see sub_type_index_command.
inline constexpr const char* kSubTypeIndexName = "cybexp_sub_type";

// The document upstream would store for doc. kParse with a reason (for the
// entry's `error` state) when MongoDB cannot store it (see mongo_json.h).
Result<BsonPtr> raw_to_bson(const RawDocument& doc, const bson_oid_t& id);

// Why MongoDB cannot store doc, or nullopt. Cheap for ordinary documents (a
// scan of the text); does the full conversion only when the scan cannot tell.
std::optional<std::string> unstorable_reason(const RawDocument& doc);

// A stored raw document; data_json is what Python's json.dumps writes of what
// pymongo reads. kBadData naming the document when data holds a BSON type
// JSON cannot represent.
Result<RawDocument> raw_from_bson(const bson_t* doc);

// Raw documents (of one sub type), from _id > after (if given) on.
BsonPtr raw_query(const std::optional<std::string>& sub_type, const bson_oid_t* after);
// Raw documents whose _hash is one of hashes (projection: _hash only).
BsonPtr hashes_query(const std::vector<std::string>& hashes);
BsonPtr hash_projection();

// createIndexes for a unique index on _hash. Partial (itype "raw" only) so
// that the analytics module's own instances in the same collection are never
// refused because of our index.
BsonPtr hash_index_command(const std::string& collection);
// createIndexes for {sub_type: 1}, not unique, on every document: the
// analytics module selects raw documents by sub_type. Idempotent: the same
// index again is a no-op for the server.
BsonPtr sub_type_index_command(const std::string& collection);
// True if an index description (from listIndexes) makes _hash unique among
// raw documents: unique on {_hash: 1}, over all documents or our partial set.
bool enforces_unique_hash(const bson_t* index);

// Aggregation for counts(): raw documents and the BSON bytes of their data.
BsonPtr raw_counts_pipeline();

// createIndexes for a unique index on `key` of one of our own collections.
BsonPtr unique_index_command(const std::string& collection, const std::string& key);

// cybexp_meta holds {key: "schema_version", value: N}; the upsert writes it
// only when it is not there yet (its reply says whether it did).
BsonPtr schema_version_selector();
BsonPtr schema_version_upsert();
int schema_version_from_bson(const bson_t* doc);

// cybexp_subtypes documents: {typetag, sub_type}. The seed sets sub_type
// only on insert (a person's later change stays); add_subtype replaces it.
BsonPtr subtype_selector(const std::string& typetag);
BsonPtr subtype_update(const std::string& sub_type, bool seed);
std::optional<std::pair<std::string, std::string>> subtype_from_bson(const bson_t* doc);

}  // namespace cybexp::mongo
