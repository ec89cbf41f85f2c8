// The envelope against the upstream Python stack's vectors (tests/data), round
// trips, key loading (PKCS#1, PKCS#8, permissions) and key generation.
#include "cybexp/envelope.h"

#include <gtest/gtest.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "support/temp_dir.h"
#include "support/vectors.h"
#include "util/encoding.h"

namespace cybexp {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

const fs::path kData = CYBEXP_TEST_DATA_DIR;

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const fs::path& p, std::string_view text, mode_t mode) {
  {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
  }
  ASSERT_EQ(::chmod(p.c_str(), mode), 0);
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0);
  return st.st_mode & 07777;
}

using testing::TempDir;
using testing::vector_named;

// The key files in git are mode 0644, so the permission check is off here.
const PrivateKey& priv() {
  static const PrivateKey k = *PrivateKey::load_file(kData / "priv.pem", false);
  return k;
}
const PrivateKey& other_priv() {
  static const PrivateKey k = *PrivateKey::load_file(kData / "other-priv.pem", false);
  return k;
}
const PublicKey& pub() {
  static const PublicKey k = *PublicKey::load_file(kData / "pub.pem");
  return k;
}

const std::vector<testing::Vector>& vectors() { return testing::all_vectors(); }

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// ---- upstream vectors ----------------------------------------------------

TEST(EnvelopeVectors, EveryVectorDecryptsOrFailsAsUpstreamDid) {
  ASSERT_EQ(vectors().size(), 34u);
  int ok = 0, bad = 0;
  for (const testing::Vector& v : vectors()) {
    auto r = decrypt_envelope(v.blob, priv());
    // invalid_utf8 is bad data to upstream only after decryption (UTF-8
    // decoding); the envelope itself is sound.
    if (v.state == "bad_data" && v.name != "invalid_utf8") {
      ASSERT_FALSE(r.has_value()) << v.name;
      EXPECT_EQ(r.error().kind, ErrorKind::kBadData) << v.name;
      ++bad;
    } else {
      ASSERT_TRUE(r.has_value()) << v.name << ": " << r.error().message;
      EXPECT_EQ(Bytes(r->begin(), r->end()), v.plaintext) << v.name;
      ++ok;
    }
  }
  EXPECT_EQ(bad, 5);
  EXPECT_EQ(ok, 29);
}

TEST(EnvelopeVectors, FailureMessagesSayWhatHappened) {
  auto r = decrypt_envelope(vector_named("empty_blob").blob, priv());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message,
            "envelope is 0 bytes, shorter than the 288-byte minimum for a 2048-bit key: the upload "
            "is truncated or not a CYBEX-P envelope; upload it again");

  r = decrypt_envelope(vector_named("truncated_blob").blob, priv());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message,
            "envelope is 276 bytes, shorter than the 288-byte minimum for a 2048-bit key: the upload "
            "is truncated or not a CYBEX-P envelope; upload it again");

  for (const char* name : {"tampered_tag", "tampered_ciphertext"}) {
    r = decrypt_envelope(vector_named(name).blob, priv());
    ASSERT_FALSE(r.has_value()) << name;
    EXPECT_EQ(r.error().message,
              "authentication tag mismatch: the entry was altered or truncated; upload it again");
  }

  r = decrypt_envelope(vector_named("wrong_key").blob, priv());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kBadData);
  EXPECT_EQ(r.error().message, "session key does not decrypt with " + (kData / "priv.pem").string() +
                                   ": wrong key or corrupted entry");
}

TEST(EnvelopeVectors, WrongKeyVectorBelongsToTheOtherKey) {
  const testing::Vector& v = vector_named("wrong_key");
  auto r = decrypt_envelope(v.blob, other_priv());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(Bytes(r->begin(), r->end()), v.plaintext);
}

// ---- key rotation --------------------------------------------------------

TEST(EnvelopeAny, TriesEveryKey) {
  const std::vector<PrivateKey> both = {other_priv(), priv()};
  for (const char* name : {"wrong_key", "cowrie_login", "empty_plaintext"}) {
    const testing::Vector& v = vector_named(name);
    auto r = decrypt_envelope_any(v.blob, both);
    ASSERT_TRUE(r.has_value()) << name << ": " << r.error().message;
    EXPECT_EQ(Bytes(r->begin(), r->end()), v.plaintext) << name;
  }
}

