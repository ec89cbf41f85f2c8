// The command table: the usage text it generates, dispatch of every row, and
// each command's own --help agreeing with its row.
#include "cli/commands.h"

#include <gtest/gtest.h>

#include <sstream>

#include "cli/cli.h"

namespace cybexp::cli {
namespace {

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

Outcome run(std::vector<std::string> words) {
  words.insert(words.begin(), "cybexp-archive");
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const int code = run_cli(static_cast<int>(words.size()), argv.data());
  std::string out = ::testing::internal::GetCapturedStdout();
  return {code, out, ::testing::internal::GetCapturedStderr()};
}

std::string collapse_spaces(const std::string& s) {
  std::istringstream in(s);
  std::string word, out;
  while (in >> word) out += (out.empty() ? "" : " ") + word;
  return out;
}

constexpr const char* kUsage =
    R"(usage: cybexp-archive [-c CONFIG] [--log-level L] [--log-format F] COMMAND ...
       cybexp-archive CONF_PATH [-f|--force-process] [-o|--run-once]
                              (upstream's command line: 'run' with CONF_PATH)

The CYBEX-P archive module: decrypts cache-lake entries, archives them as
TAHOE Raw documents, marks them processed or skipped.

commands:
  keygen [--bits N] [--force]          new RSA key pair (priv.pem 0600, pub.pem)
  submit --typetag T --orgid O [--timezone Z] [--name N] [--encrypted] FILE...
                                       add cache entries as the API module does (FILE - is stdin)
  run [--once] [--force-process] [--limit N] [--workers N] [--batch N] [--metrics-listen [HOST:]PORT]
                                       the archive loop
  status [--json]                      entry counts, archive size, running daemons
  entries [--state S] [--typetag T] [--json]
                                       one entry a line
  export [--sub-type S]                archived documents as JSON lines
  subtypes list | add TYPETAG SUB_TYPE | remove TYPETAG
                                       the sub-type registry
  requeue [--state S] [--id ID]... [--typetag T] [--since TIME] [--until TIME]
                                       retry skipped entries
  decrypt FILE                         one envelope's plaintext to stdout
  check [--deep]                       is everything ready to run? (config, targets, keys, stores)
  inspect ENTRY_ID [--decrypt] [--dry-run] [--json]
                                       one entry: fields, state, reason, lease
  wake                                 start the running daemons' next pass now (SIGUSR1)

options:
  -c, --config CONFIG   configuration file (default: everything under
                        $CYBEXP_HOME, default ./cybexp-data)
  --log-level L         debug, info, warning, error (default info)
  --log-format F        text or json (default text)
  -h, --help            this text; 'cybexp-archive COMMAND --help' for a command
  --version             print the version

exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration
)";

TEST(CommandTable, UsageIsGeneratedFromTheTable) {
  EXPECT_EQ(usage_text(), kUsage);
  const Outcome help = run({"--help"});
  EXPECT_EQ(help.code, kExitOk);
  EXPECT_EQ(help.out, kUsage);
  const Outcome bare = run({});
  EXPECT_EQ(bare.code, kExitUsage);
  EXPECT_EQ(bare.out, "");
  EXPECT_EQ(bare.err, kUsage);
}

TEST(CommandTable, NamesAreTheTwelveCommandsOnce) {
  std::vector<std::string> names;
  for (const CommandSpec& c : command_table()) names.emplace_back(c.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"keygen", "submit", "run", "status", "entries", "export",
                                      "subtypes", "requeue", "decrypt", "check", "inspect",
                                      "wake"}));
  EXPECT_EQ(find_command("run")->handler, &cmd_run);
  EXPECT_EQ(find_command("frobnicate"), nullptr);
}

// Dispatching NAME --help reaches that row's handler, whose help opens with
// the row's synopsis: one "cybexp-archive NAME ..." per alternative.
TEST(CommandTable, EveryCommandDispatchesToAHelpThatAgreesWithItsRow) {
  for (const CommandSpec& c : command_table()) {
    SCOPED_TRACE(std::string(c.name));
    const Outcome r = run({std::string(c.name), "--help"});
    EXPECT_EQ(r.code, kExitOk) << r.err;
    EXPECT_EQ(r.err, "");
    std::string expected = "usage:";
    std::string_view rest = c.synopsis;
    for (std::size_t bar; (bar = rest.find(" | ")) != std::string_view::npos;
         rest.remove_prefix(bar + 3)) {
      expected += " cybexp-archive " + std::string(c.name) + " " + std::string(rest.substr(0, bar));
    }
    expected +=
        " cybexp-archive " + std::string(c.name) + (rest.empty() ? "" : " " + std::string(rest));
    EXPECT_EQ(collapse_spaces(r.out.substr(0, r.out.find("\n\n"))), expected);
  }
}

TEST(CommandTable, AConfigOptionWithoutItsValueSaysSo) {
  const Outcome bare = run({"-c"});
  EXPECT_EQ(bare.code, kExitUsage);
  EXPECT_EQ(bare.out, "");
  EXPECT_EQ(bare.err,
            "cybexp-archive: option '-c' needs a value: the configuration file (see "
            "'cybexp-archive --help')\n");
  const Outcome long_form = run({"--config"});
  EXPECT_EQ(long_form.code, kExitUsage);
  EXPECT_EQ(long_form.err,
            "cybexp-archive: option '--config' needs a value: the configuration file (see "
            "'cybexp-archive "
            "--help')\n");
  const Outcome swallowed = run({"-c", "check"});
  EXPECT_EQ(swallowed.code, kExitUsage);
  EXPECT_EQ(swallowed.err,
            "cybexp-archive: option '-c' needs a value: the configuration file ('check' is a "
            "command) (see "
            "'cybexp-archive --help')\n");
  const Outcome level = run({"--log-level"});
  EXPECT_EQ(level.code, kExitUsage);
  EXPECT_EQ(level.err,
            "cybexp-archive: option '--log-level' needs a value: a log level (see 'cybexp-archive "
            "--help')\n");
}

TEST(CommandTable, UpstreamFlagsWithACommandAreRefused) {
  const Outcome r = run({"-f", "status"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err,
            "cybexp-archive: -f and -o belong to upstream's command line (cybexp-archive CONF_PATH "
            "[-f] [-o]); "
            "with a command use its options ('run --force-process --once') (see 'cybexp-archive "
            "--help')\n");
  const Outcome unknown = run({"frobnicate"});
  EXPECT_EQ(unknown.code, kExitUsage);
  EXPECT_EQ(unknown.err,
            "cybexp-archive: unknown command 'frobnicate' (see 'cybexp-archive --help')\n");
}

}  // namespace
}  // namespace cybexp::cli
