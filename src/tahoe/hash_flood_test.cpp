// Hash flooding (util/keyed_hash.h): keys built to collide under std::hash
// must neither change what the parser and the canonical form produce nor
// pile up in one bucket of their tables. How long such input takes is
// measured by bench/stages_bench.cpp (BM_ParsemainHashFlood), not here.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>

#include "cybexp/canonical.h"
#include "cybexp/json_value.h"
#include "cybexp/python_json.h"
#include "support/hash_flood.h"
#include "util/keyed_hash.h"

namespace cybexp {
namespace {

constexpr int kBits = 10;  // 1024 keys of 160 bytes

TEST(HashFlood, TheKeysCollideUnderStdHash) {
  // The premise of the other tests: distinct strings, one std::hash value,
  // so an unordered_set on std::hash keeps all of them in one bucket.
  const auto keys = testing::colliding_strings(kBits);
  ASSERT_EQ(keys.size(), 1024u);
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()).size(), 1024u);
  for (const std::string& k : keys) {
    EXPECT_EQ(k.size(), 16u * kBits);
    EXPECT_TRUE(is_valid_utf8(k));
    EXPECT_EQ(std::hash<std::string_view>{}(k), std::hash<std::string_view>{}(keys[0]));
  }
  const std::unordered_set<std::string> plain(keys.begin(), keys.end());
  EXPECT_EQ(plain.bucket_size(plain.bucket(keys[0])), 1024u);
}

TEST(HashFlood, KeyedHashSpreadsThem) {
  const auto keys = testing::colliding_strings(kBits);
  std::unordered_set<std::uint64_t> hashes;
  for (const std::string& k : keys) hashes.insert(keyed_hash(k));
  EXPECT_EQ(hashes.size(), 1024u);
  const std::unordered_set<std::string, KeyedStringHash, std::equal_to<>> keyed(keys.begin(), keys.end());
  std::size_t longest = 0;
  for (std::size_t b = 0; b < keyed.bucket_count(); ++b) longest = std::max(longest, keyed.bucket_size(b));
  EXPECT_LE(longest, 12u);  // about 1 key per bucket; 12 or more has odds near 1e-6
}

TEST(HashFlood, DuplicateKeysAmongCollidingKeysLastWinsAtFirstPlace) {
  const auto keys = testing::colliding_strings(kBits);
  std::string text = testing::colliding_object(kBits);
  text.pop_back();  // '}'
  text += ", \"" + keys[5] + "\": \"last\", \"" + keys[1000] + "\": null}";
  const JsonParseResult r = parse_python_json(text);
  ASSERT_EQ(r.status, JsonParseStatus::kOk) << r.detail;
  const Object& o = r.value.as_object();
  ASSERT_EQ(o.size(), 1024u);
  for (std::size_t i = 0; i < o.size(); ++i) ASSERT_EQ(o[i].first, keys[i]);
  EXPECT_EQ(o[4].second.as_integer().digits, "4");
  EXPECT_EQ(o[5].second.as_string(), "last");
  EXPECT_TRUE(o[1000].second.is_null());
  EXPECT_EQ(o[1023].second.as_integer().digits, "1023");
}

TEST(HashFlood, CanonicalFormOfCollidingStringsIsExact) {
  // An array of the colliding strings, each twice, in reverse order: the
  // canonical form keeps each once, sorted, and sizes itself exactly.
  const auto keys = testing::colliding_strings(kBits);
  Array items;
  for (auto it = keys.rbegin(); it != keys.rend(); ++it) {
    items.emplace_back(*it);
    items.emplace_back(*it);
  }
  const Value v{std::move(items)};
  // As TAHOE: each item stripped and written by json.dumps, the set of those
  // sorted, each written by json.dumps again.
  std::set<std::string> once;
  for (const std::string& k : keys) {
    std::string s;
    append_python_json_string(python_strip(k), s);
    once.insert(std::move(s));
  }
  std::string expected = "[";
  for (const std::string& s : once) {
    if (expected.size() > 1) expected += ", ";
    append_python_json_string(s, expected);
  }
  expected += "]";
  const auto c = canonical(v, 64ull << 20);
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(canonical_size(v), c->size());
  EXPECT_EQ(*c, expected);
}

}  // namespace
}  // namespace cybexp
