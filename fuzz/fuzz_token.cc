// libFuzzer target: tokens are pasted by users and read from files; decodeToken must refuse
// garbage without crashing, and a token it accepts must re-encode to an equal token.
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
  (void)base::splitHostPort(in);
  (void)base::splitHostPort(in, /*port_zero_ok=*/true);
  return 0;
}
