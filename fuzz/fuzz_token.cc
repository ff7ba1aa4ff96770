// libFuzzer target: tokens (tunnel and login) are pasted by users and read from files; the
// decoders must refuse garbage without crashing, and a token they accept must re-encode to an
// equal token.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/base.h"
#include "base/check.h"
#include "tunnel/token.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto t = tunnel::decodeToken(in)) {
    auto again = tunnel::decodeToken(tunnel::encodeToken(*t));
    CHECK(again);
    CHECK(again->tunnel_id == t->tunnel_id && again->secret == t->secret &&
          again->endpoint == t->endpoint && again->pin == t->pin);
  }
  if (auto l = tunnel::decodeLoginToken(in)) {
    auto again = tunnel::decodeLoginToken(tunnel::encodeLoginToken(*l));
    CHECK(again);
    CHECK(again->login_id == l->login_id && again->secret == l->secret &&
          again->endpoint == l->endpoint && again->pin == l->pin);
  }
  (void)base::splitHostPort(in);
  (void)base::splitHostPort(in, /*port_zero_ok=*/true);
  return 0;
}
