// JSON value <-> BSON for a Raw document's data (mongo_json.h).
#include "store/mongo/mongo_json.h"

#include <charconv>
#include <unordered_map>

#include "cybexp/python_json.h"
#include "util/keyed_hash.h"

namespace cybexp::mongo {
namespace {

std::unexpected<Error> unstorable(std::string reason) {
  return make_error(ErrorKind::kParse, std::move(reason));
}

// Integers can have thousands of digits; a reason quotes the start only.
std::string quote_integer(const std::string& digits) {
  if (digits.size() <= 40) return digits;
  return digits.substr(0, 30) + "... (" + std::to_string(digits.size()) + " digits)";
}

Result<void> append_integer(bson_t* parent, std::string_view key, const Integer& n) {
  std::int64_t v = 0;
  const char* first = n.digits.data();
  const char* last = first + n.digits.size();
  auto [end, ec] = std::from_chars(first, last, v);
  if (ec != std::errc() || end != last) {
    return unstorable("the data holds the integer " + quote_integer(n.digits) +
                      ", which does not fit in 64 bits: MongoDB (BSON) cannot store it, and "
                      "upstream fails on it too");
  }
  // pymongo's rule: int32 when it fits, int64 otherwise.
  bool ok = (v >= INT32_MIN && v <= INT32_MAX)
                ? bson_append_int32(parent, key.data(), static_cast<int>(key.size()),
                                    static_cast<std::int32_t>(v))
                : bson_append_int64(parent, key.data(), static_cast<int>(key.size()), v);
  if (!ok) return unstorable("the data is too large for a BSON document");
  return {};
}

Result<void> append_children(bson_t* child, const Value& v, int level) {
  if (v.is_array()) {
    const Array& items = v.as_array();
    for (std::size_t i = 0; i < items.size(); ++i) {
      char buf[16];
      const char* key = nullptr;
      std::size_t len = bson_uint32_to_string(static_cast<std::uint32_t>(i), &key, buf, sizeof buf);
      CYBEXP_TRY_VOID(append_json(child, std::string_view(key, len), items[i], level + 1));
    }
    return {};
  }
  for (const auto& [k, item] : v.as_object()) {
    CYBEXP_TRY_VOID(append_json(child, k, item, level + 1));
  }
  return {};
}

std::string_view bson_type_name(bson_type_t t) {
  switch (t) {
    case BSON_TYPE_BINARY: return "binary";
    case BSON_TYPE_UNDEFINED: return "undefined";
    case BSON_TYPE_OID: return "ObjectId";
    case BSON_TYPE_DATE_TIME: return "date";
    case BSON_TYPE_REGEX: return "regular expression";
    case BSON_TYPE_DBPOINTER: return "DBPointer";
    case BSON_TYPE_CODE: return "JavaScript code";
    case BSON_TYPE_SYMBOL: return "symbol";
    case BSON_TYPE_CODEWSCOPE: return "JavaScript code with scope";
    case BSON_TYPE_TIMESTAMP: return "timestamp";
    case BSON_TYPE_DECIMAL128: return "Decimal128";
    case BSON_TYPE_MINKEY: return "MinKey";
    case BSON_TYPE_MAXKEY: return "MaxKey";
    default: return "value of an unknown type";
  }
}

// Adds key -> value to a Python-dict-like object: a repeated key (possible in
// BSON, never in what we write) keeps its first position and takes the value.
class DictBuilder {
 public:
  void set(std::string key, Value value) {
    if (obj_.size() < 16) {
      for (auto& [k, v] : obj_) {
        if (k == key) {
          v = std::move(value);
          return;
        }
      }
    } else {
      if (index_.empty()) {
        for (std::size_t i = 0; i < obj_.size(); ++i) index_.emplace(obj_[i].first, i);
      }
      auto [it, fresh] = index_.emplace(key, obj_.size());
      if (!fresh) {
        obj_[it->second].second = std::move(value);
        return;
      }
    }
    obj_.emplace_back(std::move(key), std::move(value));
  }
  Object take() { return std::move(obj_); }

