// AES EAX mode (Bellare, Rogaway, Wagner 2004) composed from OpenSSL's AES-CTR
// and CMAC, since OpenSSL has no EAX. Key sizes 16, 24 or 32 bytes; any nonce
// and header length; 16-byte tag.
//
// Thread safety: stateless functions, safe to call from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "cybexp/result.h"

namespace cybexp {

using EaxTag = std::array<std::uint8_t, 16>;

// out must be plaintext.size() bytes (may alias plaintext). Returns the tag.
Result<EaxTag> eax_encrypt(std::span<const std::uint8_t> key, std::span<const std::uint8_t> nonce,
                           std::span<const std::uint8_t> header,
                           std::span<const std::uint8_t> plaintext, std::span<std::uint8_t> out);

// Verifies the tag first (constant time), then decrypts into out
// (ciphertext.size() bytes). kBadData on a tag mismatch; out is then untouched.
Result<void> eax_decrypt(std::span<const std::uint8_t> key, std::span<const std::uint8_t> nonce,
                         std::span<const std::uint8_t> header,
                         std::span<const std::uint8_t> ciphertext, std::span<const std::uint8_t> tag,
                         std::span<std::uint8_t> out);

}  // namespace cybexp
