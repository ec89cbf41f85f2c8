// Keyed hashing (keyed_hash.h) on libsodium's SipHash-2-4.
#include "util/keyed_hash.h"

#include <sodium.h>

#include <array>
#include <cstdlib>
#include <cstring>

#include "util/log.h"

namespace cybexp {
namespace {

using Key = std::array<unsigned char, crypto_shorthash_KEYBYTES>;

// Drawn from the kernel's CSPRNG once per process. Without randomness the
// service cannot work safely at all (RSA-OAEP needs it too), so failing to
// initialise libsodium is fatal here rather than an error value.
const Key& process_key() {
  static const Key key = [] {
    if (sodium_init() < 0) {
      log_for_user(LogLevel::kError, "libsodium failed to initialise (no randomness?)");
      std::abort();
    }
    Key k;
    randombytes_buf(k.data(), k.size());
    return k;
  }();
  return key;
}

std::uint64_t siphash(const unsigned char* data, std::size_t size) noexcept {
  unsigned char out[crypto_shorthash_BYTES];
  crypto_shorthash(out, data, size, process_key().data());
  std::uint64_t h;
  std::memcpy(&h, out, sizeof h);
  return h;
}

}  // namespace

std::uint64_t keyed_hash(std::string_view bytes) noexcept {
  return siphash(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

std::uint64_t keyed_hash(std::uint64_t x) noexcept {
  unsigned char b[sizeof x];
  std::memcpy(b, &x, sizeof x);
  return siphash(b, sizeof b);
}

}  // namespace cybexp
