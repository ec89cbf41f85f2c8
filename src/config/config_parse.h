// Helpers shared by the configuration loader's files (config.cpp: the file
// and its simple keys; targets.cpp: the store sections in every upstream
// shape). Every error names the file and the key.
//
// Thread safety: pure functions.
#pragma once

#include <filesystem>
#include <string>

#include "cybexp/config.h"
#include "cybexp/json_value.h"

namespace cybexp::config_detail {

std::unexpected<Error> config_error(const std::filesystem::path& origin, const std::string& what);
Result<std::string> get_string(const std::filesystem::path& origin, const std::string& key,
                               const Value& v);
std::filesystem::path resolve(const std::filesystem::path& base, const std::string& p);

// Reads the cache, archive and tahoe sections of root into c.cache,
// c.archive, c.shape, c.private_keys and c.warnings.
Result<void> parse_targets(const std::filesystem::path& origin, const std::filesystem::path& base,
                           const Value& root, Config& c);

}  // namespace cybexp::config_detail
