// TLS material for the tunnel: the edge's self-signed identity and the SSL_CTXs of both
// ends. The tunnel is TLS 1.3 only, with ALPN kAlpn; the connector trusts the edge by the
// SHA-256 pin of its public key, never by a CA. SslCtxPtr owns its SSL_CTX.
#pragma once

#include <memory>
#include <string>

#include "base/result.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace tunnel {

// ALPN protocol id of burrow's tunnel; the suffix is the protocol version.
inline constexpr char kAlpn[] = "burrow/1";

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

// Server side of the tunnel listener: TLS 1.3 only, offers kAlpn only, refuses other ALPN.
base::Result<SslCtxPtr> makeEdgeTunnelContext(const std::string& cert_path,
                                              const std::string& key_path);
// Client side: TLS 1.3 only, asks for kAlpn, and accepts the peer only if the SHA-256 of its
// leaf's SPKI equals `pin_hex` (chain and name are not checked: the pin is the trust).
// A mismatch fails the handshake; pinMismatch() then tells it was the pin.
base::Result<SslCtxPtr> makeConnectorContext(const std::string& pin_hex);
// True when the last handshake on a connection made with makeConnectorContext failed
// because of the pin (inspect with the SSL* of that connection).
bool pinMismatch(const void* ssl);

// Client-facing TLS (--https): TLS 1.2+, ALPN h2 and http/1.1 (server's preference h2).
base::Result<SslCtxPtr> makeEdgeHttpsContext(const std::string& cert_path,
                                             const std::string& key_path);
}  // namespace tunnel
