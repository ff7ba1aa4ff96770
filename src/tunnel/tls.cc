#include "tunnel/tls.h"
#include "tunnel/tunnel.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>

#include "base/base.h"
#include "base/unique_fd.h"

namespace tunnel {
namespace {

// Owners for the OpenSSL objects used here; each frees with its own function.
template <class T, void (*F)(T*)>
struct Free {
  void operator()(T* p) const { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Free<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Free<BIO, BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Free<BIGNUM, BN_free>>;
using NamesPtr = std::unique_ptr<GENERAL_NAMES, Free<GENERAL_NAMES, GENERAL_NAMES_free>>;

constexpr long kValidityDays = 3650;
constexpr size_t kMaxCommonName = 64;  // ub-common-name, RFC 5280

// Drains OpenSSL's thread-local error queue into one readable string; the queue must not
// leak into the next, unrelated failure on this thread.
std::string sslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

base::Unexpected sslError(std::string context) {
  // invalid(): the OpenSSL reason is the whole message; there is no errno behind it.
  return base::invalid("{}: {}", context, sslErrors());
}

std::string pinOf(const X509* cert) {
  X509_PUBKEY* spki = X509_get_X509_PUBKEY(cert);
  if (spki == nullptr) return {};
  unsigned char* der = nullptr;
  const int len = i2d_X509_PUBKEY(spki, &der);
  if (len <= 0) return {};
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  const bool ok = EVP_Digest(der, static_cast<size_t>(len), md, &md_len, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  if (!ok) return {};
  return base::hexEncode(std::string_view(reinterpret_cast<const char*>(md), md_len));
}

// ---- connector pin check ----

// Per-SSL_CTX: the expected pin (owned by the SSL_CTX, freed with it).
// Per-SSL: non-null once the peer's key did not match the pin.
void freePin(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<std::string*>(ptr);
}

int pinIndex() {
  static const int idx = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, freePin);
  return idx;
}

int mismatchIndex() {
  static const int idx = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return idx;
}

// Replaces OpenSSL's whole chain verification (SSL_CTX_set_cert_verify_callback): the edge's
// certificate is self-signed and its name is irrelevant, so building a chain would only
// produce errors to ignore. The pin of the leaf's key is the entire trust decision.
int verifyPin(X509_STORE_CTX* store, void* arg) {
  const auto* want = static_cast<const std::string*>(arg);
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  X509* leaf = X509_STORE_CTX_get0_cert(store);
  const std::string got = leaf ? pinOf(leaf) : std::string();
  if (!got.empty() && got.size() == want->size() &&
      CRYPTO_memcmp(got.data(), want->data(), got.size()) == 0) {
    X509_STORE_CTX_set_error(store, X509_V_OK);
    return 1;
  }
  if (ssl != nullptr) SSL_set_ex_data(ssl, mismatchIndex(), reinterpret_cast<void*>(1));
  X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
  return 0;
}

// Finds `want` (an ALPN wire-format entry: length byte + name) in the client's list and
// points *out at it. OpenSSL has already checked that `in` is well formed, but the walk
// stays bounds-checked anyway.
bool findAlpn(const unsigned char* in, unsigned int inlen, std::string_view want,
              const unsigned char** out, unsigned char* outlen) {
  unsigned int i = 0;
  while (i < inlen) {
    const unsigned int n = in[i];
    if (n == 0 || i + 1 + n > inlen) return false;
    if (n == want.size() && std::memcmp(in + i + 1, want.data(), n) == 0) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(n);
      return true;
    }
    i += 1 + n;
  }
  return false;
}

int selectBurrowAlpn(SSL*, const unsigned char** out, unsigned char* outlen,
                     const unsigned char* in, unsigned int inlen, void*) {
  if (findAlpn(in, inlen, kAlpn, out, outlen) || findAlpn(in, inlen, kManageAlpn, out, outlen))
    return SSL_TLSEXT_ERR_OK;
  // A client that speaks something else is not a connector (or is one of another protocol
  // version): fail with no_application_protocol rather than talk past each other.
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

// The ALPN select callback only runs when the client sent ALPN at all; a hello without it
// is refused here so that every tunnel connection has negotiated kAlpn.
int requireAlpnHello(SSL* ssl, int* alert, void*) {
  const unsigned char* ext = nullptr;
  size_t len = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &ext,
                                &len) == 1 &&
      len > 0)
    return SSL_CLIENT_HELLO_SUCCESS;
  *alert = SSL_AD_NO_APPLICATION_PROTOCOL;
  return SSL_CLIENT_HELLO_ERROR;
}

int selectHttpsAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                    unsigned int inlen, void*) {
  // Server preference: h2 when the client offers it, then HTTP/1.1.
  for (std::string_view p : {std::string_view("h2"), std::string_view("http/1.1")})
    if (findAlpn(in, inlen, p, out, outlen)) return SSL_TLSEXT_ERR_OK;
  // No common protocol: carry on without ALPN, which every client reads as HTTP/1.1.
  return SSL_TLSEXT_ERR_NOACK;
}

base::Result<void> requireReadable(const std::string& path, const char* what) {
  if (::access(path.c_str(), R_OK) != 0) return base::sysError("read {} {}", what, path);
  return {};
}

base::Result<void> loadCertAndKey(SSL_CTX* ctx, const std::string& cert_path,
                                  const std::string& key_path) {
  RETURN_IF_ERROR(requireReadable(cert_path, "certificate"));
  RETURN_IF_ERROR(requireReadable(key_path, "private key"));
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_path.c_str()) != 1)
    return sslError("load certificate " + cert_path);
  if (SSL_CTX_use_PrivateKey_file(ctx, key_path.c_str(), SSL_FILETYPE_PEM) != 1) {
    // OpenSSL checks the pair while loading; its "key values mismatch" is worth a plain
    // sentence, since a swapped --cert/--key is the usual cause.
    const unsigned long e = ERR_peek_last_error();
    if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      return base::invalid("private key {} does not match certificate {}", key_path, cert_path);
    }
    return sslError("load private key " + key_path);
  }
  if (SSL_CTX_check_private_key(ctx) != 1)
    return sslError("private key " + key_path + " does not match certificate " + cert_path);
  return {};
}

