// The `burrow` command: parses flags, calls one subsystem entry point, prints, and maps the
// Result to an exit status (0 ok, 1 failure, 2 usage). No logic of its own lives here.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <CLI/CLI.hpp>

#include "auth/auth.h"
#include "base/base.h"
#include "config/config.h"
#include "host/host.h"
#include "netns/netns.h"
#include "sandbox/sandbox.h"
#include "stack/stack.h"
#include "supervise/supervise.h"
#include "tunnel/tunnel.h"

namespace cli {
namespace {

constexpr int kOk = 0, kFail = 1, kUsage = 2;

int fail(const base::Error& e) {
  std::fprintf(stderr, "burrow: %s\n", e.message().c_str());
  return kFail;
}

int finish(const base::Result<int>& r) { return r ? *r : fail(r.error()); }

// burrow's own binary, as services and elevated runs must name it.
std::string selfPath() {
  char exe[4096];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  return n > 0 ? std::string(exe, static_cast<size_t>(n)) : "burrow";
}

// The command line as given, with burrow's own path first, for running it again as root.
std::vector<std::string> g_argv;

std::vector<std::string> selfArgv() {
  std::vector<std::string> argv = g_argv;
  if (!argv.empty()) argv[0] = selfPath();
  return argv;
}

struct Flags {
  std::string log_level = "info";
  bool log_level_given = false;
  // edge
  tunnel::EdgeOptions edge;
  std::string name, hostname, endpoint, output, edge_grace = "30s";
  std::vector<std::string> zones;  // edge login-token create
  std::string port;                // edge route tcp: checked (1-65535) by tunnel::routeTcp
  std::string idle_timeout = "60s", body_timeout = "60s", send_timeout = "60s";
  // tunnel run / ingress: --config and --token-file default to config.yml and token here
  std::string tunnel_state_dir = supervise::defaultStateDir();
  std::string config_file, token_file, url, grace_period = "30s", rule_url;
  int ha_connections = 4;
  std::string metrics;
  std::string access_log;
  std::string access_log_format;
  bool ha_connections_given = false, grace_period_given = false;
  // quick
  tunnel::QuickOptions quick;
  // access
  tunnel::AccessOptions access;
  // audit
  std::vector<std::string> units;
  bool json = false;
  // exec
  std::string unit;
  std::vector<std::string> exec_args;
  bool no_restart = false, strict = false;
  std::string exec_netns;
  bool allow_root = false;
  // up, down, ps, logs
  std::string stack_file;   // "": ./burrow.yaml for up; whatever stack runs for down, ps, logs
  std::string stack_admin;  // up --admin, dashboard --admin: the stack's dashboard
  bool detach = false, follow = false, purge = false;
  bool admin_actions = false;             // up --admin-actions, dashboard --admin-actions
  std::string admin_users, admin_access;  // up, dashboard: the page's login
  std::string exec_private_users;         // "pick" or empty
  bool exec_ephemeral = false;
  // netns
  std::string state_dir = "/var/lib/burrow";
  std::string netns_name, netns_file;
  // service
  std::string init = "auto", service_name, service_user, service_state_dir;
  bool keep_state = false;
  std::vector<std::string> service_command;
  // host
  host::HardenOptions host;
  bool host_undo = false;
  auth::Options auth;
};

// One row per runnable command: where it hangs in the tree, and what it does.
struct Command {
  CLI::App* app;
  std::function<int(Flags&)> run;
};

int edgeRun(Flags& f) {
  auto& l = f.edge.limits;
  for (auto [flag, text, out] : {std::tuple{"--grace-period", &f.edge_grace, &f.edge.grace_period},
                                 {"--idle-timeout", &f.idle_timeout, &l.idle_timeout},
                                 {"--body-timeout", &f.body_timeout, &l.body_timeout},
                                 {"--send-timeout", &f.send_timeout, &l.send_timeout}}) {
    auto d = base::parseDuration(*text);
    if (!d)
      return fail(base::Error{d.error().code, fmt::format("{}: {}", flag, d.error().message())});
    *out = *d;
  }
  return finish(tunnel::runEdge(f.edge));
}

int tunnelCreate(Flags& f) {
  auto token = tunnel::createTunnel(f.edge.state_dir, f.name, f.endpoint, f.output);
  if (!token) return fail(token.error());
  if (f.output.empty())
    std::printf("%s\n", token->c_str());
  else
    std::fprintf(stderr, "created tunnel %s; its token is in %s (mode 0600)\n", f.name.c_str(),
                 f.output.c_str());
  return kOk;
}

std::string joined(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out.empty() ? "-" : out;
}

const char* kNoEdge = "no edge runs on this state directory: live connections unknown";

void printTunnels(const std::vector<tunnel::TunnelInfo>& list) {
  std::printf("%-36s  %-20s  %-20s  %-11s  %s\n", "ID", "NAME", "CREATED", "CONNECTIONS",
              "HOSTNAMES");
  bool edge_runs = true;
  for (const auto& t : list) {
    edge_runs = edge_runs && t.connections.has_value();
    std::string conns = t.connections ? std::to_string(t.connections->size()) : "-";
    std::printf("%-36s  %-20s  %-20s  %-11s  %s\n", t.id.c_str(), t.name.c_str(),
                base::formatUtc(t.created_unix).c_str(), conns.c_str(),
                joined(t.hostnames, ",").c_str());
  }
  if (!list.empty() && !edge_runs) std::fprintf(stderr, "%s\n", kNoEdge);
}

void printTunnel(const tunnel::TunnelInfo& t) {
  std::printf("NAME:     %s\nID:       %s\nCREATED:  %s\nROUTES:   %s\n", t.name.c_str(),
              t.id.c_str(), base::formatUtc(t.created_unix).c_str(),
              joined(t.hostnames, ", ").c_str());
  if (!t.connections) {
    std::printf("\n%s\n", kNoEdge);
    return;
  }
  if (t.connections->empty()) {
    std::printf("\nno connector is connected\n");
    return;
  }
  std::printf("\n%-36s  %-36s  %-5s  %-22s  %-20s  %s\n", "CONNECTOR ID", "CONNECTION ID", "INDEX",
              "ORIGIN ADDRESS", "SINCE", "VERSION");
  for (const auto& c : *t.connections)
    std::printf("%-36s  %-36s  %-5u  %-22s  %-20s  %s\n", c.connector_id.c_str(),
                c.connection_id.c_str(), c.index, c.peer.c_str(),
                base::formatUtc(c.since_unix).c_str(), c.version.empty() ? "-" : c.version.c_str());
}

void printRoutes(const std::vector<tunnel::RouteInfo>& routes) {
  std::printf("%-40s  %-20s  %s\n", "HOSTNAME", "TUNNEL", "TUNNEL ID");
  for (const auto& r : routes)
    std::printf("%-40s  %-20s  %s\n", r.hostname.c_str(), r.tunnel_name.c_str(),
                r.tunnel_id.c_str());
}

int tunnelList(Flags& f) {
  auto list = tunnel::listTunnels(f.edge.state_dir);
  if (!list) return fail(list.error());
  printTunnels(*list);
  return kOk;
}

int tunnelInfo(Flags& f) {
  auto t = tunnel::tunnelInfo(f.edge.state_dir, f.name);
  if (!t) return fail(t.error());
  printTunnel(*t);
  return kOk;
}

int tunnelDelete(Flags& f) {
  if (auto r = tunnel::deleteTunnel(f.edge.state_dir, f.name); !r) return fail(r.error());
  std::fprintf(stderr,
               "deleted tunnel %s and its routes (a running edge drops its connectors within a "
               "second)\n",
               f.name.c_str());
  return kOk;
}

int routeDns(Flags& f) {
  if (auto r = tunnel::routeHostname(f.edge.state_dir, f.name, f.hostname); !r)
    return fail(r.error());
  std::fprintf(stderr, "routed %s to tunnel %s (a running edge serves it within a second)\n",
               f.hostname.c_str(), f.name.c_str());
  return kOk;
}

int routeTcp(Flags& f) {
  if (auto r = tunnel::routeTcp(f.edge.state_dir, f.hostname, f.port); !r) return fail(r.error());
  std::fprintf(stderr, "port %s carries %s (a running edge listens within a second)\n",
               f.port.c_str(), f.hostname.c_str());
  return kOk;
}

int routeList(Flags& f) {
  auto routes = tunnel::listRoutes(f.edge.state_dir);
  if (!routes) return fail(routes.error());
  auto tcp = tunnel::listTcpRoutes(f.edge.state_dir);
  if (!tcp) return fail(tcp.error());
  printRoutes(*routes);
  if (tcp->empty()) return kOk;
  std::printf("\n%-10s  %-40s  %s\n", "TCP PORT", "HOSTNAME", "TUNNEL");
  for (const auto& r : *tcp)
    std::printf("%-10s  %-40s  %s\n", fmt::format("tcp:{}", r.port).c_str(), r.hostname.c_str(),
                r.tunnel_name.c_str());
  return kOk;
}

int certList(Flags& f) {
  auto certs = tunnel::listEdgeCertificates(f.edge.state_dir);
  if (!certs) return fail(certs.error());
  std::printf("%-40s  %-30s  %-20s  %s\n", "HOSTNAME", "ISSUER", "EXPIRES (UTC)", "LAST ERROR");
  for (const auto& c : *certs) {
    char expires[32] = "-";
    if (c.not_after > 0) {
      time_t t = static_cast<time_t>(c.not_after);
      struct tm tm {};
      gmtime_r(&t, &tm);
      std::strftime(expires, sizeof(expires), "%Y-%m-%d %H:%M:%S", &tm);
    }
    std::printf("%-40s  %-30s  %-20s  %s\n", c.name.c_str(),
                c.issuer.empty() ? "-" : c.issuer.c_str(), expires,
                c.last_error.empty() ? "-" : c.last_error.c_str());
  }
  return kOk;
}

int routeDelete(Flags& f) {
  if (auto r = tunnel::deleteRoute(f.edge.state_dir, f.hostname); !r) return fail(r.error());
  std::fprintf(stderr, "deleted route %s (a running edge stops serving it within a second)\n",
               f.hostname.c_str());
  return kOk;
}

int loginCreate(Flags& f) {
  auto token = tunnel::createLogin(f.edge.state_dir, f.name, f.zones, f.endpoint, f.output);
  if (!token) return fail(token.error());
  if (f.output.empty())
    std::printf("%s\n", token->c_str());
  else
    std::fprintf(stderr, "created a login; its token is in %s (mode 0600)\n", f.output.c_str());
  return kOk;
}

int loginList(Flags& f) {
  auto logins = tunnel::listLogins(f.edge.state_dir);
  if (!logins) return fail(logins.error());
  std::printf("%-20s  %-36s  %-20s  %-20s  %s\n", "NAME", "ID", "CREATED", "REVOKED", "ZONES");
  for (const auto& l : *logins)
    std::printf("%-20s  %-36s  %-20s  %-20s  %s\n", l.name.c_str(), l.id.c_str(),
                base::formatUtc(l.created_unix).c_str(),
                l.revoked_unix ? base::formatUtc(l.revoked_unix).c_str() : "-",
                joined(l.zones, ",").c_str());
  return kOk;
}

int loginRevoke(Flags& f) {
  if (auto r = tunnel::revokeLogin(f.edge.state_dir, f.name); !r) return fail(r.error());
  std::fprintf(stderr,
               "revoked login %s: its token is refused from now on; tunnels it made keep "
               "running\n",
               f.name.c_str());
  return kOk;
}

int homeLogin(Flags& f) {
  auto v = tunnel::loginHome(f.tunnel_state_dir, f.token_file);
  if (!v) return fail(v.error());
  std::fprintf(stderr,
               "logged in to the edge %s as login %s (zones: %s); stored in %s/login.token\n",
               v->endpoint.c_str(), v->name.c_str(), joined(v->zones, ", ").c_str(),
               f.tunnel_state_dir.c_str());
  return kOk;
}

// Where `tunnel create NAME` writes the token: --output, else NAME.token in the state directory.
std::string tokenOut(const Flags& f) {
  return f.output.empty() ? tunnel::tunnelTokenPath(f.tunnel_state_dir, f.name) : f.output;
}

int homeCreate(Flags& f) {
  auto id =
      tunnel::remoteCreateTunnel(tunnel::loginTokenPath(f.tunnel_state_dir), f.name, tokenOut(f));
  if (!id) return fail(id.error());
  std::fprintf(stderr, "tunnel token written to %s (mode 0600)\n", tokenOut(f).c_str());
  std::printf("Created tunnel %s with id %s\n", f.name.c_str(), id->c_str());
  return kOk;
}

int homeList(Flags& f) {
  auto list = tunnel::remoteListTunnels(tunnel::loginTokenPath(f.tunnel_state_dir));
  if (!list) return fail(list.error());
  printTunnels(*list);
  return kOk;
}

int homeInfo(Flags& f) {
  auto t = tunnel::remoteTunnelInfo(tunnel::loginTokenPath(f.tunnel_state_dir), f.name);
  if (!t) return fail(t.error());
  printTunnel(*t);
  return kOk;
}

int homeDelete(Flags& f) {
  if (auto r = tunnel::remoteDeleteTunnel(tunnel::loginTokenPath(f.tunnel_state_dir), f.name); !r)
    return fail(r.error());
  std::fprintf(stderr, "deleted tunnel %s and its routes\n", f.name.c_str());
  return kOk;
}

int homeRouteDns(Flags& f) {
  if (auto r =
          tunnel::remoteRouteDns(tunnel::loginTokenPath(f.tunnel_state_dir), f.name, f.hostname);
      !r)
    return fail(r.error());
  std::fprintf(stderr, "routed %s to tunnel %s\n", f.hostname.c_str(), f.name.c_str());
  return kOk;
}

int homeRouteList(Flags& f) {
  auto routes = tunnel::remoteListRoutes(tunnel::loginTokenPath(f.tunnel_state_dir));
  if (!routes) return fail(routes.error());
  printRoutes(*routes);
  return kOk;
}

int homeRouteDelete(Flags& f) {
  if (auto r = tunnel::remoteDeleteRoute(tunnel::loginTokenPath(f.tunnel_state_dir), f.hostname);
      !r)
    return fail(r.error());
  std::fprintf(stderr, "deleted route %s\n", f.hostname.c_str());
  return kOk;
}

tunnel::Sources sources(const Flags& f) {
  return {f.url, f.config_file, f.token_file, f.tunnel_state_dir, f.name};
}

int tunnelRun(Flags& f) {
  tunnel::ConnectorOptions o;
  auto cfg = tunnel::loadRules(sources(f), &o.config_file);
  if (!cfg) return fail(cfg.error());
  auto token = tunnel::findToken(sources(f), *cfg);
  if (!token) return fail(token.error());
  o.token = std::move(*token);
  ::unsetenv("BURROW_TUNNEL_TOKEN");  // children (none today) must not inherit it
  auto grace = base::parseDuration(f.grace_period);
  if (!grace)
    return fail(base::Error{grace.error().code, "--grace-period: " + grace.error().message()});
  if (f.grace_period_given) o.grace_period = *grace;
  if (f.ha_connections_given) o.ha_connections = f.ha_connections;
  o.metrics_addr = f.metrics;
  o.access_log = f.access_log;
  o.access_log_format = f.access_log_format;
  o.log_level_given = f.log_level_given;
  o.config = std::move(*cfg);
  return finish(tunnel::runConnector(o));
}

int ingressValidate(Flags& f) {
  auto cfg = tunnel::loadRules(sources(f));
  if (!cfg) {
    std::printf("Validation failed: %s\n", cfg.error().message().c_str());
    return kFail;
  }
  if (f.strict && !cfg->warnings.empty()) {
    std::printf("Validation failed: --strict: %zu key(s) not used by burrow (see above)\n",
                cfg->warnings.size());
    return kFail;
  }
  std::printf("OK\n");
  return kOk;
}

int ingressRule(Flags& f) {
  if (!f.stack_file.empty()) {
    if (!f.config_file.empty() || !f.url.empty())
      return fail(base::invalid("give -f FILE (a stack) or --config/--url, not both").value());
    auto m = stack::describeRoute(f.stack_file, f.tunnel_state_dir, f.rule_url);
    if (!m) return fail(m.error());
    std::printf("%s", m->c_str());
    return kOk;
  }
  auto cfg = tunnel::loadRules(sources(f));
  if (!cfg) {
    std::printf("Validation failed: %s\n", cfg.error().message().c_str());
    return kFail;
  }
  auto m = config::describeMatch(*cfg, f.rule_url);
  if (!m) return fail(m.error());
  std::printf("%s", m->c_str());
  return kOk;
}

int quick(Flags& f) { return finish(tunnel::runQuick(f.quick)); }
int access(Flags& f) { return finish(tunnel::runAccess(f.access)); }

// Exit status: the service's; 1 when it could not start; 2 for a unit that does not parse.
int execUnit(Flags& f) {
  bool unit_error = false;
  auto r = stack::exec({f.unit, f.exec_args, !f.no_restart, f.strict, f.allow_root, f.exec_netns,
                        f.state_dir, selfArgv(), f.exec_private_users == "pick", f.exec_ephemeral},
                       &unit_error);
  if (r) return *r;
  fail(r.error());
  return unit_error && r.error().code == std::errc::invalid_argument ? kUsage : kFail;
}

stack::Options stackOptions(const Flags& f) {
  stack::Options o;
  o.file = f.stack_file;
  o.state_dir = f.state_dir;
  o.burrow = selfPath();
  o.detach = f.detach;
  o.log_level = f.log_level_given ? f.log_level : "";
  o.strict = f.strict;
  o.admin = f.stack_admin;
  o.admin_actions = f.admin_actions;
  o.admin_users = f.admin_users;
  o.admin_access = f.admin_access;
  o.purge = f.purge;
  return o;
}

int stackUp(Flags& f) {
  // Namespaces, links and sandboxes need root: the whole command runs again through sudo.
  if (auto r = supervise::reexecAsRoot("bring up a stack", selfArgv()); !r) return fail(r.error());
  return finish(stack::up(stackOptions(f)));
}

int stackDown(Flags& f) {
  if (auto r = supervise::reexecAsRoot("take down a stack", selfArgv()); !r) return fail(r.error());
  if (auto r = stack::down(stackOptions(f)); !r) return fail(r.error());
  std::fprintf(stderr, "the stack is down\n");
  return kOk;
}

int stackPs(Flags& f) {
  auto s = stack::status(f.state_dir, f.stack_file);
  if (!s) return fail(s.error());
  std::printf("%s", (f.json ? stack::formatStatusJson(*s) : stack::formatStatus(*s)).c_str());
  return kOk;
}

int stackDashboard(Flags& f) {
  // The page shows what `burrow ps` does, which reads root's records and VPN namespaces.
  if (auto r = supervise::reexecAsRoot("serve the stack's dashboard", selfArgv()); !r)
    return fail(r.error());
  return finish(stack::dashboard(stackOptions(f)));
}

int stackRestart(Flags& f) {
  if (auto r = supervise::reexecAsRoot("restart a service of the stack", selfArgv()); !r)
    return fail(r.error());
  auto r = stack::restart(f.state_dir, f.service_name);
  if (!r) return fail(r.error());
  std::fprintf(stderr, "%s\n", r->c_str());
  return kOk;
}

int stackLogs(Flags& f) {
  if (auto r = stack::logs(f.state_dir, f.stack_file, f.service_name, f.follow); !r)
    return fail(r.error());
  return kOk;
}

int printLines(const base::Result<std::vector<std::string>>& r) {
  if (!r) return fail(r.error());
  for (const auto& l : *r) std::printf("%s\n", l.c_str());
  return kOk;
}

int serviceInstall(Flags& f) {
  auto init = supervise::parseInit(f.init);
  if (!init) {
    std::fprintf(stderr, "burrow: %s\n", init.error().message().c_str());
    return kUsage;
  }
  supervise::Service s;
  s.command = f.service_command;
  s.name = f.service_name;
  s.user = f.service_user;
  s.state_dir = f.service_state_dir;
  s.burrow = selfPath();
  return printLines(supervise::install(s, *init));
}

int netnsUp(Flags& f) {
  auto ns = config::loadNamespace(f.netns_file, f.netns_name);
  if (!ns) return fail(ns.error());
  if (auto r = supervise::reexecAsRoot("create network namespace " + f.netns_name, selfArgv()); !r)
    return fail(r.error());
  if (auto r = netns::up(*ns, f.state_dir); !r) return fail(r.error());
  std::fprintf(stderr, "namespace %s is up (%s)\n", f.netns_name.c_str(),
               netns::namespacePath(f.netns_name).c_str());
  return kOk;
}

int netnsDown(Flags& f) {
  if (auto r = supervise::reexecAsRoot("remove network namespace " + f.netns_name, selfArgv()); !r)
    return fail(r.error());
  if (auto r = netns::down(f.netns_name, f.state_dir); !r) return fail(r.error());
  std::fprintf(stderr, "namespace %s is down\n", f.netns_name.c_str());
  return kOk;
}

int netnsStatus(Flags& f) {
  // The link's state is read inside the namespace (setns needs CAP_SYS_ADMIN), the tunnel's
  // through wireguard-go's root-only UAPI socket: without root, a status would say "down".
  const std::string what = f.netns_name.empty()
                               ? "read the state of the network namespaces"
                               : "read the state of network namespace " + f.netns_name;
  if (auto r = supervise::reexecAsRoot(what, selfArgv()); !r) return fail(r.error());
  std::optional<std::string> name;
  if (!f.netns_name.empty()) name = f.netns_name;
  auto all = netns::status(f.state_dir, name);
  if (!all) return fail(all.error());
  std::printf("%s", (f.json ? netns::formatStatusJson(*all) : netns::formatStatus(*all)).c_str());
  return kOk;
}

// Every unit that can be read is reported; then those that could not: exit 2 when one of them
// does not parse, else 1.
int auditUnits(Flags& f) {
  if (f.units.empty() == f.stack_file.empty()) {
    std::fprintf(stderr, "burrow: audit: give UNIT... or -f FILE (a stack), not both\n");
    return kUsage;
  }
  auto batch =
      f.stack_file.empty() ? sandbox::auditUnits(f.units) : stack::audit(f.stack_file, f.state_dir);
  if (f.json) {
    std::printf("%s", sandbox::formatAuditJson(batch.audits).c_str());
  } else {
    for (size_t i = 0; i < batch.audits.size(); ++i)
      std::printf("%s%s", i ? "\n" : "", sandbox::formatAudit(batch.audits[i]).c_str());
  }
  std::fflush(stdout);
  int code = kOk;
  for (const auto& e : batch.failures) {
    fail(e);
    if (code != kUsage) code = e.code == std::errc::invalid_argument ? kUsage : kFail;
  }
  if (!batch.failures.empty() && f.units.size() > 1)
    std::fprintf(stderr, "burrow: %zu of %zu units not audited\n", batch.failures.size(),
                 f.units.size());
  return code;
}

int hostAudit(Flags& f) {
  auto a = host::audit(f.host.root);
  if (!a) return fail(a.error());
  std::printf("%s", (f.json ? host::formatAuditJson(*a) : host::formatAudit(*a)).c_str());
  return a->allOk() ? kOk : kFail;
}

int hostHarden(Flags& f) {
  if (f.host.root == "/" && !f.host.dry_run) {
    auto r = supervise::reexecAsRoot(f.host_undo ? "undo the host's hardening" : "harden the host",
                                     selfArgv());
    if (!r) return fail(r.error());
  }
  auto r = f.host_undo ? host::undo(f.host) : host::harden(f.host);
  if (!r) return fail(r.error());
  for (const auto& l : r->lines) std::printf("%s\n", l.c_str());
  if (r->left_alone)
    std::fprintf(stderr, "burrow: host %s: some items were left alone (above)\n",
                 f.host_undo ? "harden --undo" : "harden");
  return r->left_alone ? kFail : kOk;
}

// The top-level commands, in the order help lists them.
void addEdge(CLI::App& app, Flags& f, std::vector<Command>& table);
void addTunnel(CLI::App& app, Flags& f, std::vector<Command>& table);
void addQuick(CLI::App& app, Flags& f, std::vector<Command>& table);
void addAccess(CLI::App& app, Flags& f, std::vector<Command>& table);
void addExec(CLI::App& app, Flags& f, std::vector<Command>& table);
void addNetns(CLI::App& app, Flags& f, std::vector<Command>& table);
void addService(CLI::App& app, Flags& f, std::vector<Command>& table);
void addAudit(CLI::App& app, Flags& f, std::vector<Command>& table);
void addAuth(CLI::App& app, Flags& f, std::vector<Command>& table);
void addStack(CLI::App& app, Flags& f, std::vector<Command>& table);
void addHost(CLI::App& app, Flags& f, std::vector<Command>& table);
using AddCommand = void (*)(CLI::App&, Flags&, std::vector<Command>&);
constexpr std::pair<std::string_view, AddCommand> kCommands[] = {
    {"edge", addEdge},     {"tunnel", addTunnel},   {"quick", addQuick},     {"exec", addExec},
    {"netns", addNetns},   {"service", addService}, {"audit", addAudit},     {"up", addStack},
    {"down", addStack},    {"ps", addStack},        {"logs", addStack},      {"auth", addAuth},
    {"access", addAccess}, {"host", addHost},       {"dashboard", addStack}, {"restart", addStack},
};

// The first word that is not a global option (`--log-level LEVEL`), or "".
std::string_view commandWord(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--log-level" || a == "--loglevel") {
      ++i;
      continue;
    }
    if (a.empty() || a.front() == '-') continue;
    return a;
  }
  return "";
}

