#include "netns/wireguard.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <thread>
#include <vector>

#include "base/base.h"

extern char** environ;

namespace netns {
namespace {

base::Result<base::UniqueFd> uapiConnect(const std::string& ifname) {
  std::string path = uapiSocketPath(ifname);
  base::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return base::sysError("socket for {}", path);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return base::invalid("{}: path too long", path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
    return base::sysError("connect to wireguard-go at {}", path);
  return fd;
}

// One UAPI exchange: sends `request` (ending in an empty line) and returns the reply up to
// and including its "errno=N" line; a non-zero errno is an error.
base::Result<std::string> uapi(const std::string& ifname, const std::string& request) {
  ASSIGN_OR_RETURN(base::UniqueFd fd, uapiConnect(ifname));
  for (size_t off = 0; off < request.size();) {
    ssize_t n = base::retryEintr(
        [&] { return ::send(fd.get(), request.data() + off, request.size() - off, MSG_NOSIGNAL); });
    if (n < 0) return base::sysError("write to wireguard-go ({})", ifname);
    off += static_cast<size_t>(n);
  }
  std::string reply;
  char buf[4096];
  while (reply.find("\n\n") == std::string::npos) {
    ssize_t n = base::retryEintr([&] { return ::read(fd.get(), buf, sizeof buf); });
    if (n < 0) return base::sysError("read from wireguard-go ({})", ifname);
    if (n == 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  auto at = reply.rfind("errno=");
  if (at == std::string::npos) return base::invalid("wireguard-go ({}): no answer", ifname);
  int err = std::atoi(reply.c_str() + at + 6);
  if (err != 0)
    return base::makeError(std::errc::io_error, "wireguard-go ({}) refused the configuration: {}",
                           ifname, std::strerror(err));
  return reply;
}

base::Result<std::string> keyHex(const std::string& b64, std::string_view what) {
  auto raw = base::base64Decode(b64);
  if (!raw || raw->size() != 32) return base::invalid("{}: not a base64 WireGuard key", what);
  return base::hexEncode(*raw);
}

// "host:port" or "[v6]:port" as a literal address endpoint; a host name is resolved (IPv4).
base::Result<std::string> literalEndpoint(const std::string& endpoint) {
  ASSIGN_OR_RETURN(base::HostPort hp, base::splitHostPort(endpoint));
  if (endpoint.front() == '[') return endpoint;
  const std::string& host = hp.host;
  const std::string port = std::to_string(hp.port);
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return base::invalid("endpoint '{}': {}", endpoint, ::gai_strerror(rc));
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr, text, sizeof text);
  ::freeaddrinfo(res);
  return fmt::format("{}:{}", text, port);
}

}  // namespace

std::string uapiSocketPath(const std::string& ifname) {
  return fmt::format("/var/run/wireguard/{}.sock", ifname);
}

bool wireguardGoRunning(const std::string& ifname) { return uapiConnect(ifname).has_value(); }

base::Result<pid_t> startWireguardGo(const std::string& ifname, const std::string& log_path) {
  // Debian's wireguard-go refuses to start on kernels new enough to have WireGuard built in
  // unless told otherwise; this path is taken only when the kernel has no WireGuard.
  std::vector<std::string> env_storage = {"WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1",
                                          "LOG_LEVEL=error"};
  for (char** e = environ; *e; ++e) env_storage.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  // In the foreground, in a session of its own: burrow knows its pid and it outlives burrow.
  std::string prog = "wireguard-go", fg = "-f", name = ifname;
  char* argv[] = {prog.data(), fg.data(), name.data(), nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, "wireguard-go", &fa, &attr, argv, envp.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  if (rc == ENOENT)
    return base::invalid("wireguard-go not found: install the wireguard-go package");
  if (rc != 0) {
    errno = rc;
    return base::sysError("start wireguard-go for {}", ifname);
  }
  // Ready once its UAPI socket answers; gone early means it failed (its log says why).
  for (int i = 0; i < 500; ++i) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid)
      return base::invalid("wireguard-go for {} exited (status {}); see {}", ifname, status,
                           log_path);
    if (uapiConnect(ifname)) return pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return base::makeError(std::errc::timed_out, "wireguard-go for {} did not start within 5 s",
                         ifname);
}

base::Result<void> configureWireguard(const config::WireguardSettings& wg,
                                      const std::string& private_key_b64) {
  ASSIGN_OR_RETURN(std::string key, keyHex(private_key_b64, "wireguard private key"));
  std::string req = fmt::format("set=1\nprivate_key={}\n", key);
  if (wg.listen_port > 0) req += fmt::format("listen_port={}\n", wg.listen_port);
  req += "replace_peers=true\n";
  for (const auto& p : wg.peers) {
    ASSIGN_OR_RETURN(std::string pub, keyHex(p.public_key, "peer publicKey"));
    req += fmt::format("public_key={}\n", pub);
    if (!p.preshared_key_file.empty()) {
      ASSIGN_OR_RETURN(std::string psk_b64, base::readFile(p.preshared_key_file, 1024));
      ASSIGN_OR_RETURN(std::string psk,
                       keyHex(std::string(base::trim(psk_b64)), p.preshared_key_file));
      req += fmt::format("preshared_key={}\n", psk);
    }
    if (!p.endpoint.empty()) {
      ASSIGN_OR_RETURN(std::string ep, literalEndpoint(p.endpoint));
      req += fmt::format("endpoint={}\n", ep);
    }
    if (p.persistent_keepalive > 0)
      req += fmt::format("persistent_keepalive_interval={}\n", p.persistent_keepalive);
    req += "replace_allowed_ips=true\n";
    for (const auto& ip : p.allowed_ips) req += fmt::format("allowed_ip={}\n", ip);
  }
  req += "\n";
  RETURN_IF_ERROR(uapi(wg.interface, req));
  return {};
}

namespace {

bool isHostname(const std::string& endpoint) {
  auto hp = base::splitHostPort(endpoint);
  if (!hp || hp->host.empty() || endpoint.front() == '[') return false;
  in_addr a{};
  return ::inet_pton(AF_INET, hp->host.c_str(), &a) != 1;
}

}  // namespace

bool hasHostnameEndpoint(const config::WireguardSettings& wg) {
  return std::any_of(wg.peers.begin(), wg.peers.end(),
                     [](const auto& p) { return isHostname(p.endpoint); });
}

base::Result<int> refreshEndpoints(const config::WireguardSettings& wg,
                                   std::map<std::string, std::string>& known) {
  int moved = 0;
  for (const auto& p : wg.peers) {
    if (!isHostname(p.endpoint)) continue;
    ASSIGN_OR_RETURN(std::string ep, literalEndpoint(p.endpoint));
    std::string& was = known[p.public_key];
    if (was == ep) continue;
    ASSIGN_OR_RETURN(std::string pub, keyHex(p.public_key, "peer publicKey"));
    // update_only: a peer that is not there (any more) is not made again.
    RETURN_IF_ERROR(uapi(wg.interface, fmt::format("set=1\npublic_key={}\nupdate_only=true\n"
                                                   "endpoint={}\n\n",
                                                   pub, ep)));
    if (!was.empty()) {
      LOG_INFO("wireguard endpoint moved interface={} endpoint={} address={} was={}", wg.interface,
               p.endpoint, ep, was);
      ++moved;
    }
    was = ep;
  }
  return moved;
}

base::Result<WireguardState> wireguardState(const std::string& ifname) {
  ASSIGN_OR_RETURN(std::string reply, uapi(ifname, "get=1\n\n"));
  WireguardState st;
  size_t pos = 0;
  while (pos < reply.size()) {
    size_t end = reply.find('\n', pos);
    if (end == std::string::npos) end = reply.size();
    std::string_view line(reply.data() + pos, end - pos);
    pos = end + 1;
    auto eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    auto key = line.substr(0, eq);
    auto value = std::string(line.substr(eq + 1));
    if (key == "last_handshake_time_sec")
      st.last_handshake = std::max<int64_t>(st.last_handshake, std::atoll(value.c_str()));
    else if (key == "rx_bytes")
      st.rx_bytes += std::strtoull(value.c_str(), nullptr, 10);
    else if (key == "tx_bytes")
      st.tx_bytes += std::strtoull(value.c_str(), nullptr, 10);
  }
  return st;
}

}  // namespace netns
