// See check_deep.h.
#include "cli/check_deep.h"

#include <unordered_map>
#include <vector>

namespace cybexp::cli {
namespace {

// Findings of one kind printed one by one; the rest are counted.
constexpr int kShownPerKind = 10;

std::vector<CheckableDatabase*> distinct_databases(Stores& stores) {
  std::vector<CheckableDatabase*> out;
  auto* cache = dynamic_cast<CheckableDatabase*>(stores.cache.get());
  auto* archive = dynamic_cast<CheckableDatabase*>(stores.archive.get());
  if (cache != nullptr) out.push_back(cache);
  if (archive != nullptr && archive != cache) out.push_back(archive);
  return out;
}

std::string count_of(std::uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// The archive's documents by _hash, in insertion order, and whether a
// processed entry refers to each.
struct DocumentIndex {
  struct Document {
    std::string hash, sub_type;
    bool referred = false;
  };
  std::vector<Document> documents;
  std::unordered_map<std::string, std::size_t> by_hash;
};

struct ReferenceFindings {
  std::uint64_t processed = 0;
  std::uint64_t referred_hashes = 0;  // distinct _ref values
  int missing = 0;                    // processed entries with a document missing
  int orphans = 0;                    // documents no processed entry refers to
};

void report_missing(const EntryInfo& info, const std::string& hash, ReferenceFindings& found,
                    CheckReport& report) {
  if (++found.missing > kShownPerKind) return;
  report.problem(kExitFailure,
                 "entry " + info.entry.id + " is processed but its document " + hash +
                     " is not in the archive: archive it again with 'cybexp-archive requeue "
                     "--state processed --id " + info.entry.id + "', then 'run'");
}

Result<ReferenceFindings> check_references(Stores& stores, CheckReport& report) {
  DocumentIndex index;
  CYBEXP_TRY_VOID(stores.archive->for_each_hash([&](const std::string& hash, const std::string& sub) {
    if (index.by_hash.emplace(hash, index.documents.size()).second) {
      index.documents.push_back({hash, sub, false});
    }
    return true;
  }));
  ReferenceFindings found;
  std::unordered_map<std::string, bool> referred;  // every distinct _ref, found or not
  EntryFilter processed;
  processed.state = "processed";
  CYBEXP_TRY_VOID(stores.cache->for_each_entry(processed, [&](const EntryInfo& info) {
    ++found.processed;
    std::optional<std::string> first_missing;
    for (const std::string& hash : info.refs) {
      referred.emplace(hash, true);
      auto it = index.by_hash.find(hash);
      if (it == index.by_hash.end()) {
        if (!first_missing) first_missing = hash;
      } else {
        index.documents[it->second].referred = true;
      }
    }
    if (first_missing) report_missing(info, *first_missing, found, report);
    return true;
  }));
  found.referred_hashes = referred.size();
  if (found.missing > kShownPerKind) {
    report.more_problems(found.missing - kShownPerKind,
                         "... and " + count_of(found.missing - kShownPerKind, "more processed entry",
                                               "more processed entries") +
                             " without their documents");
  }
  for (const auto& doc : index.documents) {
    if (doc.referred || ++found.orphans > kShownPerKind) continue;
    report.problem(kExitFailure,
                   "document " + doc.hash + " (sub_type " + doc.sub_type +
                       ") is referred to by no processed entry: left by an entry requeued, or "
                       "whose mark was lost, after the document was written; 'run' refers to it "
                       "again when that entry is archived");
  }
  if (found.orphans > kShownPerKind) {
    report.more_problems(found.orphans - kShownPerKind,
                         "... and " + count_of(found.orphans - kShownPerKind, "more document",
                                               "more documents") +
                             " no entry refers to");
  }
  report.line("deep check", count_of(found.processed, "processed entry refers", "processed entries refer") +
                                " to " + count_of(found.referred_hashes, "document", "documents") +
                                "; the archive holds " +
                                count_of(index.documents.size(), "document", "documents"));
  return found;
}

}  // namespace

int check_databases(Stores& stores, CheckDepth depth, CheckReport& report) {
  int problems = 0;
  for (CheckableDatabase* db : distinct_databases(stores)) {
    auto found = db->check_database(depth);
    if (!found) {
      report.problem(found.error());
      ++problems;
      continue;
    }
    for (const std::string& line : *found) {
      report.problem(kExitFailure, line);
      ++problems;
    }
  }
  return problems;
}

void check_deep(Stores& stores, CheckReport& report) {
  const int database_problems = check_databases(stores, CheckDepth::kDeep, report);
  auto found = check_references(stores, report);
  if (!found) return report.problem(found.error());
  if (database_problems == 0 && found->missing == 0 && found->orphans == 0) return;
  report.note("deep check: " +
              count_of(found->missing, "processed entry without its documents",
                       "processed entries without their documents") +
              ", " + count_of(found->orphans, "document", "documents") + " no entry refers to, " +
              count_of(database_problems, "database problem", "database problems"));
}

Result<std::optional<std::string>> lost_archive(Stores& stores) {
  bool any_document = false;
  CYBEXP_TRY_VOID(stores.archive->for_each_hash([&](const std::string&, const std::string&) {
    any_document = true;
    return false;
  }));
  if (any_document) return std::nullopt;
  std::optional<std::string> first;
  EntryFilter processed;
  processed.state = "processed";
  CYBEXP_TRY_VOID(stores.cache->for_each_entry(processed, [&](const EntryInfo& info) {
    if (!info.refs.empty()) first = info.entry.id;
    return !first.has_value();
  }));
  if (!first) return std::nullopt;
  return "the archive holds no documents, but the cache has processed entries (entry " + *first +
         " refers to a document): the archive was lost or replaced (an emptied archive file?): "
         "restore it from a backup (docs/DURABILITY.md), or archive those entries again with "
         "'cybexp-archive requeue --state processed'";
}

}  // namespace cybexp::cli
