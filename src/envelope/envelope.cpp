// The envelope (docs/UPSTREAM-FORMATS.md section 1):
//
//   blob = RSA-OAEP-SHA1(session_key) || nonce(16) || tag(16) || AES-256-EAX ciphertext
//
// Decryption runs for every archived entry on every worker thread and the RSA
// private-key operation dominates it, so each thread keeps its own copy of each
// key with an OAEP context initialised once (see ThreadKeyCache).
#include "cybexp/envelope.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "cybexp/eax.h"
#include "envelope/openssl_error.h"

namespace cybexp {
namespace {

using envelope_detail::openssl_failure;

constexpr std::size_t kHeaderSize = kNonceSize + kTagSize;

// RSAES-OAEP with SHA-1 and MGF1-SHA-1, no label: what pycryptodome's
// PKCS1_OAEP.new(key) does upstream.
OSSL_PARAM* oaep_sha1_params(OSSL_PARAM (&params)[4]) {
  static char kOaep[] = OSSL_PKEY_RSA_PAD_MODE_OAEP;
  static char kSha1[] = "SHA1";
  params[0] = OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, kOaep, 0);
  params[1] = OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, kSha1, 0);
  params[2] = OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, kSha1, 0);
  params[3] = OSSL_PARAM_construct_end();
  return params;
}

// Per-thread decryption state for each key this thread has used.
//
// Each slot holds this thread's own duplicate of the key, not just its own
// EVP_PKEY_CTX: an OpenSSL 3 RSA object takes its lock on every private
// operation (blinding lookup, Montgomery contexts) and only the thread that
// first used it gets the lock-free blinding; other threads share one blinding
// under a second lock. A per-thread copy has uncontended locks and its own
// blinding, which stays on as OpenSSL's default.
//
// The slot is matched to its PrivateKey by shared_ptr ownership (a weak_ptr),
// so a key that is destroyed and another allocated at the same address can
// never be confused; slots of destroyed keys are freed on the next miss.
class ThreadKeyCache {
 public:
  ThreadKeyCache() = default;
  ThreadKeyCache(const ThreadKeyCache&) = delete;
  ThreadKeyCache& operator=(const ThreadKeyCache&) = delete;
  ~ThreadKeyCache() {
    for (Slot& s : slots_) s.free();
  }

  Result<EVP_PKEY_CTX*> decrypt_context(const PrivateKey& key) {
    for (const Slot& s : slots_) {
      if (!s.owner.owner_before(key.impl_) && !key.impl_.owner_before(s.owner)) return s.ctx;
    }
    std::erase_if(slots_, [](Slot& s) {
      if (!s.owner.expired()) return false;
      s.free();
      return true;
    });

    auto* shared = static_cast<EVP_PKEY*>(key.evp_pkey());
    Slot slot;
    slot.owner = key.impl_;
    slot.pkey = EVP_PKEY_dup(shared);
    if (slot.pkey == nullptr) {
      // A key OpenSSL cannot copy (e.g. held by an engine) is still safe to
      // share between threads, only slower.
      ERR_clear_error();
      if (EVP_PKEY_up_ref(shared) != 1) {
        return openssl_failure(ErrorKind::kCrypto, "cannot reference private key " + key.origin());
      }
      slot.pkey = shared;
    }
    slot.ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, slot.pkey, nullptr);
    OSSL_PARAM params[4];
    if (slot.ctx == nullptr || EVP_PKEY_decrypt_init_ex(slot.ctx, oaep_sha1_params(params)) != 1) {
      slot.free();
      return openssl_failure(ErrorKind::kCrypto,
                             "cannot set up RSA-OAEP decryption with " + key.origin());
    }
    slots_.push_back(slot);
    return slot.ctx;
  }

 private:
  struct Slot {
    std::weak_ptr<const PrivateKey::Impl> owner;
    EVP_PKEY* pkey = nullptr;
    EVP_PKEY_CTX* ctx = nullptr;
    void free() {
      EVP_PKEY_CTX_free(ctx);
      EVP_PKEY_free(pkey);
      ctx = nullptr;
      pkey = nullptr;
    }
  };
  std::vector<Slot> slots_;
};

thread_local ThreadKeyCache tl_keys;

std::string bits_of(std::size_t modulus_bytes) { return std::to_string(modulus_bytes * 8); }

// The length check that needs no key operation; nullopt if the blob is long
// enough to hold the key's session key, nonce and tag.
std::optional<Error> too_short(std::span<const std::uint8_t> blob, const PrivateKey& key) {
  const std::size_t minimum = key.modulus_bytes() + kHeaderSize;
  if (blob.size() >= minimum) return std::nullopt;
  return Error{ErrorKind::kBadData, "envelope is " + std::to_string(blob.size()) +
                                        " bytes, shorter than the " + std::to_string(minimum) +
                                        "-byte minimum for a " + bits_of(key.modulus_bytes()) +
                                        "-bit key: the upload is truncated or not a CYBEX-P "
                                        "envelope; upload it again"};
}

