// libFuzzer target: bytes -> parseWgQuick, and -> parseNamespace for namespace "vpn".
// Both files are user input: parsing must never crash, hang or throw, and what parses must
// keep the promises validation makes (one private key, at least one address and peer, the
// highAssurance refusals, ...).
//
// parseNamespace reads wireguard.configFile. The YAML's source is a file in a private
// directory holding one valid wg-quick file, peer.conf, so `configFile: peer.conf` reaches
// the merge. Inputs that could point configFile at something that blocks when read (a FIFO,
// /dev/kmsg, a terminal) are not given to parseNamespace: paths under /dev, /proc, /run and
// /sys, paths climbing out with "..", and double-quoted YAML escapes that could spell them.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/log.h"
#include "config/config.h"
#include "fixture.h"

namespace {

// The path given as the YAML's source, inside the fixture directory.
const std::string& yamlSource() {
  static const std::string source =
      fuzz::makeFixture("netns", {{"peer.conf", fuzz::kPeerConf}}) + "/fuzz.yml";
  return source;
}

bool isCidr(const std::string& s) { return s.find('/') != std::string::npos; }

void checkNamespace(const config::NamespaceConfig& ns) {
  const config::WireguardSettings& wg = ns.wireguard;
  if (ns.name != "vpn") __builtin_trap();
  if (wg.interface.empty() || wg.interface.size() > 15) __builtin_trap();
  if (wg.private_key.empty() == wg.private_key_file.empty()) __builtin_trap();
  if (wg.addresses.empty() || wg.peers.empty()) __builtin_trap();
  if (wg.mtu < 576 || wg.mtu > 65535 || wg.listen_port < 0 || wg.listen_port > 65535) {
    __builtin_trap();
  }
  for (const std::string& a : wg.addresses) {
    if (!isCidr(a)) __builtin_trap();
  }
  for (const config::WireguardPeer& p : wg.peers) {
    if (p.public_key.size() != 44) __builtin_trap();
    for (const std::string& a : p.allowed_ips) {
      if (!isCidr(a)) __builtin_trap();
    }
  }
  if (ns.egress_mode != "allowAllTunnel" && ns.egress_mode != "allowList") __builtin_trap();
  if (ns.egress_mode == "allowList" && ns.egress_allowed_cidrs.empty()) __builtin_trap();
  if (ns.dns_mode == "strict" && ns.dns_servers.empty()) __builtin_trap();
  if (ns.dns_mode != "strict" && ns.dns_mode != "compat") __builtin_trap();
  if (ns.ipv6_mode != "disable") __builtin_trap();
  if (ns.security_profile == "highAssurance") {
    if (!wg.private_key.empty() || ns.dns_mode != "strict" || ns.dns_allow_host_resolver_ipc ||
        ns.egress_allowed_cidrs.empty()) {
      __builtin_trap();
    }
  } else if (ns.security_profile != "default") {
    __builtin_trap();
  }
  for (uint16_t port : ns.publish_tcp) {
    if (port == 0) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    base::setLogLevel(base::LogLevel::Off);  // unknown-key warnings would flood stderr
    return true;
  }();
  (void)quiet;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  if (auto wg = config::parseWgQuick(text, "fuzz.conf")) {
    if (!wg->wireguard.interface.empty()) __builtin_trap();
    for (const config::WireguardPeer& p : wg->wireguard.peers) {
      if (p.public_key.size() != 44 || p.line <= 0) __builtin_trap();
    }
  }

  if (!fuzz::mayEscapeFixture(text)) {
    if (auto ns = config::parseNamespace(text, yamlSource(), "vpn")) checkNamespace(*ns);
  }
  return 0;
}