// --admin-users and --admin-access: the dashboard's login, which lets --admin be any address.
void addAdminLogin(CLI::App* c, std::string& users, std::string& access) {
  c->add_option("--admin-users", users,
                "the dashboard asks for a user and password of this htpasswd file (bcrypt, apr1, "
                "SHA1), as Traefik's basicAuth usersFile");
  c->add_option("--admin-access", access,
                "the dashboard asks burrow auth at this address (e.g. http://127.0.0.1:9091) "
                "whether the request's session may in, as a route's access: portal:");
}

void addEdge(CLI::App& app, Flags& f, std::vector<Command>& table) {
  // burrow edge [tunnel create|list|delete] [route dns]
  auto* edge = app.add_subcommand("edge", "run the public edge, or manage its tunnels");
  edge->require_subcommand(0, 1);
  f.edge.state_dir = supervise::defaultStateDir();
  edge->add_option("--state-dir", f.edge.state_dir,
                   "state directory (created 0700; as root /var/lib/burrow, otherwise "
                   "$XDG_STATE_HOME/burrow)")
      ->capture_default_str();
  edge->add_option("--http", f.edge.http_addr, "plain HTTP listener, e.g. :80");
  edge->add_option("--https", f.edge.https_addr, "HTTPS listener (HTTP/1.1 and h2), e.g. :443");
  edge->add_option("--tunnel", f.edge.tunnel_addr, "where connectors dial in, e.g. :7844");
  edge->add_option("--cert", f.edge.cert_file, "PEM certificate for --https");
  edge->add_option("--key", f.edge.key_file, "PEM private key for --https");
  edge->add_option("--admin", f.edge.admin_addr,
                   "serve the dashboard (tunnels, connectors, routes, certificates, traffic) on "
                   "this address, e.g. 127.0.0.1:9090 (loopback unless --admin-users or "
                   "--admin-access)");
  addAdminLogin(edge, f.edge.admin_users, f.edge.admin_access);
  edge->add_flag("--redirect-https", f.edge.redirect_https,
                 "answer plain-http requests for routed hosts with 308 to https");
  edge->add_option(
      "--acme-email", f.edge.acme_email,
      "get certificates for the routed names by ACME (HTTP-01, or TLS-ALPN-01 without --http), "
      "account contact E");
  edge->add_option("--acme-directory", f.edge.acme_directory,
                   "ACME directory URL (default: Let's Encrypt production)");
  edge->add_option("--acme-ca-file", f.edge.acme_ca_file,
                   "PEM CA bundle trusted for the ACME server's TLS (default: the system's)");
  edge->add_option("--acme-dns-rfc2136", f.edge.acme_dns_rfc2136,
                   "DNS-01 for *.zone routes: RFC 2136 updates to SERVER (host[:port], port 53)");
  edge->add_option("--acme-dns-tsig-file", f.edge.acme_dns_tsig_file,
                   "TSIG key (hmac-sha256, as tsig-keygen prints it) for --acme-dns-rfc2136");
  edge->add_option("--acme-dns-hook", f.edge.acme_dns_hook,
                   "DNS-01 for *.zone routes: run CMD present|cleanup FQDN. VALUE");
  edge->add_option("--metrics", f.edge.metrics_addr,
                   "loopback address for /ready and /metrics (Prometheus), e.g. 127.0.0.1:2001");
  edge->add_option("--access-log", f.edge.access_log,
                   "one line per request to FILE (- = standard output); SIGUSR1 reopens it");
  edge->add_option("--access-log-format", f.edge.access_log_format,
                   "json or combined (default: combined, with host, tunnel and times after it)");
  edge->add_option("--grace-period", f.edge_grace, "time requests in flight get on SIGTERM/SIGINT")
      ->capture_default_str();
  edge->add_option("--max-connections", f.edge.limits.max_connections,
                   "client connections in all (lowered to fit the open-file limit)")
      ->capture_default_str();
  edge->add_option("--max-connections-per-client", f.edge.limits.max_connections_per_client,
                   "client connections from one IPv4 address or IPv6 /64")
      ->capture_default_str();
  edge->add_option("--h2-max-streams", f.edge.limits.h2_max_streams,
                   "concurrent streams per client HTTP/2 connection")
      ->capture_default_str();
  edge->add_option("--idle-timeout", f.idle_timeout,
                   "a client connection without a request is closed after this")
      ->capture_default_str();
  edge->add_option("--body-timeout", f.body_timeout,
                   "a request body that sends nothing for this long gets 408")
      ->capture_default_str();
  edge->add_option("--send-timeout", f.send_timeout,
                   "a client that takes no response bytes for this long is disconnected")
      ->capture_default_str();
  table.push_back({edge, edgeRun});

  auto* etun = edge->add_subcommand("tunnel", "create, list or delete tunnels");
  etun->require_subcommand(1);
  auto* create = etun->add_subcommand("create", "create a tunnel and print its token");
  create->add_option("NAME", f.name, "tunnel name")->required();
  create->add_option("--endpoint", f.endpoint,
                     "HOST:PORT connectors dial (default: the edge's last --tunnel address)");
  create->add_option("-o,--output", f.output, "write the token to this new file (mode 0600)");
  table.push_back({create, tunnelCreate});
  auto* list = etun->add_subcommand("list", "list tunnels, their live connections and hostnames");
  table.push_back({list, tunnelList});
  auto* info = etun->add_subcommand("info", "show a tunnel and its live connections");
  info->add_option("NAME", f.name, "tunnel name or id")->required();
  table.push_back({info, tunnelInfo});
  auto* del = etun->add_subcommand("delete", "delete a tunnel and its routes");
  del->add_option("NAME", f.name, "tunnel name or id")->required();
  table.push_back({del, tunnelDelete});
  auto* route = edge->add_subcommand("route", "bind hostnames to tunnels");
  route->require_subcommand(1);
  auto* dns = route->add_subcommand("dns", "route HOSTNAME (or *.zone) to tunnel NAME");
  dns->add_option("NAME", f.name, "tunnel name or id")->required();
  dns->add_option("HOSTNAME", f.hostname, "exact hostname or *.zone")->required();
  table.push_back({dns, routeDns});
  auto* rtcp = route->add_subcommand(
      "tcp",
      "open PORT on the edge for HOSTNAME, a routed tcp://, ssh://, rdp:// or smb:// service");
  rtcp->add_option("HOSTNAME", f.hostname, "an exact hostname already routed to a tunnel")
      ->required();
  rtcp->add_option("PORT", f.port,
                   "port opened on the host of the edge's --http (else --https) address; each "
                   "connection is carried as `burrow access tcp --hostname HOSTNAME` would be")
      ->required();
  table.push_back({rtcp, routeTcp});
  auto* rlist = route->add_subcommand("list", "list hostname routes and TCP ports");
  table.push_back({rlist, routeList});
  auto* rdel =
      route->add_subcommand("delete", "remove the route of HOSTNAME, or TCP port tcp:PORT");
  rdel->add_option("HOSTNAME", f.hostname, "a routed hostname or *.zone, or tcp:PORT")->required();
  table.push_back({rdel, routeDelete});
  auto* login = edge->add_subcommand("login-token", "logins that manage tunnels from home");
  login->require_subcommand(1);
  auto* lcreate = login->add_subcommand("create", "create a login for zones and print its token");
  lcreate
      ->add_option("--zone", f.zones,
                   "a zone the login may route hostnames in (the name and all below it); "
                   "repeat for more")
      ->type_name("ZONE");
  lcreate->add_option("--name", f.name, "the login's name (default: login- and its id's start)");
  lcreate->add_option("--endpoint", f.endpoint,
                      "HOST:PORT of the tunnel listener (default: the edge's last --tunnel "
                      "address)");
  lcreate->add_option("-o,--output", f.output, "write the token to this new file (mode 0600)");
  table.push_back({lcreate, loginCreate});
  auto* llist = login->add_subcommand("list", "list logins, their zones and revocations");
  table.push_back({llist, loginList});
  auto* lrevoke = login->add_subcommand("revoke", "refuse a login's token from now on");
  lrevoke->add_option("NAME", f.name, "login name or id")->required();
  table.push_back({lrevoke, loginRevoke});
  auto* cert = edge->add_subcommand("cert", "certificates obtained by ACME");
  cert->require_subcommand(1);
  auto* clist = cert->add_subcommand("list", "list names, issuers, expiry and last errors");
  table.push_back({clist, certList});
  for (auto* sub :
       {create, list, info, del, dns, rtcp, rlist, rdel, clist, lcreate, llist, lrevoke})
    sub->add_option("--state-dir", f.edge.state_dir, "the edge's state directory")
        ->capture_default_str();
}

