// Traefik's forwardAuth: before the origin, a GET to the authentication server with the client's
// headers and X-Forwarded-*; its 2xx lets the request on (with authResponseHeaders copied onto
// it), anything else is the client's answer. The exchange goes through the origin pool, so
// connections to the authentication server are kept alive and reused like an origin's. A
// server that cannot be asked (refused, timed out, garbled) gets the request refused with 500:
// never let through.
#include <re2/re2.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "base/base.h"
#include "http/http.h"
#include "http/internal.h"

namespace http {
namespace {

using config::Middleware;

// Go's http.CanonicalHeaderKey of a lowercase name ("remote-user" -> "Remote-User"): what
// Traefik matches authResponseHeadersRegex against.
std::string canonicalName(std::string_view lower) {
  std::string out(lower);
  bool up = true;
  for (char& c : out) {
    if (up && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    up = c == '-';
  }
  return out;
}

bool isProxyHeader(std::string_view name) { return name.starts_with("proxy-"); }

bool isForwardedHeader(std::string_view name) {
  return name == "x-forwarded-for" || name == "x-forwarded-method" || name == "x-forwarded-proto" ||
         name == "x-forwarded-host" || name == "x-forwarded-uri" || name == "x-forwarded-port";
}

// The port the client addressed: the authority's, else the scheme's default.
std::string portOf(const RequestHead& req) {
  std::string_view a = req.authority;
  size_t colon = a.rfind(':');
  size_t bracket = a.rfind(']');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket))
    return std::string(a.substr(colon + 1));
  return req.scheme == "https" ? "443" : "80";
}

// A Location relative to the authentication server's address made absolute against it, as
// Go's Response.Location() does.
std::string absoluteLocation(const Middleware::Forward& f, std::string_view loc) {
  size_t colon = loc.find(':');
  bool has_scheme = colon != std::string_view::npos && colon > 0 &&
                    std::all_of(loc.begin(), loc.begin() + static_cast<std::ptrdiff_t>(colon),
                                [](char c) {
                                  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                         (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
                                }) &&
                    !(loc[0] >= '0' && loc[0] <= '9');
  if (has_scheme) return std::string(loc);
  std::string scheme = f.service.kind == config::ServiceKind::Https ? "https" : "http";
  if (loc.starts_with("//")) return fmt::format("{}:{}", scheme, loc);
  std::string base = fmt::format("{}://{}", scheme, f.authority);
  std::string_view path = std::string_view(f.target).substr(0, f.target.find('?'));
  if (loc.starts_with('/')) return base + std::string(loc);
  if (loc.starts_with('?')) return fmt::format("{}{}{}", base, path, loc);
  return fmt::format("{}{}{}", base, path.substr(0, path.rfind('/') + 1), loc);
}

// Collects the authentication server's answer: its head, and its body only when it is to go
// back to the client (not for a 2xx), up to the limit.
class AuthAnswer final : public ResponseWriter {
 public:
  AuthAnswer(ResponseWriter& client, size_t max_body) : client_(client), max_body_(max_body) {}

  Task<base::Result<void>> writeHead(ResponseHead head) override {
    head_ = std::move(head);
    written_ = true;
    co_return base::Result<void>{};
  }
  Task<base::Result<void>> writeBody(const char* data, size_t len) override {
    if (head_.status >= 200 && head_.status < 300) co_return base::Result<void>{};  // dropped
    if (len > max_body_ - body_.size()) {
      too_large_ = true;
      co_return base::invalid("the answer's body is larger than {} bytes", max_body_);
    }
    body_.append(data, len);
    co_return base::Result<void>{};
  }
  Task<base::Result<void>> finish() override {
    finished_ = true;
    co_return base::Result<void>{};
  }
  Task<base::Result<void>> flush() override { co_return base::Result<void>{}; }
  bool headWritten() const override { return written_; }
  // The client going away ends the exchange with the authentication server too.
  void onAbandoned(std::function<void()> fn) override { client_.onAbandoned(std::move(fn)); }

  ResponseHead& head() { return head_; }
  std::string& body() { return body_; }
  bool finished() const { return finished_; }
  bool tooLarge() const { return too_large_; }

 private:
  ResponseWriter& client_;
  const size_t max_body_;
  ResponseHead head_;
  std::string body_;
  bool written_ = false;
  bool finished_ = false;
  bool too_large_ = false;
};

class NoBody final : public BodyReader {
 public:
  Task<base::Result<size_t>> read(char*, size_t) override { co_return size_t{0}; }
  void cancel() override {}
};

}  // namespace

RequestHead forwardAuthRequest(const Middleware& m, const RequestHead& req) {
  const auto& f = m.forward;
  const bool trust = f.trust_forward_header;
  RequestHead out;
  out.method = "GET";
  out.target = f.target;
  out.scheme = f.service.kind == config::ServiceKind::Https ? "https" : "http";
  out.authority = f.authority;
  out.version = 11;
  // The client's headers, less the hop-by-hop ones (already gone from a RequestHead, checked
  // again here), Content-Length (no body is sent) and the X-Forwarded-* set below; only
  // authRequestHeaders when given.
  const std::string* connection = req.find("connection");
  for (const Header& h : req.headers) {
    if (isHopByHop(h.name) || isProxyHeader(h.name) || h.name == "content-length" ||
        isForwardedHeader(h.name) ||
        (connection != nullptr && listedInConnection(*connection, h.name)))
      continue;
    if (!f.request_headers.empty() && std::find(f.request_headers.begin(), f.request_headers.end(),
                                                h.name) == f.request_headers.end())
      continue;
    out.headers.push_back(h);
  }
  // X-Forwarded-For: the address the edge saw. With trustForwardHeader, after the chain the
  // client sent (the edge has already appended that address to it).
  const std::string* xff = req.find("x-forwarded-for");
  if (trust && xff != nullptr)
    out.headers.push_back({"x-forwarded-for", *xff});
  else if (!req.client_ip.empty())
    out.headers.push_back({"x-forwarded-for", req.client_ip});
  // The others: the client's own copy when trusted and present, else the request's.
  auto set = [&](std::string_view name, std::string value) {
    const std::string* given = req.find(name);
    out.headers.push_back(
        {std::string(name), trust && given != nullptr && !given->empty() ? *given : value});
  };
  set("x-forwarded-method", req.method);
  set("x-forwarded-proto", req.scheme.empty() ? "http" : req.scheme);
  set("x-forwarded-host", req.authority);
  set("x-forwarded-uri", req.target);
  set("x-forwarded-port", portOf(req));
  return out;
}

void copyAuthResponseHeaders(const Middleware& m, const ResponseHead& auth, RequestHead& req) {
  const auto& f = m.forward;
  auto listed = [&](const std::string& name) {
    return std::find(f.response_headers.begin(), f.response_headers.end(), name) !=
           f.response_headers.end();
  };
  auto matched = [&](const std::string& name) {
    return f.response_re != nullptr && re2::RE2::PartialMatch(canonicalName(name), *f.response_re);
  };
  // The client's copies go first, whether or not the server sent the header.
  std::erase_if(req.headers, [&](const Header& h) { return listed(h.name) || matched(h.name); });
  for (const Header& h : auth.headers)
    if (listed(h.name) || matched(h.name)) req.headers.push_back(h);
}

Task<bool> forwardAuth(OriginPool& pool, const Middleware& m, RequestHead& req,
                       ResponseWriter& client, MiddlewareResult* result) {
  const auto& f = m.forward;
  RequestHead ask = forwardAuthRequest(m, req);
  NoBody none;
  AuthAnswer got(client, static_cast<size_t>(std::max<int64_t>(0, f.max_response_body)));
  auto failed = co_await roundTrip(pool, f.service, f.origin, ask, none, got);
  if (!failed && !got.finished()) failed = RoundTripError{"the answer did not complete"};
  if (failed || got.tooLarge()) {
    if (!failed || !failed->abandoned)
      LOG_WARN(
          "forwardAuth refused the request middleware={} address={} error={}", m.name, f.address,
          failed ? failed->message : fmt::format("answer body over {} bytes", f.max_response_body));
    ResponseHead head;
    head.status = 500;
    head.headers.push_back({"content-type", "text/plain; charset=utf-8"});
    result->body = fmt::format("500 {}\n", reasonPhrase(500));
    result->answer = std::move(head);
    co_return false;
  }
  ResponseHead& head = got.head();
  if (head.status >= 200 && head.status < 300) {
    copyAuthResponseHeaders(m, head, req);
    co_return true;
  }
  // Anything else goes to the client as the server gave it: status, headers and body.
  std::erase_if(head.headers,
                [](const Header& h) { return isHopByHop(h.name) || h.name == "content-length"; });
  if (!f.preserve_location) {
    for (Header& h : head.headers)
      if (h.name == "location" && !h.value.empty()) h.value = absoluteLocation(f, h.value);
  }
  head.content_length.reset();
  result->body = std::move(got.body());
  result->answer = std::move(head);
  co_return false;
}

}  // namespace http
