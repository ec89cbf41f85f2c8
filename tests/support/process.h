// The one way tests run a program (the real cybexp-archive binary, mostly):
// fork and exec, no shell, in a directory, with extra environment, stdin
// from a file or /dev/null, stdout and stderr to files; waited for with a
// timeout, after which it is killed and the test fails.
//
//   RunResult r = run_binary(dir, {"status", "--json"});      // to its end
//   Process daemon(dir, binary_argv({"run"}), {.env = env});  // in the background
//   daemon.stop(SIGTERM);
//
// Thread safety: one Process per thread.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/temp_dir.h"

namespace cybexp::testing {

struct ProcessOptions {
  // Added to the environment; a value "$PID" becomes the child's own pid.
  std::vector<std::pair<std::string, std::string>> env;
  std::filesystem::path stdin_file;  // empty: /dev/null
  std::string name;                  // output in NAME.out, NAME.err; empty: a unique name
};

struct RunResult {
  int code = -1;  // exit code, or 128 + signal
  std::string out, err;
  double seconds = 0;    // wall clock
  long max_rss_kib = 0;  // the child's own peak memory
};

// argv for the binary under test.
inline std::vector<std::string> binary_argv(std::vector<std::string> args) {
  args.insert(args.begin(), CYBEXP_BINARY);
  return args;
}

class Process {
 public:
  Process(const std::filesystem::path& dir, std::vector<std::string> argv,
          ProcessOptions options = {}) {
    static std::atomic<int> counter{0};
    const std::string name =
        options.name.empty() ? "process." + std::to_string(counter++) : options.name;
    out_ = dir / (name + ".out");
    err_ = dir / (name + ".err");
    const std::string in = options.stdin_file.empty() ? "/dev/null" : options.stdin_file.string();
    started_ = std::chrono::steady_clock::now();
    pid_ = fork();
    if (pid_ == 0) exec_child(dir.string(), in, out_.string(), err_.string(), argv, options.env);
    if (pid_ < 0) ADD_FAILURE() << "fork failed";
  }
  ~Process() {
    if (running()) {
      ::kill(pid_, SIGKILL);
      wait(std::chrono::seconds(60));
    }
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && !exited_; }
  void signal(int sig) const {
    if (running()) ::kill(pid_, sig);
  }

  // Waits up to timeout for the end; true if it ended (code() and the rest
  // are then known).
  bool wait(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running()) {
      int status = 0;
      rusage usage{};
      if (wait4(pid_, &status, WNOHANG, &usage) == pid_) {
        exited_ = true;
        code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        max_rss_kib_ = usage.ru_maxrss;
        seconds_ =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return pid_ > 0;
  }
  // Sends sig and waits for the end (a minute at most, then SIGKILL and a
  // test failure): the exit code, or 128 + the signal.
  int stop(int sig = SIGTERM) {
    if (!running()) return code_;
    ::kill(pid_, sig);
    if (!wait(std::chrono::seconds(60))) {
      ADD_FAILURE() << "pid " << pid_ << " outlived signal " << sig << " by a minute";
      ::kill(pid_, SIGKILL);
      wait(std::chrono::seconds(60));
    }
    return code_;
  }
  // Runs to the end, at most timeout (then killed, and the test fails).
  RunResult result(std::chrono::milliseconds timeout) {
    if (!wait(timeout)) {
      ADD_FAILURE() << "the child ran longer than " << timeout.count() << " ms";
      ::kill(pid_, SIGKILL);
      wait(std::chrono::seconds(60));
    }
    return RunResult{code_, out(), err(), seconds_, max_rss_kib_};
  }

  int code() const { return code_; }
  std::string out() const { return read_file(out_); }
  std::string err() const { return read_file(err_); }
  void remove_output() const {
    std::error_code ec;
    std::filesystem::remove(out_, ec);
    std::filesystem::remove(err_, ec);
  }

 private:
  // In the child: only what is safe after fork, then exec.
  [[noreturn]] static void exec_child(const std::string& dir, const std::string& in,
                                      const std::string& out, const std::string& err,
                                      std::vector<std::string>& argv,
                                      const std::vector<std::pair<std::string, std::string>>& env) {
    const int fd_in = ::open(in.c_str(), O_RDONLY);
    const int fd_out = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int fd_err = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd_in < 0 || fd_out < 0 || fd_err < 0 || chdir(dir.c_str()) != 0) _exit(125);
    dup2(fd_in, 0);
    dup2(fd_out, 1);
    dup2(fd_err, 2);
    close_range(3, ~0U, 0);
    for (const auto& [k, v] : env) {
      setenv(k.c_str(), v == "$PID" ? std::to_string(getpid()).c_str() : v.c_str(), 1);
    }
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }

  std::filesystem::path out_, err_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int code_ = -1;
  double seconds_ = 0;
  long max_rss_kib_ = 0;
  std::chrono::steady_clock::time_point started_;
};

// Runs the binary with args in dir to its end.
inline RunResult run_binary(const std::filesystem::path& dir, const std::vector<std::string>& args,
                            ProcessOptions options = {},
                            std::chrono::milliseconds timeout = std::chrono::seconds(120)) {
  Process p(dir, binary_argv(args), std::move(options));
  RunResult r = p.result(timeout);
  p.remove_output();
  return r;
}

}  // namespace cybexp::testing
