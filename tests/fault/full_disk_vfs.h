// A disk that can fill up on demand, for the embedded store: a SQLite VFS
// registered as the process's default, forwarding to the real one, whose
// writes fail with SQLITE_FULL (what SQLite reports for ENOSPC) while
// set_full(true). Every SqliteStore opened after install() goes through it.
// Deterministic, unlike a real full file system, where rewrites of space
// already allocated still succeed; disk_full_test.cpp also runs one of those
// (a tiny tmpfs) when it may mount.
#pragma once

#include <string>

namespace cybexp::testing::full_disk {

void install();
// While full, writes to files whose path starts with path_prefix (every
// file when it is empty) fail.
void set_full(bool full, const std::string& path_prefix = "");
int refused_writes();  // writes refused so far

// Clears the condition on scope exit, so one failed test cannot leave the
// disk "full" for the next.
struct Guard {
  ~Guard() { set_full(false); }
};

}  // namespace cybexp::testing::full_disk
