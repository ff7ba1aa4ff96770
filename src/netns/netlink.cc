#include "netns/netlink.h"

// glibc's net/if.h must come before the kernel's headers, which then skip their copies.
#include <net/if.h>
// (the rest)
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "base/unique_fd.h"

namespace netns::nl {

base::Result<Socket> Socket::open(unsigned groups) {
  mnl_socket* s = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
  if (!s) return base::sysError("netlink socket");
  if (mnl_socket_bind(s, groups, MNL_SOCKET_AUTOPID) < 0) {
    auto err = base::sysError("netlink bind");
    mnl_socket_close(s);
    return err;
  }
  return Socket(s);
}

Socket::Socket(mnl_socket* s)
    : s_(s), portid_(mnl_socket_get_portid(s)), seq_(static_cast<unsigned>(::time(nullptr))) {}
Socket::Socket(Socket&& o) noexcept
    : s_(std::exchange(o.s_, nullptr)), portid_(o.portid_), seq_(o.seq_) {}
Socket::~Socket() {
  if (s_) mnl_socket_close(s_);
}
int Socket::fd() const { return mnl_socket_get_fd(s_); }

base::Result<void> Socket::call(nlmsghdr* msg, std::string_view what) {
  msg->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  msg->nlmsg_seq = ++seq_;
  if (mnl_socket_sendto(s_, msg, msg->nlmsg_len) < 0) return base::sysError("{}", what);
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(s_, buf.data(), buf.size());
    if (n < 0) return base::sysError("{}", what);
    int rc = mnl_cb_run(buf.data(), static_cast<size_t>(n), seq_, portid_, nullptr, nullptr);
    if (rc < 0) return base::sysError("{}", what);
    if (rc == MNL_CB_STOP) return {};
  }
}

