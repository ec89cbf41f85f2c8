// Shared by the fuzz targets: the test keys, an invariant check that aborts
// (so libFuzzer records the input), and envelopes under a fixed session key,
// so that a target can put fuzzer-chosen EAX fields or plaintext behind a
// genuine RSA-OAEP block without an RSA encryption (random, slow) per input.
#pragma once

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "cybexp/eax.h"
#include "cybexp/envelope.h"

namespace cybexp::fuzz {

// An invariant the code under test must keep; a violation is a finding.
inline void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
  std::abort();
}

inline std::string data_path(const char* name) {
  return std::string(CYBEXP_TEST_DATA_DIR) + "/" + name;
}

struct Keys {
  PrivateKey archive;  // tests/data/priv.pem: the key the vectors are encrypted to
  PrivateKey other;    // an unrelated key, as after a key rotation
  PublicKey archive_public;
};

inline const Keys& keys() {
  static const Keys k = [] {
    auto priv = PrivateKey::load_file(data_path("priv.pem"), false);
    auto other = PrivateKey::load_file(data_path("other-priv.pem"), false);
    auto pub = PublicKey::load_file(data_path("pub.pem"));
    check(priv && other && pub, "tests/data keys load");
    return Keys{*priv, *other, *pub};
  }();
  return k;
}

// RSA-OAEP(SHA-1) of a fixed 32-byte session key under the archive's public
// key, made once; then seal() and wrap() build envelopes around it.
class FixedSession {
 public:
  static const FixedSession& get() {
    static const FixedSession s;
    return s;
  }

  std::span<const std::uint8_t> key() const { return key_; }

  // rsa_block || rest: the EAX part (nonce, tag, ciphertext) comes from the caller.
  std::vector<std::uint8_t> wrap(std::span<const std::uint8_t> rest) const {
    std::vector<std::uint8_t> blob(rsa_block_);
    blob.insert(blob.end(), rest.begin(), rest.end());
    return blob;
  }

  // A genuine envelope of `plaintext` (deterministic: fixed key and nonce).
  std::vector<std::uint8_t> seal(std::span<const std::uint8_t> plaintext) const {
    std::vector<std::uint8_t> blob(rsa_block_);
    blob.insert(blob.end(), kNonce.begin(), kNonce.end());
    const std::size_t tag_at = blob.size();
    blob.resize(blob.size() + kTagSize + plaintext.size());
    auto tag = eax_encrypt(key_, kNonce, {}, plaintext, std::span(blob).subspan(tag_at + kTagSize));
    check(tag.has_value(), "eax_encrypt with a valid key");
    std::copy(tag->begin(), tag->end(), blob.begin() + static_cast<std::ptrdiff_t>(tag_at));
    return blob;
  }

 private:
  static constexpr std::array<std::uint8_t, kNonceSize> kNonce = {7, 7, 7, 7, 7, 7, 7, 7,
                                                                  7, 7, 7, 7, 7, 7, 7, 7};

  FixedSession() {
    for (std::size_t i = 0; i < key_.size(); ++i) key_[i] = static_cast<std::uint8_t>(0xA0 + i);
    auto* pkey = static_cast<EVP_PKEY*>(keys().archive_public.evp_pkey());
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr);
    char oaep[] = OSSL_PKEY_RSA_PAD_MODE_OAEP;
    char sha1[] = "SHA1";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, oaep, 0),
        OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, sha1, 0),
        OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, sha1, 0),
        OSSL_PARAM_construct_end()};
    rsa_block_.resize(keys().archive_public.modulus_bytes());
    std::size_t len = rsa_block_.size();
    check(ctx != nullptr && EVP_PKEY_encrypt_init_ex(ctx, params) == 1 &&
              EVP_PKEY_encrypt(ctx, rsa_block_.data(), &len, key_.data(), key_.size()) == 1 &&
              len == rsa_block_.size(),
          "RSA-OAEP encryption of the fixed session key");
    EVP_PKEY_CTX_free(ctx);
  }

  std::array<std::uint8_t, kSessionKeySize> key_{};
  std::vector<std::uint8_t> rsa_block_;
};

}  // namespace cybexp::fuzz
