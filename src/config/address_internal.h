// Private to src/config: IP addresses and small numbers as the parsers read them (namespace
// files' CIDRs, rules' ClientIP). Pure functions.
#pragma once

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace config {

// Digits only (no sign, no space), at most `max`.
inline std::optional<int> parseNumber(std::string_view s, int max) {
  if (s.empty() || s.size() > 10 || s.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  long long v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v > max) return std::nullopt;
  return static_cast<int>(v);
}

struct IpAddress {
  int family = 0;                   // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};  // network order; the first 4 for AF_INET

  int bits() const { return family == AF_INET ? 32 : 128; }
};

// An IPv4 address in dotted-quad form or an IPv6 address (no zone, no brackets).
inline std::optional<IpAddress> parseIp(std::string_view text) {
  // inet_pton(3) reads a C string: an embedded NUL would cut the text short.
  if (text.empty() || text.size() > INET6_ADDRSTRLEN || text.find('\0') != std::string::npos) {
    return std::nullopt;
  }
  const std::string s(text);
  IpAddress a;
  if (::inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET;
    return a;
  }
  if (::inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET6;
    return a;
  }
  return std::nullopt;
}

}  // namespace config
