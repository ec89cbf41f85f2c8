// Runs the real cybexp-archive binary for end-to-end tests: arguments are
// quoted for /bin/sh, output captured through files.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace cybexp::testing {

struct RunResult {
  int code = -1;
  std::string out;
  std::string err;
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') q += "'\\''";
    else q += c;
  }
  return q + "'";
}

// Runs `env... BINARY args...` in dir, optionally feeding stdin_file.
inline RunResult run_binary(const std::filesystem::path& dir, const std::vector<std::string>& args,
                            const std::string& env = "", const std::string& stdin_file = "") {
  static int counter = 0;
  const auto out = dir / ("stdout." + std::to_string(counter));
  const auto err = dir / ("stderr." + std::to_string(counter++));
  std::string cmd = "cd " + shell_quote(dir.string()) + " && " + env + " " + shell_quote(CYBEXP_BINARY);
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " >" + shell_quote(out.string()) + " 2>" + shell_quote(err.string());
  cmd += stdin_file.empty() ? " </dev/null" : " <" + shell_quote(stdin_file);
  int status = std::system(cmd.c_str());
  RunResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(out);
  r.err = read_file(err);
  std::filesystem::remove(out);
  std::filesystem::remove(err);
  return r;
}

}  // namespace cybexp::testing
