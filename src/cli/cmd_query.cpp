// Read-only commands: status, entries, export. Their --json output is for
// scripts: one JSON object (status) or one a line (entries, export), with
// every control character escaped as JSON does. Their text output is for
// people: every field that came from an upload or the store (typetag, name,
// reason, state, worker) is escaped for the terminal (util/terminal_text.h),
// so a hostile value can neither forge a row nor drive the terminal.
#include <algorithm>
#include <ctime>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/options.h"
#include "cybexp/python_json.h"
#include "cybexp/raw_document.h"
#include "util/terminal_text.h"

namespace cybexp::cli {

int cmd_status(Context& ctx, std::vector<char*> args) {
  static const char* kHelp = R"(usage: cybexp-archive status [--json]

Entry counts (pending, processed, skipped by state), entries in flight per
worker, the archive's size, and each `run` daemon of this configuration
(its state file in run_dir): archiving, idle or backoff, and when its next
pass is due. --json prints one object with pending, processed, skipped
(state to count), documents, data_bytes, in_flight and daemons (pid,
worker, state, next_pass_at in seconds since the epoch or null).
)";
  bool json = false;
  auto rest = parse_options(args, {{"json", false}}, kHelp,
                            [&](const std::string&, const char*) { json = true; });
  if (!rest.empty()) usage_error("status takes no arguments", "status");
  Stores& stores = ctx.stores(OpenMode::kReadOnly);
  CacheCounts c = must(stores.cache->entry_counts());
  ArchiveCounts a = must(stores.archive->document_counts());
  std::uint64_t skipped = 0;
  for (const auto& [state, n] : c.skipped) skipped += n;
  std::string out;
  if (json) {
    out = "{\"pending\": " + std::to_string(c.pending) + ", \"processed\": " + std::to_string(c.processed) +
          ", \"skipped\": {";
    bool first = true;
    for (const auto& [state, n] : c.skipped) {
      out += (first ? "" : ", ") + json_str(state) + ": " + std::to_string(n);
      first = false;
    }
    out += "}, \"documents\": " + std::to_string(a.documents) + ", \"data_bytes\": " +
           std::to_string(a.data_bytes) + ", \"in_flight\": [";
    first = true;
    for (const auto& l : c.in_flight) {
      out += std::string(first ? "" : ", ") + "{\"worker\": " + json_str(l.worker) +
             ", \"entries\": " + std::to_string(l.entries) + ", \"since\": " + number(l.oldest_claim) + "}";
      first = false;
    }
    out += "], \"daemons\": " + daemon_status(ctx.config(), true) + "}\n";
  } else {
    out = "pending     " + std::to_string(c.pending) + "\nprocessed   " + std::to_string(c.processed) +
          "\nskipped     " + std::to_string(skipped);
    std::string by_state;
    for (const auto& [state, n] : c.skipped) {
      by_state +=
          (by_state.empty() ? "" : ", ") + escape_for_terminal(state) + " " + std::to_string(n);
    }
    if (!by_state.empty()) out += " (" + by_state + ")";
    out += "\ndocuments   " + std::to_string(a.documents) + " (" + std::to_string(a.data_bytes) +
           " bytes of data)\n";
    for (const auto& l : c.in_flight) {
      out += "in flight   " + std::to_string(l.entries) + " entries leased by " +
             escape_for_terminal(l.worker) + " since " + utc(l.oldest_claim) + "\n";
    }
    out += daemon_status(ctx.config(), false);
  }
  print(out);
  return kExitOk;
}

int cmd_entries(Context& ctx, std::vector<char*> args) {
  static const char* kHelp = R"(usage: cybexp-archive entries [--state S] [--typetag T] [--json]

One entry a line, oldest first: id, state, typetag, name, and the reason of a
skip. S is pending, processed, skipped, or a skip state (bad_data, error,
typetag_not_supported). --json: one object a line with id, name, typetag,
orgid, timezone, timestamp, state, _ref, reason, attempts, lease_owner.
)";
  bool json = false;
  EntryFilter filter;
  auto rest = parse_options(args, {{"state", true}, {"typetag", true}, {"json", false}}, kHelp,
                            [&](const std::string& name, const char* value) {
                              if (name == "state") filter.state = value;
                              if (name == "typetag") filter.typetag = value;
                              if (name == "json") json = true;
                            });
  if (!rest.empty()) usage_error("entries takes no arguments", "entries");
  static const char* kStates[] = {"pending",  "processed", "skipped",
                                  "bad_data", "error",     "typetag_not_supported"};
  if (filter.state &&
      std::find(std::begin(kStates), std::end(kStates), *filter.state) == std::end(kStates)) {
    usage_error(
        "--state must be pending, processed, skipped, bad_data, error or "
        "typetag_not_supported, not '" +
            *filter.state + "'",
        "entries");
  }
  must(ctx.stores(OpenMode::kReadOnly).cache->for_each_entry(filter, [&](const EntryInfo& i) {
    std::string line;
    if (json) {
      line = "{\"id\": " + json_str(i.entry.id) + ", \"name\": " + json_str(i.entry.name) +
             ", \"typetag\": " + json_str(i.entry.typetag) + ", \"orgid\": " + json_str(i.entry.orgid) +
             ", \"timezone\": " + json_str(i.entry.timezone) + ", \"timestamp\": " + number(i.entry.timestamp) +
             ", \"state\": " + json_str(i.state) + ", \"_ref\": [";
      for (std::size_t k = 0; k < i.refs.size(); ++k) line += (k ? ", " : "") + json_str(i.refs[k]);
      line += "], \"reason\": " + (i.reason.empty() ? std::string("null") : json_str(i.reason)) +
              ", \"attempts\": " + std::to_string(i.entry.attempts) + ", \"lease_owner\": " +
              (i.lease_owner.empty() ? std::string("null") : json_str(i.lease_owner)) + "}\n";
    } else {
      // Tabs inside a field are escaped too: only ours separate the columns.
      line = escape_for_terminal(i.entry.id) + "\t" + escape_for_terminal(i.state) + "\t" +
             escape_for_terminal(i.entry.typetag) + "\t" + escape_for_terminal(i.entry.name);
      if (!i.reason.empty()) line += "\t" + escape_for_terminal(i.reason);
      line += "\n";
    }
    print(line);
    return true;
  }));
  return kExitOk;
}

int cmd_export(Context& ctx, std::vector<char*> args) {
  static const char* kHelp = R"(usage: cybexp-archive export [--sub-type S]

Archived documents as JSON lines, in the order they were archived, each
{"itype", "data", "orgid", "timezone", "sub_type", "_hash"} written exactly as
Python's json.dumps writes it (every control character and every
non-ASCII character escaped as \uXXXX, so it is safe on a terminal too).
)";
  std::optional<std::string> sub_type;
  auto rest = parse_options(args, {{"sub-type", true}}, kHelp,
                            [&](const std::string&, const char* value) { sub_type = value; });
  if (!rest.empty()) usage_error("export takes no arguments", "export");
  must(ctx.stores(OpenMode::kReadOnly).archive->for_each_document(sub_type, [&](const RawDocument& d) {
    std::string line = raw_document_json(d);
    line += '\n';
    print(line);
    return true;
  }));
  return kExitOk;
}

}  // namespace cybexp::cli