void addTunnel(CLI::App& app, Flags& f, std::vector<Command>& table) {
  // burrow tunnel run | ingress validate | ingress rule
  auto* tun = app.add_subcommand(
      "tunnel", "run a connector, check its ingress rules, or manage tunnels with a login");
  tun->require_subcommand(1);
  auto* trun = tun->add_subcommand("run", "dial the edge and serve the ingress rules");
  trun->add_option("NAME", f.name,
                   "a tunnel made with burrow tunnel create: its token is NAME.token in "
                   "--state-dir");
  trun->add_option("--token-file", f.token_file, "file holding the tunnel token (mode 0600)");
  trun->add_option("--ha-connections", f.ha_connections, "connections to the edge")
      ->capture_default_str();
  trun->add_option("--grace-period", f.grace_period, "drain time on SIGTERM/SIGINT")
      ->capture_default_str();
  trun->add_option("--metrics", f.metrics,
                   "loopback address for /ready, /healthcheck and /metrics, e.g. 127.0.0.1:2000");
  trun->add_option("--access-log", f.access_log,
                   "one line per request to FILE (- = standard output); SIGUSR1 reopens it");
  trun->add_option("--access-log-format", f.access_log_format,
                   "json or combined (default: combined, with host, tunnel and times after it)");
  trun->parse_complete_callback([&f, trun] {
    f.ha_connections_given = trun->count("--ha-connections") > 0;
    f.grace_period_given = trun->count("--grace-period") > 0;
  });
  table.push_back({trun, tunnelRun});
  auto* ingress = tun->add_subcommand("ingress", "validate or test ingress rules");
  ingress->require_subcommand(1);
  auto* validate = ingress->add_subcommand("validate", "check the ingress rules");
  validate->add_flag("--strict", f.strict, "keys burrow does not use (typos too) are errors");
  table.push_back({validate, ingressValidate});
  auto* rule = ingress->add_subcommand("rule", "show which rule a URL matches");
  rule->add_option("URL", f.rule_url, "URL to match")->required();
  rule->add_option("-f,--file", f.stack_file, "a stack file: its routes, and the service reached");
  table.push_back({rule, ingressRule});

  // With a login (burrow edge login-token create), from home: cloudflared's names.
  auto* hlogin = tun->add_subcommand("login", "check a login token with its edge and keep it");
  hlogin->add_option("--token-file", f.token_file, "file holding the login token (mode 0600)")
      ->required();
  table.push_back({hlogin, homeLogin});
  auto* hcreate = tun->add_subcommand("create", "create a tunnel on the edge of the login");
  hcreate->add_option("NAME", f.name, "tunnel name")->required();
  hcreate->add_option("-o,--output", f.output,
                      "write the token to this new file (default: NAME.token in --state-dir)");
  table.push_back({hcreate, homeCreate});
  auto* hlist = tun->add_subcommand("list", "list the tunnels the login may manage");
  table.push_back({hlist, homeList});
  auto* hinfo = tun->add_subcommand("info", "show a tunnel and its live connections");
  hinfo->add_option("NAME", f.name, "tunnel name or id")->required();
  table.push_back({hinfo, homeInfo});
  auto* hdel = tun->add_subcommand("delete", "delete a tunnel and its routes");
  hdel->add_option("NAME", f.name, "tunnel name or id")->required();
  table.push_back({hdel, homeDelete});
  auto* hroute = tun->add_subcommand("route", "route hostnames in the login's zones");
  hroute->require_subcommand(1);
  auto* hdns = hroute->add_subcommand("dns", "route HOSTNAME (or *.zone) to tunnel NAME");
  hdns->add_option("NAME", f.name, "tunnel name or id")->required();
  hdns->add_option("HOSTNAME", f.hostname, "exact hostname or *.zone")->required();
  table.push_back({hdns, homeRouteDns});
  auto* hrlist = hroute->add_subcommand("list", "list the routes of the login's tunnels");
  table.push_back({hrlist, homeRouteList});
  auto* hrdel = hroute->add_subcommand("delete", "remove the route of HOSTNAME");
  hrdel->add_option("HOSTNAME", f.hostname, "a routed hostname or *.zone")->required();
  table.push_back({hrdel, homeRouteDelete});
  for (auto* sub : {hlogin, hcreate, hlist, hinfo, hdel, hdns, hrlist, hrdel})
    sub->add_option("--state-dir", f.tunnel_state_dir,
                    "where the login (login.token) and tunnel tokens are kept (as root "
                    "/var/lib/burrow, otherwise $XDG_STATE_HOME/burrow)")
        ->capture_default_str();
  for (auto* sub : {trun, validate, rule}) {
    sub->add_option("--config", f.config_file,
                    "cloudflared-style config.yml (default: config.yml in --state-dir)");
    sub->add_option("--url", f.url, "one origin for every request (instead of --config)");
    sub->add_option("--state-dir", f.tunnel_state_dir,
                    "where config.yml and token are found when not named (as root "
                    "/var/lib/burrow, otherwise $XDG_STATE_HOME/burrow)")
        ->capture_default_str();
  }
}

