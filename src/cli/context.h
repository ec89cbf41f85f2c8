// What every command needs: the configuration (from -c or $CYBEXP_HOME), and
// on demand the stores and keys, each failure turned into an exit code and a
// one-line message that says what to do.
//
// Thread safety: used from the main thread only.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "cybexp/config.h"
#include "cybexp/envelope.h"
#include "cybexp/store_factory.h"

namespace cybexp::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Thrown only to end a command from deep inside it with an exit code, after
// the message is printed. Unwinding (unlike exit()) closes the stores and
// wipes the keys on the way out.
struct ExitRequest {
  int code;
};

// Each prints one line through the logger (util/log.h: "cybexp-archive:
// message" in text, an object in JSON) and ends the command.
[[noreturn]] void fail(int code, const std::string& message);
[[noreturn]] void usage_error(const std::string& message, const char* command);
// kInvalidArgument -> 2, anything else -> 1.
[[noreturn]] void fail(const Error& error);

template <class T>
T must(Result<T> r) {
  if (!r) fail(r.error());
  return std::move(*r);
}
inline void must(Result<void> r) {
  if (!r) fail(r.error());
}

class Context {
 public:
  // Nothing is read until first use, so `COMMAND --help` needs no configuration.
  explicit Context(std::optional<std::string> config_path) : config_path_(std::move(config_path)) {}
  const Config& config();
  // The configuration read afresh from where config() read it (for a
  // reload); config() is left as it was. May be called from any thread.
  Result<Config> read_config_again() const;
  // Opened on first use; read commands pass OpenMode::kReadOnly.
  Stores& stores(OpenMode mode = OpenMode::kReadWrite);
  std::vector<PrivateKey> private_keys();
  PublicKey public_key();

 private:
  std::optional<std::string> config_path_;
  std::optional<Config> config_;
  std::optional<Stores> stores_;
};

// The message for a private key that could not be read (an I/O error): when
// it does not exist, where else it looked and the one-line fix.
std::string private_key_problem(const Config& config, const std::filesystem::path& path,
                                const Error& error);

// Writes all of s to stdout; a closed pipe ends the command quietly.
void print(std::string_view s);

}  // namespace cybexp::cli
