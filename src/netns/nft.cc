#include "netns/nft.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <nftables/libnftables.h>

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <type_traits>
#include <vector>

namespace netns {
namespace {

bool isIpv4(const std::string& addr_or_cidr) { return addr_or_cidr.find(':') == std::string::npos; }

// "set NAME { type TYPE; [flags interval;] [elements = { a, b };] }" for the IPv4 members of
// `items` (IPv6 never leaves the namespace: it is dropped before any set is consulted).
template <class T>
std::string set(const std::string& name, const char* type, const std::vector<T>& items,
                bool interval = false) {
  std::vector<std::string> members;
  for (const auto& i : items) {
    std::string s = fmt::format("{}", i);
    if (isIpv4(s)) members.push_back(std::move(s));
  }
  std::string out = fmt::format("  set {} {{\n    type {};\n", name, type);
  if (interval) out += "    flags interval;\n";
  if (!members.empty()) out += fmt::format("    elements = {{ {} }};\n", fmt::join(members, ", "));
  return out + "  }\n";
}

}  // namespace

namespace {

// The ports of `mappings` open in the namespace for `tcp` (else udp), after `published`.
std::vector<uint16_t> publishedPorts(const std::vector<uint16_t>& published,
                                     const std::vector<config::NamespaceConfig::PortMapping>& maps,
                                     bool tcp) {
  std::vector<uint16_t> out = published;
  for (const auto& m : maps)
    if (tcp ? m.tcp : m.udp) out.push_back(m.to);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

std::string renderPolicy(const config::NamespaceConfig& ns, const PolicyLinks& links) {
  const bool strict = ns.dns_mode == "strict";
  const bool allow_list = ns.egress_mode == "allowList";
  const bool publish = !links.host_link.empty();
  const auto tcp = publishedPorts(ns.publish_tcp, ns.port_mappings, true);
  const auto udp = publishedPorts(ns.publish_udp, ns.port_mappings, false);
  std::vector<std::string> sources = ns.accessible_from;
  if (publish) sources.insert(sources.begin(), links.host_address);
  std::string r = "flush ruleset\ntable inet burrow {\n";
  r += set("dns_servers", "ipv4_addr", ns.dns_servers);
  r += set("dns_ports", "inet_service", std::vector<int>{53, 853, 5353, 5355});
  r += set("allowed_cidrs", "ipv4_addr", ns.egress_allowed_cidrs, true);
  r += set("allowed_ports", "inet_service", ns.egress_allowed_ports);
  r += set("published_tcp", "inet_service", tcp);
  r += set("published_udp", "inet_service", udp);
  r += set("accessible_from", "ipv4_addr", sources, true);
  r += set("vpn_tcp", "inet_service", ns.open_vpn_tcp);
  r += set("vpn_udp", "inet_service", ns.open_vpn_udp);

  // Published ports take new connections from the host and accessibleFrom only, on the host
  // link; openVPNPorts from anyone, through the tunnel. Each answers on the way it came in.
  r += "  chain input {\n    type filter hook input priority filter; policy drop;\n";
  r += "    iif \"lo\" accept\n    meta nfproto ipv6 drop\n";
  r += "    ct state established,related accept\n";
  if (publish) {
    for (const char* proto : {"tcp", "udp"})
      r += fmt::format(
          "    iifname \"{}\" ip saddr @accessible_from {} dport @published_{} ct state new "
          "accept\n",
          links.host_link, proto, proto);
  }
  for (const char* proto : {"tcp", "udp"})
    r += fmt::format("    iifname \"{}\" {} dport @vpn_{} ct state new accept\n", links.tunnel,
                     proto, proto);
  r += "  }\n";

  r += "  chain forward {\n    type filter hook forward priority filter; policy drop;\n  }\n";

  r += "  chain output {\n    type filter hook output priority filter; policy drop;\n";
  r += "    oif \"lo\" accept\n    meta nfproto ipv6 drop\n";
  if (publish) {
    for (const char* proto : {"tcp", "udp"})
      r += fmt::format(
          "    oifname \"{}\" ip daddr @accessible_from {} sport @published_{} ct state "
          "established accept\n",
          links.host_link, proto, proto);
  }
  r += fmt::format("    oifname != \"{}\" drop\n", links.tunnel);
  for (const char* proto : {"tcp", "udp"})
    r += fmt::format("    {} sport @vpn_{} ct state established accept\n", proto, proto);
  if (strict) {
    r += "    meta l4proto { tcp, udp } th dport @dns_ports ip daddr @dns_servers accept\n";
    r += "    meta l4proto { tcp, udp } th dport @dns_ports drop\n";
  }
  if (!allow_list) {
    r += "    accept\n";
  } else {
    if (ns.egress_allowed_ports.empty())
      r += "    ip daddr @allowed_cidrs accept\n";
    else
      r += "    ip daddr @allowed_cidrs meta l4proto { tcp, udp } th dport @allowed_ports "
           "accept\n";
    r += "    ip daddr @allowed_cidrs icmp type { destination-unreachable, time-exceeded, "
         "parameter-problem } accept\n";
  }
  r += "  }\n}\n";
  return r;
}

std::string hostTable(const std::string& name) { return "burrow_" + name; }

std::string renderHostNat(const config::NamespaceConfig& ns, const std::string& namespace_address) {
  if (ns.port_mappings.empty() || ns.accessible_from.empty()) return "";
  const std::string table = hostTable(ns.name);
  // Made then deleted first: applying it again replaces it whole.
  std::string r = fmt::format("add table ip {0}\ndelete table ip {0}\ntable ip {0} {{\n", table);
  r += set("accessible_from", "ipv4_addr", ns.accessible_from, true);
  r += "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n";
  for (const auto& m : ns.port_mappings)
    for (const char* proto : {"tcp", "udp"})
      if (proto[0] == 't' ? m.tcp : m.udp)
        r += fmt::format(
            "    ip saddr @accessible_from fib daddr type local {} dport {} dnat to {}:{}\n", proto,
            m.from, namespace_address, m.to);
  r += "  }\n}\n";
  return r;
}

namespace {

// libnftables is opened when a namespace comes up, not linked: it brings five libraries of its
// own that no other command needs (docs/decisions/0003-static-linking.md).
struct Nft {
  decltype(&nft_ctx_new) ctx_new = nullptr;
  decltype(&nft_ctx_free) ctx_free = nullptr;
  decltype(&nft_ctx_set_dry_run) set_dry_run = nullptr;
  decltype(&nft_ctx_buffer_output) buffer_output = nullptr;
  decltype(&nft_ctx_buffer_error) buffer_error = nullptr;
  decltype(&nft_ctx_get_error_buffer) error_buffer = nullptr;
  decltype(&nft_run_cmd_from_buffer) run = nullptr;
  std::string error;
};

const Nft& nft() {
  static Nft lib;
  static std::once_flag once;
  std::call_once(once, [] {
    void* h = ::dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      lib.error = fmt::format("cannot load libnftables ({}); install the libnftables1 package",
                              ::dlerror());
      return;
    }
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(h, name));
      if (!fn && lib.error.empty()) lib.error = fmt::format("libnftables lacks {}", name);
    };
    sym(lib.ctx_new, "nft_ctx_new");
    sym(lib.ctx_free, "nft_ctx_free");
    sym(lib.set_dry_run, "nft_ctx_set_dry_run");
    sym(lib.buffer_output, "nft_ctx_buffer_output");
    sym(lib.buffer_error, "nft_ctx_buffer_error");
    sym(lib.error_buffer, "nft_ctx_get_error_buffer");
    sym(lib.run, "nft_run_cmd_from_buffer");
  });
  return lib;
}

}  // namespace

base::Result<void> applyPolicy(const std::string& ruleset) {
  const Nft& lib = nft();
  if (!lib.error.empty()) return base::invalid("{}", lib.error);
  std::unique_ptr<nft_ctx, void (*)(nft_ctx*)> ctx(lib.ctx_new(NFT_CTX_DEFAULT), lib.ctx_free);
  if (!ctx) return base::invalid("nftables: cannot create a context");
  lib.buffer_output(ctx.get());
  lib.buffer_error(ctx.get());
  for (bool dry : {true, false}) {
    lib.set_dry_run(ctx.get(), dry);
    if (lib.run(ctx.get(), ruleset.c_str()) != 0) {
      std::string msg = lib.error_buffer(ctx.get());
      while (!msg.empty() && msg.back() == '\n') msg.pop_back();
      return base::invalid("nftables {}: {}", dry ? "dry run" : "apply", msg);
    }
  }
  return {};
}

}  // namespace netns
