// What one pass of the archive loop reports back to the loop (internal).
#pragma once

#include <cstdint>
#include <optional>

#include "cybexp/archiver.h"

namespace cybexp {

struct Archiver::PassResult {
  std::uint64_t successes = 0;    // entries processed (upstream's "success")
  std::optional<Error> db_error;  // the store failed: back off and retry
  bool limit_reached = false;
};

}  // namespace cybexp
