// `burrow up` and `burrow down`: the supervisor of a stack (see stack.h). The supervisor is
// one thread: it forks a monitor per service (which runs sandbox::exec for it), runs the
// connector as a child, copies their output into rotated log files, restarts them with the one
// restart policy, and records what it made in STATE/stack/state.json as it makes it, so that
// `down` can take it all back even after the supervisor was killed.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "admin/admin.h"
#include "base/base.h"
#include "config/config.h"
#include "netns/netns.h"
#include "sandbox/sandbox.h"
#include "stack/internal.h"
#include "stack/stack.h"
#include "stack/users.h"
#include "supervise/supervise.h"
#include "tunnel/tunnel.h"

namespace stack {

std::string stackDir(const std::string& state_dir) { return state_dir + "/stack"; }
std::string recordPath(const std::string& state_dir) { return stackDir(state_dir) + "/state.json"; }
std::string logPath(const std::string& state_dir, const std::string& service) {
  return fmt::format("{}/logs/{}.log", stackDir(state_dir), service);
}
std::string remoteTokenPath(const std::string& state_dir, const std::string& name) {
  return fmt::format("{}/tunnel-{}.token", stackDir(state_dir), name);
}

namespace {

using clock = std::chrono::steady_clock;
using nlohmann::json;
using std::chrono::milliseconds;

constexpr const char* kFirewallTable = "burrow_stack";
constexpr const char* kConnector = "connector";
constexpr const char* kDashboard = "dashboard";
// A restart request's index for the connector (a service's is its place in the record).
constexpr int kConnectorIndex = 0xffff;
constexpr off_t kLogMax = 10 << 20;  // a log is rotated (one old part kept) past this size

// `e` with `prefix` before its context; its code (and so the system's text) is kept.
base::Unexpected prefixed(const base::Error& e, const std::string& prefix) {
  return base::Unexpected(base::Error{e.code, prefix + e.context});
}

int64_t unixNow() { return static_cast<int64_t>(::time(nullptr)); }

std::string lockPath(const std::string& state_dir) { return stackDir(state_dir) + "/lock"; }

// The name both the namespace and the host's end of a private service's link take: at most
// 15 characters (IFNAMSIZ), stable for the service.
std::string linkName(const std::string& service) {
  if (service.size() <= 12) return "bs-" + service;
  uint32_t h = 2166136261u;  // FNV-1a: the same name on every build
  for (unsigned char c : service) h = (h ^ c) * 16777619u;
  return fmt::format("bs-{}{:04x}", service.substr(0, 8), h & 0xffff);
}

std::string dotted(uint32_t ip) {
  return fmt::format("{}.{}.{}.{}", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
}

// An ExecStart= line that splits back into `argv` (double quotes, backslash escapes).
std::string execLine(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty() && a.find_first_of(" \t\"'\\") == std::string::npos;
    if (plain) {
      out += a;
      continue;
    }
    out += '"';
    for (char c : a) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out;
}

std::string networkText(const config::StackService& s) {
  switch (s.network) {
    case config::StackNetwork::Private:
      return "private";
    case config::StackNetwork::Host:
      return "host";
    case config::StackNetwork::None:
      return "none";
    case config::StackNetwork::Vpn:
      return "vpn:" + s.vpn;
  }
  return "?";
}

std::string exitText(int status) {
  if (WIFSIGNALED(status)) {
    const char* n = ::sigabbrev_np(WTERMSIG(status));
    return fmt::format("signal {}", n ? n : std::to_string(WTERMSIG(status)).c_str());
  }
  int code = WEXITSTATUS(status);
  if (code > 128 && code < 128 + 65) {
    const char* n = ::sigabbrev_np(code - 128);
    return fmt::format("signal {}", n ? n : std::to_string(code - 128).c_str());
  }
  return fmt::format("exit code {}", code);
}

// ---- the plan ----

base::Result<sandbox::Config> serviceConfig(const config::Stack& st, const config::StackService& s,
                                            const std::string& burrow) {
  config::UnitFile u;
  if (s.unit) {
    u = *s.unit;
  } else {
    u.source = st.source;
    u.name = s.name + ".service";
    std::vector<std::string> argv = s.exec;
    if (!argv.empty() && argv.front() == "burrow") argv.front() = burrow;
    u.sections.push_back({"Service", s.line, {{"ExecStart", execLine(argv), s.line, st.source}}});
  }
  if (!s.sandbox.empty()) u.sections.push_back({"Service", s.line, s.sandbox});
  auto cfg = sandbox::configFromUnit(u);
  if (!cfg)
    return prefixed(cfg.error(), fmt::format("{}:{}: services.{}: ", st.source, s.line, s.name));
  // burrow itself, read-only where it is: a PrivateTmp= (DynamicUser=) would hide a copy
  // under /tmp from `exec: [burrow, ...]`.
  if (!s.unit && !s.exec.empty() && s.exec.front() == "burrow")
    cfg->binds.push_back({burrow, burrow, /*read_only=*/true, /*optional=*/false,
                          /*recursive=*/false});
  return cfg;
}

// Everything the service's process is made of, as text (not `connects`: that is the firewall's).
std::string fingerprintOf(const config::StackService& s, const Member& m) {
  std::string f = fmt::format("network={}\nexec={}\n", networkText(s), execLine(s.exec));
  if (s.unit)
    for (const auto& sec : s.unit->sections)
      for (const auto& e : sec.entries) f += fmt::format("[{}]{}={}\n", sec.name, e.key, e.value);
  for (const auto& e : s.sandbox) f += fmt::format("sandbox {}={}\n", e.key, e.value);
  for (const auto& b : s.binds)
    f += fmt::format("bind {}:{}:{}\n", b.source, b.target, b.read_only);
  f += fmt::format("users={} ephemeral={}\n", s.pick_users ? "pick" : "none", s.ephemeral);
  return f + fmt::format("address={}\n", m.address);
}

std::optional<json> readJson(const std::string& path) {
  auto t = base::readFile(path);
  if (!t) return std::nullopt;
  json j = json::parse(*t, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

}  // namespace

base::Result<Plan> makePlan(std::shared_ptr<const config::Stack> stack,
                            const std::string& state_dir, const std::string& burrow) {
  const config::Stack& st = *stack;
  Plan plan;
  plan.stack = stack;
  auto fail = [&](int line, const std::string& key, const std::string& what) {
    return base::invalid("{}:{}: {}: {}", st.source, line, key, what);
  };
  std::vector<Member> members;
  for (const auto& s : st.services) {
    const std::string key = "services." + s.name;
    Member m;
    m.name = s.name;
    m.spec = &s;
    ASSIGN_OR_RETURN(m.cfg, serviceConfig(st, s, burrow));
    if (!m.cfg.network_namespace_path.empty() || m.cfg.private_network)
      if (s.network != config::StackNetwork::Host)
        return fail(
            s.line, key + ".network",
            fmt::format("the unit sets {}: give the service its network in burrow.yaml "
                        "(network: none, or vpn:NAME) instead",
                        m.cfg.private_network ? "PrivateNetwork=" : "NetworkNamespacePath="));
    for (const auto& b : s.binds)
      m.cfg.binds.push_back({b.source, b.target, b.read_only, /*optional=*/false,
                             /*recursive=*/true});
    m.cfg.ephemeral_root = s.ephemeral;
    m.restart = m.cfg.restart;
    m.backoff = supervise::Backoff(m.cfg.restart_sec);
    members.push_back(std::move(m));
  }
  // Start order: each service after those in its `after:` (the parser refused cycles), else
  // in file order.
  std::set<std::string> placed;
  std::vector<bool> taken(members.size());
  while (plan.members.size() < members.size()) {
    bool progress = false;
    for (size_t i = 0; i < members.size() && !progress; ++i) {
      // bindsTo orders the start as after does: a service starts once what it binds to runs.
      const auto& spec = *members[i].spec;
      auto ready = [&](const std::vector<std::string>& names) {
        return std::all_of(names.begin(), names.end(),
                           [&](const std::string& a) { return placed.count(a) > 0; });
      };
      if (taken[i] || !ready(spec.after) || !ready(spec.binds_to)) continue;
      taken[i] = true;
      placed.insert(members[i].name);
      plan.members.push_back(std::move(members[i]));
      progress = true;
    }
    if (!progress) {
      for (size_t i = 0; i < members.size(); ++i)
        if (!taken[i])
          return fail(members[i].spec->line, "services." + members[i].name,
                      "after: and bindsTo: make the services wait for each other");
    }
  }

  // Addresses: one /30 of the pool per private service, kept from the last run when it can be.
  auto slash = st.pool.find('/');
  in_addr a{};
  ::inet_pton(AF_INET, st.pool.substr(0, slash).c_str(), &a);
  const uint32_t base = ntohl(a.s_addr);
  const int prefix = std::atoi(st.pool.c_str() + slash + 1);
  const uint64_t blocks = (uint64_t{1} << (32 - prefix)) / 4;
  json known = readJson(stackDir(state_dir) + "/addresses.json").value_or(json::object());
  if (!known.is_object() || known.value("pool", "") != st.pool)
    known = json{{"pool", st.pool}, {"services", json::object()}};
  json& index = known["services"];
  std::set<uint64_t> used;
  std::vector<Member*> need;
  for (auto& m : plan.members) {
    if (m.spec->network != config::StackNetwork::Private) continue;
    uint64_t i = index.value(m.name, blocks);
    if (i < blocks && !used.count(i))
      used.insert(i);
    else
      need.push_back(&m);
  }
  uint64_t next = 0;
  for (Member* m : need) {
    while (next < blocks && used.count(next)) ++next;
    if (next >= blocks)
      return base::invalid("{}: network.pool {} has room for {} private service(s)", st.source,
                           st.pool, blocks);
    used.insert(next);
    index[m->name] = next;
  }
  for (auto& m : plan.members) {
    if (m.spec->network == config::StackNetwork::Host) m.address = "127.0.0.1";
    if (m.spec->network == config::StackNetwork::Private) {
      const auto i = index[m.name].get<uint64_t>();
      m.netns = m.host_link = linkName(m.name);
      m.host_address = dotted(base + static_cast<uint32_t>(4 * i) + 1);
      m.address = dotted(base + static_cast<uint32_t>(4 * i) + 2);
    }
    if (m.spec->network == config::StackNetwork::None) m.netns = linkName(m.name);
    m.fingerprint = fingerprintOf(*m.spec, m);
  }
  plan.addresses = std::move(known);

  // Routes: each [NAME] needs an address; the connector needs a token.
  std::vector<std::pair<const config::IngressRule*, const config::Service*>> named;
  for (const auto& r : st.routes) {
    named.emplace_back(&r, &r.service);
    if (r.origin.access_portal) named.emplace_back(&r, &*r.origin.access_portal);
  }
  for (const auto& [rp, svc] : named) {
    const config::IngressRule& r = *rp;
    if (svc->name.empty()) continue;
    auto m = std::find_if(plan.members.begin(), plan.members.end(),
                          [&](const Member& x) { return x.name == svc->name; });
    if (m == plan.members.end()) continue;  // the parser named it already
    if (m->spec->network == config::StackNetwork::None)
      return fail(r.line, "routes",
                  fmt::format("{}: service {} has network: none, so no address to reach it at",
                              svc->text, m->name));
    if (m->spec->network == config::StackNetwork::Vpn) {
      // The connector reaches it through the namespace's host link: the port must be published.
      const config::NamespaceConfig* ns = nullptr;
      for (const auto& n : st.namespaces)
        if (n.name == m->spec->vpn) ns = &n;
      if (ns && std::find(ns->publish_tcp.begin(), ns->publish_tcp.end(), svc->port) ==
                    ns->publish_tcp.end())
        return fail(r.line, "routes",
                    fmt::format("{}: service {} is confined to namespace {}, which does not "
                                "publish port {} to the host: add it to namespaces.{}."
                                "publishToHost.tcp",
                                svc->text, m->name, m->spec->vpn, svc->port, m->spec->vpn));
    }
  }
  if (!st.routes.empty()) {
    if (st.token_file.empty() && st.login_file.empty())
      return base::invalid("{}: routes: the connector needs tunnel.tokenFile (or tunnel.login)",
                           st.source);
    if (!st.token_file.empty()) {
      auto token = tunnel::readTokenFile(st.token_file);
      if (!token) return prefixed(token.error(), st.source + ": tunnel.tokenFile: ");
    } else {
      auto login = tunnel::readTokenFile(st.login_file);
      if (!login) return prefixed(login.error(), st.source + ": tunnel.login: ");
    }
    Member c;
    c.name = kConnector;
    c.restart = supervise::Restart::Always;
    c.backoff = supervise::Backoff(std::chrono::seconds(1));
    c.fingerprint = fmt::format(
        "token={}\nlogin={}\nname={}\naccessLog={}\naccessLogFormat={}\nmetrics={}", st.token_file,
        st.login_file, st.tunnel_name, st.access_log, st.access_log_format, st.metrics);
    plan.connector = std::move(c);
  } else if (!st.access_log.empty() || !st.metrics.empty()) {
    return base::invalid(
        "{}: tunnel.{}: that is the connector's, and without routes: there is "
        "no connector",
        st.source, st.access_log.empty() ? "metrics" : "accessLog");
  }
  return plan;
}

std::string connectorConfig(const config::Stack& st, const std::vector<Member>& members) {
  config::TunnelConfig cfg;
  cfg.ingress = st.routes;
  cfg.middlewares = st.middlewares;
  for (auto& r : cfg.ingress)
    for (const auto& m : members) {
      if (r.service.name == m.name) r.service.host = m.address;
      if (r.origin.access_portal && r.origin.access_portal->name == m.name)
        r.origin.access_portal->host = m.address;
    }
  return "# written by burrow up from " + st.source + "\n" + config::formatTunnelConfig(cfg);
}

namespace {

// Namespace settings without the lines they were written on.
bool sameNamespaces(std::vector<config::NamespaceConfig> a,
                    std::vector<config::NamespaceConfig> b) {
  for (auto* v : {&a, &b})
    for (auto& n : *v) {
      n.line = n.wireguard.line = 0;
      n.warnings.clear();
      for (auto& p : n.wireguard.peers) p.line = 0;
    }
  return a == b;
}

class Supervisor {
 public:
  Supervisor(Options o, Plan plan)
      : o_(std::move(o)),
        st_(std::move(plan.stack)),
        members_(std::move(plan.members)),
        connector_(std::move(plan.connector)),
        addresses_(std::move(plan.addresses)) {
    if (!o_.admin.empty()) {
      Member d;
      d.name = kDashboard;
      d.restart = supervise::Restart::Always;
      d.backoff = supervise::Backoff(std::chrono::seconds(1));
      dashboard_ = std::move(d);
    }
  }

  // Takes the lock of STATE/stack; an error when another supervisor holds it.
  base::Result<void> lock();
  // Brings everything up; on failure takes back what it made and returns the error.
  base::Result<void> bringUp();
  // Until SIGTERM/SIGINT; then stops and takes everything down. SIGHUP applies the file again.
  int run();
  std::string table();
  // "" when every service and the connector run; else which do not, and what to do.
  std::string notRunning() const;
  void stopAndTearDown();

 private:
  base::Result<void> upNetwork(Member& m);
  void downNetwork(Member& m);
  base::Result<void> applyFirewall();
  base::Result<void> spawn(Member& m);
  void stop(Member& m, milliseconds grace);
  base::Result<void> writeConnectorConfig(const std::string& text);
  base::Result<sandbox::Config> connectorSandbox();
  base::Result<sandbox::Config> dashboardSandbox();
  base::Result<void> reload();
  void restartOnRequest(int request);
  void pump(milliseconds timeout);
  void reap();
  void drain(Member& m);
  void writeRecord();
  void say(const std::string& line);
  Member* byPid(pid_t pid);
  std::string bindingDown(const Member& m) const;

  Options o_;
  std::shared_ptr<const config::Stack> st_;
  std::vector<Member> members_;  // services in start order
  std::optional<Member> connector_;
  std::optional<Member> dashboard_;  // up --admin
  json addresses_;
  std::vector<std::string> namespaces_;                       // VPN namespaces made
  std::vector<std::pair<std::string, std::string>> private_;  // (namespace, link) made
  bool firewall_ = false, forwarding_set_ = false;
  bool stopping_ = false;
  bool reload_requested_ = false;      // SIGHUP came
  std::vector<int> restart_requests_;  // SIGUSR2's values: see requestRestart
  bool reloading_ = false;
  int generation_ = 0;                     // reloads done
  std::vector<std::string> reload_lines_;  // what the last reload did
  bool reload_ok_ = true;
  base::UniqueFd lock_, sigs_, null_;
  std::string connector_config_, connector_text_;
  std::string firewall_rules_;  // as applied last
};

// ---- bring up ----

constexpr const char* kResolvedUpstream = "/run/systemd/resolve/resolv.conf";

base::Result<void> tearDownRecord(const std::string& state_dir, const json& rec);

void progress(const std::string& line) {
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

base::Result<void> Supervisor::lock() {
  RETURN_IF_ERROR(base::ensureDir(stackDir(o_.state_dir) + "/logs", 0700));
  lock_ =
      base::UniqueFd(::open(lockPath(o_.state_dir).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock_) return base::sysError("open {}", lockPath(o_.state_dir));
  if (::flock(lock_.get(), LOCK_EX | LOCK_NB) < 0) {
    json rec = json::parse(base::readFile(recordPath(o_.state_dir)).value_or("{}"), nullptr, false);
    pid_t pid = rec.is_object() ? rec.value("supervisor", 0) : 0;
    return base::makeError(std::errc::device_or_resource_busy,
                           "a stack is already up on {} (supervisor pid {}): burrow down first",
                           o_.state_dir, pid);
  }
  // A record nobody holds: its supervisor was killed (its services ended with it). What it
  // made is taken down first, so that this one starts from nothing (as after a reboot).
  if (auto rec = readJson(recordPath(o_.state_dir)); rec && rec->is_object()) {
    progress(fmt::format(
        "the last supervisor (pid {}) ended without taking its stack down: removing what its "
        "record lists",
        rec->value("supervisor", 0)));
    RETURN_IF_ERROR(tearDownRecord(o_.state_dir, *rec));
  }
  // Signals come through a signalfd; the children get them unblocked again.
  sigset_t mask;
  sigemptyset(&mask);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR2}) sigaddset(&mask, sig);
  ::sigprocmask(SIG_BLOCK, &mask, nullptr);
  sigs_ = base::UniqueFd(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  null_ = base::UniqueFd(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!sigs_ || !null_) return base::sysError("signalfd");
  return {};
}

void Supervisor::writeRecord() {
  json services = json::array();
  auto row = [](const Member& m) {
    return json{{"name", m.name},
                {"network", m.spec ? networkText(*m.spec) : "-"},
                {"address", m.address},
                {"netns", m.netns},
                {"host_link", m.host_link},
                {"state", m.state},
                {"pid", m.pid},
                {"restarts", m.restarts},
                {"started", m.pid ? m.started_unix : 0},
                {"last_exit", m.last_exit},
                {"user_base", m.range ? m.range->base() : 0}};
  };
  for (const auto& m : members_) {
    json r = row(m);
    const sandbox::Audit a = auditMember(m);
    r["exposure"] = static_cast<double>(a.exposure) / 10;
    r["band"] = a.band;
    r["worst"] = worstChecks(a, 3);
    services.push_back(std::move(r));
  }
  json routes = json::array();
  for (const auto& r : st_->routes) {
    std::string target = r.service.text;
    if (!r.service.name.empty())
      for (const auto& m : members_)
        if (m.name == r.service.name && !m.address.empty())
          if (size_t at = target.find("[" + m.name + "]"); at != std::string::npos)
            target.replace(at, m.name.size() + 2, m.address);
    routes.push_back({{"hostname", r.hostname},
                      {"path", r.path},
                      {"rule", r.rule},
                      {"service", r.service.name},
                      {"target", target},
                      {"middlewares", r.middlewares}});
  }
  json priv = json::array();
  for (const auto& [ns, link] : private_) priv.push_back({{"netns", ns}, {"host_link", link}});
  json rec = {{"supervisor", ::getpid()},
              {"file", absolutePath(st_->source)},
              {"namespaces", namespaces_},
              {"private", priv},
              {"firewall", firewall_ ? kFirewallTable : ""},
              {"ip_forward_set", forwarding_set_},
              {"services", services},
              {"routes", routes},
              {"admin", o_.admin},
              {"admin_actions", o_.admin_actions},
              {"admin_users", o_.admin_users},
              {"admin_access", o_.admin_access},
              {"generation", generation_},
              {"reload", {{"ok", reload_ok_}, {"lines", reload_lines_}}}};
  if (connector_) rec["connector"] = row(*connector_);
  if (dashboard_) rec["dashboard"] = row(*dashboard_);
  if (auto r = base::writeFileAtomic(recordPath(o_.state_dir), rec.dump(2) + "\n", 0600); !r)
    LOG_ERROR("stack record: {}", r.error().message());
}

void Supervisor::say(const std::string& line) {
  if (!reloading_) {
    progress(line);
    return;
  }
  LOG_INFO("stack reload: {}", line);
  reload_lines_.push_back(line);
}

// A service confined to a VPN namespace is reached at the namespace's end of its host link.
base::Result<void> fillVpnAddresses(std::vector<Member>& members, const std::string& state_dir) {
  for (auto& m : members) {
    if (m.spec->network != config::StackNetwork::Vpn) continue;
    ASSIGN_OR_RETURN(auto all, netns::status(state_dir, m.spec->vpn));
    if (!all.empty()) m.address = all.front().namespace_address;
  }
  return {};
}

// The /etc/resolv.conf a service on a private network is given: the host's, unless that names
// only loopback resolvers (systemd-resolved's stub 127.0.0.53, a local dnsmasq), which a private
// network cannot reach; then systemd-resolved's list of its upstream servers, as Docker does.
// "" = the host's file as it is; nullopt when neither names a resolver beyond loopback.
std::optional<std::string> privateResolvConf() {
  auto loopbackOnly = [](const std::string& path) -> std::optional<bool> {
    auto text = base::readFile(path, 64 << 10);
    if (!text) return std::nullopt;
    bool remote = false;
    std::string_view rest = *text;
    while (!rest.empty()) {
      const size_t end = std::min(rest.find('\n'), rest.size());
      std::string_view line = base::trim(rest.substr(0, end));
      rest.remove_prefix(std::min(end + 1, rest.size()));
      if (!line.starts_with("nameserver")) continue;
      std::string_view addr = base::trim(line.substr(10));
      addr = addr.substr(0, addr.find_first_of(" \t#"));
      if (!addr.starts_with("127.") && addr != "::1") remote = true;
    }
    return !remote;  // no nameserver line at all means 127.0.0.1 to the C library
  };
  if (!loopbackOnly("/etc/resolv.conf").value_or(false)) return "";
  if (!loopbackOnly(kResolvedUpstream).value_or(true)) return kResolvedUpstream;
  return std::nullopt;
}

base::Result<void> Supervisor::upNetwork(Member& m) {
  if (m.netns.empty()) return {};
  RETURN_IF_ERROR(netns::upPrivate({m.netns, m.host_link, m.host_address, m.address, 30}));
  private_.emplace_back(m.netns, m.host_link);
  writeRecord();
  say(m.host_link.empty()
          ? fmt::format("network {}: loopback only", m.name)
          : fmt::format("network {}: {} on link {}", m.name, m.address, m.host_link));
  if (!m.host_link.empty() && !privateResolvConf())
    say(
        fmt::format("network {}: no DNS: /etc/resolv.conf names only loopback resolvers, "
                    "which a private network cannot reach, and {} lists none either",
                    m.name, kResolvedUpstream));
  return {};
}

void Supervisor::downNetwork(Member& m) {
  auto it = std::find(private_.begin(), private_.end(), std::pair{m.netns, m.host_link});
  if (it == private_.end()) return;
  if (auto r = netns::downPrivate(m.netns, m.host_link); !r)
    LOG_ERROR("stack: {}", r.error().message());
  private_.erase(it);
  writeRecord();
}

base::Result<void> Supervisor::applyFirewall() {
  netns::StackFirewall fw{kFirewallTable, st_->pool, {}, {}, false};
  for (const auto& m : members_)
    if (!m.host_link.empty()) fw.links.push_back(m.host_link);
  if (fw.links.empty()) {
    if (firewall_) {
      RETURN_IF_ERROR(netns::removeStackFirewall(kFirewallTable));
      firewall_ = false;
      writeRecord();
    }
    return {};
  }
  for (const auto& m : members_)
    for (const auto& to : m.spec->connects)
      for (const auto& t : members_)
        if (t.name == to && !m.host_link.empty() && !t.host_link.empty())
          fw.connects.emplace_back(m.address, t.address);
  bool forwarding = forwarding_set_;
  if (!forwarding_set_) {
    ASSIGN_OR_RETURN(bool on, netns::ipForwarding());
    forwarding = on;
  }
  // When the host did not forward before the stack, it forwards for the stack's links only.
  fw.contain_forwarding = forwarding_set_ || !forwarding;
  const std::string rules = netns::renderStackFirewall(fw);
  if (firewall_ && rules == firewall_rules_) return {};
  RETURN_IF_ERROR(netns::applyStackFirewall(fw));
  firewall_rules_ = rules;
  firewall_ = true;
  writeRecord();
  if (!forwarding) {
    RETURN_IF_ERROR(netns::setIpForwarding(true));
    forwarding_set_ = true;
    writeRecord();
  }
  say(fmt::format("firewall: table inet {}, {} link(s), {} connects pair(s){}", kFirewallTable,
                  fw.links.size(), fw.connects.size(),
                  forwarding ? "" : "; net.ipv4.ip_forward set to 1 for the stack's links"));
  return {};
}

// The connector runs as any service does, in a sandbox: the profile `burrow service install`
// gives burrow's own commands, with no capability at all. It reads its token from a copy in
// STATE/stack (ProtectHome= would hide a token kept under /home or /root).
base::Result<sandbox::Config> Supervisor::connectorSandbox() {
  const std::string token = stackDir(o_.state_dir) + "/token";
  std::string secret;
  if (!st_->login_file.empty()) {
    // tunnel.login: the tunnel and its routes are made on the edge (again when gone), its
    // token kept beside the stack's records until `down --purge`.
    auto made = tunnel::ensureRemoteTunnel(st_->login_file, st_->tunnel_name,
                                           remoteTokenPath(o_.state_dir, st_->tunnel_name),
                                           st_->hostnames());
    if (!made) return prefixed(made.error(), "tunnel " + st_->tunnel_name + " on the edge: ");
    secret = std::move(*made);
  } else {
    ASSIGN_OR_RETURN(secret, tunnel::readTokenFile(st_->token_file));
  }
  RETURN_IF_ERROR(base::writeFileAtomic(token, secret + "\n", 0600));
  std::vector<std::string> argv = {o_.burrow,         "tunnel",       "run", "--config",
                                   connector_config_, "--token-file", token};
  if (!o_.log_level.empty()) argv.insert(argv.begin() + 1, {"--log-level", o_.log_level});
  if (!st_->access_log.empty()) argv.insert(argv.end(), {"--access-log", st_->access_log});
  if (!st_->access_log_format.empty())
    argv.insert(argv.end(), {"--access-log-format", st_->access_log_format});
  if (!st_->metrics.empty()) argv.insert(argv.end(), {"--metrics", st_->metrics});
  // Root reads the stack directory's 0600 files: no user namespace that would map it to nobody.
  const std::string unit = "[Service]\nExecStart=" + execLine(argv) + "\n" +
                           supervise::hardening({.private_users = false});
  ASSIGN_OR_RETURN(config::UnitFile u, config::parseUnitFile(unit, "connector.service"));
  ASSIGN_OR_RETURN(sandbox::Config cfg, sandbox::configFromUnit(u));
  // PrivateTmp= and ProtectHome= would hide burrow, the stack directory or the access log's
  // directory kept under /tmp or a home: each is bound back in; a home is then an empty tmpfs
  // around them (ProtectHome=tmpfs) rather than inaccessible. Directories, not files: a new
  // config.yml replaces the old file (the connector reads it again on reload), and logrotate
  // moves the access log away (SIGUSR1 makes a new one).
  auto bindBack = [&cfg](const std::string& p, bool read_only) {
    cfg.binds.push_back({p, p, read_only, /*optional=*/false, /*recursive=*/false});
    for (std::string_view home : {"/home/", "/root/", "/run/user/"})
      if (p.starts_with(home)) cfg.protect_home = "tmpfs";
  };
  bindBack(absolutePath(o_.burrow), true);
  bindBack(absolutePath(stackDir(o_.state_dir)), true);
  if (!st_->access_log.empty()) {
    const size_t slash = st_->access_log.rfind('/');
    bindBack(slash == 0 ? "/" : st_->access_log.substr(0, slash), false);
  }
  return cfg;
}

// The dashboard (up --admin) runs `burrow dashboard` in the connector's sandbox, with what it
// needs to read the stack's state as `burrow ps` does: root's files (no user namespace), and
// CAP_SYS_ADMIN to enter a VPN namespace to see whether its tunnel's link is up.
base::Result<sandbox::Config> Supervisor::dashboardSandbox() {
  std::vector<std::string> argv = {o_.burrow,    "dashboard", "--state-dir",
                                   o_.state_dir, "--admin",   o_.admin};
  if (o_.admin_actions) argv.push_back("--admin-actions");
  if (!o_.admin_users.empty()) argv.insert(argv.end(), {"--admin-users", o_.admin_users});
  if (!o_.admin_access.empty()) argv.insert(argv.end(), {"--admin-access", o_.admin_access});
  if (!o_.log_level.empty()) argv.insert(argv.begin() + 1, {"--log-level", o_.log_level});
  const std::string unit = "[Service]\nExecStart=" + execLine(argv) + "\n" +
                           supervise::hardening({.private_users = false}) +
                           "CapabilityBoundingSet=CAP_SYS_ADMIN\nRestrictNamespaces=net\n"
                           "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK\n"
                           "SystemCallFilter=setns\n";
  ASSIGN_OR_RETURN(config::UnitFile u, config::parseUnitFile(unit, "dashboard.service"));
  ASSIGN_OR_RETURN(sandbox::Config cfg, sandbox::configFromUnit(u));
  std::vector<std::string> binds = {absolutePath(o_.burrow), absolutePath(o_.state_dir)};
  if (!o_.admin_users.empty()) binds.push_back(o_.admin_users);
  for (const std::string& p : binds) {
    cfg.binds.push_back({p, p, /*read_only=*/true, /*optional=*/false, /*recursive=*/false});
    for (std::string_view home : {"/home/", "/root/", "/run/user/"})
      if (p.starts_with(home)) cfg.protect_home = "tmpfs";
  }
  return cfg;
}

base::Result<void> Supervisor::writeConnectorConfig(const std::string& text) {
  connector_config_ = stackDir(o_.state_dir) + "/config.yml";
  RETURN_IF_ERROR(base::writeFileAtomic(connector_config_, text, 0600));
  connector_text_ = text;
  return {};
}

base::Result<void> Supervisor::spawn(Member& m) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) return base::sysError("pipe for {}", m.name);
  base::UniqueFd rd(p[0]), wr(p[1]);
  if (!m.log) {
    const std::string path = logPath(o_.state_dir, m.name);
    m.log = base::UniqueFd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!m.log) return base::sysError("open {}", path);
  }
  if (m.spec && m.spec->pick_users && !m.range) {
    ASSIGN_OR_RETURN(m.range, pickUserRange(m.name, stackDir(o_.state_dir) + "/userns-locks"));
    m.cfg.user_range = {m.range->base(), m.range->count()};
  }
  if (!m.spec) {
    ASSIGN_OR_RETURN(m.cfg, m.name == kDashboard ? dashboardSandbox() : connectorSandbox());
  }
  const std::string resolv = m.host_link.empty() ? "" : privateResolvConf().value_or("");
  std::fflush(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return base::sysError("fork for {}", m.name);
  if (pid == 0) {
    // The child: the supervisor has one thread, so the heap is usable here.
    ::setpgid(0, 0);  // a terminal's ^C reaches the supervisor only, which stops in order
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(null_.get(), 0);
    ::dup2(wr.get(), 1);
    ::dup2(wr.get(), 2);
    ::close_range(3, ~0U, 0);
    sandbox::Config cfg = m.cfg;
    sandbox::Invocation inv;
    inv.restart = false;  // the supervisor restarts, with the one policy
    std::optional<netns::Watch> watch;
    if (m.spec && m.spec->network == config::StackNetwork::Vpn) {
      if (auto r = confine(cfg, inv, m.spec->vpn, o_.state_dir, false, watch); !r) {
        std::fprintf(stderr, "burrow: %s\n", r.error().message().c_str());
        ::_exit(1);
      }
    } else if (!m.netns.empty()) {
      cfg.network_namespace_path = netns::namespacePath(m.netns);
      if (!resolv.empty())
        cfg.binds.push_back({resolv, "/etc/resolv.conf", /*read_only=*/true, false, false});
    }
    auto r = sandbox::exec(cfg, inv);
    if (!r) std::fprintf(stderr, "burrow: %s\n", r.error().message().c_str());
    std::fflush(nullptr);
    ::_exit(r ? (*r & 0xff) : 1);
  }
  ::fcntl(rd.get(), F_SETFL, O_NONBLOCK);
  m.out = std::move(rd);
  m.pid = pid;
  m.started = clock::now();
  m.started_unix = unixNow();
  m.restart_at.reset();
  m.state = "running";
  LOG_INFO("stack started name={} pid={}", m.name, pid);
  return {};
}

// The service's id range is free again: its lock file goes.
void releaseRange(Member& m) {
  if (!m.range) return;
  ::unlink(m.range->path().c_str());
  m.range.reset();
}

// SIGTERM, then its grace, then SIGKILL (the process group too: the service under its monitor).
void Supervisor::stop(Member& m, milliseconds grace) {
  m.restart_at.reset();
  m.stop_requested = true;
  if (!m.pid) return;
  ::kill(m.pid, SIGTERM);
  const auto until = clock::now() + grace;
  while (m.pid && clock::now() < until) pump(milliseconds(50));
  if (m.pid) {
    LOG_WARN("stack {} did not stop in {} ms: SIGKILL", m.name, grace.count());
    ::kill(-m.pid, SIGKILL);
    ::kill(m.pid, SIGKILL);
    while (m.pid) pump(milliseconds(50));
  }
  releaseRange(m);
}

milliseconds stopGrace(const Member& m) {
  if (m.name == kDashboard) return std::chrono::seconds(5);
  if (!m.spec) return std::chrono::seconds(35);  // the connector drains for up to 30 s
  return (m.cfg.timeout_stop.count() ? m.cfg.timeout_stop : milliseconds(90'000)) +
         std::chrono::seconds(1);
}

base::Result<void> Supervisor::bringUp() {
  auto fail = [&](base::Error e) -> base::Result<void> {
    progress("failed: " + e.message() + "; taking back what was made");
    stopAndTearDown();
    return base::Unexpected(e);
  };
  writeRecord();
  if (auto r = base::writeFileAtomic(stackDir(o_.state_dir) + "/addresses.json",
                                     addresses_.dump(2) + "\n", 0600);
      !r)
    return fail(r.error());
  for (const auto& ns : st_->namespaces) {
    if (auto r = netns::up(ns, o_.state_dir); !r) return fail(r.error());
    namespaces_.push_back(ns.name);
    writeRecord();
    say(fmt::format("namespace {}: up", ns.name));
  }
  if (auto r = fillVpnAddresses(members_, o_.state_dir); !r) return fail(r.error());
  for (auto& m : members_)
    if (auto r = upNetwork(m); !r) return fail(r.error());
  if (auto r = applyFirewall(); !r) return fail(r.error());
  for (auto& m : members_) {
    pump(milliseconds(0));  // what ended at once is known before what binds to it starts
    if (std::string down = bindingDown(m); !down.empty()) {
      m.held_by = down;
      m.state = "stopped";
      say(fmt::format("service {}: not started: bound to {}, which is not running", m.name, down));
      continue;
    }
    if (auto r = spawn(m); !r) return fail(r.error());
    writeRecord();
    say(fmt::format("service {}: started (pid {}{}{})", m.name, m.pid,
                    m.address.empty() ? "" : ", ", m.address));
  }
  if (connector_) {
    if (auto r = writeConnectorConfig(connectorConfig(*st_, members_)); !r) return fail(r.error());
    if (auto r = spawn(*connector_); !r) return fail(r.error());
    writeRecord();
    say(fmt::format("connector: started (pid {}), {} route(s)", connector_->pid,
                    st_->routes.size()));
  }
  if (dashboard_) {
    if (auto r = spawn(*dashboard_); !r) return fail(r.error());
    writeRecord();
    say(fmt::format("dashboard: started (pid {}), http://{}/", dashboard_->pid, o_.admin));
  }
  // A second for what fails at once to show as failing, not as running.
  const auto until = clock::now() + std::chrono::seconds(1);
  while (clock::now() < until) pump(milliseconds(100));
  return {};
}

// Applies the file again: a changed or removed service is stopped (and its network removed),
// a changed or new one started, the firewall replaced, and the connector given the new routes
// by SIGHUP (requests in flight keep theirs). A file that does not load, or a change burrow
// cannot apply to a running stack, is refused as a whole: the stack runs on as it was.
base::Result<void> Supervisor::reload() {
  auto loaded = config::loadStack(st_->source);
  if (!loaded) return base::Unexpected(loaded.error());
  auto next_stack = std::make_shared<const config::Stack>(std::move(*loaded));
  ASSIGN_OR_RETURN(Plan next, makePlan(next_stack, o_.state_dir, o_.burrow));
  RETURN_IF_ERROR(fillVpnAddresses(next.members, o_.state_dir));
  if (!sameNamespaces(st_->namespaces, next_stack->namespaces))
    return base::invalid(
        "{}: namespaces: changing VPN namespaces of a running stack is not "
        "supported yet: burrow down, then up",
        next_stack->source);
  if (st_->pool != next_stack->pool)
    return base::invalid(
        "{}: network.pool: changing the pool of a running stack is not "
        "supported yet: burrow down, then up",
        next_stack->source);
  // Old members that go, or change: stopped; their networks removed when they change too.
  auto find = [](std::vector<Member>& v, const std::string& name) -> Member* {
    for (auto& m : v)
      if (m.name == name) return &m;
    return nullptr;
  };
  for (auto it = members_.rbegin(); it != members_.rend(); ++it) {
    Member* n = find(next.members, it->name);
    if (n && n->fingerprint == it->fingerprint) continue;
    stop(*it, stopGrace(*it));
    if (!n || n->netns != it->netns || n->address != it->address) downNetwork(*it);
    say(fmt::format("service {}: {}", it->name, n ? "changed, stopped" : "removed, stopped"));
  }
  // The new plan takes over the processes that stay.
  std::vector<Member> old = std::move(members_);
  members_ = std::move(next.members);
  std::vector<Member*> start;
  for (auto& m : members_) {
    Member* o = find(old, m.name);
    if (o && o->fingerprint == m.fingerprint) {
      m.adopt(*o);
      continue;
    }
    const bool has_network = std::find(private_.begin(), private_.end(),
                                       std::pair{m.netns, m.host_link}) != private_.end();
    if (!has_network) RETURN_IF_ERROR(upNetwork(m));
    if (o) {
      m.restarts = o->restarts;
      m.log = std::move(o->log);
    }
    start.push_back(&m);
  }
  st_ = next_stack;
  addresses_ = std::move(next.addresses);
  RETURN_IF_ERROR(base::writeFileAtomic(stackDir(o_.state_dir) + "/addresses.json",
                                        addresses_.dump(2) + "\n", 0600));
  RETURN_IF_ERROR(applyFirewall());
  for (Member* m : start) {
    RETURN_IF_ERROR(spawn(*m));
    say(fmt::format("service {}: started (pid {}{}{})", m->name, m->pid,
                    m->address.empty() ? "" : ", ", m->address));
  }
  // The connector: new routes by SIGHUP; a new token file by a restart.
  const std::string text = connectorConfig(*st_, members_);
  if (connector_ && (!next.connector || next.connector->fingerprint != connector_->fingerprint)) {
    stop(*connector_, stopGrace(*connector_));
    say("connector: stopped");
    connector_.reset();
  }
  if (next.connector && !connector_) {
    connector_ = std::move(next.connector);
    RETURN_IF_ERROR(writeConnectorConfig(text));
    RETURN_IF_ERROR(spawn(*connector_));
    say(fmt::format("connector: started (pid {}), {} route(s)", connector_->pid,
                    st_->routes.size()));
  } else if (connector_ && text != connector_text_) {
    RETURN_IF_ERROR(writeConnectorConfig(text));
    if (connector_->pid) ::kill(connector_->pid, SIGHUP);
    say(fmt::format("connector: routes reloaded ({} route(s))", st_->routes.size()));
  }
  if (reload_lines_.empty()) say("nothing changed");
  writeRecord();
  return {};
}

// ---- the loop ----

Member* Supervisor::byPid(pid_t pid) {
  for (auto& m : members_)
    if (m.pid == pid) return &m;
  if (connector_ && connector_->pid == pid) return &*connector_;
  return dashboard_ && dashboard_->pid == pid ? &*dashboard_ : nullptr;
}

void Supervisor::drain(Member& m) {
  if (!m.out) return;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(m.out.get(), buf, sizeof buf);
    if (n > 0) {
      (void)!::write(m.log.get(), buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) m.out.reset();  // every writer closed it
    break;
  }
  struct stat st {};
  if (m.log && ::fstat(m.log.get(), &st) == 0 && st.st_size > kLogMax) {
    const std::string path = logPath(o_.state_dir, m.name);
    ::rename(path.c_str(), (path + ".1").c_str());
    m.log = base::UniqueFd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  }
}

void Supervisor::reap() {
  int status = 0;
  pid_t pid;
  while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
    Member* m = byPid(pid);
    if (!m) continue;
    drain(*m);
    m->pid = 0;
    m->last_exit = exitText(status);
    const supervise::Exit e = WIFEXITED(status) ? supervise::Exit::fromCode(WEXITSTATUS(status))
                                                : supervise::Exit::fromWaitStatus(status);
    const auto ran = std::chrono::duration_cast<milliseconds>(clock::now() - m->started);
    if (stopping_ || m->stop_requested) {
      m->state = "stopped";
    } else if (!m->held_by.empty()) {
      m->state = "stopped";
      LOG_INFO("stack {} stopped: bound to {}, which is not running", m->name, m->held_by);
    } else if (supervise::shouldRestart(m->restart, e)) {
      const milliseconds delay = m->backoff.next(ran);
      m->state = "restarting";
      m->restart_at = clock::now() + delay;
      LOG_WARN("stack {} ended ({}); restarting in {} ms", m->name, m->last_exit, delay.count());
    } else {
      m->state = e.clean ? "stopped" : "failed";
      LOG_WARN("stack {} ended ({}); not restarted (Restart=)", m->name, m->last_exit);
    }
    // bindsTo: what is bound to it stops with it (and starts again once it runs).
    if (m->spec && !stopping_)
      for (auto& x : members_)
        if (std::count(x.spec->binds_to.begin(), x.spec->binds_to.end(), m->name) &&
            x.held_by.empty()) {
          x.held_by = m->name;
          x.restart_at.reset();
          x.kill_at = clock::now() + stopGrace(x);
          if (x.pid) ::kill(x.pid, SIGTERM);
          if (!x.pid) x.state = "stopped";
          LOG_INFO("stack {} stopping: bound to {}, which ended", x.name, m->name);
        }
    writeRecord();
  }
}

// "" when every service `m` binds to runs; otherwise the first that does not.
std::string Supervisor::bindingDown(const Member& m) const {
  for (const auto& b : m.spec->binds_to)
    for (const auto& x : members_)
      if (x.name == b && x.state != "running") return b;
  return "";
}

void Supervisor::pump(milliseconds timeout) {
  std::vector<pollfd> fds{{sigs_.get(), POLLIN, 0}};
  std::vector<Member*> owners{nullptr};
  auto add = [&](Member& m) {
    if (m.out) {
      fds.push_back({m.out.get(), POLLIN, 0});
      owners.push_back(&m);
    }
  };
  for (auto& m : members_) add(m);
  if (connector_) add(*connector_);
  if (dashboard_) add(*dashboard_);
  ::poll(fds.data(), fds.size(), static_cast<int>(timeout.count()));
  for (size_t i = 1; i < fds.size(); ++i)
    if (fds[i].revents) drain(*owners[i]);
  signalfd_siginfo si{};
  while (::read(sigs_.get(), &si, sizeof si) == sizeof si) {
    if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
      if (!stopping_) LOG_INFO("stack stopping on signal {}", si.ssi_signo);
      stopping_ = true;
    }
    if (si.ssi_signo == SIGHUP) reload_requested_ = true;
    if (si.ssi_signo == SIGUSR2 && si.ssi_code == SI_QUEUE) restart_requests_.push_back(si.ssi_int);
  }
  reap();
  if (stopping_) return;
  for (auto& x : members_) {
    if (x.held_by.empty()) continue;
    if (x.pid && clock::now() > x.kill_at) {  // it outlived its TimeoutStopSec=
      ::kill(-x.pid, SIGKILL);
      ::kill(x.pid, SIGKILL);
    }
    if (x.pid || !bindingDown(x).empty()) continue;
    x.held_by.clear();  // what it binds to runs again: so does it
    if (auto r = spawn(x); !r) {
      LOG_ERROR("stack {}: {}", x.name, r.error().message());
      x.state = "failed";
    }
    writeRecord();
  }
  auto due = [&](Member& m) {
    if (!m.restart_at || clock::now() < *m.restart_at) return;
    ++m.restarts;
    if (auto r = spawn(m); !r) {
      LOG_ERROR("stack {}: {}", m.name, r.error().message());
      m.state = "failed";
      m.restart_at.reset();
    }
    writeRecord();
  };
  for (auto& m : members_) due(m);
  if (connector_) due(*connector_);
  if (dashboard_) due(*dashboard_);
}

int Supervisor::run() {
  while (!stopping_) {
    pump(milliseconds(500));
    for (int request : std::exchange(restart_requests_, {}))
      if (!stopping_) restartOnRequest(request);
    if (!reload_requested_ || stopping_) continue;
    reload_requested_ = false;
    reloading_ = true;
    reload_lines_.clear();
    auto r = reload();
    reload_ok_ = r.has_value();
    if (!r) {
      reload_lines_.push_back("reload failed: " + r.error().message());
      LOG_ERROR("stack reload: {}", r.error().message());
    }
    ++generation_;
    reloading_ = false;
    writeRecord();
  }
  progress("stopping the stack");
  stopAndTearDown();
  return 0;
}

// `burrow restart NAME` (and the dashboard's restart and drain): stops the member, as `down`
// would, and starts it again whatever its Restart=. A request made before a reload (whose
// members may be others) is dropped.
void Supervisor::restartOnRequest(int request) {
  const int gen = (request >> 16) & 0x7fff, index = request & 0xffff;
  Member* m = nullptr;
  if (index == kConnectorIndex && connector_)
    m = &*connector_;
  else if (index < static_cast<int>(members_.size()))
    m = &members_[index];
  if (gen != (generation_ & 0x7fff) || m == nullptr) {
    LOG_WARN(
        "stack restart request dropped: made for another generation of the stack ({}, "
        "now {}) or no member {}",
        gen, generation_ & 0x7fff, index);
    return;
  }
  LOG_INFO("stack {} restarting on request", m->name);
  stop(*m, stopGrace(*m));
  m->stop_requested = false;
  if (m->spec && !bindingDown(*m).empty()) {
    m->held_by = bindingDown(*m);  // started again once what it binds to runs
    LOG_INFO("stack {} stays stopped until {} runs (bindsTo)", m->name, m->held_by);
  } else if (auto r = spawn(*m); !r) {
    LOG_ERROR("stack {}: {}", m->name, r.error().message());
    m->state = "failed";
  }
  writeRecord();
}

void Supervisor::stopAndTearDown() {
  stopping_ = true;
  // The dashboard, the connector (it drains the requests in flight), then the services, last
  // started first; each gets its TimeoutStopSec= (and a second for its monitor) before SIGKILL.
  if (dashboard_) stop(*dashboard_, stopGrace(*dashboard_));
  if (connector_) stop(*connector_, stopGrace(*connector_));
  for (auto it = members_.rbegin(); it != members_.rend(); ++it) stop(*it, stopGrace(*it));
  // What was made, last made first.
  if (forwarding_set_ && netns::setIpForwarding(false)) forwarding_set_ = false;
  if (firewall_) {
    if (auto r = netns::removeStackFirewall(kFirewallTable); !r)
      LOG_ERROR("stack: {}", r.error().message());
    firewall_ = false;
  }
  for (auto it = private_.rbegin(); it != private_.rend(); ++it)
    if (auto r = netns::downPrivate(it->first, it->second); !r)
      LOG_ERROR("stack: {}", r.error().message());
  private_.clear();
  for (auto it = namespaces_.rbegin(); it != namespaces_.rend(); ++it)
    if (auto r = netns::down(*it, o_.state_dir); !r) LOG_ERROR("stack: {}", r.error().message());
  namespaces_.clear();
  ::unlink(recordPath(o_.state_dir).c_str());
  ::unlink((stackDir(o_.state_dir) + "/token").c_str());
  if (!connector_config_.empty()) ::unlink(connector_config_.c_str());
}

std::string Supervisor::notRunning() const {
  std::vector<std::string> bad;
  auto check = [&](const Member& m) {
    if (m.state != "running") bad.push_back(fmt::format("{} ({})", m.name, m.state));
  };
  for (const auto& m : members_) check(m);
  if (connector_) check(*connector_);
  if (dashboard_) check(*dashboard_);
  if (bad.empty()) return "";
  return fmt::format(
      "not running: {}; the stack stays up (burrow logs NAME shows why; burrow "
      "down stops it)",
      fmt::join(bad, ", "));
}

std::string Supervisor::table() {
  auto s = status(o_.state_dir);
  return s ? formatStatus(*s) : s.error().message() + "\n";
}

// Takes down what a record lists, when its supervisor is gone (killed).
base::Result<void> tearDownRecord(const std::string& state_dir, const json& rec) {
  auto pids = [](const json& row) { return row.is_object() ? row.value("pid", 0) : 0; };
  std::vector<pid_t> left;
  if (rec.contains("connector")) left.push_back(pids(rec["connector"]));
  for (const auto& s : rec.value("services", json::array())) left.push_back(pids(s));
  for (pid_t p : left)
    if (p > 0) {
      ::kill(-p, SIGKILL);
      ::kill(p, SIGKILL);
    }
  if (rec.value("ip_forward_set", false)) RETURN_IF_ERROR(netns::setIpForwarding(false));
  if (std::string t = rec.value("firewall", ""); !t.empty())
    RETURN_IF_ERROR(netns::removeStackFirewall(t));
  for (const auto& p : rec.value("private", json::array()))
    RETURN_IF_ERROR(netns::downPrivate(p.value("netns", ""), p.value("host_link", "")));
  for (const auto& n : rec.value("namespaces", json::array()))
    if (auto r = netns::down(n.get<std::string>(), state_dir);
        !r && r.error().code != std::errc::no_such_file_or_directory)
      return r;
  // Id ranges whose holder is gone.
  const std::string locks = stackDir(state_dir) + "/userns-locks";
  if (DIR* d = ::opendir(locks.c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      const std::string path = locks + "/" + e->d_name;
      base::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
      if (fd && ::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) ::unlink(path.c_str());
    }
    ::closedir(d);
  }
  ::unlink(recordPath(state_dir).c_str());
  ::unlink((stackDir(state_dir) + "/token").c_str());
  ::unlink((stackDir(state_dir) + "/config.yml").c_str());
  return {};
}

}  // namespace

// A supervisor runs the stack already: it applies the file again (SIGHUP); this waits for the
// result it records, and prints it.
base::Result<int> applyToRunning(const Options& o, const Plan& plan) {
  auto rec = readJson(recordPath(o.state_dir));
  const pid_t sup = rec ? rec->value("supervisor", 0) : 0;
  if (!rec || sup <= 0) return base::invalid("{}: no stack record", recordPath(o.state_dir));
  RETURN_IF_ERROR(sameFile(o.state_dir, rec->value("file", ""), plan.stack->source));
  const int before = rec->value("generation", 0);
  progress(fmt::format("the stack is up (supervisor pid {}): applying {} to it", sup,
                       plan.stack->source));
  if (::kill(sup, SIGHUP) < 0) return base::sysError("signal the supervisor (pid {})", sup);
  const auto until = clock::now() + std::chrono::minutes(5);
  for (;;) {
    std::this_thread::sleep_for(milliseconds(50));
    rec = readJson(recordPath(o.state_dir));
    if (!rec) return base::invalid("the supervisor (pid {}) ended while applying the file", sup);
    if (rec->value("generation", 0) > before) break;
    if (clock::now() > until)
      return base::makeError(std::errc::timed_out, "the supervisor (pid {}) did not answer", sup);
  }
  const json& r = (*rec)["reload"];
  for (const auto& line : r.value("lines", json::array())) progress(line.get<std::string>());
  auto st = status(o.state_dir);
  if (st) std::printf("%s", formatStatus(*st).c_str());
  return r.value("ok", false) ? 0 : 1;
}

base::Result<pid_t> requestRestart(const std::string& state_dir, const std::string& name) {
  ASSIGN_OR_RETURN(Status st, status(state_dir));
  if (!st.running) return base::invalid("no stack is up on {}: burrow up starts one", state_dir);
  int index = -1;
  pid_t pid = 0;
  std::vector<std::string> names;
  for (size_t i = 0; i < st.services.size(); ++i) {
    names.push_back(st.services[i].name);
    if (st.services[i].name == name) {
      index = static_cast<int>(i);
      pid = st.services[i].pid;
    }
  }
  if (name == kConnector && st.connector) {
    index = kConnectorIndex;
    pid = st.connector->pid;
  }
  if (st.connector) names.push_back(kConnector);
  if (index < 0)
    return base::invalid("no service named '{}' in the stack on {} (it has: {})", name, state_dir,
                         fmt::join(names, ", "));
  // Which generation of the stack the index is of: a reload in between drops the request.
  sigval v{};
  v.sival_int = ((st.generation & 0x7fff) << 16) | index;
  if (::sigqueue(st.supervisor, SIGUSR2, v) < 0)
    return base::sysError("signal the supervisor (pid {})", st.supervisor);
  return pid;
}

base::Result<std::string> restart(const std::string& state_dir, const std::string& name) {
  ASSIGN_OR_RETURN(pid_t before, requestRestart(state_dir, name));
  progress(before ? fmt::format("restarting {} (pid {})", name, before)
                  : fmt::format("starting {}", name));
  // Its TimeoutStopSec= (the connector drains for up to 30 s), then a start.
  const auto until = clock::now() + std::chrono::minutes(2);
  auto last = clock::now();
  for (;;) {
    std::this_thread::sleep_for(milliseconds(100));
    ASSIGN_OR_RETURN(Status st, status(state_dir));
    if (!st.running) return base::invalid("the stack's supervisor ended");
    const ServiceState* s = nullptr;
    for (const auto& x : st.services)
      if (x.name == name) s = &x;
    if (name == kConnector && st.connector) s = &*st.connector;
    if (!s) return base::invalid("'{}' is no longer in the stack (it was reloaded)", name);
    if (s->pid && s->pid != before && s->state == "running")
      return fmt::format("{} running again (pid {})", name, s->pid);
    if (s->state == "failed" && s->pid != before)
      return base::invalid("{} did not start again: {}", name,
                           s->last_exit.empty() ? "see burrow logs " + name : s->last_exit);
    if (clock::now() > until)
      return base::makeError(std::errc::timed_out, "{} is not running again after 2 min ({})", name,
                             s->state);
    if (clock::now() - last > std::chrono::seconds(5)) {
      last = clock::now();
      progress(fmt::format("still waiting: {} is {}", name, s->state));
    }
  }
}

base::Result<std::string> requestReload(const std::string& state_dir) {
  ASSIGN_OR_RETURN(Status st, status(state_dir));
  if (!st.running) return base::invalid("no stack is up on {}: burrow up starts one", state_dir);
  if (::kill(st.supervisor, SIGHUP) < 0)
    return base::sysError("signal the supervisor (pid {})", st.supervisor);
  return fmt::format("the supervisor (pid {}) applies {} again", st.supervisor, st.file);
}

base::Result<int> up(const Options& given) {
  Options o = given;
  if (o.file.empty()) o.file = "burrow.yaml";
  ASSIGN_OR_RETURN(config::Stack st, config::loadStack(o.file));
  ASSIGN_OR_RETURN(Plan plan, makePlan(std::make_shared<const config::Stack>(std::move(st)),
                                       o.state_dir, o.burrow));
  if (o.strict) {
    size_t unknown = plan.stack->warnings.size();
    for (const auto& m : plan.members) unknown += m.cfg.warnings.size();
    if (unknown)
      return base::invalid(
          "{}: --strict: {} unknown key(s) or directive(s) (warned about above); "
          "nothing was started",
          plan.stack->source, unknown);
  }
  if (!o.admin_users.empty()) o.admin_users = absolutePath(o.admin_users);
  if (o.admin_actions && o.admin.empty())
    return base::invalid("--admin-actions: the dashboard's actions need --admin ADDR");
  RETURN_IF_ERROR(admin::loadLogin(o.admin, o.admin_users, o.admin_access));
  if (auto s = status(o.state_dir); s && s->running) {
    if (!o.admin.empty() &&
        (s->admin != o.admin || s->admin_actions != o.admin_actions ||
         s->admin_users != o.admin_users || s->admin_access != o.admin_access)) {
      const std::string has = s->admin.empty()
                                  ? "without a dashboard"
                                  : "its dashboard on " + s->admin +
                                        (s->admin_actions ? " with actions" : " read-only");
      return base::invalid(
          "--admin: the stack on {} runs {}; its dashboard is set when it starts: burrow down, "
          "then up --admin {}{}",
          o.state_dir, has, o.admin, o.admin_actions ? " --admin-actions" : "");
    }
    return applyToRunning(o, plan);
  }
  Supervisor sup(o, std::move(plan));
  RETURN_IF_ERROR(base::ensureDir(stackDir(o.state_dir) + "/logs", 0700));
  if (o.detach) {
    // The supervisor goes on in a child of its own session; this process relays its progress
    // and returns once the stack is up, or failed.
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0) return base::sysError("pipe");
    base::UniqueFd rd(p[0]), wr(p[1]);
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) return base::sysError("fork the supervisor");
    if (pid == 0) {
      rd.reset();
      ::setsid();
      base::UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
      const std::string log = stackDir(o.state_dir) + "/supervisor.log";
      base::UniqueFd out(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
      if (!out || !null) {
        std::fprintf(stderr, "burrow: open %s: %s\n", log.c_str(), std::strerror(errno));
        ::_exit(1);
      }
      ::dup2(null.get(), 0);
      ::dup2(out.get(), 1);
      ::dup2(wr.get(), 2);  // progress, until up
      auto ok = sup.lock();
      if (ok) ok = sup.bringUp();
      if (!ok) {
        std::fprintf(stderr, "burrow: %s\n", ok.error().message().c_str());
        ::_exit(1);
      }
      std::fprintf(stderr, "%s", sup.table().c_str());
      if (std::string bad = sup.notRunning(); !bad.empty())
        std::fprintf(stderr, "burrow: %s\n", bad.c_str());
      std::fflush(stderr);
      ::dup2(out.get(), 2);
      wr.reset();
      ::_exit(sup.run());
    }
    wr.reset();
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = base::retryEintr([&] { return ::read(rd.get(), buf, sizeof buf); })) > 0;)
      text.append(buf, static_cast<size_t>(n));
    // The child ends only when it failed; when it runs on, the table ends its progress.
    int status = 0;
    const bool failed =
        ::waitpid(pid, &status, WNOHANG) == pid || text.find("burrow: ") != std::string::npos;
    if (failed) {
      std::fprintf(stderr, "%s", text.c_str());
      return 1;
    }
    const size_t table = text.find("NAME ");
    std::fprintf(stderr, "%s", text.substr(0, table).c_str());
    std::printf("%s", table == std::string::npos ? "" : text.substr(table).c_str());
    std::fprintf(stderr, "the stack runs in the background (supervisor pid %d): burrow down\n",
                 pid);
    return 0;
  }
  RETURN_IF_ERROR(sup.lock());
  RETURN_IF_ERROR(sup.bringUp());
  std::printf("%s", sup.table().c_str());
  std::fflush(stdout);
  if (std::string bad = sup.notRunning(); !bad.empty()) progress("burrow: " + bad);
  return sup.run();
}