base::Result<SslCtxPtr> newContext(const SSL_METHOD* method, int min_version, int max_version) {
  SslCtxPtr ctx(SSL_CTX_new(method));
  if (!ctx) return sslError("SSL_CTX_new");
  if (SSL_CTX_set_min_proto_version(ctx.get(), min_version) != 1 ||
      SSL_CTX_set_max_proto_version(ctx.get(), max_version) != 1)
    return sslError("set TLS versions");
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  return ctx;
}

}  // namespace

void SslCtxDeleter::operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }

base::Result<void> generateSelfSigned(const std::string& cert_path, const std::string& key_path,
                                      const std::string& common_name) {
  if (common_name.empty() || common_name.size() > kMaxCommonName)
    return base::invalid("certificate name must be 1 to {} characters", kMaxCommonName);
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return sslError("generate P-256 key");

  X509Ptr cert(X509_new());
  if (!cert) return sslError("X509_new");
  BnPtr serial(BN_new());
  // A random positive 127-bit serial: unique without keeping a counter (RFC 5280 4.1.2.2).
  if (!serial || BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr)
    return sslError("certificate serial");
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                 -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), name) != 1 ||
      // Back-dated an hour so that a peer whose clock is a little behind accepts it.
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), kValidityDays, 0, nullptr) == nullptr ||
      X509_set_pubkey(cert.get(), key.get()) != 1)
    return sslError("build certificate");

  // SAN built as a structure (not a config string) so that no name can inject other entries.
  NamesPtr names(GENERAL_NAMES_new());
  GENERAL_NAME* dns = GENERAL_NAME_new();
  ASN1_IA5STRING* ia5 = ASN1_IA5STRING_new();
  if (!names || dns == nullptr || ia5 == nullptr ||
      ASN1_STRING_set(ia5, common_name.data(), static_cast<int>(common_name.size())) != 1) {
    GENERAL_NAME_free(dns);
    ASN1_IA5STRING_free(ia5);
    return sslError("build subjectAltName");
  }
  GENERAL_NAME_set0_value(dns, GEN_DNS, ia5);
  if (sk_GENERAL_NAME_push(names.get(), dns) == 0) {
    GENERAL_NAME_free(dns);
    return sslError("build subjectAltName");
  }
  BASIC_CONSTRAINTS* bc = BASIC_CONSTRAINTS_new();
  if (bc == nullptr) return sslError("build basicConstraints");
  bc->ca = 0;
  const bool ext_ok =
      X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) ==
          1 &&
      X509_add1_ext_i2d(cert.get(), NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) == 1;
  BASIC_CONSTRAINTS_free(bc);
  if (!ext_ok) return sslError("add certificate extensions");
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) return sslError("sign certificate");

  BioPtr key_bio(BIO_new(BIO_s_mem()));
  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  if (!key_bio || !cert_bio ||
      PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
          1 ||
      PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1)
    return sslError("encode PEM");
  auto contents = [](BIO* b) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(b, &data);
    return std::string(data, static_cast<size_t>(n));
  };
  std::string key_pem = contents(key_bio.get());
  // The key is written first: a crash in between leaves a key without a certificate, which
  // EdgeState::ensureIdentity() treats as "no identity" and replaces.
  auto written = base::writeFileAtomic(key_path, key_pem, 0600);
  OPENSSL_cleanse(key_pem.data(), key_pem.size());
  RETURN_IF_ERROR(written);
  return base::writeFileAtomic(cert_path, contents(cert_bio.get()), 0644);
}

