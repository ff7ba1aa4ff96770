// The process-level entry points of tunnel.h: an io_context, signals, and the Edge and
// Connector objects composed for `burrow edge`, `burrow tunnel run` and `burrow quick`.
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>

#include "admin/admin.h"
#include "base/base.h"
#include "tunnel/runtime.h"
#include "tunnel/tunnel.h"

namespace tunnel {

using tcp = asio::ip::tcp;

base::Result<tcp::endpoint> parseListenAddr(std::string_view text) {
  auto hp = base::splitHostPort(text, /*port_zero_ok=*/true);
  if (!hp) return base::invalid("listen address {}", hp.error().message());
  boost::system::error_code ec;
  asio::ip::address addr = hp->host.empty() ? asio::ip::address(asio::ip::address_v4::any())
                           : hp->host == "localhost"
                               ? asio::ip::address(asio::ip::address_v4::loopback())
                               : asio::ip::make_address(hp->host, ec);
  if (ec) return base::invalid("listen address '{}': '{}' is not an IP address", text, hp->host);
  return tcp::endpoint(addr, hp->port);
}

std::string formatEndpoint(const tcp::endpoint& ep) {
  if (ep.address().is_v6()) return fmt::format("[{}]:{}", ep.address().to_string(), ep.port());
  return fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

std::string withPort(std::string_view addr, uint16_t port) {
  auto colon = addr.rfind(':');
  return fmt::format("{}:{}", addr.substr(0, colon == std::string_view::npos ? 0 : colon), port);
}

base::Result<tcp::acceptor> listen(asio::io_context& ioc, std::string_view addr,
                                   std::string_view what, bool shared_port) {
  ASSIGN_OR_RETURN(tcp::endpoint ep, parseListenAddr(addr));
  tcp::acceptor acc(ioc);
  boost::system::error_code ec;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && shared_port)
    acc.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return base::Unexpected(base::Error{ec, fmt::format("--{} {}: cannot listen", what, addr)});
  return acc;
}

namespace {

// Calls `on_stop` on the first SIGINT/SIGTERM, exits at once on the second, calls
// `on_reload` on SIGHUP, and reopens the access log (if any) on SIGUSR1.
struct Signals {
  Signals(asio::io_context& ioc, std::function<void()> stop, std::function<void()> reload,
          std::shared_ptr<http::AccessLog> log = nullptr)
      : set(ioc, SIGINT, SIGTERM, SIGHUP),
        on_stop(std::move(stop)),
        on_reload(std::move(reload)),
        access_log(std::move(log)) {
    set.add(SIGUSR1);
    arm();
  }
  void arm() {
    set.async_wait([this](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      if (sig == SIGUSR1) {
        if (!access_log) {
          LOG_INFO("SIGUSR1 ignored: no access log");
        } else if (auto r = access_log->reopen(); !r) {
          LOG_WARN("SIGUSR1: the access log stays on the file it had error={}",
                   r.error().message());
        } else {
          LOG_INFO("SIGUSR1: access log reopened path={}", access_log->path());
        }
      } else if (sig == SIGHUP) {
        if (on_reload)
          on_reload();
        else
          LOG_INFO("SIGHUP ignored: nothing to reload");
      } else if (stopping) {
        LOG_WARN("second signal, exiting now");
        std::_Exit(1);
      } else {
        stopping = true;
        LOG_INFO("signal={} stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
        on_stop();
      }
      arm();
    });
  }
  void cancel() {
    boost::system::error_code ignored;
    set.cancel(ignored);
  }
  asio::signal_set set;
  std::function<void()> on_stop;
  std::function<void()> on_reload;
  std::shared_ptr<http::AccessLog> access_log;
  bool stopping = false;
};

// Descriptors kept for everything but client connections: tunnel connections, the forwarding
// socketpairs between shards, state files, listeners.
constexpr size_t kReservedFds = 256;

// Raises the soft open-file limit to the hard one (Debian starts processes at 1,024), and
// lowers the client connection cap to what fits in it, so that clients can never take the
// descriptors the edge needs for itself (see setrlimit(2)).
ClientLimits fitToOpenFiles(ClientLimits l) {
  struct rlimit r {};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0) {
    if (r.rlim_cur < r.rlim_max) {
      struct rlimit raised = r;
      raised.rlim_cur = r.rlim_max;
      if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) r = raised;
    }
    size_t files = r.rlim_cur == RLIM_INFINITY ? SIZE_MAX : static_cast<size_t>(r.rlim_cur);
    size_t room = files > 2 * kReservedFds ? files - kReservedFds : files / 2;
    if (l.max_connections > room) {
      LOG_WARN("max_connections lowered to fit the open-file limit from={} to={} open_files={}",
               l.max_connections, room, files);
      l.max_connections = room;
    }
    LOG_INFO(
        "client limits max_connections={} max_connections_per_client={} h2_max_streams={} "
        "open_files={}",
        l.max_connections, l.max_connections_per_client, l.h2_max_streams, files);
  }
  return l;
}

std::string readyLine(const Edge& e) {
  std::string line = "edge ready";
  if (auto ep = e.httpEndpoint()) line += " http=" + formatEndpoint(*ep);
  if (auto ep = e.httpsEndpoint()) line += " https=" + formatEndpoint(*ep);
  if (auto ep = e.tunnelEndpoint()) line += " tunnel=" + formatEndpoint(*ep);
  if (auto ep = e.metricsEndpoint()) line += " metrics=" + formatEndpoint(*ep);
  if (auto ep = e.adminEndpoint()) line += " admin=" + formatEndpoint(*ep);
  return line;
}

}  // namespace

