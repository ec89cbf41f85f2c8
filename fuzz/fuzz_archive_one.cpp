// Fuzz target: archive_one on an in-memory entry, everything hostile: the
// entry's metadata (typetag, orgid, timezone) and its blob.
//
// Input: flags(1) | typetag | orgid | timezone | payload, each of the three
// fields a length byte (mod 64) then that many bytes. Flags: bit 0 set, the
// payload is a plaintext sealed into a genuine envelope (so the fuzzer
// reaches parsing); clear, it is the blob itself. Bit 1 set, the blob comes
// through CacheStore::fetch_blob rather than inline with the claim.
#include <cstdint>
#include <string>

#include "cybexp/archive_one.h"
#include "cybexp/canonical.h"
#include "cybexp/json_value.h"
#include "cybexp/python_json.h"
#include "fuzz_support.h"

using namespace cybexp;
using cybexp::fuzz::check;

namespace {

// fetch_blob from memory, with the store's size check: all archive_one
// needs of the cache.
class MemoryCache final : public BlobSource {
 public:
  std::vector<std::uint8_t> blob;
  Result<std::vector<std::uint8_t>> fetch_blob(const CacheEntry&, std::uint64_t max) override {
    if (blob.size() > max) return make_error(ErrorKind::kLimit, "blob over the limit");
    return blob;
  }
};

std::string take_field(std::span<const std::uint8_t>& in) {
  if (in.empty()) return {};
  const std::size_t n = std::min<std::size_t>(in[0] % 64, in.size() - 1);
  std::string s(reinterpret_cast<const char*>(in.data() + 1), n);
  in = in.subspan(1 + n);
  return s;
}

bool printable(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7F) return false;
  return true;
}

const std::map<std::string, std::string>& registry() {
  static const std::map<std::string, std::string> r = [] {
    auto m = default_subtypes();
    m["bad-sub"] = "not an identifier";  // a registry an operator got wrong
    return m;
  }();
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::FixedSession::get();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool sealed = (data[0] & 1) != 0;
  const bool fetched = (data[0] & 2) != 0;
  std::span<const std::uint8_t> in(data + 1, size - 1);
  CacheEntry entry;
  entry.id = "42";
  entry.typetag = take_field(in);
  entry.orgid = take_field(in);
  entry.timezone = take_field(in);
  const std::span<const std::uint8_t> payload = in;
  std::vector<std::uint8_t> blob = sealed
                                       ? fuzz::FixedSession::get().seal(payload)
                                       : std::vector<std::uint8_t>(payload.begin(), payload.end());
  entry.blob_size = blob.size();

  MemoryCache cache;
  const PrivateKey keys[] = {fuzz::keys().other, fuzz::keys().archive};
  ArchiveOneContext ctx;
  ctx.blobs = &cache;
  ctx.keys = keys;
  ctx.registry = &registry();
  ctx.limits.max_blob_bytes = 1 << 20;
  ctx.limits.max_canonical_bytes = 1 << 20;
  if (fetched)
    cache.blob = std::move(blob);
  else
    entry.blob = std::move(blob);

  const EntryOutcome out = archive_one(entry, ctx);
  check(!out.transient_error, "memory never fails like a store");
  check(out.result.id == "42", "the outcome is for this entry");
  if (out.result.processed()) {
    check(out.document.has_value() && out.result.refs.size() == 1 &&
              out.result.refs[0] == out.document->hash,
          "processed means one document, referenced by its _hash");
    check(out.document->hash.size() == 64 &&
              out.document->hash.find_first_not_of("0123456789abcdef") == std::string::npos,
          "_hash is lowercase hex SHA-256");
    check(out.document->sub_type == registry().at(entry.typetag), "sub type from the registry");
    check(out.document->orgid == entry.orgid && out.document->timezone == entry.timezone,
          "metadata kept as uploaded");
    JsonParseResult stored = parse_python_json(out.document->data_json, JsonLimits{300});
    check(stored.status == JsonParseStatus::kOk, "stored data parses");
    auto rehash = raw_hash(out.document->sub_type, stored.value, UINT64_MAX);
    check(rehash && *rehash == out.document->hash, "stored data hashes to the document's _hash");
    return 0;
  }
  const EntryFate fate = out.result.fate;
  check(fate == EntryFate::kBadData || fate == EntryFate::kError ||
            fate == EntryFate::kNotSupported,
        "a skip has one of the skip fates");
  check(!out.result.reason.empty(), "a skip has a reason");
  check(printable(out.result.reason), "reasons hold no control characters (they reach terminals)");
  check(!out.document.has_value(), "a skipped entry has no document");
  if (sealed) {
    const std::string_view plain(reinterpret_cast<const char*>(payload.data()), payload.size());
    auto text_ok = [](const std::string& s) {
      return is_valid_utf8(s) && s.find('\0') == std::string::npos;
    };
    const bool metadata_ok =
        text_ok(entry.typetag) && text_ok(entry.orgid) && text_ok(entry.timezone);
    check(fate != EntryFate::kBadData || !is_valid_utf8(plain) || !metadata_ok,
          "a genuine envelope is bad data only if its plaintext or metadata is damaged");
    // The payload never shows in a reason (unless it is also in the
    // metadata, which reasons may name: a harness false positive once).
    const bool in_metadata = entry.typetag.find(plain) != std::string::npos ||
                             entry.orgid.find(plain) != std::string::npos ||
                             entry.timezone.find(plain) != std::string::npos;
    check(plain.size() < 32 || in_metadata || out.result.reason.find(plain) == std::string::npos,
          "reasons never quote the payload");
  }
  return 0;
}
