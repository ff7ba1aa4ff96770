// Traefik's middlewares, as the connector runs them before the origin: each one reads and
// rewrites the request head, or answers in place of the origin. Meanings follow Traefik v3's
// documentation; where burrow differs, docs/routing.md says so.
#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <re2/re2.h>

#include <algorithm>
#include <cmath>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "base/base.h"
#include "http/http.h"

namespace http {
namespace {

using config::Middleware;
using config::MiddlewareKind;

void removeHeader(std::vector<Header>& headers, std::string_view name) {
  std::erase_if(headers, [&](const Header& h) { return h.name == name; });
}

void setHeader(std::vector<Header>& headers, std::string_view name, std::string value) {
  removeHeader(headers, name);
  headers.push_back({std::string(name), std::move(value)});
}

// The header edits of customRequestHeaders / customResponseHeaders: an empty value removes.
void applySettings(const std::vector<config::HeaderSetting>& settings,
                   std::vector<Header>& headers) {
  for (const auto& s : settings) {
    if (s.value.empty())
      removeHeader(headers, s.name);
    else
      setHeader(headers, s.name, s.value);
  }
}

std::string_view pathOf(std::string_view target) { return target.substr(0, target.find('?')); }

// The host of an authority, without its port; brackets kept for IPv6.
std::string_view hostOf(std::string_view authority) {
  if (authority.starts_with('[')) return authority.substr(0, authority.find(']') + 1);
  return authority.substr(0, authority.find(':'));
}

std::string requestUrl(const RequestHead& req) {
  return fmt::format("{}://{}{}", req.scheme.empty() ? "http" : req.scheme, req.authority,
                     req.target);
}

void answer(MiddlewareResult* r, int status, std::vector<Header> headers = {}) {
  ResponseHead head;
  head.status = status;
  head.headers = std::move(headers);
  head.headers.push_back({"content-type", "text/plain; charset=utf-8"});
  r->body = fmt::format("{} {}\n", status, reasonPhrase(status));
  r->answer = std::move(head);
}

// Traefik's statuses: 301/302 for a GET, 308/307 (which keep the method and body) otherwise.
void redirect(MiddlewareResult* r, const RequestHead& req, bool permanent, std::string location) {
  const bool get = req.method == "GET";
  int status = permanent ? (get ? 301 : 308) : (get ? 302 : 307);
  answer(r, status, {{"location", std::move(location)}});
}

// Go's regexp.Expand template ($1, ${1}, $name, ${name}, $$) as an RE2 rewrite string. A
// group that does not exist expands to nothing, as in Go.
std::string rewriteOf(std::string_view tmpl, const re2::RE2& re) {
  const auto& named = re.NamedCapturingGroups();
  const int groups = re.NumberOfCapturingGroups();
  std::string out;
  auto group = [&](std::string_view name) {
    int n = -1;
    if (!name.empty() && name.find_first_not_of("0123456789") == std::string_view::npos) {
      n = name.size() <= 4 ? std::stoi(std::string(name)) : -1;
    } else if (auto it = named.find(std::string(name)); it != named.end()) {
      n = it->second;
    }
    if (n >= 0 && n <= groups) out += fmt::format("\\{}", n);
  };
  auto word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  for (size_t i = 0; i < tmpl.size(); ++i) {
    char c = tmpl[i];
    if (c == '\\') {
      out += "\\\\";
    } else if (c != '$' || i + 1 == tmpl.size()) {
      out += c;
    } else if (tmpl[i + 1] == '$') {
      out += '$';
      ++i;
    } else if (tmpl[i + 1] == '{') {
      size_t close = tmpl.find('}', i + 2);
      if (close == std::string_view::npos) {
        out += c;  // Go keeps a malformed reference as written
        continue;
      }
      group(tmpl.substr(i + 2, close - i - 2));
      i = close;
    } else {
      size_t end = i + 1;
      while (end < tmpl.size() && word(tmpl[end])) ++end;
      if (end == i + 1) {
        out += c;
        continue;
      }
      group(tmpl.substr(i + 1, end - i - 1));
      i = end - 1;
    }
  }
  return out;
}

class Digest {
 public:
  explicit Digest(const EVP_MD* md) : ctx_(EVP_MD_CTX_new()) {
    CHECK(ctx_ != nullptr && EVP_DigestInit_ex(ctx_, md, nullptr) == 1);
  }
  ~Digest() { EVP_MD_CTX_free(ctx_); }
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;
  void update(std::string_view s) { EVP_DigestUpdate(ctx_, s.data(), s.size()); }
  std::string final() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_, md, &n);
    return std::string(reinterpret_cast<char*>(md), n);
  }