// Here rather than with the other `edge route` commands (admin.cc): it binds a socket.
base::Result<void> routeTcp(const std::string& state_dir, const std::string& hostname,
                            const std::string& port_text) {
  ASSIGN_OR_RETURN(uint16_t port, parseTcpPort(port_text));
  ASSIGN_OR_RETURN(base::UniqueFd lock, EdgeState::lock(state_dir));
  ASSIGN_OR_RETURN(EdgeState state, EdgeState::open(state_dir));
  const size_t before = state.tcpRoutes().size();
  RETURN_IF_ERROR(state.addTcpRoute(hostname, port));
  if (state.tcpRoutes().size() == before) return {};  // already there (and served)
  // Where the edge will listen: the port must be free there now, or nothing is saved. (Later
  // trouble, another program taking the port first, is the running edge's to log.)
  if (!state.lastListenAddr().empty()) {
    asio::io_context ioc(1);
    const std::string addr = withPort(state.lastListenAddr(), port);
    if (auto probe = listen(ioc, addr, "tcp-route", false); !probe)
      return base::invalid(
          "port {}: cannot listen on {} (the edge's listen address): {}; no "
          "route was added",
          port, addr, probe.error().code.message());
  }
  RETURN_IF_ERROR(state.save());
  LOG_INFO("tcp route added port={} hostname={}", port, base::toLower(hostname));
  return {};
}

