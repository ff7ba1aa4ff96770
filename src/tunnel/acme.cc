#include "tunnel/acme.h"

#include <dirent.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>

#include "base/base.h"
#include "base/log.h"
#include "tunnel/tls.h"

namespace tunnel {
namespace {

using nlohmann::json;

std::string opensslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

base::Unexpected sslFail(std::string_view what) {
  return base::invalid("{}: {}", what, opensslErrors());
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

std::string bioString(BIO* b) {
  char* p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  return std::string(p, n > 0 ? static_cast<size_t>(n) : 0);
}

// The 32-byte big-endian form of a P-256 coordinate.
base::Result<std::string> coordinate(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) return sslFail("read EC public key");
  std::string out(32, '\0');
  int ok = BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), 32);
  BN_free(bn);
  if (ok != 32) return base::invalid("EC coordinate does not fit 32 bytes");
  return out;
}

base::Result<json> parseObject(std::string_view text, std::string_view what) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return base::invalid("{}: not a JSON object", what);
  return j;
}

// A string member; "" when absent, an error when of another type.
base::Result<std::string> str(const json& j, const char* key, std::string_view what) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::string();
  if (!it->is_string()) return base::invalid("{}: \"{}\" is not a string", what, key);
  return it->get<std::string>();
}

base::Result<std::string> requiredStr(const json& j, const char* key, std::string_view what) {
  ASSIGN_OR_RETURN(std::string s, str(j, key, what));
  if (s.empty()) return base::invalid("{}: \"{}\" is missing", what, key);
  return s;
}

int64_t asn1Unix(const ASN1_TIME* t) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

constexpr std::string_view kWildcardStem = "_wildcard.";

// The file name stem of NAME in the store: "*.zone" -> "_wildcard.zone".
std::string fileStem(std::string_view name) {
  if (name.starts_with("*.")) return std::string(kWildcardStem) + std::string(name.substr(2));
  return std::string(name);
}

bool safeName(std::string_view name) {
  if (name.empty() || name.size() > 253 || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

}  // namespace

void EvpKeyDeleter::operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }

std::string base64Url(std::string_view data) {
  std::string s = base::base64Encode(data);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return s;
}

base::Result<EvpKeyPtr> generateP256Key() {
  EVP_PKEY* k = EVP_EC_gen("P-256");
  if (!k) return sslFail("generate P-256 key");
  return EvpKeyPtr(k);
}

base::Result<std::string> keyToPem(EVP_PKEY* key) {
  BioPtr b(BIO_new(BIO_s_mem()));
  if (!b || PEM_write_bio_PrivateKey(b.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return sslFail("write private key");
  return bioString(b.get());
}

base::Result<EvpKeyPtr> keyFromPem(std::string_view pem) {
  BioPtr b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EvpKeyPtr k(b ? PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!k) return sslFail("read private key");
  char group[64] = {};
  size_t len = 0;
  if (EVP_PKEY_get_base_id(k.get()) != EVP_PKEY_EC ||
      EVP_PKEY_get_utf8_string_param(k.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                     &len) != 1 ||
      std::string_view(group) != "prime256v1")
    return base::invalid("private key is not an ECDSA P-256 key");
  return k;
}

base::Result<std::string> publicJwk(EVP_PKEY* key) {
  ASSIGN_OR_RETURN(std::string x, coordinate(key, OSSL_PKEY_PARAM_EC_PUB_X));
  ASSIGN_OR_RETURN(std::string y, coordinate(key, OSSL_PKEY_PARAM_EC_PUB_Y));
  return fmt::format(R"({{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}})", base64Url(x),
                     base64Url(y));
}

base::Result<std::string> jwkThumbprint(EVP_PKEY* key) {
  ASSIGN_OR_RETURN(std::string jwk, publicJwk(key));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(jwk.data(), jwk.size(), md, &n, EVP_sha256(), nullptr) != 1)
    return sslFail("SHA-256");
  return base64Url(std::string_view(reinterpret_cast<char*>(md), n));
}

base::Result<std::string> signJws(EVP_PKEY* key, std::string_view kid, std::string_view nonce,
                                  std::string_view url, std::string_view payload) {
  json header = {{"alg", "ES256"}, {"nonce", std::string(nonce)}, {"url", std::string(url)}};
  if (!kid.empty()) {
    header["kid"] = std::string(kid);
  } else {
    ASSIGN_OR_RETURN(std::string jwk, publicJwk(key));
    header["jwk"] = json::parse(jwk);
  }
  std::string protected64 = base64Url(header.dump());
  std::string payload64 = base64Url(payload);
  std::string input = protected64 + "." + payload64;

  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  size_t der_len = 0;
  if (!md || EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(md.get(), nullptr, &der_len, nullptr, 0) != 1)
    return sslFail("ES256 sign");
  std::string der(der_len, '\0');
  if (EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(der.data()), &der_len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
    return sslFail("ES256 sign");
  // JWS wants r || s, 32 bytes each, not the DER ECDSA-Sig-Value OpenSSL makes.
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)), ECDSA_SIG_free);
  if (!sig) return sslFail("decode ECDSA signature");
  std::string raw(64, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, 32) != 32 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + 32, 32) != 32)
    return base::invalid("ECDSA signature does not fit 64 bytes");
  json jws = {{"protected", protected64}, {"payload", payload64}, {"signature", base64Url(raw)}};
  return jws.dump();
}

