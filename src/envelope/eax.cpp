// AES-EAX (Bellare, Rogaway, Wagner 2004) composed from OpenSSL's AES-CTR and
// CMAC, which is all EAX is:
//
//   N' = OMAC0(nonce), H' = OMAC1(header), C = CTR(key, N')(M), C' = OMAC2(C)
//   tag = N' ^ H' ^ C',   where OMACt(X) = CMAC(key, [t]_16 || X)
//
// The CTR counter is the whole 128-bit block, big-endian, starting at N'; that
// is what pycryptodome (upstream) does and what OpenSSL's AES-CTR increments.
#include "cybexp/eax.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <climits>
#include <string>

#include "envelope/openssl_error.h"

namespace cybexp {
namespace {

using envelope_detail::openssl_failure;

constexpr std::size_t kBlock = 16;
using Block = std::array<std::uint8_t, kBlock>;

constexpr const char* kCtrNames[3] = {"AES-128-CTR", "AES-192-CTR", "AES-256-CTR"};
constexpr const char* kCbcNames[3] = {"AES-128-CBC", "AES-192-CBC", "AES-256-CBC"};

// 16, 24, 32-byte keys map to 0, 1, 2; anything else is not AES.
int key_index(std::size_t key_size) {
  switch (key_size) {
    case 16: return 0;
    case 24: return 1;
    case 32: return 2;
    default: return -1;
  }
}

// Fetched once per process: an EVP_*_fetch walks OpenSSL 3's method store under
// a lock, which would serialise the worker threads if done per call.
struct Algorithms {
  EVP_CIPHER* ctr[3] = {};
  EVP_MAC* cmac = nullptr;

  Algorithms() {
    for (int i = 0; i < 3; ++i) ctr[i] = EVP_CIPHER_fetch(nullptr, kCtrNames[i], nullptr);
    cmac = EVP_MAC_fetch(nullptr, "CMAC", nullptr);
  }
  ~Algorithms() {
    for (EVP_CIPHER* c : ctr) EVP_CIPHER_free(c);
    EVP_MAC_free(cmac);
  }
  Algorithms(const Algorithms&) = delete;
  Algorithms& operator=(const Algorithms&) = delete;
};

const Algorithms& algorithms() {
  static const Algorithms algs;
  return algs;
}

// Per-thread contexts, made on first use and kept for the thread's life, so a
// call only re-keys them (no allocation, no shared state). One per key size,
// because switching a context's cipher rebuilds its provider state.
struct ThreadContexts {
  EVP_CIPHER_CTX* ctr[3] = {};
  EVP_MAC_CTX* cmac[3] = {};

  ThreadContexts() = default;
  ~ThreadContexts() {
    for (EVP_CIPHER_CTX* c : ctr) EVP_CIPHER_CTX_free(c);
    for (EVP_MAC_CTX* m : cmac) EVP_MAC_CTX_free(m);
  }
  ThreadContexts(const ThreadContexts&) = delete;
  ThreadContexts& operator=(const ThreadContexts&) = delete;
};

thread_local ThreadContexts tl_contexts;

Result<EVP_MAC_CTX*> cmac_context(int idx) {
  EVP_MAC_CTX*& slot = tl_contexts.cmac[idx];
  if (slot != nullptr) return slot;
  const Algorithms& algs = algorithms();
  if (algs.cmac == nullptr) return openssl_failure(ErrorKind::kCrypto, "CMAC is not available");
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(algs.cmac);
  if (ctx == nullptr) return openssl_failure(ErrorKind::kCrypto, "cannot create a CMAC context");
  // The cipher is set once here; later EVP_MAC_init calls pass only the key,
  // so they never look the cipher up again.
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, const_cast<char*>(kCbcNames[idx]), 0),
      OSSL_PARAM_construct_end()};
  if (EVP_MAC_CTX_set_params(ctx, params) != 1) {
    EVP_MAC_CTX_free(ctx);
    return openssl_failure(ErrorKind::kCrypto, std::string("cannot set up CMAC with ") + kCbcNames[idx]);
  }
  slot = ctx;
  return slot;
}

Result<EVP_CIPHER_CTX*> ctr_context(int idx) {
  EVP_CIPHER_CTX*& slot = tl_contexts.ctr[idx];
  if (slot != nullptr) return slot;
  const Algorithms& algs = algorithms();
  if (algs.ctr[idx] == nullptr)
    return openssl_failure(ErrorKind::kCrypto, std::string(kCtrNames[idx]) + " is not available");
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr || EVP_EncryptInit_ex2(ctx, algs.ctr[idx], nullptr, nullptr, nullptr) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return openssl_failure(ErrorKind::kCrypto, std::string("cannot set up ") + kCtrNames[idx]);
  }
  slot = ctx;
  return slot;
}

// OMAC^t(m) = CMAC(key, [t]_16 || m).
Result<void> omac(EVP_MAC_CTX* ctx, std::span<const std::uint8_t> key, std::uint8_t t,
                  std::span<const std::uint8_t> m, Block& out) {
  Block prefix{};
  prefix[kBlock - 1] = t;
  std::size_t len = 0;
  if (EVP_MAC_init(ctx, key.data(), key.size(), nullptr) != 1 ||
      EVP_MAC_update(ctx, prefix.data(), prefix.size()) != 1 ||
      (!m.empty() && EVP_MAC_update(ctx, m.data(), m.size()) != 1) ||
      EVP_MAC_final(ctx, out.data(), &len, out.size()) != 1 || len != kBlock) {
    return openssl_failure(ErrorKind::kCrypto, "CMAC failed");
  }
  return {};
}

