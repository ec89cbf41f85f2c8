// Helpers for the hardening tests: a home directory for the real binary
// (keys, configuration), a child process whose peak memory is measured, and
// a streamed envelope writer for blobs too large to hold in memory.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "support/temp_dir.h"

namespace cybexp::testing {

// A data directory with the test key pair (private key 0600) and a
// configuration naming it, with `limits` (a JSON object body) added.
inline std::filesystem::path make_home(const TempDir& dir, const std::string& limits = "") {
  namespace fs = std::filesystem;
  const fs::path data = CYBEXP_TEST_DATA_DIR;
  fs::copy_file(data / "priv.pem", dir / "priv.pem", fs::copy_options::overwrite_existing);
  fs::permissions(dir / "priv.pem", fs::perms::owner_read | fs::perms::owner_write);
  fs::copy_file(data / "pub.pem", dir / "pub.pem", fs::copy_options::overwrite_existing);
  const fs::path config = dir / "config.json";
  write_file(config, R"({"cache": {"url": "sqlite:cache.db", "private_key": "priv.pem"},
 "archive": {"url": "sqlite:archive.db"}, "public_key": "pub.pem", "lease_seconds": 30,
 "limits": {)" + limits + "}}");
  return config;
}

struct Child {
  int code = -1;  // exit code, or 128 + signal
  std::string out, err;
  double seconds = 0;  // wall clock
  long max_rss_kib = 0;
};

// Runs the binary with args in dir, waiting at most timeout (then kills it
// and fails the test). Peak memory is the child's own (wait4), so nothing
// this test process did earlier counts.
inline Child spawn(const std::filesystem::path& dir, const std::vector<std::string>& args,
                   std::chrono::seconds timeout = std::chrono::seconds(120)) {
  const auto out_file = dir / "child.out";
  const auto err_file = dir / "child.err";
  const auto started = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    if (chdir(dir.c_str()) != 0) _exit(126);
    const int out = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(126);
    std::vector<char*> argv;
    std::string bin = CYBEXP_BINARY;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  Child c;
  int status = 0;
  rusage usage{};
  while (true) {
    const pid_t r = wait4(pid, &status, WNOHANG, &usage);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() - started > timeout) {
      kill(pid, SIGKILL);
      wait4(pid, &status, 0, &usage);
      ADD_FAILURE() << "the child ran longer than " << timeout.count() << " s";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  c.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  c.max_rss_kib = usage.ru_maxrss;
  c.out = read_file(out_file);
  c.err = read_file(err_file);
  return c;
}

// Under AddressSanitizer a process keeps up to 256 MiB of freed memory in
// quarantine and adds shadow memory, so memory bounds get that much slack.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr long kSanitizerSlackKib = 384 * 1024;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr long kSanitizerSlackKib = 384 * 1024;
#else
inline constexpr long kSanitizerSlackKib = 0;
#endif
#else
inline constexpr long kSanitizerSlackKib = 0;
#endif

}  // namespace cybexp::testing
