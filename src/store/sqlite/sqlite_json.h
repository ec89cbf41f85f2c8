// The little JSON the embedded store keeps in its columns: an entry's refs
// (a JSON array of _hash strings, readable with SQLite's json functions) and
// the id lists bound to json_each() in filters.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cybexp::sqlite {

// ["a", "b"] with JSON string escaping.
std::string string_array_to_json(const std::vector<std::string>& items);
// The inverse; nullopt when `json` is not an array of strings.
std::optional<std::vector<std::string>> string_array_from_json(std::string_view json);
// [1,2,3]
std::string int_array_to_json(const std::vector<std::int64_t>& items);

}  // namespace cybexp::sqlite
