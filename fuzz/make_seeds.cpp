// Writes the seed corpora for the fuzz targets into OUTDIR/<target>/, from
// the interoperability vectors (tests/data/vectors.jsonl: envelopes and
// plaintexts made by the upstream stack) and the sample configurations.
// scripts/fuzz.sh runs it before fuzzing.
//
//   make_seeds OUTDIR
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cybexp/json_value.h"
#include "util/encoding.h"

namespace fs = std::filesystem;
using namespace cybexp;

namespace {

// Inputs over this are left out: libFuzzer runs with -max_len 65536.
constexpr std::size_t kMaxSeed = 60000;

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

int written = 0;

void write(const fs::path& dir, const std::string& name, const std::string& bytes) {
  if (bytes.size() > kMaxSeed) return;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
  ++written;
}

std::string str(const Value& obj, std::string_view key) {
  const Value* v = obj.find(key);
  return v != nullptr && v->is_string() ? v->as_string() : std::string();
}

std::string bytes(const std::string& b64) {
  auto d = base64_decode(b64);
  return d ? std::string(d->begin(), d->end()) : std::string();
}

// fuzz_archive_one's framing: a length byte, then the field.
std::string field(const std::string& s) {
  const std::string cut = s.substr(0, 63);
  return std::string(1, static_cast<char>(cut.size())) + cut;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds OUTDIR\n");
    return 2;
  }
  const fs::path out = argv[1];
  const fs::path src = CYBEXP_SOURCE_DIR;
  std::ifstream vectors(src / "tests/data/vectors.jsonl");
  std::string line;
  int n = 0;
  while (std::getline(vectors, line)) {
    auto v = parse_json_strict(line, "vectors.jsonl");
    if (!v) continue;
    const std::string name = str(*v, "name");
    const std::string blob = bytes(str(*v, "blob_b64"));
    const std::string plain = bytes(str(*v, "plaintext_b64"));
    const std::string meta =
        field(str(*v, "typetag")) + field(str(*v, "orgid")) + field(str(*v, "timezone"));
    write(out / "fuzz_envelope", name + ".blob", '\0' + blob);
    if (blob.size() > 256) write(out / "fuzz_envelope", name + ".eax", '\1' + blob.substr(256));
    write(out / "fuzz_envelope", name + ".plain", '\3' + plain);
    write(out / "fuzz_envelope", name + ".roundtrip",
          "\2\2\20\4" + std::string(16, 'n') + "head" + plain);
    write(out / "fuzz_json", name, plain);
    write(out / "fuzz_archive_one", name + ".sealed", '\1' + meta + plain);
    write(out / "fuzz_archive_one", name + ".blob", '\0' + meta + blob);
    if (n++ % 4 == 0) write(out / "fuzz_archive_one", name + ".fetched", '\3' + meta + plain);
  }
  // Configurations: the packaged example, the README's, an upstream file.
  write(out / "fuzz_config", "archive.example.json", read(src / "packaging/archive.example.json"));
  write(out / "fuzz_config", "readme.json",
        R"({"cache":   {"url": "sqlite:cybexp-data/cache.db", "private_key": "priv.pem"},
 "archive": {"url": "sqlite:/var/lib/cybexp/archive.db"},
 "public_key": "pub.pem",
 "lease_seconds": 300,
 "limits": {"max_blob_bytes": 268435456, "max_canonical_bytes": 67108864,
            "canonical_payload_factor": 8, "max_depth": 256, "entry_seconds": 60}})");
  write(out / "fuzz_config", "upstream.json",
        R"({"archive": {"mongo_url": "mongodb://a:27017", "db": "tahoe_db", "coll": "instance"},
 "cache": {"mongo_url": "mongodb://c:27017", "db": "cache_db", "coll": "file_entries",
           "private_key": ["k1.pem", "/abs/k2.pem"]},
 "api": {"anything": 1}, "identity": {}, "report": [], "analytics": null, "tahoe": {}})");
  write(out / "fuzz_config", "postgres.json",
        R"({"cache": {"url": "postgresql://archive@db/cybexp?sslmode=require"},
 "archive": {"url": "postgresql://archive@db/cybexp"}, "lease_seconds": 60})");
  std::printf("make_seeds: %d seed files under %s\n", written, out.c_str());
  return written > 0 ? 0 : 1;
}
