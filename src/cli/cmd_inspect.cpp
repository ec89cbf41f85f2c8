// `inspect ENTRY_ID`: one cache entry as an operator needs to see it: its
// fields, state, reason, attempts, lease and refs (in text, every one escaped
// for the terminal); with --decrypt the start of its plaintext (escaped too);
// with --dry-run what the archive loop would make of it now (archive_one with the current keys and
// registry), without writing anything: no claim, no lease, no document, no state change.
#include <algorithm>
#include <ctime>

#include "cli/format.h"
#include "cli/options.h"
#include "cybexp/archive_one.h"
#include "cybexp/python_json.h"
#include "cybexp/raw_document.h"
#include "util/terminal_text.h"

namespace cybexp::cli {
namespace {

constexpr std::size_t kPlaintextHead = 256;

std::string json_or_null(const std::string& s) { return s.empty() ? "null" : json_str(s); }

std::string field(const char* name, const std::string& value) {
  std::string line = name;
  line.resize(12, ' ');
  return line + value + "\n";
}

// What --decrypt found: the plaintext's size and escaped head, or why not.
struct Plaintext {
  std::uint64_t bytes = 0;
  std::string head;   // escaped, at most kPlaintextHead bytes of plaintext
  std::string error;  // set when it could not be decrypted
};

Plaintext decrypt_head(CacheStore& cache, const CacheEntry& entry, std::span<const PrivateKey> keys,
                       const Limits& limits) {
  Plaintext p;
  auto blob = cache.fetch_blob(entry, limits.max_blob_bytes);
  if (!blob) {
    if (blob.error().kind == ErrorKind::kDatabase) fail(blob.error());
    p.error = blob.error().message;
    return p;
  }
  auto plain = decrypt_envelope_any(*blob, keys);
  if (!plain) {
    p.error = plain.error().message;
    return p;
  }
  std::string_view text = as_text(*plain);
  p.bytes = text.size();
  p.head = escape_for_terminal(text.substr(0, kPlaintextHead));
  return p;
}

std::string lease_text(const EntryInfo& info, double now) {
  if (info.lease_owner.empty()) return "none";
  return escape_for_terminal(info.lease_owner) + " until " + utc(info.lease_until) +
         (info.lease_until > now ? " (live)" : " (expired)");
}

std::string text_report(const EntryInfo& info, const std::optional<Plaintext>& plain,
                        const std::optional<EntryOutcome>& dry, double now) {
  const CacheEntry& e = info.entry;
  std::string out = field("id", escape_for_terminal(e.id)) +
                    field("name", escape_for_terminal(e.name)) +
                    field("typetag", escape_for_terminal(e.typetag)) +
                    field("orgid", escape_for_terminal(e.orgid)) +
                    field("timezone", escape_for_terminal(e.timezone)) +
                    field("uploaded", utc(e.timestamp) + " (" + number(e.timestamp) + ")") +
                    field("blob", std::to_string(e.blob_size) + " bytes") +
                    field("state", escape_for_terminal(info.state));
  if (!info.reason.empty()) out += field("reason", escape_for_terminal(info.reason));
  out += field("attempts", std::to_string(e.attempts)) + field("lease", lease_text(info, now)) +
         field("finished", utc(info.finished_at));
  for (const auto& r : info.refs) out += field("_ref", escape_for_terminal(r));
  if (plain) {
    if (!plain->error.empty()) {
      out += field("plaintext", "cannot decrypt: " + escape_for_terminal(plain->error));
    } else {
      out += field("plaintext", std::to_string(plain->bytes) + " bytes" +
                                    (plain->bytes > kPlaintextHead ? ", the first 256:" : ":"));
      out += "  " + plain->head + "\n";
    }
  }
  if (dry) {
    const EntryResult& r = dry->result;
    if (r.processed()) {
      out +=
          field("dry run", "would be processed as _ref " + r.refs.at(0) + " (nothing was written)");
      out += field("document", raw_document_json(*dry->document));
    } else {
      out += field("dry run", "would be skipped as " + std::string(state_name(r.fate)) + " (nothing was written)");
      out += field("because", escape_for_terminal(r.reason));
    }
  }
  return out;
}

std::string json_report(const EntryInfo& info, const std::optional<Plaintext>& plain,
                        const std::optional<EntryOutcome>& dry, double now) {
  const CacheEntry& e = info.entry;
  std::string out =
      "{\"id\": " + json_str(e.id) + ", \"name\": " + json_str(e.name) +
      ", \"typetag\": " + json_str(e.typetag) + ", \"orgid\": " + json_str(e.orgid) +
      ", \"timezone\": " + json_str(e.timezone) + ", \"timestamp\": " + number(e.timestamp) +
      ", \"blob_bytes\": " + std::to_string(e.blob_size) + ", \"state\": " + json_str(info.state) +
      ", \"reason\": " + json_or_null(info.reason) +
      ", \"attempts\": " + std::to_string(e.attempts) +
      ", \"lease_owner\": " + json_or_null(info.lease_owner) +
      ", \"lease_until\": " + (info.lease_owner.empty() ? "null" : number(info.lease_until)) +
      ", \"lease_live\": " +
      (!info.lease_owner.empty() && info.lease_until > now ? "true" : "false") +
      ", \"finished_at\": " + (info.finished_at > 0 ? number(info.finished_at) : "null") +
      ", \"_ref\": [";
  for (std::size_t k = 0; k < info.refs.size(); ++k)
    out += (k ? ", " : "") + json_str(info.refs[k]);
  out += "]";
  if (plain) {
    out += ", \"plaintext\": ";
    out += plain->error.empty() ? "{\"bytes\": " + std::to_string(plain->bytes) +
                                      ", \"head\": " + json_str(plain->head) + "}"
                                : "{\"error\": " + json_str(plain->error) + "}";
  }
  if (dry) {
    const EntryResult& r = dry->result;
    out += ", \"dry_run\": {\"state\": " + json_str(state_name(r.fate)) +
           ", \"reason\": " + json_or_null(r.reason) +
           ", \"document\": " + (r.processed() ? raw_document_json(*dry->document) : "null") + "}";
  }
  return out + "}\n";
}

}  // namespace

int cmd_inspect(Context& ctx, std::vector<char*> args) {
  static const char* kHelp =
      R"(usage: cybexp-archive inspect ENTRY_ID [--decrypt] [--dry-run] [--json]

One cache entry: its fields, state, the reason of a skip, attempts, lease
(owner and until when, live or expired), finish time and _ref.

  --decrypt   also decrypt it and show the first 256 bytes of plaintext
              (non-printable bytes as \xNN, newlines as \n)
  --dry-run   run the archive step on it now (decrypt, UTF-8 check, parsemain
              with the current keys and sub-type registry) and print the
              document it would archive, or the state and reason it would
              get; writes nothing
  --json      one JSON object (plaintext and dry_run as members)

Exit codes: 0 shown; 1 no such entry, or the store failed; 2 bad usage or
configuration.
)";
  bool decrypt = false, dry_run = false, json = false;
  auto rest = parse_options(args, {{"decrypt", false}, {"dry-run", false}, {"json", false}}, kHelp,
                            [&](const std::string& name, const char*) {
                              if (name == "decrypt") decrypt = true;
                              if (name == "dry-run") dry_run = true;
                              if (name == "json") json = true;
                            });
  if (rest.size() != 1) usage_error("inspect takes one ENTRY_ID", "inspect");
  std::vector<PrivateKey> keys;
  if (decrypt || dry_run) keys = ctx.private_keys();
  Stores& stores = ctx.stores(OpenMode::kReadOnly);
  std::optional<EntryInfo> found;
  EntryFilter filter;
  filter.ids = {rest[0]};
  must(stores.cache->for_each_entry(filter, [&](const EntryInfo& info) {
    found = info;
    return false;
  }));
  if (!found) {
    fail(kExitFailure, "no entry with id '" + rest[0] + "': 'cybexp-archive entries' lists them");
  }
  const double now = static_cast<double>(std::time(nullptr));
  const Limits& limits = ctx.config().limits;
  std::optional<Plaintext> plain;
  if (decrypt) plain = decrypt_head(*stores.cache, found->entry, keys, limits);
  std::optional<EntryOutcome> dry;
  if (dry_run) {
    const auto registry = must(stores.archive->subtypes());
    // The loop's own decision, validation against the archive included.
    ArchiveOneContext actx;
    actx.blobs = stores.cache.get();
    actx.archive = stores.archive.get();
    actx.keys = keys;
    actx.registry = &registry;
    actx.limits = limits;
    dry = archive_one(found->entry, actx);
    if (dry->transient_error) fail(*dry->transient_error);
  }
  print(json ? json_report(*found, plain, dry, now) : text_report(*found, plain, dry, now));
  return kExitOk;
}

}  // namespace cybexp::cli
