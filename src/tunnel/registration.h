// The tunnel's registration exchange: right after the TLS handshake the connector sends
// one Registration frame and the edge answers with one Reply frame; after that the
// connection speaks HTTP/2 with the connector as server. A frame is a 4-byte big-endian
// payload length followed by that many bytes of JSON; payloads over kMaxFrame are refused.
// Plain values and pure functions: thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace tunnel {

inline constexpr uint32_t kProtocolVersion = 1;

// After registration, on each request stream the edge opens: the address the client connected
// to the edge from, as the edge saw it. The edge removes every header of this name that the
// client sent before adding its own, and says so in Reply::client_address, so the connector
// can trust it (ClientIP() rules). The name is the one origins behind cloudflared already read.
inline constexpr std::string_view kClientIpHeader = "cf-connecting-ip";
inline constexpr size_t kMaxFrame = 4096;
inline constexpr size_t kFrameHeader = 4;

struct Registration {
  std::string tunnel_id;     // UUID from the token
  std::string secret;        // raw secret bytes from the token (base64 on the wire)
  uint32_t conn_index = 0;   // 0 .. ha_connections-1
  std::string connector_id;  // UUID chosen once per connector process
  uint32_t version = kProtocolVersion;
  // The connector's program and version ("burrow 0.1.0"), shown by the edge; "" from a
  // connector older than the field. At most kMaxClientVersion printable bytes.
  std::string client_version;
};
inline constexpr size_t kMaxClientVersion = 64;

// The edge's answer. Permanent refusals end the connector; transient ones make it back off.
enum class Verdict {
  Accepted,            // registered; connection_id names this connection in logs
  UnknownTunnel,       // permanent: no tunnel with that id (deleted, or wrong edge)
  BadSecret,           // permanent: the secret does not match the tunnel's
  UnsupportedVersion,  // permanent: the edge does not speak this protocol version
  Malformed,           // permanent: the registration frame could not be parsed
  Busy,                // transient: the edge is starting, reloading or shutting down
};

bool isPermanent(Verdict v);
std::string_view verdictName(Verdict v);  // "accepted", "unknown_tunnel", ...
// Inverse of verdictName(); an error for names this version does not know.
base::Result<Verdict> verdictFromName(std::string_view name);

// Bounds on Reply's free-text fields. encodeReply() truncates a longer message (at a UTF-8
// boundary) and replaces control characters, so a reply it makes always decodes.
inline constexpr size_t kMaxMessage = 1024;
inline constexpr size_t kMaxConnectionId = 128;

struct Reply {
  Verdict verdict = Verdict::Malformed;
  std::string connection_id;  // set when Accepted
  std::string message;        // human text for refusals
  // The edge sets kClientIpHeader on every stream it opens, after removing the client's own.
  // An edge that does not (older than the field; absent reads as false) passes a client's copy
  // through, so the connector then drops it instead of believing it.
  bool client_address = false;
};

// Header + payload, ready to write.
std::string encodeRegistration(const Registration& r);
std::string encodeReply(const Reply& r);

// Length announced by a frame header (exactly kFrameHeader bytes); an error when it is zero
// or larger than kMaxFrame.
base::Result<size_t> frameLength(std::string_view header);
// Parse a payload (without the header). Every field is checked: types, UUID shape, secret
// size, version > 0. Errors say which field; they never echo the secret.
base::Result<Registration> decodeRegistration(std::string_view payload);
base::Result<Reply> decodeReply(std::string_view payload);

}  // namespace tunnel
