#include "tunnel/token.h"

#include <arpa/inet.h>

#include <nlohmann/json.hpp>

#include "base/base.h"

namespace tunnel {
namespace {

using nlohmann::json;

constexpr size_t kPinHexSize = 64;

bool isHexLower(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// Pins are compared as lowercase hex; a hand-copied token may have been upper-cased.
bool isPin(std::string_view s) {
  if (s.size() != kPinHexSize) return false;
  for (char c : s)
    if (!isHexLower(c) && !(c >= 'A' && c <= 'F')) return false;
  return true;
}

// A DNS name or dotted IPv4 address: labels of letters, digits, '-' and '_' (some private
// zones use it), separated by single dots. Deliberately looser than route hostnames: this
// only has to be something the resolver can be asked about.
bool isDnsHost(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  size_t label = 0;
  for (char c : h) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return label > 0;
}

// Reads a required string member; the error names the field (never its value, which may be
// the secret).
base::Result<std::string> stringField(const json& j, const char* key, const char* what) {
  auto it = j.find(key);
  if (it == j.end()) return base::invalid("token: missing field \"{}\" ({})", key, what);
  if (!it->is_string()) return base::invalid("token: field \"{}\" ({}) is not a string", key, what);
  return it->get<std::string>();
}

}  // namespace

bool isUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !isHexLower(s[i])) return false;
  }
  return true;
}

base::Result<HostPort> splitHostPort(std::string_view text) {
  HostPort out;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos)
      return base::invalid("'{}': missing ']' after IPv6 address", text);
    if (close + 1 >= text.size() || text[close + 1] != ':')
      return base::invalid("'{}': expected [ADDRESS]:PORT", text);
    std::string addr(text.substr(1, close - 1));
    in6_addr a6{};
    if (::inet_pton(AF_INET6, addr.c_str(), &a6) != 1)
      return base::invalid("'{}': '{}' is not an IPv6 address", text, addr);
    out.host = std::move(addr);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return base::invalid("'{}': missing :PORT", text);
    std::string_view host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos)
      return base::invalid("'{}': write IPv6 addresses in brackets, as [ADDRESS]:PORT", text);
    if (!host.empty() && !isDnsHost(host))
      return base::invalid("'{}': '{}' is not a valid host name or address", text, host);
    out.host = std::string(host);
    port = text.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != port.npos)
    return base::invalid("'{}': port must be a number from 1 to 65535", text);
  unsigned long n = std::stoul(std::string(port));
  if (n < 1 || n > 65535) return base::invalid("'{}': port must be a number from 1 to 65535", text);
  out.port = static_cast<uint16_t>(n);
  return out;
}

bool isWildcardHost(std::string_view host) {
  if (host.empty() || host == "0.0.0.0") return true;
  std::string h(host);
  in6_addr a6{};
  return ::inet_pton(AF_INET6, h.c_str(), &a6) == 1 && IN6_IS_ADDR_UNSPECIFIED(&a6);
}

std::string encodeToken(const Token& t) {
  json j = {
      {"t", t.tunnel_id}, {"s", base::base64Encode(t.secret)}, {"e", t.endpoint}, {"p", t.pin}};
  // The replace handler keeps dump() from throwing on invalid UTF-8 in a caller's endpoint;
  // decodeToken would then refuse the result instead of the process aborting.
  return base::base64Encode(j.dump(-1, ' ', false, json::error_handler_t::replace));
}

base::Result<Token> decodeToken(std::string_view text) {
  text = base::trim(text);
  if (text.empty()) return base::invalid("token is empty");
  if (text.size() > kMaxTokenSize)
    return base::invalid("token is too long ({} bytes, at most {})", text.size(), kMaxTokenSize);
  auto raw = base::base64Decode(text);
  if (!raw) return base::invalid("token is not valid base64: {}", raw.error().message());
  json j = json::parse(*raw, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return base::invalid("token does not hold a JSON object");

  // Unknown members are ignored so that a later edge can add fields without breaking older
  // connectors; every known one must be present and valid.
  Token t;
  ASSIGN_OR_RETURN(t.tunnel_id, stringField(j, "t", "tunnel id"));
  if (!isUuid(t.tunnel_id)) return base::invalid("token: tunnel id (\"t\") is not a UUID");

  ASSIGN_OR_RETURN(std::string secret_b64, stringField(j, "s", "secret"));
  auto secret = base::base64Decode(secret_b64);
  if (!secret) return base::invalid("token: secret (\"s\") is not valid base64");
  if (secret->size() != kSecretSize)
    return base::invalid("token: secret (\"s\") must be {} bytes, got {}", kSecretSize,
                         secret->size());
  t.secret = std::move(*secret);

  ASSIGN_OR_RETURN(t.endpoint, stringField(j, "e", "edge endpoint"));
  auto hp = splitHostPort(t.endpoint);
  if (!hp) return base::invalid("token: endpoint (\"e\") {}", hp.error().message());
  if (hp->host.empty()) return base::invalid("token: endpoint (\"e\") has no host");

  ASSIGN_OR_RETURN(t.pin, stringField(j, "p", "edge key pin"));
  if (!isPin(t.pin))
    return base::invalid("token: pin (\"p\") must be {} hex characters", kPinHexSize);
  t.pin = base::toLower(t.pin);
  return t;
}

}  // namespace tunnel
