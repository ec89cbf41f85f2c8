// Loads the configuration file: upstream's shape (docs/UPSTREAM-FORMATS.md section 6) plus
// our extensions. Every mistake is reported with the file, the key and what
// would be accepted, because operators edit this file by hand.
#include "cybexp/config.h"

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "config/config_parse.h"
#include "cybexp/json_value.h"

namespace cybexp {
namespace config_detail {

namespace fs = std::filesystem;

std::unexpected<Error> config_error(const fs::path& origin, const std::string& what) {
  return make_error(ErrorKind::kInvalidArgument, origin.string() + ": " + what);
}

fs::path resolve(const fs::path& base, const std::string& p) {
  fs::path path(p);
  return path.is_absolute() ? path : (base / path).lexically_normal();
}

Result<std::string> get_string(const fs::path& origin, const std::string& key, const Value& v) {
  if (!v.is_string()) return config_error(origin, "'" + key + "' must be a string");
  return v.as_string();
}

}  // namespace config_detail

namespace {

using namespace config_detail;

// Sections other upstream modules keep in the same file; not ours to judge.
// (`tahoe` is read: upstream HEAD archives through it.)
const std::set<std::string> kForeignSections = {"api", "identity", "report", "analytics"};
const std::set<std::string> kStoreSections = {"cache", "archive", "tahoe"};

Result<std::uint64_t> get_uint(const fs::path& origin, const std::string& key, const Value& v,
                               std::uint64_t min, std::uint64_t max) {
  if (!v.is_integer()) return config_error(origin, "'" + key + "' must be an integer");
  const std::string& d = v.as_integer().digits;
  std::uint64_t n = 0;
  bool ok = !d.empty() && d[0] != '-' && d.size() <= 19;
  if (ok) n = std::stoull(d);
  if (!ok || n < min || n > max) {
    return config_error(origin, "'" + key + "' must be between " + std::to_string(min) + " and " +
                                    std::to_string(max));
  }
  return n;
}

Result<void> parse_limits(const fs::path& origin, const Value& v, Limits& limits) {
  if (!v.is_object()) return config_error(origin, "'limits' must be an object");
  for (const auto& [key, value] : v.as_object()) {
    const std::string path = "limits." + key;
    if (key == "max_blob_bytes") {
      limits.max_blob_bytes = CYBEXP_TRY(get_uint(origin, path, value, 1, 1ull << 40));
    } else if (key == "max_canonical_bytes") {
      limits.max_canonical_bytes = CYBEXP_TRY(get_uint(origin, path, value, 1, 1ull << 40));
    } else if (key == "canonical_payload_factor") {
      limits.canonical_payload_factor = CYBEXP_TRY(get_uint(origin, path, value, 0, 1024));
    } else if (key == "max_depth") {
      limits.max_depth = CYBEXP_TRY(get_uint(origin, path, value, 1, 10000));
    } else if (key == "entry_seconds") {
      limits.entry_seconds = CYBEXP_TRY(get_uint(origin, path, value, 1, 86400));
    } else if (key == "max_attempts") {
      limits.max_attempts = CYBEXP_TRY(get_uint(origin, path, value, 1, 1000));
    } else if (key == "memory_budget") {
      limits.memory_budget = CYBEXP_TRY(get_uint(origin, path, value, 1ull << 20, 1ull << 44));
    } else {
      return config_error(origin, "unknown key '" + path +
                                      "': expected max_blob_bytes, max_canonical_bytes, "
                                      "canonical_payload_factor, max_depth, entry_seconds, max_attempts, "
                                      "memory_budget");
    }
  }
  return {};
}

// Seconds as an integer or a decimal number, between min and max.
Result<double> get_seconds(const fs::path& origin, const std::string& key, const Value& v,
                           double min, double max) {
  double n = 0;
  if (v.is_float()) {
    n = v.as_float();
  } else if (v.is_integer() && v.as_integer().digits.size() <= 9) {
    n = std::stod(v.as_integer().digits);
  } else {
    return config_error(origin, "'" + key + "' must be a number of seconds");
  }
  if (!(n >= min && n <= max)) {
    char range[96];
    std::snprintf(range, sizeof range, "' must be between %g and %g seconds", min, max);
    return config_error(origin, "'" + key + range);
  }
  return n;
}

Result<void> parse_timeouts(const fs::path& origin, const Value& v, StoreTimeouts& t) {
  if (!v.is_object()) return config_error(origin, "'timeouts' must be an object");
  for (const auto& [key, value] : v.as_object()) {
    const std::string path = "timeouts." + key;
    if (key == "statement_seconds") {
      t.statement_seconds = CYBEXP_TRY(get_seconds(origin, path, value, 0.1, 86400));
    } else if (key == "lock_seconds") {
      t.lock_seconds = CYBEXP_TRY(get_seconds(origin, path, value, 0.1, 86400));
    } else if (key == "connect_seconds") {
      t.connect_seconds = CYBEXP_TRY(get_seconds(origin, path, value, 1, 3600));
    } else if (key == "keepalive_seconds") {
      t.keepalive_seconds = CYBEXP_TRY(get_seconds(origin, path, value, 1, 3600));
    } else {
      return config_error(origin, "unknown key '" + path +
                                      "': expected statement_seconds, lock_seconds, "
                                      "connect_seconds, keepalive_seconds");
    }
  }
  return {};
}

Result<std::string> get_log_level(const fs::path& origin, const Value& v) {
  const std::string level = CYBEXP_TRY(get_string(origin, "log_level", v));
  if (level != "debug" && level != "info" && level != "warning" && level != "error") {
    return config_error(origin,
                        "'log_level' is '" + level + "': use debug, info, warning or error");
  }
  return level;
}

Result<void> parse_backoff(const fs::path& origin, const Value& section, Config& c) {
  if (!section.is_object()) return config_error(origin, "'backoff' must be an object");
  for (const auto& [key, value] : section.as_object()) {
    if (key == "max_idle_seconds") {
      c.max_idle_seconds =
          static_cast<int>(CYBEXP_TRY(get_uint(origin, "backoff." + key, value, 1, 3600)));
    } else {
      return config_error(origin, "unknown key 'backoff." + key + "': expected max_idle_seconds");
    }
  }
  return {};
}

}  // namespace

const char* config_shape_name(ConfigShape shape) {
  switch (shape) {
    case ConfigShape::kHome:
      return "the defaults under $CYBEXP_HOME";
    case ConfigShape::kExtended:
      return "cybexp-archive's shape";
    case ConfigShape::kA18b070:
      return "upstream a18b070's shape";
    case ConfigShape::kHead:
      return "upstream HEAD's shape";
  }
  return "?";
}

Config default_config(const fs::path& home) {
  Config c;
  c.shape = ConfigShape::kHome;
  fs::path abs = fs::absolute(home).lexically_normal();
  c.origin = abs;
  c.cache = {"sqlite:" + (abs / "cache.db").string(), "cache_db", "file_entries"};
  c.archive = {"sqlite:" + (abs / "archive.db").string(), "tahoe_db", "instance"};
  c.private_keys = {abs / "priv.pem"};
  c.public_key = abs / "pub.pem";
  c.run_dir = abs;
  return c;
}

Result<Config> parse_config(std::string_view text, const fs::path& origin) {
  constexpr std::size_t kMaxConfigBytes = 1 << 20;  // a config is a few hundred bytes
  if (text.size() > kMaxConfigBytes)
    return config_error(origin, "file is larger than 1 MiB: is this a configuration?");
  auto parsed = parse_json_strict(text, origin.string());
  if (!parsed) return make_error(ErrorKind::kInvalidArgument, parsed.error().message);
  Value root = std::move(*parsed);
  if (!root.is_object()) return config_error(origin, "the configuration must be a JSON object");
  const fs::path base = fs::absolute(origin).parent_path();
  Config c;
  c.origin = fs::absolute(origin);
  c.private_keys = {base / "priv.pem"};
  c.public_key = base / "pub.pem";
  // The packaged unit's RuntimeDirectory while the service runs, else beside the file.
  std::error_code ec;
  c.run_dir = fs::is_directory(kPackagedRunDir, ec) ? fs::path(kPackagedRunDir) : base;
  CYBEXP_TRY_VOID(parse_targets(origin, base, root, c));
  for (const auto& [key, value] : root.as_object()) {
    if (kStoreSections.contains(key)) {
      continue;
    } else if (key == "public_key") {
      c.public_key = resolve(base, CYBEXP_TRY(get_string(origin, key, value)));
    } else if (key == "lease_seconds") {
      c.lease_seconds = static_cast<int>(CYBEXP_TRY(get_uint(origin, key, value, 1, 86400)));
    } else if (key == "limits") {
      CYBEXP_TRY_VOID(parse_limits(origin, value, c.limits));
    } else if (key == "timeouts") {
      CYBEXP_TRY_VOID(parse_timeouts(origin, value, c.timeouts));
    } else if (key == "log_level") {
      c.log_level = CYBEXP_TRY(get_log_level(origin, value));
    } else if (key == "backoff") {
      CYBEXP_TRY_VOID(parse_backoff(origin, value, c));
    } else if (key == "run_dir") {
      c.run_dir = resolve(base, CYBEXP_TRY(get_string(origin, key, value)));
    } else if (!kForeignSections.contains(key)) {
      return config_error(origin, "unknown key '" + key +
                                      "': expected cache, archive, public_key, lease_seconds, "
                                      "limits, timeouts, log_level, backoff, run_dir");
    }
  }
  c.cache.timeouts = c.timeouts;
  c.archive.timeouts = c.timeouts;
  return c;
}

Result<Config> load_config(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return make_error(ErrorKind::kInvalidArgument,
                      "cannot read configuration " + path.string() + ": check the -c path");
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  return parse_config(buf.str(), path);
}

}  // namespace cybexp
