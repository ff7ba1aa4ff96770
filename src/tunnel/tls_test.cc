#include "tunnel/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <thread>

#include <gtest/gtest.h>

#include "base/base.h"

namespace tunnel {
namespace {

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/burrow-tls-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    cert_ = dir_ + "/edge.crt";
    key_ = dir_ + "/edge.key";
    auto made = generateSelfSigned(cert_, key_, "burrow-edge");
    ASSERT_TRUE(made) << made.error().message();
    auto pin = publicKeyPin(cert_);
    ASSERT_TRUE(pin) << pin.error().message();
    pin_ = *pin;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_, cert_, key_, pin_;
};

struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};
using SslPtr = std::unique_ptr<SSL, SslFree>;

// Result of one handshake between a server and a client SSL_CTX over a socketpair, each side
// in its own thread with blocking sockets (the kernel buffers carry the messages).
struct Handshake {
  bool server_ok = false;
  bool client_ok = false;
  bool pin_mismatch = false;
  std::string client_alpn;
  std::string server_alpn;
  int version = 0;
};

std::string alpnOf(SSL* ssl) {
  const unsigned char* p = nullptr;
  unsigned int n = 0;
  SSL_get0_alpn_selected(ssl, &p, &n);
  return std::string(reinterpret_cast<const char*>(p), n);
}

Handshake handshake(SSL_CTX* server_ctx, SSL_CTX* client_ctx,
                    const std::string& client_alpn_wire = "") {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  base::UniqueFd server_fd(fds[0]), client_fd(fds[1]);
  SslPtr server(SSL_new(server_ctx));
  SslPtr client(SSL_new(client_ctx));
  SSL_set_fd(server.get(), server_fd.get());
  SSL_set_fd(client.get(), client_fd.get());
  if (!client_alpn_wire.empty()) {
    SSL_set_alpn_protos(client.get(),
                        reinterpret_cast<const unsigned char*>(client_alpn_wire.data()),
                        static_cast<unsigned>(client_alpn_wire.size()));
  }
  Handshake h;
  std::thread srv([&] {
    h.server_ok = SSL_accept(server.get()) == 1;
    ERR_clear_error();  // the queue is per thread: leave this one clean
    if (!h.server_ok) ::shutdown(server_fd.get(), SHUT_RDWR);  // unblock the client
  });
  h.client_ok = SSL_connect(client.get()) == 1;
  if (!h.client_ok) ::shutdown(client_fd.get(), SHUT_RDWR);  // unblock the server
  srv.join();
  ERR_clear_error();
  h.pin_mismatch = pinMismatch(client.get());
  h.client_alpn = alpnOf(client.get());
  h.server_alpn = alpnOf(server.get());
  h.version = SSL_version(client.get());
  return h;
}

TEST_F(TlsTest, GeneratedIdentityHasPrivateKeyAndLongLivedCert) {
  struct stat st {};
  ASSERT_EQ(::stat(key_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(::stat(cert_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);

  auto pem = base::readFile(cert_);
  ASSERT_TRUE(pem);
  BIO* bio = BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(X509_get_version(cert), X509_VERSION_3);
  // Valid for about ten years from now.
  int days = 0, secs = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(cert)), 1);
  EXPECT_GT(days, 3600);
  EXPECT_LT(days, 3700);
  // The SAN carries the name.
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  ASSERT_NE(sans, nullptr);
  ASSERT_EQ(sk_GENERAL_NAME_num(sans), 1);
  const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, 0);
  ASSERT_EQ(gn->type, GEN_DNS);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(gn->d.dNSName)),
                        ASN1_STRING_length(gn->d.dNSName)),
            "burrow-edge");
  GENERAL_NAMES_free(sans);
  EVP_PKEY* key = X509_get0_pubkey(cert);
  ASSERT_NE(key, nullptr);
  EXPECT_TRUE(EVP_PKEY_is_a(key, "EC"));
  X509_free(cert);
}

TEST_F(TlsTest, PinIsStableHexAndChangesWithTheKey) {
  EXPECT_EQ(pin_.size(), 64u);
  EXPECT_EQ(pin_.find_first_not_of("0123456789abcdef"), std::string::npos);
  auto again = publicKeyPin(cert_);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, pin_);
  ASSERT_TRUE(generateSelfSigned(dir_ + "/other.crt", dir_ + "/other.key", "other"));
  auto other = publicKeyPin(dir_ + "/other.crt");
  ASSERT_TRUE(other);
  EXPECT_NE(*other, pin_);
}

TEST_F(TlsTest, PinErrorsNameTheFile) {
  auto missing = publicKeyPin(dir_ + "/absent.crt");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("absent.crt"), std::string::npos);
  ASSERT_TRUE(base::writeFileAtomic(dir_ + "/junk.crt", "not a pem", 0644));
  auto junk = publicKeyPin(dir_ + "/junk.crt");
  ASSERT_FALSE(junk);
  EXPECT_NE(junk.error().message().find("junk.crt"), std::string::npos);
}