std::string dns01Value(std::string_view key_authorization) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(key_authorization.data(), key_authorization.size(), md, &n, EVP_sha256(), nullptr);
  return base64Url(std::string_view(reinterpret_cast<char*>(md), n));
}

std::string dns01Name(std::string_view identifier) {
  return "_acme-challenge." + std::string(identifier);
}

bool alpnOffers(std::string_view ext, std::string_view protocol) {
  if (ext.size() < 2) return false;
  const size_t list =
      (static_cast<unsigned char>(ext[0]) << 8) | static_cast<unsigned char>(ext[1]);
  if (list != ext.size() - 2) return false;
  bool found = false;
  for (size_t i = 2; i < ext.size();) {
    const size_t n = static_cast<unsigned char>(ext[i]);
    if (n == 0 || n > ext.size() - i - 1) return false;
    if (ext.substr(i + 1, n) == protocol) found = true;
    i += 1 + n;
  }
  return found;
}

namespace {
int selectAcmeTlsAlpn(SSL*, const unsigned char** out, unsigned char* outlen,
                      const unsigned char* in, unsigned int inlen, void*) {
  // OpenSSL has checked the list's form by now; the walk stays bounded anyway.
  constexpr std::string_view want = kAcmeTlsAlpn;
  for (unsigned int i = 0; i < inlen;) {
    const unsigned int n = in[i];
    if (n == 0 || i + 1 + n > inlen) break;
    if (std::string_view(reinterpret_cast<const char*>(in + i + 1), n) == want) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(n);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + n;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}
}  // namespace

base::Result<std::shared_ptr<SSL_CTX>> makeTlsAlpn01Context(std::string_view hostname,
                                                            std::string_view key_authorization) {
  ASSIGN_OR_RETURN(EvpKeyPtr key, generateP256Key());
  X509Ptr x(X509_new());
  if (!x) return sslFail("TLS-ALPN-01 certificate");
  std::string host(hostname);
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), static_cast<long>(std::time(nullptr)));
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 7 * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(x.get());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(host.c_str()), -1, -1,
                                 0) != 1 ||
      X509_set_issuer_name(x.get(), name) != 1 || X509_set_pubkey(x.get(), key.get()) != 1)
    return sslFail("TLS-ALPN-01 certificate name");
  std::string san = "DNS:" + host;
  X509_EXTENSION* san_ext =
      X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
  if (!san_ext) return sslFail("TLS-ALPN-01 subjectAltName");
  const int added = X509_add_ext(x.get(), san_ext, -1);
  X509_EXTENSION_free(san_ext);
  if (added != 1) return sslFail("TLS-ALPN-01 subjectAltName");
  // id-pe-acmeIdentifier: its extnValue is the DER of an OCTET STRING of the 32-byte digest.
  unsigned char md[32];
  unsigned int md_len = 0;
  EVP_Digest(key_authorization.data(), key_authorization.size(), md, &md_len, EVP_sha256(),
             nullptr);
  unsigned char der[2 + sizeof(md)] = {0x04, 0x20};
  std::memcpy(der + 2, md, sizeof(md));
  std::unique_ptr<ASN1_OBJECT, decltype(&ASN1_OBJECT_free)> oid(
      OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1), ASN1_OBJECT_free);
  std::unique_ptr<ASN1_OCTET_STRING, decltype(&ASN1_OCTET_STRING_free)> value(
      ASN1_OCTET_STRING_new(), ASN1_OCTET_STRING_free);
  if (!oid || !value || ASN1_OCTET_STRING_set(value.get(), der, sizeof(der)) != 1)
    return sslFail("TLS-ALPN-01 acmeIdentifier");
  X509_EXTENSION* id_ext = X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), 1, value.get());
  if (!id_ext) return sslFail("TLS-ALPN-01 acmeIdentifier");
  const int id_added = X509_add_ext(x.get(), id_ext, -1);
  X509_EXTENSION_free(id_ext);
  if (id_added != 1 || X509_sign(x.get(), key.get(), EVP_sha256()) <= 0)
    return sslFail("sign the TLS-ALPN-01 certificate");
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx || SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1 ||
      SSL_CTX_use_certificate(ctx.get(), x.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1)
    return sslFail("TLS-ALPN-01 context");
  SSL_CTX_set_alpn_select_cb(ctx.get(), selectAcmeTlsAlpn, nullptr);
  return ctx;
}

