// Small helpers over libbson for the MongoDB store: an owning pointer, typed
// field readers that tolerate what pymongo may have written (a number may be
// int32, int64 or double), ObjectId text, and a builder for the handful of
// query and update documents the store sends.
//
// Thread safety: pure functions and plain values.
#pragma once

#include <bson/bson.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cybexp::mongo {

// bson_t itself is a typedef with an alignment attribute, which GCC warns
// about (and drops) in template arguments; the struct underneath is the same
// type without the attribute, so templates name that.
using BsonStruct = struct _bson_t;

struct BsonDeleter {
  void operator()(bson_t* b) const { bson_destroy(b); }
};
using BsonPtr = std::unique_ptr<BsonStruct, BsonDeleter>;

inline BsonPtr new_bson() { return BsonPtr(bson_new()); }
// A copy of a document owned by someone else (a cursor's current document).
inline BsonPtr copy_bson(const bson_t* b) { return BsonPtr(bson_copy(b)); }

// Canonical extended JSON ({"$numberDouble": ...} and so on): every BSON type
// spelled out, which is what the tests compare and what error messages show.
std::string canonical_json(const bson_t* doc);

// 24 lowercase hex digits.
std::string oid_hex(const bson_oid_t& oid);
// nullopt unless `hex` is exactly 24 hex digits.
std::optional<bson_oid_t> parse_oid(std::string_view hex);
bson_oid_t new_oid();

// Milliseconds since the epoch, as BSON dates hold them.
inline std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Field readers. `path` may be dotted ("_cybexp_lease.owner").
bool find_field(const bson_t* doc, const char* path, bson_iter_t* it);
// The UTF-8 string at path; nullopt when absent or of another type.
std::optional<std::string> get_string(const bson_t* doc, const char* path);
// double, int32, int64 (as double), or a date (seconds); nullopt otherwise.
std::optional<double> get_number(const bson_t* doc, const char* path);
// A non-negative int32/int64/double that is a whole number.
std::optional<std::uint64_t> get_count(const bson_t* doc, const char* path);
// true only for the boolean true (upstream's flags are booleans).
bool get_true(const bson_t* doc, const char* path);
std::optional<bson_oid_t> get_oid(const bson_t* doc, const char* path);
// A date as seconds since the epoch; 0 when absent.
double get_date_seconds(const bson_t* doc, const char* path);
// The strings of an array (other items ignored); empty when absent.
std::vector<std::string> get_string_array(const bson_t* doc, const char* path);

// Builds the small query and update documents: each call appends one field
// (keys and strings by length, so nothing is cut at a NUL). In an array
// (Doc::array()) keys are ignored and numbered "0", "1", ... as BSON wants.
// Appending to a document this small cannot fail (libbson refuses only past
// 2 GiB), so the results are not checked.
class Doc {
 public:
  Doc() : b_(new_bson()) {}
  static Doc array() {
    Doc d;
    d.array_ = true;
    return d;
  }
  Doc& str(std::string_view key, std::string_view value);
  Doc& boolean(std::string_view key, bool value);
  Doc& null(std::string_view key);
  Doc& int32(std::string_view key, std::int32_t value);
  Doc& int64(std::string_view key, std::int64_t value);
  Doc& dbl(std::string_view key, double value);
  Doc& date(std::string_view key, std::int64_t ms);
  Doc& oid(std::string_view key, const bson_oid_t& value);
  // A nested document or array (by its kind).
  Doc& sub(std::string_view key, const Doc& value);
  // Each string as an item (for arrays).
  Doc& strs(const std::vector<std::string>& items);

  const bson_t* get() const { return b_.get(); }
  bson_t* raw() { return b_.get(); }
  BsonPtr take() { return std::move(b_); }
  bool is_array() const { return array_; }

 private:
  std::string_view key(std::string_view k);

  BsonPtr b_;
  bool array_ = false;
  std::uint32_t next_ = 0;
  char buf_[16] = {};
};

}  // namespace cybexp::mongo
