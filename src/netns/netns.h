// netns: named network namespaces whose only way out is a WireGuard tunnel, fail-closed
// (vpn-confinement's model). `up` builds one at /run/netns/NAME (so `ip netns` sees it): lo,
// IPv6 off, the WireGuard link as default route, a deny-by-default nftables policy, resolver
// files; optionally a veth link that publishes chosen ports to the host (and, through a host
// nftables table, mapped ports to accessibleFrom clients), ports open through the tunnel, and
// a process that resolves host name endpoints again. `down` stops every process inside, then
// removes all of it. Records live in <state-dir>/netns/NAME/. Every entry point needs
// CAP_NET_ADMIN and CAP_SYS_ADMIN.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "config/config.h"

namespace netns {

// /run/netns/NAME
std::string namespacePath(const std::string& name);

// Builds namespace `ns.name`. Any failure removes everything already made, then returns the
// error naming the step.
base::Result<void> up(const config::NamespaceConfig& ns, const std::string& state_dir);

// Stops the processes inside (SIGTERM, then SIGKILL after 1 s), stops the endpoint refresher
// and wireguard-go, removes the host's table, the host link, the namespace and its records.
base::Result<void> down(const std::string& name, const std::string& state_dir);

struct Status {
  std::string name;
  bool up = false;  // the namespace exists and is the one `up` made
  std::string interface;
  pid_t wireguard_pid = 0;
  bool wireguard_running = false;  // wireguard-go alive
  bool link_running = false;       // the tunnel link is up inside the namespace
  int64_t last_handshake = 0;      // seconds since the epoch; 0: never
  uint64_t rx_bytes = 0, tx_bytes = 0;
  std::vector<std::string> addresses;
  std::string dns_mode, egress_mode, security_profile;
  std::vector<std::string> dns_servers;
  std::string host_link, host_address, namespace_address;  // "" when nothing is published
  std::vector<uint16_t> publish_tcp, publish_udp;
  std::vector<std::string> accessible_from;
  std::vector<std::string> port_mappings;  // "tcp 80 -> 8080"
  std::vector<uint16_t> open_vpn_tcp, open_vpn_udp;
  int endpoint_refresh = 0;  // seconds; 0: no host name endpoint to resolve again
  pid_t refresh_pid = 0;
  bool refresh_running = false;
  int processes = 0;  // processes inside the namespace
};
// Every namespace recorded in the state directory, or only `name`.
base::Result<std::vector<Status>> status(const std::string& state_dir,
                                         const std::optional<std::string>& name);
// "up" (namespace, wireguard-go and link up, and a handshake done), "up (no handshake yet)"
// (all there, but the peer never answered), "degraded" (the namespace is there, its tunnel is
// not), or "down" (the namespace is gone).
std::string stateOf(const Status& s);
// One block per namespace, or "no namespaces".
std::string formatStatus(const std::vector<Status>& all);
std::string formatStatusJson(const std::vector<Status>& all);

// What a service confined to namespace NAME needs (`burrow exec --netns NAME`). An error when
// the namespace or its tunnel is not up: confined services fail closed.
struct Confinement {
  std::string namespace_path;
  std::vector<std::pair<std::string, std::string>> read_only_binds;  // source, target
  std::vector<std::string> hidden_paths;  // host resolver IPC, in strict DNS mode
  bool refuse_root = false;               // highAssurance
  std::string security_profile;
};
base::Result<Confinement> confinement(const std::string& name, const std::string& state_dir);

// BindsTo= for a confined service: `fd()` turns readable when a link changes inside the
// namespace or an entry of /run/netns goes away; `check()` then says whether the namespace
// and its tunnel are still up.
class Watch {
 public:
  static base::Result<Watch> open(const std::string& name, const std::string& state_dir);
  int fd() const { return epoll_.get(); }
  // Consumes what made fd() readable, then checks.
  base::Result<void> check();
  // Kills (SIGKILL) every process inside the namespace: the fail-closed answer to a failed
  // check(), since the trust boundary is the namespace, not one service.
  void killMembers() const;

 private:
  std::string name_, interface_, path_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  // netlink_ and probe_ were made inside the namespace: the link events, and the socket
  // check() asks the link's state through, without entering the namespace again.
  base::UniqueFd epoll_, netlink_, probe_, inotify_;
};

// ---- private networks (the stack's `network: private` and `network: none`) ----

// A namespace of its own for one service: /run/netns/NAME with loopback only and IPv6 off,
// and, when `host_link` is set, a veth pair: `host_link` on the host with `host_address`, and
// `eth0` inside with `address` (both /prefix) and the default route via `host_address`.
struct PrivateNetwork {
  std::string name;
  std::string host_link;              // "": loopback only
  std::string host_address, address;  // IPv4, dotted
  int prefix = 30;
};
// Builds it; any failure removes what was made. An error when the namespace or link exists.
base::Result<void> upPrivate(const PrivateNetwork& n);
// Stops every process inside (SIGTERM, SIGKILL after `grace`), removes the link and the
// namespace. What is gone already is skipped.
base::Result<void> downPrivate(const std::string& name, const std::string& host_link,
                               std::chrono::milliseconds grace = std::chrono::seconds(1));
// Pids of the processes inside namespace NAME (empty when it does not exist).
std::vector<pid_t> processesIn(const std::string& name);

// The host's filter between the private networks, as one table `inet TABLE` with named sets:
// `links` (the host ends) and `connects` (source . destination address pairs). A service
// reaches another service only as `connects` allows, the host's own listeners never (only
// replies to the host's connections come back in), and everything beyond the host through
// NAT (masquerade). From outside, only replies reach a service. With `contain_forwarding`
// (the host did not forward before), nothing else is forwarded.
struct StackFirewall {
  std::string table;
  std::string pool;                                           // CIDR of the private links
  std::vector<std::string> links;                             // host ends
  std::vector<std::pair<std::string, std::string>> connects;  // (from, to) addresses
  bool contain_forwarding = false;
};
std::string renderStackFirewall(const StackFirewall& f);
// Replaces the table in one transaction (dry run first), or adds it.
base::Result<void> applyStackFirewall(const StackFirewall& f);
base::Result<void> removeStackFirewall(const std::string& table);
// net.ipv4.ip_forward: read, and set.
base::Result<bool> ipForwarding();
base::Result<void> setIpForwarding(bool on);

}  // namespace netns
