// Key hygiene on the real binary: entries whose plaintext carries a unique
// marker go through success and every failure kind, at --log-level debug, in
// text and JSON logs, through run, status, entries, requeue and key errors.
// Nothing the binary prints, and no reason stored in the database, may hold
// the marker, a session key (recovered here from each envelope's RSA part),
// or any line of a private key file. (`export` and `decrypt` print payloads
// by design, and are left out.)
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "cybexp/envelope.h"
#include "store/backends.h"
#include "hardening/hardening_support.h"
#include "support/process.h"
#include "util/encoding.h"

namespace cybexp::testing {
namespace {

const std::string kMarker = "PAYLOAD-MARKER-c4f1e2d9b8a7";

// RSA-OAEP(SHA-1) decryption of the envelope's first block: the session key.
std::vector<std::uint8_t> session_key(std::span<const std::uint8_t> blob, const PrivateKey& key) {
  EVP_PKEY_CTX* ctx =
      EVP_PKEY_CTX_new_from_pkey(nullptr, static_cast<EVP_PKEY*>(key.evp_pkey()), nullptr);
  char oaep[] = OSSL_PKEY_RSA_PAD_MODE_OAEP, sha1[] = "SHA1";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, oaep, 0),
      OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, sha1, 0),
      OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, sha1, 0),
      OSSL_PARAM_construct_end()};
  std::vector<std::uint8_t> out(key.modulus_bytes());
  std::size_t len = out.size();
  const bool ok = EVP_PKEY_decrypt_init_ex(ctx, params) == 1 &&
                  EVP_PKEY_decrypt(ctx, out.data(), &len, blob.data(), key.modulus_bytes()) == 1;
  EVP_PKEY_CTX_free(ctx);
  EXPECT_TRUE(ok);
  EXPECT_EQ(len, 32u);
  out.resize(ok ? len : 0);
  return out;
}

struct Case {
  std::string name, typetag, plaintext, state;
  bool wrong_key = false;
  enum { kIntact, kTamperTag, kTruncate, kEmpty } damage = kIntact;
};

std::vector<Case> cases() {
  const std::string m = kMarker;
  std::string deep(9, '[');
  deep += "\"" + m + "\"" + std::string(9, ']');
  // Each nesting level doubles the escaping of the 60 quotes inside: about
  // 60 * 2^7 canonical bytes from a payload of 160, over the 4096 allowed.
  std::string wide = std::string(7, '[') + "\"" + m;
  for (int i = 0; i < 60; ++i) wide += "\\\"";
  wide += "\"" + std::string(7, ']');
  return {
      {"json", "unr-honeypot", "{\"event\": \"login\", \"secret\": \"" + m + "\"}",
       kStateProcessed},
      {"text", "email", "From: a@b\n\nbody " + m + "\n", kStateProcessed},
      {"unknown_typetag", "no-such-feed", "{\"x\": \"" + m + "\"}", kStateNotSupported},
      {"not_utf8", "unr-honeypot", m + "\xFF\xFE tail", kStateBadData},
      {"lone_surrogate", "unr-honeypot", "{\"x\": \"" + m + "\\ud800\"}", kStateError},
      {"too_deep", "unr-honeypot", deep, kStateError},
      {"canonical_too_large", "unr-honeypot", wide, kStateError},
      {"over_size_limit", "unr-honeypot", m + std::string(70000, 'x'), kStateBadData},
      {"wrong_key", "unr-honeypot", "{\"x\": \"" + m + "\"}", kStateBadData, true},
      {"tampered_tag", "unr-honeypot", "{\"x\": \"" + m + "\"}", kStateBadData, false,
       Case::kTamperTag},
      {"truncated", "unr-honeypot", "{\"x\": \"" + m + "\"}", kStateBadData, false,
       Case::kTruncate},
      {"empty_blob", "unr-honeypot", m, kStateBadData, false, Case::kEmpty},
  };
}

// Every line of a PEM file's body (the key material), and its label.
std::vector<std::string> pem_secrets(const std::filesystem::path& pem) {
  std::vector<std::string> out = {"PRIVATE KEY"};
  std::istringstream in(read_file(pem));
  for (std::string line; std::getline(in, line);) {
    if (line.size() >= 16 && !line.starts_with("-----")) out.push_back(line);
  }
  EXPECT_GT(out.size(), 10u) << pem;
  return out;
}

