// libFuzzer target: config.yml bytes -> parseTunnelConfig, and on success a few lookups.
// A config file is user input; parsing must never crash, hang or throw, and a parsed
// config must answer every lookup (its last rule is a catch-all).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/log.h"
#include "config/config.h"
#include "fixture.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    base::setLogLevel(base::LogLevel::Off);  // unknown-key warnings would flood stderr
    return true;
  }();
  (void)quiet;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // basicAuth's usersFile reads the file it names: one that blocks (/dev/stdin) would hang.
  if (fuzz::mayEscapeFixture(text)) return 0;
  auto cfg = config::parseTunnelConfig(text, "fuzz.yml");
  if (!cfg) return 0;
  if (cfg->ingress.empty()) __builtin_trap();
  static constexpr std::string_view kHosts[] = {
      "example.com", "a.b.example.com:8443", "[::1]:8080", "::1", "", "EXAMPLE.com.", "[",
  };
  static constexpr std::string_view kPaths[] = {
      "/", "", "/api/v1/x?y=1", "/%2e%2E/%zz%", "/static/a.png#frag",
  };
  for (std::string_view host : kHosts) {
    for (std::string_view path : kPaths) {
      size_t i = config::matchIngress(*cfg, host, path);
      if (i >= cfg->ingress.size()) __builtin_trap();
    }
  }
  // The fuzz input's own text as a host and a path too.
  size_t i = config::matchIngress(*cfg, text.substr(0, 64), text);
  if (i >= cfg->ingress.size()) __builtin_trap();
  auto described = config::describeMatch(*cfg, "https://a.example.com:443/x?q");
  if (!described) __builtin_trap();
  return 0;
}
