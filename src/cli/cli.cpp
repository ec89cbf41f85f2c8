// Global options and dispatch through the command table (commands.h). Each
// command parses its own options. Upstream's own command line,
// `cybexp-archive CONF_PATH [-f|--force-process] [-o|--run-once]`, is an
// alias of `run`, so an upstream unit only needs its ExecStart= program
// changed (docs/UPSTREAM-FORMATS.md section 6).
#include "cli/cli.h"

#include <getopt.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string_view>

#include "cli/commands.h"
#include "util/log.h"

namespace cybexp {
namespace {

namespace fs = std::filesystem;

struct GlobalOptions {
  std::optional<std::string> config_path;
  LogLevel level = LogLevel::kInfo;
  bool level_given = false;  // --log-level: wins over the configuration's log_level
  LogFormat format = LogFormat::kText;
  std::vector<std::string> upstream_flags;  // -f/-o given before CONF_PATH, as run options
};

enum : int { kLogLevel = 1000, kLogFormat, kVersion };

// A missing value, or one that is really the command (`-c check`).
[[noreturn]] void missing_value(const char* spelled, int opt) {
  const char* what = opt == 'c'         ? "the configuration file"
                     : opt == kLogLevel ? "a log level"
                                        : "a log format";
  cli::usage_error(std::string("option '") + spelled + "' needs a value: " + what, nullptr);
}

// getopt takes the next word whatever it is: an empty one, another option
// (`-c --log-level debug`) or the command (`-c check`) means the value was
// left out, unless a file of that name exists.
void check_config_value(const char* spelled, const char* value) {
  const std::string v = value;
  const char* what = v.empty()                         ? nullptr
                     : fs::exists(v)                   ? ""
                     : v.starts_with('-')              ? "' is an option)"
                     : cli::find_command(v) != nullptr ? "' is a command)"
                                                       : "";
  if (what == nullptr) {
    cli::usage_error(std::string("option '") + spelled +
                         "' needs a value: the configuration file (it was empty)",
                     nullptr);
  }
  if (*what != '\0') {
    cli::usage_error(
        std::string("option '") + spelled + "' needs a value: the configuration file ('" + v + what,
        nullptr);
  }
}

// --log-format applies to the errors found while the options are read too:
// it is looked for first among the global options (before the command).
void apply_log_format_early(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    std::optional<LogFormat> f;
    if (a.starts_with("--log-format=")) {
      f = parse_log_format(a.substr(13));
    } else if (a == "--log-format" && i + 1 < argc) {
      f = parse_log_format(argv[++i]);
    } else if (a == "-c" || a == "--config" || a == "--log-level") {
      ++i;
    } else if (a == "--" || !a.starts_with('-')) {
      return;  // the command or CONF_PATH: what follows is not ours
    }
    if (f) log_configure_format(*f);
  }
}

// Returns an exit code when the options were all there is to do (--help, --version).
std::optional<int> parse_global(int argc, char** argv, GlobalOptions& g) {
  static const option kOptions[] = {
      {"config", required_argument, nullptr, 'c'},
      {"log-level", required_argument, nullptr, kLogLevel},
      {"log-format", required_argument, nullptr, kLogFormat},
      {"help", no_argument, nullptr, 'h'},
      {"version", no_argument, nullptr, kVersion},
      {"force-process", no_argument, nullptr, 'f'},
      {"run-once", no_argument, nullptr, 'o'},
      {nullptr, 0, nullptr, 0},
  };
  optind = 0;  // GNU: full re-initialisation (run_cli may be called more than once in tests)
  opterr = 0;
  int c;
  // '+': stop at the command name, the rest is the command's; ':': report a missing value as ':'.
  while ((c = getopt_long(argc, argv, "+:c:hfo", kOptions, nullptr)) != -1) {
    if (c == 'c') {
      // As the user spelled it: "-c" or "--config" when the value was the next word.
      const std::string_view word = argv[optind - 1];
      check_config_value(optarg == argv[optind - 1] ? argv[optind - 2]
                         : word.starts_with("--")   ? "--config"
                                                    : "-c",
                         optarg);
      g.config_path = optarg;
    } else if (c == kLogLevel) {
      auto l = parse_log_level(optarg);
      if (!l) {
        cli::usage_error(
            std::string("unknown log level '") + optarg + "': use debug, info, warning or error",
            nullptr);
      }
      g.level = *l;
      g.level_given = true;
    } else if (c == kLogFormat) {
      auto f = parse_log_format(optarg);
      if (!f) {
        cli::usage_error(std::string("unknown log format '") + optarg + "': use text or json",
                         nullptr);
      }
      g.format = *f;
    } else if (c == 'f' || c == 'o') {
      g.upstream_flags.push_back(c == 'f' ? "--force-process" : "--run-once");
    } else if (c == 'h') {
      std::fputs(cli::usage_text().c_str(), stdout);
      return cli::kExitOk;
    } else if (c == kVersion) {
      std::printf("cybexp-archive %s\n", CYBEXP_VERSION);
      return cli::kExitOk;
    } else if (c == ':') {
      missing_value(argv[optind - 1], optopt);
    } else {
      cli::usage_error(std::string("unknown option '") + argv[optind - 1] + "'", nullptr);
    }
  }
  return std::nullopt;
}

// Upstream's CONF_PATH: an existing file, or anything that looks like a path
// to one (so a mistyped path says "does not exist", not "unknown command").
bool looks_like_config_path(const std::string& arg) {
  return fs::is_regular_file(arg) || arg.ends_with(".json") || arg.find('/') != std::string::npos;
}

// -f, -o, -fo, -of as upstream's argparse takes them; anything else is run's.
void append_upstream_arg(const std::string& arg, std::vector<std::string>& out) {
  if (arg.size() >= 2 && arg[0] == '-' && arg[1] != '-' &&
      arg.find_first_not_of("fo", 1) == std::string::npos) {
    for (char c : arg.substr(1)) out.push_back(c == 'f' ? "--force-process" : "--run-once");
  } else {
    out.push_back(arg);
  }
}

int run_upstream_alias(const GlobalOptions& g, int argc, char** argv) {
  const std::string conf = argv[optind];
  if (g.config_path) {
    cli::usage_error("the configuration is given twice (-c " + *g.config_path + " and " + conf +
                         "): use either -c CONFIG run ... or upstream's CONF_PATH [-f] [-o]",
                     nullptr);
  }
  if (!fs::is_regular_file(conf)) {
    cli::fail(cli::kExitUsage,
              "configuration " + conf + (fs::exists(conf) ? " is not a file" : " does not exist") +
                  ": upstream's command line is cybexp-archive CONF_PATH "
                  "[-f|--force-process] [-o|--run-once], with CONF_PATH an existing file");
  }
  std::vector<std::string> words = {"run"};
  words.insert(words.end(), g.upstream_flags.begin(), g.upstream_flags.end());
  for (int i = optind + 1; i < argc; ++i) append_upstream_arg(argv[i], words);
  std::vector<char*> args;
  args.reserve(words.size());
  for (std::string& w : words) args.push_back(w.data());
  log(LogLevel::kDebug, "upstream command line: running 'run' with this configuration",
      {{"config", conf}});
  cli::Context ctx(conf);
  return cli::cmd_run(ctx, args);
}

int dispatch(int argc, char** argv) {
  GlobalOptions g;
  if (auto done = parse_global(argc, argv, g)) return *done;
  log_configure(g.level, g.format, g.level_given);
  if (optind >= argc) {
    if (!g.upstream_flags.empty())
      cli::usage_error("-f and -o need CONF_PATH: cybexp-archive CONF_PATH [-f] [-o]", nullptr);
    if (log_format() == LogFormat::kJson) {
      cli::usage_error("a command is needed", nullptr);  // one JSON line, not the usage text
    }
    std::fputs(cli::usage_text().c_str(), stderr);
    return cli::kExitUsage;
  }
  const std::string name = argv[optind];
  const cli::CommandSpec* command = cli::find_command(name);
  if (command == nullptr && looks_like_config_path(name)) return run_upstream_alias(g, argc, argv);
  if (command == nullptr) cli::usage_error("unknown command '" + name + "'", nullptr);
  if (!g.upstream_flags.empty()) {
    cli::usage_error(
        "-f and -o belong to upstream's command line (cybexp-archive CONF_PATH [-f] [-o]); with a "
        "command use its options ('run --force-process --once')",
        nullptr);
  }
  std::vector<char*> args(argv + optind, argv + argc);
  cli::Context ctx(g.config_path);  // loads the configuration on first use
  return command->handler(ctx, args);
}

}  // namespace

int run_cli(int argc, char** argv) {
  log_configure(LogLevel::kInfo, LogFormat::kText);  // afresh: tests call run_cli more than once
  apply_log_format_early(argc, argv);
  int code;
  try {
    code = dispatch(argc, argv);
  } catch (const cli::ExitRequest& e) {
    code = e.code;
  }
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    log_for_user(LogLevel::kError,
                 std::string("cannot write to standard output: ") + std::strerror(errno));
    if (code == cli::kExitOk) code = cli::kExitFailure;
  }
  return code;
}

}  // namespace cybexp
