// Commands that deal with keys and envelopes directly: keygen, submit, decrypt.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "cli/options.h"
#include "util/encoding.h"
#include "util/terminal_text.h"

namespace cybexp::cli {
namespace {

// Reads a whole file (or stdin for "-"), refusing more than max bytes so a
// wrong argument cannot exhaust memory.
std::vector<std::uint8_t> read_input(const std::string& path, std::uint64_t max) {
  std::FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (f == nullptr) fail(kExitFailure, "cannot read " + path + ": " + std::strerror(errno));
  std::vector<std::uint8_t> data;
  std::uint8_t buf[1 << 16];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    if (data.size() + n > max) {
      if (f != stdin) std::fclose(f);
      fail(kExitFailure, path + " is larger than limits.max_blob_bytes (" + std::to_string(max) +
                             " bytes): raise it in the configuration to archive it");
    }
    data.insert(data.end(), buf, buf + n);
  }
  bool error = std::ferror(f);
  if (f != stdin) std::fclose(f);
  if (error) fail(kExitFailure, "cannot read " + path + ": read error");
  return data;
}

}  // namespace

int cmd_keygen(Context& ctx, std::vector<char*> args) {
  static const char* kHelp = R"(usage: cybexp-archive keygen [--bits N] [--force]

Writes a new RSA key pair: the private key (PKCS#1 PEM, mode 0600, as
upstream writes it) to cache.private_key (the first, if several) and the
public key to public_key. Never overwrites without --force.
)";
  int bits = 2048;
  bool force = false;
  auto rest = parse_options(args, {{"bits", true}, {"force", false}}, kHelp,
                            [&](const std::string& name, const char* value) {
                              if (name == "bits") bits = static_cast<int>(parse_count(name, value, 2048, 16384, "keygen"));
                              if (name == "force") force = true;
                            });
  if (!rest.empty()) usage_error("keygen takes no arguments", "keygen");
  const auto& priv = ctx.config().private_keys.front();
  const auto& pub = ctx.config().public_key;
  std::error_code ec;
  std::filesystem::create_directories(priv.parent_path(), ec);
  std::filesystem::create_directories(pub.parent_path(), ec);
  must(generate_key_pair(priv, pub, bits, force));
  print("wrote " + priv.string() + " (private, 0600) and " + pub.string() + "\n");
  return kExitOk;
}

int cmd_submit(Context& ctx, std::vector<char*> args) {
  static const char* kHelp = R"(usage: cybexp-archive submit --typetag T --orgid O [--timezone Z] [--name N] [--encrypted] FILE...

Stands in for the CYBEX-P API module: encrypts each FILE (- is stdin) with
the public key, or with --encrypted takes it as an envelope encrypted
already, and adds an unprocessed cache entry. Prints each new entry's id.
)";
  NewEntry entry;
  std::optional<std::string> name;
  bool encrypted = false;
  auto files = parse_options(args,
                             {{"typetag", true}, {"orgid", true}, {"timezone", true}, {"name", true},
                              {"encrypted", false}},
                             kHelp, [&](const std::string& opt, const char* value) {
                               if (opt == "typetag") entry.typetag = value;
                               if (opt == "orgid") entry.orgid = value;
                               if (opt == "timezone") entry.timezone = value;
                               if (opt == "name") name = value;
                               if (opt == "encrypted") encrypted = true;
                             });
  if (entry.typetag.empty()) usage_error("--typetag is required", "submit");
  if (entry.orgid.empty()) usage_error("--orgid is required", "submit");
  if (files.empty()) usage_error("give at least one FILE (- for standard input)", "submit");
  std::optional<PublicKey> key;
  if (!encrypted) key = ctx.public_key();
  CacheStore& cache = *ctx.stores().cache;
  const std::uint64_t max = ctx.config().limits.max_blob_bytes;
  for (const std::string& file : files) {
    std::vector<std::uint8_t> data = read_input(file, max);
    std::vector<std::uint8_t> blob;
    if (encrypted) {
      blob = std::move(data);
    } else {
      blob = must(encrypt_envelope(data, *key));
      secure_wipe(data.data(), data.size());  // the plaintext
    }
    entry.name = name ? *name : (file == "-" ? "stdin" : std::filesystem::path(file).filename().string());
    entry.timestamp =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    print(must(cache.add_entry(entry, blob)) + "\n");
  }
  return kExitOk;
}

int cmd_decrypt(Context& ctx, std::vector<char*> args) {
  static const char* kHelp = R"(usage: cybexp-archive decrypt FILE

Writes the plaintext of one envelope (FILE, - for stdin) to standard output,
trying each configured private key. For operators debugging an entry. To a
pipe or a file it writes the exact bytes; to a terminal it writes them
escaped (non-printable bytes as \xNN, newlines as \n), so a payload cannot
drive the terminal.
)";
  auto files = parse_options(args, {}, kHelp, [](const std::string&, const char*) {});
  if (files.size() != 1) usage_error("decrypt takes exactly one FILE", "decrypt");
  std::vector<std::uint8_t> blob = read_input(files[0], ctx.config().limits.max_blob_bytes);
  auto keys = ctx.private_keys();
  SecureBytes plain = must(decrypt_envelope_any(blob, keys));
  if (isatty(STDOUT_FILENO) == 1) {
    // A person is reading: the payload must not drive the terminal.
    std::string shown = escape_for_terminal(as_text(plain)) + "\n";
    print(shown);
    std::fflush(stdout);
    secure_wipe(shown.data(), shown.size());
  } else {
    print(as_text(plain));  // the exact bytes, for a pipe or a file
  }
  return kExitOk;
}

}  // namespace cybexp::cli
