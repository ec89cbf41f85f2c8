// cybexp-archive: a shim; everything lives in the library (src/cli).
#include <malloc.h>

#include "cli/cli.h"

int main(int argc, char** argv) {
  // Payload buffers of a few MiB are allocated and freed for every large
  // entry. glibc would serve each from a fresh mmap and zero it again; keep
  // them on the heap for reuse instead (measured: most of the kernel time
  // on 1 MiB entries). Memory stays bounded by the pipeline's byte budget.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
  return cybexp::run_cli(argc, argv);
}
