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

namespace {

// The members both kinds share: "s", "e", "p" (and the id under `id_key`).
struct Common {
  std::string id, secret, endpoint, pin;
};

std::string encodeCommon(const char* id_key, const Common& c) {
  json j = {{id_key, c.id}, {"s", base::base64Encode(c.secret)}, {"e", c.endpoint}, {"p", c.pin}};
  // The replace handler keeps dump() from throwing on invalid UTF-8 in a caller's endpoint;
  // the decoder would then refuse the result instead of the process aborting.
  return base::base64Encode(j.dump(-1, ' ', false, json::error_handler_t::replace));
}

// `id_key`/`id_what` name this kind's id member; `other_key`/`other_kind` the other kind's, so
// that a token of the wrong kind is named as such rather than as "missing field".
base::Result<Common> decodeCommon(std::string_view text, const char* id_key, const char* id_what,
                                  const char* other_key, const char* other_kind) {
  text = base::trim(text);
  if (text.empty()) return base::invalid("token is empty");
  if (text.size() > kMaxTokenSize)
    return base::invalid("token is too long ({} bytes, at most {})", text.size(), kMaxTokenSize);
  auto raw = base::base64Decode(text);
  if (!raw) return base::invalid("token is not valid base64: {}", raw.error().message());
  json j = json::parse(*raw, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return base::invalid("token does not hold a JSON object");
  if (!j.contains(id_key) && j.contains(other_key))
    return base::invalid("this is {}, not {}", other_kind,
                         std::string_view(id_key) == "t"
                             ? "a tunnel token (burrow edge tunnel create, burrow tunnel create)"
                             : "a login token (burrow edge login-token create)");

  // Unknown members are ignored so that a later edge can add fields without breaking older
  // connectors; every known one must be present and valid.
  Common c;
  ASSIGN_OR_RETURN(c.id, stringField(j, id_key, id_what));
  if (!isUuid(c.id)) return base::invalid("token: {} (\"{}\") is not a UUID", id_what, id_key);

  ASSIGN_OR_RETURN(std::string secret_b64, stringField(j, "s", "secret"));
  auto secret = base::base64Decode(secret_b64);
  if (!secret) return base::invalid("token: secret (\"s\") is not valid base64");
  if (secret->size() != kSecretSize)
    return base::invalid("token: secret (\"s\") must be {} bytes, got {}", kSecretSize,
                         secret->size());
  c.secret = std::move(*secret);

  ASSIGN_OR_RETURN(c.endpoint, stringField(j, "e", "edge endpoint"));
  auto hp = base::splitHostPort(c.endpoint);
  if (!hp) return base::invalid("token: endpoint (\"e\") {}", hp.error().message());
  if (hp->host.empty()) return base::invalid("token: endpoint (\"e\") has no host");

  ASSIGN_OR_RETURN(c.pin, stringField(j, "p", "edge key pin"));
  if (!isPin(c.pin))
    return base::invalid("token: pin (\"p\") must be {} hex characters", kPinHexSize);
  c.pin = base::toLower(c.pin);
  return c;
}

constexpr const char* kLoginKind = "a login token (for burrow tunnel login)";
constexpr const char* kTunnelKind = "a tunnel token (for burrow tunnel run)";

}  // namespace

std::string encodeToken(const Token& t) {
  return encodeCommon("t", {t.tunnel_id, t.secret, t.endpoint, t.pin});
}

base::Result<Token> decodeToken(std::string_view text) {
  ASSIGN_OR_RETURN(Common c, decodeCommon(text, "t", "tunnel id", "l", kLoginKind));
  return Token{std::move(c.id), std::move(c.secret), std::move(c.endpoint), std::move(c.pin)};
}

std::string encodeLoginToken(const LoginToken& t) {
  return encodeCommon("l", {t.login_id, t.secret, t.endpoint, t.pin});
}

base::Result<LoginToken> decodeLoginToken(std::string_view text) {
  ASSIGN_OR_RETURN(Common c, decodeCommon(text, "l", "login id", "t", kTunnelKind));
  return LoginToken{std::move(c.id), std::move(c.secret), std::move(c.endpoint), std::move(c.pin)};
}

}  // namespace tunnel
