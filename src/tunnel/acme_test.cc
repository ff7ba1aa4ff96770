#include "tunnel/acme.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/base.h"
#include "base/unique_fd.h"
#include "tunnel/tls.h"

namespace tunnel {
namespace {

std::string unb64(std::string_view s) {
  auto r = base::base64Decode(s);
  EXPECT_TRUE(r) << s;
  return r ? *r : "";
}

TEST(Acme, Base64UrlHasNoPaddingAndUrlAlphabet) {
  EXPECT_EQ(base64Url(std::string("\xfb\xff", 2)), "-_8");
  EXPECT_EQ(base64Url("a"), "YQ");
  EXPECT_EQ(base64Url(""), "");
}

TEST(Acme, KeyRoundTripsThroughPem) {
  auto k = generateP256Key();
  ASSERT_TRUE(k);
  auto pem = keyToPem(k->get());
  ASSERT_TRUE(pem);
  auto back = keyFromPem(*pem);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*publicJwk(k->get()), *publicJwk(back->get()));
  EXPECT_FALSE(keyFromPem("not a key"));
}

TEST(Acme, RefusesKeysThatAreNotP256) {
  EVP_PKEY* k = EVP_EC_gen("P-384");
  ASSERT_TRUE(k);
  EvpKeyPtr owned(k);
  auto pem = keyToPem(k);
  ASSERT_TRUE(pem);
  auto r = keyFromPem(*pem);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("P-256"), std::string::npos);
}

TEST(Acme, JwkMembersAreInThumbprintOrder) {
  auto k = generateP256Key();
  ASSERT_TRUE(k);
  auto jwk = publicJwk(k->get());
  ASSERT_TRUE(jwk);
  EXPECT_TRUE(jwk->starts_with(R"({"crv":"P-256","kty":"EC","x":")")) << *jwk;
  auto j = nlohmann::json::parse(*jwk);
  EXPECT_EQ(unb64(j["x"].get<std::string>()).size(), 32u);
  EXPECT_EQ(unb64(j["y"].get<std::string>()).size(), 32u);
  auto t = jwkThumbprint(k->get());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->size(), 43u);  // 32 bytes, base64url without padding
}

// The signature must verify over "protected.payload" as r||s (not DER), and the header must
// carry jwk before the account exists and kid after.
TEST(Acme, JwsVerifiesWithTheKeyAndNamesKidOrJwk) {
  auto k = generateP256Key();
  ASSERT_TRUE(k);
  for (std::string kid : {"", "https://acme.test/acct/1"}) {
    auto jws = signJws(k->get(), kid, "nonce1", "https://acme.test/new-order", R"({"a":1})");
    ASSERT_TRUE(jws) << jws.error().message();
    auto j = nlohmann::json::parse(*jws);
    auto header = nlohmann::json::parse(unb64(j["protected"].get<std::string>()));
    EXPECT_EQ(header["alg"], "ES256");
    EXPECT_EQ(header["nonce"], "nonce1");
    EXPECT_EQ(header["url"], "https://acme.test/new-order");
    if (kid.empty()) {
      EXPECT_FALSE(header.contains("kid"));
      EXPECT_EQ(header["jwk"]["kty"], "EC");
    } else {
      EXPECT_EQ(header["kid"], kid);
      EXPECT_FALSE(header.contains("jwk"));
    }
    EXPECT_EQ(unb64(j["payload"].get<std::string>()), R"({"a":1})");
    std::string raw = unb64(j["signature"].get<std::string>());
    ASSERT_EQ(raw.size(), 64u);
    // Re-encode as DER and verify.
    ECDSA_SIG* sig = ECDSA_SIG_new();
    auto* p = reinterpret_cast<const unsigned char*>(raw.data());
    ECDSA_SIG_set0(sig, BN_bin2bn(p, 32, nullptr), BN_bin2bn(p + 32, 32, nullptr));
    unsigned char* der = nullptr;
    int der_len = i2d_ECDSA_SIG(sig, &der);
    ECDSA_SIG_free(sig);
    std::string input = j["protected"].get<std::string>() + "." + j["payload"].get<std::string>();
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    ASSERT_EQ(EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, k->get()), 1);
    EXPECT_EQ(EVP_DigestVerify(md, der, der_len,
                               reinterpret_cast<const unsigned char*>(input.data()), input.size()),
              1);
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
  }
}