base::Result<std::string> publicKeyPin(const std::string& cert_path) {
  ASSIGN_OR_RETURN(std::string pem, base::readFile(cert_path, 1 << 20));
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return sslError("BIO_new_mem_buf");
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return sslError("read certificate " + cert_path);
  std::string pin = pinOf(cert.get());
  if (pin.empty()) return sslError("public key of " + cert_path);
  return pin;
}

base::Result<SslCtxPtr> makeEdgeTunnelContext(const std::string& cert_path,
                                              const std::string& key_path) {
  ASSIGN_OR_RETURN(SslCtxPtr ctx, newContext(TLS_server_method(), TLS1_3_VERSION, TLS1_3_VERSION));
  RETURN_IF_ERROR(loadCertAndKey(ctx.get(), cert_path, key_path));
  SSL_CTX_set_alpn_select_cb(ctx.get(), selectBurrowAlpn, nullptr);
  SSL_CTX_set_client_hello_cb(ctx.get(), requireAlpnHello, nullptr);
  // Connectors never resume sessions (each connection re-checks the pin), so tickets would
  // be bytes sent for nothing.
  SSL_CTX_set_num_tickets(ctx.get(), 0);
  return ctx;
}

base::Result<SslCtxPtr> makeConnectorContext(const std::string& pin_hex, std::string_view alpn) {
  const std::string pin = base::toLower(pin_hex);
  auto bytes = base::hexDecode(pin);
  if (!bytes || bytes->size() != 32) return base::invalid("pin must be 64 hex characters");
  ASSIGN_OR_RETURN(SslCtxPtr ctx, newContext(TLS_client_method(), TLS1_3_VERSION, TLS1_3_VERSION));
  if (alpn.empty() || alpn.size() > 255) return base::invalid("bad ALPN protocol id");
  const std::string wire = static_cast<char>(alpn.size()) + std::string(alpn);
  if (SSL_CTX_set_alpn_protos(ctx.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                              static_cast<unsigned>(wire.size())) != 0)
    return sslError("set ALPN");
  auto* owned = new std::string(pin);
  if (SSL_CTX_set_ex_data(ctx.get(), pinIndex(), owned) != 1) {
    delete owned;
    return sslError("store pin");
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_cert_verify_callback(ctx.get(), verifyPin, owned);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  return ctx;
}

bool pinMismatch(const void* ssl) {
  if (ssl == nullptr) return false;
  return SSL_get_ex_data(static_cast<const SSL*>(ssl), mismatchIndex()) != nullptr;
}

base::Result<SslCtxPtr> makeEdgeHttpsContext(const std::string& cert_path,
                                             const std::string& key_path) {
  ASSIGN_OR_RETURN(SslCtxPtr ctx, newContext(TLS_server_method(), TLS1_2_VERSION, 0));
  // TLS 1.2 suites limited to ECDHE with AEAD: what HTTP/2 requires (RFC 7540 9.2.2) and
  // what every current browser offers. TLS 1.3 suites keep OpenSSL's defaults.
  if (SSL_CTX_set_cipher_list(ctx.get(), "ECDHE+AESGCM:ECDHE+CHACHA20") != 1)
    return sslError("set TLS 1.2 ciphers");
  SSL_CTX_set_options(ctx.get(), SSL_OP_CIPHER_SERVER_PREFERENCE);
  RETURN_IF_ERROR(loadCertAndKey(ctx.get(), cert_path, key_path));
  SSL_CTX_set_alpn_select_cb(ctx.get(), selectHttpsAlpn, nullptr);
  return ctx;
}

base::Result<std::string> tlsRoundTrip(SSL_CTX* ctx, const std::string& host,
                                       const std::string& port, bool check_name,
                                       std::string_view request, size_t max_reply) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return base::invalid("resolve {}: {}", host, gai_strerror(rc));
  base::UniqueFd fd;
  std::string last = "no address";
  for (addrinfo* a = res; a; a = a->ai_next) {
    base::UniqueFd s(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    if (!s.valid()) continue;
    timeval tv{15, 0};
    ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));  // see socket(7): connect too
    if (base::retryEintr([&] { return ::connect(s.get(), a->ai_addr, a->ai_addrlen); }) == 0) {
      fd = std::move(s);
      break;
    }
    last = std::strerror(errno);
  }
  ::freeaddrinfo(res);
  if (!fd.valid()) return base::invalid("connect {}:{}: {}", host, port, last);

  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx), SSL_free);
  if (!ssl) return base::invalid("TLS: {}", sslErrors());
  SSL_set_fd(ssl.get(), fd.get());
  if (check_name) {
    // No SNI for an address literal (RFC 6066 section 3); SSL_set1_host checks either.
    in6_addr any{};
    if (::inet_pton(AF_INET, host.c_str(), &any) != 1 &&
        ::inet_pton(AF_INET6, host.c_str(), &any) != 1)
      SSL_set_tlsext_host_name(ssl.get(), host.c_str());
    SSL_set1_host(ssl.get(), host.c_str());
  }
  if (SSL_connect(ssl.get()) != 1) {
    if (pinMismatch(ssl.get()))
      return base::invalid("TLS to {}:{}: the edge's key does not match the pin in the token", host,
                           port);
    long v = SSL_get_verify_result(ssl.get());
    if (v != X509_V_OK)
      return base::invalid("TLS to {}: certificate not trusted: {}", host,
                           X509_verify_cert_error_string(v));
    return base::invalid("TLS to {}:{}: {}", host, port, sslErrors());
  }
  if (SSL_write(ssl.get(), request.data(), static_cast<int>(request.size())) <= 0)
    return base::invalid("send to {}: {}", host, sslErrors());
  std::string raw;
  char buf[16384];
  for (;;) {
    int n = SSL_read(ssl.get(), buf, sizeof(buf));
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
    if (raw.size() > max_reply) return base::invalid("reply from {} too large", host);
  }
  ERR_clear_error();
  return raw;
}

const char* tlsLibrary() { return OpenSSL_version(OPENSSL_VERSION); }

}  // namespace tunnel
