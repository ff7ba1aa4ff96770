// The ACME client's I/O: blocking HTTPS requests (one connection per request, 15s socket
// timeouts) made on the issuer's own thread, never on a serving thread.
#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>

#include "base/base.h"
#include "base/log.h"
#include "base/unique_fd.h"
#include "tunnel/acme.h"
#include "tunnel/edge_state.h"
#include "tunnel/runtime.h"
#include "tunnel/tls.h"

namespace tunnel {
namespace {

using Clock = std::chrono::steady_clock;

std::string sslErrs() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "TLS error" : out;
}

struct Url {
  std::string host, port, path;
};

base::Result<Url> parseHttpsUrl(std::string_view url) {
  if (!url.starts_with("https://")) return base::invalid("not an https URL: {}", url);
  std::string_view rest = url.substr(8);
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  Url u;
  u.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
    u.host = std::string(authority.substr(0, colon));
    u.port = std::string(authority.substr(colon + 1));
  } else {
    u.host = std::string(authority);
    u.port = "443";
  }
  if (u.host.starts_with('[') && u.host.ends_with(']'))
    u.host = u.host.substr(1, u.host.size() - 2);
  if (u.host.empty()) return base::invalid("URL without a host: {}", url);
  return u;
}

// One request on a fresh TLS connection; the reply is read to the end (Connection: close).
base::Result<HttpReply> httpsRequest(SSL_CTX* ctx, std::string_view method, std::string_view url,
                                     std::string_view content_type, std::string_view body) {
  ASSIGN_OR_RETURN(Url u, parseHttpsUrl(url));
  std::string req = fmt::format(
      "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: burrow-edge\r\nAccept: */*\r\n"
      "Connection: close\r\n",
      method, u.path, u.port == "443" ? u.host : u.host + ":" + u.port);
  if (!content_type.empty()) req += fmt::format("Content-Type: {}\r\n", content_type);
  if (method == "POST") req += fmt::format("Content-Length: {}\r\n", body.size());
  req += "\r\n";
  req += body;
  ASSIGN_OR_RETURN(std::string raw, tlsRoundTrip(ctx, u.host, u.port, true, req, 4 << 20));
  return parseHttpReply(raw, method == "HEAD");
}

// The account session: directory, nonces, kid. Errors carry the server's problem detail.
class AcmeSession {
 public:
  AcmeSession(const AcmeOptions& o, SSL_CTX* ctx, EVP_PKEY* key) : o_(o), ctx_(ctx), key_(key) {}

  base::Result<void> begin() {
    if (dir_) return {};
    ASSIGN_OR_RETURN(HttpReply r, httpsRequest(ctx_, "GET", o_.directory, "", ""));
    if (r.status != 200)
      return base::invalid("ACME directory {} answered {}", o_.directory, r.status);
    ASSIGN_OR_RETURN(AcmeDirectory d, parseAcmeDirectory(r.body));
    dir_ = d;
    nlohmann::json acct = {{"termsOfServiceAgreed", true}, {"contact", {"mailto:" + o_.email}}};
    ASSIGN_OR_RETURN(HttpReply a, post(dir_->new_account, acct.dump(), /*use_kid=*/false));
    kid_ = a.header("location");
    if (kid_.empty()) {
      dir_.reset();
      return base::invalid("ACME newAccount answered without a Location");
    }
    LOG_INFO("acme account ready directory={} account={}", o_.directory, kid_);
    return {};
  }

  const AcmeDirectory& dir() const { return *dir_; }

  // A signed POST; badNonce is retried with the fresh nonce the error carried.
  base::Result<HttpReply> post(const std::string& url, std::string_view payload,
                               bool use_kid = true) {
    for (int attempt = 0;; ++attempt) {
      if (nonce_.empty()) {
        ASSIGN_OR_RETURN(HttpReply n, httpsRequest(ctx_, "HEAD", dir_->new_nonce, "", ""));
        nonce_ = n.header("replay-nonce");
        if (nonce_.empty()) return base::invalid("ACME newNonce gave no Replay-Nonce");
      }
      ASSIGN_OR_RETURN(std::string jws, signJws(key_, use_kid ? kid_ : "", nonce_, url, payload));
      nonce_.clear();
      ASSIGN_OR_RETURN(HttpReply r, httpsRequest(ctx_, "POST", url, "application/jose+json", jws));
      nonce_ = r.header("replay-nonce");
      if (r.status < 400) return r;
      auto p = parseAcmeProblem(r.body);
      if (p && p->type == "urn:ietf:params:acme:error:badNonce" && attempt < 3) continue;
      if (p) return base::invalid("{} ({})", p->detail, p->type);
      return base::invalid("ACME server answered {} to {}", r.status, url);
    }
  }

