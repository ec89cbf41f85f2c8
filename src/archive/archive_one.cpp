// archive_one: one entry from blob to decision (UPSTREAM.md sections 1-4).
// Bad data is skipped at once with a reason; a store failure is reported as
// transient so the entry is retried, never skipped for the store's fault.
#include <algorithm>

#include "cybexp/archiver.h"
#include "cybexp/parsemain.h"
#include "cybexp/python_json.h"

namespace cybexp {
namespace {

EntryOutcome skip(const CacheEntry& entry, const char* state, std::string reason) {
  EntryOutcome out;
  out.result.id = entry.id;
  out.result.processed = false;
  out.result.state = state;
  out.result.reason = std::move(reason);
  return out;
}

// Offset of the first byte that breaks UTF-8, for the reason text. A walk
// over sequences; it only runs for entries already known to be bad.
std::size_t first_invalid_utf8(std::string_view s) {
  std::size_t lo = 0, hi = s.size();
  while (lo < hi) {
    std::size_t len = 1;
    unsigned char c = static_cast<unsigned char>(s[lo]);
    if (c >= 0xF0) len = 4;
    else if (c >= 0xE0) len = 3;
    else if (c >= 0xC0) len = 2;
    if (lo + len > hi || !is_valid_utf8(s.substr(lo, len))) return lo;
    lo += len;
  }
  return s.size();
}

}  // namespace

EntryOutcome archive_one(const CacheEntry& entry, const ArchiveOneContext& ctx) {
  std::vector<std::uint8_t> fetched;
  std::span<const std::uint8_t> blob;
  if (entry.blob.has_value()) {
    blob = *entry.blob;
  } else {
    auto got = ctx.cache->fetch_blob(entry, ctx.limits.max_blob_bytes);
    if (!got) {
      if (got.error().kind == ErrorKind::kBadData || got.error().kind == ErrorKind::kLimit) {
        return skip(entry, kStateBadData, got.error().message);
      }
      EntryOutcome out;
      out.result.id = entry.id;
      out.transient_error = got.error();
      return out;
    }
    fetched = std::move(*got);
    blob = fetched;
  }
  if (blob.size() > ctx.limits.max_blob_bytes) {
    return skip(entry, kStateBadData,
                "blob is " + std::to_string(blob.size()) + " bytes, over the " +
                    std::to_string(ctx.limits.max_blob_bytes) + "-byte limit (limits.max_blob_bytes)");
  }

  auto plaintext = decrypt_envelope_any(blob, ctx.keys);
  const std::uint64_t blob_bytes = blob.size();
  fetched.clear();
  fetched.shrink_to_fit();  // the ciphertext is not needed past this point
  if (!plaintext) {
    EntryOutcome out = skip(entry, kStateBadData, plaintext.error().message);
    out.blob_bytes = blob_bytes;
    return out;
  }
  std::string_view text = as_text(*plaintext);
  if (!is_valid_utf8(text)) {
    EntryOutcome out = skip(entry, kStateBadData,
                            "payload is not valid UTF-8 (first bad byte at offset " +
                                std::to_string(first_invalid_utf8(text)) +
                                "): upstream decodes uploads as UTF-8; re-upload it as UTF-8");
    out.blob_bytes = blob_bytes;
    return out;
  }

  ParseOutcome parsed =
      parsemain(*ctx.registry, entry.typetag, entry.orgid, entry.timezone, text, ctx.limits);
  EntryOutcome out;
  out.blob_bytes = blob_bytes;
  out.result.id = entry.id;
  switch (parsed.state) {
    case ParseState::kSuccess:
      out.result.processed = true;
      out.result.refs = {parsed.document.hash};
      out.document = std::move(parsed.document);
      return out;
    case ParseState::kNotSupported:
      out.result.state = kStateNotSupported;
      break;
    case ParseState::kError:
      out.result.state = kStateError;
      break;
  }
  out.result.reason = std::move(parsed.reason);
  return out;
}

}  // namespace cybexp
