// libFuzzer target: bytes -> basicAuth's parsers. The bytes up to the first NUL are an
// htpasswd file (users: or usersFile:), the rest an Authorization header a client sent.
// Neither may crash, hang or throw; an Authorization that parses is checked against every
// user whose hash is cheap to compute (apr1, SHA: bcrypt's cost comes from the file, which
// its owner writes, and would only make the run slow).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/config.h"
#include "http/http.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nul = in.find('\0');
  std::string_view file = in.substr(0, nul);
  std::string_view authorization = nul == std::string_view::npos ? in : in.substr(nul + 1);
  auto users = config::parseHtpasswd(file, "fuzz");
  if (!users && users.error().message().empty()) __builtin_trap();
  auto creds = http::parseBasicAuthorization(authorization);
  if (!creds || !users) return 0;
  for (const auto& u : *users)
    if (u.kind != config::HashKind::Bcrypt) (void)http::verifyPassword(u, creds->second);
  (void)http::apr1Crypt(creds->second, creds->first);
  return 0;
}
