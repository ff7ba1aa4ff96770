// Tunnel tokens: the one opaque string a connector needs. A token is base64 (standard
// alphabet, padded) of a compact JSON object {"t": tunnel id, "s": secret (base64),
// "e": "host:port" of the edge's tunnel listener, "p": hex SHA-256 of the edge's public key
// (SubjectPublicKeyInfo DER)}. Plain values; thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace tunnel {

struct Token {
  std::string tunnel_id;  // UUID
  std::string secret;     // 32 random bytes (raw)
  std::string endpoint;   // "host:port"
  std::string pin;        // 64 lowercase hex chars: SHA-256 of the edge's SPKI DER
};

std::string encodeToken(const Token& t);
// Rejects anything but a well-formed token with every field valid; the error says which
// field is wrong and never echoes the secret.
base::Result<Token> decodeToken(std::string_view text);

// Login tokens (`burrow edge login-token create`): what a home machine holds to manage
// tunnels and routes on the edge (`burrow tunnel login|create|route ...`). The same form as a
// tunnel token with "l" (the login's id) in place of "t".
struct LoginToken {
  std::string login_id;  // UUID
  std::string secret;    // kSecretSize random bytes (raw)
  std::string endpoint;  // "host:port" of the edge's tunnel listener
  std::string pin;       // as Token::pin
};

std::string encodeLoginToken(const LoginToken& t);
// As decodeToken; a tunnel token given here (or a login token to decodeToken) is refused with
// a message saying which kind it is.
base::Result<LoginToken> decodeLoginToken(std::string_view text);

// Size of a tunnel secret in bytes (raw, before base64).
inline constexpr size_t kSecretSize = 32;

// Tokens longer than this (after trimming) are refused before any decoding work; a real one
// is about 250 bytes.
inline constexpr size_t kMaxTokenSize = 4096;

// Helpers shared by the token, registration and edge-state code.

// True for a UUID in canonical lowercase form (8-4-4-4-12 hex), as base::randomUuid() makes.
bool isUuid(std::string_view s);

}  // namespace tunnel
