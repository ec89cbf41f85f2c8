// The command-line interface (the README documents it; scripts depend on it,
// so keep it stable):
//
//   cybexp-archive [-c CONFIG] [--log-level L] [--log-format text|json] COMMAND ...
//
// Exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration.
//
// Thread safety: run_cli is called once, from main.
#pragma once

namespace cybexp {

int run_cli(int argc, char** argv);

}  // namespace cybexp