base::Result<std::string> makeCsr(EVP_PKEY* key, std::string_view hostname) {
  std::unique_ptr<X509_REQ, decltype(&X509_REQ_free)> req(X509_REQ_new(), X509_REQ_free);
  if (!req) return sslFail("CSR");
  std::string host(hostname);
  X509_NAME* subject = X509_REQ_get_subject_name(req.get());
  if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(host.c_str()), -1, -1,
                                 0) != 1)
    return sslFail("CSR subject");
  std::unique_ptr<STACK_OF(X509_EXTENSION), void (*)(STACK_OF(X509_EXTENSION)*)> exts(
      sk_X509_EXTENSION_new_null(),
      [](STACK_OF(X509_EXTENSION) * s) { sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free); });
  std::string san = "DNS:" + host;
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
  if (!ext) return sslFail("CSR subjectAltName");
  sk_X509_EXTENSION_push(exts.get(), ext);
  if (X509_REQ_add_extensions(req.get(), exts.get()) != 1 ||
      X509_REQ_set_pubkey(req.get(), key) != 1 || X509_REQ_sign(req.get(), key, EVP_sha256()) <= 0)
    return sslFail("sign CSR");
  int n = i2d_X509_REQ(req.get(), nullptr);
  if (n <= 0) return sslFail("encode CSR");
  std::string der(static_cast<size_t>(n), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_X509_REQ(req.get(), &p);
  return der;
}

base::Result<AcmeDirectory> parseAcmeDirectory(std::string_view text) {
  constexpr std::string_view what = "ACME directory";
  ASSIGN_OR_RETURN(json j, parseObject(text, what));
  AcmeDirectory d;
  ASSIGN_OR_RETURN(d.new_nonce, requiredStr(j, "newNonce", what));
  ASSIGN_OR_RETURN(d.new_account, requiredStr(j, "newAccount", what));
  ASSIGN_OR_RETURN(d.new_order, requiredStr(j, "newOrder", what));
  return d;
}

base::Result<AcmeOrder> parseAcmeOrder(std::string_view text) {
  constexpr std::string_view what = "ACME order";
  ASSIGN_OR_RETURN(json j, parseObject(text, what));
  AcmeOrder o;
  ASSIGN_OR_RETURN(o.status, requiredStr(j, "status", what));
  ASSIGN_OR_RETURN(o.finalize, requiredStr(j, "finalize", what));
  ASSIGN_OR_RETURN(o.certificate, str(j, "certificate", what));
  auto it = j.find("authorizations");
  if (it == j.end() || !it->is_array()) return base::invalid("{}: no authorizations", what);
  for (const auto& a : *it) {
    if (!a.is_string()) return base::invalid("{}: an authorization is not a string", what);
    o.authorizations.push_back(a.get<std::string>());
  }
  return o;
}

