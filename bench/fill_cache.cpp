// cybexp-bench-fill: adds N encrypted entries of about SIZE bytes of JSON to a
// cache store, fast (no process per entry), for the end-to-end benchmark.
//
//   cybexp-bench-fill CACHE_URL PUB_PEM COUNT SIZE [TYPETAG]
//
// Each payload is distinct (so every entry makes a new document), a batch of
// honeypot events with nested fields (bench/honeypot_payload.h).
#include <chrono>
#include <cstdio>
#include <string>

#include "cybexp/envelope.h"
#include "cybexp/store_factory.h"
#include "honeypot_payload.h"


int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: cybexp-bench-fill CACHE_URL PUB_PEM COUNT SIZE [TYPETAG]\n");
    return 2;
  }
  const std::string url = argv[1];
  const std::uint64_t count = std::stoull(argv[3]);
  const std::size_t size = std::stoull(argv[4]);
  const std::string typetag = argc > 5 ? argv[5] : "unr-honeypot";
  auto key = cybexp::PublicKey::load_file(argv[2]);
  if (!key) {
    std::fprintf(stderr, "%s\n", key.error().message.c_str());
    return 1;
  }
  // The archive side is not used; point it at the same URL.
  auto stores = cybexp::open_stores({url, "cache_db", "file_entries"}, {url, "tahoe_db", "instance"});
  if (!stores) {
    std::fprintf(stderr, "%s\n", stores.error().message.c_str());
    return 1;
  }
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  for (std::uint64_t n = 0; n < count; ++n) {
    std::string p = cybexp::bench::honeypot_batch(n, size);
    auto blob = cybexp::encrypt_envelope(
        {reinterpret_cast<const std::uint8_t*>(p.data()), p.size()}, *key);
    if (!blob) {
      std::fprintf(stderr, "%s\n", blob.error().message.c_str());
      return 1;
    }
    cybexp::NewEntry e{"bench-" + std::to_string(n), typetag, "identity--bench", "UTC", now};
    auto id = stores->cache->add_entry(e, *blob);
    if (!id) {
      std::fprintf(stderr, "%s\n", id.error().message.c_str());
      return 1;
    }
  }
  return 0;
}
