// TAHOE's canonical form and the Raw document's _hash (docs/UPSTREAM-FORMATS.md section 3):
//
//   _hash = sha256_hex("raw" + sub_type + canonical(data))
//
// The canonical form doubles in size at each nesting level, so its exact size
// is computed first (without building anything) and the caller's limit is
// enforced before any large string exists. The top level is streamed into
// SHA-256; only nested values, each smaller than the limit, are built.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "cybexp/clock.h"
#include "cybexp/json_value.h"
#include "cybexp/result.h"

namespace cybexp {

// Exact byte size of canonical(v), saturating at UINT64_MAX.
std::uint64_t canonical_size(const Value& v);

// canonical(v) as a string; kLimit if larger than max_bytes.
Result<std::string> canonical(const Value& v, std::uint64_t max_bytes);

// Lowercase hex SHA-256 of "raw" + sub_type + canonical(data); kLimit (with the
// size in the message) if canonical(data) would exceed max_bytes.
Result<std::string> raw_hash(std::string_view sub_type, const Value& data, std::uint64_t max_bytes);

// The same for the compact document model (document.h): written from the
// tape; a document whose size check needs array de-duplication is converted
// to a Value and takes the functions above.
class Document;
Result<std::string> canonical(const Document& doc, std::uint64_t max_bytes);
// deadline: checked every 64 Ki nodes while the form is written; once
// passed, kLimit ("abandoned while hashing").
Result<std::string> raw_hash(std::string_view sub_type, const Document& doc, std::uint64_t max_bytes,
                             const Deadline& deadline = {});

// The size of the smallest canonical form of a value that nests `depth`
// arrays or objects (the chain "[[...[]...]]": every level quotes and
// escapes the one inside, so it at least doubles), saturating at
// UINT64_MAX. Any value that nests that deep has a canonical form at least
// this large: the parse refuses such documents before building them.
std::uint64_t canonical_nesting_lower_bound(std::size_t depth);

}  // namespace cybexp
