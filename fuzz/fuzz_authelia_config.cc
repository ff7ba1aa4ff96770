// libFuzzer target: bytes -> parseAutheliaConfig and -> parseUsersDatabase. Both files are
// user input: parsing must never crash, hang or throw, and what parses must keep the promises
// the portal relies on (a secret and a cookie domain, a two_factor policy only with a database
// path and an encryption key of 20 characters or more, every rule with a domain, a compiled regular
// expression per resource; every user with a checked hash). No AUTHELIA_* variables are given, so
// nothing else is read.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/log.h"
#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    base::setLogLevel(base::LogLevel::Off);  // the unimplemented-key warning would flood stderr
    return true;
  }();
  (void)quiet;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  if (auto cfg = config::parseAutheliaConfig(text, "configuration.yml", {})) {
    if (cfg->session_secret.empty() || cfg->cookies.empty() || cfg->users_file.empty())
      __builtin_trap();
    bool two_factor = cfg->default_policy == config::AccessPolicy::TwoFactor;
    if (!cfg->storage_encryption_key.empty() && cfg->storage_encryption_key.size() < 20)
      __builtin_trap();
    for (const config::SessionCookie& c : cfg->cookies) {
      if (c.domain.empty() || c.name.empty() || c.authelia_url.ends_with('/')) __builtin_trap();
      auto url = config::parseHttpUrl(c.authelia_url);
      if (!url || !config::hostWithinDomain(url->host, c.domain)) __builtin_trap();
    }
    for (const config::AccessRule& r : cfg->rules) {
      if (r.domains.empty()) __builtin_trap();
      two_factor = two_factor || r.policy == config::AccessPolicy::TwoFactor;
      if (r.resources.size() != r.resource_res.size()) __builtin_trap();
      if (r.policy == config::AccessPolicy::Bypass && !r.subjects.empty()) __builtin_trap();
    }
    if (two_factor && (cfg->storage_path.empty() || cfg->storage_encryption_key.empty()))
      __builtin_trap();
    if (cfg->warnings.size() > 1) __builtin_trap();
  }

  if (auto db = config::parseUsersDatabase(text, "users_database.yml")) {
    for (const config::AutheliaUser& u : db->users) {
      if (u.name.empty() || u.line <= 0) __builtin_trap();
      if (!config::parsePasswordHash(u.password.encoded)) __builtin_trap();
    }
  }
  (void)config::parseAutheliaDuration(text);
  return 0;
}
