// libbson helpers (mongo_bson.h).
#include "store/mongo/mongo_bson.h"

#include <cmath>

namespace cybexp::mongo {

std::string canonical_json(const bson_t* doc) {
  std::size_t len = 0;
  char* s = bson_as_canonical_extended_json(doc, &len);
  if (s == nullptr) return "<not valid BSON>";
  std::string out(s, len);
  bson_free(s);
  return out;
}

std::string oid_hex(const bson_oid_t& oid) {
  char buf[25];
  bson_oid_to_string(&oid, buf);
  return std::string(buf, 24);
}

std::optional<bson_oid_t> parse_oid(std::string_view hex) {
  if (hex.size() != 24) return std::nullopt;
  std::string s(hex);
  if (!bson_oid_is_valid(s.c_str(), s.size())) return std::nullopt;
  bson_oid_t oid;
  bson_oid_init_from_string(&oid, s.c_str());
  return oid;
}

bson_oid_t new_oid() {
  bson_oid_t oid;
  bson_oid_init(&oid, nullptr);
  return oid;
}

bool find_field(const bson_t* doc, const char* path, bson_iter_t* it) {
  bson_iter_t root;
  return bson_iter_init(&root, doc) && bson_iter_find_descendant(&root, path, it);
}

std::optional<std::string> get_string(const bson_t* doc, const char* path) {
  bson_iter_t it;
  if (!find_field(doc, path, &it) || !BSON_ITER_HOLDS_UTF8(&it)) return std::nullopt;
  std::uint32_t len = 0;
  const char* s = bson_iter_utf8(&it, &len);
  return std::string(s, len);
}

std::optional<double> get_number(const bson_t* doc, const char* path) {
  bson_iter_t it;
  if (!find_field(doc, path, &it)) return std::nullopt;
  switch (bson_iter_type(&it)) {
    case BSON_TYPE_DOUBLE: return bson_iter_double(&it);
    case BSON_TYPE_INT32: return bson_iter_int32(&it);
    case BSON_TYPE_INT64: return static_cast<double>(bson_iter_int64(&it));
    case BSON_TYPE_DATE_TIME: return static_cast<double>(bson_iter_date_time(&it)) / 1000.0;
    default: return std::nullopt;
  }
}

std::optional<std::uint64_t> get_count(const bson_t* doc, const char* path) {
  bson_iter_t it;
  if (!find_field(doc, path, &it)) return std::nullopt;
  switch (bson_iter_type(&it)) {
    case BSON_TYPE_INT32: {
      auto v = bson_iter_int32(&it);
      if (v >= 0) return static_cast<std::uint64_t>(v);
      return std::nullopt;
    }
    case BSON_TYPE_INT64: {
      auto v = bson_iter_int64(&it);
      if (v >= 0) return static_cast<std::uint64_t>(v);
      return std::nullopt;
    }
    case BSON_TYPE_DOUBLE: {
      // Some servers (and CongoDB) hand whole numbers back as doubles.
      double v = bson_iter_double(&it);
      if (v >= 0 && v < 1.8e19 && std::floor(v) == v) return static_cast<std::uint64_t>(v);
      return std::nullopt;
    }
    default: return std::nullopt;
  }
}

bool get_true(const bson_t* doc, const char* path) {
  bson_iter_t it;
  return find_field(doc, path, &it) && BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
}

std::optional<bson_oid_t> get_oid(const bson_t* doc, const char* path) {
  bson_iter_t it;
  if (!find_field(doc, path, &it) || !BSON_ITER_HOLDS_OID(&it)) return std::nullopt;
  bson_oid_t oid;
  bson_oid_copy(bson_iter_oid(&it), &oid);
  return oid;
}

double get_date_seconds(const bson_t* doc, const char* path) {
  bson_iter_t it;
  if (!find_field(doc, path, &it) || !BSON_ITER_HOLDS_DATE_TIME(&it)) return 0;
  return static_cast<double>(bson_iter_date_time(&it)) / 1000.0;
}

std::vector<std::string> get_string_array(const bson_t* doc, const char* path) {
  std::vector<std::string> out;
  bson_iter_t it, child;
  if (!find_field(doc, path, &it) || !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &child)) {
    return out;
  }
  while (bson_iter_next(&child)) {
    if (!BSON_ITER_HOLDS_UTF8(&child)) continue;
    std::uint32_t len = 0;
    const char* s = bson_iter_utf8(&child, &len);
    out.emplace_back(s, len);
  }
  return out;
}

std::string_view Doc::key(std::string_view k) {
  if (!array_) return k;
  const char* out = nullptr;
  std::size_t len = bson_uint32_to_string(next_++, &out, buf_, sizeof buf_);
  return std::string_view(out, len);
}

#define CYBEXP_KEY(k) (k).data(), static_cast<int>((k).size())

Doc& Doc::str(std::string_view k, std::string_view value) {
  k = key(k);
  bson_append_utf8(b_.get(), CYBEXP_KEY(k), value.data(), static_cast<int>(value.size()));
  return *this;
}
Doc& Doc::boolean(std::string_view k, bool value) {
  k = key(k);
  bson_append_bool(b_.get(), CYBEXP_KEY(k), value);
  return *this;
}
Doc& Doc::null(std::string_view k) {
  k = key(k);
  bson_append_null(b_.get(), CYBEXP_KEY(k));
  return *this;
}
Doc& Doc::int32(std::string_view k, std::int32_t value) {
  k = key(k);
  bson_append_int32(b_.get(), CYBEXP_KEY(k), value);
  return *this;
}
Doc& Doc::int64(std::string_view k, std::int64_t value) {
  k = key(k);
  bson_append_int64(b_.get(), CYBEXP_KEY(k), value);
  return *this;
}
Doc& Doc::dbl(std::string_view k, double value) {
  k = key(k);
  bson_append_double(b_.get(), CYBEXP_KEY(k), value);
  return *this;
}
Doc& Doc::date(std::string_view k, std::int64_t ms) {
  k = key(k);
  bson_append_date_time(b_.get(), CYBEXP_KEY(k), ms);
  return *this;
}
Doc& Doc::oid(std::string_view k, const bson_oid_t& value) {
  k = key(k);
  bson_append_oid(b_.get(), CYBEXP_KEY(k), &value);
  return *this;
}
Doc& Doc::sub(std::string_view k, const Doc& value) {
  k = key(k);
  if (value.is_array()) {
    bson_append_array(b_.get(), CYBEXP_KEY(k), value.get());
  } else {
    bson_append_document(b_.get(), CYBEXP_KEY(k), value.get());
  }
  return *this;
}
Doc& Doc::strs(const std::vector<std::string>& items) {
  for (const auto& s : items) str("", s);
  return *this;
}

#undef CYBEXP_KEY

}  // namespace cybexp::mongo
