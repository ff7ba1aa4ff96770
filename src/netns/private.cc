// The stack's private networks: a namespace per service with one veth link to the host, and
// the host's filter and NAT between them (see netns.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "base/base.h"
#include "base/undo.h"
#include "netns/internal.h"
#include "netns/netlink.h"
#include "netns/netns.h"
#include "netns/nft.h"

namespace netns {
namespace {

using namespace internal;

constexpr const char* kInside = "eth0";  // the service's end of its link

void deleteLink(const std::string& name) {
  if (name.empty() || nl::linkIndex(name) == 0) return;
  if (auto s = nl::Socket::open()) (void)nl::linkDelete(*s, nl::linkIndex(name), name);
}

}  // namespace

base::Result<void> upPrivate(const PrivateNetwork& n) {
  if (!n.host_link.empty() && nl::linkIndex(n.host_link) != 0)
    return base::makeError(std::errc::file_exists, "link {} already exists on the host",
                           n.host_link);
  base::Undo undo;
  ASSIGN_OR_RETURN(base::UniqueFd ns_fd, createNamespace(n.name));
  undo.add([name = n.name] { (void)removeNamespace(name); });
  // The namespace is the service's own: root in a user range (users: pick) may bind any port.
  auto ports = [] { return writeSysctl("net/ipv4/ip_unprivileged_port_start", "0"); };
  RETURN_IF_ERROR(inNamespace(ns_fd.get(), ports));
  if (!n.host_link.empty()) {
    ASSIGN_OR_RETURN(nl::Socket host, nl::Socket::open());
    RETURN_IF_ERROR(nl::vethCreate(host, n.host_link, kInside, ns_fd.get()));
    undo.add([link = n.host_link] { deleteLink(link); });
    const int idx = nl::linkIndex(n.host_link);
    RETURN_IF_ERROR(
        nl::addressAdd(host, idx, fmt::format("{}/{}", n.host_address, n.prefix), n.host_link));
    RETURN_IF_ERROR(nl::linkUp(host, idx, 0, n.host_link));
    auto inside = [&]() -> base::Result<void> {
      ASSIGN_OR_RETURN(nl::Socket s, nl::Socket::open());
      const int in = nl::linkIndex(kInside);
      RETURN_IF_ERROR(nl::addressAdd(s, in, fmt::format("{}/{}", n.address, n.prefix), kInside));
      RETURN_IF_ERROR(nl::linkUp(s, in, 0, kInside));
      return nl::routeAdd(s, "0.0.0.0/0", n.host_address, in, kInside);
    };
    RETURN_IF_ERROR(inNamespace(ns_fd.get(), inside));
  }
  undo.keep();
  LOG_INFO("private network up name={} link={} address={}", n.name, n.host_link, n.address);
  return {};
}

std::vector<pid_t> processesIn(const std::string& name) {
  auto id = nsIdentity(namespacePath(name));
  return id ? membersOf(*id) : std::vector<pid_t>{};
}

base::Result<void> downPrivate(const std::string& name, const std::string& host_link,
                               std::chrono::milliseconds grace) {
  stopAll(processesIn(name), grace);
  deleteLink(host_link);  // removes the end inside too
  RETURN_IF_ERROR(removeNamespace(name));
  LOG_INFO("private network down name={}", name);
  return {};
}

std::string renderStackFirewall(const StackFirewall& f) {
  auto quoted = [](const std::vector<std::string>& v) {
    std::vector<std::string> q;
    for (const auto& s : v) q.push_back("\"" + s + "\"");
    return fmt::format("{}", fmt::join(q, ", "));
  };
  std::string links =
      f.links.empty() ? "" : fmt::format("\t\telements = {{ {} }}\n", quoted(f.links));
  std::vector<std::string> pairs;
  for (const auto& [from, to] : f.connects) pairs.push_back(from + " . " + to);
  std::string connects =
      pairs.empty() ? "" : fmt::format("\t\telements = {{ {} }}\n", fmt::join(pairs, ", "));
  return fmt::format(
      "table inet {0} {{\n"
      "\tset links {{\n\t\ttype ifname\n{2}\t}}\n"
      "\tset connects {{\n\t\ttype ipv4_addr . ipv4_addr\n{3}\t}}\n"
      // The host's own listeners: only replies to the host's connections (the connector's).
      "\tchain input {{\n"
      "\t\ttype filter hook input priority filter; policy accept;\n"
      "\t\tiifname @links ct state established,related accept\n"
      "\t\tiifname @links drop\n"
      "\t}}\n"
      "\tchain forward {{\n"
      "\t\ttype filter hook forward priority filter; policy accept;\n"
      "\t\tct state established,related accept\n"
      "\t\tiifname @links oifname @links ip saddr . ip daddr @connects accept\n"
      "\t\tiifname @links oifname @links drop\n"
      "\t\tiifname @links ip daddr {1} drop\n"
      "\t\tiifname @links accept\n"
      "\t\toifname @links drop\n"
      "{4}"
      "\t}}\n"
      "\tchain postrouting {{\n"
      "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
      "\t\tip saddr {1} oifname != @links masquerade\n"
      "\t}}\n"
      "}}\n",
      f.table, f.pool, links, connects, f.contain_forwarding ? "\t\tdrop\n" : "");
}

base::Result<void> applyStackFirewall(const StackFirewall& f) {
  // add + delete + add: replaces the table whether it was there or not, in one transaction.
  return applyPolicy(fmt::format("add table inet {0}\ndelete table inet {0}\n{1}", f.table,
                                 renderStackFirewall(f)));
}

base::Result<void> removeStackFirewall(const std::string& table) {
  return deleteHostTable(table, "inet");
}

base::Result<bool> ipForwarding() {
  ASSIGN_OR_RETURN(std::string v, base::readFile("/proc/sys/net/ipv4/ip_forward", 16));
  return base::trim(v) != "0";
}

base::Result<void> setIpForwarding(bool on) {
  return writeSysctl("net/ipv4/ip_forward", on ? "1" : "0");
}

}  // namespace netns
