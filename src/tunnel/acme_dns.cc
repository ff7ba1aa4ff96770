// DNS-01's I/O: RFC 2136 UPDATEs over TCP (dns_update.h builds and reads the messages) and
// the exec hook. Both block (bounded) on the issuer's thread, never on a serving thread.
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <ctime>

#include "base/base.h"
#include "base/log.h"
#include "base/unique_fd.h"
#include "tunnel/acme.h"
#include "tunnel/dns_update.h"

extern char** environ;

namespace tunnel {
namespace {

constexpr int kDnsTimeoutSeconds = 10;
constexpr auto kHookTimeout = std::chrono::minutes(2);
constexpr size_t kHookOutputKept = 2000;

uint16_t randomId() {
  std::string b = base::randomBytes(2);
  return static_cast<uint16_t>((static_cast<uint8_t>(b[0]) << 8) | static_cast<uint8_t>(b[1]));
}

base::Result<void> sendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n =
        base::retryEintr([&] { return ::send(fd, data.data(), data.size(), MSG_NOSIGNAL); });
    if (n <= 0) return base::sysError("send");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

base::Result<std::string> recvExact(int fd, size_t n) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = base::retryEintr([&] { return ::recv(fd, out.data() + got, n - got, 0); });
    if (r == 0) return base::invalid("the server closed the connection");
    if (r < 0) return base::sysError("recv");
    got += static_cast<size_t>(r);
  }
  return out;
}

class Rfc2136Solver : public DnsSolver {
 public:
  Rfc2136Solver(base::HostPort server, TsigKey key)
      : server_(std::move(server)), key_(std::move(key)) {}

  base::Result<void> present(const std::string& fqdn, const std::string& value) override {
    ASSIGN_OR_RETURN(std::string zone, findZone(fqdn));
    return update(zone, fqdn, value, TxtChange::Add);
  }
  base::Result<void> cleanup(const std::string& fqdn, const std::string& value) override {
    ASSIGN_OR_RETURN(std::string zone, findZone(fqdn));
    return update(zone, fqdn, value, TxtChange::Delete);
  }

 private:
  std::string where() const { return fmt::format("{}:{}", server_.host, server_.port); }