base::Result<int> runEdge(const EdgeOptions& o) {
  if (o.state_dir.empty()) return base::invalid("--state-dir is required");
  if (o.tunnel_addr.empty()) return base::invalid("--tunnel is required");
  if (o.http_addr.empty() && o.https_addr.empty())
    return base::invalid("give at least one of --http and --https");
  if (o.cert_file.empty() != o.key_file.empty())
    return base::invalid("--cert and --key go together");
  const ClientLimits& l = o.limits;
  if (l.max_connections < 1 || l.max_connections_per_client < 1)
    return base::invalid("--max-connections and --max-connections-per-client must be at least 1");
  if (l.max_connections_per_client > l.max_connections)
    return base::invalid("--max-connections-per-client {} is above --max-connections {}",
                         l.max_connections_per_client, l.max_connections);
  if (l.h2_max_streams < 1 || l.h2_max_streams > 10'000)
    return base::invalid("--h2-max-streams must be between 1 and 10000, not {}", l.h2_max_streams);
  for (auto [name, d] : {std::pair{"--idle-timeout", l.idle_timeout},
                         {"--body-timeout", l.body_timeout},
                         {"--send-timeout", l.send_timeout}})
    if (d.count() <= 0) return base::invalid("{} must be longer than 0s", name);
  if (o.redirect_https && (o.https_addr.empty() || o.http_addr.empty()))
    return base::invalid("--redirect-https needs both --http and --https");
  if (!o.metrics_addr.empty()) {
    if (auto ok = config::checkMetricsAddress(o.metrics_addr); !ok)
      return base::invalid("--metrics {}", ok.error().message());
  }
  ASSIGN_OR_RETURN(admin::Login admin_login,
                   admin::loadLogin(o.admin_addr, o.admin_users, o.admin_access));
  std::shared_ptr<http::AccessLog> access_log;
  if (!o.access_log.empty()) {
    ASSIGN_OR_RETURN(
        http::AccessLogFormat format,
        http::parseAccessLogFormat(o.access_log_format.empty() ? "combined" : o.access_log_format));
    ASSIGN_OR_RETURN(access_log, http::AccessLog::open(o.access_log, format));
  } else if (!o.access_log_format.empty()) {
    return base::invalid("--access-log-format needs --access-log");
  }
  std::optional<AcmeOptions> acme;
  if (!o.acme_email.empty()) {
    if (o.https_addr.empty())
      return base::invalid("--acme-email needs --https: the certificates are for it");
    if (o.acme_email.find('@') == std::string::npos ||
        o.acme_email.find_first_of(" \t\r\n") != std::string::npos)
      return base::invalid("--acme-email \"{}\" is not an email address", o.acme_email);
    AcmeOptions a;
    a.email = o.acme_email;
    a.state_dir = o.state_dir;
    a.http01 = !o.http_addr.empty();
    if (!o.acme_directory.empty()) {
      if (!o.acme_directory.starts_with("https://"))
        return base::invalid("--acme-directory must be an https:// URL, not \"{}\"",
                             o.acme_directory);
      a.directory = o.acme_directory;
    }
    if (!o.acme_ca_file.empty()) {
      auto pem = base::readFile(o.acme_ca_file);
      if (!pem) return base::invalid("--acme-ca-file: {}", pem.error().message());
      if (pem->find("-----BEGIN CERTIFICATE-----") == std::string::npos)
        return base::invalid("--acme-ca-file {} holds no PEM certificate", o.acme_ca_file);
      a.ca_file = o.acme_ca_file;
    }
    if (!o.acme_dns_rfc2136.empty() && !o.acme_dns_hook.empty())
      return base::invalid("--acme-dns-rfc2136 and --acme-dns-hook exclude each other");
    if (!o.acme_dns_rfc2136.empty() != !o.acme_dns_tsig_file.empty())
      return base::invalid("--acme-dns-rfc2136 and --acme-dns-tsig-file go together");
    if (!o.acme_dns_rfc2136.empty()) {
      ASSIGN_OR_RETURN(a.dns, makeRfc2136Solver(o.acme_dns_rfc2136, o.acme_dns_tsig_file));
    } else if (!o.acme_dns_hook.empty()) {
      ASSIGN_OR_RETURN(a.dns, makeHookSolver(o.acme_dns_hook));
    }
    acme = std::move(a);
  } else if (!o.acme_directory.empty() || !o.acme_ca_file.empty() || !o.acme_dns_rfc2136.empty() ||
             !o.acme_dns_tsig_file.empty() || !o.acme_dns_hook.empty()) {
    return base::invalid("--acme-directory, --acme-ca-file and --acme-dns-* need --acme-email");
  }
  ASSIGN_OR_RETURN(EdgeState state, EdgeState::open(o.state_dir));
  // One shard per core, each with its own io_context and thread (see edge.cc).
  int threads = std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1, 64);
  std::vector<std::unique_ptr<asio::io_context>> iocs;
  std::vector<asio::io_context*> raw;
  for (int t = 0; t < threads; ++t) {
    iocs.push_back(std::make_unique<asio::io_context>(1));
    raw.push_back(iocs.back().get());
  }
  auto& ioc = *iocs[0];
  Edge edge(raw, std::move(state));
  edge.setClientLimits(fitToOpenFiles(o.limits));
  edge.setAccessLog(access_log);
  edge.setMetricsAddress(o.metrics_addr);
  edge.setAdminAddress(o.admin_addr, admin_login);
  edge.setRedirectHttps(o.redirect_https);
  if (acme) edge.setAcme(*acme);
  RETURN_IF_ERROR(edge.start(o.http_addr, o.https_addr, o.tunnel_addr, o.cert_file, o.key_file));
  // Remember where connectors can dial so `edge tunnel create` can put it in tokens.
  auto ep = *edge.tunnelEndpoint();
  std::string given = o.tunnel_addr;
  if (auto colon = given.rfind(':'); colon != std::string::npos && ep.port() != 0)
    given = given.substr(0, colon + 1) + std::to_string(ep.port());
  // And where TCP route ports open, so that `edge route tcp` can check a port is free there.
  const std::string listen_addr = edge.tcpListenAddress();
  if (edge.state().lastTunnelAddr() != given || edge.state().lastListenAddr() != listen_addr) {
    auto lock = EdgeState::lock(o.state_dir);
    auto fresh = EdgeState::open(o.state_dir);  // don't clobber changes made since start
    if (lock && fresh) {
      fresh->setLastTunnelAddr(given);
      fresh->setLastListenAddr(listen_addr);
      if (auto r = fresh->save(); !r)
        LOG_WARN("cannot record tunnel address error={}", r.error().message());
    }
  }
  auto stopAll = [&] {
    for (auto& io : iocs) io->stop();
  };
  Signals sig(
      ioc, [&] { edge.drain(o.grace_period, stopAll); }, [&] { edge.reload(); }, access_log);
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t)
    workers.emplace_back([io = iocs[t].get()] {
      auto work = asio::make_work_guard(*io);  // runs until stopAll
      io->run();
    });
  LOG_INFO("{}", readyLine(edge));
  ioc.run();
  stopAll();
  for (auto& w : workers) w.join();
  return 0;
}

