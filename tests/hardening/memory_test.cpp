// Peak memory of one entry by JSON shape (issue 15), end to end: each test
// stores one genuine envelope of a payload of that shape in a SQLite cache,
// runs the real binary (`run --once`, SQLite archive) and checks the
// process's peak RSS (wait4) against the bound, 4 times the payload
// plus 32 MiB. Payloads are large enough (16-24 MiB) for the per-byte term
// to dominate the 32 MiB.
//
// The process itself is about 18 MiB; beyond it every shape holds the
// plaintext (1 P) and json.dumps's text (1 to 1.5 P); objects and arrays
// of strings or containers add the tape (8 bytes a value); arrays of
// distinct items their canonical strings with the de-duplication table,
// then 16-byte sort entries. Runs of scalars cost no tape (document.h), and
// a document nested too deep to archive is refused before its tape is
// built. docs/PERFORMANCE.md has the figures.
//
// Under AddressSanitizer (CI runs every test there too) the process carries
// shadow memory, redzones and a quarantine of freed blocks: the bound is
// doubled and given kSanitizerSlackKib, and the test says so.
#include <cstdio>
#include <string>

#include "cybexp/canonical.h"
#include "cybexp/envelope.h"
#include "store/backends.h"
#include "hardening/hardening_support.h"