void addQuick(CLI::App& app, Flags& f, std::vector<Command>& table) {
  auto* q = app.add_subcommand("quick", "edge + connector on loopback; prints the URL to open");
  q->add_option("--url", f.quick.url, "origin to expose (default: built-in hello page)");
  q->add_option("--listen", f.quick.listen_addr, "HTTP listener (default 127.0.0.1:0)");
  table.push_back({q, quick});
}

void addAccess(CLI::App& app, Flags& f, std::vector<Command>& table) {
  auto* a = app.add_subcommand("access", "reach a tcp://, ssh://, rdp:// or smb:// route");
  a->require_subcommand(1);
  for (auto [name, what] :
       {std::pair{"tcp", "TCP"}, {"ssh", "SSH"}, {"rdp", "RDP"}, {"smb", "SMB"}}) {
    auto* sub = a->add_subcommand(
        name,
        fmt::format("carry {} connections to a route through the edge (WebSocket over TLS)", what));
    sub->add_option("--hostname", f.access.hostname, "the route's hostname")->required();
    sub->add_option("--url", f.access.url,
                    "listen on ADDR (e.g. 127.0.0.1:2222), one stream per connection; without "
                    "it, stdin/stdout (an ssh ProxyCommand)");
    sub->add_option("--edge", f.access.edge,
                    "HOST:PORT of the edge's https listener (default: HOSTNAME:443)");
    sub->add_option("--ca-file", f.access.ca_file,
                    "CA certificates for the edge's certificate (default: the system's)");
    sub->add_flag("--insecure", f.access.insecure, "do not check the edge's certificate");
    table.push_back({sub, access});
  }
}