// CTR keystream XOR, counter starting at `counter`. in and out may be the same
// buffer. EVP_EncryptUpdate takes an int length, hence the chunks; CTR state
// carries across them.
Result<void> ctr_xor(EVP_CIPHER_CTX* ctx, std::span<const std::uint8_t> key, const Block& counter,
                     std::span<const std::uint8_t> in, std::span<std::uint8_t> out) {
  if (EVP_EncryptInit_ex2(ctx, nullptr, key.data(), counter.data(), nullptr) != 1)
    return openssl_failure(ErrorKind::kCrypto, "AES-CTR key setup failed");
  constexpr std::size_t kChunk = std::size_t{1} << 30;
  for (std::size_t pos = 0; pos < in.size(); pos += kChunk) {
    const std::size_t n = std::min(kChunk, in.size() - pos);
    int written = 0;
    if (EVP_EncryptUpdate(ctx, out.data() + pos, &written, in.data() + pos, static_cast<int>(n)) != 1 ||
        static_cast<std::size_t>(written) != n) {
      return openssl_failure(ErrorKind::kCrypto, "AES-CTR failed");
    }
  }
  return {};
}

struct Contexts {
  EVP_MAC_CTX* mac;
  EVP_CIPHER_CTX* ctr;
};

Result<Contexts> contexts_for(std::span<const std::uint8_t> key) {
  const int idx = key_index(key.size());
  if (idx < 0) {
    return make_error(ErrorKind::kInvalidArgument,
                      "EAX key is " + std::to_string(key.size()) + " bytes; AES needs 16, 24 or 32");
  }
  EVP_MAC_CTX* mac = CYBEXP_TRY(cmac_context(idx));
  EVP_CIPHER_CTX* ctr = CYBEXP_TRY(ctr_context(idx));
  return Contexts{mac, ctr};
}

// N' ^ H' ^ C' into `tag`.
void combine(const Block& n, const Block& h, const Block& c, std::span<std::uint8_t, kBlock> tag) {
  for (std::size_t i = 0; i < kBlock; ++i) tag[i] = n[i] ^ h[i] ^ c[i];
}

// The OMAC values are not the key, but N' is the keystream's starting counter;
// no reason to leave them on the stack.
struct WipedBlocks {
  Block n{}, h{}, c{};
  ~WipedBlocks() {
    OPENSSL_cleanse(n.data(), n.size());
    OPENSSL_cleanse(h.data(), h.size());
    OPENSSL_cleanse(c.data(), c.size());
  }
};

}  // namespace

Result<EaxTag> eax_encrypt(std::span<const std::uint8_t> key, std::span<const std::uint8_t> nonce,
                           std::span<const std::uint8_t> header,
                           std::span<const std::uint8_t> plaintext, std::span<std::uint8_t> out) {
  if (out.size() != plaintext.size()) {
    return make_error(ErrorKind::kInvalidArgument,
                      "EAX output buffer is " + std::to_string(out.size()) + " bytes, plaintext is " +
                          std::to_string(plaintext.size()));
  }
  const Contexts ctx = CYBEXP_TRY(contexts_for(key));
  WipedBlocks b;
  CYBEXP_TRY_VOID(omac(ctx.mac, key, 0, nonce, b.n));
  CYBEXP_TRY_VOID(omac(ctx.mac, key, 1, header, b.h));
  CYBEXP_TRY_VOID(ctr_xor(ctx.ctr, key, b.n, plaintext, out));
  CYBEXP_TRY_VOID(omac(ctx.mac, key, 2, out, b.c));
  EaxTag tag;
  combine(b.n, b.h, b.c, tag);
  return tag;
}

Result<void> eax_decrypt(std::span<const std::uint8_t> key, std::span<const std::uint8_t> nonce,
                         std::span<const std::uint8_t> header,
                         std::span<const std::uint8_t> ciphertext, std::span<const std::uint8_t> tag,
                         std::span<std::uint8_t> out) {
  if (out.size() != ciphertext.size()) {
    return make_error(ErrorKind::kInvalidArgument,
                      "EAX output buffer is " + std::to_string(out.size()) + " bytes, ciphertext is " +
                          std::to_string(ciphertext.size()));
  }
  if (tag.size() != kBlock) {
    return make_error(ErrorKind::kInvalidArgument,
                      "EAX tag is " + std::to_string(tag.size()) + " bytes, expected 16");
  }
  const Contexts ctx = CYBEXP_TRY(contexts_for(key));
  WipedBlocks b;
  CYBEXP_TRY_VOID(omac(ctx.mac, key, 0, nonce, b.n));
  CYBEXP_TRY_VOID(omac(ctx.mac, key, 1, header, b.h));
  CYBEXP_TRY_VOID(omac(ctx.mac, key, 2, ciphertext, b.c));
  Block expected;
  combine(b.n, b.h, b.c, expected);
  // Constant time, and before any plaintext exists: forged input never gets
  // decrypted.
  if (CRYPTO_memcmp(expected.data(), tag.data(), kBlock) != 0) {
    return make_error(ErrorKind::kBadData, "authentication tag mismatch");
  }
  return ctr_xor(ctx.ctr, key, b.n, ciphertext, out);
}

}  // namespace cybexp
