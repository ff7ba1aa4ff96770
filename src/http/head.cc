// Request and response heads: parsing a client's HTTP/1.1 head into a RequestHead (the
// edge's first contact with untrusted bytes, fuzzed in fuzz/fuzz_request_head.cc), header
// filtering, and serialising response heads. No I/O here.
#include <algorithm>
#include <cctype>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

#include "base/base.h"
#include "http/http.h"
#include "http/internal.h"

namespace http {

namespace beast = boost::beast;
namespace bhttp = beast::http;

const std::string* RequestHead::find(std::string_view name) const {
  for (const auto& h : headers)
    if (h.name == name) return &h.value;
  return nullptr;
}

const std::string* ResponseHead::find(std::string_view name) const {
  for (const auto& h : headers)
    if (h.name == name) return &h.value;
  return nullptr;
}

std::string_view reasonPhrase(int status) {
  auto r = bhttp::obsolete_reason(static_cast<bhttp::status>(status));
  if (r.empty() || r == "<unknown-status>") return "Unknown";
  return {r.data(), r.size()};
}

bool isHopByHop(std::string_view lower_name) {
  static constexpr std::string_view kHop[] = {
      "connection", "keep-alive", "proxy-connection",   "transfer-encoding",  "te",
      "trailer",    "upgrade",    "proxy-authenticate", "proxy-authorization"};
  for (auto h : kHop)
    if (h == lower_name) return true;
  return false;
}

// Names listed in a Connection header are hop-by-hop too.
namespace {
// Calls fn(token) for each trimmed, lowercased token of a comma-separated field value (a
// list as RFC 9110 5.6.1 defines it), empty ones left out; stops when fn returns true.
template <class Fn>
bool anyToken(std::string_view value, Fn fn) {
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t comma = std::min(value.find(',', pos), value.size());
    auto token = base::trim(value.substr(pos, comma - pos));
    if (!token.empty() && fn(base::toLower(token))) return true;
    pos = comma + 1;
  }
  return false;
}
}  // namespace

bool listedInConnection(std::string_view connection_value, std::string_view lower_name) {
  return anyToken(connection_value, [&](const std::string& t) { return t == lower_name; });
}

namespace {
bool containsToken(std::string_view value, std::string_view token) {
  return listedInConnection(value, token);
}

// RFC 9112 6.1 and 6.3: a request body is framed by chunked as the final transfer coding, or
// by one Content-Length, never by both. Anything else could be read two ways by two servers
// (request smuggling), so it ends the connection: 400, or 501 for codings burrow does not
// decode (the body would cross the tunnel with its coding stripped from the head).
base::Result<void> checkFraming(const boost::beast::http::request_header<>& h, int* status) {
  std::vector<std::string> codings;
  bool has_length = false;
  for (const auto& f : h) {
    if (f.name() == bhttp::field::content_length) has_length = true;
    if (f.name() != bhttp::field::transfer_encoding) continue;
    anyToken(std::string_view(f.value().data(), f.value().size()), [&](const std::string& t) {
      codings.push_back(t);
      return false;
    });
  }
  if (codings.empty()) return {};
  *status = 400;
  if (h.version() < 11) return base::invalid("Transfer-Encoding in an HTTP/1.0 request");
  if (has_length) return base::invalid("both Transfer-Encoding and Content-Length");
  // Parameters (chunked has none) are refused rather than read in a way Beast might not.
  if (std::any_of(codings.begin(), codings.end(),
                  [](const std::string& c) { return c.find(';') != std::string::npos; }))
    return base::invalid("Transfer-Encoding with parameters");
  if (codings.back() != "chunked")
    return base::invalid("Transfer-Encoding does not end in chunked");
  if (std::count(codings.begin(), codings.end(), "chunked") > 1)
    return base::invalid("Transfer-Encoding names chunked twice");
  if (codings.size() > 1) {
    *status = 501;
    return base::invalid("transfer coding '{}' is not supported", codings.front());
  }
  *status = 400;
  return {};
}
}  // namespace

bool validAuthority(std::string_view a) {
  if (a.empty()) return true;  // no authority: routed as such (and never found)
  std::string_view host = a, port;
  if (a.front() == '[') {
    auto close = a.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : a.substr(1, close - 1))
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) return false;
    host = {};
    std::string_view rest = a.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
    }
  } else if (auto colon = a.find(':'); colon != std::string_view::npos) {
    host = a.substr(0, colon);
    port = a.substr(colon + 1);
    if (host.empty()) return false;
  }
  // reg-name of RFC 3986 (unreserved, pct-encoded, sub-delims): no space, '/', '@', '\\'.
  for (char c : host) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) ||
              std::string_view("-._~%!$&'()*+,;=").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  if (port.size() > 5) return false;
  for (char c : port)
    if (c < '0' || c > '9') return false;
  return true;
}

base::Result<void> checkTarget(const RequestHead& r) {
  if (!validAuthority(r.authority))
    return base::invalid("Host '{}' is not a host name or address", r.authority.substr(0, 64));
  if (r.target == "*" ? r.method != "OPTIONS" : r.target.empty() || r.target.front() != '/')
    return base::invalid("request target '{}' is not a path", r.target.substr(0, 64));
  return {};
}

