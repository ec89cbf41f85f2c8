// The real cybexp-archive binary as a background process (for `run` without
// --once): started with fork/exec in a directory, with extra environment,
// stdout and stderr to files; stopped with a signal and reaped. Plus
// `eventually`, the bounded poll the end-to-end tests wait with.
//
// Thread safety: one Daemon per test thread.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/temp_dir.h"

namespace cybexp::testing {

// Polls pred every 20 ms until it holds (true) or timeout passes (false).
inline bool eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

class Daemon {
 public:
  // env values equal to "$PID" become the child's own pid (WATCHDOG_PID).
  Daemon(const std::filesystem::path& dir, const std::vector<std::string>& args,
         const std::vector<std::pair<std::string, std::string>>& env = {}) {
    static int counter = 0;
    const std::string tag = std::to_string(counter++);
    out_ = dir / ("daemon.out." + tag);
    err_ = dir / ("daemon.err." + tag);
    pid_ = fork();
    if (pid_ != 0) return;
    // Child: only async-signal-safe work is strictly needed here, but the
    // parent is a single-threaded test at this point.
    if (chdir(dir.c_str()) != 0) _exit(126);
    int out = open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0 || err < 0) _exit(126);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    for (const auto& [k, v] : env)
      setenv(k.c_str(), v == "$PID" ? std::to_string(getpid()).c_str() : v.c_str(), 1);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(CYBEXP_BINARY));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(CYBEXP_BINARY, argv.data());
    _exit(127);
  }
  ~Daemon() {
    if (running()) stop(SIGKILL);
  }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && !reaped_; }
  std::string out() const { return read_file(out_); }
  std::string err() const { return read_file(err_); }

  // Sends sig and waits for the exit: the exit code, or 128 + the signal.
  int stop(int sig = SIGTERM) {
    if (!running()) return -1;
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::filesystem::path out_, err_;
};

}  // namespace cybexp::testing
