// The configuration file (-c): JSON in the upstream shape (docs/UPSTREAM-FORMATS.md
// section 6), extended:
//
//   {"cache":   {"url": "sqlite:cybexp-data/cache.db", "private_key": "priv.pem"},
//    "archive": {"url": "sqlite:/var/lib/cybexp/archive.db"},
//    "public_key": "pub.pem", "lease_seconds": 300,
//    "limits": {"max_blob_bytes": ..., "max_canonical_bytes": ...,
//               "canonical_payload_factor": 8, "max_depth": 256,
//               "entry_seconds": 60},
//    "timeouts": {"statement_seconds": 30, "lock_seconds": 10,
//                 "connect_seconds": 10, "keepalive_seconds": 30},
//    "log_level": "info",
//    "backoff": {"max_idle_seconds": 3600},
//    "run_dir": "/run/cybexp-archive"}
//
// run_dir: where `run` publishes its state (daemon-PID.json, read by `status`
// and `wake`); default $CYBEXP_HOME without a file; with one,
// /run/cybexp-archive if it exists (the packaged unit's RuntimeDirectory,
// there while the service runs), else the file's directory.
//
// `mongo_url` is read as `url`; `private_key` is a path or an array of paths;
// relative paths are relative to the config file. Unknown keys are errors,
// except the sections other upstream modules keep in the same file.
//
// Both upstream shapes load unchanged, with that version's defaults:
//   a18b070: archive.{mongo_url, archive_db, archive_coll, tahoe_db, tahoe_coll},
//            cache.{mongo_url, cache_db, cache_coll, private_key};
//            documents go to tahoe_db/tahoe_coll.
//   HEAD:    {mongo_url, db, coll} in cache, archive and tahoe; documents go
//            through tahoe, which must name the same target as archive.
// A file that names two different archive targets is refused, naming both.
// A file that uses `url` anywhere is ours: a missing section or url is an
// error there, where upstream's files default to mongodb://localhost:27017/.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cybexp/limits.h"
#include "cybexp/result.h"
#include "cybexp/store_factory.h"

namespace cybexp {

// Whose keys the file uses; it decides the defaults of what it leaves out.
enum class ConfigShape {
  kHome,      // no file: everything under $CYBEXP_HOME
  kExtended,  // ours: `url`, no upstream-only keys
  kA18b070,   // upstream a18b070: cache_db, tahoe_db, archive_db, ...
  kHead,      // upstream HEAD: mongo_url, db, coll (and the tahoe section)
};
const char* config_shape_name(ConfigShape shape);  // "upstream a18b070", ...

inline constexpr const char* kPackagedRunDir = "/run/cybexp-archive";
inline constexpr const char* kUpstreamMongoUrl = "mongodb://localhost:27017/";

struct Config {
  std::filesystem::path origin;  // the file it came from, or the home directory
  ConfigShape shape = ConfigShape::kHome;
  StoreConfig cache;
  StoreConfig archive;
  std::vector<std::filesystem::path> private_keys;
  bool private_key_configured = false;  // cache.private_key was given (else: priv.pem beside the file)
  std::filesystem::path public_key;
  int lease_seconds = 300;
  Limits limits;
  StoreTimeouts timeouts;  // also copied into cache.timeouts and archive.timeouts
  // The log level the file asks for (debug, info, warning, error; checked
  // when loaded); --log-level on the command line wins.
  std::optional<std::string> log_level;
  int max_idle_seconds = 3600;  // backoff.max_idle_seconds: longest sleep without work
  std::filesystem::path run_dir;  // see run_dir above
  // Things that load but deserve a look (a default that upstream versions
  // disagree on); `check` prints them, every command logs them.
  std::vector<std::string> warnings;
};

// Everything under home (cybexp-data by default): cache.db, archive.db,
// priv.pem, pub.pem.
Config default_config(const std::filesystem::path& home);

// kInvalidArgument with a message naming the file, the key and what to do.
Result<Config> load_config(const std::filesystem::path& path);
Result<Config> parse_config(std::string_view text, const std::filesystem::path& origin);

// A store target for people: the URL without its password, and for MongoDB
// the database and collection ("mongodb://h/ (database cache_db, collection
// file_entries)").
std::string describe_target(const StoreConfig& target);

// Why no private key was found at `missing`, and where else it looked:
// upstream read priv.pem from its working directory (cwd), so a key there
// gets a one-line fix. One line, without a leading "cannot ...".
std::string private_key_advice(const Config& config, const std::filesystem::path& missing,
                               const std::filesystem::path& cwd);

}  // namespace cybexp
