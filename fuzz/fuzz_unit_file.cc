// libFuzzer target: unit files come from users and from packages. The parser and the
// directive reader must turn any bytes into a Config or an error, and auditing whatever they
// accept must not crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/check.h"
#include "config/config.h"
#include "sandbox/sandbox.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto unit = config::parseUnitFile(in, "fuzz.service");
  if (!unit) return 0;
  auto c = sandbox::configFromUnit(*unit);
  if (!c) return 0;
  auto a = sandbox::audit(*c);
  CHECK(a.exposure <= 100);
  CHECK(!sandbox::formatAudit(a).empty());
  return 0;
}
