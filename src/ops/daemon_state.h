// Where a running daemon says what it does, for `status` and `wake`: one
// small JSON file per daemon, RUN_DIR/daemon-PID.json (run_dir in the
// configuration; /run/cybexp-archive under the packaged unit), rewritten
// atomically (temporary file, rename) at each change of state and removed at
// exit:
//
//   {"pid": 1234, "start_ticks": 98765, "worker": "host:1234:ab12cd34",
//    "state": "idle", "pending": 0, "next_pass_at": 1765130000.25,
//    "updated_at": 1765129940.0}
//
// state is starting, archiving, idle (asleep after a pass without work: new
// entries wake it), backoff (asleep after a store failure) or stopping;
// next_pass_at (seconds since the epoch, 0 when no sleep is planned) is when
// the sleep ends at the latest. start_ticks is the process's start time
// (/proc/PID/stat field 22): a file whose pid now names another process (the
// daemon was killed and the pid reused) is stale, never signalled.
//
// Thread safety: StatePublisher belongs to one thread (run()'s); the free
// functions may be called from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cybexp/result.h"

namespace cybexp::ops {

struct DaemonState {
  int pid = 0;
  std::uint64_t start_ticks = 0;
  std::string worker;
  std::string state = "starting";
  std::uint64_t pending = 0;
  double next_pass_at = 0;  // seconds since the epoch; 0: none planned
  double updated_at = 0;
};

class StatePublisher {
 public:
  // Publishes into `dir` (created if missing, 0755); if it cannot, one
  // warning says so and later publishes do nothing.
  explicit StatePublisher(const std::filesystem::path& dir);
  ~StatePublisher();  // removes the file
  StatePublisher(const StatePublisher&) = delete;
  StatePublisher& operator=(const StatePublisher&) = delete;

  DaemonState& state() { return state_; }
  void publish();  // writes state() (pid, start_ticks, updated_at filled in)

 private:
  std::filesystem::path file_;
  DaemonState state_;
  bool enabled_ = true;
};

// The live daemons publishing into `dir`, by pid (stale files skipped).
std::vector<DaemonState> read_daemons(const std::filesystem::path& dir);

// Sends SIGUSR1 to each live daemon in `dir`; the pids signalled, or the
// first failure (kNotFound when none is running).
Result<std::vector<int>> wake_daemons(const std::filesystem::path& dir);

// The process's start time in clock ticks since boot, or nullopt.
std::optional<std::uint64_t> process_start_ticks(int pid);

}  // namespace cybexp::ops
