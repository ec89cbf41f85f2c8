// The encrypted envelope the API module writes into the cache lake:
//
//   blob = RSA-OAEP-SHA1(session_key) || nonce(16) || tag(16) || AES-256-EAX ciphertext
//
// (docs/UPSTREAM-FORMATS.md section 1). decrypt_envelope is upstream's decrypt_file;
// encrypt_envelope is its inverse, used by `submit` and by tests.
//
// Thread safety: PrivateKey and PublicKey are immutable after loading and may
// be shared by any number of threads; every function here is safe to call
// concurrently (per-thread OpenSSL contexts are cached internally).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "cybexp/result.h"
#include "cybexp/secure_buffer.h"

namespace cybexp {

inline constexpr std::size_t kNonceSize = 16;
inline constexpr std::size_t kTagSize = 16;
inline constexpr std::size_t kSessionKeySize = 32;

class PrivateKey {
 public:
  // PEM, PKCS#1 ("BEGIN RSA PRIVATE KEY") or PKCS#8 ("BEGIN PRIVATE KEY").
  static Result<PrivateKey> from_pem(std::string_view pem, std::string origin = "<memory>");
  // Loads a key file; refuses (kInvalidArgument) a file readable by group or
  // others unless check_permissions is false.
  static Result<PrivateKey> load_file(const std::filesystem::path& path,
                                      bool check_permissions = true);

  std::size_t modulus_bytes() const;  // 256 for RSA-2048
  const std::string& origin() const;  // the file it came from, for messages
  void* evp_pkey() const;             // EVP_PKEY*, for the implementation

  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

class PublicKey {
 public:
  // PEM SubjectPublicKeyInfo ("BEGIN PUBLIC KEY") or PKCS#1 ("BEGIN RSA PUBLIC KEY").
  static Result<PublicKey> from_pem(std::string_view pem, std::string origin = "<memory>");
  static Result<PublicKey> load_file(const std::filesystem::path& path);

  std::size_t modulus_bytes() const;
  void* evp_pkey() const;

  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

// Decrypts and authenticates one envelope. Errors are kBadData with a reason a
// person can act on (too short, OAEP failure, tag mismatch); never includes key
// or payload bytes.
Result<SecureBytes> decrypt_envelope(std::span<const std::uint8_t> blob, const PrivateKey& key);

// Tries each key in turn (key rotation). On failure the message says how many
// keys were tried, e.g. "no configured private key decrypts this entry (tried 2 keys)".
Result<SecureBytes> decrypt_envelope_any(std::span<const std::uint8_t> blob,
                                         std::span<const PrivateKey> keys);

// Encrypts with a fresh random session key and nonce.
Result<std::vector<std::uint8_t>> encrypt_envelope(std::span<const std::uint8_t> plaintext,
                                                   const PublicKey& key);

// Writes a new RSA key pair: private as PKCS#1 PEM with mode 0600, public as
// SubjectPublicKeyInfo PEM. Refuses to overwrite unless force.
Result<void> generate_key_pair(const std::filesystem::path& private_path,
                               const std::filesystem::path& public_path, int bits, bool force);

}  // namespace cybexp