base::Result<AcmeAuthorization> parseAcmeAuthorization(std::string_view text) {
  constexpr std::string_view what = "ACME authorization";
  ASSIGN_OR_RETURN(json j, parseObject(text, what));
  AcmeAuthorization a;
  ASSIGN_OR_RETURN(a.status, requiredStr(j, "status", what));
  auto id = j.find("identifier");
  if (id == j.end() || !id->is_object()) return base::invalid("{}: no identifier", what);
  ASSIGN_OR_RETURN(a.identifier, requiredStr(*id, "value", what));
  auto ch = j.find("challenges");
  if (ch == j.end() || !ch->is_array()) return base::invalid("{}: no challenges", what);
  for (const auto& c : *ch) {
    if (!c.is_object()) return base::invalid("{}: a challenge is not an object", what);
    AcmeChallenge out;
    ASSIGN_OR_RETURN(out.type, requiredStr(c, "type", what));
    ASSIGN_OR_RETURN(out.url, requiredStr(c, "url", what));
    ASSIGN_OR_RETURN(out.token, str(c, "token", what));
    ASSIGN_OR_RETURN(out.status, str(c, "status", what));
    if (auto e = c.find("error"); e != c.end() && e->is_object()) {
      ASSIGN_OR_RETURN(out.error, str(*e, "detail", what));
      if (out.error.empty()) {
        ASSIGN_OR_RETURN(out.error, str(*e, "type", what));
      }
    }
    a.challenges.push_back(std::move(out));
  }
  return a;
}

base::Result<AcmeProblem> parseAcmeProblem(std::string_view text) {
  constexpr std::string_view what = "ACME problem";
  ASSIGN_OR_RETURN(json j, parseObject(text, what));
  AcmeProblem p;
  ASSIGN_OR_RETURN(p.type, str(j, "type", what));
  ASSIGN_OR_RETURN(p.detail, str(j, "detail", what));
  if (p.type.empty() && p.detail.empty()) return base::invalid("{}: no type or detail", what);
  return p;
}

bool validAcmeToken(std::string_view token) {
  if (token.empty() || token.size() > 256) return false;
  return std::all_of(token.begin(), token.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

std::string HttpReply::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return "";
}

base::Result<HttpReply> parseHttpReply(std::string_view raw, bool head_only) {
  size_t end = raw.find("\r\n\r\n");
  if (end == std::string_view::npos) return base::invalid("HTTP reply: no end of head");
  std::string_view head = raw.substr(0, end);
  std::string_view rest = raw.substr(end + 4);
  HttpReply r;
  size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12 || status_line[8] != ' ')
    return base::invalid("HTTP reply: bad status line");
  for (size_t i = 9; i < 12; ++i) {
    char c = status_line[i];
    if (c < '0' || c > '9') return base::invalid("HTTP reply: bad status code");
    r.status = r.status * 10 + (c - '0');
  }
  if (r.status < 100) return base::invalid("HTTP reply: bad status code");
  std::string_view lines = eol == std::string_view::npos ? "" : head.substr(eol + 2);
  while (!lines.empty()) {
    size_t n = lines.find("\r\n");
    std::string_view line = lines.substr(0, n);
    lines = n == std::string_view::npos ? "" : lines.substr(n + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return base::invalid("HTTP reply: bad header line");
    r.headers.emplace_back(base::toLower(line.substr(0, colon)),
                           std::string(base::trim(line.substr(colon + 1))));
  }
  if (head_only) return r;
  if (base::toLower(r.header("transfer-encoding")) == "chunked") {
    for (;;) {
      size_t n = rest.find("\r\n");
      if (n == std::string_view::npos) return base::invalid("HTTP reply: truncated chunk");
      size_t size = 0;
      std::string_view hex = rest.substr(0, std::min(n, rest.find(';')));
      if (hex.empty() || hex.size() > 8) return base::invalid("HTTP reply: bad chunk size");
      for (char c : hex) {
        int d = (c >= '0' && c <= '9')   ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : -1;
        if (d < 0) return base::invalid("HTTP reply: bad chunk size");
        size = size * 16 + static_cast<size_t>(d);
      }
      rest = rest.substr(n + 2);
      if (size == 0) break;
      if (rest.size() < size + 2) return base::invalid("HTTP reply: truncated chunk");
      r.body.append(rest.substr(0, size));
      rest = rest.substr(size + 2);
    }
  } else if (std::string cl = r.header("content-length"); !cl.empty()) {
    size_t size = 0;
    if (cl.size() > 9) return base::invalid("HTTP reply: bad Content-Length");
    for (char c : cl) {
      if (c < '0' || c > '9') return base::invalid("HTTP reply: bad Content-Length");
      size = size * 10 + static_cast<size_t>(c - '0');
    }
    if (rest.size() < size) return base::invalid("HTTP reply: truncated body");
    r.body = std::string(rest.substr(0, size));
  } else {
    r.body = std::string(rest);
  }
  return r;
}

base::Result<CertSummary> summarizeCert(std::string_view pem) {
  BioPtr b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr x(b ? PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!x) return sslFail("read certificate");
  CertSummary s;
  s.not_before = asn1Unix(X509_get0_notBefore(x.get()));
  s.not_after = asn1Unix(X509_get0_notAfter(x.get()));
  X509_NAME* issuer = X509_get_issuer_name(x.get());
  char cn[256] = {};
  if (X509_NAME_get_text_by_NID(issuer, NID_commonName, cn, sizeof(cn)) > 0) {
    s.issuer = cn;
  } else {
    BioPtr nb(BIO_new(BIO_s_mem()));
    X509_NAME_print_ex(nb.get(), issuer, 0, XN_FLAG_ONELINE);
    s.issuer = bioString(nb.get());
  }
  auto* sans = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(x.get(), NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
      if (g->type != GEN_DNS) continue;
      const ASN1_IA5STRING* d = g->d.dNSName;
      s.names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(d)),
                           static_cast<size_t>(ASN1_STRING_length(d)));
    }
    GENERAL_NAMES_free(sans);
  }
  return s;
}

