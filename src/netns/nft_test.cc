// The rendered nftables policy: what it allows, and the order the seed asks for.
#include <gtest/gtest.h>

#include "netns/nft.h"

namespace netns {
namespace {

config::NamespaceConfig base() {
  config::NamespaceConfig ns;
  ns.name = "vpn";
  ns.dns_mode = "strict";
  ns.dns_servers = {"10.2.0.1"};
  ns.egress_mode = "allowAllTunnel";
  return ns;
}

size_t at(const std::string& text, const std::string& what) {
  size_t p = text.find(what);
  EXPECT_NE(p, std::string::npos) << "missing: " << what << "\n" << text;
  return p;
}

TEST(NftPolicy, DenyByDefaultAndDnsBeforeTunnelEgress) {
  std::string r = renderPolicy(base(), {"wg-vpn", "", ""});
  at(r, "chain input {\n    type filter hook input priority filter; policy drop;");
  at(r, "chain output {\n    type filter hook output priority filter; policy drop;");
  at(r, "chain forward {\n    type filter hook forward priority filter; policy drop;");
  at(r, "elements = { 10.2.0.1 };");
  at(r, "elements = { 53, 853, 5353, 5355 };");
  size_t v6 = at(r, "meta nfproto ipv6 drop");
  size_t only_wg = at(r, "oifname != \"wg-vpn\" drop");
  size_t dns_ok = at(r, "th dport @dns_ports ip daddr @dns_servers accept");
  size_t dns_no = at(r, "th dport @dns_ports drop");
  size_t egress = at(r, "    accept\n  }\n}");
  EXPECT_LT(v6, only_wg);
  EXPECT_LT(only_wg, dns_ok);
  EXPECT_LT(dns_ok, dns_no);
  EXPECT_LT(dns_no, egress);
  EXPECT_EQ(r.find("published_tcp ct state"), std::string::npos);
}

TEST(NftPolicy, CompatModeHasNoDnsRules) {
  auto ns = base();
  ns.dns_mode = "compat";
  std::string r = renderPolicy(ns, {"wg-vpn", "", ""});
  EXPECT_EQ(r.find("@dns_ports ip daddr"), std::string::npos);
  EXPECT_EQ(r.find("@dns_ports drop"), std::string::npos);
}

TEST(NftPolicy, AllowListOnlyListedDestinationsAndIcmpErrors) {
  auto ns = base();
  ns.egress_mode = "allowList";
  ns.egress_allowed_cidrs = {"10.9.0.0/16", "fd00::/8"};
  ns.egress_allowed_ports = {443};
  std::string r = renderPolicy(ns, {"wg-vpn", "", ""});
  at(r, "flags interval;\n    elements = { 10.9.0.0/16 };");  // IPv6 never leaves: not listed
  at(r, "elements = { 443 };");
  at(r, "ip daddr @allowed_cidrs meta l4proto { tcp, udp } th dport @allowed_ports accept");
  at(r, "icmp type { destination-unreachable, time-exceeded, parameter-problem } accept");
  EXPECT_EQ(r.find("    accept\n  }\n}"), std::string::npos) << r;

  ns.egress_allowed_ports.clear();
  r = renderPolicy(ns, {"wg-vpn", "", ""});
  at(r, "ip daddr @allowed_cidrs accept");
}

TEST(NftPolicy, PublishedPortsOnlyOnTheHostLinkFromTheHostAndAccessibleFrom) {
  auto ns = base();
  ns.publish_tcp = {8080, 9090};
  ns.publish_udp = {7000};
  ns.port_mappings = {{80, 8080, true, false}, {53000, 5000, true, true}};
  ns.accessible_from = {"192.168.1.0/24"};
  std::string r = renderPolicy(ns, {"wg-vpn", "host", "169.254.7.1"});
  at(r, "set published_tcp {\n    type inet_service;\n    elements = { 5000, 8080, 9090 };");
  at(r, "set published_udp {\n    type inet_service;\n    elements = { 5000, 7000 };");
  at(r, "elements = { 169.254.7.1, 192.168.1.0/24 };");
  size_t in = at(r,
                 "iifname \"host\" ip saddr @accessible_from tcp dport @published_tcp ct state "
                 "new accept");
  at(r, "iifname \"host\" ip saddr @accessible_from udp dport @published_udp ct state new accept");
  size_t out = at(r,
                  "oifname \"host\" ip daddr @accessible_from tcp sport @published_tcp ct state "
                  "established accept");
  at(r,
     "oifname \"host\" ip daddr @accessible_from udp sport @published_udp ct state "
     "established accept");
  EXPECT_LT(in, out);
  EXPECT_LT(out, at(r, "oifname != \"wg-vpn\" drop"));
}

TEST(NftPolicy, OpenVpnPortsTakeNewConnectionsThroughTheTunnelOnly) {
  auto ns = base();
  ns.egress_mode = "allowList";
  ns.egress_allowed_cidrs = {"10.9.0.0/16"};
  ns.open_vpn_tcp = {51413};
  ns.open_vpn_udp = {51413, 6881};
  std::string r = renderPolicy(ns, {"wg-vpn", "", ""});
  at(r, "set vpn_udp {\n    type inet_service;\n    elements = { 51413, 6881 };");
  at(r, "iifname \"wg-vpn\" tcp dport @vpn_tcp ct state new accept");
  at(r, "iifname \"wg-vpn\" udp dport @vpn_udp ct state new accept");
  // Their replies pass the allow list, and leave through the tunnel only.
  size_t only_wg = at(r, "oifname != \"wg-vpn\" drop");
  size_t reply = at(r, "udp sport @vpn_udp ct state established accept");
  EXPECT_LT(only_wg, reply);
  EXPECT_LT(reply, at(r, "ip daddr @allowed_cidrs"));
}

TEST(NftHostNat, MappedPortsOfTheHostsAddressesForAccessibleFromOnly) {
  auto ns = base();
  EXPECT_EQ(renderHostNat(ns, "169.254.7.2"), "");
  ns.port_mappings = {{80, 8080, true, false}, {53000, 5000, true, true}};
  EXPECT_EQ(renderHostNat(ns, "169.254.7.2"), "");  // nobody may use them
  ns.accessible_from = {"192.168.1.0/24"};
  std::string r = renderHostNat(ns, "169.254.7.2");
  at(r, "add table ip burrow_vpn\ndelete table ip burrow_vpn\ntable ip burrow_vpn {");
  at(r, "type nat hook prerouting priority dstnat; policy accept;");
  at(r, "ip saddr @accessible_from fib daddr type local tcp dport 80 dnat to 169.254.7.2:8080");
  at(r, "tcp dport 53000 dnat to 169.254.7.2:5000");
  at(r, "udp dport 53000 dnat to 169.254.7.2:5000");
  EXPECT_EQ(r.find("udp dport 80 "), std::string::npos);
}

}  // namespace
}  // namespace netns
