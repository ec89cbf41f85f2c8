// Shared by the MongoDB store's tests: BSON fixtures written as canonical
// extended JSON (so their types are exact), compared as libbson prints them.
#pragma once

#include <gtest/gtest.h>

#include <string_view>

#include "store/mongo/mongo_bson.h"

namespace cybexp::mongo {

inline BsonPtr ext(std::string_view json) {
  bson_error_t err;
  bson_t* b = bson_new_from_json(reinterpret_cast<const std::uint8_t*>(json.data()),
                                 static_cast<ssize_t>(json.size()), &err);
  EXPECT_NE(b, nullptr) << err.message;
  return BsonPtr(b);
}

// Both sides spelled alike: as libbson prints them.
inline std::string norm(std::string_view json) { return canonical_json(ext(json).get()); }

}  // namespace cybexp::mongo
