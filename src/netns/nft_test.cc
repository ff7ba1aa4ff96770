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
  std::string r = renderPolicy(base(), {"wg-vpn", ""});
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
  std::string r = renderPolicy(ns, {"wg-vpn", ""});
  EXPECT_EQ(r.find("@dns_ports ip daddr"), std::string::npos);
  EXPECT_EQ(r.find("@dns_ports drop"), std::string::npos);
}

TEST(NftPolicy, AllowListOnlyListedDestinationsAndIcmpErrors) {
  auto ns = base();
  ns.egress_mode = "allowList";
  ns.egress_allowed_cidrs = {"10.9.0.0/16", "fd00::/8"};
  ns.egress_allowed_ports = {443};
  std::string r = renderPolicy(ns, {"wg-vpn", ""});
  at(r, "flags interval;\n    elements = { 10.9.0.0/16 };");  // IPv6 never leaves: not listed
  at(r, "elements = { 443 };");
  at(r, "ip daddr @allowed_cidrs meta l4proto { tcp, udp } th dport @allowed_ports accept");
  at(r, "icmp type { destination-unreachable, time-exceeded, parameter-problem } accept");
  EXPECT_EQ(r.find("    accept\n  }\n}"), std::string::npos) << r;

  ns.egress_allowed_ports.clear();
  r = renderPolicy(ns, {"wg-vpn", ""});
  at(r, "ip daddr @allowed_cidrs accept");
}

TEST(NftPolicy, PublishedPortsOnlyOnTheHostLink) {
  auto ns = base();
  ns.publish_tcp = {8080, 9090};
  std::string r = renderPolicy(ns, {"wg-vpn", "host"});
  at(r, "elements = { 8080, 9090 };");
  size_t in = at(r, "iifname \"host\" tcp dport @published_tcp ct state new accept");
  size_t out = at(r, "oifname \"host\" tcp sport @published_tcp ct state established accept");
  EXPECT_LT(in, out);
  EXPECT_LT(out, at(r, "oifname != \"wg-vpn\" drop"));
}

}  // namespace
}  // namespace netns
