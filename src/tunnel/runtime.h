// Private to src/tunnel: the running edge and connector as objects on io_contexts, so that
// `burrow edge`, `burrow tunnel run` and `burrow quick` compose them. Every method must be
// called on the thread of the (first) io_context the object was given.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "base/result.h"
#include "config/config.h"
#include "http/access_log.h"
#include "http/http.h"
#include "tunnel/acme.h"
#include "tunnel/edge_state.h"
#include "tunnel/h2.h"
#include "tunnel/token.h"
#include "tunnel/tunnel.h"

namespace tunnel {

// "127.0.0.1:8080", "[::1]:0", ":7844" (all addresses), "0.0.0.0:80". Port 0 = any free port.
base::Result<asio::ip::tcp::endpoint> parseListenAddr(std::string_view text);
std::string formatEndpoint(const asio::ip::tcp::endpoint& ep);
// `shared_port`: SO_REUSEPORT, so that every shard of one process can listen on the port.
base::Result<asio::ip::tcp::acceptor> listen(asio::io_context& ioc, std::string_view addr,
                                             std::string_view what, bool shared_port = false);
// `addr` with its port replaced: "0.0.0.0:0" and 8080 give "0.0.0.0:8080".
std::string withPort(std::string_view addr, uint16_t port);

// Jittered exponential backoff: the n-th delay is uniform in [d/2, d] with d = min(cap,
// base * 2^n). reset() after a connection that worked.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds base, std::chrono::milliseconds cap, uint64_t seed)
      : base_(base), cap_(cap), rng_(seed) {}
  std::chrono::milliseconds next();
  void reset() { attempt_ = 0; }
  int attempt() const { return attempt_; }

 private:
  std::chrono::milliseconds base_, cap_;
  int attempt_ = 0;
  std::mt19937_64 rng_;
};

// The edge, sharded: one shard per io_context, each meant to run on its own thread. The
// methods are called on the first io_context's thread; they reach the other shards by
// posting to them.
class Edge {
 public:
  Edge(asio::io_context& ioc, EdgeState state);
  Edge(const std::vector<asio::io_context*>& iocs, EdgeState state);
  ~Edge();
  // Binds the listeners ("" = none) and starts accepting; the tunnel listener uses the state
  // directory's identity, the https listener cert/key (or that identity when empty).
  base::Result<void> start(const std::string& http_addr, const std::string& https_addr,
                           const std::string& tunnel_addr, const std::string& cert_file,
                           const std::string& key_file);
  // Every request goes to this tunnel whatever its host (burrow quick). Before start().
  void setDefaultTunnel(std::string id) { default_tunnel_ = std::move(id); }
  // Bounds on clients (see ClientLimits). Before start(); the defaults hold otherwise.
  void setClientLimits(const ClientLimits& limits);
  // One line per client request from now on (nullptr: none). Before start().
  void setAccessLog(std::shared_ptr<http::AccessLog> log) { access_log_ = std::move(log); }
  // Plain-http requests for routed hosts get 308 to https (ACME's HTTP-01 path excepted).
  // Before start().
  void setRedirectHttps(bool on) { redirect_https_ = on; }
  // Certificates from an ACME server for the routed names (HTTP-01 on the http listener),
  // picked by SNI on the https listener. Before start(); needs both listeners.
  void setAcme(AcmeOptions o) { acme_ = std::move(o); }
  // Serves /ready and /metrics (Prometheus) on ADDR; requests are counted from then on.
  // Before start(), which binds it.
  void setMetricsAddress(std::string addr) { metrics_addr_ = std::move(addr); }
  // Serves the dashboard (admin.h) on ADDR, and keeps what it shows: requests are counted,
  // traffic sampled every 10 s for an hour, the last 5xx answers kept. `login` (admin::Login):
  // asked first on every request. Before start().
  void setAdminAddress(std::string addr, std::shared_ptr<const config::IngressRule> login) {
    admin_addr_ = std::move(addr);
    admin_login_ = std::move(login);
  }
  // Re-reads tunnels and routes; connections of deleted tunnels are closed.
  void reload();
  // Graceful: closes the listeners, lets requests in flight finish within `grace`, then
  // closes everything and calls `done`.
  void drain(std::chrono::milliseconds grace, std::function<void()> done);
  void stop();
  std::optional<asio::ip::tcp::endpoint> httpEndpoint() const { return http_ep_; }
  std::optional<asio::ip::tcp::endpoint> httpsEndpoint() const { return https_ep_; }
  std::optional<asio::ip::tcp::endpoint> tunnelEndpoint() const { return tunnel_ep_; }
  std::optional<asio::ip::tcp::endpoint> metricsEndpoint() const { return metrics_ep_; }
  std::optional<asio::ip::tcp::endpoint> adminEndpoint() const { return admin_ep_; }
  // Where the ports of TCP routes (`edge route tcp`) open: the --http address, else the
  // --https one, its port replaced by the route's. Set by start().
  const std::string& tcpListenAddress() const { return tcp_listen_addr_; }
  EdgeState& state();  // the first shard's copy

