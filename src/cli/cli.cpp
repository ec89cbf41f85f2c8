// Global options and dispatch. Each command parses its own options.
#include "cli/cli.h"

#include <getopt.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>

#include "cli/context.h"
#include "util/log.h"

namespace cybexp {
namespace {

constexpr const char* kUsage = R"(usage: cybexp-archive [-c CONFIG] [--log-level L] [--log-format F] COMMAND ...

The CYBEX-P archive module: decrypts cache-lake entries, archives them as
TAHOE Raw documents, marks them processed or skipped.

commands:
  keygen [--bits N] [--force]          new RSA key pair (priv.pem 0600, pub.pem)
  submit --typetag T --orgid O [--timezone Z] [--name N] [--encrypted] FILE...
                                       add cache entries (FILE - is stdin)
  run [--once] [--force-process] [--limit N] [--workers N] [--metrics-listen [HOST:]PORT]
                                       the archive loop
  status [--json]                      entry counts and archive size
  entries [--state S] [--json]         one entry a line
  export [--sub-type S]                archived documents as JSON lines
  subtypes list | add TYPETAG SUB_TYPE | remove TYPETAG
                                       the sub-type registry
  requeue [--state S] [--id ID]... [--typetag T] [--since TS] [--until TS]
                                       retry skipped entries
  decrypt FILE                         one envelope's plaintext to stdout
  check                                is everything ready to run? (config, keys, stores)
  inspect ENTRY_ID [--decrypt] [--dry-run] [--json]
                                       one entry: fields, state, reason, lease

options:
  -c, --config CONFIG   configuration file (default: everything under
                        $CYBEXP_HOME, default ./cybexp-data)
  --log-level L         debug, info, warning, error (default info)
  --log-format F        text or json (default text)
  -h, --help            this text; 'cybexp-archive COMMAND --help' for a command
  --version             print the version

exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration
)";

using Command = int (*)(cli::Context&, std::vector<char*>);

}  // namespace

// Operations commands (cmd_check.cpp, cmd_inspect.cpp).
namespace cli {
int cmd_check(Context& ctx, std::vector<char*> args);
int cmd_inspect(Context& ctx, std::vector<char*> args);
}  // namespace cli

namespace {

const std::map<std::string, Command>& commands() {
  static const std::map<std::string, Command> kCommands = {
      {"keygen", cli::cmd_keygen},   {"submit", cli::cmd_submit},
      {"run", cli::cmd_run},         {"status", cli::cmd_status},
      {"entries", cli::cmd_entries}, {"export", cli::cmd_export},
      {"subtypes", cli::cmd_subtypes}, {"requeue", cli::cmd_requeue},
      {"decrypt", cli::cmd_decrypt}, {"check", cli::cmd_check},
      {"inspect", cli::cmd_inspect},
  };
  return kCommands;
}

int dispatch(int argc, char** argv) {
  std::optional<std::string> config_path;
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kText;
  static const option kOptions[] = {
      {"config", required_argument, nullptr, 'c'},
      {"log-level", required_argument, nullptr, 'l'},
      {"log-format", required_argument, nullptr, 'f'},
      {"help", no_argument, nullptr, 'h'},
      {"version", no_argument, nullptr, 'V'},
      {nullptr, 0, nullptr, 0},
  };
  opterr = 0;
  int c;
  // '+': stop at the command name; the rest belongs to the command.
  while ((c = getopt_long(argc, argv, "+c:h", kOptions, nullptr)) != -1) {
    switch (c) {
      case 'c':
        config_path = optarg;
        break;
      case 'l': {
        auto l = parse_log_level(optarg);
        if (!l) cli::usage_error(std::string("unknown log level '") + optarg + "': use debug, info, warning or error", nullptr);
        level = *l;
        break;
      }
      case 'f': {
        auto f = parse_log_format(optarg);
        if (!f) cli::usage_error(std::string("unknown log format '") + optarg + "': use text or json", nullptr);
        format = *f;
        break;
      }
      case 'h':
        std::fputs(kUsage, stdout);
        return cli::kExitOk;
      case 'V':
        std::printf("cybexp-archive %s\n", CYBEXP_VERSION);
        return cli::kExitOk;
      default:
        cli::usage_error(std::string("unknown option '") + argv[optind - 1] + "'", nullptr);
    }
  }
  log_configure(level, format);
  if (optind >= argc) {
    std::fputs(kUsage, stderr);
    return cli::kExitUsage;
  }
  std::string name = argv[optind];
  auto it = commands().find(name);
  if (it == commands().end()) cli::usage_error("unknown command '" + name + "'", nullptr);
  std::vector<char*> args(argv + optind, argv + argc);
  cli::Context ctx(config_path);  // loads the configuration on first use
  return it->second(ctx, args);
}

}  // namespace

int run_cli(int argc, char** argv) {
  int code;
  try {
    code = dispatch(argc, argv);
  } catch (const cli::ExitRequest& e) {
    code = e.code;
  }
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    std::cerr << "cybexp-archive: cannot write to standard output: " << std::strerror(errno) << "\n";
    if (code == cli::kExitOk) code = cli::kExitFailure;
  }
  return code;
}

}  // namespace cybexp
