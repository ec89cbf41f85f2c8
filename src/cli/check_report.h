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

namespace cybexp::cli {

class CheckReport {
 public:
  void line(const std::string& what, const std::string& text) {
    std::string padded = what;
    padded.resize(std::max<std::size_t>(padded.size() + 1, 14), ' ');
    print(padded + text + "\n");
  }
  void problem(int code, const std::string& message) {
    std::fflush(stdout);  // keep the two streams in order on a terminal
    std::fprintf(stderr, "cybexp-archive: %s\n", message.c_str());
    code_ = code_ == kExitUsage ? code_ : code;
    ++problems_;
  }
  void problem(const Error& e) {
    problem(e.kind == ErrorKind::kInvalidArgument ? kExitUsage : kExitFailure, e.message);
  }
  // Problems counted but not each printed (after "... and N more").
  void more_problems(int n, const std::string& message) {
    std::fflush(stdout);
    std::fprintf(stderr, "cybexp-archive: %s\n", message.c_str());
    if (n > 0 && code_ == kExitOk) code_ = kExitFailure;
    problems_ += n;
  }
  // A line on stderr that is no problem of its own (a summary).
  void note(const std::string& message) {
    std::fflush(stdout);
    std::fprintf(stderr, "cybexp-archive: %s\n", message.c_str());
  }
  void warning(const std::string& message) { note("warning: " + message); }
  int finish() {
    if (problems_ == 0) {
      print("ok\n");
      return kExitOk;
    }
    note("check found " + std::to_string(problems_) + " problem" + (problems_ == 1 ? "" : "s"));
    return code_;
  }

 private:
  int code_ = kExitOk;
  int problems_ = 0;
};

}  // namespace cybexp::cli