  // One message over a fresh TCP connection (RFC 1035 section 4.2.2: a 2-byte length first).
  base::Result<std::string> exchange(const std::string& msg) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    std::string port = std::to_string(server_.port);
    if (int rc = ::getaddrinfo(server_.host.c_str(), port.c_str(), &hints, &res); rc != 0)
      return base::invalid("resolve {}: {}", server_.host, gai_strerror(rc));
    base::UniqueFd fd;
    std::string last = "no address";
    for (addrinfo* a = res; a; a = a->ai_next) {
      base::UniqueFd s(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
      if (!s.valid()) continue;
      timeval tv{kDnsTimeoutSeconds, 0};
      ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      ::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));  // see socket(7)
      if (base::retryEintr([&] { return ::connect(s.get(), a->ai_addr, a->ai_addrlen); }) == 0) {
        fd = std::move(s);
        break;
      }
      last = std::strerror(errno);
    }
    ::freeaddrinfo(res);
    if (!fd.valid()) return base::invalid("connect {}: {}", where(), last);
    std::string framed;
    framed.push_back(static_cast<char>(msg.size() >> 8));
    framed.push_back(static_cast<char>(msg.size() & 0xff));
    framed += msg;
    if (auto ok = sendAll(fd.get(), framed); !ok)
      return base::invalid("send to {}: {}", where(), ok.error().message());
    auto len = recvExact(fd.get(), 2);
    if (!len) return base::invalid("read from {}: {}", where(), len.error().message());
    size_t n = (static_cast<uint8_t>((*len)[0]) << 8) | static_cast<uint8_t>((*len)[1]);
    auto reply = recvExact(fd.get(), n);
    if (!reply) return base::invalid("read from {}: {}", where(), reply.error().message());
    return *reply;
  }

  base::Result<DnsReply> checkedReply(const std::string& wire, uint16_t id, uint8_t opcode) {
    ASSIGN_OR_RETURN(DnsReply r, parseDnsReply(wire));
    if (!r.response || r.id != id || r.opcode != opcode)
      return base::invalid("{} answered with a message that is not the reply", where());
    return r;
  }

  base::Result<std::string> findZone(const std::string& fqdn) {
    uint16_t id = randomId();
    ASSIGN_OR_RETURN(std::string q, makeSoaQuery(id, fqdn));
    ASSIGN_OR_RETURN(std::string wire, exchange(q));
    ASSIGN_OR_RETURN(DnsReply r, checkedReply(wire, id, kDnsOpcodeQuery));
    auto zone = soaOwner(r);
    if ((r.rcode != 0 && r.rcode != 3) || !zone)  // NOERROR or NXDOMAIN, with the zone's SOA
      return base::invalid("{} is not authoritative for {} (SOA query: {})", where(), fqdn,
                           dnsRcodeName(r.rcode));
    return *zone;
  }

  base::Result<void> update(const std::string& zone, const std::string& fqdn,
                            const std::string& value, TxtChange change) {
    uint16_t id = randomId();
    ASSIGN_OR_RETURN(std::string m, makeTxtUpdate(id, zone, fqdn, value, change, 60));
    ASSIGN_OR_RETURN(std::string mac, signTsig(m, key_, std::time(nullptr)));
    ASSIGN_OR_RETURN(std::string wire, exchange(m));
    ASSIGN_OR_RETURN(DnsReply r, checkedReply(wire, id, kDnsOpcodeUpdate));
    const char* what = change == TxtChange::Add ? "add" : "delete";
    if (!r.tsig && r.rcode != 0)
      return base::invalid("{} refused to {} TXT {} in zone {}: {}", where(), what, fqdn, zone,
                           dnsRcodeName(r.rcode));
    if (auto ok = verifyTsigReply(wire, r, key_, mac, std::time(nullptr)); !ok)
      return base::invalid("{} TXT {} at {} with key \"{}\": {}", what, fqdn, where(), key_.name,
                           ok.error().message());
    if (r.rcode != 0)
      return base::invalid("{} refused to {} TXT {} in zone {}: {}", where(), what, fqdn, zone,
                           dnsRcodeName(r.rcode));
    LOG_INFO("acme dns-01 record {} name={} zone={} server={}",
             change == TxtChange::Add ? "added" : "deleted", fqdn, zone, where());
    return {};
  }

  base::HostPort server_;
  TsigKey key_;
};

class HookSolver : public DnsSolver {
 public:
  explicit HookSolver(std::string command) : command_(std::move(command)) {}

  base::Result<void> present(const std::string& fqdn, const std::string& value) override {
    return run("present", fqdn, value);
  }
  base::Result<void> cleanup(const std::string& fqdn, const std::string& value) override {
    return run("cleanup", fqdn, value);
  }
  void stop() override { stopping_ = true; }

