// The portal's decisions (internal.h): access control, cookies, sessions, regulation.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <re2/re2.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "auth/internal.h"
#include "base/base.h"

namespace auth {
namespace {

constexpr size_t kIdBytes = 24;   // 192 bits of randomness per session id
constexpr size_t kIdChars = 32;   // their base64url
constexpr size_t kMacChars = 43;  // base64url of 32 bytes, unpadded

std::string base64Url(std::string_view raw) {
  std::string s = base::base64Encode(raw);
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

bool isBase64Url(std::string_view s) {
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::string hmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

bool domainMatches(const std::string& pattern, std::string_view host) {
  if (pattern.starts_with("*.")) {
    const std::string_view suffix = std::string_view(pattern).substr(1);  // ".example.com"
    return host.size() > suffix.size() && host.ends_with(suffix);
  }
  return host == pattern;
}

bool subjectMatches(const std::vector<std::vector<std::string>>& subjects, const Identity& who) {
  for (const auto& all : subjects) {
    bool ok = true;
    for (const std::string& s : all) {
      if (s.starts_with("user:")) {
        ok = ok && who.user == std::string_view(s).substr(5);
      } else {
        const std::string_view g = std::string_view(s).substr(6);
        ok = ok && std::find(who.groups.begin(), who.groups.end(), g) != who.groups.end();
      }
    }
    if (ok) return true;
  }
  return false;
}

}  // namespace

Verdict decide(const config::AutheliaConfig& cfg, const Target& target, const Identity* who,
               Level level) {
  config::AccessPolicy policy = cfg.default_policy;
  bool has_subject = false;
  for (const config::AccessRule& r : cfg.rules) {
    if (std::none_of(r.domains.begin(), r.domains.end(),
                     [&](const std::string& d) { return domainMatches(d, target.url.host); }))
      continue;
    if (!r.resource_res.empty() &&
        std::none_of(r.resource_res.begin(), r.resource_res.end(),
                     [&](const auto& re) { return RE2::PartialMatch(target.url.path, *re); }))
      continue;
    if (!r.methods.empty() &&
        std::find(r.methods.begin(), r.methods.end(), target.method) == r.methods.end())
      continue;
    // Anonymous: a rule with a subject matches, since the user may meet it once logged in.
    if (!r.subjects.empty() && who && !subjectMatches(r.subjects, *who)) continue;
    policy = r.policy;
    has_subject = !r.subjects.empty();
    break;
  }
  switch (policy) {
    case config::AccessPolicy::Bypass:
      return Verdict::Allow;
    case config::AccessPolicy::Deny:
      return level == Level::Anonymous && has_subject ? Verdict::NeedLogin : Verdict::Forbidden;
    case config::AccessPolicy::OneFactor:
      return level >= Level::OneFactor ? Verdict::Allow : Verdict::NeedLogin;
    case config::AccessPolicy::TwoFactor:
      return level >= Level::TwoFactor ? Verdict::Allow : Verdict::NeedLogin;
  }
  return Verdict::Forbidden;
}

const config::SessionCookie* cookieFor(const config::AutheliaConfig& cfg, std::string_view host) {
  const config::SessionCookie* best = nullptr;
  for (const config::SessionCookie& c : cfg.cookies) {
    // The most specific domain wins: auth.example.com over example.com.
    if (config::hostWithinDomain(host, c.domain) &&
        (!best || c.domain.size() > best->domain.size()))
      best = &c;
  }
  return best;
}

bool safeRedirect(const config::AutheliaConfig& cfg, std::string_view url) {
  if (url.size() > 8192) return false;
  auto u = config::parseHttpUrl(url);
  if (!u) return false;
  const config::SessionCookie* c = cookieFor(cfg, u->host);
  if (!c) return false;
  return u->scheme == "https" || !c->secure;
}

std::string signSessionId(std::string_view secret, std::string_view id) {
  return fmt::format("{}.{}", id,
                     base64Url(hmacSha256(secret, fmt::format("burrow-session:{}", id))));
}

std::optional<std::string> verifySessionCookie(std::string_view secret, std::string_view value) {
  if (value.size() != kIdChars + 1 + kMacChars || value[kIdChars] != '.') return std::nullopt;
  const std::string_view id = value.substr(0, kIdChars);
  const std::string_view mac = value.substr(kIdChars + 1);
  if (!isBase64Url(id) || !isBase64Url(mac)) return std::nullopt;
  const std::string want = signSessionId(secret, id);
  if (CRYPTO_memcmp(want.data(), value.data(), value.size()) != 0) return std::nullopt;
  return std::string(id);
}

std::vector<std::string_view> cookieValues(const std::vector<std::string_view>& headers,
                                           std::string_view name) {
  std::vector<std::string_view> out;
  for (std::string_view h : headers) {
    size_t start = 0;
    while (start < h.size()) {
      size_t semi = h.find(';', start);
      if (semi == std::string_view::npos) semi = h.size();
      std::string_view pair = base::trim(h.substr(start, semi - start));
      start = semi + 1;
      const size_t eq = pair.find('=');
      if (eq == std::string_view::npos || base::trim(pair.substr(0, eq)) != name) continue;
      std::string_view v = base::trim(pair.substr(eq + 1));
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      out.push_back(v);
      if (out.size() >= 8) return out;  // enough: a client sending more is not a browser
    }
  }
  return out;
}

std::string setCookie(const config::SessionCookie& cookie, std::string_view value,
                      std::optional<std::chrono::seconds> max_age) {
  std::string s = fmt::format("{}={}; Domain={}; Path=/", cookie.name, value, cookie.domain);
  if (max_age) s += fmt::format("; Max-Age={}", max_age->count());
  s += "; HttpOnly";
  if (cookie.secure) s += "; Secure";
  if (cookie.same_site == "strict") {
    s += "; SameSite=Strict";
  } else if (cookie.same_site == "none") {
    s += "; SameSite=None";
  } else {
    s += "; SameSite=Lax";
  }
  return s;
}

std::string SessionStore::create(Session s) {
  if (sessions_.size() >= kMaxSessions) {
    auto oldest = std::min_element(
        sessions_.begin(), sessions_.end(),
        [](const auto& a, const auto& b) { return a.second.last_active < b.second.last_active; });
    sessions_.erase(oldest);
  }
  std::string id = base64Url(base::randomBytes(kIdBytes));
  sessions_.emplace(id, std::move(s));
  return id;
}

Session* SessionStore::find(std::string_view id, const config::SessionCookie& cookie,
                            Clock::time_point now) {
  auto it = sessions_.find(std::string(id));
  if (it == sessions_.end()) return nullptr;
  Session& s = it->second;
  const auto lifetime = s.remember_me ? cookie.remember_me : cookie.expiration;
  const bool expired =
      now - s.created >= lifetime || (!s.remember_me && now - s.last_active >= cookie.inactivity);
  if (expired || s.domain != cookie.domain) {
    if (expired) sessions_.erase(it);
    return nullptr;
  }
  s.last_active = now;
  return &s;
}

void SessionStore::erase(std::string_view id) { sessions_.erase(std::string(id)); }

bool Regulator::banned(const std::string& user, Clock::time_point now) const {
  if (max_retries_ <= 0) return false;
  auto it = users_.find(user);
  return it != users_.end() && now < it->second.banned_until;
}

void Regulator::failed(const std::string& user, Clock::time_point now) {
  if (max_retries_ <= 0) return;
  if (users_.size() >= kMaxTracked && !users_.count(user)) prune(now);
  if (users_.size() >= kMaxTracked) users_.erase(users_.begin());
  Record& r = users_[user];
  std::erase_if(r.failures, [&](Clock::time_point t) { return now - t >= find_time_; });
  r.failures.push_back(now);
  if (r.failures.size() >= static_cast<size_t>(max_retries_)) {
    r.banned_until = now + ban_time_;
    r.failures.clear();
  }
}

void Regulator::prune(Clock::time_point now) {
  std::erase_if(users_, [&](const auto& kv) {
    const Record& r = kv.second;
    return now >= r.banned_until && (r.failures.empty() || now - r.failures.back() >= find_time_);
  });
}

}  // namespace auth