 private:
  const AcmeOptions& o_;
  SSL_CTX* ctx_;
  EVP_PKEY* key_;
  std::optional<AcmeDirectory> dir_;
  std::string kid_;
  std::string nonce_;
};

}  // namespace

struct AcmeIssuer::Impl {
  AcmeOptions o;
  std::shared_ptr<AcmeTokens> tokens;
  std::shared_ptr<CertSelector> selector;
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;  // guarded by mu
  SslCtxPtr client_ctx;
  EvpKeyPtr account_key;
  std::unique_ptr<AcmeSession> session;
  struct NameState {
    Clock::time_point next_try{};
    std::unique_ptr<Backoff> backoff;
    bool loaded = false;  // the kept backoff (NAME.retry) was read
  };

  static std::unique_ptr<Backoff> newBackoff(const std::string& host) {
    return std::make_unique<Backoff>(std::chrono::seconds(30), std::chrono::hours(6),
                                     std::hash<std::string>{}(host));
  }

  // A name seen for the first time since start: the backoff an earlier run left, so that an
  // edge restarted (or crash-looping) does not ask again at once for a name that keeps failing
  // (ACME servers limit failed validations: Let's Encrypt 5 per name per hour).
  void loadBackoff(const std::string& host, NameState& ns) {
    ns.loaded = true;
    auto text = base::readFile(acmeRetryPath(o.state_dir, host), 256);
    if (!text) return;
    long long attempts = 0, next_unix = 0;
    if (std::sscanf(text->c_str(), "%lld %lld", &attempts, &next_unix) != 2 || attempts < 1 ||
        attempts > 64)
      return;
    ns.backoff = newBackoff(host);
    for (long long i = 0; i < attempts; ++i) (void)ns.backoff->next();
    const long long wait = next_unix - static_cast<long long>(std::time(nullptr));
    if (wait <= 0) return;
    ns.next_try = Clock::now() + std::chrono::seconds(wait);
    LOG_INFO("acme backoff kept host={} failures={} retry_in_s={}", host, attempts, wait);
  }
  std::map<std::string, NameState> names;
  std::set<std::string> needs_dns01;  // wildcards said to need DNS-01 (no DnsSolver)

  bool stopped() {
    std::lock_guard lock(mu);
    return stopping;
  }
  // Sleeps up to `d`; false when asked to stop.
  bool sleepFor(std::chrono::milliseconds d) {
    std::unique_lock lock(mu);
    return !cv.wait_for(lock, d, [&] { return stopping; });
  }

  base::Result<void> ensureSession() {
    if (!client_ctx) {
      SSL_CTX* c = SSL_CTX_new(TLS_client_method());
      if (!c) return base::invalid("TLS client: {}", sslErrs());
      SslCtxPtr ctx(c);
      SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
      SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
      int ok = o.ca_file.empty() ? SSL_CTX_set_default_verify_paths(c)
                                 : SSL_CTX_load_verify_locations(c, o.ca_file.c_str(), nullptr);
      if (ok != 1) return base::invalid("load ACME CA {}: {}", o.ca_file, sslErrs());
      client_ctx = std::move(ctx);
    }
    if (!account_key) {
      std::string path = acmeDir(o.state_dir) + "/account.key";
      RETURN_IF_ERROR(base::ensureDir(acmeDir(o.state_dir) + "/certs", 0700));
      RETURN_IF_ERROR(base::ensureDir(acmeDir(o.state_dir), 0700));
      struct stat st {};
      if (::stat(path.c_str(), &st) == 0 || errno != ENOENT) {
        // An account key that exists is never replaced, even when it cannot be read.
        ASSIGN_OR_RETURN(std::string pem, base::readFile(path));
        ASSIGN_OR_RETURN(account_key, keyFromPem(pem));
      } else {
        ASSIGN_OR_RETURN(EvpKeyPtr k, generateP256Key());
        ASSIGN_OR_RETURN(std::string out, keyToPem(k.get()));
        RETURN_IF_ERROR(base::writeFileAtomic(path, out, 0600));
        account_key = std::move(k);
      }
    }
    if (!session) session = std::make_unique<AcmeSession>(o, client_ctx.get(), account_key.get());
    return session->begin();
  }

