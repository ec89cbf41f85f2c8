// parsemain: one decrypted payload -> one TAHOE Raw document (docs/UPSTREAM-FORMATS.md
// section 4). The typetag is looked up in the sub-type registry; the payload is
// parsed with Python json.loads semantics, or kept as {"data": text} when it
// is not JSON; the canonical form's size is checked against the limits before
// anything large is built.
//
// Thread safety: pure function; the registry is read-only here.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "cybexp/clock.h"
#include "cybexp/limits.h"
#include "cybexp/raw_document.h"

namespace cybexp {

enum class ParseState { kSuccess, kNotSupported, kError };

struct ParseOutcome {
  ParseState state = ParseState::kError;
  RawDocument document;  // on kSuccess
  std::string reason;    // on kNotSupported / kError: what and what to do
  bool abandoned = false;  // kError because the deadline passed midway
};

// How parsemain may use its text, and until when.
struct ParseControls {
  // kDocumentTextPadding (document.h) zero bytes follow the text: it is
  // parsed where it is, without a copy (archive_one pads the plaintext).
  bool text_padded = false;
  // limits.entry_seconds: checked inside the parse and the canonical form
  // (every 64 Ki values); once passed, the outcome is kError, abandoned.
  Deadline deadline;
};

ParseOutcome parsemain(const std::map<std::string, std::string>& registry,
                       std::string_view typetag, std::string_view orgid,
                       std::string_view timezone, std::string_view text, const Limits& limits,
                       const ParseControls& controls = {});

}  // namespace cybexp