void addExec(CLI::App& app, Flags& f, std::vector<Command>& table) {
  auto* ex = app.add_subcommand(
      "exec", "run a unit's ExecStart in the foreground with its [Service] sandbox applied");
  ex->add_option("UNIT", f.unit, "unit name (found as systemd finds it) or unit file")->required();
  ex->add_option("ARGS", f.exec_args, "extra arguments for the service (after --)");
  ex->add_flag("--no-restart", f.no_restart, "ignore Restart=: run once");
  ex->add_flag("--strict", f.strict, "unknown directives are errors, not warnings");
  ex->add_option("--netns", f.exec_netns,
                 "confine to namespace NAME (burrow netns up): its tunnel is the only way out");
  ex->add_flag("--allow-root", f.allow_root, "let a highAssurance namespace run a root service");
  ex->add_option("--private-users", f.exec_private_users,
                 "pick: a user namespace with 65536 ids of the unit's own (as systemd-nspawn)")
      ->check(CLI::IsMember({"pick"}));
  ex->add_flag("--ephemeral,-x", f.exec_ephemeral,
               "run on a writable overlay of / whose changes vanish when the service ends");
  ex->add_option("--state-dir", f.state_dir, "where `netns up` keeps its records")
      ->capture_default_str();
  table.push_back({ex, execUnit});
}

