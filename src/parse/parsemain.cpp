// parsemain (docs/UPSTREAM-FORMATS.md section 4): registry look-up, Python-compatible JSON
// parse with the upstream fallback to {"data": text}, and the size-checked
// canonical hash. Every refusal carries a reason an operator can act on.
#include "cybexp/parsemain.h"
#include "cybexp/entry_state.h"

#include <algorithm>

#include "cybexp/canonical.h"
#include "cybexp/document.h"
#include "cybexp/json_value.h"
#include "cybexp/python_json.h"
#include "cybexp/store.h"

namespace cybexp {
namespace {

ParseOutcome refuse(ParseState state, std::string reason) {
  ParseOutcome out;
  out.state = state;
  out.reason = std::move(reason);
  return out;
}

// A typetag comes from outside; keep it printable and short in messages.
std::string quoted_for_message(std::string_view s) {
  std::string out;
  append_python_json_string(s.substr(0, 80), out);
  if (s.size() > 80) out.insert(out.size() - 1, "...");
  return out;
}

// The typetag as an argument in a suggested command: as is when it is made of
// characters a shell and a terminal take literally, else quoted as above. A
// raw hostile typetag would put control characters (newlines, terminal
// escapes) into reasons that `entries` prints (found by fuzz_archive_one).
std::string typetag_for_command(std::string_view typetag) {
  const bool plain = !typetag.empty() && typetag.size() <= 80 &&
                     typetag.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                               "0123456789._:/@+-") == std::string_view::npos;
  return plain ? std::string(typetag) : quoted_for_message(typetag);
}

// ", at byte N" from a parse detail ("JSON at byte N: ..."), or "".
std::string where_in(std::string_view detail) {
  const std::size_t at = detail.find("at byte ");
  if (at == std::string_view::npos) return "";
  return ", " + std::string(detail.substr(at, detail.find(':', at) - at));
}

}  // namespace

ParseOutcome parsemain(const std::map<std::string, std::string>& registry,
                       std::string_view typetag, std::string_view orgid,
                       std::string_view timezone, std::string_view text, const Limits& limits,
                       const ParseControls& controls) {
  auto it = registry.find(std::string(typetag));
  if (it == registry.end()) {
    return refuse(ParseState::kNotSupported,
                  "typetag " + quoted_for_message(typetag) +
                      " not in the sub-type registry: add it with 'cybexp-archive subtypes add " +
                      typetag_for_command(typetag) + " SUB_TYPE', then 'requeue --state " +
                      std::string(kStateNotSupported) + "'");
  }
  const std::string& sub_type = it->second;
  if (!is_identifier(sub_type)) {
    return refuse(ParseState::kError, "sub type " + quoted_for_message(sub_type) +
                                          " registered for this typetag is not an identifier: "
                                          "fix it with 'cybexp-archive subtypes add " +
                                          typetag_for_command(typetag) +
                                          " SUB_TYPE', then 'requeue --state error'");
  }

  // The canonical form may be far larger than the payload (it doubles per
  // nesting level): allow the larger of the fixed limit and a payload multiple.
  const std::uint64_t limit =
      std::max<std::uint64_t>(limits.max_canonical_bytes,
                              limits.canonical_payload_factor * static_cast<std::uint64_t>(text.size()));
  auto refuse_size = [](const Error& e) {
    return refuse(ParseState::kError,
                  e.message +
                      " (limits.max_canonical_bytes, or canonical_payload_factor times the payload): "
                      "the document nests too deeply to archive; raise the limits if it is genuine, "
                      "then 'requeue --state error'");
  };
  auto refuse_surrogate = [] {
    return refuse(ParseState::kError,
                  "payload is JSON with a lone UTF-16 surrogate escape (such as \\ud800), which "
                  "cannot be stored as UTF-8; upstream fails on it too: fix the feed and upload it again");
  };
  auto refuse_deep = [&](std::string_view detail) {
    return refuse(ParseState::kError,
                  "payload JSON is nested deeper than " + std::to_string(limits.max_depth) +
                      " levels (limits.max_depth)" + where_in(detail) +
                      ": raise the limit if the feed is genuine, then 'requeue --state error'");
  };
  ParseOutcome out;
  out.state = ParseState::kSuccess;
  out.document.sub_type = sub_type;
  out.document.orgid = std::string(orgid);
  out.document.timezone = std::string(timezone);

  // The compact document model (document.h): one tape, strings as views.
  auto abandon = [](const std::string& detail) {
    ParseOutcome o = refuse(ParseState::kError, detail);
    o.abandoned = true;
    return o;
  };
  // A document nesting so deep that its canonical form cannot fit is
  // refused during the parse, before its tape takes memory in proportion
  // to it (deep chains would cost 8 bytes a bracket).
  const JsonLimits json_limits{limits.max_depth, limit};
  // Large payloads are parsed where they are (no copy: memory in proportion
  // to the payload, issue 15); below kParseInPlaceFrom a copy costs little
  // and RapidJSON's in-situ parse of it is faster (about 12 instructions a
  // byte less: no string copied through its stack).
  constexpr std::size_t kParseInPlaceFrom = 4u << 20;
  DocumentParseResult parsed = controls.text_padded && text.size() >= kParseInPlaceFrom
                                   ? parse_document_padded(text, json_limits, controls.deadline)
                                   : parse_document(text, json_limits, controls.deadline);
  switch (parsed.status) {
    case DocumentParseResult::kOk: {
      auto hash = raw_hash(sub_type, parsed.document, limit, controls.deadline);
      if (!hash && controls.deadline.passed()) return abandon(hash.error().message);
      if (!hash) return refuse_size(hash.error());
      out.document.hash = std::move(*hash);
      append_python_json(parsed.document, out.document.data_json);
      recycle_document(std::move(parsed.document));
      return out;
    }
    case DocumentParseResult::kNotJson:
      break;  // below
    case DocumentParseResult::kLoneSurrogate:
      return refuse_surrogate();
    case DocumentParseResult::kTooDeep:
      return refuse_deep(parsed.detail);
    case DocumentParseResult::kCanonicalTooLarge:
      return refuse_size(Error{ErrorKind::kLimit, parsed.detail});
    case DocumentParseResult::kTimedOut:
      return abandon("abandoned while parsing: the entry's time (limits.entry_seconds) ran out");
    case DocumentParseResult::kTooLarge: {
      // A string or array beyond the tape's field sizes: the Value model.
      parsed.document = Document();
      JsonParseResult value = parse_python_json(text, JsonLimits{limits.max_depth});
      if (value.status == JsonParseStatus::kLoneSurrogate) return refuse_surrogate();
      if (value.status == JsonParseStatus::kTooDeep) return refuse_deep(value.detail);
      if (value.status == JsonParseStatus::kOk) {
        auto hash = raw_hash(sub_type, value.value, limit);
        if (!hash) return refuse_size(hash.error());
        out.document.hash = std::move(*hash);
        out.document.data_json.reserve(text.size() + text.size() / 8 + 16);
        append_python_json(value.value, out.document.data_json);
        return out;
      }
      break;
    }
  }
  // Upstream's Raw keeps non-JSON payloads (e-mails, feed lines) as text.
  const Value data = Object{{"data", std::string(text)}};
  auto hash = raw_hash(sub_type, data, limit);
  if (!hash) return refuse_size(hash.error());
  out.document.hash = std::move(*hash);
  out.document.data_json.reserve(text.size() + text.size() / 8 + 16);
  append_python_json(data, out.document.data_json);
  return out;
}

}  // namespace cybexp