 private:
  EVP_MD_CTX* ctx_;
};

bool constantTimeEqual(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool applyHeadersToRequest(const Middleware& m, RequestHead& req) {
  for (const auto& s : m.headers.request) {
    if (s.name == "host") {
      // Traefik's customRequestHeaders may set Host; burrow keeps it as the authority.
      if (!s.value.empty()) req.authority = s.value;
    } else if (s.value.empty()) {
      removeHeader(req.headers, s.name);
    } else {
      setHeader(req.headers, s.name, s.value);
    }
  }
  return true;
}

bool stripPrefix(const Middleware& m, RequestHead& req) {
  std::string_view path = pathOf(req.target);
  for (const std::string& prefix : m.prefixes) {
    if (!path.starts_with(prefix)) continue;
    std::string rest = req.target.substr(prefix.size());
    if (!rest.starts_with('/')) rest.insert(0, "/");
    req.target = std::move(rest);
    setHeader(req.headers, "x-forwarded-prefix", prefix);
    break;
  }
  return true;
}

bool basicAuth(const Middleware& m, RequestHead& req, MiddlewareResult* r) {
  const std::string* value = req.find("authorization");
  if (value != nullptr) {
    if (auto creds = parseBasicAuthorization(*value)) {
      const auto& users = m.basic.users;
      auto u = std::find_if(users.begin(), users.end(),
                            [&](const config::HtpasswdUser& x) { return x.name == creds->first; });
      if (u != users.end() && verifyPassword(*u, creds->second)) {
        if (m.basic.remove_header) removeHeader(req.headers, "authorization");
        if (!m.basic.header_field.empty()) setHeader(req.headers, m.basic.header_field, u->name);
        return true;
      }
    }
  }
  answer(r, 401, {{"www-authenticate", fmt::format("Basic realm=\"{}\"", m.basic.realm)}});
  return false;
}

RateLimiter& limiterFor(const Middleware& m) {
  // One limiter per middleware and settings, for the whole process: every thread's requests
  // count against the same buckets, and a reload that keeps the middleware keeps them too.
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<RateLimiter>> all;  // guarded by mu
  std::string key =
      fmt::format("{}|{}|{}|{}", m.name, m.rate.average, m.rate.period.count(), m.rate.burst);
  std::lock_guard lock(mu);
  auto& slot = all[key];
  if (!slot) slot = std::make_unique<RateLimiter>(m.rate);
  return *slot;
}

}  // namespace

// ---- Rate limiting ----

struct RateLimiter::Impl {
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Bucket {
    double tokens = 0;
    TimePoint last;
    std::list<std::string>::iterator lru;
  };
  double per_ms = 0;  // tokens added per millisecond; 0: no limit
  double burst = 1;
  size_t max_clients = 0;
  Clock now;
  mutable std::mutex mu;
  std::list<std::string> lru;                     // guarded by mu; most recent first
  std::unordered_map<std::string, Bucket> table;  // guarded by mu
};

RateLimiter::RateLimiter(const config::Middleware::Rate& rate, size_t max_clients, Clock now)
    : impl_(std::make_unique<Impl>()) {
  impl_->per_ms = rate.average == 0
                      ? 0
                      : static_cast<double>(rate.average) /
                            static_cast<double>(std::max<int64_t>(1, rate.period.count()));
  impl_->burst = static_cast<double>(std::max<int64_t>(1, rate.burst));
  impl_->max_clients = std::max<size_t>(1, max_clients);
  impl_->now = now ? std::move(now) : [] { return std::chrono::steady_clock::now(); };
}

RateLimiter::~RateLimiter() = default;

