// The command table: one row per command (name, argument synopsis, one-line
// description, handler). Dispatch looks commands up here and the usage text
// (`cybexp-archive --help`) is generated from it, so the two cannot drift.
// Each command's own --help starts with the same synopsis (a test holds
// them to it).
//
// Thread safety: the table is immutable; handlers run on the main thread.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cli/context.h"

namespace cybexp::cli {

using Handler = int (*)(Context&, std::vector<char*>);

struct CommandSpec {
  std::string_view name;
  std::string_view synopsis;  // the arguments after the name; " | " separates alternatives
  std::string_view summary;   // one line, for the usage text
  Handler handler;
};

std::span<const CommandSpec> command_table();

// nullptr when no command has this name.
const CommandSpec* find_command(std::string_view name);

// The whole `cybexp-archive --help` text.
std::string usage_text();

// The handlers (cmd_*.cpp); args[0] is the command name.
int cmd_keygen(Context& ctx, std::vector<char*> args);
int cmd_submit(Context& ctx, std::vector<char*> args);
int cmd_run(Context& ctx, std::vector<char*> args);
int cmd_status(Context& ctx, std::vector<char*> args);
int cmd_entries(Context& ctx, std::vector<char*> args);
int cmd_export(Context& ctx, std::vector<char*> args);
int cmd_subtypes(Context& ctx, std::vector<char*> args);
int cmd_requeue(Context& ctx, std::vector<char*> args);
int cmd_decrypt(Context& ctx, std::vector<char*> args);
int cmd_check(Context& ctx, std::vector<char*> args);
int cmd_inspect(Context& ctx, std::vector<char*> args);
int cmd_wake(Context& ctx, std::vector<char*> args);

// The running daemons of `config` (their state files in run_dir), for
// `status`: lines of text, or a JSON array (cmd_wake.cpp).
std::string daemon_status(const Config& config, bool json);

}  // namespace cybexp::cli
