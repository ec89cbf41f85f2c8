// Commands that change what the loop will do: subtypes, requeue.
#include <algorithm>
#include <ctime>
#include <map>
#include <set>

#include "cli/format.h"
#include "cli/options.h"
#include "cybexp/raw_document.h"
#include "util/terminal_text.h"

namespace cybexp::cli {

int cmd_subtypes(Context& ctx, std::vector<char*> args) {
  static const char* kHelp = R"(usage: cybexp-archive subtypes list
       cybexp-archive subtypes add TYPETAG SUB_TYPE
       cybexp-archive subtypes remove TYPETAG

The sub-type registry in the archive database: which raw sub type a cache
entry's typetag becomes. SUB_TYPE must be an identifier ([A-Za-z_][A-Za-z0-9_]*).
After adding one, 'requeue --state typetag_not_supported' retries the entries
that were skipped for it.
)";
  auto rest = parse_options(args, {}, kHelp, [](const std::string&, const char*) {});
  if (rest.empty()) usage_error("subtypes needs list, add or remove", "subtypes");
  const std::string& verb = rest[0];
  ArchiveStore& archive =
      *ctx.stores(verb == "list" ? OpenMode::kReadOnly : OpenMode::kReadWrite).archive;
  if (verb == "list" && rest.size() == 1) {
    std::string out;
    for (const auto& [typetag, sub_type] : must(archive.subtypes())) {
      out += escape_for_terminal(typetag) + "\t" + escape_for_terminal(sub_type) + "\n";
    }
    print(out);
  } else if (verb == "add" && rest.size() == 3) {
    if (rest[1].empty()) usage_error("TYPETAG must not be empty", "subtypes");
    if (!is_identifier(rest[2])) {
      usage_error("SUB_TYPE '" + rest[2] + "' is not an identifier ([A-Za-z_][A-Za-z0-9_]*)", "subtypes");
    }
    must(archive.add_subtype(rest[1], rest[2]));
  } else if (verb == "remove" && rest.size() == 2) {
    if (!must(archive.remove_subtype(rest[1]))) {
      fail(kExitFailure, "typetag '" + rest[1] + "' is not in the registry: 'subtypes list' shows it");
    }
  } else {
    usage_error("subtypes takes 'list', 'add TYPETAG SUB_TYPE' or 'remove TYPETAG'", "subtypes");
  }
  return kExitOk;
}

namespace {

constexpr std::size_t kNamedSkips = 20;  // then a count: a crashed worker may hold thousands

bool state_selected(const std::string& wanted, const std::string& state) {
  if (wanted == "skipped") return state != "pending" && state != "processed";
  return wanted == state;
}

// The lines naming what the requeue will leave alone: entries it selects that
// are under a live lease, and --id entries it does not select (with their
// state). An --id naming no entry ends the command before anything changes.
std::string not_requeued(CacheStore& cache, const EntryFilter& filter, double now) {
  std::map<std::string, EntryInfo> by_id;
  if (!filter.ids.empty()) {
    EntryFilter ids_only;
    ids_only.ids = filter.ids;
    must(cache.for_each_entry(ids_only, [&](const EntryInfo& i) {
      by_id.emplace(i.entry.id, i);
      return true;
    }));
    for (const std::string& id : filter.ids) {
      if (!by_id.contains(id)) {
        fail(kExitFailure, "no entry with id '" + id +
                               "': nothing was requeued; 'cybexp-archive entries' lists them");
      }
    }
  }
  std::string out;
  std::size_t leased = 0;
  std::set<std::string> selected;
  must(cache.for_each_entry(filter, [&](const EntryInfo& i) {
    if (!by_id.empty()) selected.insert(i.entry.id);
    if (i.lease_owner.empty() || i.lease_until <= now) return true;
    if (++leased <= kNamedSkips) {
      out += "skipped " + escape_for_terminal(i.entry.id) + ": under a live lease of " +
             escape_for_terminal(i.lease_owner) + " until " + utc(i.lease_until) + "\n";
    }
    return true;
  }));
  if (leased > kNamedSkips) {
    out += "skipped " + std::to_string(leased - kNamedSkips) + " more under live leases\n";
  }
  for (const std::string& id : filter.ids) {
    if (!selected.insert(id).second) continue;  // selected, or named already
    const EntryInfo& info = by_id.at(id);
    out += "skipped " + escape_for_terminal(id) + ": it is " + escape_for_terminal(info.state) +
           (state_selected(*filter.state, info.state)
                ? ", but --typetag, --since or --until leave it out\n"
                : ", which --state " + *filter.state + " does not select\n");
  }
  return out;
}

}  // namespace

int cmd_requeue(Context& ctx, std::vector<char*> args) {
  static const char* kHelp =
      R"(usage: cybexp-archive requeue [--state S] [--id ID]... [--typetag T] [--since TIME] [--until TIME]

Clears the skip of matching entries so the loop tries them again. Without
--state, every skipped entry matches; S may be a skip state (bad_data, error,
typetag_not_supported), skipped, or processed (archive those entries again).
TIME is seconds since the epoch or a UTC time (2026-11-29T17:00:00Z) and
filters on the upload time. Entries under a live lease are never touched:
each is named with the worker holding it ("skipped ID: under a live lease of
WORKER until TIME"), as is an --id entry the other options do not select.
An --id that names no entry is an error (exit 1) and nothing is requeued.
)";
  EntryFilter filter;
  auto rest = parse_options(args,
                            {{"state", true}, {"id", true}, {"typetag", true}, {"since", true}, {"until", true}},
                            kHelp, [&](const std::string& name, const char* value) {
                              if (name == "state") filter.state = value;
                              if (name == "id") filter.ids.push_back(value);
                              if (name == "typetag") filter.typetag = value;
                              if (name == "since") filter.since = parse_time(name, value, "requeue");
                              if (name == "until") filter.until = parse_time(name, value, "requeue");
                            });
  if (!rest.empty()) usage_error("requeue takes no arguments", "requeue");
  if (!filter.state) filter.state = "skipped";
  static const char* kStates[] = {"skipped", "processed", "bad_data", "error", "typetag_not_supported"};
  if (std::find(std::begin(kStates), std::end(kStates), *filter.state) == std::end(kStates)) {
    usage_error("--state must be skipped, processed, bad_data, error or typetag_not_supported", "requeue");
  }
  CacheStore& cache = *ctx.stores().cache;
  std::string out = not_requeued(cache, filter, static_cast<double>(std::time(nullptr)));
  std::uint64_t n = must(cache.requeue(filter));
  print(out + "requeued " + std::to_string(n) + (n == 1 ? " entry\n" : " entries\n"));
  return kExitOk;
}

}  // namespace cybexp::cli
