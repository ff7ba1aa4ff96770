// Route netlink (libmnl): the few link, address and route changes a confinement namespace
// needs. A Socket acts on the network namespace of the thread that opened it.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

struct mnl_socket;
struct nlmsghdr;

namespace netns::nl {

class Socket {
 public:
  // A NETLINK_ROUTE socket in the calling thread's network namespace, joined to the
  // multicast `groups` (RTMGRP_* bits; 0 for requests only).
  static base::Result<Socket> open(unsigned groups = 0);
  Socket(Socket&& o) noexcept;
  Socket& operator=(Socket&&) = delete;
  ~Socket();

  int fd() const;
  // Sends one request built in `msg` and waits for the kernel's acknowledgement. `what`
  // names the change in the error ("move link wg0 into the namespace").
  base::Result<void> call(nlmsghdr* msg, std::string_view what);

 private:
  explicit Socket(mnl_socket* s);
  mnl_socket* s_;
  unsigned portid_ = 0;
  unsigned seq_ = 1;
};

// The index of link `name` in the calling thread's namespace; 0 when there is none.
int linkIndex(const std::string& name);
base::Result<void> linkSetNetns(Socket& s, int ifindex, int netns_fd, std::string_view name);
// Sets the MTU (when mtu > 0) and brings the link up.
base::Result<void> linkUp(Socket& s, int ifindex, int mtu, std::string_view name);
base::Result<void> linkDelete(Socket& s, int ifindex, std::string_view name);
// Adds "10.2.0.2/32" (or an IPv6 CIDR) to the link.
base::Result<void> addressAdd(Socket& s, int ifindex, const std::string& cidr,
                              std::string_view name);
// Routes all IPv4 traffic through the link (no gateway: WireGuard is point-to-point).
base::Result<void> defaultRoute(Socket& s, int ifindex, std::string_view name);
// Routes IPv4 `cidr` ("192.168.1.0/24") through the link, via `gateway` ("" for on-link).
base::Result<void> routeAdd(Socket& s, const std::string& cidr, const std::string& gateway,
                            int ifindex, std::string_view name);
// Creates the veth pair `name` (here) and `peer` (in the namespace of `peer_netns_fd`).
base::Result<void> vethCreate(Socket& s, const std::string& name, const std::string& peer,
                              int peer_netns_fd);
// True when link `name` is administratively and operationally up (IFF_UP and IFF_RUNNING);
// false when it is down or gone. Asked through `inet_socket` (an AF_INET socket, which sees
// the links of the namespace it was made in), or a new one in the calling thread's namespace.
bool linkRunning(const std::string& name, int inet_socket = -1);

}  // namespace netns::nl