 private:
  Object obj_;
  std::unordered_map<std::string, std::size_t, KeyedStringHash, std::equal_to<>> index_;  // hostile keys
};

}  // namespace

Result<void> append_json(bson_t* parent, std::string_view key, const Value& v, int level) {
  if (level > kMaxNesting) {
    return unstorable("the data nests deeper than MongoDB's limit of " +
                      std::to_string(kMaxNesting) + " levels, so the server refuses it");
  }
  if (key.find('\0') != std::string_view::npos) {
    return unstorable("the data has a key with a NUL character (\\u0000), which MongoDB "
                      "(BSON) cannot store");
  }
  const char* k = key.data();
  const int klen = static_cast<int>(key.size());
  bool ok = true;
  if (v.is_null()) {
    ok = bson_append_null(parent, k, klen);
  } else if (v.is_bool()) {
    ok = bson_append_bool(parent, k, klen, v.as_bool());
  } else if (v.is_integer()) {
    return append_integer(parent, key, v.as_integer());
  } else if (v.is_float()) {
    ok = bson_append_double(parent, k, klen, v.as_float());
  } else if (v.is_string()) {
    const std::string& s = v.as_string();
    ok = bson_append_utf8(parent, k, klen, s.data(), static_cast<int>(s.size()));
  } else {
    bson_t child;
    ok = v.is_array() ? bson_append_array_begin(parent, k, klen, &child)
                      : bson_append_document_begin(parent, k, klen, &child);
    if (!ok) return unstorable("the data is too large for a BSON document");
    auto children = append_children(&child, v, level);
    // Close the child even on failure, so the parent stays a valid document.
    ok = v.is_array() ? bson_append_array_end(parent, &child)
                      : bson_append_document_end(parent, &child);
    if (!children) return children;
  }
  if (!ok) return unstorable("the data is too large for a BSON document");
  return {};
}

Result<Value> json_from_bson(const bson_iter_t* it_in, const std::string& path) {
  bson_iter_t it = *it_in;
  switch (bson_iter_type(&it)) {
    case BSON_TYPE_DOUBLE: return Value(bson_iter_double(&it));
    case BSON_TYPE_INT32: return Value(Integer{std::to_string(bson_iter_int32(&it))});
    case BSON_TYPE_INT64: return Value(Integer{std::to_string(bson_iter_int64(&it))});
    case BSON_TYPE_BOOL: return Value(bson_iter_bool(&it));
    case BSON_TYPE_NULL: return Value();
    case BSON_TYPE_UTF8: {
      std::uint32_t len = 0;
      const char* s = bson_iter_utf8(&it, &len);
      std::string text(s, len);
      if (!is_valid_utf8(text)) {
        return make_error(ErrorKind::kBadData, path + " is a string that is not valid UTF-8");
      }
      return Value(std::move(text));
    }
    case BSON_TYPE_ARRAY:
    case BSON_TYPE_DOCUMENT: {
      const bool array = BSON_ITER_HOLDS_ARRAY(&it);
      bson_iter_t child;
      if (!bson_iter_recurse(&it, &child)) {
        return make_error(ErrorKind::kBadData, path + " is not a valid BSON document");
      }
      Array items;
      DictBuilder dict;
      while (bson_iter_next(&child)) {
        std::string key(bson_iter_key(&child), bson_iter_key_len(&child));
        Value item = CYBEXP_TRY(json_from_bson(&child, path + (array ? "[" + key + "]" : "." + key)));
        if (array) {
          items.push_back(std::move(item));
        } else {
          dict.set(std::move(key), std::move(item));
        }
      }
      if (array) return Value(std::move(items));
      return Value(dict.take());
    }
    default:
      return make_error(ErrorKind::kBadData,
                        path + " holds a BSON " + std::string(bson_type_name(bson_iter_type(&it))) +
                            ", which JSON cannot represent");
  }
}

bool may_be_unstorable(std::string_view json) {
  int depth = 0;
  std::size_t digits = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\') {
        if (json.substr(i, 6) == "\\u0000") return true;
        ++i;  // the escaped character cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c >= '0' && c <= '9') {
      if (++digits >= 19) return true;
      continue;
    }
    digits = 0;
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth >= kMaxNesting - 1) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

}  // namespace cybexp::mongo
