// The confinement namespace's nftables policy: rendered as nft(8) text from a namespace's
// config, checked with a dry run and applied through libnftables, in the namespace of the
// calling thread (a libnftables context acts on the namespace of the thread that made it).
#pragma once

#include <string>

#include "base/result.h"
#include "config/config.h"

namespace netns {

// Names of the links inside the namespace that the policy refers to.
struct PolicyLinks {
  std::string tunnel;        // the WireGuard link
  std::string host_link;     // the host link's end inside; "" when nothing is published
  std::string host_address;  // the host's end of it
};

// The whole ruleset: one `table inet burrow`, deny by default on input, output and forward,
// with named sets (dns_servers, dns_ports, allowed_cidrs, allowed_ports, published_tcp,
// published_udp, accessible_from, vpn_tcp, vpn_udp). Input: loopback, replies, then new
// connections to published and mapped ports from the host and accessibleFrom on the host link,
// and to openVPNPorts through the tunnel. Output order: loopback; IPv6 dropped; replies on the
// host link; anything not leaving through the tunnel dropped; replies from openVPNPorts; DNS
// policy (strict mode: pinned servers allowed, every other DNS-like port refused); then the
// egress mode.
std::string renderPolicy(const config::NamespaceConfig& ns, const PolicyLinks& links);

// The host's nftables table for namespace NAME: "burrow_NAME".
std::string hostTable(const std::string& name);
// portMappings, in the host's namespace: `table ip burrow_NAME`, whose prerouting chain
// forwards (DNAT) each mapped port of the host's own addresses to `namespace_address`, for
// clients in accessibleFrom only. "" when there is nothing to map.
std::string renderHostNat(const config::NamespaceConfig& ns, const std::string& namespace_address);

// Runs `ruleset` through libnftables in the calling thread's network namespace: first as a
// dry run, then for real. The error carries nft's own message.
base::Result<void> applyPolicy(const std::string& ruleset);

}  // namespace netns
