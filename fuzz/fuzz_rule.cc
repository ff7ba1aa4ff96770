// libFuzzer target: bytes -> a Traefik v3 rule (rule: of an ingress rule or a stack route), and
// on success a few matches. A rule is user input: parsing must never crash, hang, throw or
// recurse without bound, and a parsed rule must answer every request, including one built
// from the input itself (as host, path, query, header and client address).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/config.h"
#include "config/rule.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto rule = config::Rule::parse(text);
  if (!rule) {
    if (rule.error().message().empty()) __builtin_trap();
    return 0;
  }
  config::RouteRequest plain;
  plain.host = "a.example.com:8443";
  plain.target = "/api/v1/%2Fx%20y?mobile&q=a+b;c&k=%zz";
  plain.headers = {{"content-type", "application/json"}, {"x-a", ""}};
  plain.client_ip = "::ffff:192.0.2.1";
  (void)(*rule)->matches(config::RuleRequest(plain));

  config::RouteRequest own;
  own.method = text.substr(0, 16);
  own.host = text.substr(0, 64);
  own.target = text;
  own.headers = {{text.substr(0, 8), text}};
  own.client_ip = text.substr(0, 40);
  (void)(*rule)->matches(config::RuleRequest(own));
  return 0;
}
