// A GoogleTest fixture for end-to-end tests of the real binary: each test
// gets a fresh temporary directory holding a key pair (`keygen` runs in
// SetUp), runs the binary there with run(...), and finds the embedded
// store's two files with cache() and archive().
//
// Thread safety: one fixture per test, used from the test's thread.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "support/process.h"
#include "support/temp_dir.h"

namespace cybexp::testing {

class BinaryTest : public ::testing::Test {
 protected:
  // A fixture that overrides SetUp calls this first and returns if
  // HasFatalFailure().
  void SetUp() override {
    auto r = run("keygen");
    ASSERT_EQ(r.code, 0) << r.err;
  }
  template <class... A>
  RunResult run(A... args) {
    return run_binary(dir_.path(), {std::string(args)...});
  }
  std::filesystem::path cache() const { return dir_ / "cybexp-data/cache.db"; }
  std::filesystem::path archive() const { return dir_ / "cybexp-data/archive.db"; }

  TempDir dir_;
};

}  // namespace cybexp::testing