TEST(EnvelopeAny, CountsTheKeysTried) {
  const std::vector<PrivateKey> one = {other_priv()};
  auto r = decrypt_envelope_any(vector_named("cowrie_login").blob, one);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kBadData);
  EXPECT_EQ(r.error().message,
            "no configured private key decrypts this entry (tried 1 key): add the private key of the "
            "API module's public key to cache.private_key, then 'requeue --state bad_data'");

  const std::vector<PrivateKey> two = {priv(), priv()};
  r = decrypt_envelope_any(vector_named("wrong_key").blob, two);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message,
            "no configured private key decrypts this entry (tried 2 keys): add the private key of the "
            "API module's public key to cache.private_key, then 'requeue --state bad_data'");
}

TEST(EnvelopeAny, StructuralAndTamperingFailuresAreReportedAsSuch) {
  const std::vector<PrivateKey> both = {other_priv(), priv()};
  auto r = decrypt_envelope_any(vector_named("truncated_blob").blob, both);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kBadData);
  EXPECT_TRUE(contains(r.error().message, "shorter than the 288-byte minimum")) << r.error().message;

  // priv opens the session key, so the entry itself was altered.
  r = decrypt_envelope_any(vector_named("tampered_tag").blob, both);
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(contains(r.error().message, "authentication tag mismatch")) << r.error().message;

  r = decrypt_envelope_any(vector_named("cowrie_login").blob, std::span<const PrivateKey>());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);
}

// ---- round trips ---------------------------------------------------------

TEST(EnvelopeRoundTrip, EncryptThenDecryptAtBlockBoundariesAndOneMebibyte) {
  std::mt19937 rng(42);
  for (std::size_t size : {0u, 1u, 15u, 16u, 17u, 1u << 20}) {
    Bytes plaintext(size);
    for (auto& b : plaintext) b = static_cast<std::uint8_t>(rng());
    auto blob = encrypt_envelope(plaintext, pub());
    ASSERT_TRUE(blob.has_value()) << blob.error().message;
    EXPECT_EQ(blob->size(), 256 + 16 + 16 + size);
    auto back = decrypt_envelope(*blob, priv());
    ASSERT_TRUE(back.has_value()) << size << ": " << back.error().message;
    EXPECT_TRUE(std::equal(back->begin(), back->end(), plaintext.begin(), plaintext.end())) << size;
  }
}

TEST(EnvelopeRoundTrip, EverySealUsesAFreshSessionKeyAndNonce) {
  const Bytes plaintext = {'h', 'i'};
  auto a = encrypt_envelope(plaintext, pub());
  auto b = encrypt_envelope(plaintext, pub());
  ASSERT_TRUE(a && b);
  EXPECT_NE(Bytes(a->begin(), a->begin() + 256), Bytes(b->begin(), b->begin() + 256));
  EXPECT_NE(Bytes(a->begin() + 256, a->begin() + 272), Bytes(b->begin() + 256, b->begin() + 272));
  EXPECT_NE(*a, *b);
}