TEST(Acme, PostAsGetHasAnEmptyPayload) {
  auto k = generateP256Key();
  ASSERT_TRUE(k);
  auto jws = signJws(k->get(), "kid", "n", "https://acme.test/authz/1", "");
  ASSERT_TRUE(jws);
  EXPECT_EQ(nlohmann::json::parse(*jws)["payload"], "");
}

TEST(Acme, CsrNamesTheHostAndIsSignedByTheKey) {
  auto k = generateP256Key();
  ASSERT_TRUE(k);
  auto der = makeCsr(k->get(), "app.example.net");
  ASSERT_TRUE(der) << der.error().message();
  auto* p = reinterpret_cast<const unsigned char*>(der->data());
  X509_REQ* req = d2i_X509_REQ(nullptr, &p, static_cast<long>(der->size()));
  ASSERT_TRUE(req);
  EXPECT_EQ(X509_REQ_verify(req, k->get()), 1);
  char cn[256] = {};
  X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, cn, sizeof(cn));
  EXPECT_STREQ(cn, "app.example.net");
  X509_REQ_free(req);
}

TEST(Acme, ParsesDirectoryOrderAuthorizationAndProblem) {
  auto d = parseAcmeDirectory(
      R"({"newNonce":"https://a/n","newAccount":"https://a/acct","newOrder":"https://a/o",
          "meta":{"termsOfService":"x"}})");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->new_order, "https://a/o");
  EXPECT_FALSE(parseAcmeDirectory(R"({"newNonce":"x"})"));
  EXPECT_FALSE(parseAcmeDirectory("[]"));
  EXPECT_FALSE(parseAcmeDirectory("{"));

  auto o = parseAcmeOrder(
      R"({"status":"pending","authorizations":["https://a/z/1"],"finalize":"https://a/f"})");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->authorizations.size(), 1u);
  EXPECT_EQ(o->certificate, "");
  EXPECT_FALSE(parseAcmeOrder(R"({"status":"valid","authorizations":[1],"finalize":"f"})"));
  EXPECT_FALSE(parseAcmeOrder(R"({"status":7,"authorizations":[],"finalize":"f"})"));

  auto a = parseAcmeAuthorization(
      R"({"status":"invalid","identifier":{"type":"dns","value":"x.test"},
          "challenges":[{"type":"http-01","url":"https://a/c","token":"tok_-1","status":"invalid",
                         "error":{"type":"urn:ietf:params:acme:error:connection",
                                  "detail":"connection refused"}}]})");
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->identifier, "x.test");
  ASSERT_EQ(a->challenges.size(), 1u);
  EXPECT_EQ(a->challenges[0].error, "connection refused");
  EXPECT_FALSE(parseAcmeAuthorization(R"({"status":"valid","challenges":[]})"));

  auto p = parseAcmeProblem(R"({"type":"urn:ietf:params:acme:error:badNonce","detail":"old"})");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->type, "urn:ietf:params:acme:error:badNonce");
  EXPECT_FALSE(parseAcmeProblem("{}"));
}

TEST(Acme, TokensAreBase64UrlOnly) {
  EXPECT_TRUE(validAcmeToken("abc-DEF_123"));
  EXPECT_FALSE(validAcmeToken(""));
  EXPECT_FALSE(validAcmeToken("../etc"));
  EXPECT_FALSE(validAcmeToken(std::string(257, 'a')));
}