bool RateLimiter::allow(std::string_view client) {
  Impl& im = *impl_;
  if (im.per_ms == 0) return true;
  const auto t = im.now();
  std::lock_guard lock(im.mu);
  auto it = im.table.find(std::string(client));
  if (it == im.table.end()) {
    if (im.table.size() >= im.max_clients) {
      im.table.erase(im.lru.back());
      im.lru.pop_back();
    }
    im.lru.emplace_front(client);
    it = im.table.emplace(std::string(client), Impl::Bucket{im.burst, t, im.lru.begin()}).first;
  } else {
    auto& b = it->second;
    const double elapsed =
        std::chrono::duration<double, std::milli>(std::max(t - b.last, decltype(t - b.last){}))
            .count();
    b.tokens = std::min(im.burst, b.tokens + elapsed * im.per_ms);
    b.last = std::max(b.last, t);
    im.lru.splice(im.lru.begin(), im.lru, b.lru);
  }
  auto& b = it->second;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

size_t RateLimiter::clients() const {
  std::lock_guard lock(impl_->mu);
  return impl_->table.size();
}

// ---- Passwords ----

base::Result<std::pair<std::string, std::string>> parseBasicAuthorization(std::string_view value) {
  while (value.starts_with(' ')) value.remove_prefix(1);
  constexpr std::string_view kScheme = "basic ";
  if (value.size() < kScheme.size() ||
      !std::equal(kScheme.begin(), kScheme.end(), value.begin(), [](char a, char b) {
        return a == (b >= 'A' && b <= 'Z' ? static_cast<char>(b - 'A' + 'a') : b);
      }))
    return base::invalid("not Basic credentials");
  std::string_view token = value.substr(kScheme.size());
  while (token.starts_with(' ')) token.remove_prefix(1);
  while (token.ends_with(' ')) token.remove_suffix(1);
  if (token.empty() || token.size() > 8192) return base::invalid("bad Basic credentials");
  ASSIGN_OR_RETURN(std::string decoded, base::base64Decode(token));
  size_t colon = decoded.find(':');
  if (colon == std::string::npos) return base::invalid("Basic credentials without ':'");
  return std::pair{decoded.substr(0, colon), decoded.substr(colon + 1)};
}

std::string apr1Crypt(std::string_view password, std::string_view salt) {
  constexpr std::string_view kMagic = "$apr1$";
  salt = salt.substr(0, std::min(salt.find('$'), size_t{8}));
  Digest ctx(EVP_md5());
  ctx.update(password);
  ctx.update(kMagic);
  ctx.update(salt);
  Digest alt_ctx(EVP_md5());
  alt_ctx.update(password);
  alt_ctx.update(salt);
  alt_ctx.update(password);
  std::string alt = alt_ctx.final();
  for (size_t left = password.size(); left > 0; left -= std::min<size_t>(left, 16))
    ctx.update(std::string_view(alt).substr(0, std::min<size_t>(left, 16)));
  for (size_t i = password.size(); i != 0; i >>= 1)
    ctx.update((i & 1) ? std::string_view("\0", 1) : password.substr(0, 1));
  std::string fin = ctx.final();
  for (int i = 0; i < 1000; ++i) {
    Digest round(EVP_md5());
    if (i & 1)
      round.update(password);
    else
      round.update(fin);
    if (i % 3) round.update(salt);
    if (i % 7) round.update(password);
    if (i & 1)
      round.update(fin);
    else
      round.update(password);
    fin = round.final();
  }
  static constexpr char kItoa64[] =
      "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string out = fmt::format("{}{}$", kMagic, salt);
  auto to64 = [&](uint32_t v, int n) {
    while (n-- > 0) {
      out += kItoa64[v & 0x3f];
      v >>= 6;
    }
  };
  auto b = [&](int i) { return static_cast<uint32_t>(static_cast<unsigned char>(fin[i])); };
  to64((b(0) << 16) | (b(6) << 8) | b(12), 4);
  to64((b(1) << 16) | (b(7) << 8) | b(13), 4);
  to64((b(2) << 16) | (b(8) << 8) | b(14), 4);
  to64((b(3) << 16) | (b(9) << 8) | b(15), 4);
  to64((b(4) << 16) | (b(10) << 8) | b(5), 4);
  to64(b(11), 2);
  return out;
}

bool verifyPassword(const config::HtpasswdUser& user, std::string_view password) {
  switch (user.kind) {
    case config::HashKind::Bcrypt: {
      // crypt(3) reads C strings: a password with a NUL in it would be cut short.
      if (password.find('\0') != std::string_view::npos) return false;
      auto data = std::make_unique<crypt_data>();
      const char* got = crypt_r(std::string(password).c_str(), user.hash.c_str(), data.get());
      return got != nullptr && got[0] != '*' && constantTimeEqual(got, user.hash);
    }
    case config::HashKind::Apr1: {
      std::string_view salt = std::string_view(user.hash).substr(6);
      return constantTimeEqual(apr1Crypt(password, salt), user.hash);
    }
    case config::HashKind::Sha1: {
      Digest sha(EVP_sha1());
      sha.update(password);
      return constantTimeEqual("{SHA}" + base::base64Encode(sha.final()), user.hash);
    }
  }
  return false;
}

// ---- The chain ----

bool applyMiddleware(const Middleware& m, RequestHead& req, RateLimiter* limiter,
                     MiddlewareResult* result) {
  switch (m.kind) {
    case MiddlewareKind::Headers:
      result->response.push_back(&m);
      return applyHeadersToRequest(m, req);
    case MiddlewareKind::StripPrefix:
      return stripPrefix(m, req);
    case MiddlewareKind::AddPrefix:
      req.target = m.prefix + (req.target.starts_with('/') ? "" : "/") + req.target;
      return true;
    case MiddlewareKind::RedirectScheme: {
      const auto& r = m.redirect;
      const bool default_port = r.port.empty() || (r.scheme == "https" && r.port == "443") ||
                                (r.scheme == "http" && r.port == "80");
      std::string to = fmt::format("{}://{}{}{}{}", r.scheme, hostOf(req.authority),
                                   default_port ? "" : ":", default_port ? "" : r.port, req.target);
      if (to == requestUrl(req)) return true;
      redirect(result, req, r.permanent, std::move(to));
      return false;
    }
    case MiddlewareKind::RedirectRegex: {
      const auto& r = m.redirect;
      std::string url = requestUrl(req);
      if (r.re == nullptr || !re2::RE2::PartialMatch(url, *r.re)) return true;
      std::string to = url;
      re2::RE2::GlobalReplace(&to, *r.re, rewriteOf(r.replacement, *r.re));
      if (to == url) return true;  // a redirect to itself would loop
      redirect(result, req, r.permanent, std::move(to));
      return false;
    }
    case MiddlewareKind::IpAllowList:
      if (config::ipAllowed(m, req.client_ip)) return true;
      answer(result, m.allow.reject_status);
      return false;
    case MiddlewareKind::BasicAuth:
      return basicAuth(m, req, result);
    case MiddlewareKind::Chain:
      return true;  // config expands chains into IngressRule::run
    case MiddlewareKind::RateLimit:
      // No address (an older edge): every such request shares one bucket.
      if (limiter == nullptr || limiter->allow(req.client_ip)) return true;
      answer(result, 429);
      return false;
    case MiddlewareKind::ForwardAuth:
      // Needs an exchange with its server: forwardAuth(). Here it can only refuse.
      answer(result, 500);
      return false;
  }
  return true;
}

bool applyMiddlewares(const config::IngressRule& rule, RequestHead& req, size_t* next,
                      MiddlewareResult* result) {
  for (; *next < rule.run.size(); ++*next) {
    const Middleware& m = *rule.run[*next];
    if (m.kind == MiddlewareKind::ForwardAuth) return true;
    RateLimiter* limiter = m.kind == MiddlewareKind::RateLimit ? &limiterFor(m) : nullptr;
    if (!applyMiddleware(m, req, limiter, result)) return false;
  }
  return true;
}

MiddlewareResult applyMiddlewares(const config::IngressRule& rule, RequestHead& req) {
  MiddlewareResult result;
  size_t next = 0;
  if (applyMiddlewares(rule, req, &next, &result) && next < rule.run.size())
    applyMiddleware(*rule.run[next], req, nullptr, &result);
  return result;
}

void applyResponseHeaders(const MiddlewareResult& r, const RequestHead& req, ResponseHead& head) {
  // The innermost middleware first, so that the first of the list has the last word.
  for (auto it = r.response.rbegin(); it != r.response.rend(); ++it) {
    const auto& h = (*it)->headers;
    auto& out = head.headers;
    if (h.sts_seconds > 0 && (req.scheme == "https" || h.force_sts_header))
      setHeader(out, "strict-transport-security",
                fmt::format("max-age={}{}{}", h.sts_seconds,
                            h.sts_include_subdomains ? "; includeSubDomains" : "",
                            h.sts_preload ? "; preload" : ""));
    if (!h.custom_frame_options_value.empty())
      setHeader(out, "x-frame-options", h.custom_frame_options_value);
    else if (h.frame_deny)
      setHeader(out, "x-frame-options", "DENY");
    if (h.content_type_nosniff) setHeader(out, "x-content-type-options", "nosniff");
    if (h.browser_xss_filter) setHeader(out, "x-xss-protection", "1; mode=block");
    if (!h.content_security_policy.empty())
      setHeader(out, "content-security-policy", h.content_security_policy);
    if (!h.referrer_policy.empty()) setHeader(out, "referrer-policy", h.referrer_policy);
    if (!h.permissions_policy.empty()) setHeader(out, "permissions-policy", h.permissions_policy);
    applySettings(h.response, out);
  }
}

}  // namespace http
