// keyed_hash.h: SipHash-2-4 under the process key.
#include "util/keyed_hash.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_set>

namespace cybexp {
namespace {

TEST(KeyedHash, SameInputSameHashWithinTheProcess) {
  EXPECT_EQ(keyed_hash(std::string_view("abc")), keyed_hash(std::string("abc")));
  EXPECT_EQ(keyed_hash(std::uint64_t{42}), keyed_hash(std::uint64_t{42}));
  EXPECT_EQ(KeyedStringHash{}("abc"), keyed_hash(std::string_view("abc")));
}

TEST(KeyedHash, IsSipHash24UnderAKeyOfItsOwn) {
  // libsodium's crypto_shorthash is SipHash-2-4: the paper's first test
  // vector (key 00 01 .. 0f, empty message). The process key is random, so
  // our hash of the empty message must differ from it (2^-64 to fail).
  unsigned char paper_key[crypto_shorthash_KEYBYTES];
  for (unsigned i = 0; i < sizeof paper_key; ++i) paper_key[i] = static_cast<unsigned char>(i);
  unsigned char out[crypto_shorthash_BYTES];
  crypto_shorthash(out, nullptr, 0, paper_key);
  std::uint64_t paper = 0;
  std::memcpy(&paper, out, sizeof paper);
  EXPECT_EQ(paper, 0x726fdb47dd0e0e31ULL);
  EXPECT_NE(keyed_hash(std::string_view()), paper);
}

TEST(KeyedHash, NumbersDifferingInHighBitsOnlySpreadOverLowBits) {
  // Floats are keyed by their bits; doubles that differ only in the top bits
  // would share a slot of a power-of-two table if hashed as themselves.
  std::unordered_set<std::uint64_t> low_bits;
  for (std::uint64_t i = 0; i < 1024; ++i) low_bits.insert(keyed_hash(i << 52) & 0xfffff);
  EXPECT_GT(low_bits.size(), 1000u);  // 1024 draws from 2^20: about 0.5 expected to coincide
}

}  // namespace
}  // namespace cybexp
