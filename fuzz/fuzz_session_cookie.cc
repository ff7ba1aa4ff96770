// libFuzzer target: bytes from a client -> what the portal decodes from them before it trusts
// anything: the Cookie header, the signed session cookie, form and query strings, and the
// redirect target check. A forged cookie must never verify, a URL that is called safe must be
// an http(s) URL inside the session domain, and nothing may crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/internal.h"
#include "base/base.h"
#include "base/log.h"
#include "config/config.h"

namespace {

const config::AutheliaConfig& portalConfig() {
  static const config::AutheliaConfig cfg = [] {
    config::AutheliaConfig c;
    c.session_secret = "fuzz-secret";
    config::SessionCookie k;
    k.domain = "example.com";
    k.authelia_url = "https://auth.example.com";
    c.cookies.push_back(k);
    return c;
  }();
  return cfg;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const config::AutheliaConfig& cfg = portalConfig();

  for (std::string_view value : auth::cookieValues({text}, "authelia_session")) {
    if (auto id = auth::verifySessionCookie(cfg.session_secret, value)) {
      // Only a value this secret signed verifies; the fuzzer cannot produce one by chance.
      if (auth::signSessionId(cfg.session_secret, *id) != value) __builtin_trap();
    }
  }
  if (auto id = auth::verifySessionCookie(cfg.session_secret, text)) {
    if (auth::signSessionId(cfg.session_secret, *id) != text) __builtin_trap();
  }

  for (const auto& [k, v] : auth::parseForm(text)) (void)auth::safeRedirect(cfg, v);
  if (auth::safeRedirect(cfg, text)) {
    auto url = config::parseHttpUrl(text);
    if (!url || url->scheme != "https" || !config::hostWithinDomain(url->host, "example.com"))
      __builtin_trap();
  }
  (void)auth::urlDecode(text, true);
  (void)base::htmlEscape(text);
  return 0;
}