void addNetns(CLI::App& app, Flags& f, std::vector<Command>& table) {
  // burrow netns up|down|status
  auto* nsc = app.add_subcommand("netns", "namespaces whose only way out is a WireGuard tunnel");
  nsc->require_subcommand(1);
  auto* nup = nsc->add_subcommand("up", "create namespace NAME as FILE describes");
  nup->add_option("NAME", f.netns_name, "namespace name (a key under namespaces:)")->required();
  nup->add_option("-f,--file", f.netns_file, "YAML file with namespaces.NAME")->required();
  table.push_back({nup, netnsUp});
  auto* ndown = nsc->add_subcommand("down", "stop what runs inside namespace NAME, remove it");
  ndown->add_option("NAME", f.netns_name, "namespace name")->required();
  table.push_back({ndown, netnsDown});
  auto* nstat = nsc->add_subcommand("status", "show namespaces, their tunnels and processes");
  nstat->add_option("NAME", f.netns_name, "only this namespace");
  nstat->add_flag("--json", f.json, "JSON: one object per namespace");
  table.push_back({nstat, netnsStatus});
  for (auto* c : {nup, ndown, nstat})
    c->add_option("--state-dir", f.state_dir, "where namespace records live")
        ->capture_default_str();
}

void addStack(CLI::App& app, Flags& f, std::vector<Command>& table) {
  // burrow up|down|ps|logs: the stack of burrow.yaml
  auto* up = app.add_subcommand("up", "bring up the stack burrow.yaml describes");
  up->add_flag("-d,--detach", f.detach, "run the stack in the background once it is up");
  up->add_flag("--strict", f.strict, "unknown keys and unit directives are errors");
  up->add_option("--admin", f.stack_admin,
                 "serve the stack's dashboard on this address (HOST:PORT; loopback unless "
                 "--admin-users or --admin-access)");
  table.push_back({up, stackUp});
  auto* restart = app.add_subcommand(
      "restart", "stop a service of the running stack and start it again (connector: drain it)");
  restart->add_option("SERVICE", f.service_name, "a service of the stack, or connector")
      ->required();
  restart->add_option("--state-dir", f.state_dir, "where the stack keeps its records")
      ->capture_default_str();
  table.push_back({restart, stackRestart});
  auto* down = app.add_subcommand("down", "stop the stack and remove all it made");
  down->add_flag("--purge", f.purge,
                 "also delete the tunnel (and its routes) that tunnel.login made on the edge");
  table.push_back({down, stackDown});
  auto* ps = app.add_subcommand("ps", "the stack's services: state, pid, address, restarts");
  ps->add_flag("--json", f.json, "JSON instead of a table");
  table.push_back({ps, stackPs});
  auto* logs = app.add_subcommand("logs", "a service's output (stdout and stderr)");
  logs->add_option("SERVICE", f.service_name, "a service of the stack, or connector")->required();
  logs->add_flag("--follow", f.follow, "wait for more output");
  table.push_back({logs, stackLogs});
  auto* dash = app.add_subcommand("dashboard", "serve the running stack's page (what ps shows)");
  dash->add_option("--admin", f.stack_admin,
                   "the address to serve on (HOST:PORT; loopback unless --admin-users or "
                   "--admin-access)")
      ->required();
  dash->add_option("--state-dir", f.state_dir, "where the stack keeps its records")
      ->capture_default_str();
  table.push_back({dash, stackDashboard});
  for (auto* c : {up, dash}) {
    c->add_flag("--admin-actions", f.admin_actions,
                "the page may restart services, reload the stack and drain the connector "
                "(POSTs with a CSRF token, logged)");
    addAdminLogin(c, f.admin_users, f.admin_access);
  }
  for (auto* c : {up, down, ps, logs}) {
    c->add_option("-f,--file", f.stack_file,
                  "the stack file (default ./burrow.yaml); for down, ps and logs: refused when "
                  "the stack runs another");
    c->add_option("--state-dir", f.state_dir, "where the stack keeps its records and logs")
        ->capture_default_str();
  }
}

