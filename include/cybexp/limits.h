// The bounds put on everything that comes from an upload: blob size,
// canonical size, nesting depth and time per entry. Its own header so that
// parsing and archiving need not include the configuration or the stores.
//
// Thread safety: a plain value.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cybexp {

struct Limits {
  std::uint64_t max_blob_bytes = 256ull << 20;
  std::uint64_t max_canonical_bytes = 64ull << 20;  // or factor x payload, whichever is larger
  std::uint64_t canonical_payload_factor = 8;
  std::size_t max_depth = 256;
  // Wall-clock budget for one entry in archive_one (fetch, decrypt, parse and
  // hash), checked between those stages and inside the parse and the
  // canonical form (every 64 Ki values): an entry over it is skipped as
  // `error`, abandoned midway if need be. The size and depth limits above
  // bound each stage; this catches what they cannot (a stalled store read,
  // a pathologically slow payload).
  std::uint64_t entry_seconds = 60;
  // Quarantine: an entry claimed this many times without being finished (its
  // worker died, or was killed, on it every time) is skipped as `error` at
  // its next claim, so one poison upload cannot crash-loop the daemon.
  // `requeue` resets the count.
  std::uint64_t max_attempts = 5;
  // The working memory of large entries in flight (the bytes each may hold
  // while it is decrypted and parsed: working_memory_bound in document.h,
  // then its document until the commit). One entry that needs more than
  // the whole budget runs alone. The systemd unit's MemoryMax= is sized
  // from it and from max_blob_bytes.
  std::uint64_t memory_budget = 1ull << 30;
};

}  // namespace cybexp
