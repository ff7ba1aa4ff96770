// parseService: the `service:` value of an ingress rule (and --url). Errors carry no
// file:line; the caller knows where the value came from and prefixes it.
#include <arpa/inet.h>

#include <charconv>
#include <string>
#include <string_view>

#include "base/base.h"
#include "config/config.h"

namespace config {
namespace {

constexpr std::string_view kAcceptedForms =
    "http://HOST[:PORT], https://HOST[:PORT], ws://HOST[:PORT], wss://HOST[:PORT], "
    "unix:/PATH, unix+tls:/PATH, tcp://HOST:PORT, ssh://HOST[:PORT], rdp://HOST[:PORT], "
    "smb://HOST[:PORT], http_status:NNN or hello_world";

// Parses a decimal number made only of digits; false on anything else or overflow.
bool parseDigits(std::string_view s, int max, int* out) {
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string_view::npos) {
    return false;
  }
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v > max) return false;
  *out = v;
  return true;
}

bool hasSpaceOrControl(std::string_view s) {
  for (unsigned char c : s) {
    if (c <= 0x20 || c == 0x7f) return true;
  }
  return false;
}

base::Result<Service> parseUnix(std::string_view text, std::string_view prefix, ServiceKind kind) {
  std::string_view path = text.substr(prefix.size());
  if (path.empty()) {
    return base::invalid("'{}' names no socket: write it as {}/run/app.sock", text, prefix);
  }
  Service s;
  s.kind = kind;
  s.text = std::string(text);
  s.unix_path = std::string(path);
  return s;
}

base::Result<Service> parseStatus(std::string_view text, std::string_view prefix) {
  int status = 0;
  if (!parseDigits(text.substr(prefix.size()), 999, &status) || status < 100 || status > 599) {
    return base::invalid(
        "'{}' is an invalid HTTP status: http_status: needs a number from 100 to 599", text);
  }
  Service s;
  s.kind = ServiceKind::HttpStatus;
  s.text = std::string(text);
  s.status = status;
  return s;
}

}  // namespace

base::Result<Service> parseService(std::string_view text, bool bracket_names) {
  if (text.empty()) {
    return base::invalid("service is empty; accepted forms: {}", kAcceptedForms);
  }
  if (hasSpaceOrControl(text)) {
    return base::invalid("service '{}' contains white space or control characters", text);
  }
  // unix+tls: first: "unix:" is its prefix.
  if (text.starts_with("unix+tls:")) return parseUnix(text, "unix+tls:", ServiceKind::UnixTls);
  if (text.starts_with("unix:")) return parseUnix(text, "unix:", ServiceKind::Unix);
  if (text.starts_with("http_status:")) return parseStatus(text, "http_status:");
  // cloudflared accepts all three spellings.
  if (text == "hello_world" || text == "hello-world" || text == "helloworld") {
    Service s;
    s.kind = ServiceKind::HelloWorld;
    s.text = std::string(text);
    return s;
  }
  if (text == "bastion") {
    return base::invalid("service 'bastion' is not supported by burrow");
  }

  size_t sep = text.find("://");
  if (sep == std::string_view::npos || sep == 0) {
    return base::invalid(
        "'{}' is an invalid address, please make sure it has a scheme and a hostname "
        "(e.g. http://localhost:8080)",
        text);
  }
  std::string scheme = base::toLower(text.substr(0, sep));
  Service s;
  s.text = std::string(text);
  if (scheme == "http" || scheme == "ws") {
    // WebSocket is an HTTP/1.1 upgrade on the same connection: no separate kind.
    s.kind = ServiceKind::Http;
    s.port = 80;
  } else if (scheme == "https" || scheme == "wss") {
    s.kind = ServiceKind::Https;
    s.port = 443;
  } else if (scheme == "tcp" || scheme == "ssh" || scheme == "rdp" || scheme == "smb") {
    s.kind = ServiceKind::Tcp;
    s.port = scheme == "ssh" ? 22 : scheme == "rdp" ? 3389 : scheme == "smb" ? 445 : 0;
  } else {
    return base::invalid("'{}' has an unknown service scheme '{}'; accepted forms: {}", text,
                         scheme, kAcceptedForms);
  }

  std::string_view rest = text.substr(sep + 3);
  size_t auth_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, auth_end);
  std::string_view tail = auth_end == std::string_view::npos ? "" : rest.substr(auth_end);
  // A lone "/" names the root, which is what every request keeps anyway.
  if (!tail.empty() && tail != "/") {
    return base::invalid(
        "'{}' is an invalid address, ingress rules cannot proxy to a path: the origin receives "
        "the request's own path; remove '{}'",
        text, tail);
  }
  if (authority.find('@') != std::string_view::npos) {
    return base::invalid("'{}': user info (user@host) in a service URL is not supported", text);
  }

  std::string_view host;
  std::string_view port;
  bool has_port = false;
  if (authority.starts_with('[')) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return base::invalid("'{}': IPv6 address is missing its closing ']'", text);
    }
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        return base::invalid("'{}': unexpected '{}' after the IPv6 address", text, after);
      }
      has_port = true;
      port = after.substr(1);
    }
    in6_addr addr;
    if (bracket_names && !host.empty() && host.find(':') == std::string_view::npos) {
      s.name = std::string(host);  // no IPv6 address lacks a ':'
    } else if (!host.empty() && inet_pton(AF_INET6, std::string(host).c_str(), &addr) != 1) {
      return base::invalid("'{}': '{}' is not an IPv6 address", text, host);
    }
  } else {
    size_t colon = authority.find(':');
    if (colon != std::string_view::npos &&
        authority.find(':', colon + 1) != std::string_view::npos) {
      return base::invalid(
          "'{}': an IPv6 address must be written in brackets, e.g. http://[::1]:8080", text);
    }
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port = authority.substr(colon + 1);
    }
  }
  if (host.empty() && s.name.empty()) {
    return base::invalid(
        "'{}' is an invalid address, please make sure it has a scheme and a hostname "
        "(e.g. http://localhost:8080)",
        text);
  }
  if (has_port) {
    int p = 0;
    if (!parseDigits(port, 65535, &p) || p == 0) {
      return base::invalid("'{}' has an invalid port '{}' (1-65535)", text, port);
    }
    s.port = static_cast<uint16_t>(p);
  }
  if (s.kind == ServiceKind::Tcp && s.port == 0)
    return base::invalid("'{}': a tcp:// service needs a port, e.g. tcp://localhost:5432", text);
  if (s.name.empty()) s.host = std::string(host);
  return s;
}

}  // namespace config
