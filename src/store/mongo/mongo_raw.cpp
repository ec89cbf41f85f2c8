// Archive database documents (mongo_raw.h).
#include "store/mongo/mongo_raw.h"

#include "cybexp/python_json.h"
#include "store/mongo/mongo_json.h"

namespace cybexp::mongo {
namespace {

// Under this many bytes of text a document's BSON form is surely within
// MongoDB's 16 MiB: BSON takes at most about 4.4 bytes per byte of
// json.dumps text (the worst case is an array of one-digit integers, "0, ",
// 3 bytes, against type + up to 7 key bytes + int32 in BSON).
constexpr std::size_t kSurelyFits = 3u << 20;

Doc raw_only() { return std::move(Doc().str("itype", "raw")); }

}  // namespace

Result<BsonPtr> raw_to_bson(const RawDocument& doc, const bson_oid_t& id) {
  // The text was written by python_json from a parse that succeeded, so it
  // parses again; the depth limit turns a too-deep document into a reason
  // before anything is built (data itself is nesting level 1).
  JsonParseResult parsed = parse_python_json(doc.data_json, JsonLimits{kMaxNesting});
  if (parsed.status == JsonParseStatus::kTooDeep) {
    return make_error(ErrorKind::kParse, "the data nests deeper than MongoDB's limit of " +
                                             std::to_string(kMaxNesting) +
                                             " levels, so the server refuses it");
  }
  if (parsed.status != JsonParseStatus::kOk) {
    return make_error(ErrorKind::kInternal,
                      "mongodb: a document's data_json is not JSON: " + parsed.detail);
  }
  // Field order as TAHOE's Raw builds the dict; pymongo puts _id first.
  Doc out;
  out.oid("_id", id).str("itype", "raw");
  CYBEXP_TRY_VOID(append_json(out.raw(), "data", parsed.value, 1));
  out.str("orgid", doc.orgid).str("timezone", doc.timezone).str("sub_type", doc.sub_type)
      .str("_hash", doc.hash);
  if (out.get()->len > kMaxDocumentBytes) {
    return make_error(ErrorKind::kParse,
                      "the document is " + std::to_string(out.get()->len) +
                          " bytes as BSON, over MongoDB's limit of " +
                          std::to_string(kMaxDocumentBytes) + " bytes for one document");
  }
  return out.take();
}

std::optional<std::string> unstorable_reason(const RawDocument& doc) {
  const std::size_t text = doc.data_json.size() + doc.orgid.size() + doc.timezone.size() +
                           doc.sub_type.size() + doc.hash.size();
  if (text <= kSurelyFits && !may_be_unstorable(doc.data_json)) return std::nullopt;
  auto bson = raw_to_bson(doc, bson_oid_t{});
  if (bson) return std::nullopt;
  return bson.error().message;
}

Result<RawDocument> raw_from_bson(const bson_t* doc) {
  RawDocument out;
  out.hash = get_string(doc, "_hash").value_or("");
  out.sub_type = get_string(doc, "sub_type").value_or("");
  out.orgid = get_string(doc, "orgid").value_or("");
  out.timezone = get_string(doc, "timezone").value_or("");
  bson_iter_t it;
  if (!find_field(doc, "data", &it)) {
    return make_error(ErrorKind::kBadData, "mongodb: raw document " + out.hash + " has no data");
  }
  auto value = json_from_bson(&it, "data");
  if (!value) {
    return make_error(ErrorKind::kBadData,
                      "mongodb: raw document " + out.hash + ": " + value.error().message);
  }
  out.data_json = python_json(*value);
  return out;
}

BsonPtr raw_query(const std::optional<std::string>& sub_type, const bson_oid_t* after) {
  Doc q = raw_only();
  if (sub_type) q.str("sub_type", *sub_type);
  if (after != nullptr) q.sub("_id", Doc().oid("$gt", *after));
  return q.take();
}

BsonPtr hashes_query(const std::vector<std::string>& hashes) {
  Doc in = Doc::array();
  in.strs(hashes);
  return raw_only().sub("_hash", Doc().sub("$in", in)).take();
}

BsonPtr hash_projection() { return Doc().int32("_hash", 1).int32("_id", 0).take(); }

BsonPtr hash_index_command(const std::string& collection) {
  Doc index;
  index.sub("key", Doc().int32("_hash", 1))
      .str("name", kHashIndexName)
      .boolean("unique", true)
      .sub("partialFilterExpression", raw_only());
  Doc indexes = Doc::array();
  indexes.sub("", index);
  return Doc().str("createIndexes", collection).sub("indexes", indexes).take();
}

BsonPtr sub_type_index_command(const std::string& collection) {
  Doc index;
  index.sub("key", Doc().int32("sub_type", 1)).str("name", kSubTypeIndexName);
  Doc indexes = Doc::array();
  indexes.sub("", index);
  return Doc().str("createIndexes", collection).sub("indexes", indexes).take();
}

bool enforces_unique_hash(const bson_t* index) {
  if (!get_true(index, "unique")) return false;
  bson_iter_t key;
  if (!find_field(index, "key", &key) || !BSON_ITER_HOLDS_DOCUMENT(&key)) return false;
  bson_iter_t field;
  if (!bson_iter_recurse(&key, &field) || !bson_iter_next(&field)) return false;
  if (std::string_view(bson_iter_key(&field)) != "_hash" || bson_iter_next(&field)) return false;
  bson_iter_t partial;
  if (!find_field(index, "partialFilterExpression", &partial)) return true;  // all documents
  // Our own partial filter, {itype: "raw"}, and nothing else.
  bson_iter_t cond;
  if (!BSON_ITER_HOLDS_DOCUMENT(&partial) || !bson_iter_recurse(&partial, &cond) ||
      !bson_iter_next(&cond) || std::string_view(bson_iter_key(&cond)) != "itype" ||
      !BSON_ITER_HOLDS_UTF8(&cond)) {
    return false;
  }
  std::uint32_t len = 0;
  const char* v = bson_iter_utf8(&cond, &len);
  return std::string_view(v, len) == "raw" && !bson_iter_next(&cond);
}

BsonPtr raw_counts_pipeline() {
  // $bsonSize of {d: data} is data's size plus 8 bytes of wrapping (the
  // reader subtracts them): data may be an array or a scalar, which
  // $bsonSize does not take by itself.
  Doc wrapped;
  wrapped.str("d", "$data");
  Doc group;
  group.null("_id")
      .sub("n", Doc().int32("$sum", 1))
      .sub("bytes", Doc().sub("$sum", Doc().sub("$bsonSize", wrapped)));
  Doc stages = Doc::array();
  stages.sub("", Doc().sub("$match", raw_only()));
  stages.sub("", Doc().sub("$group", group));
  return Doc().sub("pipeline", stages).take();
}

BsonPtr unique_index_command(const std::string& collection, const std::string& key) {
  Doc index;
  index.sub("key", Doc().int32(key, 1)).str("name", key + "_unique").boolean("unique", true);
  Doc indexes = Doc::array();
  indexes.sub("", index);
  return Doc().str("createIndexes", collection).sub("indexes", indexes).take();
}

BsonPtr schema_version_selector() { return Doc().str("key", "schema_version").take(); }

BsonPtr schema_version_upsert() {
  return Doc().sub("$setOnInsert", Doc().int32("value", kSchemaVersion)).take();
}

int schema_version_from_bson(const bson_t* doc) {
  return static_cast<int>(get_count(doc, "value").value_or(0));
}

BsonPtr subtype_selector(const std::string& typetag) { return Doc().str("typetag", typetag).take(); }

BsonPtr subtype_update(const std::string& sub_type, bool seed) {
  return Doc().sub(seed ? "$setOnInsert" : "$set", Doc().str("sub_type", sub_type)).take();
}

std::optional<std::pair<std::string, std::string>> subtype_from_bson(const bson_t* doc) {
  auto typetag = get_string(doc, "typetag");
  auto sub_type = get_string(doc, "sub_type");
  if (!typetag || !sub_type) return std::nullopt;
  return std::make_pair(*typetag, *sub_type);
}

}  // namespace cybexp::mongo
