// The dashboard's HTTP side: the page, its assets, /api/KIND, /api/events (server-sent
// events) and, with --admin-actions, /api/actions. Requests whose Host is not an address or
// localhost are refused, so a web page elsewhere cannot read the dashboard through DNS
// rebinding; a POST must carry the page's CSRF token and come from the page's own origin.
#include <chrono>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "admin/admin.h"
#include "admin/internal.h"
#include "base/base.h"

namespace admin {
namespace {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;

// The largest form /api/actions reads: a token, an action and a name.
constexpr size_t kMaxForm = 4096;
// What the Actions section lists.
constexpr size_t kMaxDone = 8;

// The headers every answer carries: nothing from elsewhere, never framed, never cached.
void secure(http::ResponseHead& h, bool forms = false) {
  h.headers.push_back({"content-security-policy",
                       fmt::format("default-src 'none'; script-src 'self'; style-src 'self'; "
                                   "connect-src 'self'; img-src 'self'; base-uri 'none'; "
                                   "form-action {}; frame-ancestors 'none'",
                                   forms ? "'self'" : "'none'")});
  h.headers.push_back({"x-content-type-options", "nosniff"});
  // same-origin: a form of the page says where it came from (Origin), and no other site learns
  // of the page.
  h.headers.push_back({"referrer-policy", "same-origin"});
  h.headers.push_back({"cache-control", "no-store"});
}

http::Task<void> answer(http::ResponseWriter& out, bool head_only, int status,
                        std::string_view type, std::string_view body, bool forms = false) {
  http::ResponseHead h;
  h.status = status;
  h.headers.push_back({"content-type", std::string(type)});
  secure(h, forms);
  h.content_length = body.size();
  if (!co_await out.writeHead(std::move(h))) co_return;
  if (!head_only && !body.empty() && !co_await out.writeBody(body.data(), body.size())) co_return;
  (void)co_await out.finish();
}

// An address literal (v4, v6 in brackets) or localhost, with any port.
bool localHost(std::string_view authority) {
  if (authority.empty()) return false;
  std::string_view host = authority;
  if (host.front() == '[') {
    size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    return base::isLoopbackHost(host.substr(1, close - 1));
  }
  host = host.substr(0, host.find(':'));
  return base::isLoopbackHost(host);
}

// One server-sent event named `page` carrying TEXT, a line per `data:` field.
std::string pageEvent(std::string_view text) {
  std::string out = "event: page\n";
  while (!text.empty()) {
    size_t nl = text.find('\n');
    out += "data: ";
    out += text.substr(0, nl);
    out += '\n';
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
  }
  return out + "\n";
}

std::string_view kindName(Kind k) { return k == Kind::Edge ? "edge" : "stack"; }

bool sameSecret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

constexpr std::string_view kText = "text/plain; charset=utf-8";

}  // namespace

base::Result<Login> loadLogin(const std::string& addr, const std::string& users_file,
                              const std::string& portal) {
  Login login;
  if (!users_file.empty() || !portal.empty()) {
    if (addr.empty())
      return base::invalid("{}: the dashboard's login needs --admin ADDR",
                           users_file.empty() ? "--admin-access" : "--admin-users");
    ASSIGN_OR_RETURN(config::IngressRule rule, config::adminLogin(users_file, portal));
    login = std::make_shared<const config::IngressRule>(std::move(rule));
  }
  if (!addr.empty()) RETURN_IF_ERROR(checkAddress(addr, login != nullptr));
  return login;
}

base::Result<void> checkAddress(const std::string& addr, bool login) {
  auto hp = base::splitHostPort(addr, /*port_zero_ok=*/true);
  if (!hp) return base::invalid("--admin {}: {}", addr, hp.error().message());
  if (!login && !base::isLoopbackHost(hp->host))
    return base::invalid(
        "--admin {}: not a loopback address, and the dashboard has no login of its own: give "
        "--admin-users FILE (basic auth, an htpasswd file) or --admin-access URL (burrow auth), "
        "or serve it on 127.0.0.1 and reach it through ssh -L",
        addr);
  return {};
}

Handler::Handler(Kind kind, Source& source, Actions* actions, Login login, int max_live)
    : kind_(kind),
      source_(source),
      actions_(actions),
      login_(std::move(login)),
      max_live_(max_live) {
  if (actions_) controls_.csrf = base::hexEncode(base::randomBytes(32));
}

std::string Handler::main() {
  return renderMain(kind_, source_.snapshotJson(), actions_ ? &controls_ : nullptr);
}

http::Task<void> Handler::handle(http::RequestHead& req, http::BodyReader& body,
                                 http::ResponseWriter& out) {
  const bool head_only = req.method == "HEAD";
  if (login_) {
    // A pool per request: the dashboard asks its portal rarely, and a pool kept here would
    // outlive the executor its connections belong to.
    http::OriginPool pool(co_await asio::this_coro::executor);
    http::MiddlewareResult r = co_await http::runMiddlewares(pool, *login_, req, out);
    if (r.answer) {
      http::applyResponseHeaders(r, req, *r.answer);
      r.answer->content_length = r.body.size();
      if (!co_await out.writeHead(std::move(*r.answer))) co_return;
      if (!head_only && !co_await out.writeBody(r.body.data(), r.body.size())) co_return;
      (void)co_await out.finish();
      co_return;
    }
  } else if (!localHost(req.authority)) {
    co_await answer(out, head_only, 421, "text/plain; charset=utf-8",
                    "421 the dashboard answers only requests for a loopback address or "
                    "localhost\n");
    co_return;
  }
  std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
  if (req.method == "POST" && path == "/api/actions" && actions_) {
    co_await act(req, body, out);
    co_return;
  }
  if (req.method != "GET" && !head_only) {
    co_await answer(out, false, 405, kText,
                    actions_ ? "405 GET and HEAD, and POST to /api/actions only\n"
                             : "405 the dashboard is read-only (GET and HEAD only): "
                               "--admin-actions lets it restart, reload and drain\n");
    co_return;
  }
  if (path == "/") {
    co_await answer(out, head_only, 200, "text/html; charset=utf-8",
                    renderPage(kind_, source_.snapshotJson(), actions_ ? &controls_ : nullptr),
                    actions_ != nullptr);
  } else if (path == fmt::format("/api/{}", kindName(kind_))) {
    co_await answer(out, head_only, 200, "application/json", source_.snapshotJson() + "\n");
  } else if (path == "/api/events" && !head_only) {
    co_await events(out);
  } else if (path == "/assets/dashboard.css") {
    co_await answer(out, head_only, 200, "text/css; charset=utf-8", stylesheet());
  } else if (path == "/assets/dashboard.js") {
    co_await answer(out, head_only, 200, "text/javascript; charset=utf-8", script());
  } else {
    co_await answer(out, head_only, 404, "text/plain; charset=utf-8",
                    fmt::format("404 not found: the dashboard serves /, /api/{} and /api/events\n",
                                kindName(kind_)));
  }
}

http::Task<void> Handler::events(http::ResponseWriter& out) {
  std::shared_ptr<State> state = state_;
  if (state->live.fetch_add(1) >= max_live_) {
    state->live.fetch_sub(1);
    co_await answer(
        out, false, 503, "text/plain; charset=utf-8",
        fmt::format("503 {} live pages already: reload to see the page as it is\n", max_live_));
    co_return;
  }
  struct Leave {
    std::shared_ptr<State> state;
    ~Leave() { state->live.fetch_sub(1); }
  } leave{state};
  http::ResponseHead h;
  h.headers.push_back({"content-type", "text/event-stream"});
  secure(h);
  if (!co_await out.writeHead(std::move(h))) co_return;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  // A page closed between two events ends the wait at once.
  out.onAbandoned([&timer] { timer.cancel(); });
  struct Forget {
    http::ResponseWriter& out;
    ~Forget() { out.onAbandoned({}); }
  } forget{out};
  std::string last;
  auto quiet_since = std::chrono::steady_clock::now();
  bool first = true;
  while (!state->stopping) {
    std::string main = this->main();
    std::string chunk;
    if (first) chunk = "retry: 2000\n\n";
    if (main != last) {
      chunk += pageEvent(main);
      last = std::move(main);
      quiet_since = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - quiet_since > std::chrono::seconds(15)) {
      chunk += ": still here\n\n";  // so a proxy or the browser sees a live stream
      quiet_since = std::chrono::steady_clock::now();
    }
    first = false;
    if (!chunk.empty()) {
      if (!co_await out.writeBody(chunk.data(), chunk.size())) co_return;
      if (!co_await out.flush()) co_return;
    }
    timer.expires_after(std::chrono::seconds(1));
    auto [ec] = co_await timer.async_wait(as_tuple(use_awaitable));
    if (ec) co_return;
  }
  (void)co_await out.finish();
}

// POST /api/actions: a form from the page (csrf, action, target). Refused, and logged, without
// the page's token or from another origin; done and logged otherwise, then back to the page.
http::Task<void> Handler::act(http::RequestHead& req, http::BodyReader& body,
                              http::ResponseWriter& out) {
  // With a login, who it was: basic auth and burrow auth both say so in Remote-User.
  const std::string* user = login_ ? req.find("remote-user") : nullptr;
  const std::string client =
      (req.client_ip.empty() ? "-" : req.client_ip) + (user ? " user=" + *user : "");
  auto refuse = [&](int status, std::string why) -> http::Task<void> {
    LOG_WARN("dashboard action refused client={} why={}", client, why);
    co_await answer(out, false, status, kText, fmt::format("{} {}\n", status, why));
  };
  // A browser says where a form came from; a page elsewhere may post here, but not as us.
  const std::string* origin = req.find("origin");
  if (origin && *origin != "http://" + req.authority) {
    std::string why = fmt::format("the form came from {}, not from this page", *origin);
    co_await refuse(403, why);
    co_return;
  }
  const std::string* site = req.find("sec-fetch-site");
  if (site && *site != "same-origin" && *site != "none") {
    std::string why = fmt::format("the form came from another site (Sec-Fetch-Site: {})", *site);
    co_await refuse(403, why);
    co_return;
  }
  const std::string* type = req.find("content-type");
  if (!type || !type->starts_with("application/x-www-form-urlencoded")) {
    co_await refuse(415, "a form (application/x-www-form-urlencoded) is expected");
    co_return;
  }
  std::string text;
  char buf[1024];
  for (;;) {
    auto n = co_await body.read(buf, sizeof buf);
    if (!n) co_return;  // the client went away or sent a broken body: nobody to answer
    if (*n == 0) break;
    text.append(buf, *n);
    if (text.size() > kMaxForm) {
      co_await refuse(413, fmt::format("the form is larger than {} bytes", kMaxForm));
      co_return;
    }
  }
  auto form = base::parseForm(text);
  if (!sameSecret(form["csrf"], controls_.csrf)) {
    co_await refuse(403, "no valid CSRF token: reload the page and try again");
    co_return;
  }
  const std::string& action = form["action"];
  const std::string& target = form["target"];
  auto r = actions_->run(action, target);
  const std::string what = target.empty() ? action : action + " " + target;
  std::string line = base::formatUtc(::time(nullptr)) + " " + what + ": " +
                     (r ? *r : "failed: " + r.error().message());
  controls_.done.insert(controls_.done.begin(), line);
  if (controls_.done.size() > kMaxDone) controls_.done.pop_back();
  if (!r) {
    LOG_WARN("dashboard action={} target={} client={} error={}", action, target, client,
             r.error().message());
    co_await answer(out, false, 409, kText, fmt::format("409 {}: {}\n", what, r.error().message()));
    co_return;
  }
  LOG_INFO("dashboard action={} target={} client={} done={}", action, target, client, *r);
  http::ResponseHead h;
  h.status = 303;  // back to the page, which lists what was done
  h.headers.push_back({"location", "/"});
  h.headers.push_back({"content-type", std::string(kText)});
  secure(h);
  std::string said = fmt::format("303 {}: {}\n", what, *r);
  h.content_length = said.size();
  if (!co_await out.writeHead(std::move(h))) co_return;
  if (!co_await out.writeBody(said.data(), said.size())) co_return;
  (void)co_await out.finish();
}

}  // namespace admin
