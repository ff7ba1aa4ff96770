// The edge's persistent state in its state directory: tunnels (id, name, SHA-256 of the
// secret), hostname routes, logins, the tunnel address the edge last ran with, and the edge's TLS
// identity (edge.key 0600 + edge.crt, made on first use). state.json is written atomically
// with mode 0600; the directory is 0700. An EdgeState is a loaded snapshot: mutate, then
// save(). Not thread-safe; the running edge keeps one per reload and treats it read-only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "tunnel/registration.h"

namespace tunnel {

struct TunnelRecord {
  std::string id;             // UUID
  std::string name;           // unique, [A-Za-z0-9._-]{1,64}
  std::string secret_sha256;  // hex
  int64_t created_unix = 0;
  std::string login;  // id of the login that created it; "" = made on the edge itself
};

// A login (`edge login-token create`): lets a home machine manage tunnels and route hostnames
// inside its zones over the tunnel listener. Revoked logins are kept (so that their tokens are
// refused as revoked, and their tunnels keep their zones).
struct LoginRecord {
  std::string id;                  // UUID
  std::string name;                // unique, as a tunnel name
  std::string secret_sha256;       // hex
  std::vector<std::string> zones;  // lowercase names; a zone holds itself and every name below
  int64_t created_unix = 0;
  int64_t revoked_unix = 0;  // 0 = in force
};

// Whether HOSTNAME (exact or "*.zone", lowercase) is ZONE or below it, for some zone of ZONES.
bool inZones(const std::vector<std::string>& zones, std::string_view hostname);

struct RouteRecord {
  std::string hostname;  // lowercase; exact or "*.zone"
  std::string tunnel_id;
};

// A public TCP port of the edge carried to a routed hostname (`edge route tcp`): each
// connection is relayed as the WebSocket stream `burrow access tcp --hostname` would open.
struct TcpRouteRecord {
  uint16_t port = 0;     // 1-65535, on the host of the edge's listen address
  std::string hostname;  // lowercase, exact, and routed to a tunnel
};

// Checks a tunnel name: [A-Za-z0-9._-]{1,64}, and not UUID-shaped (so that "name or id"
// arguments are never ambiguous). The error says what is wrong.
base::Result<void> validateTunnelName(std::string_view name);
// Validates a route hostname and returns it lowercased: DNS labels of [a-z0-9-], no port,
// and "*" only as the whole first label of "*.zone" (never "*" alone).
base::Result<std::string> normalizeRouteHostname(std::string_view hostname);
// A TCP route's port as written ("8022"): 1 to 65535, digits only.
base::Result<uint16_t> parseTcpPort(std::string_view text);
// Lowercase hex SHA-256 of the raw secret: what state.json stores instead of the secret.
std::string secretSha256(std::string_view secret);

class EdgeState {
 public:
  // Creates the directory (0700) when missing and loads state.json when present. A corrupt
  // state.json is an error naming the file and what is wrong (never silently reset).
  static base::Result<EdgeState> open(const std::string& dir);
  // Serialises changes between processes (an exclusive flock(2) on DIR/state.lock, released
  // with the descriptor): take it before open() and hold it until save(), so that `edge
  // tunnel create` run while an edge starts loses neither's change, and one edge identity is
  // made, not two. Never take it twice in one process.
  static base::Result<base::UniqueFd> lock(const std::string& dir);

  const std::string& dir() const { return dir_; }
  std::string statePath() const { return dir_ + "/state.json"; }
  std::string certPath() const { return dir_ + "/edge.crt"; }
  std::string keyPath() const { return dir_ + "/edge.key"; }
  // Makes edge.key/edge.crt if missing; returns the hex SPKI pin of edge.crt.
  base::Result<std::string> ensureIdentity();

  const std::vector<TunnelRecord>& tunnels() const { return tunnels_; }
  const std::vector<RouteRecord>& routes() const { return routes_; }
  const std::vector<TcpRouteRecord>& tcpRoutes() const { return tcp_routes_; }
  const std::string& lastTunnelAddr() const { return last_tunnel_addr_; }
  void setLastTunnelAddr(std::string addr) { last_tunnel_addr_ = std::move(addr); }
  // The host the running edge opens TCP route ports on (that of its --http, else --https
  // address), so that `edge route tcp` can check the port is free there. "" = never ran.
  const std::string& lastListenAddr() const { return last_listen_addr_; }
  void setLastListenAddr(std::string host) { last_listen_addr_ = std::move(host); }

  // Adds a tunnel named `name` with a fresh id and the given raw secret, made by LOGIN (an id;
  // "" = on the edge); error if the name is taken or invalid.
  base::Result<TunnelRecord> addTunnel(const std::string& name, const std::string& secret,
                                       const std::string& login = "");
  const TunnelRecord* findTunnel(std::string_view name_or_id) const;
  // Removes the tunnel, its routes, and the TCP routes that no longer reach a tunnel then.
  base::Result<void> removeTunnel(std::string_view name_or_id);
  base::Result<void> addRoute(std::string_view name_or_id, std::string_view hostname);
  // Removes the route of `hostname`, and the TCP routes that no longer reach a tunnel then.
  base::Result<void> removeRoute(std::string_view hostname);
  // Opens `port` for `hostname`, which must be exact and routed (see routeFor). Idempotent for
  // the same pair; a port already carried to another hostname is an error naming it.
  base::Result<void> addTcpRoute(std::string_view hostname, uint16_t port);
  base::Result<void> removeTcpRoute(uint16_t port);

  const std::vector<LoginRecord>& logins() const { return logins_; }
  // Adds a login NAME (as a tunnel name; unique among logins) for ZONES (hostnames, exact:
  // no "*."; duplicates dropped) with the given raw secret.
  base::Result<LoginRecord> addLogin(const std::string& name, const std::string& secret,
                                     const std::vector<std::string>& zones);
  const LoginRecord* findLogin(std::string_view name_or_id) const;
  // Marks the login revoked (at most once: a second revoke is an error saying when).
  base::Result<void> revokeLogin(std::string_view name_or_id);
  // The login a token names, when its secret matches and it is in force; the error says which
  // of unknown, revoked or wrong secret it is (constant-time compare).
  base::Result<const LoginRecord*> authenticateLogin(std::string_view login_id,
                                                     std::string_view secret) const;
  // The rule for logins (README, "Connect from home"): LOGIN may manage TUNNEL when a login
  // made it that shares a zone with LOGIN (itself included). Tunnels made on the edge are the
  // edge's alone.
  bool mayManage(const LoginRecord& login, const TunnelRecord& tunnel) const;

  // Registration check: Accepted, UnknownTunnel or BadSecret (constant-time compare).
  Verdict authenticate(std::string_view tunnel_id, std::string_view secret) const;
  // Host (port already stripped, any case) -> tunnel id: exact route first, then the
  // longest matching "*.zone" (any depth, not the apex). nullopt when nothing matches.
  std::optional<std::string> routeFor(std::string_view host) const;

  base::Result<void> save() const;

 private:
  void dropUnroutedTcp();

  std::string dir_;
  std::vector<TunnelRecord> tunnels_;
  std::vector<RouteRecord> routes_;
  std::vector<TcpRouteRecord> tcp_routes_;  // every hostname routes (routeFor) to a tunnel
  std::vector<LoginRecord> logins_;
  std::string last_tunnel_addr_;
  std::string last_listen_addr_;
};

}  // namespace tunnel
