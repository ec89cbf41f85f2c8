// Per-command option parsing on getopt_long, with --help and errors that
// point at the command's help.
//
// Thread safety: getopt is not reentrant; main thread only.
#pragma once

#include <getopt.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cli/context.h"

namespace cybexp::cli {

struct OptionSpec {
  const char* name;
  bool takes_value;
};

// Parses args (args[0] is the command). Calls on_option(name, value) for each
// option; prints help and ends the command (exit 0) on -h/--help. Returns the
// positional arguments.
std::vector<std::string> parse_options(std::vector<char*>& args,
                                       const std::vector<OptionSpec>& specs, const char* help,
                                       const std::function<void(const std::string&, const char*)>& on_option);

std::uint64_t parse_count(const std::string& option, const char* value, std::uint64_t min,
                          std::uint64_t max, const char* command);
double parse_time(const std::string& option, const char* value, const char* command);

}  // namespace cybexp::cli
