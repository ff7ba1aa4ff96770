// ACME (RFC 8555) for the edge: the pieces without I/O (JWS with ES256 keys, CSRs, the
// server's JSON answers, HTTP/1.1 replies, the certificate store's files) and, in
// acme_client.cc, the blocking client and the background issuer the edge runs on its own
// thread. Values are plain data; AcmeTokens and CertSelector are thread-safe (shared by the
// edge's shards and the issuer's thread); AcmeIssuer owns its thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/result.h"

typedef struct evp_pkey_st EVP_PKEY;
typedef struct ssl_ctx_st SSL_CTX;

namespace tunnel {

// Let's Encrypt's production directory: what --acme-directory defaults to.
inline constexpr char kLetsEncryptDirectory[] = "https://acme-v02.api.letsencrypt.org/directory";

struct EvpKeyDeleter {
  void operator()(EVP_PKEY* k) const;
};
using EvpKeyPtr = std::unique_ptr<EVP_PKEY, EvpKeyDeleter>;

// base64url without padding (RFC 7515 section 2).
std::string base64Url(std::string_view data);

// A fresh ECDSA P-256 key; PEM (PKCS#8) out and in. A key that is not P-256 is refused.
base::Result<EvpKeyPtr> generateP256Key();
base::Result<std::string> keyToPem(EVP_PKEY* key);
base::Result<EvpKeyPtr> keyFromPem(std::string_view pem);

// The public JWK of a P-256 key with its members in lexicographic order (RFC 7638), and its
// thumbprint (base64url SHA-256 of that JSON).
base::Result<std::string> publicJwk(EVP_PKEY* key);
base::Result<std::string> jwkThumbprint(EVP_PKEY* key);

// A flattened JWS (RFC 8555 section 6.2) signed with ES256: the protected header names `kid`
// when not empty, else the key's JWK (newAccount). An empty payload is POST-as-GET.
base::Result<std::string> signJws(EVP_PKEY* key, std::string_view kid, std::string_view nonce,
                                  std::string_view url, std::string_view payload);

// DNS-01 (RFC 8555 section 8.4): the TXT value for a key authorization (base64url of its
// SHA-256), and the name it goes under for IDENTIFIER ("_acme-challenge.IDENTIFIER").
std::string dns01Value(std::string_view key_authorization);
std::string dns01Name(std::string_view identifier);

// TLS-ALPN-01 (RFC 8737): the ALPN protocol a validation server offers, alone.
inline constexpr char kAcmeTlsAlpn[] = "acme-tls/1";
// Whether the body of a ClientHello's ALPN extension (RFC 7301: a 2-byte length, then
// length-prefixed names) offers PROTOCOL. A malformed body offers nothing.
bool alpnOffers(std::string_view extension, std::string_view protocol);
// The handshake context that answers a TLS-ALPN-01 validation of HOSTNAME: a fresh P-256
// key, a self-signed certificate naming HOSTNAME alone with the critical acmeIdentifier
// extension (1.3.6.1.5.5.7.1.31) holding SHA-256(KEY_AUTHORIZATION), ALPN acme-tls/1 only.
base::Result<std::shared_ptr<SSL_CTX>> makeTlsAlpn01Context(std::string_view hostname,
                                                            std::string_view key_authorization);

// DER of a PKCS#10 request for one DNS name (CN and SAN), signed by `key`.
base::Result<std::string> makeCsr(EVP_PKEY* key, std::string_view hostname);

// ---- the server's answers (untrusted: every field is checked) ----

struct AcmeDirectory {
  std::string new_nonce, new_account, new_order;
};
struct AcmeOrder {
  std::string status;  // pending, ready, processing, valid, invalid
  std::vector<std::string> authorizations;
  std::string finalize;
  std::string certificate;  // once valid
};
struct AcmeChallenge {
  std::string type, url, token, status;
  std::string error;  // the problem's detail when the challenge failed
};
struct AcmeAuthorization {
  std::string status;      // pending, valid, invalid, ...
  std::string identifier;  // the DNS name
  std::vector<AcmeChallenge> challenges;
};
// A problem document (RFC 7807); `type` is e.g. "urn:ietf:params:acme:error:badNonce".
struct AcmeProblem {
  std::string type, detail;
};
base::Result<AcmeDirectory> parseAcmeDirectory(std::string_view json);
base::Result<AcmeOrder> parseAcmeOrder(std::string_view json);
base::Result<AcmeAuthorization> parseAcmeAuthorization(std::string_view json);
base::Result<AcmeProblem> parseAcmeProblem(std::string_view json);
// A key authorization token: base64url characters only, 1 to 256 of them.
bool validAcmeToken(std::string_view token);

// An HTTP/1.1 reply read to the end of the connection: status, headers (names lowercase),
// body (Content-Length, chunked, or up to the end). `head_only`: the reply to a HEAD, whose
// body is empty whatever its headers say.
struct HttpReply {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string header(std::string_view name) const;  // "" when absent
};
base::Result<HttpReply> parseHttpReply(std::string_view raw, bool head_only = false);

// What a PEM certificate chain's leaf says.
struct CertSummary {
  std::string issuer;                     // the issuer's CN (or its whole name when it has none)
  int64_t not_before = 0, not_after = 0;  // unix seconds
  std::vector<std::string> names;         // DNS SANs
};
base::Result<CertSummary> summarizeCert(std::string_view pem);

// ---- the store: STATE/acme/account.key, STATE/acme/certs/NAME.{crt,key,error,retry}, all 0600
// ---- A wildcard "*.zone" is stored as "_wildcard.zone" (no '*' in file names; '_' is in no routed
// name).

struct CertStatus {
  std::string name;
  std::optional<CertSummary> cert;  // nullopt: none stored yet
  std::string last_error;           // of the last failed attempt; "" after a success
};
std::string acmeDir(const std::string& state_dir);
std::string acmeCertPath(const std::string& state_dir, std::string_view name);
std::string acmeKeyPath(const std::string& state_dir, std::string_view name);
std::string acmeErrorPath(const std::string& state_dir, std::string_view name);
// The backoff after failures, kept across restarts: "ATTEMPTS NEXT_TRY_UNIX\n" (removed with
// the .error file after a success).
std::string acmeRetryPath(const std::string& state_dir, std::string_view name);
// Every name with a stored certificate or a recorded error, sorted.
base::Result<std::vector<CertStatus>> listCertificates(const std::string& state_dir);

// ---- shared with the serving threads ----

// HTTP-01 tokens being validated -> their key authorizations.
class AcmeTokens {
 public:
  void put(const std::string& token, const std::string& key_authorization);
  void erase(const std::string& token);
  std::optional<std::string> find(std::string_view token) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string, std::less<>> tokens_;  // guarded by mu_
};

// Certificates by host name for the https listener: attach() sets a servername callback on
// the listener's SSL_CTX that switches a handshake to the name's SSL_CTX, else to that of
// "*.rest" for "first.rest" (a wildcard covers one label); names without either keep the
// listener's own (fallback) certificate. While a TLS-ALPN-01 challenge is installed for a
// name, a handshake for it that offers acme-tls/1 gets the challenge's SSL_CTX instead (and
// no other handshake does). install() takes effect for the next handshake. The selector must
// outlive every SSL_CTX it is attached to.
class CertSelector {
 public:
  void attach(SSL_CTX* base);
  void install(const std::string& name, std::shared_ptr<SSL_CTX> ctx);
  std::shared_ptr<SSL_CTX> find(std::string_view name) const;
  void installChallenge(const std::string& name, std::shared_ptr<SSL_CTX> ctx);
  void removeChallenge(const std::string& name);
  std::shared_ptr<SSL_CTX> findChallenge(std::string_view name) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<SSL_CTX>, std::less<>> ctxs_;        // guarded by mu_
  std::map<std::string, std::shared_ptr<SSL_CTX>, std::less<>> challenges_;  // guarded by mu_
};

// Publishes DNS-01 TXT records: the seam between the issuer and a DNS server. Called only on
// the issuer's thread. FQDN is "_acme-challenge.zone" (no trailing dot).
class DnsSolver {
 public:
  virtual ~DnsSolver() = default;
  // Adds the TXT record; returns once the server answers with it.
  virtual base::Result<void> present(const std::string& fqdn, const std::string& value) = 0;
  // Removes that one record (other TXT records of FQDN stay).
  virtual base::Result<void> cleanup(const std::string& fqdn, const std::string& value) = 0;
  // From any thread, when the edge stops: what runs ends soon with an error, as does all
  // that follows.
  virtual void stop() {}
};
// RFC 2136 UPDATEs over TCP to SERVER ("host", "host:port"; port 53 by default), signed with
// the TSIG key in KEY_FILE (tsig-keygen's form). The zone is the owner of the SOA SERVER gives
// for FQDN. The file is read and checked here: an error names the file and what is wrong.
base::Result<std::shared_ptr<DnsSolver>> makeRfc2136Solver(const std::string& server,
                                                           const std::string& key_file);
// Runs COMMAND (an executable, no shell) as `COMMAND present|cleanup FQDN. VALUE`, as lego's
// exec provider does, for at most 2 minutes (or until stop()), then its process group is
// killed; an exit other than 0 is an error carrying the end of its standard error. COMMAND
// must be an executable file.
base::Result<std::shared_ptr<DnsSolver>> makeHookSolver(const std::string& command);

struct AcmeOptions {
  std::string email;
  std::string directory = kLetsEncryptDirectory;
  std::string ca_file;  // trust for the ACME server's TLS; "" = the system's
  std::string state_dir;
  std::shared_ptr<DnsSolver> dns;  // DNS-01 for wildcard routes; null = wildcards get none
  // Exact names: HTTP-01 on the http listener when the edge serves one, else TLS-ALPN-01 on
  // the https listener.
  bool http01 = true;
};

// The background issuer: one thread that, every second, reads the routes in STATE/state.json
// and gets a certificate for each name that has none or whose has passed two thirds of its
// lifetime (HTTP-01 or TLS-ALPN-01 for an exact name, DNS-01 through `dns` for "*.zone"),
// one at a time, with backoff per name after a failure. Issued certificates are stored and
// installed in the selector.
class AcmeIssuer {
 public:
  AcmeIssuer(AcmeOptions opts, std::shared_ptr<AcmeTokens> tokens,
             std::shared_ptr<CertSelector> selector);
  ~AcmeIssuer();  // stop() and join
  // Installs the stored certificates, then starts the thread.
  void start();
  void stop();

 private:
  void run();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
};

// Opens the account key (made on first use) and reads the stored certificates into
// `selector`; names that fail to load are logged and skipped.
void loadStoredCertificates(const std::string& state_dir, CertSelector& selector);

}  // namespace tunnel
