// tunnel: burrow's tunnel — the edge (public listeners, tunnel acceptor, hostname registry,
// tunnel tokens) and the connector (dials out, registers, keeps HA connections, drains).
// Entry points here block until the process is asked to stop and return its exit status
// or an Error; they own every socket they open. Call them from one thread.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "config/config.h"

namespace tunnel {

// ---- edge administration (state directory only; no running edge needed) ----

// A connector connection registered with the running edge.
struct LiveConnection {
  std::string tunnel_id;
  std::string connection_id;
  std::string connector_id;
  uint32_t index = 0;  // the connector's HA connection index
  std::string peer;    // the connector's address as the edge saw it
  int64_t since_unix = 0;
  std::string version;  // Registration::client_version: "burrow 0.1.0"; "" when not said
};

struct TunnelInfo {
  std::string id;
  std::string name;
  int64_t created_unix = 0;
  std::vector<std::string> hostnames;
  // The tunnel's connections to the edge running on the state directory; nullopt when no
  // edge runs there.
  std::optional<std::vector<LiveConnection>> connections;
};

struct RouteInfo {
  std::string hostname;
  std::string tunnel_id;
  std::string tunnel_name;
};

// Creates tunnel NAME and returns its token (base64 of id, secret, endpoint and the SHA-256
// pin of the edge's public key). Only a hash of the secret is stored. `endpoint` is the
// address connectors dial ("vps.example.net:7844"); empty means the tunnel address the edge
// last ran with, which must then be a concrete (not wildcard) address.
// With `output`, the token is also written to that new file (mode 0600; an existing one is
// refused, and then no tunnel is made).
base::Result<std::string> createTunnel(const std::string& state_dir, const std::string& name,
                                       const std::string& endpoint, const std::string& output = "");
base::Result<std::vector<TunnelInfo>> listTunnels(const std::string& state_dir);
// One tunnel by name or id.
base::Result<TunnelInfo> tunnelInfo(const std::string& state_dir, const std::string& name_or_id);
// Deletes the tunnel (by name or id) and every route to it.
base::Result<void> deleteTunnel(const std::string& state_dir, const std::string& name_or_id);
// Binds HOSTNAME (exact, or "*.zone") to the tunnel. Idempotent for the same tunnel; a
// hostname bound to another tunnel is an error naming it.
base::Result<void> routeHostname(const std::string& state_dir, const std::string& name_or_id,
                                 const std::string& hostname);
base::Result<std::vector<RouteInfo>> listRoutes(const std::string& state_dir);
// Removes the route of HOSTNAME (written as it was routed, any case), and the TCP routes that
// then reach no tunnel; "tcp:PORT" removes the TCP route of PORT instead.
base::Result<void> deleteRoute(const std::string& state_dir, const std::string& hostname);

struct TcpRouteInfo {
  uint16_t port = 0;
  std::string hostname;
  std::string tunnel_name;
};
// Opens PORT (text, 1-65535) on the edge for HOSTNAME, an exact hostname routed to a tunnel
// whose connector serves it as tcp://, ssh://, rdp:// or smb:// (the edge cannot check that:
// the ingress rules are the connector's). Each connection is carried as the WebSocket stream
// `burrow access tcp --hostname HOSTNAME` opens. Refused, with nothing saved, when the port
// is carried to another hostname or cannot be bound on the host the edge last listened on.
base::Result<void> routeTcp(const std::string& state_dir, const std::string& hostname,
                            const std::string& port);
base::Result<std::vector<TcpRouteInfo>> listTcpRoutes(const std::string& state_dir);
// A running edge applies what these change within a second (it watches state.json).

// ---- logins: what a home machine holds to manage tunnels from afar (`edge login-token`) ----

struct LoginInfo {
  std::string id;
  std::string name;
  std::vector<std::string> zones;
  int64_t created_unix = 0;
  int64_t revoked_unix = 0;  // 0 = in force
};

// Creates a login for ZONES (hostnames it may route, with everything below them) and returns
// its token (edge endpoint as for createTunnel, the pin, and a secret of which only a hash is
// kept). NAME "" = "login-" and the first 8 characters of its id. With `output`, the token is
// also written to that new file (0600), as for createTunnel.
base::Result<std::string> createLogin(const std::string& state_dir, const std::string& name,
                                      const std::vector<std::string>& zones,
                                      const std::string& endpoint, const std::string& output);
base::Result<std::vector<LoginInfo>> listLogins(const std::string& state_dir);
// Revokes a login by name or id: its next call is refused; tunnels it made keep running.
base::Result<void> revokeLogin(const std::string& state_dir, const std::string& name_or_id);

// ---- from home, with a login (`burrow tunnel login|create|route|list|info|delete`) ----
// Each call is one request to the edge the login token in LOGIN_FILE names, over its tunnel
// listener; LOGIN_FILE is read as a token file (0600 or stricter).

// Where `tunnel login` keeps the login in a state directory.
std::string loginTokenPath(const std::string& state_dir);
// Where `tunnel create NAME` writes a tunnel's token by default, and `tunnel run NAME` reads it.
std::string tunnelTokenPath(const std::string& state_dir, const std::string& name);

struct LoginView {
  std::string name;
  std::vector<std::string> zones;
  std::string endpoint;
};
// Checks the login token in TOKEN_FILE with its edge, then stores it as STATE/login.token
// (0600, replacing an earlier login).
base::Result<LoginView> loginHome(const std::string& state_dir, const std::string& token_file);
// Creates tunnel NAME on the edge and writes its token to OUTPUT (new, 0600; an existing file is
// refused before the edge is asked). Returns the tunnel's id.
base::Result<std::string> remoteCreateTunnel(const std::string& login_file, const std::string& name,
                                             const std::string& output);
base::Result<std::vector<TunnelInfo>> remoteListTunnels(const std::string& login_file);
base::Result<TunnelInfo> remoteTunnelInfo(const std::string& login_file, const std::string& name);
base::Result<void> remoteDeleteTunnel(const std::string& login_file, const std::string& name);
base::Result<void> remoteRouteDns(const std::string& login_file, const std::string& name,
                                  const std::string& hostname);
base::Result<std::vector<RouteInfo>> remoteListRoutes(const std::string& login_file);
base::Result<void> remoteDeleteRoute(const std::string& login_file, const std::string& hostname);
// For the stack: tunnel NAME exists on the login's edge with HOSTNAMES routed to it; its token
// is kept in TOKEN_FILE (made when missing, or when the edge no longer has that tunnel).
// Returns the token.
base::Result<std::string> ensureRemoteTunnel(const std::string& login_file, const std::string& name,
                                             const std::string& token_file,
                                             const std::vector<std::string>& hostnames);

// A certificate the edge obtained by ACME (or tried to): `edge cert list`.
struct CertInfo {
  std::string name;
  std::string issuer;      // "" when none is stored
  int64_t not_after = 0;   // unix seconds; 0 when none is stored
  std::string last_error;  // of the last failed attempt; "" after a success
};
base::Result<std::vector<CertInfo>> listEdgeCertificates(const std::string& state_dir);

// ---- running ----

// What one client of the edge can make it hold, each bounded by default (see README).
struct ClientLimits {
  size_t max_connections = 4096;                   // in all; lowered to fit the open-file limit
  size_t max_connections_per_client = 256;         // per IPv4 address or IPv6 /64
  uint32_t h2_max_streams = 128;                   // concurrent HTTP/2 streams per connection
  size_t max_head_bytes = 32 * 1024;               // larger request heads get 431
  std::chrono::milliseconds idle_timeout{60'000};  // no request on a connection
  std::chrono::milliseconds body_timeout{60'000};  // no request body bytes: 408
  std::chrono::milliseconds send_timeout{60'000};  // the client takes no response bytes
};

struct EdgeOptions {
  std::string state_dir;
  std::string http_addr;    // "" = no plain listener
  std::string https_addr;   // "" = no TLS listener
  std::string tunnel_addr;  // where connectors dial in
  std::string cert_file;    // --cert/--key for the --https listener
  std::string key_file;
  std::chrono::milliseconds grace_period{30'000};
  ClientLimits limits;
  std::string access_log;         // FILE, or - for standard output; "" = none
  std::string access_log_format;  // json or combined ("" = combined)
  std::string metrics_addr;       // loopback only; "" = none
  std::string admin_addr;         // the dashboard; loopback unless a login is given; "" = none
  std::string admin_users;        // --admin-users: its htpasswd file (basic auth)
  std::string admin_access;       // --admin-access: burrow auth's address
  bool redirect_https = false;    // 308 from the http listener to https for routed hosts
  // ACME: certificates for the routed exact names. "" email = off; "" directory = Let's
  // Encrypt production; "" CA file = the system's trust store.
  std::string acme_email;
  std::string acme_directory;
  std::string acme_ca_file;
  // DNS-01 for "*.zone" routes: RFC 2136 to a server with a TSIG key file, or an exec hook.
  std::string acme_dns_rfc2136;  // host[:port]; "" = none
  std::string acme_dns_tsig_file;
  std::string acme_dns_hook;  // executable run as HOOK present|cleanup FQDN. VALUE
};
// Runs until SIGTERM/SIGINT: the listeners close at once, requests in flight get up to the
// grace period to finish. SIGHUP reloads tunnels and routes from the state directory.
base::Result<int> runEdge(const EdgeOptions& opts);

struct ConnectorOptions {
  config::TunnelConfig config;
  // The file `config` was read from; "" (a --url config) = nothing to reload on SIGHUP.
  std::string config_file;
  std::string token;  // decoded by the connector; never logged
  // Flags given on the command line. Each wins over its key in the config file, on start and
  // on reload; without either, the defaults: 4 connections, 30s, no metrics, info.
  std::optional<int> ha_connections;
  std::optional<std::chrono::milliseconds> grace_period;
  std::string metrics_addr;       // loopback only; "" = none
  std::string access_log;         // FILE, or - for standard output; "" = none
  std::string access_log_format;  // json or combined ("" = combined)
  bool log_level_given = false;
};
// Runs until SIGTERM/SIGINT (drain up to the grace period, exit 0) or a permanent refusal
// by the edge (error naming the reason: unknown tunnel, bad secret, pin mismatch, ...).
// SIGHUP re-reads the config file: ingress rules and originRequest (for requests from then
// on; those in flight finish as they began), ha-connections (connections added, or drained),
// grace-period, metrics (the new listener is bound before the old one closes) and loglevel.
// A file that does not load, or a metrics address that cannot be bound, is refused and logged,
// and the running config stays.
base::Result<int> runConnector(const ConnectorOptions& opts);

// Reads a token from FILE (trimmed). Refuses a file readable by group or others.
base::Result<std::string> readTokenFile(const std::string& path);

// Where a connector's rules and token come from (`tunnel run`, `tunnel ingress ...`).
struct Sources {
  std::string url;          // --url: one catch-all rule to it
  std::string config_file;  // --config
  std::string token_file;   // --token-file
  std::string state_dir;    // holds config.yml and token when no flag names them
  std::string name;         // `tunnel run NAME`: the token is STATE/NAME.token
};
// The rules of --url, or of --config, or of STATE/config.yml; `*file` is set to the file read
// ("" for --url).
base::Result<config::TunnelConfig> loadRules(const Sources& s, std::string* file = nullptr);
// The token, looked for as cloudflared does: --token-file, then STATE/NAME.token for `tunnel
// run NAME`, then the config's `token-file:`, then its `credentials-file:`, then
// $BURROW_TUNNEL_TOKEN, then STATE/token. The error names every place it looked.
base::Result<std::string> findToken(const Sources& s, const config::TunnelConfig& cfg);

struct AccessOptions {
  std::string hostname;   // the tcp:// route's hostname (SNI, Host, certificate name)
  std::string url;        // listen here, one stream per connection; "" = stdin/stdout
  std::string edge;       // HOST:PORT of the edge's https listener; "" = hostname:443
  std::string ca_file;    // CA for the edge's certificate; "" = the system's
  bool insecure = false;  // no certificate check
};
// `burrow access tcp`: local connections (or stdin/stdout) carried to the route through the
// edge as WebSocket streams. With a URL it runs until SIGTERM/SIGINT; without, until the
// stream ends (an error when the edge refuses it).
base::Result<int> runAccess(const AccessOptions& opts);

struct QuickOptions {
  std::string url;          // "" = built-in hello page
  std::string listen_addr;  // default 127.0.0.1:0
};
// Edge and connector in one process on loopback with a fresh tunnel in a temporary state
// directory; prints the URL to open; stops on SIGTERM/SIGINT and removes the directory.
base::Result<int> runQuick(const QuickOptions& opts);

// The TLS library built into burrow ("OpenSSL 3.0.17 1 Jul 2025"): it is linked statically
// (docs/decisions/0003-static-linking.md), so this is what `burrow --version` reports.
const char* tlsLibrary();

}  // namespace tunnel