std::string acmeDir(const std::string& state_dir) { return state_dir + "/acme"; }
std::string acmeCertPath(const std::string& state_dir, std::string_view name) {
  return fmt::format("{}/acme/certs/{}.crt", state_dir, fileStem(name));
}
std::string acmeKeyPath(const std::string& state_dir, std::string_view name) {
  return fmt::format("{}/acme/certs/{}.key", state_dir, fileStem(name));
}
std::string acmeErrorPath(const std::string& state_dir, std::string_view name) {
  return fmt::format("{}/acme/certs/{}.error", state_dir, fileStem(name));
}
std::string acmeRetryPath(const std::string& state_dir, std::string_view name) {
  return fmt::format("{}/acme/certs/{}.retry", state_dir, fileStem(name));
}

base::Result<std::vector<CertStatus>> listCertificates(const std::string& state_dir) {
  std::string dir = acmeDir(state_dir) + "/certs";
  std::set<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string_view f = e->d_name;
      for (std::string_view ext : {".crt", ".error"}) {
        if (!f.ends_with(ext)) continue;
        std::string_view stem = f.substr(0, f.size() - ext.size());
        if (stem.starts_with(kWildcardStem) && safeName(stem.substr(kWildcardStem.size())))
          names.emplace("*." + std::string(stem.substr(kWildcardStem.size())));
        else if (safeName(stem))
          names.emplace(stem);
      }
    }
    ::closedir(d);
  } else if (errno != ENOENT) {
    return base::sysError("opendir({})", dir);
  }
  std::vector<CertStatus> out;
  for (const auto& n : names) {
    CertStatus s{n, std::nullopt, ""};
    if (auto pem = base::readFile(acmeCertPath(state_dir, n))) {
      if (auto sum = summarizeCert(*pem)) s.cert = *sum;
    }
    if (auto err = base::readFile(acmeErrorPath(state_dir, n), 4096))
      s.last_error = std::string(base::trim(*err));
    out.push_back(std::move(s));
  }
  return out;
}