TEST(Acme, ParsesHttpRepliesWithLengthChunksOrNeither) {
  auto r = parseHttpReply(
      "HTTP/1.1 201 Created\r\nReplay-Nonce: abc\r\nContent-Length: 2\r\n\r\n{}extra");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->header("replay-nonce"), "abc");
  EXPECT_EQ(r->body, "{}");
  auto c = parseHttpReply(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->body, "abcde");
  auto e = parseHttpReply("HTTP/1.0 200 OK\r\n\r\nto the end");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->body, "to the end");
  EXPECT_FALSE(parseHttpReply("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort"));
  EXPECT_FALSE(parseHttpReply("HTTP/1.1 2x0 OK\r\n\r\n"));
  EXPECT_FALSE(parseHttpReply("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"));
  EXPECT_FALSE(parseHttpReply("garbage"));
  auto h = parseHttpReply("HTTP/1.1 200 OK\r\nReplay-Nonce: n\r\nContent-Length: 5\r\n\r\n", true);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->header("replay-nonce"), "n");
  EXPECT_EQ(h->body, "");
}

TEST(Acme, CertListIsEmptyWithoutAStore) {
  auto l = listCertificates("/nonexistent-burrow-state");
  ASSERT_TRUE(l);
  EXPECT_TRUE(l->empty());
}

// What a client sees after a handshake with SNI `name`, offering ALPN `alpn` (a wire-format
// list, or none) (socketpair, server in its own thread).
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtrForTest = std::unique_ptr<BIO, BioFree>;

struct Seen {
  std::shared_ptr<X509> leaf;  // null: the handshake failed
  std::string alpn;
};
Seen handshakeWith(SSL_CTX* server_ctx, const std::string& name, std::string_view alpn = {}) {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  base::UniqueFd server_fd(fds[0]), client_fd(fds[1]);
  SslCtxPtr client_ctx(SSL_CTX_new(TLS_client_method()));
  if (!alpn.empty())
    SSL_CTX_set_alpn_protos(client_ctx.get(), reinterpret_cast<const unsigned char*>(alpn.data()),
                            static_cast<unsigned>(alpn.size()));
  SSL* server = SSL_new(server_ctx);
  SSL* client = SSL_new(client_ctx.get());
  SSL_set_fd(server, server_fd.get());
  SSL_set_fd(client, client_fd.get());
  SSL_set_tlsext_host_name(client, name.c_str());
  std::thread srv([&] {
    if (SSL_accept(server) != 1) ::shutdown(server_fd.get(), SHUT_RDWR);  // unblock the client
    ERR_clear_error();
  });
  Seen seen;
  if (SSL_connect(client) == 1) {
    seen.leaf.reset(SSL_get1_peer_certificate(client), X509_free);
    const unsigned char* p = nullptr;
    unsigned int n = 0;
    SSL_get0_alpn_selected(client, &p, &n);
    seen.alpn.assign(reinterpret_cast<const char*>(p), n);
  } else {
    ::shutdown(client_fd.get(), SHUT_RDWR);  // unblock the server
  }
  srv.join();  // the server has sent its session tickets: nothing writes to a closed socket
  SSL_free(client);
  SSL_free(server);
  return seen;
}

std::string commonName(X509* x) {
  if (!x) return "";
  char buf[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, sizeof(buf));
  return buf;
}

// The CN of the leaf a client sees after a handshake with SNI `name`.
std::string servedName(SSL_CTX* server_ctx, const std::string& name) {
  return commonName(handshakeWith(server_ctx, name).leaf.get());
}

TEST(Acme, SelectorServesTheNamesCertificateAndFallsBackForOthers) {
  char tmpl[] = "/tmp/burrow-acme-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  ASSERT_TRUE(generateSelfSigned(dir + "/fb.crt", dir + "/fb.key", "fallback"));
  ASSERT_TRUE(generateSelfSigned(dir + "/a.crt", dir + "/a.key", "a.test"));
  auto base = makeEdgeHttpsContext(dir + "/fb.crt", dir + "/fb.key");
  ASSERT_TRUE(base);
  CertSelector selector;
  selector.attach(base->get());
  EXPECT_EQ(servedName(base->get(), "a.test"), "fallback");
  auto a = makeEdgeHttpsContext(dir + "/a.crt", dir + "/a.key");
  ASSERT_TRUE(a);
  // Installed later: taken by the next handshake, on the same listener context.
  selector.install("a.test", std::shared_ptr<SSL_CTX>(a->release(), SSL_CTX_free));
  EXPECT_EQ(servedName(base->get(), "a.test"), "a.test");
  EXPECT_EQ(servedName(base->get(), "A.TEST"), "a.test");
  EXPECT_EQ(servedName(base->get(), "b.test"), "fallback");
  std::filesystem::remove_all(dir);
}