TEST_F(TlsTest, ContextsRefuseBadInputs) {
  EXPECT_FALSE(makeConnectorContext("abc"));
  EXPECT_FALSE(makeConnectorContext(std::string(64, 'z')));
  auto no_cert = makeEdgeTunnelContext(dir_ + "/absent.crt", key_);
  ASSERT_FALSE(no_cert);
  EXPECT_NE(no_cert.error().message().find("absent.crt"), std::string::npos);
  ASSERT_TRUE(generateSelfSigned(dir_ + "/other.crt", dir_ + "/other.key", "other"));
  auto mismatched = makeEdgeTunnelContext(cert_, dir_ + "/other.key");
  ASSERT_FALSE(mismatched);
  EXPECT_NE(mismatched.error().message().find("does not match"), std::string::npos);
  EXPECT_FALSE(generateSelfSigned(dir_ + "/x.crt", dir_ + "/x.key", ""));
}

TEST_F(TlsTest, HandshakeWithRightPinNegotiatesTls13AndBurrowAlpn) {
  auto server = makeEdgeTunnelContext(cert_, key_);
  ASSERT_TRUE(server) << server.error().message();
  auto client = makeConnectorContext(pin_);
  ASSERT_TRUE(client) << client.error().message();
  Handshake h = handshake(server->get(), client->get());
  EXPECT_TRUE(h.client_ok);
  EXPECT_TRUE(h.server_ok);
  EXPECT_FALSE(h.pin_mismatch);
  EXPECT_EQ(h.version, TLS1_3_VERSION);
  EXPECT_EQ(h.client_alpn, kAlpn);
  EXPECT_EQ(h.server_alpn, kAlpn);
}

TEST_F(TlsTest, UppercasePinIsAccepted) {
  auto server = makeEdgeTunnelContext(cert_, key_);
  std::string upper = pin_;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto client = makeConnectorContext(upper);
  ASSERT_TRUE(server && client);
  EXPECT_TRUE(handshake(server->get(), client->get()).client_ok);
}

TEST_F(TlsTest, WrongPinFailsTheHandshakeAndSaysSo) {
  auto server = makeEdgeTunnelContext(cert_, key_);
  ASSERT_TRUE(server);
  std::string wrong = pin_;
  wrong[0] = wrong[0] == '0' ? '1' : '0';
  auto client = makeConnectorContext(wrong);
  ASSERT_TRUE(client);
  Handshake h = handshake(server->get(), client->get());
  EXPECT_FALSE(h.client_ok);
  EXPECT_FALSE(h.server_ok);
  EXPECT_TRUE(h.pin_mismatch);
}

TEST_F(TlsTest, OtherFailuresAreNotPinMismatches) {
  // The edge refuses a client without burrow's ALPN; the pin was never looked at.
  auto server = makeEdgeTunnelContext(cert_, key_);
  ASSERT_TRUE(server);
  SslCtxPtr plain(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_verify(plain.get(), SSL_VERIFY_NONE, nullptr);
  Handshake no_alpn = handshake(server->get(), plain.get());
  EXPECT_FALSE(no_alpn.server_ok);
  EXPECT_FALSE(no_alpn.client_ok);
  EXPECT_FALSE(no_alpn.pin_mismatch);
  Handshake h2 = handshake(server->get(), plain.get(), std::string("\x02h2", 3));
  EXPECT_FALSE(h2.server_ok);
  EXPECT_FALSE(h2.client_ok);
}

TEST_F(TlsTest, ConnectorRefusesTls12Edge) {
  // An HTTPS-style server capped at TLS 1.2 cannot serve a connector.
  auto https = makeEdgeHttpsContext(cert_, key_);
  ASSERT_TRUE(https);
  SSL_CTX_set_max_proto_version(https->get(), TLS1_2_VERSION);
  auto client = makeConnectorContext(pin_);
  ASSERT_TRUE(client);
  Handshake h = handshake(https->get(), client->get());
  EXPECT_FALSE(h.client_ok);
  EXPECT_FALSE(h.pin_mismatch);
}

TEST_F(TlsTest, HttpsContextPrefersH2ThenHttp11) {
  auto https = makeEdgeHttpsContext(cert_, key_);
  ASSERT_TRUE(https) << https.error().message();
  SslCtxPtr plain(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_verify(plain.get(), SSL_VERIFY_NONE, nullptr);

  Handshake both = handshake(https->get(), plain.get(), std::string("\x08http/1.1\x02h2", 12));
  EXPECT_TRUE(both.client_ok && both.server_ok);
  EXPECT_EQ(both.client_alpn, "h2");
  Handshake h11 = handshake(https->get(), plain.get(), std::string("\x08http/1.1", 9));
  EXPECT_TRUE(h11.client_ok);
  EXPECT_EQ(h11.client_alpn, "http/1.1");
  Handshake other = handshake(https->get(), plain.get(), std::string("\x03spd", 4));
  EXPECT_TRUE(other.client_ok);  // no overlap: no ALPN, plain HTTP/1.1
  EXPECT_EQ(other.client_alpn, "");

  SSL_CTX_set_max_proto_version(plain.get(), TLS1_2_VERSION);
  Handshake tls12 = handshake(https->get(), plain.get(), std::string("\x02h2", 3));
  EXPECT_TRUE(tls12.client_ok);
  EXPECT_EQ(tls12.version, TLS1_2_VERSION);
  EXPECT_EQ(tls12.client_alpn, "h2");
}

}  // namespace
}  // namespace tunnel
