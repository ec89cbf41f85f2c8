// Cache entries in cache_db.file_entries (docs/UPSTREAM-FORMATS.md section 2) as BSON:
// the documents the store writes, reads, and the queries and updates it
// sends, kept apart from the I/O so that tests check them byte for byte.
//
// An entry as upstream's API module writes it (pymongo types):
//
//   {_id: ObjectId, name, typetag (old entries: typtag), orgid, timezone,
//    timestamp: double, processed: false, fid: ObjectId (GridFS fs.files)}
//
// Upstream's archive module adds processed: true + _ref (a set of _hash) on
// success, skip: true + state when it gives up. We mark entries exactly so,
// plus fields of our own:
//
//   reason            why it was skipped (a sentence; the brief's field name)
//   _cybexp_lease     {owner, until, since}: the worker holding it, till when
//   _cybexp_attempts  claims so far
//   _cybexp_finished  when it was processed or skipped (a date)
//
// The _cybexp_ prefix keeps ours from ever meaning something to upstream's
// code (whose own fields are plain words or _ref/_hash), and the upstream API
// and analytics modules ignore fields they do not know, so both can share the
// collection, and rolling back to upstream needs no clean-up.
//
// States: processed: true -> processed; else skip: true -> its state; else
// pending. Upstream's API writes `processed: false`; `processed` missing counts
// as pending too ($ne: true), so no entry is invisible to every query.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cybexp/result.h"
#include "cybexp/store.h"
#include "store/mongo/mongo_bson.h"

namespace cybexp::mongo {

inline constexpr const char* kFieldLease = "_cybexp_lease";
inline constexpr const char* kFieldLeaseOwner = "_cybexp_lease.owner";
inline constexpr const char* kFieldLeaseUntil = "_cybexp_lease.until";
inline constexpr const char* kFieldLeaseSince = "_cybexp_lease.since";
inline constexpr const char* kFieldAttempts = "_cybexp_attempts";
inline constexpr const char* kFieldFinished = "_cybexp_finished";
inline constexpr const char* kFieldReason = "reason";

// The entry the API module would write for `e`, with its blob in GridFS as fid.
BsonPtr entry_to_bson(const bson_oid_t& id, const NewEntry& e, const bson_oid_t& fid);

struct StoredEntry {
  EntryInfo info;                 // info.entry.blob_size is 0 here (it is in fs.files)
  std::optional<bson_oid_t> fid;  // nullopt: the entry names no blob
};
// kDatabase when _id is not an ObjectId (pymongo always writes one).
Result<StoredEntry> entry_from_bson(const bson_t* doc);

// Claiming (one findAndModify per entry, oldest _id first): entries not
// processed, not skipped unless force, and not under a live lease.
// With force and finished_before_ms: skipped entries only when finished
// before that time (a forced pass tries each once).
BsonPtr claimable_query(bool force, std::int64_t now_ms,
                        std::optional<std::int64_t> finished_before_ms = std::nullopt);
BsonPtr claim_update(const std::string& worker, std::int64_t now_ms, int lease_seconds);
BsonPtr oldest_first();  // {_id: 1}
// createIndexes for the claim index on the cache collection.
BsonPtr claim_index_command(const std::string& collection);

// finish(): the entry, only while `worker` holds its lease.
BsonPtr leased_by(const bson_oid_t& id, const std::string& worker);
// processed: {$set: {processed: true, ...}, $addToSet: {_ref: {$each: refs}}}
// skipped:   {$set: {skip: true, state, reason, ...}}
// kInvalidArgument when a skipped result has no skip state.
BsonPtr finish_update(const EntryResult& r, std::int64_t now_ms);

// finish(): which of these entries were stamped finished at finished_ms.
BsonPtr finished_at_query(const std::vector<bson_oid_t>& ids, std::int64_t finished_ms);

// release(): these entries' leases, when `worker` holds them.
BsonPtr release_query(const std::vector<bson_oid_t>& ids, const std::string& worker);
BsonPtr release_update(ReleaseKind kind);

// ObjectIds from entry ids; kInvalidArgument naming the first bad one.
// An id that is not 24 hex digits names no entry here (store.h): left out.
std::vector<bson_oid_t> parse_entry_ids(std::span<const std::string> ids);

// for_each_entry(): the filter, from _id > after (if given) on.
Result<BsonPtr> filter_query(const EntryFilter& f, const bson_oid_t* after);
// requeue(): skipped entries (or processed ones, when the filter asks for
// state "processed") matching the filter and not under a live lease.
Result<BsonPtr> requeue_query(const EntryFilter& f, std::int64_t now_ms);
BsonPtr requeue_update(bool processed);

// counts(): entries grouped by (processed, skip, state), and live leases
// grouped by owner; the add_* functions read one result document each.
BsonPtr state_counts_pipeline();
void add_state_count(const bson_t* group, CacheCounts& counts);
BsonPtr in_flight_pipeline(std::int64_t now_ms);
LeaseInfo lease_info_from(const bson_t* group);

// The length of a GridFS fs.files document (pymongo writes int64, older
// drivers int32 or double); nullopt when it has none.
std::optional<std::uint64_t> gridfs_length(const bson_t* files_doc);

}  // namespace cybexp::mongo