namespace {

// A request buffer with its netlink header and family header in place.
struct Msg {
  std::vector<char> buf = std::vector<char>(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* h;
  template <class Family>
  Family* start(uint16_t type, uint16_t flags) {
    h = mnl_nlmsg_put_header(buf.data());
    h->nlmsg_type = type;
    h->nlmsg_flags = flags;
    return static_cast<Family*>(mnl_nlmsg_put_extra_header(h, sizeof(Family)));
  }
};

ifinfomsg* linkMsg(Msg& m, uint16_t type, uint16_t flags, int ifindex) {
  auto* ifi = m.start<ifinfomsg>(type, flags);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  return ifi;
}

}  // namespace

int linkIndex(const std::string& name) { return static_cast<int>(::if_nametoindex(name.c_str())); }

base::Result<void> linkSetNetns(Socket& s, int ifindex, int netns_fd, std::string_view name) {
  Msg m;
  linkMsg(m, RTM_NEWLINK, 0, ifindex);
  mnl_attr_put_u32(m.h, IFLA_NET_NS_FD, static_cast<uint32_t>(netns_fd));
  return s.call(m.h, fmt::format("move link {} into the namespace", name));
}

base::Result<void> linkUp(Socket& s, int ifindex, int mtu, std::string_view name) {
  Msg m;
  auto* ifi = linkMsg(m, RTM_NEWLINK, 0, ifindex);
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  if (mtu > 0) mnl_attr_put_u32(m.h, IFLA_MTU, static_cast<uint32_t>(mtu));
  return s.call(m.h, fmt::format("bring link {} up", name));
}

base::Result<void> linkDelete(Socket& s, int ifindex, std::string_view name) {
  Msg m;
  linkMsg(m, RTM_DELLINK, 0, ifindex);
  return s.call(m.h, fmt::format("delete link {}", name));
}

base::Result<void> addressAdd(Socket& s, int ifindex, const std::string& cidr,
                              std::string_view name) {
  auto slash = cidr.find('/');
  std::string addr = cidr.substr(0, slash);
  int family = addr.find(':') == std::string::npos ? AF_INET : AF_INET6;
  int max = family == AF_INET ? 32 : 128;
  int prefix = slash == std::string::npos ? max : std::atoi(cidr.c_str() + slash + 1);
  unsigned char bytes[16];
  if (::inet_pton(family, addr.c_str(), bytes) != 1 || prefix < 0 || prefix > max)
    return base::invalid("address {} on {}: not an address with a prefix length", cidr, name);
  Msg m;
  auto* ifa = m.start<ifaddrmsg>(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
  ifa->ifa_family = static_cast<uint8_t>(family);
  ifa->ifa_prefixlen = static_cast<uint8_t>(prefix);
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = static_cast<uint32_t>(ifindex);
  size_t len = family == AF_INET ? 4 : 16;
  mnl_attr_put(m.h, IFA_LOCAL, len, bytes);
  mnl_attr_put(m.h, IFA_ADDRESS, len, bytes);
  return s.call(m.h, fmt::format("add address {} to {}", cidr, name));
}

base::Result<void> defaultRoute(Socket& s, int ifindex, std::string_view name) {
  return routeAdd(s, "0.0.0.0/0", "", ifindex, name);
}

base::Result<void> routeAdd(Socket& s, const std::string& cidr, const std::string& gateway,
                            int ifindex, std::string_view name) {
  const auto slash = cidr.find('/');
  in_addr dst{}, gw{};
  const int prefix = slash == std::string::npos ? 32 : std::atoi(cidr.c_str() + slash + 1);
  if (::inet_pton(AF_INET, cidr.substr(0, slash).c_str(), &dst) != 1 || prefix < 0 || prefix > 32 ||
      (!gateway.empty() && ::inet_pton(AF_INET, gateway.c_str(), &gw) != 1))
    return base::invalid("route {} via '{}' on {}: not an IPv4 route", cidr, gateway, name);
  Msg m;
  auto* rt = m.start<rtmsg>(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
  rt->rtm_family = AF_INET;
  rt->rtm_dst_len = static_cast<uint8_t>(prefix);
  rt->rtm_table = RT_TABLE_MAIN;
  rt->rtm_protocol = RTPROT_BOOT;
  rt->rtm_scope = gateway.empty() ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  rt->rtm_type = RTN_UNICAST;
  if (prefix > 0) mnl_attr_put(m.h, RTA_DST, 4, &dst);
  if (!gateway.empty()) mnl_attr_put(m.h, RTA_GATEWAY, 4, &gw);
  mnl_attr_put_u32(m.h, RTA_OIF, static_cast<uint32_t>(ifindex));
  return s.call(m.h, gateway.empty() ? fmt::format("route {} through {}", cidr, name)
                                     : fmt::format("route {} via {} on {}", cidr, gateway, name));
}

base::Result<void> vethCreate(Socket& s, const std::string& name, const std::string& peer,
                              int peer_netns_fd) {
  Msg m;
  linkMsg(m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
  mnl_attr_put_strz(m.h, IFLA_IFNAME, name.c_str());
  nlattr* info = mnl_attr_nest_start(m.h, IFLA_LINKINFO);
  mnl_attr_put_strz(m.h, IFLA_INFO_KIND, "veth");
  nlattr* data = mnl_attr_nest_start(m.h, IFLA_INFO_DATA);
  nlattr* peer_attr = mnl_attr_nest_start(m.h, VETH_INFO_PEER);
  auto* pifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(m.h, sizeof(ifinfomsg)));
  pifi->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(m.h, IFLA_IFNAME, peer.c_str());
  mnl_attr_put_u32(m.h, IFLA_NET_NS_FD, static_cast<uint32_t>(peer_netns_fd));
  mnl_attr_nest_end(m.h, peer_attr);
  mnl_attr_nest_end(m.h, data);
  mnl_attr_nest_end(m.h, info);
  return s.call(m.h, fmt::format("create veth pair {}/{}", name, peer));
}

bool linkRunning(const std::string& name, int inet_socket) {
  base::UniqueFd own;
  if (inet_socket < 0) {
    own = base::UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!own) return false;
    inet_socket = own.get();
  }
  ifreq req{};
  std::strncpy(req.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (::ioctl(inet_socket, SIOCGIFFLAGS, &req) < 0) return false;
  return (req.ifr_flags & IFF_UP) && (req.ifr_flags & IFF_RUNNING);
}

}  // namespace netns::nl
