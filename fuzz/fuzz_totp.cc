// libFuzzer target: bytes -> base32 and TOTP checks. The token field of POST /totp and
// /api/secondfactor/totp is any string a client sends: verifyTotp must never crash, and accept
// only the exact code of a step within the window. base32 must round-trip any bytes and never
// crash on text that is not base32.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/internal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auth::base32Decode(auth::base32Encode(text)) != text) __builtin_trap();
  (void)auth::base32Decode(text);

  // The first byte picks a time; the rest is the token checked against a fixed key.
  if (size == 0) return 0;
  const int64_t now = 1'111'111'111 + static_cast<int64_t>(data[0]) * 7;
  const std::string_view token = text.substr(1);
  const std::string_view key = "12345678901234567890";
  if (auto step = auth::verifyTotp(key, token, now)) {
    const uint64_t at = auth::totpStep(now);
    if (*step + auth::kTotpSkew < at || *step > at + auth::kTotpSkew) __builtin_trap();
    if (auth::totpCode(key, *step) != token) __builtin_trap();
  }
  return 0;
}