 private:
  base::Result<void> run(const char* action, const std::string& fqdn, const std::string& value) {
    if (stopping_) return base::invalid("--acme-dns-hook not run: the edge is stopping");
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) return base::sysError("pipe2");
    base::UniqueFd rd(pipefd[0]), wr(pipefd[1]);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, wr.get(), 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // Its own process group, so a timeout ends whatever it started too; the signals the
    // edge blocks or ignores (it handles them in its loop) as a new program expects them.
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGCHLD}) sigaddset(&defaults, sig);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    std::string name = fqdn + ".";
    std::string act = action;
    std::vector<char*> argv = {command_.data(), act.data(), name.data(),
                               const_cast<char*>(value.c_str()), nullptr};
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, command_.c_str(), &fa, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) return base::invalid("--acme-dns-hook {}: {}", command_, std::strerror(rc));
    wr.reset();
    std::string out;
    bool timed_out = false, stopped = false;
    auto deadline = std::chrono::steady_clock::now() + kHookTimeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) {
        timed_out = true;
        break;
      }
      if (stopping_) {
        stopped = true;
        break;
      }
      pollfd p{rd.get(), POLLIN, 0};
      // Short slices, to see stop() soon.
      int slice = static_cast<int>(std::min<int64_t>(left, 200));
      int n = base::retryEintr([&] { return ::poll(&p, 1, slice); });
      if (n < 0) break;
      if (n == 0) continue;
      char buf[4096];
      ssize_t got = base::retryEintr([&] { return ::read(rd.get(), buf, sizeof(buf)); });
      if (got <= 0) break;
      out.append(buf, static_cast<size_t>(got));
      if (out.size() > 2 * kHookOutputKept) out.erase(0, out.size() - kHookOutputKept);
    }
    if (timed_out || stopped) ::kill(-pid, SIGKILL);
    int status = 0;
    if (base::retryEintr([&] { return ::waitpid(pid, &status, 0); }) != pid)
      return base::sysError("--acme-dns-hook {} {}: waitpid", command_, action);
    if (out.size() > kHookOutputKept) out.erase(0, out.size() - kHookOutputKept);
    std::string said(base::trim(out));
    for (char& c : said)
      if (c == '\n' || c == '\r') c = ' ';
    if (stopped)
      return base::invalid("--acme-dns-hook {} {} {}: killed, the edge is stopping", command_,
                           action, name);
    if (timed_out)
      return base::invalid("--acme-dns-hook {} {} {}: killed after {} s", command_, action, name,
                           std::chrono::duration_cast<std::chrono::seconds>(kHookTimeout).count());
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      LOG_INFO("acme dns-01 hook {} name={}", action, fqdn);
      return {};
    }
    std::string how = WIFEXITED(status)     ? fmt::format("exit {}", WEXITSTATUS(status))
                      : WIFSIGNALED(status) ? fmt::format("signal {}", WTERMSIG(status))
                                            : "ended";
    return base::invalid("--acme-dns-hook {} {} {}: {}{}{}", command_, action, name, how,
                         said.empty() ? "" : ": ", said);
  }

  std::string command_;
  std::atomic<bool> stopping_{false};
};

}  // namespace

base::Result<std::shared_ptr<DnsSolver>> makeRfc2136Solver(const std::string& server,
                                                           const std::string& key_file) {
  base::HostPort hp;
  if (server.find(':') == std::string::npos) {
    hp.host = server;
    hp.port = 53;
  } else {
    auto p = base::splitHostPort(server);
    if (!p) return base::invalid("--acme-dns-rfc2136 {}", p.error().message());
    hp = *p;
  }
  if (hp.host.empty()) return base::invalid("--acme-dns-rfc2136 \"{}\" names no host", server);
  auto text = base::readFile(key_file, 64 * 1024);
  if (!text) return base::invalid("--acme-dns-tsig-file: {}", text.error().message());
  auto key = parseTsigKey(*text);
  if (!key) return base::invalid("--acme-dns-tsig-file {}: {}", key_file, key.error().message());
  // As certbot's credentials check: said, not refused (the key may be shared with named's group).
  struct stat st {};
  if (::stat(key_file.c_str(), &st) == 0 && (st.st_mode & 0007) != 0)
    LOG_WARN("acme tsig key file is readable by others path={} mode={:o} (chmod o-rwx)", key_file,
             st.st_mode & 0777);
  return std::shared_ptr<DnsSolver>(std::make_shared<Rfc2136Solver>(hp, std::move(*key)));
}

base::Result<std::shared_ptr<DnsSolver>> makeHookSolver(const std::string& command) {
  if (command.find('/') == std::string::npos)
    return base::invalid("--acme-dns-hook \"{}\" must be a path to an executable", command);
  if (::access(command.c_str(), X_OK) != 0)
    return base::sysError("--acme-dns-hook {} is not executable", command);
  return std::shared_ptr<DnsSolver>(std::make_shared<HookSolver>(command));
}

}  // namespace tunnel
