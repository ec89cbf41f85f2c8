// The store checks `check` runs (and, for the lost archive, `run` too): each
// database's own check, the references between cache and archive
// (`check --deep`), and an archive that holds nothing next to processed
// entries.
//
// Thread safety: main thread only, as the stores they are given.
#pragma once

#include <optional>
#include <string>

#include "cli/check_report.h"
#include "cybexp/store.h"

namespace cybexp::cli {

// Runs check_database on each distinct database behind the stores; every
// finding is a problem in `report`. Returns how many there were.
int check_databases(Stores& stores, CheckDepth depth, CheckReport& report);

// `check --deep`: the database checks at kDeep, then every processed entry's
// _ref against the archive's documents and every document against the
// entries that refer to it; a line of totals on stdout, a summary on stderr
// when anything is wrong. Holds every document's _hash in memory (about 100
// bytes each).
void check_deep(Stores& stores, CheckReport& report);

// What to say when the archive holds no document at all while the cache has
// entries processed into it (the archive was lost, emptied or replaced);
// nullopt when that is not so. Cheap: stops at the first document, or the
// first processed entry.
Result<std::optional<std::string>> lost_archive(Stores& stores);

}  // namespace cybexp::cli
