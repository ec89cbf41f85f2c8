// See commands.h. To add a command: write its handler, add one row below,
// and start its --help with "usage: cybexp-archive NAME SYNOPSIS".
#include "cli/commands.h"

#include <array>

namespace cybexp::cli {
namespace {

constexpr std::array kCommands = {
    CommandSpec{"keygen", "[--bits N] [--force]", "new RSA key pair (priv.pem 0600, pub.pem)",
                cmd_keygen},
    CommandSpec{"submit", "--typetag T --orgid O [--timezone Z] [--name N] [--encrypted] FILE...",
                "add cache entries as the API module does (FILE - is stdin)", cmd_submit},
    CommandSpec{"run",
                "[--once] [--force-process] [--limit N] [--workers N] [--batch N] "
                "[--metrics-listen [HOST:]PORT]",
                "the archive loop", cmd_run},
    CommandSpec{"status", "[--json]", "entry counts, archive size, running daemons", cmd_status},
    CommandSpec{"entries", "[--state S] [--typetag T] [--json]", "one entry a line", cmd_entries},
    CommandSpec{"export", "[--sub-type S]", "archived documents as JSON lines", cmd_export},
    CommandSpec{"subtypes", "list | add TYPETAG SUB_TYPE | remove TYPETAG", "the sub-type registry",
                cmd_subtypes},
    CommandSpec{"requeue", "[--state S] [--id ID]... [--typetag T] [--since TIME] [--until TIME]",
                "retry skipped entries", cmd_requeue},
    CommandSpec{"decrypt", "FILE", "one envelope's plaintext to stdout", cmd_decrypt},
    CommandSpec{"check", "[--deep]", "is everything ready to run? (config, targets, keys, stores)",
                cmd_check},
    CommandSpec{"inspect", "ENTRY_ID [--decrypt] [--dry-run] [--json]",
                "one entry: fields, state, reason, lease", cmd_inspect},
    CommandSpec{"wake", "", "start the running daemons' next pass now (SIGUSR1)", cmd_wake},
};

constexpr std::string_view kHead =
    R"(usage: cybexp-archive [-c CONFIG] [--log-level L] [--log-format F] COMMAND ...
       cybexp-archive CONF_PATH [-f|--force-process] [-o|--run-once]
                              (upstream's command line: 'run' with CONF_PATH)

The CYBEX-P archive module: decrypts cache-lake entries, archives them as
TAHOE Raw documents, marks them processed or skipped.

commands:
)";

constexpr std::string_view kTail = R"(
options:
  -c, --config CONFIG   configuration file (default: everything under
                        $CYBEXP_HOME, default ./cybexp-data)
  --log-level L         debug, info, warning, error (default info)
  --log-format F        text or json (default text)
  -h, --help            this text; 'cybexp-archive COMMAND --help' for a command
  --version             print the version

exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration
)";

// Descriptions start in this column; a longer synopsis gets its own line.
constexpr std::size_t kSummaryColumn = 39;

}  // namespace

std::span<const CommandSpec> command_table() { return kCommands; }

const CommandSpec* find_command(std::string_view name) {
  for (const CommandSpec& c : kCommands) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::string usage_text() {
  std::string out(kHead);
  for (const CommandSpec& c : kCommands) {
    std::string line = "  " + std::string(c.name);
    if (!c.synopsis.empty()) line += " " + std::string(c.synopsis);
    if (line.size() + 2 > kSummaryColumn)
      line += "\n" + std::string(kSummaryColumn, ' ');
    else
      line.resize(kSummaryColumn, ' ');
    out += line + std::string(c.summary) + "\n";
  }
  out += kTail;
  return out;
}

}  // namespace cybexp::cli
