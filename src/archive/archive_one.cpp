// archive_one (archive_one.h): one entry from blob to decision
// (docs/UPSTREAM-FORMATS.md sections 1-4). Every stage is bounded by a limit
// (blob size before reading, nesting depth while parsing, canonical size
// before building), and the whole entry by limits.entry_seconds, checked
// between the stages.
#include "cybexp/archive_one.h"

#include <algorithm>
#include <cstdio>
#include <new>
#include <optional>
#include <utility>

#include "cybexp/document.h"
#include "cybexp/parsemain.h"
#include "cybexp/python_json.h"

namespace cybexp {
namespace {

constexpr const char* kRaiseBlobLimit =
    ": raise limits.max_blob_bytes if the file is genuine, then 'requeue --state bad_data'";

EntryOutcome skip(const CacheEntry& entry, EntryFate fate, std::string reason) {
  EntryOutcome out;
  out.result.id = entry.id;
  out.result.fate = fate;
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

// The entry's metadata is as hostile as its blob: typetag goes into reasons,
// orgid and timezone into the document, and every store and JSON writer
// needs them as UTF-8 text without NUL (PostgreSQL and MongoDB refuse or cut
// such strings, and one bad document would fail its whole group commit).
std::optional<std::string> bad_metadata(const CacheEntry& entry) {
  const std::pair<const char*, const std::string*> fields[] = {
      {"typetag", &entry.typetag}, {"orgid", &entry.orgid}, {"timezone", &entry.timezone}};
  for (const auto& [name, value] : fields) {
    const char* problem = nullptr;
    if (!is_valid_utf8(*value)) problem = "is not valid UTF-8";
    else if (value->find('\0') != std::string::npos) problem = "holds a NUL byte";
    if (problem != nullptr) {
      return std::string("the entry's ") + name + " " + problem +
             ", so no store can hold its document: the uploader's metadata is damaged; "
             "upload the data again with valid metadata";
    }
  }
  return std::nullopt;
}

// limits.entry_seconds. Checked at stage boundaries, and inside parsemain's
// long loops (the JSON parse and the canonical form, every 64 Ki values) so
// that a huge payload is abandoned soon after its time is up; a single
// OpenSSL call or SQLite read is not interrupted (the size limit bounds it).
class TimeBudget {
 public:
  explicit TimeBudget(const ArchiveOneContext& ctx)
      : clock_(ctx.clock != nullptr ? *ctx.clock : system_clock()),
        started_(clock_.now()),
        seconds_(ctx.limits.entry_seconds) {}

  // A reason to skip the entry if the budget is spent after `stage`.
  std::optional<std::string> exceeded(const char* stage) const {
    const double spent = clock_.now() - started_;
    if (spent <= static_cast<double>(seconds_)) return std::nullopt;
    return reason(spent, std::string("by the end of ") + stage);
  }
  // The reason for an entry abandoned inside `stage` when its time ran out.
  std::string abandoned(const char* stage) const {
    return reason(clock_.now() - started_, std::string("and was abandoned during ") + stage);
  }
  Deadline deadline() const { return Deadline(clock_, started_ + static_cast<double>(seconds_)); }

 private:
  std::string reason(double spent, const std::string& when) const {
    char took[32];
    std::snprintf(took, sizeof took, "%.1f", spent);
    return std::string("entry took ") + took + " s, over the " + std::to_string(seconds_) +
           "-second budget (limits.entry_seconds), " + when +
           ": if the store or this machine was only slow for a while, 'requeue --state error'; "
           "otherwise raise limits.entry_seconds";
  }

  Clock& clock_;
  double started_;
  std::uint64_t seconds_;
};


// A document the archive cannot hold (MongoDB: an integer beyond 64 bits,
// ...) is this entry's error, not a failed group commit to retry.
EntryOutcome accept(EntryOutcome out, RawDocument document, const ArchiveOneContext& ctx) {
  if (ctx.archive != nullptr) {
    if (auto why = ctx.archive->validate(document)) {
      out.result.fate = EntryFate::kError;
      out.result.reason = std::move(*why);
      return out;
    }
  }
  out.result.fate = EntryFate::kProcessed;
  out.result.refs = {document.hash};
  out.document = std::move(document);
  return out;
}

// The stages up to a decision, without the exception guard.
EntryOutcome decide(const CacheEntry& entry, const ArchiveOneContext& ctx) {
  const TimeBudget budget(ctx);
  if (auto bad = bad_metadata(entry)) return skip(entry, EntryFate::kBadData, std::move(*bad));
  std::vector<std::uint8_t> fetched;
  std::span<const std::uint8_t> blob;
  if (entry.blob.has_value()) {
    blob = *entry.blob;
  } else {
    auto got = ctx.blobs->fetch_blob(entry, ctx.limits.max_blob_bytes);
    if (!got) {
      if (got.error().kind == ErrorKind::kBadData) {
        return skip(entry, EntryFate::kBadData, got.error().message + ": upload the file again");
      }
      if (got.error().kind == ErrorKind::kLimit) {
        return skip(entry, EntryFate::kBadData, got.error().message + kRaiseBlobLimit);
      }
      EntryOutcome out;
      out.result.id = entry.id;
      out.transient_error = got.error();
      return out;
    }
    fetched = std::move(*got);
    blob = fetched;
    if (auto over = budget.exceeded("fetching the blob")) {
      EntryOutcome out = skip(entry, EntryFate::kError, std::move(*over));
      out.blob_bytes = blob.size();
      return out;
    }
  }
  if (blob.size() > ctx.limits.max_blob_bytes) {
    return skip(entry, EntryFate::kBadData,
                "blob is " + std::to_string(blob.size()) + " bytes, over the " +
                    std::to_string(ctx.limits.max_blob_bytes) + "-byte limit (limits.max_blob_bytes)" +
                    kRaiseBlobLimit);
  }

  auto plaintext = decrypt_envelope_any(blob, ctx.keys);
  const std::uint64_t blob_bytes = blob.size();
  fetched.clear();
  fetched.shrink_to_fit();  // the ciphertext is not needed past this point
  if (!plaintext) {
    EntryOutcome out = skip(entry, EntryFate::kBadData, plaintext.error().message);
    out.blob_bytes = blob_bytes;
    return out;
  }
  if (auto over = budget.exceeded("decryption")) {
    EntryOutcome out = skip(entry, EntryFate::kError, std::move(*over));
    out.blob_bytes = blob_bytes;
    return out;
  }
  // Zero bytes after the text let parsemain parse it where it is (no copy
  // of the payload); decrypt_envelope reserved room for them.
  const std::size_t text_size = plaintext->size();
  plaintext->resize(text_size + kDocumentTextPadding, 0);
  const std::string_view text(reinterpret_cast<const char*>(plaintext->data()), text_size);
  if (!is_valid_utf8(text)) {
    EntryOutcome out = skip(entry, EntryFate::kBadData,
                            "payload is not valid UTF-8 (first bad byte at offset " +
                                std::to_string(first_invalid_utf8(text)) +
                                "): upstream decodes uploads as UTF-8; re-upload it as UTF-8");
    out.blob_bytes = blob_bytes;
    return out;
  }

  ParseOutcome parsed =
      parsemain(*ctx.registry, entry.typetag, entry.orgid, entry.timezone, text, ctx.limits,
                ParseControls{.text_padded = true, .deadline = budget.deadline()});
  if (parsed.abandoned) {
    EntryOutcome out = skip(entry, EntryFate::kError, budget.abandoned("parsing and hashing"));
    out.blob_bytes = blob_bytes;
    return out;
  }
  if (auto over = budget.exceeded("parsing and hashing")) {
    EntryOutcome out = skip(entry, EntryFate::kError, std::move(*over));
    out.blob_bytes = blob_bytes;
    return out;
  }
  EntryOutcome out;
  out.blob_bytes = blob_bytes;
  out.result.id = entry.id;
  switch (parsed.state) {
    case ParseState::kSuccess:
      return accept(std::move(out), std::move(parsed.document), ctx);
    case ParseState::kNotSupported:
      out.result.fate = EntryFate::kNotSupported;
      break;
    case ParseState::kError:
      out.result.fate = EntryFate::kError;
      break;
  }
  out.result.reason = std::move(parsed.reason);
  return out;
}

}  // namespace

EntryOutcome archive_one(const CacheEntry& entry, const ArchiveOneContext& ctx) {
  // A hostile payload may still exhaust memory within the limits (or hit a
  // bug): that is this entry's error, never the process's end. The entry is
  // skipped with a reason and the rest of its batch goes on.
  try {
    return decide(entry, ctx);
  } catch (const std::bad_alloc&) {
    return skip(entry, EntryFate::kError,
                "ran out of memory while archiving this entry (payload of " +
                    std::to_string(entry.blob_size) +
                    " encrypted bytes): lower limits.max_blob_bytes or give the service more "
                    "memory, then 'requeue --state error'");
  } catch (const std::exception& e) {
    return skip(entry, EntryFate::kError,
                std::string("internal error while archiving this entry (") + e.what() +
                    "): report it with 'inspect " + entry.id + "', then 'requeue --state error'");
  }
}

}  // namespace cybexp