void AcmeTokens::put(const std::string& token, const std::string& key_authorization) {
  std::lock_guard lock(mu_);
  tokens_[token] = key_authorization;
}
void AcmeTokens::erase(const std::string& token) {
  std::lock_guard lock(mu_);
  tokens_.erase(token);
}
std::optional<std::string> AcmeTokens::find(std::string_view token) const {
  std::lock_guard lock(mu_);
  auto it = tokens_.find(token);
  if (it == tokens_.end()) return std::nullopt;
  return it->second;
}

namespace {
// Marks, on the SSL, a hello that offers acme-tls/1: the client hello callback is the one
// place its ALPN list can be read before the servername callback picks the certificate.
int acmeTlsIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int noteAcmeTlsHello(SSL* ssl, int* /*alert*/, void*) {
  const unsigned char* ext = nullptr;
  size_t len = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &ext,
                                &len) == 1 &&
      alpnOffers(std::string_view(reinterpret_cast<const char*>(ext), len), kAcmeTlsAlpn))
    SSL_set_ex_data(ssl, acmeTlsIndex(), reinterpret_cast<void*>(1));
  return SSL_CLIENT_HELLO_SUCCESS;
}

int selectBySni(SSL* ssl, int* /*alert*/, void* arg) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name) return SSL_TLSEXT_ERR_OK;
  auto* selector = static_cast<CertSelector*>(arg);
  const std::string host = base::toLower(name);
  std::shared_ptr<SSL_CTX> ctx;
  if (SSL_get_ex_data(ssl, acmeTlsIndex()) != nullptr) ctx = selector->findChallenge(host);
  if (!ctx) ctx = selector->find(host);
  if (ctx) SSL_set_SSL_CTX(ssl, ctx.get());  // takes its own reference
  return SSL_TLSEXT_ERR_OK;
}
}  // namespace

void CertSelector::attach(SSL_CTX* base) {
  SSL_CTX_set_client_hello_cb(base, noteAcmeTlsHello, nullptr);
  SSL_CTX_set_tlsext_servername_callback(base, selectBySni);
  SSL_CTX_set_tlsext_servername_arg(base, this);
}
void CertSelector::installChallenge(const std::string& name, std::shared_ptr<SSL_CTX> ctx) {
  std::lock_guard lock(mu_);
  challenges_[name] = std::move(ctx);
}
void CertSelector::removeChallenge(const std::string& name) {
  std::lock_guard lock(mu_);
  challenges_.erase(name);
}
std::shared_ptr<SSL_CTX> CertSelector::findChallenge(std::string_view name) const {
  std::lock_guard lock(mu_);
  auto it = challenges_.find(name);
  return it == challenges_.end() ? nullptr : it->second;
}
void CertSelector::install(const std::string& name, std::shared_ptr<SSL_CTX> ctx) {
  std::lock_guard lock(mu_);
  ctxs_[name] = std::move(ctx);
}
std::shared_ptr<SSL_CTX> CertSelector::find(std::string_view name) const {
  std::lock_guard lock(mu_);
  auto it = ctxs_.find(name);
  if (it != ctxs_.end()) return it->second;
  // "*.rest" covers "first.rest": one label, never the bare "rest" (RFC 6125 section 6.4.3).
  size_t dot = name.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == name.size()) return nullptr;
  it = ctxs_.find("*" + std::string(name.substr(dot)));
  return it == ctxs_.end() ? nullptr : it->second;
}

void loadStoredCertificates(const std::string& state_dir, CertSelector& selector) {
  auto list = listCertificates(state_dir);
  if (!list) {
    LOG_WARN("acme cannot list stored certificates error={}", list.error().message());
    return;
  }
  for (const auto& s : *list) {
    if (!s.cert) continue;
    auto ctx =
        makeEdgeHttpsContext(acmeCertPath(state_dir, s.name), acmeKeyPath(state_dir, s.name));
    if (!ctx) {
      LOG_WARN("acme stored certificate unusable host={} error={}", s.name, ctx.error().message());
      continue;
    }
    selector.install(s.name, std::shared_ptr<SSL_CTX>(ctx->release(), SSL_CTX_free));
    LOG_INFO("acme certificate loaded host={} issuer=\"{}\" not_after={}", s.name, s.cert->issuer,
             s.cert->not_after);
  }
}

}  // namespace tunnel
