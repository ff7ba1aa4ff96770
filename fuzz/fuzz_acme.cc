// libFuzzer target: the edge's ACME client reads whatever the ACME server (or anything in the
// path to it) sends: HTTP/1.1 replies, the directory, orders, authorizations and problem
// documents; the edge reads a ClientHello's ALPN list. None may crash, and what parses must keep
// the promises the client relies on.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/check.h"
#include "tunnel/acme.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  if (auto r = tunnel::parseHttpReply(in)) {
    CHECK(r->status >= 100 && r->status <= 999);
    CHECK(r->body.size() <= in.size());
    for (const auto& [name, value] : r->headers) CHECK(!name.empty());
  }
  if (auto h = tunnel::parseHttpReply(in, true)) CHECK(h->body.empty());
  if (auto d = tunnel::parseAcmeDirectory(in))
    CHECK(!d->new_nonce.empty() && !d->new_account.empty() && !d->new_order.empty());
  if (auto o = tunnel::parseAcmeOrder(in)) CHECK(!o->status.empty() && !o->finalize.empty());
  if (auto a = tunnel::parseAcmeAuthorization(in)) {
    CHECK(!a->status.empty() && !a->identifier.empty());
    for (const auto& c : a->challenges) CHECK(!c.type.empty() && !c.url.empty());
  }
  if (auto p = tunnel::parseAcmeProblem(in)) CHECK(!p->type.empty() || !p->detail.empty());
  if (tunnel::validAcmeToken(in)) CHECK(!in.empty() && in.size() <= 256);
  (void)tunnel::summarizeCert(in);
  // A ClientHello's ALPN list (the TLS-ALPN-01 check reads it before OpenSSL has).
  if (tunnel::alpnOffers(in, tunnel::kAcmeTlsAlpn)) CHECK(in.size() >= 2 + 1 + 10);
  return 0;
}