namespace {

// down without --purge.
base::Result<void> downOnly(const Options& o) {
  const std::string path = recordPath(o.state_dir);
  auto text = base::readFile(path);
  if (!text) {
    if (text.error().code == std::errc::no_such_file_or_directory)
      return base::makeError(std::errc::no_such_file_or_directory, "no stack is up on {}",
                             o.state_dir);
    return base::Unexpected(text.error());
  }
  json rec = json::parse(*text, nullptr, false);
  if (!rec.is_object()) return base::invalid("{}: not a stack record", path);
  RETURN_IF_ERROR(sameFile(o.state_dir, rec.value("file", ""), o.file));
  base::UniqueFd lock(::open(lockPath(o.state_dir).c_str(), O_RDWR | O_CLOEXEC));
  const pid_t sup = rec.value("supervisor", 0);
  if (lock && ::flock(lock.get(), LOCK_EX | LOCK_NB) < 0) {
    // A supervisor holds the stack: it stops everything itself.
    if (sup > 0) ::kill(sup, SIGTERM);
    progress(fmt::format("stopping the stack (supervisor pid {})", sup));
    if (::flock(lock.get(), LOCK_EX) < 0) return base::sysError("wait for the supervisor");
    return {};
  }
  progress("no supervisor runs: removing what its record lists");
  return tearDownRecord(o.state_dir, rec);
}

// down --purge: tunnel.login's tunnel (and its routes) deleted on the edge, its token removed.
base::Result<void> purge(const Options& o, const config::Stack& st) {
  if (st.login_file.empty()) return {};
  if (auto ok = tunnel::remoteDeleteTunnel(st.login_file, st.tunnel_name); !ok) {
    // Already gone is what was asked; anything else is said, and the token is kept.
    if (ok.error().message().find("no tunnel '" + st.tunnel_name + "'") == std::string::npos)
      return prefixed(ok.error(), "--purge: tunnel " + st.tunnel_name + ": ");
  }
  ::unlink(remoteTokenPath(o.state_dir, st.tunnel_name).c_str());
  progress(fmt::format("--purge: deleted tunnel {} and its routes on the edge", st.tunnel_name));
  return {};
}

}  // namespace

base::Result<void> down(const Options& o) {
  if (!o.purge) return downOnly(o);
  // The file is read first: a purge that cannot name its tunnel stops nothing.
  auto rec = readJson(recordPath(o.state_dir));
  const std::string named = !o.file.empty() ? absolutePath(o.file)
                            : rec           ? rec->value("file", "")
                                            : "";
  if (named.empty())
    return base::invalid("--purge: name the stack file (-f FILE): no stack is up on {}",
                         o.state_dir);
  ASSIGN_OR_RETURN(config::Stack st, config::loadStack(named));
  if (auto ok = downOnly(o); !ok && ok.error().code != std::errc::no_such_file_or_directory)
    return ok;
  return purge(o, st);
}

}  // namespace stack