  base::Result<void> issue(const std::string& host) {
    RETURN_IF_ERROR(ensureSession());
    LOG_INFO("acme order host={}", host);
    nlohmann::json req = {{"identifiers", {{{"type", "dns"}, {"value", host}}}}};
    ASSIGN_OR_RETURN(HttpReply r, session->post(session->dir().new_order, req.dump()));
    std::string order_url = r.header("location");
    if (order_url.empty()) return base::invalid("newOrder answered without a Location");
    ASSIGN_OR_RETURN(AcmeOrder order, parseAcmeOrder(r.body));
    ASSIGN_OR_RETURN(std::string thumb, jwkThumbprint(account_key.get()));
    // A wildcard can only be validated by DNS-01 (RFC 8555 section 7.1.3); exact names by
    // HTTP-01 when the edge serves plain HTTP, else by TLS-ALPN-01 (RFC 8737).
    const bool wildcard = host.starts_with("*.");
    const std::string type = wildcard ? "dns-01" : o.http01 ? "http-01" : "tls-alpn-01";
    for (const auto& az_url : order.authorizations) {
      ASSIGN_OR_RETURN(HttpReply ar, session->post(az_url, ""));
      ASSIGN_OR_RETURN(AcmeAuthorization az, parseAcmeAuthorization(ar.body));
      if (az.status == "valid") continue;
      const AcmeChallenge* chosen = nullptr;
      for (const auto& c : az.challenges)
        if (c.type == type) chosen = &c;
      if (!chosen) return base::invalid("the server offers no {} challenge for {}", type, host);
      LOG_INFO("acme challenge host={} type={}", az.identifier, type);
      if (!validAcmeToken(chosen->token)) return base::invalid("bad {} token", type);
      std::string token = chosen->token;
      std::string key_auth = token + "." + thumb;
      // What is published for the challenge is withdrawn however the attempt ends.
      std::function<void()> withdraw;
      struct Withdraw {
        std::function<void()>& fn;
        ~Withdraw() {
          if (fn) fn();
        }
      } withdraw_at_exit{withdraw};
      if (wildcard) {
        // The authorization is for the zone itself (section 7.1.4): the server chose the name
        // the record goes under, so it must be the one ordered.
        if (az.identifier != host.substr(2))
          return base::invalid("authorization for {} in the order for {}", az.identifier, host);
        std::string fqdn = dns01Name(az.identifier);
        std::string value = dns01Value(key_auth);
        if (auto ok = o.dns->present(fqdn, value); !ok)
          return base::invalid("dns-01 record {}: {}", fqdn, ok.error().message());
        withdraw = [this, fqdn, value] {
          if (auto ok = o.dns->cleanup(fqdn, value); !ok)
            LOG_WARN("acme dns-01 record not removed name={} error={}", fqdn, ok.error().message());
        };
      } else if (type == "tls-alpn-01") {
        // The validation server connects to HOST: the challenge answers for the name ordered.
        if (az.identifier != host)
          return base::invalid("authorization for {} in the order for {}", az.identifier, host);
        ASSIGN_OR_RETURN(std::shared_ptr<SSL_CTX> ctx, makeTlsAlpn01Context(host, key_auth));
        selector->installChallenge(host, std::move(ctx));
        withdraw = [this, host] { selector->removeChallenge(host); };
      } else {
        tokens->put(token, key_auth);
        withdraw = [this, token] { tokens->erase(token); };
      }
      RETURN_IF_ERROR(session->post(chosen->url, "{}"));
      // Wait for the server's validation: bounded, about a minute.
      for (int i = 0;; ++i) {
        if (i > 60 || !sleepFor(std::chrono::milliseconds(i < 5 ? 200 : 1000)))
          return base::invalid("validation of {} did not finish", host);
        ASSIGN_OR_RETURN(HttpReply pr, session->post(az_url, ""));
        ASSIGN_OR_RETURN(az, parseAcmeAuthorization(pr.body));
        if (az.status == "valid") break;
        if (az.status != "pending") {
          std::string why = "authorization " + az.status;
          for (const auto& c : az.challenges)
            if (c.type == type && !c.error.empty()) why = c.error;
          return base::invalid("{} challenge failed: {}", type, why);
        }
      }
    }
    ASSIGN_OR_RETURN(EvpKeyPtr cert_key, generateP256Key());
    ASSIGN_OR_RETURN(std::string csr, makeCsr(cert_key.get(), host));
    nlohmann::json fin = {{"csr", base64Url(csr)}};
    ASSIGN_OR_RETURN(HttpReply fr, session->post(order.finalize, fin.dump()));
    ASSIGN_OR_RETURN(order, parseAcmeOrder(fr.body));
    for (int i = 0; order.status != "valid"; ++i) {
      if (order.status == "invalid") return base::invalid("the order for {} became invalid", host);
      if (i > 60 || !sleepFor(std::chrono::milliseconds(i < 5 ? 200 : 1000)))
        return base::invalid("the order for {} was not issued in time", host);
      ASSIGN_OR_RETURN(HttpReply or_, session->post(order_url, ""));
      ASSIGN_OR_RETURN(order, parseAcmeOrder(or_.body));
    }
    if (order.certificate.empty()) return base::invalid("valid order without a certificate URL");
    ASSIGN_OR_RETURN(HttpReply cr, session->post(order.certificate, ""));
    ASSIGN_OR_RETURN(CertSummary sum, summarizeCert(cr.body));
    if (std::find(sum.names.begin(), sum.names.end(), host) == sum.names.end())
      return base::invalid("the issued certificate does not name {}", host);
    ASSIGN_OR_RETURN(std::string key_pem, keyToPem(cert_key.get()));
    // Key first: a certificate on disk always has its key.
    RETURN_IF_ERROR(base::writeFileAtomic(acmeKeyPath(o.state_dir, host), key_pem, 0600));
    RETURN_IF_ERROR(base::writeFileAtomic(acmeCertPath(o.state_dir, host), cr.body, 0600));
    ASSIGN_OR_RETURN(SslCtxPtr ctx, makeEdgeHttpsContext(acmeCertPath(o.state_dir, host),
                                                         acmeKeyPath(o.state_dir, host)));
    selector->install(host, std::shared_ptr<SSL_CTX>(ctx.release(), SSL_CTX_free));
    ::unlink(acmeErrorPath(o.state_dir, host).c_str());
    LOG_INFO("acme certificate issued host={} issuer=\"{}\" not_after={}", host, sum.issuer,
             sum.not_after);
    return {};
  }

