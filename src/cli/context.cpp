// See context.h.
#include "cli/context.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "util/log.h"

namespace cybexp::cli {

void fail(int code, const std::string& message) {
  // Through the logger: escaped (messages may quote an id or a typetag) and,
  // with --log-format json, a JSON line like every other.
  std::fflush(stdout);  // keep the two streams in order on a terminal
  log_for_user(LogLevel::kError, message);
  throw ExitRequest{code};
}

void usage_error(const std::string& message, const char* command) {
  fail(kExitUsage, message + " (see 'cybexp-archive " + (command ? std::string(command) + " " : "") +
                       "--help')");
}

void fail(const Error& error) {
  fail(error.kind == ErrorKind::kInvalidArgument ? kExitUsage : kExitFailure, error.message);
}

const Config& Context::config() {
  if (!config_) {
    if (config_path_) {
      config_ = must(load_config(*config_path_));
    } else {
      const char* home = std::getenv("CYBEXP_HOME");
      config_ = default_config(home && *home ? home : "cybexp-data");
    }
    if (config_->log_level) log_apply_configured_level(*parse_log_level(*config_->log_level));
    for (const std::string& w : config_->warnings) {
      log(LogLevel::kWarning, w, {{"config", config_->origin.string()}});
    }
  }
  return *config_;
}

Result<Config> Context::read_config_again() const {
  if (config_path_) return load_config(*config_path_);
  const char* home = std::getenv("CYBEXP_HOME");
  return default_config(home && *home ? home : "cybexp-data");
}

Stores& Context::stores(OpenMode mode) {
  if (!stores_) stores_ = must(open_stores(config().cache, config().archive, mode));
  return *stores_;
}

std::vector<PrivateKey> Context::private_keys() {
  std::vector<PrivateKey> keys;
  for (const auto& path : config().private_keys) {
    auto key = PrivateKey::load_file(path);
    if (!key) {
      if (key.error().kind == ErrorKind::kIo) {
        fail(kExitUsage, private_key_problem(config(), path, key.error()));
      }
      fail(key.error());
    }
    keys.push_back(std::move(*key));
  }
  return keys;
}

PublicKey Context::public_key() {
  auto key = PublicKey::load_file(config().public_key);
  if (!key) {
    fail(kExitUsage, key.error().message + ": create a key pair with 'cybexp-archive keygen' or "
                                           "set public_key in the configuration");
  }
  return std::move(*key);
}

std::string private_key_problem(const Config& config, const std::filesystem::path& path,
                                const Error& error) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return error.message + ": " +
           private_key_advice(config, path, std::filesystem::current_path(ec));
  }
  return error.message + ": fix its permissions or cache.private_key in the configuration";
}

void print(std::string_view s) {
  // stdio buffers; a reader that goes away (| head) ends us by SIGPIPE, as
  // any Unix filter. Other write errors are caught by run_cli's final flush.
  std::fwrite(s.data(), 1, s.size(), stdout);
}

}  // namespace cybexp::cli