TEST(Acme, WildcardCertificateCoversOneLabel) {
  char tmpl[] = "/tmp/burrow-acme-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  ASSERT_TRUE(generateSelfSigned(dir + "/fb.crt", dir + "/fb.key", "fallback"));
  ASSERT_TRUE(generateSelfSigned(dir + "/w.crt", dir + "/w.key", "wild"));
  ASSERT_TRUE(generateSelfSigned(dir + "/e.crt", dir + "/e.key", "exact"));
  auto base = makeEdgeHttpsContext(dir + "/fb.crt", dir + "/fb.key");
  auto w = makeEdgeHttpsContext(dir + "/w.crt", dir + "/w.key");
  auto e = makeEdgeHttpsContext(dir + "/e.crt", dir + "/e.key");
  ASSERT_TRUE(base && w && e);
  CertSelector selector;
  selector.attach(base->get());
  selector.install("*.zone.test", std::shared_ptr<SSL_CTX>(w->release(), SSL_CTX_free));
  selector.install("exact.zone.test", std::shared_ptr<SSL_CTX>(e->release(), SSL_CTX_free));
  EXPECT_EQ(servedName(base->get(), "a.zone.test"), "wild");
  EXPECT_EQ(servedName(base->get(), "exact.zone.test"), "exact");   // the exact name wins
  EXPECT_EQ(servedName(base->get(), "a.b.zone.test"), "fallback");  // one label only
  EXPECT_EQ(servedName(base->get(), "zone.test"), "fallback");
  std::filesystem::remove_all(dir);
}

TEST(Acme, WildcardsAreStoredUnderAFileNameWithoutAStar) {
  EXPECT_EQ(acmeCertPath("/s", "*.zone.test"), "/s/acme/certs/_wildcard.zone.test.crt");
  EXPECT_EQ(acmeKeyPath("/s", "*.zone.test"), "/s/acme/certs/_wildcard.zone.test.key");
  EXPECT_EQ(acmeErrorPath("/s", "a.test"), "/s/acme/certs/a.test.error");
  char tmpl[] = "/tmp/burrow-acme-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  ASSERT_TRUE(base::ensureDir(dir + "/acme/certs", 0700));
  ASSERT_TRUE(base::writeFileAtomic(acmeErrorPath(dir, "*.zone.test"), "needs DNS-01\n", 0600));
  auto l = listCertificates(dir);
  ASSERT_TRUE(l);
  ASSERT_EQ(l->size(), 1u);
  EXPECT_EQ((*l)[0].name, "*.zone.test");
  EXPECT_EQ((*l)[0].last_error, "needs DNS-01");
  std::filesystem::remove_all(dir);
}

TEST(Acme, Dns01ValueIsTheBase64UrlSha256OfTheKeyAuthorization) {
  EXPECT_EQ(dns01Value("abc"), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
  EXPECT_EQ(dns01Name("zone.test"), "_acme-challenge.zone.test");
}

TEST(Acme, CsrForAWildcardNamesTheWildcard) {
  auto k = generateP256Key();
  ASSERT_TRUE(k);
  auto der = makeCsr(k->get(), "*.zone.test");
  ASSERT_TRUE(der) << der.error().message();
  const auto* p = reinterpret_cast<const unsigned char*>(der->data());
  X509_REQ* req = d2i_X509_REQ(nullptr, &p, static_cast<long>(der->size()));
  ASSERT_NE(req, nullptr);
  char cn[256] = {};
  X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, cn, sizeof(cn));
  EXPECT_STREQ(cn, "*.zone.test");
  X509_REQ_free(req);
}

