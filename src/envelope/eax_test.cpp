// AES-EAX against the ten AES-128 test vectors of the EAX paper (Bellare,
// Rogaway, Wagner 2004, appendix), plus tamper detection and argument checks.
#include "cybexp/eax.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cybexp {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes hex(std::string_view s) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < s.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(s.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

struct Vector {
  const char* msg;
  const char* key;
  const char* nonce;
  const char* header;
  const char* cipher;  // ciphertext || tag
};

// From the EAX paper's appendix; CIPHER is the ciphertext followed by the tag.
constexpr Vector kPaperVectors[] = {
    {"", "233952DEE4D5ED5F9B9C6D6FF80FF478", "62EC67F9C3A4A407FCB2A8C49031A8B3", "6BFB914FD07EAE6B",
     "E037830E8389F27B025A2D6527E79D01"},
    {"F7FB", "91945D3F4DCBEE0BF45EF52255F095A4", "BECAF043B0A23D843194BA972C66DEBD",
     "FA3BFD4806EB53FA", "19DD5C4C9331049D0BDAB0277408F67967E5"},
    {"1A47CB4933", "01F74AD64077F2E704C0F60ADA3DD523", "70C3DB4F0D26368400A10ED05D2BFF5E",
     "234A3463C1264AC6", "D851D5BAE03A59F238A23E39199DC9266626C40F80"},
    {"481C9E39B1", "D07CF6CBB7F313BDDE66B727AFD3C5E8", "8408DFFF3C1A2B1292DC199E46B7D617",
     "33CCE2EABFF5A79D", "632A9D131AD4C168A4225D8E1FF755939974A7BEDE"},
    {"40D0C07DA5E4", "35B6D0580005BBC12B0587124557D2C2", "FDB6B06676EEDC5C61D74276E1F8E816",
     "AEB96EAEBE2970E9", "071DFE16C675CB0677E536F73AFE6A14B74EE49844DD"},
    {"4DE3B35C3FC039245BD1FB7D", "BD8E6E11475E60B268784C38C62FEB22",
     "6EAC5C93072D8E8513F750935E46DA1B", "D4482D1CA78DCE0F",
     "835BB4F15D743E350E728414ABB8644FD6CCB86947C5E10590210A4F"},
    {"8B0A79306C9CE7ED99DAE4F87F8DD61636", "7C77D6E813BED5AC98BAA417477A2E7D",
     "1A8C98DCD73D38393B2BF1569DEEFC19", "65D2017990D62528",
     "02083E3979DA014812F59F11D52630DA30137327D10649B0AA6E1C181DB617D7F2"},
    {"1BDA122BCE8A8DBAF1877D962B8592DD2D56", "5FFF20CAFAB119CA2FC73549E20F5B0D",
     "DDE59B97D722156D4D9AFF2BC7559826", "54B9F04E6A09189A",
     "2EC47B2C4954A489AFC7BA4897EDCDAE8CC33B60450599BD02C96382902AEF7F832A"},
    {"6CF36720872B8513F6EAB1A8A44438D5EF11", "A4A4782BCFFD3EC5E7EF6D8C34A56123",
     "B781FCF2F75FA5A8DE97A9CA48E522EC", "899A175897561D7E",
     "0DE18FD0FDD91E7AF19F1D8EE8733938B1E8E7F6D2231618102FDB7FE55FF1991700"},
    {"CA40D7446E545FFAED3BD12A740A659FFBBB3CEAB7", "8395FCF1E95BEBD697BD010BC766AAC3",
     "22E7ADD93CFC6393C57EC0B3C17D6B44", "126735FCC320D25A",
     "CB8920F87A6C75CFF39627B56E3ED197C552D295A7CFC46AFC253B4652B1AF3795B124AB6E"},
};

struct Parsed {
  Bytes msg, key, nonce, header, ct, tag;
};

Parsed parse(const Vector& v) {
  Parsed p{hex(v.msg), hex(v.key), hex(v.nonce), hex(v.header), hex(v.cipher), {}};
  p.tag.assign(p.ct.end() - 16, p.ct.end());
  p.ct.resize(p.ct.size() - 16);
  return p;
}

class EaxPaperVector : public ::testing::TestWithParam<std::size_t> {};

TEST_P(EaxPaperVector, EncryptGivesCiphertextAndTag) {
  const Parsed p = parse(kPaperVectors[GetParam()]);
  Bytes out(p.msg.size());
  auto tag = eax_encrypt(p.key, p.nonce, p.header, p.msg, out);
  ASSERT_TRUE(tag.has_value()) << tag.error().message;
  EXPECT_EQ(out, p.ct);
  EXPECT_EQ(Bytes(tag->begin(), tag->end()), p.tag);
}

