// A Raw document's `data` between our JSON value (Python json.loads
// semantics, json_value.h) and BSON, as pymongo writes and reads it, so that
// upstream's analytics module reads what we store unchanged and `export`
// gives back the very text we archived:
//
//   JSON            BSON (write)                    BSON (read)       JSON
//   object          embedded document, key order    document (dict)   object
//   array           array ("0", "1", ... keys)      array             array
//   integer         int32 if it fits, else int64   int32 / int64     integer
//                   (beyond int64: not storable)
//   float           double (NaN, Infinity too)      double            float
//   string, bool, null   utf8, bool, null           same              same
//
// What BSON or MongoDB cannot hold (an integer beyond 64 bits, a NUL in a
// key, nesting over 100 levels, a document over 16 MiB) makes pymongo or the
// server refuse the insert, which upstream ends in the entry's `error` state;
// the conversion reports it as kParse with a reason a person can act on.
//
// Thread safety: pure functions.
#pragma once

#include <bson/bson.h>

#include <string>
#include <string_view>

#include "cybexp/json_value.h"
#include "cybexp/result.h"

namespace cybexp::mongo {

// MongoDB's maximum document size (maxBsonObjectSize) and nesting depth.
inline constexpr std::size_t kMaxDocumentBytes = std::size_t{16} * 1024 * 1024;
inline constexpr int kMaxNesting = 100;

// Appends v under key. `level` is the nesting level of this element in the
// stored document (a top-level field is level 1); elements deeper than
// kMaxNesting are refused as the server would.
Result<void> append_json(bson_t* parent, std::string_view key, const Value& v, int level);

// The value `it` points at, as pymongo decodes it (duplicate keys: the last
// value wins, at the first key's position, as in a Python dict). kBadData
// naming `path` for a BSON type that json.dumps cannot write (ObjectId, date,
// binary, decimal, ...) or a string that is not UTF-8.
Result<Value> json_from_bson(const bson_iter_t* it, const std::string& path);

// A cheap scan of JSON text (as python_json writes it): false when it surely
// holds nothing that append_json would refuse (no integer of 19 or more
// digits, no \u0000 escape, nesting under kMaxNesting - 1). True means "look
// closer", not "refused".
bool may_be_unstorable(std::string_view json);

}  // namespace cybexp::mongo
