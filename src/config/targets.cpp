// The store sections of the configuration in every shape they come in
// (docs/UPSTREAM-FORMATS.md section 6): ours (`url`), upstream a18b070 (`cache_db`,
// `tahoe_db`, `archive_db`, ...) and upstream HEAD (`db`/`coll`, documents
// through the `tahoe` section). Each key that names the archive database or
// collection is collected with its name; if two of them disagree the file is
// refused naming both, because archiving into the wrong one of two targets
// would hide every document from the analytics module.
#include <algorithm>
#include <optional>
#include <set>

#include "config/config_parse.h"
#include "util/redact.h"

namespace cybexp::config_detail {
namespace {

namespace fs = std::filesystem;

struct Named {
  std::string key;  // "archive.tahoe_db", or a description of a default
  std::string value;
};

// One store section as the file writes it.
struct Section {
  std::string name;
  bool present = false;  // the section names at least a url, a database or a collection
  std::optional<Named> url;
  std::vector<Named> db;  // every key naming the database, the one documents go to first
  std::vector<Named> coll;
};

Section named(const std::string& name) {
  Section s;
  s.name = name;
  return s;
}

struct Seen {
  bool url = false;      // our `url` key: the file is ours
  bool a18b070 = false;  // a key only upstream a18b070 has
};

const std::set<std::string> kA18b070Keys = {"cache_db",   "cache_coll", "tahoe_db",
                                            "tahoe_coll", "archive_db", "archive_coll"};

// sqlite:PATH with a relative PATH is relative to the config file's directory.
std::string resolve_url(const fs::path& base, const std::string& url) {
  constexpr std::string_view kSqlite = "sqlite:";
  if (url.starts_with(kSqlite)) {
    return std::string(kSqlite) + resolve(base, url.substr(kSqlite.size())).string();
  }
  return url;
}

// Keys of a section besides private_key: which list each one feeds.
// Documents' keys come before keys read by nothing (archive_db/archive_coll).
std::vector<Named>* list_for(Section& s, const std::string& key) {
  if (key == "db" || (s.name == "cache" && key == "cache_db")) return &s.db;
  if (key == "coll" || (s.name == "cache" && key == "cache_coll")) return &s.coll;
  if (s.name == "archive" && (key == "tahoe_db" || key == "archive_db")) return &s.db;
  if (s.name == "archive" && (key == "tahoe_coll" || key == "archive_coll")) return &s.coll;
  return nullptr;
}

Result<void> parse_private_key(const fs::path& origin, const fs::path& base, const Value& value,
                               Config& c) {
  c.private_keys.clear();
  c.private_key_configured = true;
  if (value.is_string()) {
    c.private_keys.push_back(resolve(base, value.as_string()));
  } else if (value.is_array() && !value.as_array().empty()) {
    for (const Value& item : value.as_array()) {
      c.private_keys.push_back(
          resolve(base, CYBEXP_TRY(get_string(origin, "cache.private_key", item))));
    }
  } else {
    return config_error(origin, "'cache.private_key' must be a path or a non-empty array of paths");
  }
  return {};
}

Result<void> parse_url(const fs::path& origin, const fs::path& base, Section& s,
                       const std::string& key, const Value& value) {
  // The value is read before the Named is built: an error returned from
  // inside a braced initializer would leak the member built before it (see
  // CYBEXP_TRY).
  const std::string text = CYBEXP_TRY(get_string(origin, s.name + "." + key, value));
  if (text.empty()) {
    return config_error(origin, "'" + s.name + "." + key +
                                    "' is empty: give the store's URL, or leave the key out "
                                    "for the default");
  }
  Named url{s.name + "." + key, resolve_url(base, text)};
  if (s.url && s.url->value != url.value) {
    return config_error(
        origin, "'" + s.url->key + "' and '" + url.key + "' name different servers: keep one");
  }
  s.url = std::move(url);
  return {};
}

const char* expected_keys(const std::string& section) {
  return section == "cache"
             ? "url (or mongo_url), db, coll, cache_db, cache_coll, private_key"
             : "url (or mongo_url), db, coll, tahoe_db, tahoe_coll, archive_db, archive_coll";
}

// The tahoe section belongs to the TAHOE library, which other modules
// configure too: keys we do not read are theirs.
Result<Section> parse_section(const fs::path& origin, const fs::path& base, const std::string& name,
                              const Value& v, Seen& seen, Config& c) {
  Section s = named(name);
  if (!v.is_object()) return config_error(origin, "'" + name + "' must be an object");
  for (const auto& [key, value] : v.as_object()) {
    std::vector<Named>* list = list_for(s, key);
    if (key == "url" || key == "mongo_url") {
      CYBEXP_TRY_VOID(parse_url(origin, base, s, key, value));
      seen.url |= key == "url";
    } else if (list != nullptr) {
      std::string text = CYBEXP_TRY(get_string(origin, name + "." + key, value));
      list->push_back({name + "." + key, std::move(text)});
      seen.a18b070 |= kA18b070Keys.contains(key);
    } else if (name == "cache" && key == "private_key") {
      CYBEXP_TRY_VOID(parse_private_key(origin, base, value, c));
    } else if (name != "tahoe") {
      return config_error(
          origin, "unknown key '" + name + "." + key + "': expected " + expected_keys(name));
    }
  }
  s.present = s.url || !s.db.empty() || !s.coll.empty() || name != "tahoe";
  return s;
}

// The value every name agrees on (or the default when none is given).
Result<std::string> agreed(const fs::path& origin, const std::vector<Named>& names,
                           const std::string& fallback, const char* what) {
  if (names.empty()) return fallback;
  for (const Named& n : names) {
    if (n.value != names.front().value) {
      return config_error(origin, "'" + names.front().key + "' is \"" + names.front().value +
                                      "\" but '" + n.key + "' is \"" + n.value +
                                      "\": the file names two different " + what +
                                      "s; make them the same");
    }
  }
  return names.front().value;
}

// a18b070 writes documents to tahoe_db/tahoe_coll and reads archive_* for
// nothing: an archive_* with no tahoe_* beside it disagrees with the default
// upstream really used, unless it names the same.
void add_a18b070_default(std::vector<Named>& names, const std::string& documents_key,
                         const std::string& fallback) {
  const std::string key = "archive." + documents_key;
  // The keys documents go by first, so a disagreement names them first.
  std::stable_partition(names.begin(), names.end(),
                        [](const Named& n) { return !n.key.starts_with("archive.archive_"); });
  const bool only_unread = std::all_of(names.begin(), names.end(), [](const Named& n) {
    return n.key.starts_with("archive.archive_");
  });
  if (!names.empty() && only_unread) {
    names.insert(names.begin(),
                 {key + " (not set: upstream a18b070's default, where it wrote)", fallback});
  }
}

struct Defaults {
  std::string db, coll;
};

Result<StoreConfig> resolve_target(const fs::path& origin, Section& s, const Defaults& d,
                                   const Seen& seen, const char* what) {
  if (!s.url && seen.url) {
    return config_error(
        origin,
        "'" + s.name + ".url' is missing: give sqlite:PATH, postgresql://... or mongodb://...");
  }
  StoreConfig t;
  t.url = s.url ? s.url->value : kUpstreamMongoUrl;
  t.db = CYBEXP_TRY(agreed(origin, s.db, d.db, (std::string(what) + " database").c_str()));
  t.coll = CYBEXP_TRY(agreed(origin, s.coll, d.coll, (std::string(what) + " collection").c_str()));
  return t;
}

bool same_url(std::string a, std::string b) {
  if (a.ends_with('/')) a.pop_back();
  if (b.ends_with('/')) b.pop_back();
  return a == b;
}

bool is_mongo(const std::string& url) {
  return url.starts_with("mongodb://") || url.starts_with("mongodb+srv://");
}

// HEAD writes documents through `tahoe`; `archive` must name the same.
Result<void> check_tahoe_agrees(const fs::path& origin, Section& tahoe, const StoreConfig& archive,
                                const Defaults& d, const Seen& seen) {
  StoreConfig through = CYBEXP_TRY(resolve_target(origin, tahoe, d, seen, "archive"));
  if (same_url(through.url, archive.url) && through.db == archive.db &&
      through.coll == archive.coll) {
    return {};
  }
  return config_error(
      origin, "the 'archive' and 'tahoe' sections name different archive targets (archive: " +
                  describe_target(archive) + "; tahoe: " + describe_target(through) +
                  "): upstream HEAD writes documents through tahoe and expects archive to be "
                  "the same; make them the same");
}

}  // namespace

Result<void> parse_targets(const fs::path& origin, const fs::path& base, const Value& root,
                           Config& c) {
  Seen seen;
  std::optional<Section> sections[3];
  const char* kNames[3] = {"cache", "archive", "tahoe"};
  for (int i = 0; i < 3; ++i) {
    if (const Value* v = root.find(kNames[i]))
      sections[i] = CYBEXP_TRY(parse_section(origin, base, kNames[i], *v, seen, c));
  }
  c.shape = seen.a18b070 ? ConfigShape::kA18b070
            : seen.url   ? ConfigShape::kExtended
                         : ConfigShape::kHead;
  Section cache = sections[0].value_or(named("cache"));
  Section archive = sections[1].value_or(named("archive"));
  std::optional<Section> tahoe = sections[2] && sections[2]->present ? sections[2] : std::nullopt;
  if (seen.url && !sections[0]) return config_error(origin, "the 'cache' section is missing");
  if (seen.url && !sections[1] && !tahoe)
    return config_error(origin, "the 'archive' section is missing");

  const Defaults archive_defaults{"tahoe_db",
                                  c.shape == ConfigShape::kA18b070 ? "tahoe_coll" : "instance"};
  if (c.shape == ConfigShape::kA18b070) {
    add_a18b070_default(archive.db, "tahoe_db", archive_defaults.db);
    add_a18b070_default(archive.coll, "tahoe_coll", archive_defaults.coll);
  }
  c.cache = CYBEXP_TRY(resolve_target(origin, cache, {"cache_db", "file_entries"}, seen, "cache"));
  if (tahoe && !sections[1]) {
    c.archive = CYBEXP_TRY(resolve_target(origin, *tahoe, archive_defaults, seen, "archive"));
  } else {
    c.archive = CYBEXP_TRY(resolve_target(origin, archive, archive_defaults, seen, "archive"));
  }
  if (tahoe && sections[1]) {
    CYBEXP_TRY_VOID(check_tahoe_agrees(origin, *tahoe, c.archive, archive_defaults, seen));
  }
  if (c.shape == ConfigShape::kHead && is_mongo(c.archive.url) && archive.coll.empty() &&
      (!tahoe || tahoe->coll.empty())) {
    c.warnings.push_back(
        "no archive collection is named: using upstream HEAD's default 'instance' (upstream "
        "a18b070 defaulted to 'tahoe_coll'); set archive.coll to say which");
  }
  return {};
}

}  // namespace cybexp::config_detail

namespace cybexp {

std::string describe_target(const StoreConfig& target) {
  std::string s = redacted_url(target.url);
  if (config_detail::is_mongo(target.url))
    s += " (database " + target.db + ", collection " + target.coll + ")";
  return s;
}

}  // namespace cybexp