void addService(CLI::App& app, Flags& f, std::vector<Command>& table) {
  // burrow service install|uninstall|status|restart|reload
  auto* svc = app.add_subcommand("service", "install burrow as a service of systemd or OpenRC");
  svc->require_subcommand(1);
  auto* sinst = svc->add_subcommand(
      "install", "write and start a service running the burrow command given after --");
  sinst->add_option("--init", f.init, "auto, systemd, openrc or none")->capture_default_str();
  sinst->add_option("--name", f.service_name, "default burrow-tunnel, burrow-edge or burrow-stack");
  sinst->add_option("--user", f.service_user,
                    "the service's system user (default: its name; root for up)");
  sinst->add_option("--state-dir", f.service_state_dir,
                    "the service's own directory, 0700 (default /var/lib/burrow/NAME)");
  sinst->add_option("COMMAND", f.service_command, "burrow subcommand and flags, after --")
      ->required();
  table.push_back({sinst, serviceInstall});
  auto* sun = svc->add_subcommand("uninstall", "stop and remove what install made");
  sun->add_option("--name", f.service_name, "the service")->required();
  sun->add_flag("--keep-state", f.keep_state, "keep the state directory (handed to root)");
  table.push_back({sun, [](Flags& fl) {
                     return printLines(supervise::uninstall(fl.service_name, fl.keep_state));
                   }});
  for (const char* action : {"status", "restart", "reload"}) {
    auto* c = svc->add_subcommand(action, std::string(action) + " the service through its init");
    c->add_option("--name", f.service_name, "the service")->required();
    table.push_back({c, [action](Flags& fl) {
                       return printLines(supervise::control(fl.service_name, action));
                     }});
  }
  // What --init none runs, detached, as the service user.
  auto* ssup = svc->add_subcommand(
      "supervise", "run COMMAND and restart it on failure (what --init none starts)");
  ssup->add_option("--name", f.service_name, "the service")->required();
  ssup->add_option("--state-dir", f.state_dir, "its pid files and log")->capture_default_str();
  ssup->add_option("COMMAND", f.service_command, "burrow subcommand and flags, after --")
      ->required();
  table.push_back({ssup, [](Flags& fl) {
                     return supervise::runSupervisor(fl.service_name, fl.state_dir,
                                                     fl.service_command, selfPath());
                   }});
}

