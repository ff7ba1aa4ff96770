// TOTP (internal.h): RFC 4226's HOTP over HMAC-SHA1, RFC 6238's time steps, RFC 4648's base32,
// and the otpauth URI authenticator apps read, all with Authelia's defaults.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>
#include <string_view>

#include <fmt/format.h>

#include "auth/internal.h"
#include "base/base.h"

namespace auth {
namespace {

constexpr std::string_view kBase32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

}  // namespace

std::string base32Encode(std::string_view raw) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : raw) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kBase32[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kBase32[(buffer << (5 - bits)) & 31]);
  return out;
}

std::optional<std::string> base32Decode(std::string_view text) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  while (text.ends_with('=')) text.remove_suffix(1);
  for (char c : text) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    const size_t v = kBase32.find(c);
    if (v == std::string_view::npos) return std::nullopt;
    buffer = (buffer << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      out.push_back(static_cast<char>((buffer >> (bits - 8)) & 0xff));
      bits -= 8;
    }
  }
  return out;
}

std::string newTotpSecret() { return base32Encode(base::randomBytes(kTotpSecretBytes)); }

uint32_t hotp(std::string_view key, uint64_t counter) {
  unsigned char msg[8];
  for (int i = 7; i >= 0; --i) {
    msg[i] = static_cast<unsigned char>(counter & 0xff);
    counter >>= 8;
  }
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), msg, sizeof msg, mac, &len);
  // RFC 4226 5.3, dynamic truncation: 31 bits from the offset the last nibble names.
  const int off = mac[len - 1] & 0x0f;
  return (static_cast<uint32_t>(mac[off] & 0x7f) << 24) |
         (static_cast<uint32_t>(mac[off + 1]) << 16) | (static_cast<uint32_t>(mac[off + 2]) << 8) |
         static_cast<uint32_t>(mac[off + 3]);
}

std::string totpCode(std::string_view key, uint64_t step) {
  return fmt::format("{:06d}", hotp(key, step) % 1'000'000);
}

uint64_t totpStep(int64_t unix_seconds) {
  return unix_seconds < 0 ? 0 : static_cast<uint64_t>(unix_seconds) / kTotpPeriod;
}

std::optional<uint64_t> verifyTotp(std::string_view key, std::string_view token,
                                   int64_t unix_seconds) {
  if (token.size() != static_cast<size_t>(kTotpDigits)) return std::nullopt;
  const uint64_t now = totpStep(unix_seconds);
  std::optional<uint64_t> found;
  // Every step in the window is computed and compared, whichever matches, in constant time.
  for (int d = -kTotpSkew; d <= kTotpSkew; ++d) {
    if (d < 0 && now < static_cast<uint64_t>(-d)) continue;
    const uint64_t step = now + d;
    const std::string want = totpCode(key, step);
    if (CRYPTO_memcmp(want.data(), token.data(), want.size()) == 0) found = step;
  }
  return found;
}

std::string otpauthUri(std::string_view issuer, std::string_view user,
                       std::string_view secret_b32) {
  return fmt::format("otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={}&period={}",
                     urlEncode(issuer), urlEncode(user), secret_b32, urlEncode(issuer), kTotpDigits,
                     kTotpPeriod);
}

}  // namespace auth
