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
  auto hp = base::splitHostPort(t.endpoint);
  if (!hp) return base::invalid("token: endpoint (\"e\") {}", hp.error().message());
  if (hp->host.empty()) return base::invalid("token: endpoint (\"e\") has no host");

  ASSIGN_OR_RETURN(t.pin, stringField(j, "p", "edge key pin"));
  if (!isPin(t.pin))
    return base::invalid("token: pin (\"p\") must be {} hex characters", kPinHexSize);
  t.pin = base::toLower(t.pin);
  return t;
}

}  // namespace tunnel