TEST(Acme, AlpnOffersReadsTheClientHelloList) {
  using namespace std::string_view_literals;
  EXPECT_TRUE(
      alpnOffers("\x00\x0b\x0a"
                 "acme-tls/1"sv,
                 kAcmeTlsAlpn));
  EXPECT_TRUE(
      alpnOffers("\x00\x0e\x02h2\x0a"
                 "acme-tls/1"sv,
                 kAcmeTlsAlpn));
  EXPECT_FALSE(alpnOffers("\x00\x03\x02h2"sv, kAcmeTlsAlpn));
  EXPECT_FALSE(
      alpnOffers("\x00\x0c\x0a"
                 "acme-tls/1"sv,
                 kAcmeTlsAlpn));  // list length too long
  EXPECT_FALSE(
      alpnOffers("\x00\x0b\x0b"
                 "acme-tls/1"sv,
                 kAcmeTlsAlpn));  // name runs past the end
  EXPECT_FALSE(
      alpnOffers("\x00\x0c\x00\x0a"
                 "acme-tls/1"sv,
                 kAcmeTlsAlpn));  // empty name
  EXPECT_FALSE(alpnOffers("\x00"sv, kAcmeTlsAlpn));
  EXPECT_FALSE(alpnOffers(""sv, kAcmeTlsAlpn));
}

// RFC 8737: while a challenge is installed, a hello for its name offering acme-tls/1 gets a
// self-signed certificate for the name alone with the critical acmeIdentifier extension
// holding SHA-256 of the key authorization, and acme-tls/1 is selected; every other
// handshake gets what it got before.
TEST(Acme, TlsAlpn01ChallengeAnswersOnlyTheValidation) {
  char tmpl[] = "/tmp/burrow-acme-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  ASSERT_TRUE(generateSelfSigned(dir + "/fb.crt", dir + "/fb.key", "fallback"));
  auto base = makeEdgeHttpsContext(dir + "/fb.crt", dir + "/fb.key");
  ASSERT_TRUE(base);
  CertSelector selector;
  selector.attach(base->get());
  const std::string acme_alpn = std::string("\x0a") + kAcmeTlsAlpn;
  const std::string browser_alpn = "\x02h2\x08http/1.1";

  auto ctx = makeTlsAlpn01Context("a.test", "token.thumb");
  ASSERT_TRUE(ctx) << ctx.error().message();
  selector.installChallenge("a.test", *ctx);

  Seen v = handshakeWith(base->get(), "a.test", acme_alpn);
  ASSERT_TRUE(v.leaf);
  EXPECT_EQ(v.alpn, kAcmeTlsAlpn);
  EXPECT_EQ(commonName(v.leaf.get()), "a.test");
  auto summary = [&] {
    BioPtrForTest b(BIO_new(BIO_s_mem()));
    PEM_write_bio_X509(b.get(), v.leaf.get());
    char* p = nullptr;
    long n = BIO_get_mem_data(b.get(), &p);
    return summarizeCert(std::string_view(p, static_cast<size_t>(n)));
  }();
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->names, std::vector<std::string>{"a.test"});
  std::unique_ptr<ASN1_OBJECT, decltype(&ASN1_OBJECT_free)> oid(
      OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1), ASN1_OBJECT_free);
  int at = X509_get_ext_by_OBJ(v.leaf.get(), oid.get(), -1);
  ASSERT_GE(at, 0);
  X509_EXTENSION* ext = X509_get_ext(v.leaf.get(), at);
  EXPECT_EQ(X509_EXTENSION_get_critical(ext), 1);
  ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(ext);
  unsigned char md[32];
  EVP_Digest("token.thumb", 11, md, nullptr, EVP_sha256(), nullptr);
  std::string want = std::string("\x04\x20", 2) + std::string(reinterpret_cast<char*>(md), 32);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                        static_cast<size_t>(ASN1_STRING_length(data))),
            want);

  // A browser for the same name, and the validation for another name: untouched.
  Seen b = handshakeWith(base->get(), "a.test", browser_alpn);
  EXPECT_EQ(commonName(b.leaf.get()), "fallback");
  EXPECT_EQ(b.alpn, "h2");
  EXPECT_EQ(commonName(handshakeWith(base->get(), "b.test", acme_alpn).leaf.get()), "fallback");
  // Withdrawn: the validation sees the name's own certificate again.
  selector.removeChallenge("a.test");
  EXPECT_EQ(commonName(handshakeWith(base->get(), "a.test", acme_alpn).leaf.get()), "fallback");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tunnel
