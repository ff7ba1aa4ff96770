// Private to src/config: the ingress helpers that parsing and matching share.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "config/config.h"

namespace config {

// Checks a rule's `hostname:` the way cloudflared does (no port, at most one '*' and only
// as the first label) plus mistakes its users make (a scheme or a path in the hostname).
// The error has no file:line prefix.
base::Result<void> checkHostname(std::string_view hostname);

// The host of a Host header or URL authority without its port: "a.b:80" -> "a.b",
// "[::1]:8080" -> "::1", "[::1]" -> "::1", "::1" -> "::1" (unbracketed IPv6 has no port).
std::string_view hostWithoutPort(std::string_view host);

// The value of hex digit `c` (either case), or -1.
int hexValue(char c);

// `s` with its %XX escapes decoded, except those for which `keep` (when given) says true,
// which stay as written. Malformed escapes stay as written too (Go would have refused the
// request before matching).
std::string percentDecode(std::string_view s, bool (*keep)(std::string_view escape) = nullptr);

// `v` as a YAML double-quoted scalar; control characters escaped.
std::string quotedScalar(std::string_view v);

// The `middlewares:` map as YAML text that parses back to `all` ("" when empty); a basicAuth's
// usersFile is written inline as users:.
std::string formatMiddlewares(const std::vector<std::shared_ptr<const Middleware>>& all);

// Traefik's name of a middleware type: "headers", "stripPrefix", ...
std::string middlewareTypeName(MiddlewareKind kind);

}  // namespace config
