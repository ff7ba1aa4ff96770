#include "netns/netns.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>
#include <tuple>

#include "base/base.h"
#include "base/undo.h"
#include "netns/internal.h"
#include "netns/netlink.h"
#include "netns/nft.h"
#include "netns/wireguard.h"

namespace netns {
namespace {

using namespace internal;
using nlohmann::json;
constexpr const char* kHostLinkInside = "host";  // the namespace's end of the publish veth

// What <state-dir>/netns/NAME/ holds; `down` (and a failed `up`) removes these and the directory.
constexpr const char* kRecordFiles[] = {"state.json", "resolv.conf", "nsswitch.conf",
                                        "wireguard-go.log", "refresh.log"};
constexpr const char* kRefresherName = "burrow-refresh";  // its comm

std::string recordDir(const std::string& state_dir, const std::string& name) {
  return fmt::format("{}/netns/{}", state_dir, name);
}

std::string hostLinkName(const std::string& name) {
  if (name.size() <= 12) return "bh-" + name;
  return fmt::format("bh-{}{:04x}", name.substr(0, 8), std::hash<std::string>{}(name)&0xffff);
}

// True when any IPv4 address on the host lies in the /30 starting at `net` (host order).
bool subnetTaken(uint32_t net) {
  ifaddrs* all = nullptr;
  if (::getifaddrs(&all) != 0) return false;
  bool taken = false;
  for (ifaddrs* a = all; a && !taken; a = a->ifa_next)
    if (a->ifa_addr && a->ifa_addr->sa_family == AF_INET) {
      uint32_t ip = ntohl(reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr.s_addr);
      taken = (ip & ~3u) == net;
    }
  ::freeifaddrs(all);
  return taken;
}

// A /30 in 169.254.0.0/16 for the host link: the host's end is .1 of it, the namespace's .2.
// The name picks where to start looking; a /30 with an address on the host already is skipped.
base::Result<std::pair<std::string, std::string>> hostLinkAddresses(const std::string& name) {
  uint32_t h = static_cast<uint32_t>(std::hash<std::string>{}(name));
  // 169.254.1.0 to 169.254.253.252: never 169.254.0.x, .254.x or .255.x (RFC 3927), nor
  // 169.254.169.x, where clouds keep their metadata service.
  constexpr uint32_t kFirst = (169u << 24) | (254u << 16) | (1u << 8), kCount = 253 * 64;
  for (uint32_t i = 0; i < kCount; ++i) {
    uint32_t net = kFirst + 4 * ((h + i) % kCount);
    if (((net >> 8) & 0xff) == 169 || subnetTaken(net)) continue;
    auto dotted = [](uint32_t ip) {
      return fmt::format("{}.{}.{}.{}", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
    };
    return std::pair{dotted(net + 1), dotted(net + 2)};
  }
  return base::makeError(std::errc::address_in_use, "no free /30 left in 169.254.0.0/16");
}

// The host link the user chose with publishToHost.hostAddress: the host's end is `host`, the
// namespace's the other address of its /30 (the config checked it is .1 or .2 of four).
base::Result<std::pair<std::string, std::string>> chosenAddresses(const std::string& host) {
  in_addr a{};
  if (::inet_pton(AF_INET, host.c_str(), &a) != 1)
    return base::invalid("publishToHost.hostAddress {}: not an IPv4 address", host);
  const uint32_t ip = ntohl(a.s_addr);
  if (subnetTaken(ip & ~3u))
    return base::makeError(std::errc::address_in_use,
                           "publishToHost.hostAddress {}: its /30 already has an address on the "
                           "host",
                           host);
  in_addr other{htonl((ip & ~3u) | ((ip & 3u) == 1 ? 2u : 1u))};
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &other, text, sizeof text);
  return std::pair{host, std::string(text)};
}

bool hasComm(pid_t pid, std::string_view name) {
  auto comm = base::readFile(fmt::format("/proc/{}/comm", pid), 64);
  return comm && base::trim(*comm) == name;
}

bool isWireguardGo(pid_t pid) { return hasComm(pid, "wireguard-go"); }

// The endpoint refresher: a child of `up` in a session of its own, in the host's namespace,
// that resolves the host name endpoints again every endpointRefresh seconds and ends when the
// namespace or its wireguard-go is gone (or `down` stops it). Output goes to `log_path`.
base::Result<pid_t> startRefresher(const config::NamespaceConfig& ns, const std::string& log_path,
                                   std::pair<dev_t, ino_t> id, pid_t wg_pid) {
  base::UniqueFd log(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  base::UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!log || !null) return base::sysError("open {}", log_path);
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return base::sysError("fork the endpoint refresher");
  if (pid > 0) return pid;
  // The child: `up` has no other thread by now (inNamespace joined its own).
  ::setsid();
  ::prctl(PR_SET_NAME, kRefresherName);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::signal(SIGTERM, SIG_DFL);
  ::dup2(null.get(), 0);
  ::dup2(log.get(), 1);
  ::dup2(log.get(), 2);
  ::close_range(3, ~0U, 0);  // the caller's pipes must not stay open here
  const std::string path = namespacePath(ns.name);
  std::map<std::string, std::string> known;
  for (;;) {
    for (int i = 0; i < ns.wireguard.endpoint_refresh; ++i) {
      auto now = nsIdentity(path);
      if (!now || *now != id || !isWireguardGo(wg_pid)) ::_exit(0);
      if (i == 0)
        if (auto r = refreshEndpoints(ns.wireguard, known); !r)
          LOG_WARN("namespace {}: endpoint refresh: {}", ns.name, r.error().message());
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
}

std::string resolvConf(const config::NamespaceConfig& ns) {
  std::string out = "# written by burrow netns up " + ns.name + "\n";
  for (const auto& s : ns.dns_servers) out += "nameserver " + s + "\n";
  return out;
}

constexpr const char* kNsswitch =
    "# written by burrow: names come from files and the namespace's DNS servers only\n"
    "passwd: files\ngroup: files\nshadow: files\nhosts: files myhostname dns\n"
    "networks: files\nprotocols: files\nservices: files\nethers: files\nrpc: files\n";

base::Result<std::string> privateKey(const config::WireguardSettings& wg) {
  if (!wg.private_key.empty()) return wg.private_key;
  ASSIGN_OR_RETURN(std::string text, base::readFile(wg.private_key_file, 1024));
  return std::string(base::trim(text));
}

// "tcp 80 -> 8080" per mapped port and protocol.
std::vector<std::string> mappingsText(const config::NamespaceConfig& ns) {
  std::vector<std::string> out;
  for (const auto& m : ns.port_mappings)
    for (const char* proto : {"tcp", "udp"})
      if (proto[0] == 't' ? m.tcp : m.udp)
        out.push_back(fmt::format("{} {} -> {}", proto, m.from, m.to));
  return out;
}

base::Result<json> readRecord(const std::string& state_dir, const std::string& name) {
  std::string path = recordDir(state_dir, name) + "/state.json";
  if (::access(path.c_str(), F_OK) < 0 && errno == ENOENT)
    return base::makeError(std::errc::no_such_file_or_directory,
                           "namespace {} is not up (no record in {}; burrow netns up {} -f FILE)",
                           name, state_dir, name);
  ASSIGN_OR_RETURN(std::string text, base::readFile(path));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return base::invalid("{}: not a burrow record", path);
  return j;
}

}  // namespace

std::string namespacePath(const std::string& name) { return fmt::format("{}/{}", kRunDir, name); }

base::Result<void> up(const config::NamespaceConfig& ns, const std::string& state_dir) {
  const std::string path = namespacePath(ns.name);
  const std::string& wg_if = ns.wireguard.interface;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0)
    return base::makeError(std::errc::file_exists,
                           "namespace {} is already up (burrow netns down {} first)", ns.name,
                           ns.name);
  if (nl::linkIndex(wg_if) != 0)
    return base::makeError(std::errc::file_exists,
                           "link {} already exists on the host: WireGuard interface names must "
                           "be unique host-wide",
                           wg_if);
  if (wireguardGoRunning(wg_if))
    return base::makeError(std::errc::file_exists,
                           "a wireguard-go already serves interface {} ({}), perhaps in another "
                           "namespace: interface names must be unique host-wide",
                           wg_if, uapiSocketPath(wg_if));
  ::unlink(uapiSocketPath(wg_if).c_str());  // left by a wireguard-go that was killed
  const bool publish =
      !ns.publish_tcp.empty() || !ns.publish_udp.empty() || !ns.port_mappings.empty();
  const std::string host_link = publish ? hostLinkName(ns.name) : "";
  if (publish && nl::linkIndex(host_link) != 0)
    return base::makeError(std::errc::file_exists, "link {} already exists on the host", host_link);
  ASSIGN_OR_RETURN(std::string key, privateKey(ns.wireguard));

  base::Undo undo;
  const std::string dir = recordDir(state_dir, ns.name);
  RETURN_IF_ERROR(base::ensureDir(dir, 0700));
  undo.add([dir] {
    for (const char* f : kRecordFiles) ::unlink((dir + "/" + f).c_str());
    ::rmdir(dir.c_str());
  });

  // The namespace, bound at /run/netns/NAME; IPv6 off before any link moves in; lo up.
  ASSIGN_OR_RETURN(base::UniqueFd ns_fd, createNamespace(ns.name));
  undo.add([name = ns.name] { (void)removeNamespace(name); });

  // Resolver files for the services (strict DNS mode bind-mounts them).
  RETURN_IF_ERROR(base::writeFileAtomic(dir + "/resolv.conf", resolvConf(ns), 0644));
  RETURN_IF_ERROR(base::writeFileAtomic(dir + "/nsswitch.conf", kNsswitch, 0644));

  // wireguard-go in the host's namespace, configured, its link then moved inside.
  ASSIGN_OR_RETURN(pid_t wg_pid, startWireguardGo(wg_if, dir + "/wireguard-go.log"));
  undo.add([wg_pid] { stopAll({wg_pid}, std::chrono::seconds(1)); });
  RETURN_IF_ERROR(configureWireguard(ns.wireguard, key));
  ASSIGN_OR_RETURN(nl::Socket host, nl::Socket::open());
  RETURN_IF_ERROR(nl::linkSetNetns(host, nl::linkIndex(wg_if), ns_fd.get(), wg_if));

  std::string host_addr, ns_addr;
  if (publish) {
    ASSIGN_OR_RETURN(std::tie(host_addr, ns_addr), ns.publish_host_address.empty()
                                                       ? hostLinkAddresses(ns.name)
                                                       : chosenAddresses(ns.publish_host_address));
    RETURN_IF_ERROR(nl::vethCreate(host, host_link, kHostLinkInside, ns_fd.get()));
    undo.add([host_link] {
      if (auto s = nl::Socket::open())
        (void)nl::linkDelete(*s, nl::linkIndex(host_link), host_link);
    });
    int idx = nl::linkIndex(host_link);
    RETURN_IF_ERROR(nl::addressAdd(host, idx, host_addr + "/30", host_link));
    RETURN_IF_ERROR(nl::linkUp(host, idx, 0, host_link));
    if (!ns.accessible_from.empty()) {
      // Replies to accessibleFrom clients come in on this link and are forwarded on.
      RETURN_IF_ERROR(writeSysctl(fmt::format("net/ipv4/conf/{}/forwarding", host_link), "1"));
      auto fwd = base::readFile("/proc/sys/net/ipv4/ip_forward", 16);
      if (fwd && base::trim(*fwd) == "0")
        LOG_WARN(
            "namespace {}: accessibleFrom: clients beyond this host come in only through "
            "interfaces that forward IPv4 (net.ipv4.conf.IF.forwarding), and "
            "net.ipv4.ip_forward is 0",
            ns.name);
    }
  }

  // Inside: addresses, the tunnel as default route, the policy (dry run, then for real).
  for (const auto& a : ns.wireguard.addresses)
    if (a.find(':') != std::string::npos)
      LOG_WARN("namespace {}: address {} not configured: IPv6 is off inside (ipv6.mode: disable)",
               ns.name, a);
  auto inside = [&]() -> base::Result<void> {
    ASSIGN_OR_RETURN(nl::Socket s, nl::Socket::open());
    int idx = nl::linkIndex(wg_if);
    for (const auto& a : ns.wireguard.addresses)
      if (a.find(':') == std::string::npos) RETURN_IF_ERROR(nl::addressAdd(s, idx, a, wg_if));
    RETURN_IF_ERROR(nl::linkUp(s, idx, ns.wireguard.mtu, wg_if));
    RETURN_IF_ERROR(nl::defaultRoute(s, idx, wg_if));
    if (publish) {
      int h = nl::linkIndex(kHostLinkInside);
      RETURN_IF_ERROR(nl::addressAdd(s, h, ns_addr + "/30", kHostLinkInside));
      RETURN_IF_ERROR(nl::linkUp(s, h, 0, kHostLinkInside));
      for (const auto& c : ns.accessible_from)
        RETURN_IF_ERROR(nl::routeAdd(s, c, host_addr, h, kHostLinkInside));
    }
    return applyPolicy(renderPolicy(ns, {wg_if, publish ? kHostLinkInside : "", host_addr}));
  };
  RETURN_IF_ERROR(inNamespace(ns_fd.get(), inside));

  // portMappings: the host's own rules, in the host's namespace.
  const std::string nat = publish ? renderHostNat(ns, ns_addr) : "";
  if (!nat.empty()) {
    RETURN_IF_ERROR(applyPolicy(nat));
    undo.add([t = hostTable(ns.name)] { (void)deleteHostTable(t); });
  }

  ASSIGN_OR_RETURN(auto id, nsIdentity(path));
  pid_t refresher = 0;
  if (hasHostnameEndpoint(ns.wireguard)) {
    ASSIGN_OR_RETURN(refresher, startRefresher(ns, dir + "/refresh.log", id, wg_pid));
    undo.add([refresher] { stopAll({refresher}, std::chrono::seconds(1)); });
  }
  json rec = {{"name", ns.name},
              {"interface", wg_if},
              {"wireguard_pid", wg_pid},
              {"namespace_dev", id.first},
              {"namespace_ino", id.second},
              {"addresses", ns.wireguard.addresses},
              {"dns_mode", ns.dns_mode},
              {"dns_servers", ns.dns_servers},
              {"allow_host_resolver_ipc", ns.dns_allow_host_resolver_ipc},
              {"egress_mode", ns.egress_mode},
              {"security_profile", ns.security_profile},
              {"host_link", host_link},
              {"host_address", publish ? host_addr : ""},
              {"namespace_address", publish ? ns_addr : ""},
              {"publish_tcp", ns.publish_tcp},
              {"publish_udp", ns.publish_udp},
              {"accessible_from", ns.accessible_from},
              {"port_mappings", mappingsText(ns)},
              {"open_vpn_tcp", ns.open_vpn_tcp},
              {"open_vpn_udp", ns.open_vpn_udp},
              {"refresh_pid", refresher},
              {"endpoint_refresh", refresher ? ns.wireguard.endpoint_refresh : 0},
              {"host_table", nat.empty() ? "" : hostTable(ns.name)}};
  RETURN_IF_ERROR(base::writeFileAtomic(dir + "/state.json", rec.dump(2) + "\n", 0600));
  undo.keep();
  LOG_INFO("namespace up name={} interface={} wireguard_pid={}", ns.name, wg_if, wg_pid);
  return {};
}

base::Result<void> down(const std::string& name, const std::string& state_dir) {
  const std::string path = namespacePath(name);
  auto rec = readRecord(state_dir, name);
  struct stat st {};
  const bool bound = ::stat(path.c_str(), &st) == 0;
  if (!rec && !bound) return base::invalid("namespace {} is not up", name);
  if (bound) stopAll(membersOf({st.st_dev, st.st_ino}), std::chrono::seconds(1));
  if (rec) {
    pid_t refresher = rec->value("refresh_pid", 0);
    if (refresher > 0 && hasComm(refresher, kRefresherName))
      stopAll({refresher}, std::chrono::seconds(1));
    pid_t wg = rec->value("wireguard_pid", 0);
    if (wg > 0 && isWireguardGo(wg)) stopAll({wg}, std::chrono::seconds(1));
    // A wireguard-go that was killed could not remove its UAPI socket.
    ::unlink(uapiSocketPath(rec->value("interface", "")).c_str());
    if (std::string t = rec->value("host_table", ""); !t.empty())
      RETURN_IF_ERROR(deleteHostTable(t));
    std::string host_link = rec->value("host_link", "");
    if (!host_link.empty() && nl::linkIndex(host_link) != 0) {
      ASSIGN_OR_RETURN(nl::Socket s, nl::Socket::open());
      RETURN_IF_ERROR(nl::linkDelete(s, nl::linkIndex(host_link), host_link));
    }
  }
  if (bound) RETURN_IF_ERROR(removeNamespace(name));
  const std::string dir = recordDir(state_dir, name);
  for (const char* f : kRecordFiles) ::unlink((dir + "/" + f).c_str());
  ::rmdir(dir.c_str());
  LOG_INFO("namespace down name={}", name);
  return {};
}

base::Result<std::vector<Status>> status(const std::string& state_dir,
                                         const std::optional<std::string>& name) {
  std::vector<std::string> names;
  if (name) {
    names.push_back(*name);
  } else if (DIR* d = ::opendir((state_dir + "/netns").c_str())) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') names.emplace_back(e->d_name);
    ::closedir(d);
    std::sort(names.begin(), names.end());
  }
  std::vector<Status> out;
  for (const auto& n : names) {
    ASSIGN_OR_RETURN(json rec, readRecord(state_dir, n));
    Status s;
    s.name = n;
    s.interface = rec.value("interface", "");
    s.wireguard_pid = rec.value("wireguard_pid", 0);
    s.addresses = rec.value("addresses", std::vector<std::string>{});
    s.dns_mode = rec.value("dns_mode", "");
    s.dns_servers = rec.value("dns_servers", std::vector<std::string>{});
    s.egress_mode = rec.value("egress_mode", "");
    s.security_profile = rec.value("security_profile", "");
    s.host_link = rec.value("host_link", "");
    s.host_address = rec.value("host_address", "");
    s.namespace_address = rec.value("namespace_address", "");
    s.publish_tcp = rec.value("publish_tcp", std::vector<uint16_t>{});
    s.publish_udp = rec.value("publish_udp", std::vector<uint16_t>{});
    s.accessible_from = rec.value("accessible_from", std::vector<std::string>{});
    s.port_mappings = rec.value("port_mappings", std::vector<std::string>{});
    s.open_vpn_tcp = rec.value("open_vpn_tcp", std::vector<uint16_t>{});
    s.open_vpn_udp = rec.value("open_vpn_udp", std::vector<uint16_t>{});
    s.endpoint_refresh = rec.value("endpoint_refresh", 0);
    s.refresh_pid = rec.value("refresh_pid", 0);
    s.refresh_running = s.refresh_pid > 0 && hasComm(s.refresh_pid, kRefresherName);
    auto id = nsIdentity(namespacePath(n));
    s.up = id && id->first == rec.value("namespace_dev", dev_t{0}) &&
           id->second == rec.value("namespace_ino", ino_t{0});
    s.wireguard_running = s.wireguard_pid > 0 && isWireguardGo(s.wireguard_pid);
    if (s.up) {
      s.processes = static_cast<int>(membersOf(*id).size());
      base::UniqueFd fd(::open(namespacePath(n).c_str(), O_RDONLY | O_CLOEXEC));
      (void)inNamespace(fd.get(), [&]() -> base::Result<void> {
        s.link_running = nl::linkRunning(s.interface);
        return {};
      });
    }
    if (s.wireguard_running)
      if (auto w = wireguardState(s.interface)) {
        s.last_handshake = w->last_handshake;
        s.rx_bytes = w->rx_bytes;
        s.tx_bytes = w->tx_bytes;
      }
    out.push_back(std::move(s));
  }
  return out;
}

std::string stateOf(const Status& s) {
  if (!s.up) return "down";
  if (!s.wireguard_running || !s.link_running) return "degraded";
  return s.last_handshake == 0 ? "up (no handshake yet)" : "up";
}

std::string formatStatus(const std::vector<Status>& all) {
  if (all.empty()) return "no namespaces\n";
  std::string out;
  for (const auto& s : all) {
    out += fmt::format("{}: {}\n", s.name, stateOf(s));
    std::string hs = s.last_handshake == 0 ? "no handshake yet"
                                           : fmt::format("last handshake {}s ago",
                                                         ::time(nullptr) - s.last_handshake);
    out += fmt::format("  wireguard  {} (wireguard-go pid {}{}), link {}, {}, rx {} B, tx {} B\n",
                       s.interface, s.wireguard_pid, s.wireguard_running ? "" : ", not running",
                       s.link_running ? "up" : "down", hs, s.rx_bytes, s.tx_bytes);
    out += fmt::format("  addresses  {}\n", fmt::join(s.addresses, ", "));
    out += fmt::format("  dns        {}{}{}\n", s.dns_mode, s.dns_servers.empty() ? "" : ": ",
                       fmt::join(s.dns_servers, ", "));
    out += fmt::format("  egress     {}\n  profile    {}\n", s.egress_mode, s.security_profile);
    if (!s.host_link.empty()) {
      std::vector<std::string> ports;
      if (!s.publish_tcp.empty())
        ports.push_back(fmt::format("tcp {}", fmt::join(s.publish_tcp, ", ")));
      if (!s.publish_udp.empty())
        ports.push_back(fmt::format("udp {}", fmt::join(s.publish_udp, ", ")));
      out += fmt::format("  host link  {} {} <-> {}{}\n", s.host_link, s.host_address,
                         s.namespace_address,
                         ports.empty() ? "" : fmt::format(" ({})", fmt::join(ports, "; ")));
    }
    if (!s.port_mappings.empty())
      out += fmt::format("  mappings   {} ({})\n", fmt::join(s.port_mappings, ", "),
                         s.accessible_from.empty()
                             ? std::string("nobody is forwarded: no accessibleFrom")
                             : fmt::format("forwarded for {}", fmt::join(s.accessible_from, ", ")));
    if (!s.open_vpn_tcp.empty() || !s.open_vpn_udp.empty()) {
      std::vector<std::string> ports;
      if (!s.open_vpn_tcp.empty())
        ports.push_back(fmt::format("tcp {}", fmt::join(s.open_vpn_tcp, ", ")));
      if (!s.open_vpn_udp.empty())
        ports.push_back(fmt::format("udp {}", fmt::join(s.open_vpn_udp, ", ")));
      out += fmt::format("  vpn ports  {}\n", fmt::join(ports, "; "));
    }
    if (s.refresh_pid > 0)
      out +=
          fmt::format("  endpoints  resolved again every {}s ({} pid {}{})\n", s.endpoint_refresh,
                      kRefresherName, s.refresh_pid, s.refresh_running ? "" : ", not running");
    out += fmt::format("  processes  {}\n", s.processes);
  }
  return out;
}

std::string formatStatusJson(const std::vector<Status>& all) {
  json arr = json::array();
  for (const auto& s : all) {
    arr.push_back({{"name", s.name},
                   {"state", stateOf(s)},
                   {"up", s.up},
                   {"interface", s.interface},
                   {"wireguard_pid", s.wireguard_pid},
                   {"wireguard_running", s.wireguard_running},
                   {"link_running", s.link_running},
                   {"last_handshake", s.last_handshake},
                   {"rx_bytes", s.rx_bytes},
                   {"tx_bytes", s.tx_bytes},
                   {"addresses", s.addresses},
                   {"dns_mode", s.dns_mode},
                   {"dns_servers", s.dns_servers},
                   {"egress_mode", s.egress_mode},
                   {"security_profile", s.security_profile},
                   {"host_link", s.host_link},
                   {"host_address", s.host_address},
                   {"namespace_address", s.namespace_address},
                   {"publish_tcp", s.publish_tcp},
                   {"publish_udp", s.publish_udp},
                   {"accessible_from", s.accessible_from},
                   {"port_mappings", s.port_mappings},
                   {"open_vpn_tcp", s.open_vpn_tcp},
                   {"open_vpn_udp", s.open_vpn_udp},
                   {"endpoint_refresh", s.endpoint_refresh},
                   {"refresh_pid", s.refresh_pid},
                   {"refresh_running", s.refresh_running},
                   {"processes", s.processes}});
  }
  return arr.dump(2) + "\n";
}

base::Result<Confinement> confinement(const std::string& name, const std::string& state_dir) {
  ASSIGN_OR_RETURN(auto all, status(state_dir, name));
  const Status& s = all.front();
  if (!s.up)
    return base::invalid("namespace {} is not up (burrow netns up {} -f FILE)", name, name);
  if (!s.wireguard_running || !s.link_running)
    return base::invalid("namespace {}: its tunnel {} is down", name, s.interface);
  ASSIGN_OR_RETURN(json rec, readRecord(state_dir, name));
  Confinement c;
  c.namespace_path = namespacePath(name);
  c.security_profile = s.security_profile;
  c.refuse_root = s.security_profile == "highAssurance";
  if (s.dns_mode == "strict") {
    const std::string dir = recordDir(state_dir, name);
    c.read_only_binds = {{dir + "/resolv.conf", "/etc/resolv.conf"},
                         {dir + "/nsswitch.conf", "/etc/nsswitch.conf"}};
    if (!rec.value("allow_host_resolver_ipc", false))
      c.hidden_paths = {"/run/nscd", "/run/dbus/system_bus_socket", "/run/systemd/resolve",
                        "/var/run/nscd"};
  }
  return c;
}

base::Result<Watch> Watch::open(const std::string& name, const std::string& state_dir) {
  ASSIGN_OR_RETURN(json rec, readRecord(state_dir, name));
  Watch w;
  w.name_ = name;
  w.interface_ = rec.value("interface", "");
  w.path_ = namespacePath(name);
  w.dev_ = rec.value("namespace_dev", dev_t{0});
  w.ino_ = rec.value("namespace_ino", ino_t{0});
  base::UniqueFd ns_fd(::open(w.path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns_fd) return base::sysError("open {}", w.path_);
  auto subscribe = [&]() -> base::Result<void> {
    ASSIGN_OR_RETURN(nl::Socket s, nl::Socket::open(RTMGRP_LINK));
    w.netlink_ = base::UniqueFd(::dup(s.fd()));
    w.probe_ = base::UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!w.netlink_ || !w.probe_) return base::sysError("sockets in namespace {}", w.name_);
    return {};
  };
  RETURN_IF_ERROR(inNamespace(ns_fd.get(), subscribe));
  w.inotify_ = base::UniqueFd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!w.inotify_ || ::inotify_add_watch(w.inotify_.get(), kRunDir, IN_DELETE | IN_MOVED_FROM) < 0)
    return base::sysError("inotify on {}", kRunDir);
  w.epoll_ = base::UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
  if (!w.epoll_) return base::sysError("epoll_create1");
  for (int fd : {w.netlink_.get(), w.inotify_.get()}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (::epoll_ctl(w.epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) return base::sysError("epoll_ctl");
  }
  ::fcntl(w.netlink_.get(), F_SETFL, O_NONBLOCK);
  RETURN_IF_ERROR(w.check());
  return w;
}

base::Result<void> Watch::check() {
  char buf[8192];
  while (::read(netlink_.get(), buf, sizeof buf) > 0) {
  }
  while (::read(inotify_.get(), buf, sizeof buf) > 0) {
  }
  struct stat st {};
  if (::stat(path_.c_str(), &st) < 0 || st.st_dev != dev_ || st.st_ino != ino_)
    return base::invalid("namespace {} was removed", name_);
  if (!nl::linkRunning(interface_, probe_.get()))
    return base::invalid("namespace {}: tunnel link {} is down", name_, interface_);
  return {};
}

void Watch::killMembers() const {
  for (pid_t p : membersOf({dev_, ino_})) ::kill(p, SIGKILL);
}

}  // namespace netns
