// TLS material for the tunnel: the edge's self-signed identity and the SSL_CTXs of both
// ends. The tunnel is TLS 1.3 only, with ALPN kAlpn; the connector trusts the edge by the
// SHA-256 pin of its public key, never by a CA. SslCtxPtr owns its SSL_CTX.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace tunnel {

// ALPN protocol id of burrow's tunnel; the suffix is the protocol version.
inline constexpr char kAlpn[] = "burrow/1";
// ALPN protocol id of the management API a login uses on the same listener (manage.h).
inline constexpr char kManageAlpn[] = "burrow-manage/1";

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const;
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

// Writes a fresh ECDSA P-256 key (0600) and a self-signed certificate (0644, 10 years,
// CN and SAN = common_name) atomically.
base::Result<void> generateSelfSigned(const std::string& cert_path, const std::string& key_path,
                                      const std::string& common_name);
// Hex SHA-256 of the SubjectPublicKeyInfo DER of the first certificate in the PEM file.
base::Result<std::string> publicKeyPin(const std::string& cert_path);

// Server side of the tunnel listener: TLS 1.3 only, offers kAlpn and kManageAlpn, refuses
// other ALPN.
base::Result<SslCtxPtr> makeEdgeTunnelContext(const std::string& cert_path,
                                              const std::string& key_path);
// Client side: TLS 1.3 only, asks for ALPN (kAlpn or kManageAlpn), and accepts the peer only if
// the SHA-256 of its leaf's SPKI equals `pin_hex` (chain and name are not checked: the pin is
// the trust). A mismatch fails the handshake; pinMismatch() then tells it was the pin.
base::Result<SslCtxPtr> makeConnectorContext(const std::string& pin_hex,
                                             std::string_view alpn = kAlpn);
// True when the last handshake on a connection made with makeConnectorContext failed
// because of the pin (inspect with the SSL* of that connection).
bool pinMismatch(const void* ssl);

// One request (REQUEST, bytes as sent) on a fresh blocking TLS connection to HOST:PORT made with
// CTX, 15 s socket timeouts; returns what the peer sent until it closed (at most MAX_REPLY
// bytes). With `check_name`, SNI (not for an address literal) and the certificate's name are
// HOST's; otherwise CTX alone decides (a pin).
base::Result<std::string> tlsRoundTrip(SSL_CTX* ctx, const std::string& host,
                                       const std::string& port, bool check_name,
                                       std::string_view request, size_t max_reply);

// Client-facing TLS (--https): TLS 1.2+, ALPN h2 and http/1.1 (server's preference h2).
base::Result<SslCtxPtr> makeEdgeHttpsContext(const std::string& cert_path,
                                             const std::string& key_path);
}  // namespace tunnel
