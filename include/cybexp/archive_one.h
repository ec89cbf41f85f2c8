// archive_one: the one place an entry's fate is decided, from blob to
// decision: the entry's metadata checked, its blob fetched (unless claim()
// delivered it) within limits.max_blob_bytes, decrypted with each private key,
// checked as UTF-8, parsed by parsemain into a TAHOE Raw document, and that
// document checked against what the archive can hold. The pipeline and
// `inspect --dry-run` both call it, so they cannot disagree.
//
// Bad data is skipped at once with a fate and a reason; a store failure is
// reported as transient (the entry is released and retried, never skipped
// for the store's fault); an exception while handling the entry (out of
// memory on a hostile payload) makes that entry `error`, never the process.
//
// Thread safety: reentrant; the context's sources must be safe to use from
// several threads (BlobSource::fetch_blob and ArchiveStore::validate are).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>

#include "cybexp/clock.h"
#include "cybexp/envelope.h"
#include "cybexp/limits.h"
#include "cybexp/raw_document.h"
#include "cybexp/store.h"

namespace cybexp {

// What archive_one decided. transient_error is set when the store failed
// (not the entry's fault): the entry must be released, not skipped.
struct EntryOutcome {
  EntryResult result;
  std::optional<RawDocument> document;
  std::optional<Error> transient_error;
  std::uint64_t blob_bytes = 0;  // ciphertext bytes read
};

struct ArchiveOneContext {
  BlobSource* blobs = nullptr;              // for blobs not delivered inline
  const ArchiveStore* archive = nullptr;    // validate(); nullptr: any document fits
  std::span<const PrivateKey> keys;
  const std::map<std::string, std::string>* registry = nullptr;
  Limits limits;
  Clock* clock = nullptr;  // for limits.entry_seconds; nullptr: system_clock()
};

EntryOutcome archive_one(const CacheEntry& entry, const ArchiveOneContext& ctx);

}  // namespace cybexp