TEST(HardeningKeys, NoSecretOrPayloadByteReachesOutputOrReasons) {
  TempDir dir, other_home;
  const auto config = make_home(dir, R"("max_blob_bytes": 65536, "max_depth": 8,
                                         "max_canonical_bytes": 4096, "canonical_payload_factor": 1)");
  // A second key pair, made by the binary: entries the archive cannot open.
  ProcessOptions other_keys;
  other_keys.env = {{"CYBEXP_HOME", (other_home / "keys").string()}};
  RunResult keygen = run_binary(other_home.path(), {"keygen"}, other_keys);
  ASSERT_EQ(keygen.code, 0) << keygen.err;
  namespace fs = std::filesystem;
  EXPECT_EQ(fs::status(other_home / "keys/priv.pem").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write)
      << "keygen must write the private key 0600";

  auto priv = PrivateKey::load_file(dir / "priv.pem");
  auto pub = PublicKey::load_file(dir / "pub.pem");
  auto other_pub = PublicKey::load_file(other_home / "keys/pub.pem");
  auto other_priv = PrivateKey::load_file(other_home / "keys/priv.pem");
  ASSERT_TRUE(priv && pub && other_pub && other_priv);

  std::vector<std::string> secrets = {kMarker, to_hex(as_bytes(kMarker))};
  {
    auto cache = open_sqlite_cache((dir / "cache.db").string());
    ASSERT_TRUE(cache.has_value());
    for (const Case& c : cases()) {
      auto blob = encrypt_envelope(as_bytes(c.plaintext), c.wrong_key ? *other_pub : *pub);
      ASSERT_TRUE(blob.has_value());
      const auto key = session_key(*blob, c.wrong_key ? *other_priv : *priv);
      for (const std::string& s :
           {to_hex(key), base64_encode(key), std::string(key.begin(), key.end())}) {
        secrets.push_back(s);
        std::string upper = s;
        std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
        secrets.push_back(upper);
      }
      if (c.damage == Case::kTamperTag) blob->at(256 + 16) ^= 1;
      if (c.damage == Case::kTruncate) blob->resize(200);
      if (c.damage == Case::kEmpty) blob->clear();
      ASSERT_TRUE(
          (*cache)->add_entry({c.name, c.typetag, "identity--org", "UTC", 1.0}, *blob).has_value());
    }
  }
  for (const auto& pem : {dir / "priv.pem", other_home / "keys/priv.pem"}) {
    for (const std::string& s : pem_secrets(pem)) secrets.push_back(s);
  }

  std::string seen;  // everything the binary printed, and the stored reasons
  auto run = [&](std::vector<std::string> args, int expect_code) {
    std::vector<std::string> full = {"-c", config.string(), "--log-level", "debug"};
    full.insert(full.end(), args.begin(), args.end());
    RunResult r = run_binary(dir.path(), full);
    EXPECT_EQ(r.code, expect_code) << r.out << r.err;
    seen += r.out + r.err;
    return r;
  };
  RunResult first = run({"run", "--once"}, 0);
  EXPECT_TRUE(first.out.starts_with(
      "processed 2, skipped 10 (bad_data 6, error 3, typetag_not_supported 1)"))
      << first.out;
  EXPECT_NE(first.err.find("archive loop starting"), std::string::npos) << "debug logging ran";
  run({"--log-format", "json", "status"}, 0);
  run({"status", "--json"}, 0);
  run({"entries"}, 0);
  run({"--log-format", "json", "entries", "--json"}, 0);
  run({"requeue"}, 0);
  run({"--log-format", "json", "run", "--once", "--force-process"}, 0);

  // The stored reasons, straight from the database, all present and specific.
  auto cache = open_sqlite_cache((dir / "cache.db").string());
  ASSERT_TRUE(cache.has_value());
  std::map<std::string, std::string> states;
  ASSERT_TRUE((*cache)->for_each_entry({}, [&](const EntryInfo& i) {
    states[i.entry.name] = i.state;
    if (i.state != kStateProcessed) {
      EXPECT_FALSE(i.reason.empty()) << i.entry.name;
    }
    seen += i.reason + "\n";
    return true;
  }));
  for (const Case& c : cases()) EXPECT_EQ(states[c.name], c.state) << c.name;

  // Key errors: a key others can read, a damaged key file.
  fs::permissions(dir / "priv.pem", fs::perms::group_read | fs::perms::others_read,
                  fs::perm_options::add);
  RunResult loose = run({"run", "--once"}, 2);
  EXPECT_NE(loose.err.find("chmod 600"), std::string::npos) << loose.err;
  const std::string pem = read_file(dir / "priv.pem");
  write_file(dir / "priv.pem", pem.substr(0, pem.size() / 2));
  fs::permissions(dir / "priv.pem", fs::perms::owner_read | fs::perms::owner_write,
                  fs::perm_options::replace);
  RunResult damaged = run({"run", "--once"}, 2);
  EXPECT_NE(damaged.err.find("priv.pem"), std::string::npos) << damaged.err;

  for (const std::string& s : secrets) {
    ASSERT_FALSE(s.empty());
    EXPECT_EQ(seen.find(s), std::string::npos) << "secret or payload bytes in the output: " << s;
  }
}

}  // namespace
}  // namespace cybexp::testing