  struct Shard;
  struct Shared;

 private:
  void onEachShard(const std::function<void(Shard&)>& fn);

  std::vector<std::unique_ptr<Shard>> shards_;
  std::unique_ptr<Shared> shared_;
  std::optional<std::string> default_tunnel_;
  std::shared_ptr<http::AccessLog> access_log_;
  std::string metrics_addr_;
  std::string admin_addr_;
  std::shared_ptr<const config::IngressRule> admin_login_;
  bool redirect_https_ = false;
  std::optional<AcmeOptions> acme_;
  std::optional<asio::ip::tcp::endpoint> http_ep_, https_ep_, tunnel_ep_, metrics_ep_, admin_ep_;
  std::string tcp_listen_addr_;
  friend struct Shard;
};

// Counters of one connector process, shared by its threads: relaxed atomics, read by the
// metrics listener while the data path updates them.
struct ConnectorStats {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> request_errors{0};  // streams that ended without a complete answer
  std::atomic<int64_t> in_flight{0};
  std::atomic<uint64_t> registrations_ok{0};
  std::atomic<uint64_t> registrations_failed{0};
  std::atomic<int> ready{0};                           // registered connections not yet ended
  std::array<std::atomic<uint64_t>, 600> responses{};  // by status code
};

// The connections of one connector thread. A process runs one Connector per thread, each
// on its own io_context with its own HA connection indexes and origin pool; they share the
// connector id and the counters.
class Connector {
 public:
  Connector(asio::io_context& ioc, config::TunnelConfig cfg, Token token, int ha_connections);
  Connector(asio::io_context& ioc, config::TunnelConfig cfg, Token token, std::vector<int> indexes,
            std::string connector_id, std::shared_ptr<ConnectorStats> stats);
  ~Connector();

  base::Result<void> start();
  // Serves /ready, /healthcheck and /metrics on `addr`, which must be a loopback address.
  // Called again (a reload), it binds the new address before closing the old listener.
  base::Result<void> startMetrics(const std::string& addr);
  void stopMetrics();
  // A reload: requests from now on follow `cfg`'s rules; those in flight finish with theirs.
  void setConfig(std::shared_ptr<const config::TunnelConfig> cfg);
  // One line per request served from now on (nullptr: none). Before start().
  void setAccessLog(std::shared_ptr<http::AccessLog> log);
  // A reload: keep the HA connections `wanted` (dialling new ones); connections no longer
  // wanted get GOAWAY and end when their streams are done, or after `grace`.
  void setIndexes(const std::vector<int>& wanted, std::chrono::milliseconds grace);
  std::optional<asio::ip::tcp::endpoint> metricsEndpoint() const;
  // Graceful stop: GOAWAY on every connection, in-flight requests finish; `done` runs when
  // none is left or the grace period ends.
  void drain(std::chrono::milliseconds grace, std::function<void()> done);
  void stop();

  // Set when the edge refused permanently; the connector has stopped.
  const std::optional<base::Error>& fatal() const { return fatal_; }
  void onFatal(std::function<void()> f) { on_fatal_ = std::move(f); }
  void onFirstRegistered(std::function<void()> f) { on_first_registered_ = std::move(f); }
  int liveConnections() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::optional<base::Error> fatal_;
  std::function<void()> on_fatal_;
  std::function<void()> on_first_registered_;
  friend struct Impl;
};

}  // namespace tunnel