void addAudit(CLI::App& app, Flags& f, std::vector<Command>& table) {
  auto* aud = app.add_subcommand(
      "audit", "score units' exposure as systemd-analyze security does, plus burrow's findings");
  aud->add_option("UNIT", f.units, "unit names (found as systemd finds them) or unit files");
  aud->add_option("-f,--file", f.stack_file, "a stack file: each service as it will run");
  aud->add_option("--state-dir", f.state_dir, "the stack's records (its addresses)")
      ->capture_default_str();
  aud->add_flag("--json", f.json, "JSON: systemd-analyze's rows per unit, the overall figure");
  table.push_back({aud, auditUnits});
}

void addHost(CLI::App& app, Flags& f, std::vector<Command>& table) {
  // burrow host audit|harden
  auto* h = app.add_subcommand("host", "the machine itself against seed 001's host profile");
  h->require_subcommand(1);
  auto* aud = h->add_subcommand(
      "audit", "one row per item of the host profile: its state and the file that sets it");
  aud->add_option("--root", f.host.root, "a system image to read instead of this host")
      ->capture_default_str();
  aud->add_flag("--json", f.json, "JSON: the rows and whether every item is ok");
  table.push_back({aud, hostAudit});
  auto* hard = h->add_subcommand(
      "harden", "write what the host profile misses, as files burrow owns (--undo removes them)");
  hard->add_option("--root", f.host.root, "a system image to change instead of this host")
      ->capture_default_str();
  hard->add_flag("--dry-run", f.host.dry_run, "print what would change and write nothing");
  hard->add_option("--only", f.host.only, "only these items (ids as host audit lists them)");
  hard->add_flag("--undo", f.host_undo, "remove what harden wrote and is unchanged since");
  table.push_back({hard, hostHarden});
}

// A word where a command is expected that names none ("burrow access", "burrow tunnel
// rn"): the message CLI11 would give ("A subcommand is required", "arguments were not
// expected") does not say which word is wrong. Returns it, and the command it was given to.
std::optional<std::pair<std::string, std::string>> unknownCommand(CLI::App& app, int argc,
                                                                  char** argv) {
  CLI::App* cur = &app;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") break;
    if (a.starts_with("-")) {
      // An option's value is not a command word.
      if (a.find('=') != std::string::npos) continue;
      for (CLI::App* at = cur; at; at = at->get_parent())
        if (const CLI::Option* opt = at->get_option_no_throw(a)) {
          if (opt->get_items_expected_min() > 0) ++i;
          break;
        }
      continue;
    }
    auto subs = cur->get_subcommands([](CLI::App*) { return true; });
    if (subs.empty()) return std::nullopt;  // from here on, the command's own arguments
    CLI::App* next = nullptr;
    for (CLI::App* sub : subs)
      if (sub->check_name(a)) next = sub;
    if (!next) {
      if (!cur->get_options([](const CLI::Option* o) { return o->get_positional(); }).empty())
        return std::nullopt;
      std::string known;
      for (CLI::App* sub : subs) known += (known.empty() ? "" : ", ") + sub->get_name();
      std::string path = cur == &app ? "burrow" : "burrow " + cur->get_name();
      for (CLI::App* p = cur->get_parent(); p && p != &app; p = p->get_parent())
        path.insert(7, p->get_name() + " ");
      return std::pair{a, fmt::format("{} (commands of {}: {})", path, path, known)};
    }
    cur = next;
  }
  return std::nullopt;
}

void addAuth(CLI::App& app, Flags& f, std::vector<Command>& table) {
  auto* a = app.add_subcommand("auth", "a login portal speaking Authelia's protocol");
  a->add_option("--config,-c", f.auth.config_file, "Authelia's configuration.yml")
      ->capture_default_str();
  table.push_back({a, [](Flags& fl) { return finish(auth::runPortal(fl.auth)); }});
  auto* hp = a->add_subcommand("hash-password", "print an argon2id hash of a password (stdin)");
  hp->add_option("--password-file", f.auth.password_file, "read the password from this file");
  table.push_back({hp, [](Flags& fl) { return finish(auth::runHashPassword(fl.auth)); }});
}

int run(int argc, char** argv) {
  g_argv.assign(argv, argv + argc);
  CLI::App app{"burrow: expose self-hosted services through a tunnel you own", "burrow"};
  app.require_subcommand(1);
  app.set_version_flag("--version",
                       fmt::format("burrow {} ({})", base::version(), tunnel::tlsLibrary()));
  Flags f;
  // Global options are taken after a command too (`burrow tunnel run --log-level debug`).
  app.fallthrough();
  app.add_option("--log-level,--loglevel", f.log_level,
                 "debug, info, warn, error or off (also after the command)")
      ->capture_default_str();
  std::vector<Command> table;
  // Only the command named on the command line is built (each costs allocations, and
  // `burrow exec` is on the path of every sandboxed start); all of them for help, --version
  // or a word burrow does not know.
  const std::string_view word = commandWord(argc, argv);
  bool known = false;
  for (const auto& [name, add] : kCommands) known = known || name == word;
  std::vector<AddCommand> added;  // one adder may serve several words (up, down, ps, logs)
  for (const auto& [name, add] : kCommands)
    if ((!known || name == word) && std::find(added.begin(), added.end(), add) == added.end()) {
      add(app, f, table);
      added.push_back(add);
    }

  if (auto bad = unknownCommand(app, argc, argv)) {
    std::fprintf(stderr, "burrow: unknown command '%s' for %s\n", bad->first.c_str(),
                 bad->second.c_str());
    return kUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    (void)app.exit(e);
    return kUsage;
  }
  base::LogLevel level;
  if (!base::parseLogLevel(f.log_level, &level)) {
    std::fprintf(stderr, "burrow: --log-level: unknown level '%s'\n", f.log_level.c_str());
    return kUsage;
  }
  base::setLogLevel(level);
  f.log_level_given = app.count("--log-level") > 0;
  // The deepest parsed command wins: `edge tunnel list` over `edge`.
  for (auto it = table.rbegin(); it != table.rend(); ++it) {
    CLI::App* a = it->app;
    bool leaf = a->parsed();
    for (auto* sub : a->get_subcommands()) leaf = leaf && !sub->parsed();
    if (leaf) return it->run(f);
  }
  std::fprintf(stderr, "%s", app.help().c_str());
  return kUsage;
}

}  // namespace
}  // namespace cli

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  return cli::run(argc, argv);
}
