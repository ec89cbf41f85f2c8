// An entry's fate, as archive_one decides it, and the state strings upstream
// stores for it (docs/UPSTREAM-FORMATS.md section 2). Code passes the enum;
// only the stores (which persist upstream's strings) and the CLI (which
// prints and parses them) convert.
//
// Thread safety: constants and pure functions.
#pragma once

#include <optional>
#include <string_view>

namespace cybexp {

// In the order of the state names, so that maps keyed by it list states as
// people read them sorted.
enum class EntryFate {
  kProcessed,     // archived: a document with refs
  kBadData,       // skipped: bad_data (blob missing, too large, undecryptable, not UTF-8)
  kError,         // skipped: error (the payload could not become a document)
  kNotSupported,  // skipped: typetag_not_supported (no sub type registered)
};

// The state strings of an entry as stores keep and the CLI shows them.
inline constexpr const char* kStatePending = "pending";
inline constexpr const char* kStateProcessed = "processed";
inline constexpr const char* kStateNotSupported = "typetag_not_supported";
inline constexpr const char* kStateError = "error";
inline constexpr const char* kStateBadData = "bad_data";

constexpr const char* state_name(EntryFate fate) {
  switch (fate) {
    case EntryFate::kProcessed: return kStateProcessed;
    case EntryFate::kNotSupported: return kStateNotSupported;
    case EntryFate::kError: return kStateError;
    case EntryFate::kBadData: return kStateBadData;
  }
  return kStateError;
}

// The fate a stored skip state stands for; nullopt for anything else
// (pending, or a state some other writer invented).
inline std::optional<EntryFate> fate_from_state(std::string_view state) {
  for (EntryFate f : {EntryFate::kProcessed, EntryFate::kBadData, EntryFate::kError,
                      EntryFate::kNotSupported}) {
    if (state == state_name(f)) return f;
  }
  return std::nullopt;
}

}  // namespace cybexp
