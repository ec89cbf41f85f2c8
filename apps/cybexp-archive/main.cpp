// cybexp-archive: a shim; everything lives in the library (src/cli).
#include <malloc.h>

#include "cli/cli.h"
#if CYBEXP_WITH_MONGO
#include "store/mongo/library_log.h"
#endif

#if CYBEXP_WITH_MONGO
namespace {

// Runs before every library's constructor, libmongoc's among them; see
// store/mongo/library_log.h for what it would print otherwise.
void before_libraries(int /*argc*/, char** /*argv*/, char** /*envp*/) {
  cybexp::mongo::quiet_library_log_before_main();
}
[[gnu::used, gnu::section(".preinit_array")]] void (*const kBeforeLibraries)(int, char**, char**) =
    &before_libraries;

}  // namespace
#endif

int main(int argc, char** argv) {
  // Buffers of a few MiB are allocated and freed for every large entry.
  // glibc would serve each from a fresh mmap and zero it again; keep those
  // on the heap for reuse instead (measured: most of the kernel time on
  // 1 MiB entries). Blocks of 8 MiB and more (the blob, plaintext, tape and
  // tables of large payloads) are mmapped, so each goes back to the system
  // as soon as it is freed: on the heap a freed block below a live one
  // stays resident, and one entry's peak held every stage's leftovers
  // (issue 15, docs/PERFORMANCE.md "Memory per entry").
  mallopt(M_MMAP_THRESHOLD, 8 << 20);
  mallopt(M_TRIM_THRESHOLD, 16 << 20);
  return cybexp::run_cli(argc, argv);
}