namespace {

// What a connector runs with, from its flags over its config file (see ConnectorOptions).
struct Effective {
  int ha_connections = 4;
  std::chrono::milliseconds grace_period{30'000};
  std::string metrics;
  std::string loglevel;  // "" = leave as it is
};

Effective effective(const ConnectorOptions& o, const config::TunnelConfig& cfg) {
  Effective e;
  e.ha_connections = o.ha_connections.value_or(cfg.ha_connections.value_or(4));
  e.grace_period = o.grace_period.value_or(cfg.grace_period.value_or(e.grace_period));
  e.metrics = !o.metrics_addr.empty() ? o.metrics_addr : cfg.metrics;
  if (!o.log_level_given) e.loglevel = cfg.loglevel;
  return e;
}

void applyLogLevel(const std::string& name) {
  base::LogLevel level;
  if (!name.empty() && base::parseLogLevel(name, &level)) base::setLogLevel(level);
}

// The HA connection indexes thread t of `threads` keeps: t, t + threads, ...
std::vector<int> indexesOf(int t, int threads, int ha_connections) {
  std::vector<int> v;
  for (int i = t; i < ha_connections; i += threads) v.push_back(i);
  return v;
}

}  // namespace

base::Result<int> runConnector(const ConnectorOptions& o) {
  ASSIGN_OR_RETURN(Token token, decodeToken(o.token));
  Effective now = effective(o, o.config);
  if (now.ha_connections < 1 || now.ha_connections > 64)
    return base::invalid("--ha-connections must be between 1 and 64, not {}", now.ha_connections);
  std::shared_ptr<http::AccessLog> access_log;
  if (!o.access_log.empty()) {
    ASSIGN_OR_RETURN(
        http::AccessLogFormat format,
        http::parseAccessLogFormat(o.access_log_format.empty() ? "combined" : o.access_log_format));
    ASSIGN_OR_RETURN(access_log, http::AccessLog::open(o.access_log, format));
  } else if (!o.access_log_format.empty()) {
    return base::invalid("--access-log-format needs --access-log");
  }
  applyLogLevel(now.loglevel);
  // One thread per core (at most one per connection), each with its own io_context and its
  // share of the HA connections: nothing on the data path crosses threads. A reload that
  // raises ha-connections spreads the new ones over these threads.
  int threads =
      std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1, now.ha_connections);
  auto stats = std::make_shared<ConnectorStats>();
  std::string connector_id = base::randomUuid();
  std::vector<std::unique_ptr<asio::io_context>> iocs;
  std::vector<std::unique_ptr<Connector>> conns;
  for (int t = 0; t < threads; ++t) {
    iocs.push_back(std::make_unique<asio::io_context>(1));
    conns.push_back(std::make_unique<Connector>(*iocs.back(), o.config, token,
                                                indexesOf(t, threads, now.ha_connections),
                                                connector_id, stats));
    conns.back()->setAccessLog(access_log);
  }
  if (!now.metrics.empty()) RETURN_IF_ERROR(conns[0]->startMetrics(now.metrics));
  for (auto& c : conns) RETURN_IF_ERROR(c->start());

