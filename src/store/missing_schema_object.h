// The line `check --deep` prints for a table or index a backend expects but
// does not find, with what to do about it: one wording for every backend.
//
// Thread safety: a pure function.
#pragma once

#include <string>
#include <string_view>

namespace cybexp {

// where: the store as the other check lines name it ("sqlite PATH", a
// server label); kind: "file" or "database", what was changed by hand.
inline std::string missing_schema_object(std::string_view where, std::string_view kind,
                                         std::string_view type, std::string_view name) {
  std::string line(where);
  line.append(": schema: ").append(type).append(" ").append(name);
  line.append(" is missing (was the ").append(kind).append(" changed by hand?): restore the ");
  line.append(kind).append(" from a backup, or recreate what is missing as docs/OPERATIONS.md ");
  line.append("(\"Checking the stores\") says");
  return line;
}

}  // namespace cybexp