TEST(EnvelopeRoundTrip, ConcurrentThreadsAndShortLivedKeys) {
  const testing::Vector& v = vector_named("cowrie_login");
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        auto r = decrypt_envelope(v.blob, priv());
        if (!r || Bytes(r->begin(), r->end()) != v.plaintext) ++failures;
        // A key that lives for one call: the thread's cache must not hand
        // its context to the next key allocated at the same place.
        auto temp = PrivateKey::load_file(kData / (i % 2 ? "priv.pem" : "other-priv.pem"), false);
        if (!temp) {
          ++failures;
          continue;
        }
        auto r2 = decrypt_envelope(v.blob, *temp);
        if (r2.has_value() != (i % 2 == 1)) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

// ---- keys ----------------------------------------------------------------

TEST(EnvelopeKeys, Pkcs1KeyDescribesItself) {
  EXPECT_EQ(priv().modulus_bytes(), 256u);
  EXPECT_EQ(priv().origin(), (kData / "priv.pem").string());
  EXPECT_EQ(pub().modulus_bytes(), 256u);
  EXPECT_TRUE(read_text(kData / "priv.pem").starts_with("-----BEGIN RSA PRIVATE KEY-----"));
}

TEST(EnvelopeKeys, Pkcs8KeyLoadsAndDecrypts) {
  TempDir dir;
  const fs::path p8 = dir.path() / "priv-pkcs8.pem";
  {
    const std::string pem = read_text(kData / "priv.pem");
    BIO* in = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    EVP_PKEY* pkey = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
    BIO_free(in);
    ASSERT_NE(pkey, nullptr);
    BIO* out = BIO_new_file(p8.c_str(), "w");
    ASSERT_NE(out, nullptr);
    EXPECT_EQ(PEM_write_bio_PrivateKey(out, pkey, nullptr, nullptr, 0, nullptr, nullptr), 1);
    BIO_free(out);
    EVP_PKEY_free(pkey);
    ASSERT_EQ(::chmod(p8.c_str(), 0600), 0);
  }
  ASSERT_TRUE(read_text(p8).starts_with("-----BEGIN PRIVATE KEY-----"));
  auto key = PrivateKey::load_file(p8);
  ASSERT_TRUE(key.has_value()) << key.error().message;
  const testing::Vector& v = vector_named("cowrie_login");
  auto r = decrypt_envelope(v.blob, *key);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(Bytes(r->begin(), r->end()), v.plaintext);
}

TEST(EnvelopeKeys, GroupOrWorldReadableKeyIsRefused) {
  TempDir dir;
  const fs::path p = dir.path() / "priv.pem";
  write_text(p, read_text(kData / "priv.pem"), 0644);
  auto key = PrivateKey::load_file(p);
  ASSERT_FALSE(key.has_value());
  EXPECT_EQ(key.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(key.error().message, "private key " + p.string() +
                                     " is readable by group or others (mode 0644): run chmod 600 " +
                                     p.string());

  ASSERT_EQ(::chmod(p.c_str(), 0640), 0);
  EXPECT_FALSE(PrivateKey::load_file(p).has_value());
  EXPECT_TRUE(PrivateKey::load_file(p, false).has_value());

  ASSERT_EQ(::chmod(p.c_str(), 0600), 0);
  key = PrivateKey::load_file(p);
  ASSERT_TRUE(key.has_value()) << key.error().message;
  EXPECT_EQ(key->origin(), p.string());
}

TEST(EnvelopeKeys, MissingFileIsAnIoErrorNamingThePath) {
  const fs::path p = fs::temp_directory_path() / "cybexp-envelope-test-does-not-exist.pem";
  auto key = PrivateKey::load_file(p);
  ASSERT_FALSE(key.has_value());
  EXPECT_EQ(key.error().kind, ErrorKind::kIo);
  EXPECT_TRUE(contains(key.error().message, p.string())) << key.error().message;
  auto pk = PublicKey::load_file(p);
  ASSERT_FALSE(pk.has_value());
  EXPECT_EQ(pk.error().kind, ErrorKind::kIo);
}

TEST(EnvelopeKeys, RejectsWhatIsNotAnRsaPrivateKey) {
  auto r = PrivateKey::from_pem("not a key", "x.pem");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_TRUE(contains(r.error().message, "x.pem"));

  r = PrivateKey::from_pem(read_text(kData / "pub.pem"), "pub.pem");
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(contains(r.error().message, "expected an RSA private key")) << r.error().message;

  r = PrivateKey::from_pem("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
                           "broken.pem");
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(contains(r.error().message, "cannot parse private key broken.pem")) << r.error().message;

  // An EC key in PKCS#8 form passes the PEM label check; the type check stops it.
  EVP_PKEY* ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  ASSERT_NE(ec, nullptr);
  BIO* mem = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PrivateKey(mem, ec, nullptr, nullptr, 0, nullptr, nullptr), 1);
  char* data = nullptr;
  const long len = BIO_get_mem_data(mem, &data);
  const std::string ec_pem(data, static_cast<std::size_t>(len));
  BIO_free(mem);
  EVP_PKEY_free(ec);
  r = PrivateKey::from_pem(ec_pem, "ec.pem");
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(contains(r.error().message, "only RSA keys are supported")) << r.error().message;

  const std::string encrypted =
      "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
  r = PrivateKey::from_pem(encrypted, "enc.pem");
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(contains(r.error().message, "passphrase-protected")) << r.error().message;
}

TEST(EnvelopeKeys, PublicKeyAcceptsSpkiAndPkcs1) {
  // The same public key as PKCS#1 ("BEGIN RSA PUBLIC KEY").
  EVP_PKEY* pkey = static_cast<EVP_PKEY*>(pub().evp_pkey());
  OSSL_ENCODER_CTX* ectx =
      OSSL_ENCODER_CTX_new_for_pkey(pkey, EVP_PKEY_PUBLIC_KEY, "PEM", "type-specific", nullptr);
  ASSERT_NE(ectx, nullptr);
  unsigned char* data = nullptr;
  std::size_t len = 0;
  ASSERT_EQ(OSSL_ENCODER_to_data(ectx, &data, &len), 1);
  OSSL_ENCODER_CTX_free(ectx);
  const std::string pkcs1(reinterpret_cast<char*>(data), len);
  OPENSSL_free(data);
  ASSERT_TRUE(pkcs1.starts_with("-----BEGIN RSA PUBLIC KEY-----")) << pkcs1;

  auto key = PublicKey::from_pem(pkcs1);
  ASSERT_TRUE(key.has_value()) << key.error().message;
  EXPECT_EQ(key->modulus_bytes(), 256u);
  const Bytes plaintext = {1, 2, 3};
  auto blob = encrypt_envelope(plaintext, *key);
  ASSERT_TRUE(blob.has_value());
  auto back = decrypt_envelope(*blob, priv());
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(Bytes(back->begin(), back->end()), plaintext);

  auto bad = PublicKey::from_pem(read_text(kData / "priv.pem"), "priv.pem");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().kind, ErrorKind::kInvalidArgument);
}

