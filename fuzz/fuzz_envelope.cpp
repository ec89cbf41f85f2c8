// Fuzz target: the envelope parser and decryptor (src/envelope).
//
// The first input byte picks what the rest is:
//   0: a whole blob from the cache lake, tried with two keys (rotation), as
//      archive_one does. Random bytes rarely get past RSA-OAEP, hence:
//   1: nonce || tag || ciphertext behind a genuine RSA-OAEP block, so the
//      EAX layer's length handling and tag check see hostile input;
//   2: EAX alone with a fuzzer-chosen key size, nonce and header: encrypt,
//      decrypt back, then a flipped bit must be refused;
//   3: a plaintext, sealed into a genuine envelope, must decrypt to itself.
#include <cstdint>
#include <cstring>

#include "fuzz_support.h"

using namespace cybexp;
using cybexp::fuzz::check;

namespace {

void whole_blob(std::span<const std::uint8_t> blob) {
  const PrivateKey both[] = {fuzz::keys().other, fuzz::keys().archive};
  auto r = decrypt_envelope_any(blob, both);
  if (!r) {
    check(r.error().kind == ErrorKind::kBadData, "a hostile blob is kBadData, never another kind");
    check(!r.error().message.empty(), "errors say why");
    return;
  }
  check(r->size() + 256 + kNonceSize + kTagSize == blob.size(),
        "plaintext is the ciphertext's size");
}

void behind_valid_rsa(std::span<const std::uint8_t> rest) {
  const fuzz::FixedSession& s = fuzz::FixedSession::get();
  const std::vector<std::uint8_t> blob = s.wrap(rest);
  auto r = decrypt_envelope(blob, fuzz::keys().archive);
  if (!r) {
    check(r.error().kind == ErrorKind::kBadData, "a bad EAX part is kBadData");
    return;
  }
  // Only a correct tag decrypts; then sealing the plaintext again under the
  // same key and nonce must give back the very same bytes.
  check(rest.size() >= kNonceSize + kTagSize, "decrypted a blob without room for nonce and tag");
  std::vector<std::uint8_t> ct(r->size());
  auto tag = eax_encrypt(s.key(), rest.subspan(0, kNonceSize), {}, *r, ct);
  check(tag && std::memcmp(tag->data(), rest.data() + kNonceSize, kTagSize) == 0 &&
            std::equal(ct.begin(), ct.end(), rest.begin() + kNonceSize + kTagSize),
        "an accepted envelope re-seals to itself");
}

void eax_round_trip(std::span<const std::uint8_t> in) {
  if (in.size() < 3) return;
  static constexpr std::size_t kKeySizes[] = {16, 24, 32, 0, 15, 33};
  const std::size_t key_size = kKeySizes[in[0] % 6];
  const std::size_t nonce_size = std::min<std::size_t>(in[1] % 64, in.size() - 3);
  const std::size_t header_size = std::min<std::size_t>(in[2] % 64, in.size() - 3 - nonce_size);
  const auto nonce = in.subspan(3, nonce_size);
  const auto header = in.subspan(3 + nonce_size, header_size);
  const auto plaintext = in.subspan(3 + nonce_size + header_size);
  std::vector<std::uint8_t> key(key_size);
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(i * 7 + in[0]);

  std::vector<std::uint8_t> ct(plaintext.size());
  auto tag = eax_encrypt(key, nonce, header, plaintext, ct);
  if (key_size != 16 && key_size != 24 && key_size != 32) {
    check(!tag && tag.error().kind == ErrorKind::kInvalidArgument, "a non-AES key size is refused");
    return;
  }
  check(tag.has_value(), "EAX encrypts with any nonce and header");
  std::vector<std::uint8_t> back(ct.size(), 0xEE);
  check(eax_decrypt(key, nonce, header, ct, *tag, back).has_value() &&
            std::equal(back.begin(), back.end(), plaintext.begin()),
        "EAX decrypts what it encrypted");

  // One flipped bit anywhere (tag, ciphertext, header, nonce) is refused,
  // and the output is left untouched.
  EaxTag bad_tag = *tag;
  std::vector<std::uint8_t> bad_ct = ct;
  std::vector<std::uint8_t> bad_header(header.begin(), header.end());
  std::vector<std::uint8_t> bad_nonce(nonce.begin(), nonce.end());
  const std::size_t where = plaintext.empty() ? 0 : plaintext[0];
  switch (where % 4) {
    case 0:
      bad_tag[where % kTagSize] ^= 1;
      break;
    case 1:
      if (!bad_ct.empty())
        bad_ct[where % bad_ct.size()] ^= 0x80;
      else
        bad_tag[0] ^= 1;
      break;
    case 2:
      if (!bad_header.empty())
        bad_header[where % bad_header.size()] ^= 2;
      else
        bad_tag[1] ^= 1;
      break;
    default:
      if (!bad_nonce.empty())
        bad_nonce[where % bad_nonce.size()] ^= 4;
      else
        bad_tag[2] ^= 1;
      break;
  }
  std::vector<std::uint8_t> untouched(ct.size(), 0x5A);
  auto r = eax_decrypt(key, bad_nonce, bad_header, bad_ct, bad_tag, untouched);
  check(!r && r.error().kind == ErrorKind::kBadData, "a flipped bit fails authentication");
  check(std::all_of(untouched.begin(), untouched.end(), [](std::uint8_t b) { return b == 0x5A; }),
        "a forged input is never decrypted");
}

void sealed_plaintext(std::span<const std::uint8_t> plaintext) {
  const std::vector<std::uint8_t> blob = fuzz::FixedSession::get().seal(plaintext);
  const PrivateKey both[] = {fuzz::keys().other, fuzz::keys().archive};
  auto r = decrypt_envelope_any(blob, both);
  check(r && r->size() == plaintext.size() && std::equal(r->begin(), r->end(), plaintext.begin()),
        "a genuine envelope decrypts to its plaintext with the second key");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::FixedSession::get();  // keys loaded before the first input
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::span<const std::uint8_t> rest(data + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      whole_blob(rest);
      break;
    case 1:
      behind_valid_rsa(rest);
      break;
    case 2:
      eax_round_trip(rest);
      break;
    default:
      sealed_plaintext(rest);
      break;
  }
  return 0;
}
