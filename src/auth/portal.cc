// The portal: Authelia's endpoints over burrow's HTTP/1.1 server (http::serveHttp1), on one
// io_context thread. Password hashes are checked on a pool of two threads, at most
// kMaxHashing at a time, so that logins never stall forward-auth answers and an attacker cannot
// make the portal hold more than a bounded amount of argon2 memory. TOTP codes are checked on
// the io_context thread against the SQLite store (a few small queries).
#include <dlfcn.h>
#include <qrencode.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "auth/auth.h"
#include "auth/internal.h"
#include "auth/totp_store.h"
#include "base/base.h"
#include "base/undo.h"
#include "config/config.h"
#include "http/http.h"

extern char** environ;

namespace auth {
namespace {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;
using http::Task;
using tcp = asio::ip::tcp;
using Json = nlohmann::json;

constexpr size_t kMaxBody = 16 * 1024;  // a login is a few hundred bytes
constexpr int kMaxConnections = 1024;
constexpr int kMaxHashing = 8;  // password checks running or queued on the pool
constexpr size_t kMaxUsername = 255;
// A failed login answers no sooner than this after it arrived (plus up to kJitter), whether
// the user exists or not, so that the answer's timing tells nothing.
constexpr std::chrono::milliseconds kFailureFloor{500};
constexpr int kJitterMs = 100;
constexpr std::string_view kAuthFailed = "Authentication failed. Check your credentials.";
constexpr std::string_view kTotpFailed = "Authentication failed, please retry later.";

struct Reply {
  int status = 200;
  std::vector<http::Header> headers;
  std::string body;
};

Reply jsonReply(int status, const Json& j) {
  Reply r;
  r.status = status;
  r.body = j.dump();
  r.headers.push_back({"content-type", "application/json; charset=utf-8"});
  r.headers.push_back({"cache-control", "no-store"});
  return r;
}

Reply koReply(int status, std::string_view message) {
  return jsonReply(status, Json{{"status", "KO"}, {"message", message}});
}

Reply redirectReply(int status, std::string location) {
  Reply r;
  r.status = status;
  r.headers.push_back({"location", std::move(location)});
  r.headers.push_back({"cache-control", "no-store"});
  return r;
}

Reply textReply(int status, std::string body) {
  Reply r;
  r.status = status;
  r.body = std::move(body);
  r.headers.push_back({"content-type", "text/plain; charset=utf-8"});
  return r;
}

std::string_view hostOnly(std::string_view authority) {
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    return close == std::string_view::npos ? authority : authority.substr(1, close - 1);
  }
  return authority.substr(0, authority.find(':'));
}

bool validMethod(std::string_view m) {
  if (m.empty() || m.size() > 16) return false;
  for (char c : m)
    if (c < 'A' || c > 'Z') return false;
  return true;
}

// Authelia's test: "text/html" anywhere in Accept, or "*/*" as its first type.
bool acceptsHtml(const http::RequestHead& req) {
  const std::string* accept = req.find("accept");
  if (!accept) return false;
  std::string_view rest = *accept;
  for (bool first = true; !rest.empty(); first = false) {
    const size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    item = base::trim(item.substr(0, item.find(';')));
    if (item == "text/html" || (first && item == "*/*")) return true;
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return false;
}

bool isXhr(const http::RequestHead& req) {
  const std::string* x = req.find("x-requested-with");
  return x && base::toLower(*x) == "xmlhttprequest";
}

// `s` fit for one log line: at most 64 bytes, control characters as '?'.
std::string loggable(std::string_view s) {
  std::string out(s.substr(0, 64));
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return out;
}

std::string clientIp(const http::RequestHead& req) {
  if (const std::string* xff = req.find("x-forwarded-for")) {
    const std::string_view first = base::trim(std::string_view(*xff).substr(0, xff->find(',')));
    if (!first.empty() && first.size() <= 64) return std::string(first);
  }
  return req.client_ip;
}

// libqrencode, loaded at start when it is installed: burrow links its libraries statically and
// Debian ships libqrencode as a shared library only, so that the one binary runs without it
// (the enrolment page then shows the key and the URI, without the picture).
class QrEncoder {
 public:
  QrEncoder() {
    lib_ = ::dlopen("libqrencode.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!lib_) return;
    encode_ = reinterpret_cast<Encode>(::dlsym(lib_, "QRcode_encodeString"));
    free_ = reinterpret_cast<Free>(::dlsym(lib_, "QRcode_free"));
  }
  ~QrEncoder() {
    if (lib_) ::dlclose(lib_);
  }
  QrEncoder(const QrEncoder&) = delete;
  QrEncoder& operator=(const QrEncoder&) = delete;
  bool available() const { return encode_ && free_; }

  // `text` as an inline SVG (one path of dark modules, a quiet zone of 4), or "" without the
  // library. Needs no script, no image source and no style: the page's CSP stays as it is.
  std::string svg(const std::string& text) const {
    if (!available()) return "";
    QRcode* qr = encode_(text.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (!qr) return "";
    const int w = qr->width, size = w + 8;
    std::string path;
    for (int y = 0; y < w; ++y)
      for (int x = 0; x < w; ++x)
        if (qr->data[y * w + x] & 1) path += fmt::format("M{} {}h1v1h-1z", x + 4, y + 4);
    free_(qr);
    return fmt::format(
        R"(<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {0} {0}" width="180" height="180" )"
        R"(shape-rendering="crispEdges" role="img" aria-label="QR code of the otpauth URI">)"
        R"(<rect width="{0}" height="{0}" fill="#fff"/><path fill="#000" d="{1}"/></svg>)",
        size, path);
  }

 private:
  using Encode = QRcode* (*)(const char*, int, QRecLevel, QRencodeMode, int);
  using Free = void (*)(QRcode*);
  void* lib_ = nullptr;  // owned: dlclose'd by the destructor
  Encode encode_ = nullptr;
  Free free_ = nullptr;
};

std::string errorLine(bool failed, std::string_view message) {
  return failed ? fmt::format(R"(<p class="error" role="alert">{}</p>)", message) : std::string();
}

// Every page of the portal: plain HTML forms that work without JavaScript.
std::string pageShell(std::string_view title, const std::string& main) {
  return fmt::format(R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{}</title>
<style>
body{{margin:0;min-height:100vh;display:flex;box-sizing:border-box;padding:1rem 0;
font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;background:#f3f4f6;color:#111827}}
main{{margin:auto;background:#fff;padding:2rem 2.25rem;border-radius:12px;width:min(22rem,90vw);
box-shadow:0 1px 3px rgba(0,0,0,.1),0 8px 24px rgba(0,0,0,.06)}}
h1{{margin:0 0 1.25rem;font-size:1.4rem}}
label{{display:block;margin:.75rem 0 .25rem;font-size:.9rem;color:#374151}}
input{{width:100%;box-sizing:border-box;padding:.55rem .7rem;border:1px solid #d1d5db;
border-radius:8px;font:inherit}}
input:focus{{outline:2px solid #2563eb;outline-offset:1px}}
.check{{display:flex;gap:.5rem;align-items:center}}
.check input{{width:auto}}
button{{margin-top:1.25rem;width:100%;padding:.65rem;border:0;border-radius:8px;
background:#2563eb;color:#fff;font:inherit;font-weight:600;cursor:pointer}}
button:hover{{background:#1d4ed8}}
button.quiet{{background:none;color:#2563eb;font-weight:400;margin-top:.5rem}}
.error{{background:#fef2f2;color:#991b1b;padding:.5rem .75rem;border-radius:8px}}
.qr{{display:flex;justify-content:center}}
.qr svg{{width:180px;height:180px}}
code{{font-size:.85rem;word-break:break-all}}
.small{{font-size:.8rem;color:#4b5563}}
</style></head>
<body><main>{}</main></body></html>
)",
                     title, main);
}

constexpr std::string_view kSignOutForm =
    R"(<form method="post" action="/logout"><button class="quiet" type="submit">Sign out</button></form>)";

// The page at `/`: the login form, or who is signed in (with a link to enrol TOTP when
// `offer_totp`).
std::string loginPage(std::string_view rd, bool failed, const std::string* user, bool offer_totp) {
  std::string main;
  if (user) {
    main = fmt::format(
        R"(<h1>Signed in</h1><p>You are signed in as <b>{}</b>.</p>{}{}
<form method="post" action="/logout"><button type="submit">Sign out</button></form>)",
        base::htmlEscape(*user),
        rd.empty() ? std::string()
                   : fmt::format(R"(<p><a href="{}">Continue</a></p>)", base::htmlEscape(rd)),
        offer_totp ? R"(<p><a id="enrol" href="/?enrol=1">Set up one-time codes</a>)"
                     R"( (a second factor)</p>)"
                   : "");
  } else {
    main = fmt::format(R"(<h1>Sign in</h1>{}
<form method="post" action="/login">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" autofocus required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<label class="check"><input type="checkbox" name="keepMeLoggedIn" value="true"> Remember me</label>
<input type="hidden" name="rd" value="{}">
<button type="submit">Sign in</button>
</form>)",
                       errorLine(failed, kAuthFailed), base::htmlEscape(rd));
  }
  return pageShell("Sign in", main);
}

constexpr std::string_view kTokenInput =
    R"(<label for="token">One-time code</label>
<input id="token" name="token" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" )"
    R"(autocomplete="one-time-code" autofocus required>)";

// The enrolment page: the secret as a QR code, as text and as the otpauth URI, and a field
// for the code that confirms the authenticator app has it. The secret stays in the session.
std::string enrolPage(std::string_view rd, bool failed, const std::string& user,
                      const std::string& secret, const std::string& uri, const std::string& qr) {
  return pageShell(
      "Set up a second factor",
      fmt::format(R"(<h1>Set up a second factor</h1>
<p>Signed in as <b>{}</b>. This site asks for a one-time code too. Scan the code with an
authenticator app, or enter the key by hand, then type the code the app shows.</p>{}
<div class="qr">{}</div>
<p>Key: <code id="totp-secret">{}</code></p>
<p class="small">URI: <code id="totp-uri">{}</code></p>
<form method="post" action="/totp/enrol">
{}
<input type="hidden" name="rd" value="{}">
<button type="submit">Confirm</button>
</form>{})",
                  base::htmlEscape(user), errorLine(failed, kTotpFailed), qr, secret,
                  base::htmlEscape(uri), kTokenInput, base::htmlEscape(rd), kSignOutForm));
}

// The second factor page: the code from the app enrolled before.
std::string totpPage(std::string_view rd, bool failed, const std::string& user) {
  return pageShell("One-time code",
                   fmt::format(R"(<h1>One-time code</h1>
<p>Signed in as <b>{}</b>. Type the code your authenticator app shows.</p>{}
<form method="post" action="/totp">
{}
<input type="hidden" name="rd" value="{}">
<button type="submit">Verify</button>
</form>{})",
                               base::htmlEscape(user), errorLine(failed, kTotpFailed), kTokenInput,
                               base::htmlEscape(rd), kSignOutForm));
}

class Portal : public http::Handler {
 public:
  Portal(config::AutheliaConfig cfg, config::UsersDatabase users, asio::any_io_executor ex,
         asio::thread_pool& pool, config::PasswordHash dummy, std::unique_ptr<TotpStore> totp)
      : cfg_(std::move(cfg)),
        users_(std::move(users)),
        ex_(std::move(ex)),
        pool_(pool),
        dummy_(std::move(dummy)),
        totp_(std::move(totp)),
        regulator_(cfg_.max_retries, cfg_.find_time, cfg_.ban_time) {}

  int connections = 0;  // open client connections, at most kMaxConnections

  // SIGHUP: reads the users file again. Sessions of users now gone or disabled end at their
  // next use; a file that does not load is logged and the users already loaded stay.
  void reloadUsers() {
    auto db = config::loadUsersDatabase(cfg_.users_file);
    if (!db) {
      LOG_ERROR("users file not reloaded, the loaded users stay error={}", db.error().message());
      return;
    }
    users_ = std::move(*db);
    LOG_INFO("users reloaded users={}", users_.users.size());
  }

  Task<void> handle(http::RequestHead& req, http::BodyReader& body,
                    http::ResponseWriter& out) override {
    Reply r = co_await route(req, body);
    r.headers.push_back({"x-content-type-options", "nosniff"});
    http::ResponseHead head;
    head.status = r.status;
    head.headers = std::move(r.headers);
    head.content_length = r.body.size();
    if (!co_await out.writeHead(std::move(head))) co_return;
    if (req.method != "HEAD" && !r.body.empty() &&
        !co_await out.writeBody(r.body.data(), r.body.size()))
      co_return;
    (void)co_await out.finish();
  }

  Task<void> serve(tcp::socket sock) {
    http::ServerLimits limits;
    limits.max_head_bytes = 16 * 1024;
    limits.idle_timeout = std::chrono::seconds(30);
    limits.body_timeout = std::chrono::seconds(10);
    limits.send_timeout = std::chrono::seconds(30);
    co_await http::serveHttp1(std::move(sock), *this, limits);
    --connections;
  }

 private:
  Task<Reply> route(http::RequestHead& req, http::BodyReader& body) {
    const size_t q = req.target.find('?');
    const std::string path = req.target.substr(0, q);
    const std::string query = q == std::string::npos ? "" : req.target.substr(q + 1);
    const bool get = req.method == "GET" || req.method == "HEAD";
    if (path == "/api/authz/forward-auth") co_return authz(req, Endpoint::ForwardAuth, query);
    if (path == "/api/authz/auth-request") co_return authz(req, Endpoint::AuthRequest, query);
    if (path == "/api/verify") co_return authz(req, Endpoint::Legacy, query);
    if (path == "/api/firstfactor" || path == "/login") {
      if (req.method != "POST") co_return methodNotAllowed("POST");
      if (!sameSite(req)) co_return koReply(403, "Cross-site login refused.");
      std::string text;
      Reply refusal;
      if (!co_await readBody(req, body, &text, &refusal)) co_return refusal;
      co_return co_await firstFactor(req, text, path == "/login");
    }
    if (path == "/api/secondfactor/totp" || path == "/totp" || path == "/totp/enrol") {
      if (req.method != "POST") co_return methodNotAllowed("POST");
      if (!sameSite(req)) co_return koReply(403, "Cross-site login refused.");
      std::string text;
      Reply refusal;
      if (!co_await readBody(req, body, &text, &refusal)) co_return refusal;
      const TotpMode mode = path == "/totp"         ? TotpMode::Form
                            : path == "/totp/enrol" ? TotpMode::Enrol
                                                    : TotpMode::Api;
      co_return co_await secondFactor(req, text, mode);
    }
    if (path == "/api/logout" || path == "/logout") {
      if (req.method != "POST") co_return methodNotAllowed("POST");
      std::string text;
      Reply refusal;
      if (!co_await readBody(req, body, &text, &refusal)) co_return refusal;
      co_return logout(req, text, path == "/logout");
    }
    if (path == "/api/state") {
      if (!get) co_return methodNotAllowed("GET");
      co_return state(req);
    }
    if (path == "/api/health") {
      if (!get) co_return methodNotAllowed("GET");
      co_return jsonReply(200, Json{{"status", "OK"}});
    }
    if (path == "/") {
      if (!get) co_return methodNotAllowed("GET");
      co_return page(req, query);
    }
    co_return textReply(404, "404 Not Found\n");
  }

  // A browser's login from a page outside the session domains (login CSRF) is refused: its
  // Origin header, when it sends one, must be inside one of them.
  bool sameSite(const http::RequestHead& req) const {
    const std::string* origin = req.find("origin");
    if (!origin) return true;
    auto u = config::parseHttpUrl(*origin);
    return u && cookieFor(cfg_, u->host) != nullptr;
  }

  static Reply methodNotAllowed(std::string_view allow) {
    Reply r = textReply(405, "405 Method Not Allowed\n");
    r.headers.push_back({"allow", std::string(allow)});
    return r;
  }

  // Reads the body (at most kMaxBody bytes) into `text`; false with `refusal` set otherwise.
  Task<bool> readBody(http::RequestHead& req, http::BodyReader& body, std::string* text,
                      Reply* refusal) {
    if (req.content_length && *req.content_length > kMaxBody) {
      *refusal = textReply(413, "413 Content Too Large\n");
      co_return false;
    }
    char buf[4096];
    while (req.has_body) {
      auto n = co_await body.read(buf, sizeof buf);
      if (!n) {
        *refusal = textReply(400, "400 Bad Request\n");
        co_return false;
      }
      if (*n == 0) break;
      if (text->size() + *n > kMaxBody) {
        body.cancel();
        *refusal = textReply(413, "413 Content Too Large\n");
        co_return false;
      }
      text->append(buf, *n);
    }
    co_return true;
  }

  // The host the client asked for: X-Forwarded-Host from the proxy in front, else Host.
  static std::string requestHost(const http::RequestHead& req) {
    const std::string* fh = req.find("x-forwarded-host");
    return base::toLower(hostOnly(fh ? std::string_view(*fh) : std::string_view(req.authority)));
  }

  // The session the request's cookie names for `cookie`'s domain, with its user; nullptr when
  // there is none, or when its user is gone or disabled now.
  struct Who {
    std::string session_id;
    Session* session = nullptr;  // valid until the next co_await
    const config::AutheliaUser* user = nullptr;
  };
  Who sessionOf(const http::RequestHead& req, const config::SessionCookie& cookie) {
    std::vector<std::string_view> headers;
    for (const http::Header& h : req.headers)
      if (h.name == "cookie") headers.push_back(h.value);
    Who who;
    for (std::string_view value : cookieValues(headers, cookie.name)) {
      auto id = verifySessionCookie(cfg_.session_secret, value);
      if (!id) continue;
      Session* s = sessions_.find(*id, cookie, Clock::now());
      if (!s) continue;
      const config::AutheliaUser* u = users_.find(s->user);
      if (!u || u->disabled) {
        sessions_.erase(*id);
        continue;
      }
      who.session_id = *id;
      who.session = s;
      who.user = u;
      return who;
    }
    return who;
  }

  enum class Endpoint { ForwardAuth, AuthRequest, Legacy };

  Reply authz(const http::RequestHead& req, Endpoint ep, const std::string& query) {
    Target t;
    std::string url;
    const std::string* original = req.find("x-original-url");
    if (ep == Endpoint::AuthRequest || (ep == Endpoint::Legacy && original)) {
      if (!original) return textReply(401, "401 Unauthorized\n");
      url = *original;
      const std::string* m = req.find("x-original-method");
      if (!m && ep == Endpoint::Legacy) m = req.find("x-forwarded-method");
      t.method = m ? *m : (ep == Endpoint::Legacy ? "GET" : "");
    } else {
      const std::string* proto = req.find("x-forwarded-proto");
      const std::string* host = req.find("x-forwarded-host");
      const std::string* uri = req.find("x-forwarded-uri");
      const std::string* m = req.find("x-forwarded-method");
      if (!proto || !host || (ep == Endpoint::ForwardAuth && !m)) {
        LOG_DEBUG("authz without X-Forwarded-Proto/-Host/-Method");
        return textReply(401, "401 Unauthorized\n");
      }
      std::string u = uri ? *uri : "/";
      if (!u.starts_with('/')) return textReply(401, "401 Unauthorized\n");
      url = fmt::format("{}://{}{}", *proto, *host, u);
      t.method = m ? *m : "GET";
    }
    auto parsed = config::parseHttpUrl(url);
    if (!parsed || !validMethod(t.method)) {
      LOG_DEBUG("authz with a bad target url={}", loggable(url));
      return textReply(401, "401 Unauthorized\n");
    }
    t.url = std::move(*parsed);
    const config::SessionCookie* cookie = cookieFor(cfg_, t.url.host);
    if (!cookie) {
      LOG_INFO("authz for a host outside every session cookie domain host={}", t.url.host);
      return textReply(401, "401 Unauthorized\n");
    }
    Who who = sessionOf(req, *cookie);
    Identity id;
    if (who.user) {
      id.user = who.user->name;
      id.display_name = who.user->display_name;
      id.email = who.user->email;
      id.groups = who.user->groups;
    }
    const Level level = who.session ? who.session->level : Level::Anonymous;
    switch (decide(cfg_, t, who.user ? &id : nullptr, level)) {
      case Verdict::Allow: {
        Reply r = textReply(200, "");
        r.body.clear();
        if (who.user) {
          r.headers.push_back({"remote-user", id.user});
          r.headers.push_back({"remote-groups", fmt::format("{}", fmt::join(id.groups, ","))});
          r.headers.push_back({"remote-name", id.display_name});
          r.headers.push_back({"remote-email", id.email});
        }
        return r;
      }
      case Verdict::Forbidden:
        LOG_INFO("authz denied url={} user={}", url, id.user);
        return textReply(403, "403 Forbidden\n");
      case Verdict::NeedLogin:
        break;
    }
    std::string portal = cookie->authelia_url;
    if (ep == Endpoint::Legacy) {
      // /api/verify?rd=PORTAL: the portal to send the browser to, only when it is ours.
      portal.clear();
      auto rd = parseForm(query);
      if (auto it = rd.find("rd"); it != rd.end() && safeRedirect(cfg_, it->second))
        portal = it->second;
      while (portal.ends_with('/')) portal.pop_back();
    }
    const std::string location =
        portal.empty() ? std::string()
                       : fmt::format("{}/?rd={}&rm={}", portal, urlEncode(url), t.method);
    if (ep == Endpoint::AuthRequest) {
      Reply r = textReply(401, "401 Unauthorized\n");
      r.headers.push_back({"location", location});
      return r;
    }
    if (location.empty() || isXhr(req) || !acceptsHtml(req))
      return textReply(401, "401 Unauthorized\n");
    const bool safe_method = t.method == "GET" || t.method == "HEAD" || t.method == "OPTIONS";
    return redirectReply(safe_method ? 302 : 303, location);
  }

  enum class Outcome { Ok, Failed, Busy };

  // Runs on the hashing pool; owns its arguments.
  static Task<bool> verifyOnPool(config::PasswordHash hash, std::string password) {
    co_return verifyPassword(hash, password);
  }

  // Checks a password the same way whether the user exists or not, under regulation, and
  // answers a failure no sooner than kFailureFloor after `start`.
  Task<Outcome> authenticate(const std::string& username, const std::string& password,
                             const std::string& ip) {
    const Clock::time_point start = Clock::now();
    if (hashing_ >= kMaxHashing) {
      LOG_WARN("login refused: too many password checks in flight ip={}", loggable(ip));
      co_return Outcome::Busy;
    }
    const config::AutheliaUser* u =
        username.size() <= kMaxUsername ? users_.find(username) : nullptr;
    const bool banned = regulator_.banned(username, start);
    const bool usable = u && !u->disabled && !banned;
    const char* reason = banned        ? "banned"
                         : !u          ? "no such user"
                         : u->disabled ? "disabled"
                                       : "password";
    config::PasswordHash hash = usable ? u->password : dummy_;
    u = nullptr;  // a reload may replace the users while the hash is checked
    ++hashing_;
    // Named, not a temporary of the co_await: GCC 12 mishandles those (freed twice).
    Task<bool> check = verifyOnPool(std::move(hash), password);
    const bool match = co_await asio::co_spawn(pool_, std::move(check), use_awaitable);
    --hashing_;
    if (usable && match) {
      regulator_.succeeded(username);
      LOG_INFO("login ok user={} ip={}", username, loggable(ip));
      co_return Outcome::Ok;
    }
    if (!banned) regulator_.failed(username, Clock::now());
    LOG_WARN("login failed user={} ip={} reason={}", loggable(username), loggable(ip), reason);
    const auto jitter = std::chrono::milliseconds(
        static_cast<unsigned char>(base::randomBytes(1)[0]) * kJitterMs / 255);
    asio::steady_timer timer(ex_, start + kFailureFloor + jitter);
    (void)co_await timer.async_wait(as_tuple(use_awaitable));
    co_return Outcome::Failed;
  }

  Task<Reply> firstFactor(const http::RequestHead& req, const std::string& text, bool form) {
    std::string username, password, target;
    bool remember = false;
    if (form) {
      auto f = parseForm(text);
      username = f["username"];
      password = f["password"];
      target = f["rd"];
      remember = f["keepMeLoggedIn"] == "true" || f["keepMeLoggedIn"] == "on";
    } else {
      Json j = Json::parse(text, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j["username"].is_string() ||
          !j["password"].is_string())
        co_return koReply(400, "Unable to parse body.");
      username = j["username"].get<std::string>();
      password = j["password"].get<std::string>();
      if (j.contains("keepMeLoggedIn") && j["keepMeLoggedIn"].is_boolean())
        remember = j["keepMeLoggedIn"].get<bool>();
      if (j.contains("targetURL") && j["targetURL"].is_string())
        target = j["targetURL"].get<std::string>();
    }
    const config::SessionCookie* cookie = cookieFor(cfg_, requestHost(req));
    if (!cookie) co_return koReply(400, "This portal serves no cookie domain for this host.");
    const std::string ip = clientIp(req);
    const Outcome o = co_await authenticate(username, password, ip);
    if (o == Outcome::Busy) co_return koReply(503, "Too many logins at once, try again.");
    if (o == Outcome::Failed) {
      if (form) {
        co_return redirectReply(
            303, fmt::format("/?error=1{}", target.empty() ? "" : "&rd=" + urlEncode(target)));
      }
      co_return koReply(401, kAuthFailed);
    }
    // A fresh id on every login: a session id known before it cannot be carried over.
    Who old = sessionOf(req, *cookie);
    if (old.session) sessions_.erase(old.session_id);
    remember = remember && cookie->remember_me.count() > 0;
    const Clock::time_point now = Clock::now();
    const std::string id = sessions_.create(
        Session{username, cookie->domain, Level::OneFactor, remember, now, now, {}});
    std::optional<std::chrono::seconds> max_age;
    if (remember) max_age = std::chrono::duration_cast<std::chrono::seconds>(cookie->remember_me);
    const std::string set_cookie =
        setCookie(*cookie, signSessionId(cfg_.session_secret, id), max_age);
    std::string redirect = redirectAfterLogin(*cookie, username, target);
    // A target that asks for a second factor: the portal asks for it first (the JSON answer
    // has no redirect then, as Authelia's, and its page asks for the code).
    const bool second = !redirect.empty() && needsTwoFactor(redirect, "GET", username);
    Reply r;
    if (form) {
      r = redirectReply(303, second             ? "/?rd=" + urlEncode(redirect)
                             : redirect.empty() ? "/"
                                                : redirect);
    } else if (second) {
      r = jsonReply(200, Json{{"status", "OK"}});
    } else {
      Json j{{"status", "OK"}};
      if (!redirect.empty()) j["data"] = Json{{"redirect", redirect}};
      r = jsonReply(200, j);
    }
    r.headers.push_back({"set-cookie", set_cookie});
    co_return r;
  }

  // Where a successful login goes: `target` when it is inside a session domain, the cookie's
  // default_redirection_url when there is no target, nowhere ("") otherwise.
  std::string redirectAfterLogin(const config::SessionCookie& cookie, const std::string& user,
                                 const std::string& target) {
    if (!target.empty() && safeRedirect(cfg_, target)) return target;
    if (target.empty()) return cookie.default_redirection_url;
    LOG_WARN("login redirect refused: outside the session domains user={} target={}",
             loggable(user), loggable(target));
    return "";
  }

  // True when `user` at one factor may not reach `url`, and at two factors may.
  bool needsTwoFactor(const std::string& url, std::string_view method, const std::string& user) {
    auto u = config::parseHttpUrl(url);
    const config::AutheliaUser* au = users_.find(user);
    if (!u || !au) return false;
    Target t{validMethod(method) ? std::string(method) : "GET", std::move(*u)};
    Identity id{au->name, au->display_name, au->email, au->groups};
    return decide(cfg_, t, &id, Level::OneFactor) == Verdict::NeedLogin &&
           decide(cfg_, t, &id, Level::TwoFactor) == Verdict::Allow;
  }

  enum class TotpMode {
    Form,   // POST /totp: the code page's form; answers with redirects
    Api,    // POST /api/secondfactor/totp: Authelia's API; answers with JSON
    Enrol,  // POST /totp/enrol: the enrolment page's form; confirms the session's new secret
  };

  // A TOTP code for the session's user, under regulation: the enrolled secret's (or, for
  // Enrol, the session's pending one's), a step not used before. Raises the session to level 2.
  Task<Reply> secondFactor(const http::RequestHead& req, const std::string& text, TotpMode mode) {
    std::string token, target;
    if (mode == TotpMode::Api) {
      Json j = Json::parse(text, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j["token"].is_string())
        co_return koReply(400, "Unable to parse body.");
      token = j["token"].get<std::string>();
      if (j.contains("targetURL") && j["targetURL"].is_string())
        target = j["targetURL"].get<std::string>();
    } else {
      auto f = parseForm(text);
      token = f["token"];
      target = f["rd"];
    }
    const bool form = mode != TotpMode::Api;
    const std::string again =
        fmt::format("/?error=1{}", target.empty() ? "" : "&rd=" + urlEncode(target));
    const config::SessionCookie* cookie = cookieFor(cfg_, requestHost(req));
    if (!cookie) co_return koReply(400, "This portal serves no cookie domain for this host.");
    Who who = sessionOf(req, *cookie);
    if (!who.session) {
      if (form) co_return redirectReply(303, "/");
      co_return koReply(401, kTotpFailed);
    }
    const std::string user = who.session->user;
    const std::string ip = clientIp(req);
    const Clock::time_point start = Clock::now();
    const bool banned = regulator_.banned(user, start);
    std::string secret, reason;
    uint64_t last_step = 0;
    if (!totp_) {
      reason = "no storage";
    } else {
      auto found = totp_->find(user);
      if (!found) {
        LOG_ERROR("totp storage error user={} error={}", user, found.error().message());
        co_return koReply(500, "Storage error.");
      }
      if (mode == TotpMode::Enrol) {
        // A second enrolment would let whoever holds the password replace the factor.
        if (found->has_value()) {
          reason = "enrolled already";
        } else {
          secret = who.session->pending_totp_secret;
          if (secret.empty()) reason = "nothing to enrol";
        }
      } else if (found->has_value()) {
        secret = (*found)->secret;
        last_step = (*found)->last_step;
      } else {
        reason = "not enrolled";
      }
    }
    std::optional<uint64_t> step;
    if (!secret.empty() && !banned) {
      auto key = base32Decode(secret);
      if (key) step = verifyTotp(*key, token, static_cast<int64_t>(std::time(nullptr)));
      if (!step) {
        reason = "code";
      } else if (*step <= last_step) {
        reason = "code used before";
        step.reset();
      }
    }
    if (banned) reason = "banned";
    if (step) {
      if (mode == TotpMode::Enrol) {
        if (auto r = totp_->save(user, secret); !r) {
          LOG_ERROR("totp storage error user={} error={}", user, r.error().message());
          co_return koReply(500, "Storage error.");
        }
      }
      if (auto r = totp_->markUsed(user, *step); !r) {
        LOG_ERROR("totp storage error user={} error={}", user, r.error().message());
        co_return koReply(500, "Storage error.");
      }
      regulator_.succeeded(user);
      who.session->level = Level::TwoFactor;
      who.session->pending_totp_secret.clear();
      LOG_INFO("second factor ok user={} ip={}{}", user, loggable(ip),
               mode == TotpMode::Enrol ? " enrolled=totp" : "");
      const std::string redirect = redirectAfterLogin(*cookie, user, target);
      if (form) co_return redirectReply(303, redirect.empty() ? "/" : redirect);
      Json j{{"status", "OK"}};
      if (!redirect.empty()) j["data"] = Json{{"redirect", redirect}};
      co_return jsonReply(200, j);
    }
    if (!banned) regulator_.failed(user, Clock::now());
    LOG_WARN("second factor failed user={} ip={} reason={}", user, loggable(ip), reason);
    // As for passwords: a failure answers no sooner than the floor.
    const auto jitter = std::chrono::milliseconds(
        static_cast<unsigned char>(base::randomBytes(1)[0]) * kJitterMs / 255);
    asio::steady_timer timer(ex_, start + kFailureFloor + jitter);
    (void)co_await timer.async_wait(as_tuple(use_awaitable));
    if (form) co_return redirectReply(303, again);
    co_return koReply(401, kTotpFailed);
  }

  Reply logout(const http::RequestHead& req, const std::string& text, bool form) {
    const config::SessionCookie* cookie = cookieFor(cfg_, requestHost(req));
    if (!cookie) return koReply(400, "This portal serves no cookie domain for this host.");
    Who who = sessionOf(req, *cookie);
    if (who.session) {
      LOG_INFO("logout user={}", who.session->user);
      sessions_.erase(who.session_id);
    }
    Reply r;
    if (form) {
      r = redirectReply(303, "/");
    } else {
      Json j{{"status", "OK"}};
      Json body = Json::parse(text, nullptr, false);
      if (body.is_object() && body.contains("targetURL") && body["targetURL"].is_string())
        j["data"] =
            Json{{"safeTargetURL", safeRedirect(cfg_, body["targetURL"].get<std::string>())}};
      r = jsonReply(200, j);
    }
    r.headers.push_back({"set-cookie", setCookie(*cookie, "", std::chrono::seconds(0))});
    return r;
  }

  Reply state(const http::RequestHead& req) {
    const config::SessionCookie* cookie = cookieFor(cfg_, requestHost(req));
    Json data{{"username", ""}, {"authentication_level", 0}, {"default_redirection_url", ""}};
    if (cookie) {
      Who who = sessionOf(req, *cookie);
      if (who.session) {
        data["username"] = who.session->user;
        data["authentication_level"] = static_cast<int>(who.session->level);
      }
      data["default_redirection_url"] = cookie->default_redirection_url;
    }
    return jsonReply(200, Json{{"status", "OK"}, {"data", data}});
  }

  Reply page(const http::RequestHead& req, const std::string& query) {
    auto q = parseForm(query);
    std::string rd = q["rd"];
    if (!rd.empty() && !safeRedirect(cfg_, rd)) rd.clear();
    const config::SessionCookie* cookie = cookieFor(cfg_, requestHost(req));
    Who who;
    if (cookie) who = sessionOf(req, *cookie);
    const bool failed = q.count("error") > 0;
    // Whether the user has TOTP, when it matters (signed in, below level 2, storage there).
    std::optional<TotpConfig> enrolled;
    if (who.user && who.session->level < Level::TwoFactor && totp_) {
      auto found = totp_->find(who.user->name);
      if (!found) {
        LOG_ERROR("totp storage error user={} error={}", who.user->name, found.error().message());
        return textReply(500, "500 Storage Error\n");
      }
      enrolled = std::move(*found);
    }
    Reply r;
    if (who.user && who.session->level < Level::TwoFactor &&
        ((!rd.empty() && needsTwoFactor(rd, q["rm"], who.user->name)) ||
         (totp_ && q.count("enrol") > 0))) {
      // rd asks for a second factor, or the user asked to enrol: the code, or the enrolment
      // when the user has none yet.
      if (enrolled) {
        r.body = totpPage(rd, failed, who.user->name);
      } else {
        std::string& secret = who.session->pending_totp_secret;
        if (secret.empty()) secret = newTotpSecret();
        const std::string uri = otpauthUri(cfg_.totp_issuer, who.user->name, secret);
        r.body = enrolPage(rd, failed, who.user->name, secret, uri, qr_.svg(uri));
      }
    } else if (who.user && !rd.empty()) {
      // Signed in already: straight on to where the browser was going, as Authelia's portal does.
      return redirectReply(302, rd);
    } else {
      r.body = loginPage(rd, failed, who.user ? &who.user->name : nullptr,
                         who.user && totp_ && !enrolled && who.session->level < Level::TwoFactor);
    }
    r.headers.push_back({"content-type", "text/html; charset=utf-8"});
    r.headers.push_back({"cache-control", "no-store"});
    // The form posts here, and the answer redirects on to rd or default_redirection_url: the
    // only places a form of this page may lead to.
    std::string form_action = "'self'";
    const std::string* targets[] = {&rd, cookie ? &cookie->default_redirection_url : &rd};
    for (const std::string* to : targets) {
      auto u = config::parseHttpUrl(*to);
      if (!u) continue;
      const bool v6 = u->host.find(':') != std::string::npos;
      form_action += fmt::format(" {}://{}{}{}{}", u->scheme, v6 ? "[" : "", u->host, v6 ? "]" : "",
                                 u->port_given ? fmt::format(":{}", u->port) : "");
    }
    r.headers.push_back({"content-security-policy",
                         fmt::format("default-src 'none'; style-src 'unsafe-inline'; form-action "
                                     "{}; frame-ancestors 'none'",
                                     form_action)});
    // Not no-referrer: under it a browser posts the form with `Origin: null`, which sameSite()
    // refuses. same-origin still keeps rd= from every other site.
    r.headers.push_back({"referrer-policy", "same-origin"});
    return r;
  }

  const config::AutheliaConfig cfg_;
  config::UsersDatabase users_;  // replaced by reloadUsers(): hold no pointer across a co_await
  asio::any_io_executor ex_;
  asio::thread_pool& pool_;
  const config::PasswordHash dummy_;
  const std::unique_ptr<TotpStore> totp_;  // null without storage (then no two_factor rule)
  const QrEncoder qr_;
  SessionStore sessions_;
  Regulator regulator_;
  int hashing_ = 0;  // password checks on the pool
};

Task<void> acceptLoop(tcp::acceptor& acc, Portal& portal) {
  const auto ex = co_await asio::this_coro::executor;
  for (;;) {
    auto [ec, sock] = co_await acc.async_accept(as_tuple(use_awaitable));
    if (ec == asio::error::operation_aborted || !acc.is_open()) co_return;
    if (ec) {
      // Out of descriptors, most likely: wait a little rather than spin.
      LOG_WARN("accept failed error={}", ec.message());
      asio::steady_timer t(ex, std::chrono::milliseconds(100));
      (void)co_await t.async_wait(as_tuple(use_awaitable));
      continue;
    }
    if (portal.connections >= kMaxConnections) {
      LOG_WARN("connection refused: {} open already", kMaxConnections);
      continue;  // the socket closes here
    }
    ++portal.connections;
    asio::co_spawn(ex, portal.serve(std::move(sock)), asio::detached);
  }
}

std::vector<std::string> autheliaEnv() {
  std::vector<std::string> out;
  for (char** e = environ; e && *e; ++e)
    if (std::string_view(*e).starts_with("AUTHELIA_")) out.emplace_back(*e);
  return out;
}

base::Result<tcp::endpoint> listenEndpoint(const config::AutheliaConfig& cfg) {
  std::string host = cfg.listen_host;
  if (host.empty()) host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(host, ec);
  if (ec) {
    return base::invalid("{}: server.address: '{}' must be an IP address or localhost", cfg.source,
                         cfg.listen_host);
  }
  return tcp::endpoint(addr, cfg.listen_port);
}

}  // namespace

base::Result<int> runPortal(const Options& opts) {
  ASSIGN_OR_RETURN(config::AutheliaConfig cfg,
                   config::loadAutheliaConfig(opts.config_file, autheliaEnv()));
  ASSIGN_OR_RETURN(config::UsersDatabase users, config::loadUsersDatabase(cfg.users_file));
  // The hash checked when the user does not exist, so that such a login costs the same time.
  ASSIGN_OR_RETURN(std::string dummy_text, hashPassword(base::randomBytes(16)));
  ASSIGN_OR_RETURN(config::PasswordHash dummy, config::parsePasswordHash(dummy_text));
  ASSIGN_OR_RETURN(tcp::endpoint ep, listenEndpoint(cfg));
  std::unique_ptr<TotpStore> totp;
  if (!cfg.storage_path.empty() && !cfg.storage_encryption_key.empty()) {
    auto store = TotpStore::open(cfg.storage_path, cfg.storage_encryption_key);
    if (!store) {
      return base::Unexpected(base::Error{
          store.error().code, fmt::format("{}: {}", cfg.source, store.error().context)});
    }
    totp = std::move(*store);
  }
  const bool have_totp = totp != nullptr;

  asio::io_context ioc(1);
  asio::thread_pool pool(2);
  tcp::acceptor acc(ioc);
  boost::system::error_code ec;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return base::Unexpected(base::Error{
        ec, fmt::format("server.address {}:{}: cannot listen",
                        cfg.listen_host.empty() ? "0.0.0.0" : cfg.listen_host, cfg.listen_port)});
  }
  const size_t n_users = users.users.size(), n_rules = cfg.rules.size();
  Portal portal(std::move(cfg), std::move(users), ioc.get_executor(), pool, std::move(dummy),
                std::move(totp));
  asio::co_spawn(ioc, acceptLoop(acc, portal), asio::detached);
  asio::signal_set hup(ioc, SIGHUP);
  std::function<void()> arm_hup = [&] {
    hup.async_wait([&](const boost::system::error_code& e, int) {
      if (e) return;
      portal.reloadUsers();
      arm_hup();
    });
  };
  arm_hup();
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& e, int sig) {
    if (e) return;
    LOG_INFO("signal={} stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    ioc.stop();
  });
  LOG_INFO("auth listening address={}:{} users={} rules={} sessions=memory totp={}",
           acc.local_endpoint().address().to_string(), acc.local_endpoint().port(), n_users,
           n_rules, have_totp ? "sqlite" : "off");
  ioc.run();
  pool.stop();
  pool.join();
  return 0;
}

base::Result<int> runHashPassword(const Options& opts) {
  std::string text;
  if (!opts.password_file.empty()) {
    ASSIGN_OR_RETURN(text, base::readFile(opts.password_file, 4096));
  } else {
    // At a terminal, ask without echoing what is typed.
    termios saved{};
    const bool tty = ::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &saved) == 0;
    if (tty) {
      termios quiet = saved;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
      std::fprintf(stderr, "Password: ");
    }
    base::Undo restore;
    restore.add([&] {
      if (!tty) return;
      ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
      std::fprintf(stderr, "\n");
    });
    char buf[4096];
    size_t n = 0;
    while (n < sizeof buf) {
      const ssize_t got =
          base::retryEintr([&] { return ::read(STDIN_FILENO, buf + n, sizeof buf - n); });
      if (got < 0) return base::sysError("reading the password from stdin");
      if (got == 0) break;
      n += static_cast<size_t>(got);
    }
    if (n == sizeof buf) return base::invalid("the password on stdin is longer than 4 KiB");
    text.assign(buf, n);
  }
  // One line: the newline that ends it is not part of the password.
  if (text.ends_with('\n')) text.pop_back();
  if (text.ends_with('\r')) text.pop_back();
  if (text.empty()) return base::invalid("the password is empty");
  ASSIGN_OR_RETURN(std::string hash, hashPassword(text));
  std::printf("%s\n", hash.c_str());
  return 0;
}

}  // namespace auth