  // When the stored certificate of `host` is due: none, unreadable, or past 2/3 of its life.
  bool due(const std::string& host) {
    auto pem = base::readFile(acmeCertPath(o.state_dir, host));
    if (!pem) return true;
    auto sum = summarizeCert(*pem);
    if (!sum) return true;
    int64_t renew_at = sum->not_before + (sum->not_after - sum->not_before) * 2 / 3;
    return std::time(nullptr) >= renew_at;
  }

  void pass() {
    auto state = EdgeState::open(o.state_dir);
    if (!state) return;
    for (const auto& r : state->routes()) {
      if (stopped()) return;
      const std::string& host = r.hostname;
      if (host.starts_with("*.") && !o.dns) {
        // Said once per run: nothing changes until the edge is restarted with DNS-01.
        if (needs_dns01.insert(host).second) {
          std::string why =
              "needs DNS-01: start the edge with --acme-dns-rfc2136 or --acme-dns-hook";
          LOG_WARN("acme certificate failed host={} error={}", host, why);
          if (base::ensureDir(acmeDir(o.state_dir), 0700) &&
              base::ensureDir(acmeDir(o.state_dir) + "/certs", 0700))
            (void)base::writeFileAtomic(acmeErrorPath(o.state_dir, host), why + "\n", 0600);
        }
        continue;
      }
      auto& ns = names[host];
      if (!ns.loaded) loadBackoff(host, ns);
      if (Clock::now() < ns.next_try || !due(host)) continue;
      auto ok = issue(host);
      if (ok) {
        ns.backoff.reset();
        ns.next_try = {};
        ::unlink(acmeRetryPath(o.state_dir, host).c_str());
        continue;
      }
      if (stopped()) return;
      if (!ns.backoff) ns.backoff = newBackoff(host);
      auto wait = ns.backoff->next();
      ns.next_try = Clock::now() + wait;
      (void)base::writeFileAtomic(
          acmeRetryPath(o.state_dir, host),
          fmt::format("{} {}\n", ns.backoff->attempt(),
                      static_cast<long long>(std::time(nullptr)) +
                          std::chrono::duration_cast<std::chrono::seconds>(wait).count()),
          0600);
      LOG_WARN("acme certificate failed host={} retry_in_s={} error={}", host,
               std::chrono::duration_cast<std::chrono::seconds>(wait).count(),
               ok.error().message());
      (void)base::writeFileAtomic(acmeErrorPath(o.state_dir, host), ok.error().message() + "\n",
                                  0600);
      // A broken session (e.g. the account) is made again on the next attempt.
      session.reset();
    }
  }
};

AcmeIssuer::AcmeIssuer(AcmeOptions opts, std::shared_ptr<AcmeTokens> tokens,
                       std::shared_ptr<CertSelector> selector)
    : impl_(std::make_unique<Impl>()) {
  impl_->o = std::move(opts);
  impl_->tokens = std::move(tokens);
  impl_->selector = std::move(selector);
}

AcmeIssuer::~AcmeIssuer() {
  stop();
  if (thread_.joinable()) thread_.join();
}

void AcmeIssuer::start() {
  loadStoredCertificates(impl_->o.state_dir, *impl_->selector);
  thread_ = std::thread([this] { run(); });
}

void AcmeIssuer::stop() {
  if (impl_->o.dns) impl_->o.dns->stop();
  std::lock_guard lock(impl_->mu);
  impl_->stopping = true;
  impl_->cv.notify_all();
}

void AcmeIssuer::run() {
  while (!impl_->stopped()) {
    impl_->pass();
    if (!impl_->sleepFor(std::chrono::seconds(1))) break;
  }
}

}  // namespace tunnel
