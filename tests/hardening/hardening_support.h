// Helpers for the hardening tests: a home directory for the real binary
// (keys, configuration) and the memory slack under a sanitizer. The binary
// runs with support/process.h's run_binary (time and peak memory included).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "support/process.h"
#include "support/temp_dir.h"

namespace cybexp::testing {

// A data directory with the test key pair (private key 0600) and a
// configuration naming it, with `limits` (a JSON object body) added.
inline std::filesystem::path make_home(const TempDir& dir, const std::string& limits = "") {
  namespace fs = std::filesystem;
  const fs::path data = CYBEXP_TEST_DATA_DIR;
  fs::copy_file(data / "priv.pem", dir / "priv.pem", fs::copy_options::overwrite_existing);
  fs::permissions(dir / "priv.pem", fs::perms::owner_read | fs::perms::owner_write);
  fs::copy_file(data / "pub.pem", dir / "pub.pem", fs::copy_options::overwrite_existing);
  const fs::path config = dir / "config.json";
  write_file(config, R"({"cache": {"url": "sqlite:cache.db", "private_key": "priv.pem"},
 "archive": {"url": "sqlite:archive.db"}, "public_key": "pub.pem", "lease_seconds": 30,
 "limits": {)" + limits + "}}");
  return config;
}

// Under AddressSanitizer a process keeps up to 256 MiB of freed memory in
// quarantine and adds shadow memory, so memory bounds get that much slack.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr long kSanitizerSlackKib = 384 * 1024;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr long kSanitizerSlackKib = 384 * 1024;
#else
inline constexpr long kSanitizerSlackKib = 0;
#endif
#else
inline constexpr long kSanitizerSlackKib = 0;
#endif

}  // namespace cybexp::testing
