// What `check` prints: "what    text" lines on stdout, each problem one line
// on stderr, and the exit code they add up to (2 if any is a configuration
// problem, else 1 if any is a runtime one, else 0).
//
// Thread safety: used from the main thread only.
#pragma once

#include <algorithm>
#include <cstdio>
#include <string>

#include "cli/context.h"
#include "util/log.h"
#include "util/terminal_text.h"

namespace cybexp::cli {

class CheckReport {
 public:
  void line(const std::string& what, const std::string& text) {
    std::string padded = what;
    padded.resize(std::max<std::size_t>(padded.size() + 1, 14), ' ');
    print(padded + escape_for_terminal(text) + "\n");  // state names come from the store
  }
  void problem(int code, const std::string& message) {
    std::fflush(stdout);  // keep the two streams in order on a terminal
    log_for_user(LogLevel::kError, message);
    code_ = code_ == kExitUsage ? code_ : code;
    ++problems_;
  }
  void problem(const Error& e) {
    problem(e.kind == ErrorKind::kInvalidArgument ? kExitUsage : kExitFailure, e.message);
  }
  // Problems counted but not each printed (after "... and N more").
  void more_problems(int n, const std::string& message) {
    std::fflush(stdout);
    log_for_user(LogLevel::kError, message);
    if (n > 0 && code_ == kExitOk) code_ = kExitFailure;
    problems_ += n;
  }
  // A line on stderr that is no problem of its own (a summary).
  void note(const std::string& message) {
    std::fflush(stdout);
    log_for_user(LogLevel::kError, message);
  }
  void warning(const std::string& message) {
    std::fflush(stdout);
    log_for_user(LogLevel::kWarning, message);
  }
  int finish() {
    if (problems_ == 0) {
      print("ok\n");
      return kExitOk;
    }
    std::fflush(stdout);
    log_for_user(LogLevel::kError, "check found " + std::to_string(problems_) +
                                       (problems_ == 1 ? " problem" : " problems"));
    return code_;
  }

 private:
  int code_ = kExitOk;
  int problems_ = 0;
};

}  // namespace cybexp::cli
