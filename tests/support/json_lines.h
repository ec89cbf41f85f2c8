// Reading the binary's JSON-lines output (entries --json, export) in tests,
// with Python's json.loads rules: documents may hold NaN and Infinity.
#pragma once

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "cybexp/json_value.h"

namespace cybexp::testing {

inline std::vector<Value> json_lines(const std::string& text) {
  std::vector<Value> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    auto v = parse_python_json(line);
    EXPECT_EQ(v.status, JsonParseStatus::kOk) << line;
    out.push_back(std::move(v.value));
  }
  return out;
}

// A string member, or "" when absent or not a string.
inline std::string field(const Value& v, std::string_view key) {
  const Value* f = v.find(key);
  return f && f->is_string() ? f->as_string() : std::string();
}

}  // namespace cybexp::testing
