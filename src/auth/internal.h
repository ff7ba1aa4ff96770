// Private to src/auth: the portal's decisions as plain values and functions, with no I/O, so
// that unit tests and fuzz targets reach them directly. Time is always passed in (`now`).
// Nothing here is thread-safe: the portal calls it from its one io_context thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/base.h"
#include "base/result.h"
#include "config/config.h"

namespace auth {

using Clock = std::chrono::steady_clock;

// ---- Passwords (password.cc) ----

// argon2id with Authelia's defaults: m=65536 KiB, t=3, p=4, a 32-byte key, a 16-byte salt.
base::Result<std::string> hashPassword(std::string_view password);
// True when `password` is the one `hash` was made from. Compares in constant time.
bool verifyPassword(const config::PasswordHash& hash, std::string_view password);

// ---- Who is asking, for what ----

// Authelia's authentication levels, as /api/state reports them.
enum class Level {
  Anonymous = 0,  // no session
  OneFactor = 1,  // passed the password
  TwoFactor = 2,  // passed the password and a TOTP code
};

struct Identity {
  std::string user;
  std::string display_name;
  std::string email;
  std::vector<std::string> groups;
};

// The request a proxy asks about.
struct Target {
  std::string method;  // uppercase
  config::HttpUrl url;
};

enum class Verdict {
  Allow,      // 200; identity headers when there is a session
  NeedLogin,  // 302/303 to the portal for a browser, 401 otherwise
  Forbidden,  // 403
};

// Access control as Authelia decides: the first rule whose domain, resources, methods and
// subject match gives the policy, else default_policy. An anonymous request meets a rule with a
// subject (it may be the right user once logged in), so such a rule asks it to log in.
Verdict decide(const config::AutheliaConfig& cfg, const Target& target, const Identity* who,
               Level level);

// The session cookie configuration for `host` (no port), or nullptr when no cookie domain
// covers it.
const config::SessionCookie* cookieFor(const config::AutheliaConfig& cfg, std::string_view host);

// True when `url` may be redirected to after a login: an absolute http(s) URL inside one of
// the cookie domains, https unless that domain's portal is itself http. Never elsewhere.
bool safeRedirect(const config::AutheliaConfig& cfg, std::string_view url);

// ---- Cookies ----

// "ID.MAC": a random session id and its HMAC-SHA256 under a key derived from session.secret.
std::string signSessionId(std::string_view secret, std::string_view id);
// The id of a well-formed value whose MAC is right (compared in constant time), or nothing.
std::optional<std::string> verifySessionCookie(std::string_view secret, std::string_view value);
// The values of cookie `name` in the Cookie headers `headers` (a name may come more than once).
std::vector<std::string_view> cookieValues(const std::vector<std::string_view>& headers,
                                           std::string_view name);
// A Set-Cookie value for `cookie`: HttpOnly, SameSite, Secure for an https portal, Domain,
// Path=/; Max-Age when `max_age` is set (0 deletes the cookie).
std::string setCookie(const config::SessionCookie& cookie, std::string_view value,
                      std::optional<std::chrono::seconds> max_age);

// ---- Sessions, kept in memory ----

struct Session {
  std::string user;
  std::string domain;  // the cookie domain it was made for
  Level level = Level::OneFactor;
  bool remember_me = false;
  Clock::time_point created, last_active;
  // A TOTP secret (base32) shown on the enrolment page, kept here, never in the page's form,
  // until a code made from it confirms it; "" otherwise.
  std::string pending_totp_secret;
};

// At most kMaxSessions; when full, the least recently used goes first.
class SessionStore {
 public:
  static constexpr size_t kMaxSessions = 65536;

  // A new session; returns its id (random, 32 characters of base64url).
  std::string create(Session s);
  // The live session `id` for `cookie`'s domain, its activity updated; expired sessions (past
  // expiration, or idle longer than inactivity unless remember_me) are removed and not found.
  Session* find(std::string_view id, const config::SessionCookie& cookie, Clock::time_point now);
  void erase(std::string_view id);
  size_t size() const { return sessions_.size(); }

 private:
  std::unordered_map<std::string, Session> sessions_;
};

// ---- Regulation: max_retries failures within find_time ban the user for ban_time ----

class Regulator {
 public:
  static constexpr size_t kMaxTracked = 65536;

  Regulator(int max_retries, std::chrono::milliseconds find_time,
            std::chrono::milliseconds ban_time)
      : max_retries_(max_retries), find_time_(find_time), ban_time_(ban_time) {}
  bool banned(const std::string& user, Clock::time_point now) const;
  void failed(const std::string& user, Clock::time_point now);
  void succeeded(const std::string& user) { users_.erase(user); }

 private:
  struct Record {
    std::vector<Clock::time_point> failures;  // within find_time, oldest first
    Clock::time_point banned_until{};
  };
  void prune(Clock::time_point now);

  int max_retries_;
  std::chrono::milliseconds find_time_, ban_time_;
  std::map<std::string, Record> users_;
};

// ---- TOTP (totp.cc): RFC 6238 with Authelia's defaults, SHA1, 6 digits, 30 s, skew 1 ----

constexpr int kTotpDigits = 6;
constexpr int kTotpPeriod = 30;          // seconds per step
constexpr int kTotpSkew = 1;             // steps accepted either side of now
constexpr size_t kTotpSecretBytes = 20;  // 160 bits: 32 characters of base32

// RFC 4648 base32, upper case, without padding; decoding also takes lower case and padding.
std::string base32Encode(std::string_view raw);
std::optional<std::string> base32Decode(std::string_view text);
// A new secret from RAND_bytes, as base32 (32 characters).
std::string newTotpSecret();
// RFC 4226's HOTP value before the modulo: 31 bits of HMAC-SHA1(key, counter).
uint32_t hotp(std::string_view key, uint64_t counter);
// The 6-digit code of time step `step` (unix seconds / 30).
std::string totpCode(std::string_view key, uint64_t step);
uint64_t totpStep(int64_t unix_seconds);
// The step whose code `token` is, within kTotpSkew steps of `unix_seconds`, or nothing.
// Compares every candidate in constant time. The caller refuses a step already used (replay).
std::optional<uint64_t> verifyTotp(std::string_view key, std::string_view token,
                                   int64_t unix_seconds);
// otpauth://totp/ISSUER:USER?secret=...&issuer=ISSUER&algorithm=SHA1&digits=6&period=30
std::string otpauthUri(std::string_view issuer, std::string_view user, std::string_view secret_b32);

// ---- Small codecs ----

using base::parseForm;
using base::urlDecode;
using base::urlEncode;

}  // namespace auth
