// `check`: is this installation ready to run? Validates the configuration,
// loads every key (permissions included), opens both stores, and says what
// `run` would do. Every problem is one line on stderr saying what to do;
// the exit code is 2 if any is a configuration problem, else 1 if any is a
// runtime one (a store that cannot be reached or read), else 0. Warnings
// (a missing public key, which only `submit` needs) do not fail the check.
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <thread>

#include "cli/check_deep.h"
#include "cli/check_report.h"
#include "cli/format.h"
#include "cli/options.h"
#include "cybexp/archiver.h"
#include "util/log.h"
#include "util/terminal_text.h"

namespace cybexp::cli {
namespace {

std::string file_mode(const std::filesystem::path& p) {
  struct stat st {};
  if (stat(p.c_str(), &st) != 0) return "?";
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return buf;
}

std::string plural(std::uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// A public key no private key can open: whatever `submit` (or an API module
// configured with it) encrypts would be skipped as bad_data, every entry.
std::string unpaired_key_advice(const Config& config) {
  const std::string pub = config.public_key.string();
  std::string privs;
  for (const auto& p : config.private_keys) privs += (privs.empty() ? "" : ", ") + p.string();
  return "public key " + pub + " pairs with none of the private keys (" + privs +
         "): everything submitted with it would be skipped as bad_data. Compare the moduli "
         "('openssl rsa -pubin -in " +
         pub +
         " -noout -modulus' and 'openssl rsa -in PRIVATE_KEY "
         "-noout -modulus' for each private key), then add the matching private key to "
         "cache.private_key, or set public_key to one made from a configured private key "
         "('openssl rsa -in PRIVATE_KEY -pubout')";
}

std::vector<PrivateKey> check_private_keys(const Config& config, CheckReport& report) {
  std::vector<PrivateKey> keys;
  for (const auto& path : config.private_keys) {
    auto key = PrivateKey::load_file(path);
    if (!key) {
      report.problem(kExitUsage, key.error().kind == ErrorKind::kIo
                                     ? private_key_problem(config, path, key.error())
                                     : key.error().message);
      continue;
    }
    report.line("private key", path.string() + ": RSA-" + std::to_string(key->modulus_bytes() * 8) +
                                   ", mode " + file_mode(path));
    keys.push_back(std::move(*key));
  }
  return keys;
}

void check_public_key(const Config& config, const std::vector<PrivateKey>& keys, CheckReport& report) {
  auto pub = PublicKey::load_file(config.public_key);
  if (!pub) {
    report.warning(pub.error().message + " (only 'submit' needs the public key)");
    return;
  }
  std::string pairs =
      keys.empty() ? "not checked (no private key loaded)" : "pairs with none of the private keys";
  const std::uint8_t probe[] = {'o', 'k'};
  auto envelope = encrypt_envelope(probe, *pub);
  for (const PrivateKey& k : keys) {
    if (envelope && decrypt_envelope(*envelope, k)) {
      pairs = "pairs with " + k.origin();
      break;
    }
  }
  report.line("public key", config.public_key.string() + ": RSA-" +
                                std::to_string(pub->modulus_bytes() * 8) + ", " + pairs);
  if (pairs.starts_with("pairs with none")) report.problem(kExitUsage, unpaired_key_advice(config));
}

// Opens the stores read-only and reports what they hold; the stores, or
// nullopt when they cannot be read.
std::optional<Stores> check_stores(const Config& config, CheckReport& report) {
  auto opened = open_stores(config.cache, config.archive, OpenMode::kReadOnly);
  if (!opened) {
    report.problem(opened.error());
    return std::nullopt;
  }
  Stores& s = *opened;
  auto fail = [&](const Error& e) {
    report.problem(e);
    return std::nullopt;
  };
  // The cache has no schema call of its own; a backend serving both roles
  // answers for it.
  std::string cache_schema = "schema version not reported by this backend";
  if (auto* both = dynamic_cast<ArchiveStore*>(s.cache.get())) {
    auto v = both->schema_version();
    if (!v) return fail(v.error());
    cache_schema = "schema version " + std::to_string(*v);
  }
  auto version = s.archive->schema_version();
  if (!version) return fail(version.error());
  auto docs = s.archive->document_counts();
  if (!docs) return fail(docs.error());
  auto counts = s.cache->entry_counts();
  if (!counts) return fail(counts.error());
  auto registry = s.archive->subtypes();
  if (!registry) return fail(registry.error());
  auto claimable = s.cache->count_claimable(false);
  if (!claimable) return fail(claimable.error());
  auto forced = s.cache->count_claimable(true);
  if (!forced) return fail(forced.error());

  const bool one = s.cache->shares_database_with(*s.archive);
  report.line("cache store", cache_schema);
  report.line("archive store", "schema version " + std::to_string(*version) + ", " +
                                   plural(docs->documents, "document", "documents") + " (" +
                                   std::to_string(docs->data_bytes) + " bytes of data)" +
                                   (one ? "; one database with the cache" : ""));
  std::uint64_t skipped = 0;
  std::string by_state;
  for (const auto& [state, n] : counts->skipped) {
    skipped += n;
    by_state += (by_state.empty() ? "" : ", ") + state + " " + std::to_string(n);
  }
  std::uint64_t leased = 0;
  for (const auto& l : counts->in_flight) leased += l.entries;
  report.line("entries", std::to_string(counts->pending) + " pending, " +
                             std::to_string(counts->processed) + " processed, " +
                             std::to_string(skipped) + " skipped" +
                             (by_state.empty() ? "" : " (" + by_state + ")") + ", " +
                             std::to_string(leased) + " leased now");
  report.line("sub types", plural(registry->size(), "typetag", "typetags") + " registered");
  const unsigned workers = std::max(1u, std::thread::hardware_concurrency());
  report.line("run would", "claim " + plural(*claimable, "entry", "entries") + " with " +
                               plural(workers, "worker", "workers") +
                               " (one per core), leases of " +
                               std::to_string(config.lease_seconds) +
                               " s; --force-process would claim " + std::to_string(*forced));
  return std::move(*opened);
}
}  // namespace

int cmd_check(Context& ctx, std::vector<char*> args) {
  static const char* kHelp = R"(usage: cybexp-archive check [--deep]

Checks that 'run' can work: reads the configuration and prints the cache and
archive it resolves to (server, and for MongoDB database and collection;
never a password), loads every private key
(refusing one readable by group or others) and the public key, opens both
stores, and prints their schema versions, the entry counts, the sub-type
registry's size and what 'run' would do; checks each SQLite file for
corruption (PRAGMA quick_check, which reads the whole file) and that the
archive is not empty next to processed entries. Changes nothing.

--deep also runs SQLite's integrity_check, checks that every table and index
of the schema is there (SQLite, PostgreSQL), that every processed entry's
documents are in the archive and that every document is referred to by a
processed entry; it holds every document's _hash in memory.

Exit codes: 0 ready; 2 a configuration problem (file, key, URL); 1 a runtime
problem (a store that cannot be reached or read, a corrupt file, a finding
of --deep). Each problem is one line on stderr that says what to do; --deep
ends with a summary of its findings. A missing public key is only a warning:
only 'submit' needs it. A public key that pairs with none of the private keys
is a configuration problem: everything submitted with it would be bad_data.
)";
  bool deep = false;
  auto rest = parse_options(args, {{"deep", false}}, kHelp,
                            [&](const std::string&, const char*) { deep = true; });
  if (!rest.empty()) usage_error("check takes no arguments", "check");
  const Config& config = ctx.config();  // exits 2 with the reason if it is invalid
  CheckReport report;
  const bool upstream =
      config.shape == ConfigShape::kA18b070 || config.shape == ConfigShape::kHead;
  const std::string shape =
      upstream ? std::string(" (") + config_shape_name(config.shape) + ")" : "";
  report.line("configuration",
              config.shape == ConfigShape::kHome
                  ? "none given: the defaults under " + config.origin.string() + " ($CYBEXP_HOME)"
                  : config.origin.string() + shape);
  report.line("cache", describe_target(config.cache));
  report.line("archive", describe_target(config.archive));
  std::vector<PrivateKey> keys = check_private_keys(config, report);
  check_public_key(config, keys, report);
  if (auto stores = check_stores(config, report)) {
    if (deep) {
      check_deep(*stores, report);
    } else {
      check_databases(*stores, CheckDepth::kQuick, report);
    }
    auto lost = lost_archive(*stores);
    if (!lost) {
      report.problem(lost.error());
    } else if (*lost) {
      report.problem(kExitFailure, **lost);
    }
  }
  return report.finish();
}

}  // namespace cybexp::cli
