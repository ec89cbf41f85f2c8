// The configuration file (-c): JSON in the upstream shape (UPSTREAM.md
// section 6), extended:
//
//   {"cache":   {"url": "sqlite:cybexp-data/cache.db", "private_key": "priv.pem"},
//    "archive": {"url": "sqlite:/var/lib/cybexp/archive.db"},
//    "public_key": "pub.pem", "lease_seconds": 300,
//    "limits": {"max_blob_bytes": ..., "max_canonical_bytes": ...,
//               "canonical_payload_factor": 8, "max_depth": 256,
//               "entry_seconds": 60}}
//
// `mongo_url` is read as `url`; `private_key` is a path or an array of paths;
// relative paths are relative to the config file. Unknown keys are errors,
// except the sections other upstream modules keep in the same file.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "cybexp/limits.h"
#include "cybexp/result.h"
#include "cybexp/store_factory.h"

namespace cybexp {

struct Config {
  std::filesystem::path origin;  // the file it came from, or the home directory
  StoreConfig cache;
  StoreConfig archive;
  std::vector<std::filesystem::path> private_keys;
  std::filesystem::path public_key;
  int lease_seconds = 300;
  Limits limits;
};

// Everything under home (cybexp-data by default): cache.db, archive.db,
// priv.pem, pub.pem.
Config default_config(const std::filesystem::path& home);

// kInvalidArgument with a message naming the file, the key and what to do.
Result<Config> load_config(const std::filesystem::path& path);
Result<Config> parse_config(std::string_view text, const std::filesystem::path& origin);

}  // namespace cybexp