// ---- key generation ------------------------------------------------------

TEST(EnvelopeKeyGen, WritesAWorkingPairAndRefusesToOverwrite) {
  TempDir dir;
  const fs::path priv_path = dir.path() / "archive.pem";
  const fs::path pub_path = dir.path() / "archive.pub.pem";

  auto r = generate_key_pair(priv_path, pub_path, 2048, false);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(mode_of(priv_path), 0600u);
  EXPECT_EQ(mode_of(pub_path), 0644u);
  const std::string priv_pem = read_text(priv_path);
  const std::string pub_pem = read_text(pub_path);
  EXPECT_TRUE(priv_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n")) << priv_pem.substr(0, 40);
  EXPECT_TRUE(pub_pem.starts_with("-----BEGIN PUBLIC KEY-----\n")) << pub_pem;
  // No temporary files are left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 2);

  auto key = PrivateKey::load_file(priv_path);  // with the permission check
  ASSERT_TRUE(key.has_value()) << key.error().message;
  auto public_key = PublicKey::load_file(pub_path);
  ASSERT_TRUE(public_key.has_value()) << public_key.error().message;
  EXPECT_EQ(key->modulus_bytes(), 256u);
  const Bytes plaintext = {'{', '}'};
  auto blob = encrypt_envelope(plaintext, *public_key);
  ASSERT_TRUE(blob.has_value());
  auto back = decrypt_envelope(*blob, *key);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(Bytes(back->begin(), back->end()), plaintext);

  // Either file in the way stops it, and nothing changes.
  r = generate_key_pair(priv_path, pub_path, 2048, false);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_TRUE(contains(r.error().message, priv_path.string())) << r.error().message;
  EXPECT_TRUE(contains(r.error().message, "--force")) << r.error().message;
  const fs::path fresh_priv = dir.path() / "fresh.pem";
  r = generate_key_pair(fresh_priv, pub_path, 2048, false);
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(contains(r.error().message, pub_path.string())) << r.error().message;
  EXPECT_FALSE(fs::exists(fresh_priv));
  EXPECT_EQ(read_text(priv_path), priv_pem);
  EXPECT_EQ(read_text(pub_path), pub_pem);

  r = generate_key_pair(priv_path, pub_path, 2048, true);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_NE(read_text(priv_path), priv_pem);
  EXPECT_NE(read_text(pub_path), pub_pem);
  EXPECT_EQ(mode_of(priv_path), 0600u);
  EXPECT_EQ(mode_of(pub_path), 0644u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 2);
  auto rotated = PrivateKey::load_file(priv_path);
  ASSERT_TRUE(rotated.has_value());
  auto old_blob_with_new_key = decrypt_envelope(*blob, *rotated);
  EXPECT_FALSE(old_blob_with_new_key.has_value());
}

TEST(EnvelopeKeyGen, RejectsSmallKeysAndBadPaths) {
  TempDir dir;
  auto r = generate_key_pair(dir.path() / "a.pem", dir.path() / "b.pem", 1024, false);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_TRUE(contains(r.error().message, "2048")) << r.error().message;

  r = generate_key_pair(dir.path() / "a.pem", dir.path() / "a.pem", 2048, false);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);

  r = generate_key_pair(dir.path() / "missing" / "a.pem", dir.path() / "b.pem", 2048, false);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kIo);
  EXPECT_TRUE(contains(r.error().message, (dir.path() / "missing").string())) << r.error().message;
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 0);
}

}  // namespace
}  // namespace cybexp
