#include "util/encoding.h"

#include <openssl/evp.h>

namespace cybexp {

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return out;
}

std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  if (text.empty()) return std::vector<std::uint8_t>{};
  std::vector<std::uint8_t> out(text.size() / 4 * 3);
  // EVP_DecodeBlock takes an int length; decode in 4-char-aligned chunks.
  std::size_t in_pos = 0, out_len = 0;
  constexpr std::size_t kChunk = 1 << 20;
  while (in_pos < text.size()) {
    std::size_t n = std::min(kChunk, text.size() - in_pos);
    int got = EVP_DecodeBlock(out.data() + out_len,
                              reinterpret_cast<const unsigned char*>(text.data() + in_pos),
                              static_cast<int>(n));
    if (got < 0) return std::nullopt;
    out_len += static_cast<std::size_t>(got);
    in_pos += n;
  }
  // EVP_DecodeBlock counts padding as zero bytes; remove them.
  std::size_t pad = 0;
  if (text.back() == '=') ++pad;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++pad;
  out.resize(out_len - pad);
  return out;
}

std::string base64_encode(std::span<const std::uint8_t> bytes) {
  std::string out;
  constexpr std::size_t kChunk = 3 << 18;
  std::string buf(kChunk / 3 * 4 + 1, '\0');
  for (std::size_t pos = 0; pos < bytes.size(); pos += kChunk) {
    std::size_t n = std::min(kChunk, bytes.size() - pos);
    int got = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(buf.data()), bytes.data() + pos,
                              static_cast<int>(n));
    out.append(buf.data(), static_cast<std::size_t>(got));
  }
  return out;
}

}  // namespace cybexp
