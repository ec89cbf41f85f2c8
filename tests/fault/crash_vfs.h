// Power loss for the embedded store: a SQLite VFS over the unix one that
// remembers, per file, what was written since that file's last xSync, and
// cuts the power at a chosen event (the Nth xSync or the Nth xWrite counted
// across all files). From the cut on, every read, write, sync, truncate,
// delete and open fails (SQLITE_IOERR_*), as for a machine that lost power
// while the process still runs; locks and closes pass, so the test can close
// its stores. reboot() then does what the disk would show after the power
// came back:
//
//   - every file is rolled back to its content at its last xSync: each write
//     and truncate since then is undone (writes go through to the real file
//     at once; the bytes they overwrote are kept in memory, like an undo log),
//     and the file is cut back to its size at that sync;
//   - optionally (Plan::torn) the write the power went out on lands in part:
//     whole 512-byte sectors from its start, never all of it;
//   - each database's -shm file is deleted (shared memory: a reboot loses it;
//     SQLite rebuilds the WAL index from the WAL).
//
// The model is the strict one: nothing that was not synced survives, in any
// file, whatever the order it was written in. Directory entries are taken as
// durable (files created or deleted stay so); SQLite syncs the directory
// itself where it matters.
//
// Use: install() once, then a Session per simulated machine run (it makes the
// crash VFS the process's default and gives the previous default back at the
// end, so tests that install another shim are unaffected); arm() before
// opening anything; run; close every connection; reboot(); check.
#pragma once

#include <cstdint>
#include <string>

namespace cybexp::testing::crash {

enum class Event { kNone, kSync, kWrite };

struct Plan {
  Event event = Event::kNone;  // kNone: count events, never cut
  std::uint64_t n = 0;         // the power goes at the nth event of that kind (from 1):
                               // kSync: once that sync has completed;
                               // kWrite: instead of that write
  bool torn = false;           // kWrite: that write lands in part (sectors from its start)
};

void install();

// The crash VFS is the default while a Session lives.
class Session {
 public:
  Session();
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

 private:
  void* previous_;
};

// Forgets every file's history and starts counting from 0.
void arm(const Plan& plan);
bool power_lost();

struct Counts {
  std::uint64_t writes = 0;  // xWrite calls on files with a name (not temp files)
  std::uint64_t syncs = 0;
};
Counts counts();

// Call with every connection closed. Rolls the files back as described above,
// stops failing I/O and disarms; returns a line saying what was dropped (for
// SCOPED_TRACE), e.g. "cut at write 812 (torn: 2 of 33 sectors of
// /tmp/x/archive.db-wal @ 98304); dropped 6 writes, 1 truncate in 2 files".
std::string reboot();

}  // namespace cybexp::testing::crash
