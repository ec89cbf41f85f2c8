// Fuzz target: the JSON-to-canonical path (src/tahoe, src/parse). The input
// is a decrypted payload. Besides not crashing, the code must keep these:
//   - the strict (configuration) parser accepts a subset of the Python one,
//     with the same meaning;
//   - json.dumps output parses back to the same value (what `export` writes
//     must be what the analytics module reads);
//   - canonical_size() is exact, the canonical limit is honoured, and the
//     streamed _hash equals SHA-256 over the built canonical string;
//   - a document parsemain builds hashes to its own _hash when its stored
//     data is parsed again (what the analytics module recomputes).
#include <openssl/evp.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "cybexp/canonical.h"
#include "cybexp/document.h"
#include "cybexp/json_value.h"
#include "cybexp/parsemain.h"
#include "cybexp/python_json.h"
#include "fuzz_support.h"
#include "util/encoding.h"

using namespace cybexp;
using cybexp::fuzz::check;

namespace {

constexpr std::uint64_t kCanonicalLimit = 1 << 20;
constexpr std::size_t kDepth = 256;

std::string sha256_hex(std::string_view a, std::string_view b, std::string_view c) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  check(ctx != nullptr && EVP_DigestInit_ex2(ctx, EVP_sha256(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx, a.data(), a.size()) == 1 &&
            EVP_DigestUpdate(ctx, b.data(), b.size()) == 1 &&
            EVP_DigestUpdate(ctx, c.data(), c.size()) == 1 &&
            EVP_DigestFinal_ex(ctx, digest, &len) == 1,
        "SHA-256");
  EVP_MD_CTX_free(ctx);
  return to_hex(std::span<const std::uint8_t>(digest, len));
}

void check_value(const Value& v) {
  const std::string dumped = python_json(v);
  JsonParseResult again = parse_python_json(dumped, JsonLimits{kDepth});
  check(again.status == JsonParseStatus::kOk, "json.dumps output parses");
  check(python_json(again.value) == dumped, "json.dumps/json.loads round trip");

  const std::uint64_t size = canonical_size(v);
  auto built = canonical(v, kCanonicalLimit);
  auto hash = raw_hash("fuzz_sub", v, kCanonicalLimit);
  if (size > kCanonicalLimit) {
    check(!built && built.error().kind == ErrorKind::kLimit, "canonical() honours its limit");
    check(!hash && hash.error().kind == ErrorKind::kLimit, "raw_hash() honours its limit");
    return;
  }
  check(built.has_value() && built->size() == size, "canonical_size() is exact");
  check(hash.has_value() && *hash == sha256_hex("raw", "fuzz_sub", *built),
        "streamed _hash equals SHA-256 of the built canonical form");
}

void check_parsemain(std::string_view text) {
  static const std::map<std::string, std::string> registry = {{"fuzz", "fuzz_sub"}};
  Limits limits;
  limits.max_canonical_bytes = kCanonicalLimit;
  limits.canonical_payload_factor = 8;
  limits.max_depth = kDepth;
  ParseOutcome o = parsemain(registry, "fuzz", "org", "UTC", text, limits);
  if (o.state != ParseState::kSuccess) {
    check(o.state == ParseState::kError && !o.reason.empty(), "a refusal has a reason");
    return;
  }
  check(o.document.sub_type == "fuzz_sub" && o.document.hash.size() == 64, "document fields");
  JsonParseResult stored = parse_python_json(o.document.data_json, JsonLimits{kDepth + 1});
  check(stored.status == JsonParseStatus::kOk, "stored data parses");
  auto rehash = raw_hash("fuzz_sub", stored.value, UINT64_MAX);
  check(rehash && *rehash == o.document.hash, "stored data hashes to the document's _hash");
}

int status_code(JsonParseStatus s) {
  switch (s) {
    case JsonParseStatus::kOk:
      return DocumentParseResult::kOk;
    case JsonParseStatus::kNotJson:
      return DocumentParseResult::kNotJson;
    case JsonParseStatus::kLoneSurrogate:
      return DocumentParseResult::kLoneSurrogate;
    case JsonParseStatus::kTooDeep:
      return DocumentParseResult::kTooDeep;
  }
  return -1;
}

void check_document(std::string_view text, const JsonParseResult& parsed) {
  const DocumentParseResult d = parse_document(text, JsonLimits{kDepth});
  check(static_cast<int>(d.status) == status_code(parsed.status),
        "document and Value models agree on the parse status");
  if (parsed.status != JsonParseStatus::kOk) return;
  std::string dumped;
  append_python_json(d.document, dumped);
  check(dumped == python_json(parsed.value), "document and Value models write the same json.dumps");
  check(python_json_size(d.document) == dumped.size(), "python_json_size() is exact");
  auto hv = raw_hash("fuzz_sub", parsed.value, kCanonicalLimit);
  auto hd = raw_hash("fuzz_sub", d.document, kCanonicalLimit);
  check(hv.has_value() == hd.has_value() && (!hv || *hv == *hd),
        "document and Value models give the same _hash or both refuse");
}

// Given the canonical limit, the tape parse refuses a document that nests
// too deep for it only when the Value model refuses its _hash too, and
// otherwise ends as it does without the limit.
void check_early_refusal(std::string_view text, const JsonParseResult& parsed) {
  const DocumentParseResult d = parse_document(text, JsonLimits{kDepth, kCanonicalLimit});
  if (d.status != DocumentParseResult::kCanonicalTooLarge) {
    check(static_cast<int>(d.status) == status_code(parsed.status),
          "with the canonical limit, the parse status is as without it");
    return;
  }
  check(parsed.status == JsonParseStatus::kOk, "only JSON is refused for its nesting");
  check(!raw_hash("fuzz_sub", parsed.value, kCanonicalLimit).has_value(),
        "a document refused for its nesting is over the canonical limit");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  JsonParseResult parsed = parse_python_json(text, JsonLimits{kDepth});
  auto strict = parse_json_strict(text, "fuzz");
  if (strict) {
    check(parsed.status == JsonParseStatus::kOk, "strict JSON is Python JSON");
    check(python_json(*strict) == python_json(parsed.value), "strict and Python parses agree");
  }
  if (parsed.status == JsonParseStatus::kOk) check_value(parsed.value);
  check_document(text, parsed);
  check_early_refusal(text, parsed);
  // parsemain takes decrypted payloads that archive_one has checked are UTF-8.
  if (is_valid_utf8(text)) check_parsemain(text);
  return 0;
}
