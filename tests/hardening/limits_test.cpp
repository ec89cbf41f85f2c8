// Limits end to end, on the real binary: an envelope as large as the cache
// can hold, of nothing but '[', is refused by its size before it is read
// (quickly, in flat memory); with the size limit raised, a large '[' payload
// is refused by the depth limit quickly, in memory proportional to it.
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include <cstdio>
#include <memory>

#include "cybexp/envelope.h"
#include "store/backends.h"
#include "hardening/hardening_support.h"

namespace cybexp::testing {
namespace {

constexpr std::uint64_t kMiB = 1 << 20;

// OMAC^t prefix: 15 zero bytes and t.
std::array<std::uint8_t, 16> omac_prefix(std::uint8_t t) {
  std::array<std::uint8_t, 16> p{};
  p[15] = t;
  return p;
}

// Writes an entry whose blob is a genuine envelope (RSA-OAEP session key,
// AES-256-EAX) of n bytes of '[' straight into the cache's SQLite file, one
// chunk at a time: the blob never exists in memory, here or in the binary.
void add_streamed_brackets(const std::filesystem::path& cache_db, std::uint64_t n,
                           const PublicKey& pub) {
  ASSERT_TRUE(open_sqlite_cache(cache_db.string()).has_value());  // schema
  std::array<std::uint8_t, 32> key{};
  std::array<std::uint8_t, 16> nonce{};
  ASSERT_EQ(RAND_bytes(key.data(), key.size()), 1);
  ASSERT_EQ(RAND_bytes(nonce.data(), nonce.size()), 1);

  // RSA-OAEP(SHA-1) of the session key, as the API module writes it.
  std::vector<std::uint8_t> rsa(pub.modulus_bytes());
  std::size_t rsa_len = rsa.size();
  EVP_PKEY_CTX* pctx =
      EVP_PKEY_CTX_new_from_pkey(nullptr, static_cast<EVP_PKEY*>(pub.evp_pkey()), nullptr);
  char oaep[] = OSSL_PKEY_RSA_PAD_MODE_OAEP, sha1[] = "SHA1";
  const OSSL_PARAM rsa_params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, oaep, 0),
      OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, sha1, 0),
      OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, sha1, 0),
      OSSL_PARAM_construct_end()};
  ASSERT_EQ(EVP_PKEY_encrypt_init_ex(pctx, rsa_params), 1);
  ASSERT_EQ(EVP_PKEY_encrypt(pctx, rsa.data(), &rsa_len, key.data(), key.size()), 1);
  EVP_PKEY_CTX_free(pctx);

  // EAX: N' = OMAC0(nonce), H' = OMAC1(""), C = CTR_N'(M), tag = N' ^ H' ^ OMAC2(C).
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "CMAC", nullptr);
  char cbc[] = "AES-256-CBC";
  const OSSL_PARAM mac_params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, cbc, 0),
                                   OSSL_PARAM_construct_end()};
  auto omac = [&](std::uint8_t t, std::span<const std::uint8_t> m,
                  std::array<std::uint8_t, 16>& out) {
    EVP_MAC_CTX* c = EVP_MAC_CTX_new(mac);
    const auto prefix = omac_prefix(t);
    std::size_t len = 0;
    ASSERT_TRUE(EVP_MAC_init(c, key.data(), key.size(), mac_params) == 1 &&
                EVP_MAC_update(c, prefix.data(), 16) == 1 &&
                EVP_MAC_update(c, m.data(), m.size()) == 1 &&
                EVP_MAC_final(c, out.data(), &len, 16) == 1);
    EVP_MAC_CTX_free(c);
  };
  std::array<std::uint8_t, 16> n_mac{}, h_mac{}, c_mac{};
  omac(0, nonce, n_mac);
  omac(1, {}, h_mac);

  sqlite3* raw_db = nullptr;
  const int open_rc = sqlite3_open(cache_db.c_str(), &raw_db);
  const std::unique_ptr<sqlite3, decltype(&sqlite3_close)> owner(raw_db, &sqlite3_close);
  sqlite3* db = raw_db;
  ASSERT_EQ(open_rc, SQLITE_OK);
  const std::uint64_t total = rsa.size() + 32 + n;
  const std::string insert =
      "INSERT INTO entries(name, typetag, orgid, timezone, timestamp) VALUES "
      "('brackets', 'unr-honeypot', 'identity--x', 'UTC', 1.0);"
      "INSERT INTO blobs(entry_id, data) VALUES (last_insert_rowid(), zeroblob(" +
      std::to_string(total) + "));";
  ASSERT_EQ(sqlite3_exec(db, insert.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_blob* blob = nullptr;
  ASSERT_EQ(sqlite3_blob_open(db, "main", "blobs", "data", sqlite3_last_insert_rowid(db), 1, &blob),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_blob_write(blob, rsa.data(), static_cast<int>(rsa.size()), 0), SQLITE_OK);
  ASSERT_EQ(sqlite3_blob_write(blob, nonce.data(), 16, static_cast<int>(rsa.size())), SQLITE_OK);

  EVP_CIPHER_CTX* ctr = EVP_CIPHER_CTX_new();
  ASSERT_EQ(EVP_EncryptInit_ex2(ctr, EVP_aes_256_ctr(), key.data(), n_mac.data(), nullptr), 1);
  EVP_MAC_CTX* cmac = EVP_MAC_CTX_new(mac);
  const auto prefix = omac_prefix(2);
  ASSERT_TRUE(EVP_MAC_init(cmac, key.data(), key.size(), mac_params) == 1 &&
              EVP_MAC_update(cmac, prefix.data(), 16) == 1);
  const std::vector<std::uint8_t> plain(16 * kMiB, '[');
  std::vector<std::uint8_t> ct(plain.size());
  std::uint64_t offset = rsa.size() + 32;
  for (std::uint64_t done = 0; done < n;) {
    const int chunk = static_cast<int>(std::min<std::uint64_t>(plain.size(), n - done));
    int len = 0;
    ASSERT_EQ(EVP_EncryptUpdate(ctr, ct.data(), &len, plain.data(), chunk), 1);
    ASSERT_EQ(EVP_MAC_update(cmac, ct.data(), static_cast<std::size_t>(chunk)), 1);
    ASSERT_EQ(sqlite3_blob_write(blob, ct.data(), chunk, static_cast<int>(offset)), SQLITE_OK);
    offset += static_cast<std::uint64_t>(chunk);
    done += static_cast<std::uint64_t>(chunk);
  }
  std::size_t len = 0;
  ASSERT_EQ(EVP_MAC_final(cmac, c_mac.data(), &len, 16), 1);
  std::array<std::uint8_t, 16> tag{};
  for (int i = 0; i < 16; ++i) tag[i] = n_mac[i] ^ h_mac[i] ^ c_mac[i];
  ASSERT_EQ(sqlite3_blob_write(blob, tag.data(), 16, static_cast<int>(rsa.size() + 16)), SQLITE_OK);
  EVP_MAC_CTX_free(cmac);
  EVP_CIPHER_CTX_free(ctr);
  EVP_MAC_free(mac);
  ASSERT_EQ(sqlite3_blob_close(blob), SQLITE_OK);
}

EntryInfo only_entry(const std::filesystem::path& cache_db) {
  auto cache = open_sqlite_cache(cache_db.string());
  EXPECT_TRUE(cache.has_value());
  std::vector<EntryInfo> all;
  EXPECT_TRUE((*cache)->for_each_entry({}, [&](const EntryInfo& i) {
    all.push_back(i);
    return true;
  }));
  EXPECT_EQ(all.size(), 1u);
  return all.empty() ? EntryInfo{} : all[0];
}

// The cache lake is SQLite here, and SQLite holds at most SQLITE_MAX_LENGTH
// bytes in one row (1,000,000,000 in Debian's build), a little under 1 GiB:
// the envelope is the largest that fits, with room for the row's header.
TEST(HardeningLimits, GiantBracketEnvelopeIsRefusedBySizeUnreadInFlatMemory) {
  TempDir dir;
  const auto config = make_home(dir);
  sqlite3* probe = nullptr;
  ASSERT_EQ(sqlite3_open(":memory:", &probe), SQLITE_OK);
  const std::uint64_t max_blob =
      static_cast<std::uint64_t>(sqlite3_limit(probe, SQLITE_LIMIT_LENGTH, -1));
  sqlite3_close(probe);
  ASSERT_GT(max_blob, 256 * kMiB) << "this SQLite cannot hold a blob over the default limit";
  auto pub = PublicKey::load_file(dir / "pub.pem");
  ASSERT_TRUE(pub.has_value());
  const std::uint64_t blob_bytes = max_blob - 4096;
  add_streamed_brackets(dir / "cache.db", blob_bytes - 256 - 32, *pub);

  const RunResult c = run_binary(dir.path(), {"-c", config.string(), "run", "--once"});
  std::printf("run --once on a %llu-byte envelope: %.2f s, peak RSS %ld KiB\n",
              static_cast<unsigned long long>(blob_bytes), c.seconds, c.max_rss_kib);
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_TRUE(c.out.starts_with("processed 0, skipped 1 (bad_data 1)")) << c.out;
  EXPECT_LT(c.seconds, 10.0) << "refusing by size must not read the blob";
  // Flat: the process's whole peak, a small multiple of an idle run's.
  EXPECT_LT(c.max_rss_kib, 64 * 1024 + kSanitizerSlackKib)
      << "peak RSS " << c.max_rss_kib << " KiB";
  const EntryInfo e = only_entry(dir / "cache.db");
  EXPECT_EQ(e.state, kStateBadData);
  EXPECT_TRUE(e.reason.starts_with("blob is " + std::to_string(blob_bytes) +
                                   " bytes, over the 268435456-byte limit (limits.max_blob_bytes)"))
      << e.reason;
}

// With max_blob_bytes raised to 1 GiB, a 64 MiB payload of '[' is read and
// decrypted, and the parser stops at depth 257: quickly, and with no more
// memory than the blob, its plaintext and one parse copy.
TEST(HardeningLimits, DeepBracketsAreRefusedByDepthQuicklyWhenSizeAllows) {
  TempDir dir;
  const auto config = make_home(dir, R"("max_blob_bytes": 1073741824)");
  const std::uint64_t n = 64 * kMiB;
  {
    auto pub = PublicKey::load_file(dir / "pub.pem");
    ASSERT_TRUE(pub.has_value());
    const std::vector<std::uint8_t> plain(n, '[');
    auto blob = encrypt_envelope(plain, *pub);
    ASSERT_TRUE(blob.has_value());
    auto cache = open_sqlite_cache((dir / "cache.db").string());
    ASSERT_TRUE(cache.has_value());
    ASSERT_TRUE((*cache)
                    ->add_entry({"deep", "unr-honeypot", "identity--x", "UTC", 1.0}, *blob)
                    .has_value());
  }
  const RunResult c = run_binary(dir.path(), {"-c", config.string(), "run", "--once"});
  std::printf("run --once on %llu bytes of '[': %.2f s, peak RSS %ld KiB\n",
              static_cast<unsigned long long>(n), c.seconds, c.max_rss_kib);
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_TRUE(c.out.starts_with("processed 0, skipped 1 (error 1)")) << c.out;
  EXPECT_LT(c.seconds, 20.0);
  const long payload_kib = static_cast<long>(n / 1024);
  EXPECT_LT(c.max_rss_kib, 3 * payload_kib + 64 * 1024 + kSanitizerSlackKib)
      << "peak RSS " << c.max_rss_kib << " KiB for a " << payload_kib << " KiB payload";
  const EntryInfo e = only_entry(dir / "cache.db");
  EXPECT_EQ(e.state, kStateError);
  EXPECT_NE(e.reason.find("nested deeper than 256 levels (limits.max_depth)"), std::string::npos)
      << e.reason;
}

}  // namespace
}  // namespace cybexp::testing