  auto stopAll = [&iocs] {
    for (auto& io : iocs) io->stop();  // thread-safe, see io_context::stop
  };
  for (auto& c : conns) c->onFatal(stopAll);
  std::atomic<int> draining{threads};
  bool stopping = false;
  // SIGHUP, on the first thread: everything that can be refused is checked before anything
  // changes.
  auto reload = [&] {
    if (stopping) return;
    if (o.config_file.empty()) {
      LOG_INFO("SIGHUP: nothing to reload (the connector runs with --url, not a config file)");
      return;
    }
    auto fresh = config::loadTunnelConfig(o.config_file);
    if (!fresh) {
      LOG_ERROR("reload refused, the running config stays file={} error={}", o.config_file,
                fresh.error().message());
      return;
    }
    Effective next = effective(o, *fresh);
    if (next.metrics != now.metrics) {
      if (next.metrics.empty()) {
        conns[0]->stopMetrics();
      } else if (auto r = conns[0]->startMetrics(next.metrics); !r) {
        LOG_ERROR("reload refused, the running config stays file={} error={}", o.config_file,
                  r.error().message());
        return;
      }
    }
    applyLogLevel(next.loglevel);
    auto cfg = std::make_shared<const config::TunnelConfig>(std::move(*fresh));
    for (int t = 0; t < threads; ++t) {
      asio::post(*iocs[t],
                 [c = conns[t].get(), cfg, want = indexesOf(t, threads, next.ha_connections),
                  grace = next.grace_period] {
                   c->setConfig(cfg);
                   c->setIndexes(want, grace);
                 });
    }
    LOG_INFO("config reloaded file={} rules={} ha_connections={} metrics={}", o.config_file,
             cfg->ingress.size(), next.ha_connections, next.metrics.empty() ? "-" : next.metrics);
    now = next;
  };
  Signals sig(
      *iocs[0],
      [&] {
        stopping = true;
        for (size_t t = 0; t < conns.size(); ++t) {
          Connector* c = conns[t].get();
          asio::post(*iocs[t], [&, c, grace = now.grace_period] {
            c->drain(grace, [&] {
              if (--draining == 0) stopAll();
            });
          });
        }
      },
      reload, access_log);
  LOG_INFO("connector starting tunnel={} edge={} ha_connections={} threads={} rules={}",
           token.tunnel_id, token.endpoint, now.ha_connections, threads, o.config.ingress.size());
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t) workers.emplace_back([io = iocs[t].get()] { io->run(); });
  iocs[0]->run();
  stopAll();
  for (auto& w : workers) w.join();
  for (auto& c : conns)
    if (c->fatal()) return base::Unexpected(*c->fatal());
  return 0;
}

base::Result<int> runQuick(const QuickOptions& o) {
  config::TunnelConfig cfg;
  if (o.url.empty()) {
    ASSIGN_OR_RETURN(cfg,
                     config::parseTunnelConfig("ingress:\n  - service: hello_world\n", "quick"));
  } else {
    ASSIGN_OR_RETURN(cfg, config::singleServiceConfig(o.url));
  }
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/burrow-quick-XXXXXX";
  if (!::mkdtemp(tmpl.data())) return base::sysError("mkdtemp {}", tmpl);
  std::string dir = tmpl;
  struct Cleanup {
    std::string d;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(d, ec);
    }
  } cleanup{dir};

  ASSIGN_OR_RETURN(EdgeState state, EdgeState::open(dir));
  ASSIGN_OR_RETURN(std::string pin, state.ensureIdentity());
  std::string secret = base::randomBytes(kSecretSize);
  ASSIGN_OR_RETURN(TunnelRecord rec, state.addTunnel("quick", secret));
  RETURN_IF_ERROR(state.save());

  asio::io_context ioc(1);
  Edge edge(ioc, std::move(state));
  std::string listen_addr = o.listen_addr.empty() ? "127.0.0.1:0" : o.listen_addr;
  RETURN_IF_ERROR(edge.start(listen_addr, "", "127.0.0.1:0", "", ""));
  edge.setDefaultTunnel(rec.id);
  Token token{rec.id, secret, formatEndpoint(*edge.tunnelEndpoint()), pin};
  Connector conn(ioc, cfg, token, 1);
  RETURN_IF_ERROR(conn.start());
  conn.onFatal([&] { ioc.stop(); });
  auto http_ep = *edge.httpEndpoint();
  std::string host =
      http_ep.address().is_unspecified() ? "127.0.0.1" : http_ep.address().to_string();
  if (http_ep.address().is_v6()) host = "[" + host + "]";
  std::string url = fmt::format("http://{}:{}/", host, http_ep.port());
  std::string origin = o.url.empty() ? "hello_world" : o.url;
  conn.onFirstRegistered([url, origin] {
    std::fprintf(stdout, "%s\n", url.c_str());
    std::fflush(stdout);
    LOG_INFO("quick tunnel ready url={} origin={} (Ctrl-C stops)", url, origin);
  });
  Signals sig(
      ioc,
      [&] {
        conn.drain(std::chrono::seconds(5), [&] {
          edge.stop();
          ioc.stop();
        });
      },
      nullptr);
  ioc.run();
  if (conn.fatal()) return base::Unexpected(*conn.fatal());
  return 0;
}

}  // namespace tunnel
