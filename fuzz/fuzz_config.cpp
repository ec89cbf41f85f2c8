// Fuzz target: the configuration loader (src/config). The input is the file's
// text. A configuration is accepted with every value in range, or refused as
// kInvalidArgument with a message that names the file.
#include <cstdint>
#include <string_view>

#include "cybexp/config.h"
#include "fuzz_support.h"

using namespace cybexp;
using cybexp::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::filesystem::path origin = "/etc/cybexp/fuzz.json";
  auto c = parse_config(text, origin);
  if (!c) {
    check(c.error().kind == ErrorKind::kInvalidArgument, "a bad configuration is kInvalidArgument");
    check(c.error().message.starts_with("/etc/cybexp/fuzz.json: "), "errors name the file");
    return 0;
  }
  check(!c->cache.url.empty() && !c->archive.url.empty(), "both stores have a URL");
  check(!c->private_keys.empty(), "at least one private key");
  for (const auto& k : c->private_keys) check(k.is_absolute(), "key paths are resolved");
  check(c->public_key.is_absolute(), "public key path is resolved");
  check(c->lease_seconds >= 1 && c->lease_seconds <= 86400, "lease_seconds in range");
  const Limits& l = c->limits;
  check(l.max_blob_bytes >= 1 && l.max_blob_bytes <= (1ull << 40), "max_blob_bytes in range");
  check(l.max_canonical_bytes >= 1 && l.max_canonical_bytes <= (1ull << 40),
        "max_canonical_bytes in range");
  check(l.canonical_payload_factor <= 1024, "canonical_payload_factor in range");
  check(l.max_depth >= 1 && l.max_depth <= 10000, "max_depth in range");
  check(l.entry_seconds >= 1 && l.entry_seconds <= 86400, "entry_seconds in range");
  return 0;
}