TEST_P(EaxPaperVector, DecryptGivesMessage) {
  const Parsed p = parse(kPaperVectors[GetParam()]);
  Bytes out(p.ct.size());
  auto r = eax_decrypt(p.key, p.nonce, p.header, p.ct, p.tag, out);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(out, p.msg);
}

TEST_P(EaxPaperVector, EncryptsInPlace) {
  const Parsed p = parse(kPaperVectors[GetParam()]);
  Bytes buf = p.msg;
  auto tag = eax_encrypt(p.key, p.nonce, p.header, buf, buf);
  ASSERT_TRUE(tag.has_value());
  EXPECT_EQ(buf, p.ct);
  ASSERT_TRUE(eax_decrypt(p.key, p.nonce, p.header, buf, p.tag, buf).has_value());
  EXPECT_EQ(buf, p.msg);
}

// A tampered tag, ciphertext, nonce or header fails with kBadData and leaves
// the output untouched (verify before decrypt).
TEST_P(EaxPaperVector, AnyFlippedBitFails) {
  const Parsed p = parse(kPaperVectors[GetParam()]);
  auto expect_bad = [&](const Bytes& nonce, const Bytes& header, const Bytes& ct, const Bytes& tag,
                        const char* what) {
    Bytes out(ct.size(), 0xAA);
    auto r = eax_decrypt(p.key, nonce, header, ct, tag, out);
    ASSERT_FALSE(r.has_value()) << what;
    EXPECT_EQ(r.error().kind, ErrorKind::kBadData) << what;
    EXPECT_EQ(out, Bytes(ct.size(), 0xAA)) << what;
  };
  for (std::size_t bit : {0u, 7u, 127u}) {
    Bytes tag = p.tag;
    tag[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    expect_bad(p.nonce, p.header, p.ct, tag, "tag");
    Bytes nonce = p.nonce;
    nonce[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    expect_bad(nonce, p.header, p.ct, p.tag, "nonce");
  }
  Bytes header = p.header;
  header.back() ^= 0x80;
  expect_bad(p.nonce, header, p.ct, p.tag, "header");
  for (std::size_t i = 0; i < p.ct.size(); ++i) {
    Bytes ct = p.ct;
    ct[i] ^= 0x01;
    expect_bad(p.nonce, p.header, ct, p.tag, "ciphertext");
  }
  Bytes truncated_tag(p.tag.begin(), p.tag.end() - 1);
  Bytes out(p.ct.size());
  auto r = eax_decrypt(p.key, p.nonce, p.header, p.ct, truncated_tag, out);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Paper, EaxPaperVector, ::testing::Range<std::size_t>(0, 10));

// Repeated calls on the same thread reuse cached contexts; nothing may carry
// over from one call (CTR position, CMAC state) to the next.
TEST(Eax, RepeatedCallsAreIndependent) {
  for (int round = 0; round < 3; ++round) {
    for (const Vector& v : kPaperVectors) {
      const Parsed p = parse(v);
      Bytes out(p.msg.size());
      auto tag = eax_encrypt(p.key, p.nonce, p.header, p.msg, out);
      ASSERT_TRUE(tag.has_value());
      EXPECT_EQ(out, p.ct);
      EXPECT_EQ(Bytes(tag->begin(), tag->end()), p.tag);
    }
  }
}

TEST(Eax, Aes192And256RoundTripAcrossManyBlocks) {
  for (std::size_t key_size : {24u, 32u}) {
    Bytes key(key_size), nonce(16), header = {1, 2, 3};
    for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(i * 7 + 1);
    Bytes msg(100000);
    for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<std::uint8_t>(i * 31);
    Bytes ct(msg.size()), back(msg.size());
    auto tag = eax_encrypt(key, nonce, header, msg, ct);
    ASSERT_TRUE(tag.has_value());
    EXPECT_NE(ct, msg);
    ASSERT_TRUE(eax_decrypt(key, nonce, header, ct, *tag, back).has_value());
    EXPECT_EQ(back, msg);
    // The same key with an AES-128 sized prefix must not authenticate it.
    Bytes short_key(key.begin(), key.begin() + 16);
    EXPECT_FALSE(eax_decrypt(short_key, nonce, header, ct, *tag, back).has_value());
  }
}

TEST(Eax, RejectsBadArguments) {
  Bytes key(20), nonce(16), msg(4), out(4), short_out(3);
  auto r = eax_encrypt(key, nonce, {}, msg, out);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(r.error().message.find("20 bytes"), std::string::npos);

  Bytes good_key(16);
  r = eax_encrypt(good_key, nonce, {}, msg, short_out);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);
}

}  // namespace
}  // namespace cybexp