base::Result<RequestHead> requestFromBeast(const bhttp::request_header<>& h, int* status) {
  *status = 400;
  RequestHead r;
  r.method = std::string(h.method_string());
  r.version = h.version() == 10 ? 10 : 11;
  std::string_view target(h.target().data(), h.target().size());
  if (target.empty()) return base::invalid("empty request target");
  if (target.front() == '/' || target == "*") {
    r.target = std::string(target);
  } else if (auto p = target.find("://"); p != std::string_view::npos) {
    // absolute-form: the authority in the target wins over Host (RFC 9112 3.2.2).
    std::string_view rest = target.substr(p + 3);
    size_t slash = rest.find('/');
    r.authority = std::string(rest.substr(0, slash));
    r.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  } else {
    return base::invalid("request target '{}' is not a path", target.substr(0, 64));
  }
  std::string connection;
  int hosts = 0;
  size_t fields = 0;
  for (const auto& f : h) {
    ++fields;
    std::string_view name(f.name_string().data(), f.name_string().size());
    if (base::toLower(name) == "connection") connection += std::string(f.value()) + ",";
  }
  r.headers.reserve(fields + 3);  // room for the X-Forwarded-* the edge adds
  for (const auto& f : h) {
    std::string name =
        base::toLower(std::string_view(f.name_string().data(), f.name_string().size()));
    std::string_view value(f.value().data(), f.value().size());
    if (name == "host") {
      ++hosts;
      if (r.authority.empty()) r.authority = std::string(value);
      continue;
    }
    if (name == "upgrade") {
      if (base::toLower(base::trim(value)) == "websocket" && containsToken(connection, "upgrade"))
        r.upgrade_websocket = true;
      continue;
    }
    if (name == "expect" || isHopByHop(name) || listedInConnection(connection, name)) continue;
    r.headers.push_back({std::move(name), std::string(value)});
  }
  if (hosts > 1) return base::invalid("more than one Host header");
  if (hosts == 0 && r.version == 11 && r.authority.empty())
    return base::invalid("HTTP/1.1 request without a Host header");
  if (r.upgrade_websocket && r.method != "GET") r.upgrade_websocket = false;
  RETURN_IF_ERROR(checkTarget(r));
  RETURN_IF_ERROR(checkFraming(h, status));
  return r;
}

base::Result<RequestHead> parseRequestHead(std::string_view bytes, const ServerLimits& limits,
                                           int* status) {
  bhttp::request_parser<bhttp::empty_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(limits.max_head_bytes));
  parser.eager(false);
  beast::error_code ec;
  size_t off = 0;
  while (off < bytes.size() && !parser.is_header_done()) {
    size_t n = parser.put(asio::buffer(bytes.data() + off, bytes.size() - off), ec);
    if (ec == bhttp::error::need_more) break;
    if (ec) {
      *status = ec == bhttp::error::header_limit ? 431 : 400;
      return base::invalid("malformed request head: {}", ec.message());
    }
    if (n == 0) break;
    off += n;
  }
  if (!parser.is_header_done()) {
    *status = 400;
    return base::invalid("incomplete request head");
  }
  auto head = requestFromBeast(parser.get().base(), status);
  if (head) {
    head->content_length =
        parser.content_length() ? std::optional<uint64_t>(*parser.content_length()) : std::nullopt;
    head->has_body = parser.chunked() || head->content_length.value_or(0) > 0;
  }
  return head;
}

base::Result<std::vector<ParsedRequest>> parseRequestStream(std::string_view bytes,
                                                            const ServerLimits& limits,
                                                            int* status) {
  constexpr uint64_t kMaxBody = 1 << 20;  // enough for tests and fuzzing
  std::vector<ParsedRequest> out;
  size_t off = 0;
  while (off < bytes.size()) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.max_head_bytes));
    parser.body_limit(kMaxBody);
    parser.eager(true);
    beast::error_code ec;
    bool head_checked = false;
    ParsedRequest one;
    while (!parser.is_done()) {
      if (off >= bytes.size()) {
        *status = 400;
        return base::invalid("request {} is incomplete", out.size() + 1);
      }
      size_t n = parser.put(asio::buffer(bytes.data() + off, bytes.size() - off), ec);
      off += n;
      if (ec == bhttp::error::need_more) ec = {};
      if (ec) {
        *status = ec == bhttp::error::header_limit ? 431 : 400;
        return base::invalid("request {}: {}", out.size() + 1, ec.message());
      }
      if (n == 0 && !parser.is_done()) {
        *status = 400;
        return base::invalid("request {} is incomplete", out.size() + 1);
      }
      if (parser.is_header_done() && !head_checked) {
        head_checked = true;
        auto head = requestFromBeast(parser.get().base(), status);
        if (!head) return base::invalid("request {}: {}", out.size() + 1, head.error().message());
        if (parser.content_length()) head->content_length = *parser.content_length();
        head->has_body = parser.chunked() || head->content_length.value_or(0) > 0;
        if (head->upgrade_websocket) {  // the rest is the upgraded stream, not requests
          out.push_back({std::move(*head), {}});
          return out;
        }
        one.head = std::move(*head);
      }
    }
    one.body = std::move(parser.get().body());
    out.push_back(std::move(one));
  }
  return out;
}

std::string serializeResponseHead(const ResponseHead& head, bool chunked, bool close, int version) {
  std::string out;
  out.reserve(256);
  out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(head.status);
  out += ' ';
  out += reasonPhrase(head.status);
  out += "\r\n";
  for (const auto& h : head.headers) {
    if (h.name == "content-length") continue;
    out += h.name;
    out += ": ";
    out += h.value;
    out += "\r\n";
  }
  if (head.status == 101) {
    out += "connection: upgrade\r\nupgrade: websocket\r\n";
  } else {
    if (head.content_length)
      out += "content-length: " + std::to_string(*head.content_length) + "\r\n";
    if (chunked) out += "transfer-encoding: chunked\r\n";
    if (close) out += "connection: close\r\n";
  }
  out += "\r\n";
  return out;
}

bool statusHasNoBody(int status) {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

}  // namespace http
