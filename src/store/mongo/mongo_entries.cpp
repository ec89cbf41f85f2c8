// Cache entry documents, queries and updates (mongo_entries.h).
#include "store/mongo/mongo_entries.h"

#include "store/mongo/mongo_legacy.h"

namespace cybexp::mongo {
namespace {

constexpr std::int64_t kMsPerSecond = 1000;

// {field: {$ne: true}}: false, missing or anything but true.
Doc not_true() { return std::move(Doc().boolean("$ne", true)); }

// Not under a live lease: no lease, or one that has run out.
Doc lease_free(std::int64_t now_ms) {
  Doc any = Doc::array();
  any.sub("", Doc().null(kFieldLease));
  any.sub("", Doc().sub(kFieldLeaseUntil, Doc().date("$lt", now_ms)));
  return any;
}

Doc oid_array(const std::vector<bson_oid_t>& ids) {
  Doc a = Doc::array();
  for (const auto& id : ids) a.oid("", id);
  return a;
}

// Appends the filter's conditions to q; `ands` collects those that need a
// top-level $or of their own (combined under $and by the caller).
Result<void> add_filter(const EntryFilter& f, Doc& q, Doc& ands, bool& any_and) {
  if (f.state) {
    const std::string& s = *f.state;
    if (s == kStatePending) {
      q.sub("processed", not_true()).sub("skip", not_true());
    } else if (s == kStateProcessed) {
      q.boolean("processed", true);
    } else {
      q.sub("processed", not_true()).boolean("skip", true);
      if (s != "skipped") q.str("state", s);
    }
  }
  if (!f.ids.empty()) {
    auto ids = parse_entry_ids(f.ids);
    q.sub("_id", Doc().sub("$in", oid_array(ids)));
  }
  if (f.typetag) {
    // Old entries carry the typetag as `typtag` (docs/UPSTREAM-FORMATS.md section 2).
    Doc either = Doc::array();
    either.sub("", Doc().str("typetag", *f.typetag));
    either.sub("", Doc().sub("typetag", Doc().boolean("$exists", false))
                                 .str("typtag", *f.typetag));
    ands.sub("", Doc().sub("$or", either));
    any_and = true;
  }
  if (f.since || f.until) {
    ands.sub("", upload_time_range(f.since, f.until));  // timestamp, or a legacy entry's datetime
    any_and = true;
  }
  return {};
}

}  // namespace

BsonPtr entry_to_bson(const bson_oid_t& id, const NewEntry& e, const bson_oid_t& fid) {
  // Field order and types as the API module's pymongo insert writes them.
  return Doc()
      .oid("_id", id)
      .str("name", e.name)
      .str("typetag", e.typetag)
      .str("orgid", e.orgid)
      .str("timezone", e.timezone)
      .dbl("timestamp", e.timestamp)
      .boolean("processed", false)
      .oid("fid", fid)
      .take();
}

Result<StoredEntry> entry_from_bson(const bson_t* doc) {
  StoredEntry out;
  auto id = get_oid(doc, "_id");
  if (!id) {
    return make_error(ErrorKind::kDatabase,
                      "mongodb: an entry's _id is not an ObjectId: " + canonical_json(doc));
  }
  EntryInfo& info = out.info;
  CacheEntry& e = info.entry;
  e.id = oid_hex(*id);
  e.name = get_string(doc, "name").value_or("");
  e.typetag = get_string(doc, "typetag").value_or(get_string(doc, "typtag").value_or(""));
  e.orgid = get_string(doc, "orgid").value_or("");
  e.timezone = get_string(doc, "timezone").value_or("UTC");
  e.timestamp = entry_upload_seconds(doc);  // legacy entries: datetime
  e.attempts = static_cast<std::int64_t>(get_count(doc, kFieldAttempts).value_or(0));
  out.fid = get_oid(doc, "fid");
  if (get_true(doc, "processed")) {
    info.state = kStateProcessed;
  } else if (get_true(doc, "skip")) {
    info.state = get_string(doc, "state").value_or("skipped");
    e.skipped = true;
  } else {
    info.state = kStatePending;
  }
  info.refs = get_string_array(doc, "_ref");
  info.reason = get_string(doc, kFieldReason).value_or("");
  info.lease_owner = get_string(doc, kFieldLeaseOwner).value_or("");
  info.lease_until = get_date_seconds(doc, kFieldLeaseUntil);
  info.finished_at = get_date_seconds(doc, kFieldFinished);
  return out;
}

BsonPtr claimable_query(bool force, std::int64_t now_ms,
                        std::optional<std::int64_t> finished_before_ms) {
  Doc q;
  q.sub("processed", not_true());
  if (!force) q.sub("skip", not_true());
  if (!force || !finished_before_ms) {
    q.sub("$or", lease_free(now_ms));
    return q.take();
  }
  // Forced: skipped entries only when finished before the pass began.
  Doc not_skipped_yet = Doc::array();
  not_skipped_yet.sub("", Doc().sub("skip", not_true()))
      .sub("", Doc().sub(kFieldFinished, Doc().boolean("$exists", false)))
      .sub("", Doc().sub(kFieldFinished, Doc().date("$lt", *finished_before_ms)));
  Doc ands = Doc::array();
  ands.sub("", Doc().sub("$or", lease_free(now_ms))).sub("", Doc().sub("$or", not_skipped_yet));
  q.sub("$and", ands);
  return q.take();
}

BsonPtr claim_update(const std::string& worker, std::int64_t now_ms, int lease_seconds) {
  Doc lease;
  lease.str("owner", worker)
      .date("until", now_ms + static_cast<std::int64_t>(lease_seconds) * kMsPerSecond)
      .date("since", now_ms);
  return Doc()
      .sub("$set", Doc().sub(kFieldLease, lease))
      .sub("$inc", Doc().int32(kFieldAttempts, 1))
      .take();
}

BsonPtr oldest_first() { return Doc().int32("_id", 1).take(); }

BsonPtr claim_index_command(const std::string& collection) {
  // Claims look for unprocessed entries oldest first; without this index the
  // server would walk every processed entry to find them.
  Doc index;
  index.sub("key", Doc().int32("processed", 1).int32("_id", 1)).str("name", "cybexp_claim");
  Doc indexes = Doc::array();
  indexes.sub("", index);
  return Doc().str("createIndexes", collection).sub("indexes", indexes).take();
}

BsonPtr leased_by(const bson_oid_t& id, const std::string& worker) {
  return Doc().oid("_id", id).str(kFieldLeaseOwner, worker).take();
}

BsonPtr finish_update(const EntryResult& r, std::int64_t now_ms) {
  Doc set, unset;
  unset.str(kFieldLease, "");
  if (r.processed()) {
    // As upstream: processed: true and the _hash added to the _ref set. A
    // forced retry of a skipped entry also drops the old skip marks, so the
    // entry does not look skipped and processed at once.
    set.boolean("processed", true).date(kFieldFinished, now_ms);
    unset.str("skip", "").str("state", "").str(kFieldReason, "");
    Doc each;
    each.sub("$each", Doc::array().strs(r.refs));
    return Doc()
        .sub("$set", set)
        .sub("$addToSet", Doc().sub("_ref", each))
        .sub("$unset", unset)
        .take();
  }
  set.boolean("skip", true).str("state", state_name(r.fate)).str(kFieldReason, r.reason)
      .date(kFieldFinished, now_ms);
  return Doc().sub("$set", set).sub("$unset", unset).take();
}

BsonPtr finished_at_query(const std::vector<bson_oid_t>& ids, std::int64_t finished_ms) {
  return Doc().sub("_id", Doc().sub("$in", oid_array(ids))).date(kFieldFinished, finished_ms).take();
}

BsonPtr release_query(const std::vector<bson_oid_t>& ids, const std::string& worker) {
  return Doc()
      .sub("_id", Doc().sub("$in", oid_array(ids)))
      .str(kFieldLeaseOwner, worker)
      .take();
}

BsonPtr release_update(ReleaseKind kind) {
  Doc update;
  update.sub("$unset", Doc().str(kFieldLease, ""));
  // An untried entry gets its claim's attempt back (the query matched our
  // lease, so the claim's increment is there to undo).
  if (kind == ReleaseKind::kUntried) update.sub("$inc", Doc().int32(kFieldAttempts, -1));
  return update.take();
}

std::vector<bson_oid_t> parse_entry_ids(std::span<const std::string> ids) {
  std::vector<bson_oid_t> out;
  out.reserve(ids.size());
  for (const auto& id : ids) {
    if (auto oid = parse_oid(id)) out.push_back(*oid);
  }
  return out;
}

Result<BsonPtr> filter_query(const EntryFilter& f, const bson_oid_t* after) {
  Doc q, ands = Doc::array();
  bool any_and = false;
  CYBEXP_TRY_VOID(add_filter(f, q, ands, any_and));
  if (after != nullptr) {
    // Under $and: an id list may constrain _id too.
    ands.sub("", Doc().sub("_id", Doc().oid("$gt", *after)));
    any_and = true;
  }
  if (any_and) q.sub("$and", ands);
  return q.take();
}

Result<BsonPtr> requeue_query(const EntryFilter& f, std::int64_t now_ms) {
  const bool processed = f.state && *f.state == kStateProcessed;
  Doc q, ands = Doc::array();
  bool unused = false;
  CYBEXP_TRY_VOID(add_filter(f, q, ands, unused));
  // Processed entries go back only when the filter asks for them by state;
  // otherwise requeue retries what was skipped (a "pending" filter: nothing).
  if (!processed) {
    ands.sub("", Doc().sub("processed", not_true()).boolean("skip", true));
  }
  ands.sub("", Doc().sub("$or", lease_free(now_ms)));
  return q.sub("$and", ands).take();
}

BsonPtr requeue_update(bool processed) {
  // Back to the shape the API module wrote: no skip, state or reason fields.
  Doc unset;
  unset.str("skip", "").str("state", "").str(kFieldReason, "").str(kFieldFinished, "")
      .str(kFieldLease, "");
  unset.str(kFieldAttempts, "");
  Doc u;
  if (processed) {
    unset.str("_ref", "");
    u.sub("$set", Doc().boolean("processed", false));
  }
  return u.sub("$unset", unset).take();
}

BsonPtr state_counts_pipeline() {
  Doc id;
  id.str("p", "$processed").str("s", "$skip").str("st", "$state");
  Doc group;
  group.sub("_id", id).sub("n", Doc().int32("$sum", 1));
  Doc stages = Doc::array();
  stages.sub("", Doc().sub("$group", group));
  return Doc().sub("pipeline", stages).take();
}

void add_state_count(const bson_t* group, CacheCounts& counts) {
  const std::uint64_t n = get_count(group, "n").value_or(0);
  if (get_true(group, "_id.p")) {
    counts.processed += n;
  } else if (get_true(group, "_id.s")) {
    counts.skipped[get_string(group, "_id.st").value_or("skipped")] += n;
  } else {
    counts.pending += n;
  }
}

BsonPtr in_flight_pipeline(std::int64_t now_ms) {
  Doc group;
  group.str("_id", std::string("$") + kFieldLeaseOwner)
      .sub("n", Doc().int32("$sum", 1))
      .sub("oldest", Doc().str("$min", std::string("$") + kFieldLeaseSince));
  Doc stages = Doc::array();
  stages.sub("", Doc().sub("$match", Doc().sub(
                                                    kFieldLeaseUntil,
                                                    Doc().date("$gte", now_ms))));
  stages.sub("", Doc().sub("$group", group));
  stages.sub("", Doc().sub("$sort", Doc().int32("_id", 1)));
  return Doc().sub("pipeline", stages).take();
}

LeaseInfo lease_info_from(const bson_t* group) {
  return LeaseInfo{get_string(group, "_id").value_or(""), get_count(group, "n").value_or(0),
                   get_date_seconds(group, "oldest")};
}

std::optional<std::uint64_t> gridfs_length(const bson_t* files_doc) {
  return get_count(files_doc, "length");
}

}  // namespace cybexp::mongo
