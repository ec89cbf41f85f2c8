// Keyed hashing for the hash tables that hold hostile input: object keys,
// string and number leaves of a document, entry ids from the cache lake.
//
// Why: std::hash<std::string_view> in libstdc++ is MurmurHash64A with a fixed
// seed, and that function has seed-independent multicollisions: 2^t distinct
// printable strings of 16t bytes that all hash alike can be built offline
// (tests/support/hash_flood.h does so). One such object of 2^14 keys (3.5 MiB)
// turns the parser's duplicate-key table into 2^27 string comparisons, and the
// per-entry time budget is only checked between stages. SipHash-2-4 under a
// random per-process key (libsodium's crypto_shorthash) gives an attacker no
// way to predict which keys collide.
//
// Thread safety: the key is drawn once, on first use (a thread-safe static);
// after that every function here is pure and may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace cybexp {

// SipHash-2-4 of the bytes under the process key.
std::uint64_t keyed_hash(std::string_view bytes) noexcept;
// SipHash-2-4 of the eight bytes of x (native order) under the process key.
std::uint64_t keyed_hash(std::uint64_t x) noexcept;

// Hasher for unordered containers of strings (transparent: std::string and
// std::string_view keys and look-ups alike).
struct KeyedStringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return keyed_hash(s); }
};

}  // namespace cybexp