// decrypt_envelope, also telling the caller whether the session key came out
// of RSA-OAEP: after that the key is known to be the right one, and any
// failure is the entry's.
Result<SecureBytes> decrypt_with(std::span<const std::uint8_t> blob, const PrivateKey& key,
                                 bool& key_matched) {
  key_matched = false;
  if (key.impl_ == nullptr) return make_error(ErrorKind::kInvalidArgument, "no private key loaded");
  if (auto err = too_short(blob, key)) return std::unexpected(std::move(*err));

  const std::size_t m = key.modulus_bytes();
  EVP_PKEY_CTX* ctx = CYBEXP_TRY(tl_keys.decrypt_context(key));

  // The whole modulus size: OpenSSL wants room for any OAEP payload.
  SecureBytes session_key(m);
  std::size_t session_len = session_key.size();
  if (EVP_PKEY_decrypt(ctx, session_key.data(), &session_len, blob.data(), m) != 1) {
    ERR_clear_error();  // OpenSSL's reason is deliberately vague here; ours is better
    return make_error(ErrorKind::kBadData, "session key does not decrypt with " + key.origin() +
                                               ": wrong key or corrupted entry");
  }
  session_key.resize(session_len);
  if (session_len != kSessionKeySize) {
    return make_error(ErrorKind::kBadData,
                      "session key from " + key.origin() + " is " + std::to_string(session_len) +
                          " bytes, expected 32: the entry was not written by a CYBEX-P API module");
  }
  key_matched = true;

  const auto nonce = blob.subspan(m, kNonceSize);
  const auto tag = blob.subspan(m + kNonceSize, kTagSize);
  const auto ciphertext = blob.subspan(m + kHeaderSize);
  // Room for 16 more bytes: archive_one pads the text for the JSON parser
  // (document.h) without moving it.
  SecureBytes plaintext;
  plaintext.reserve(ciphertext.size() + 16);
  plaintext.resize(ciphertext.size());
  auto r = eax_decrypt(session_key, nonce, {}, ciphertext, tag, plaintext);
  if (!r) {
    if (r.error().kind == ErrorKind::kBadData) {
      return make_error(ErrorKind::kBadData,
                        "authentication tag mismatch: the entry was altered or truncated; upload it again");
    }
    return std::unexpected(std::move(r).error());
  }
  return plaintext;
}

}  // namespace

Result<SecureBytes> decrypt_envelope(std::span<const std::uint8_t> blob, const PrivateKey& key) {
  bool key_matched = false;
  return decrypt_with(blob, key, key_matched);
}

Result<SecureBytes> decrypt_envelope_any(std::span<const std::uint8_t> blob,
                                         std::span<const PrivateKey> keys) {
  if (keys.empty()) return make_error(ErrorKind::kInvalidArgument, "no private key configured");
  std::optional<Error> structural;
  bool any_tried = false;
  for (const PrivateKey& key : keys) {
    // Keys of another size may still fit; only if none does is the blob's
    // shortness the answer.
    if (auto err = too_short(blob, key)) {
      if (!structural) structural = std::move(err);
      continue;
    }
    any_tried = true;
    bool key_matched = false;
    auto r = decrypt_with(blob, key, key_matched);
    if (r) return r;
    // This key opened the session key, so it is the entry's key and the
    // entry is damaged; the other keys cannot do better, and "no key
    // decrypts this" would send the operator after the wrong problem.
    if (key_matched || r.error().kind != ErrorKind::kBadData) return r;
  }
  if (!any_tried) return std::unexpected(std::move(*structural));
  const std::size_t n = keys.size();
  return make_error(ErrorKind::kBadData, "no configured private key decrypts this entry (tried " +
                                             std::to_string(n) + (n == 1 ? " key)" : " keys)") +
                                             ": add the private key of the API module's public key to "
                                             "cache.private_key, then 'requeue --state bad_data'");
}

Result<std::vector<std::uint8_t>> encrypt_envelope(std::span<const std::uint8_t> plaintext,
                                                   const PublicKey& key) {
  if (key.impl_ == nullptr) return make_error(ErrorKind::kInvalidArgument, "no public key loaded");
  const std::size_t m = key.modulus_bytes();

  SecureBytes session_key(kSessionKeySize);
  std::array<std::uint8_t, kNonceSize> nonce;
  if (RAND_bytes(session_key.data(), static_cast<int>(session_key.size())) != 1 ||
      RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) {
    return openssl_failure(ErrorKind::kCrypto, "cannot generate a random session key");
  }

  // Not cached per thread like decryption: encryption is for `submit` and
  // tests, not the archive's hot path.
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      EVP_PKEY_CTX_new_from_pkey(nullptr, static_cast<EVP_PKEY*>(key.evp_pkey()), nullptr),
      &EVP_PKEY_CTX_free);
  OSSL_PARAM params[4];
  if (!ctx || EVP_PKEY_encrypt_init_ex(ctx.get(), oaep_sha1_params(params)) != 1) {
    return openssl_failure(ErrorKind::kCrypto, "cannot set up RSA-OAEP encryption");
  }

  std::vector<std::uint8_t> blob(m + kHeaderSize + plaintext.size());
  std::size_t enc_len = m;
  if (EVP_PKEY_encrypt(ctx.get(), blob.data(), &enc_len, session_key.data(), session_key.size()) != 1 ||
      enc_len != m) {
    return openssl_failure(ErrorKind::kCrypto, "RSA-OAEP encryption of the session key failed");
  }
  std::memcpy(blob.data() + m, nonce.data(), nonce.size());
  const EaxTag tag = CYBEXP_TRY(eax_encrypt(session_key, nonce, {}, plaintext,
                                            std::span(blob).subspan(m + kHeaderSize)));
  std::memcpy(blob.data() + m + kNonceSize, tag.data(), tag.size());
  return blob;
}

}  // namespace cybexp
