// Request and response heads: parsing a client's HTTP/1.1 head into a RequestHead (the
// edge's first contact with untrusted bytes, fuzzed in fuzz/fuzz_request_head.cc), header
// filtering, and serialising response heads. No I/O here.
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>

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
      "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
      "trailer",    "upgrade",    "proxy-authenticate", "proxy-authorization"};
  for (auto h : kHop)
    if (h == lower_name) return true;
  return false;
}

// Names listed in a Connection header are hop-by-hop too.
bool listedInConnection(std::string_view connection_value, std::string_view lower_name) {
  size_t pos = 0;
  while (pos <= connection_value.size()) {
    size_t comma = connection_value.find(',', pos);
    if (comma == std::string_view::npos) comma = connection_value.size();
    auto token = base::trim(connection_value.substr(pos, comma - pos));
    if (base::toLower(token) == lower_name) return true;
    pos = comma + 1;
  }
  return false;
}

namespace {
bool containsToken(std::string_view value, std::string_view token) {
  return listedInConnection(value, token);
}
}  // namespace

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
    std::string name = base::toLower(std::string_view(f.name_string().data(), f.name_string().size()));
    std::string_view value(f.value().data(), f.value().size());
    if (name == "host") {
      ++hosts;
      if (r.authority.empty()) r.authority = std::string(value);
      continue;
    }
    if (name == "upgrade") {
      if (base::toLower(base::trim(value)) == "websocket" &&
          containsToken(connection, "upgrade"))
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
    head->content_length = parser.content_length() ? std::optional<uint64_t>(*parser.content_length())
                                                    : std::nullopt;
    head->has_body = parser.chunked() || head->content_length.value_or(0) > 0;
  }
  return head;
}

std::string serializeResponseHead(const ResponseHead& head, bool chunked, bool close,
                                  int version) {
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
    if (head.content_length) out += "content-length: " + std::to_string(*head.content_length) + "\r\n";
    if (chunked) out += "transfer-encoding: chunked\r\n";
    if (close) out += "connection: close\r\n";
  }
  out += "\r\n";
  return out;
}

bool statusHasNoBody(int status) { return (status >= 100 && status < 200) || status == 204 || status == 304; }

}  // namespace http
