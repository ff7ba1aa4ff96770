// host:port as burrow's flags, tokens and config files write it: one parser for all of them.
#include <arpa/inet.h>

#include "base/base.h"

namespace base {

// A DNS name or dotted IPv4 address: labels of letters, digits, '-' and '_' (some private
// zones use it), separated by single dots. Deliberately looser than route hostnames: this
// only has to be something the resolver can be asked about.
bool isDnsHost(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  size_t label = 0;
  for (char c : h) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return label > 0;
}

Result<HostPort> splitHostPort(std::string_view text, bool port_zero_ok) {
  HostPort out;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos)
      return invalid("'{}': missing ']' after IPv6 address", text);
    if (close + 1 >= text.size() || text[close + 1] != ':')
      return invalid("'{}': expected [ADDRESS]:PORT", text);
    std::string addr(text.substr(1, close - 1));
    in6_addr a6{};
    if (::inet_pton(AF_INET6, addr.c_str(), &a6) != 1)
      return invalid("'{}': '{}' is not an IPv6 address", text, addr);
    out.host = std::move(addr);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return invalid("'{}': missing :PORT", text);
    std::string_view host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos)
      return invalid("'{}': write IPv6 addresses in brackets, as [ADDRESS]:PORT", text);
    if (!host.empty() && !isDnsHost(host))
      return invalid("'{}': '{}' is not a valid host name or address", text, host);
    out.host = std::string(host);
    port = text.substr(colon + 1);
  }
  const unsigned low = port_zero_ok ? 0 : 1;
  unsigned long n = 0;
  bool ok = !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == port.npos;
  if (ok) n = std::stoul(std::string(port));
  if (!ok || n < low || n > 65535)
    return invalid("'{}': port must be a number from {} to 65535", text, low);
  out.port = static_cast<uint16_t>(n);
  return out;
}

bool isWildcardHost(std::string_view host) {
  if (host.empty() || host == "0.0.0.0") return true;
  std::string h(host);
  in6_addr a6{};
  return ::inet_pton(AF_INET6, h.c_str(), &a6) == 1 && IN6_IS_ADDR_UNSPECIFIED(&a6);
}

bool isLoopbackHost(std::string_view host) {
  if (host == "localhost") return true;
  std::string h(host);
  in_addr a4{};
  in6_addr a6{};
  if (::inet_pton(AF_INET, h.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  return ::inet_pton(AF_INET6, h.c_str(), &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

}  // namespace base