namespace cybexp::testing {
namespace {

constexpr std::size_t kMiB = 1 << 20;

struct EntryRun {
  RunResult child;
  long payload_kib = 0;
  long bound_kib = 0;
};

// Stores `payload` as the only entry, runs the binary once, and reports.
EntryRun run_once(const std::string& shape, const std::string& payload) {
  TempDir dir;
  const auto config = make_home(dir);
  {
    auto pub = PublicKey::load_file(dir / "pub.pem");
    EXPECT_TRUE(pub.has_value());
    auto blob = encrypt_envelope(
        {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()}, *pub);
    EXPECT_TRUE(blob.has_value());
    auto cache = open_sqlite_cache((dir / "cache.db").string());
    EXPECT_TRUE(cache.has_value());
    EXPECT_TRUE(
        (*cache)->add_entry({shape, "unr-honeypot", "identity--x", "UTC", 1.0}, *blob).has_value());
  }
  EntryRun r;
  r.child = run_binary(dir.path(), {"-c", config.string(), "run", "--once"});
  r.payload_kib = static_cast<long>(payload.size() / 1024);
  r.bound_kib = 4 * r.payload_kib + 32 * 1024;
  if (kSanitizerSlackKib > 0) r.bound_kib = 2 * r.bound_kib + kSanitizerSlackKib;
  std::printf("%s: %ld KiB payload, %.2f s, peak RSS %ld KiB (%.2f x payload); bound %ld KiB (4 x + 32 MiB%s)\n",
              shape.c_str(), r.payload_kib, r.child.seconds, r.child.max_rss_kib,
              static_cast<double>(r.child.max_rss_kib) / static_cast<double>(r.payload_kib), r.bound_kib,
              kSanitizerSlackKib > 0 ? ", doubled plus slack: AddressSanitizer build" : "");
  return r;
}

void expect_processed(const EntryRun& r) {
  EXPECT_EQ(r.child.code, 0) << r.child.err;
  EXPECT_TRUE(r.child.out.starts_with("processed 1,")) << r.child.out << r.child.err;
  EXPECT_LT(r.child.max_rss_kib, r.bound_kib)
      << "peak RSS " << r.child.max_rss_kib << " KiB for a " << r.payload_kib << " KiB payload";
}

// [12345678, 12345679, ...]: distinct integers, as counters and ports come.
TEST(HardeningMemory, FlatArrayOfIntegers) {
  std::string p = "[";
  for (std::uint64_t i = 0; p.size() < 16 * kMiB; ++i) p += std::to_string(10000000 + i * 7) + ", ";
  p += "0]";
  expect_processed(run_once("flat-integers", p));
}

// [0,0,0,...]: the densest array there is, 2 bytes a value, all duplicates.
TEST(HardeningMemory, FlatArrayOfZeros) {
  std::string p = "[0";
  p.reserve(16 * kMiB + 8);
  while (p.size() < 16 * kMiB) p += ",0";
  p += "]";
  expect_processed(run_once("flat-zeros", p));
}

// {"k0000000": 0, "k0000001": 1, ...}: an object with a million keys.
TEST(HardeningMemory, ObjectWithAMillionKeys) {
  std::string p = "{";
  char buf[48];
  for (int i = 0; p.size() < 24 * kMiB; ++i) {
    const int n = std::snprintf(buf, sizeof buf, "\"k%07d\": %d, ", i, i);
    p.append(buf, static_cast<std::size_t>(n));
  }
  p += "\"end\": null}";
  expect_processed(run_once("wide-object", p));
}

// [[1, 2], [3, 4], ...]: many small arrays, each sorted on its own.
TEST(HardeningMemory, ArrayOfSmallArrays) {
  std::string p = "[";
  for (std::uint64_t i = 0; p.size() < 16 * kMiB; ++i)
    p += "[" + std::to_string(i) + ", " + std::to_string(i * 3 + 1) + "], ";
  p += "[]]";
  expect_processed(run_once("small-arrays", p));
}

// ["a0", "b1", ...]: many short strings.
TEST(HardeningMemory, ManyShortStrings) {
  std::string p = "[";
  for (std::uint64_t i = 0; p.size() < 16 * kMiB; ++i) {
    p += "\"";
    p += static_cast<char>('a' + i % 26);
    p += std::to_string(i % 100000) + "\", ";
  }
  p += "\"\"]";
  expect_processed(run_once("short-strings", p));
}

// A few long strings with escapes and non-ASCII text.
TEST(HardeningMemory, LongStrings) {
  std::string chunk;
  while (chunk.size() < 6 * kMiB) chunk += "line \\\"quoted\\\" caf\xc3\xa9 \\t tab\\n";
  std::string p = "{\"a\": \"" + chunk + "\", \"b\": [\"" + chunk + "\", \"" + chunk +
                  "\"], \"c\": {\"d\": \"" + chunk + "\"}}";
  expect_processed(run_once("long-strings", p));
}

// Realistic batches: honeypot events with nested objects, floats and tags.
TEST(HardeningMemory, HoneypotEvents) {
  std::string p = "{\"events\": [";
  char buf[512];
  for (int i = 0; p.size() < 24 * kMiB; ++i) {
    const int n = std::snprintf(
        buf, sizeof buf,
        "%s{\"eventid\": \"cowrie.login.failed\", \"src_ip\": \"203.0.%d.%d\", \"src_port\": %d, "
        "\"session\": \"s%08d\", \"username\": \"root\", \"password\": \"pw%d\", \"duration\": %d.%02d, "
        "\"geo\": {\"country\": \"US\", \"lat\": %d.5, \"lon\": -%d.25}, \"tags\": [\"ssh\", \"t%d\"]}",
        i ? ", " : "", i % 256, i / 256 % 256, 1024 + i % 60000, i, i % 1000, i % 90, i % 100, i % 90,
        i % 180, i % 7);
    p.append(buf, static_cast<std::size_t>(n));
  }
  p += "]}";
  expect_processed(run_once("honeypot", p));
}

// Nesting up to the depth limit (255 levels under the root array), many
// times over: the canonical form would double 255 times, so the entry is
// refused by the canonical size limit, in memory proportional to it.
TEST(HardeningMemory, DeepNestingToTheLimitIsRefusedInBoundedMemory) {
  std::string chain = std::string(254, '[') + "1" + std::string(254, ']');
  std::string p = "[";
  for (int i = 0; p.size() < 16 * kMiB; ++i) p += (i ? ", " : "") + chain;
  p += "]";
  const EntryRun r = run_once("deep", p);
  EXPECT_EQ(r.child.code, 0) << r.child.err;
  EXPECT_TRUE(r.child.out.starts_with("processed 0, skipped 1 (error 1)")) << r.child.out;
  // Refused at the first level whose canonical form cannot fit the limit
  // (8 times the payload here), before the rest had a tape.
  const std::uint64_t limit = 8 * p.size();
  std::size_t depth = 1;
  while (canonical_nesting_lower_bound(depth) <= limit) ++depth;
  EXPECT_EQ(depth, 28u);
  EXPECT_NE(r.child.err.find("canonical form would be at least " +
                             std::to_string(canonical_nesting_lower_bound(depth)) + " bytes, over the " +
                             std::to_string(limit) + "-byte limit (it nests 28 levels deep)"),
            std::string::npos)
      << r.child.err;
  EXPECT_LT(r.child.max_rss_kib, r.bound_kib)
      << "peak RSS " << r.child.max_rss_kib << " KiB for a " << r.payload_kib << " KiB payload";
}

}  // namespace
}  // namespace cybexp::testing
