// cybexp-bench-parse: runs parsemain on one generated payload, for profiling
// with valgrind (callgrind instruction counts are stable on a shared
// machine, wall-clock times are not):
//
//   valgrind --tool=callgrind build/release/bench/cybexp-bench-parse honeypot 1048576 3
//
// SHAPE is honeypot (bench/honeypot_payload.h), zeros (a flat array) or
// file (SIZE is then a path to read the payload from);
// prints the payload size, the _hash and the size of the data written.
#include <cstdio>
#include <map>
#include <string>

#include "cybexp/parsemain.h"
#include "honeypot_payload.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: cybexp-bench-parse honeypot|zeros|file SIZE|PATH [ITERATIONS]\n");
    return 2;
  }
  const std::string shape = argv[1];
  const std::size_t size = shape == "file" ? 0 : std::stoull(argv[2]);
  const int iterations = argc > 3 ? std::stoi(argv[3]) : 1;
  std::string p;
  if (shape == "honeypot") {
    p = cybexp::bench::honeypot_batch(1, size);
  } else if (shape == "zeros") {
    p = "[0";
    while (p.size() + 3 < size) p += ",0";
    p += "]";
  } else if (shape == "file") {
    std::FILE* f = std::fopen(argv[2], "rb");
    if (f == nullptr) return 1;
    char buf[1 << 16];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) p.append(buf, n);
    std::fclose(f);
  } else {
    std::fprintf(stderr, "unknown shape %s\n", shape.c_str());
    return 2;
  }
  const std::map<std::string, std::string> registry{{"unr-honeypot", "unr_honeypot"}};
  for (int i = 0; i < iterations; ++i) {
    const auto out = cybexp::parsemain(registry, "unr-honeypot", "org", "UTC", p,
                                       cybexp::Limits{});
    if (i + 1 == iterations)
      std::printf("%zu bytes: state %d, _hash %s, data %zu bytes\n", p.size(),
                  static_cast<int>(out.state), out.document.hash.c_str(),
                  out.document.data_json.size());
  }
  return 0;
}
