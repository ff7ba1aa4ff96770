// Edge administration: the `burrow edge tunnel|route` commands work on the state directory
// alone, so they run whether or not an edge is up; a running edge applies their changes
// within a second (it watches state.json), and tells them its live connections (live.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>

#include "base/base.h"
#include "tunnel/acme.h"
#include "tunnel/edge_state.h"
#include "tunnel/live.h"
#include "tunnel/manage.h"
#include "tunnel/token.h"
#include "tunnel/tunnel.h"

namespace tunnel {
namespace {

constexpr size_t kMaxTokenFile = 64 << 10;

// The address written into a token must be one a connector can dial: a listener's wildcard
// ("0.0.0.0:7844", ":7844") is not.
base::Result<std::string> dialableEndpoint(const std::string& given, const std::string& last) {
  constexpr const char* kHint =
      "pass --endpoint HOST:PORT (the address connectors dial, e.g. "
      "vps.example.net:7844)";
  const std::string& endpoint = given.empty() ? last : given;
  if (endpoint.empty())
    return base::invalid("no tunnel endpoint known (the edge has not run yet): {}", kHint);
  auto hp = base::splitHostPort(endpoint);
  if (!hp) return base::invalid("invalid endpoint {}: {}", hp.error().message(), kHint);
  if (base::isWildcardHost(hp->host)) {
    return base::invalid("{} '{}' is a wildcard listen address, which connectors cannot dial: {}",
                         given.empty() ? "the edge's last tunnel address" : "endpoint", endpoint,
                         kHint);
  }
  return endpoint;
}

}  // namespace

// Writes TOKEN to a new FILE of mode 0600; an existing FILE is refused, not replaced.
base::Result<void> writeNewTokenFile(const std::string& path, const std::string& token) {
  // O_EXCL: a token is never written over another file (or through a symlink).
  base::UniqueFd fd(base::retryEintr([&] {
    return ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  }));
  if (!fd) {
    if (errno == EEXIST)
      return base::invalid("{} exists: remove it or name another file with --output", path);
    return base::sysError("create token file {}", path);
  }
  std::string line = token + "\n";
  if (::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()) ||
      ::fsync(fd.get()) != 0) {
    auto e = base::sysError("write token file {}", path);
    ::unlink(path.c_str());
    return e;
  }
  return {};
}

namespace {
// Saves STATE with a new tunnel or login whose token is TEXT, writing it to OUTPUT (unless "")
// first: what was made is never saved without its token, and the file is removed when the
// state cannot be saved.
base::Result<void> saveWithToken(const EdgeState& state, const std::string& output,
                                 const std::string& text) {
  if (!output.empty()) RETURN_IF_ERROR(writeNewTokenFile(output, text));
  if (auto r = state.save(); !r) {
    if (!output.empty()) ::unlink(output.c_str());
    return base::Unexpected(r.error());
  }
  return {};
}
}  // namespace

base::Result<std::string> createTunnel(const std::string& state_dir, const std::string& name,
                                       const std::string& endpoint, const std::string& output) {
  ASSIGN_OR_RETURN(base::UniqueFd lock, EdgeState::lock(state_dir));
  ASSIGN_OR_RETURN(EdgeState state, EdgeState::open(state_dir));
  // Everything that can be refused is checked before anything is written.
  RETURN_IF_ERROR(validateTunnelName(name));
  ASSIGN_OR_RETURN(std::string dial, dialableEndpoint(endpoint, state.lastTunnelAddr()));
  ASSIGN_OR_RETURN(std::string pin, state.ensureIdentity());
  Token token;
  token.secret = base::randomBytes(kSecretSize);
  ASSIGN_OR_RETURN(TunnelRecord rec, state.addTunnel(name, token.secret));
  token.tunnel_id = rec.id;
  token.endpoint = std::move(dial);
  token.pin = std::move(pin);
  std::string text = encodeToken(token);
  RETURN_IF_ERROR(saveWithToken(state, output, text));
  LOG_INFO("tunnel created name={} id={} endpoint={}", rec.name, rec.id, token.endpoint);
  return text;
}

base::Result<std::string> createLogin(const std::string& state_dir, const std::string& name,
                                      const std::vector<std::string>& zones,
                                      const std::string& endpoint, const std::string& output) {
  ASSIGN_OR_RETURN(base::UniqueFd lock, EdgeState::lock(state_dir));
  ASSIGN_OR_RETURN(EdgeState state, EdgeState::open(state_dir));
  ASSIGN_OR_RETURN(std::string dial, dialableEndpoint(endpoint, state.lastTunnelAddr()));
  ASSIGN_OR_RETURN(std::string pin, state.ensureIdentity());
  LoginToken token;
  token.secret = base::randomBytes(kSecretSize);
  std::string chosen = name;
  if (chosen.empty()) {
    // The id is drawn by addLogin; a name from a fresh UUID's prefix is as unlikely to clash.
    chosen = "login-" + base::randomUuid().substr(0, 8);
  }
  ASSIGN_OR_RETURN(LoginRecord rec, state.addLogin(chosen, token.secret, zones));
  token.login_id = rec.id;
  token.endpoint = std::move(dial);
  token.pin = std::move(pin);
  std::string text = encodeLoginToken(token);
  RETURN_IF_ERROR(saveWithToken(state, output, text));
  LOG_INFO("login created name={} id={} zones={}", rec.name, rec.id, rec.zones.size());
  return text;
}

base::Result<std::vector<LoginInfo>> listLogins(const std::string& state_dir) {
  ASSIGN_OR_RETURN(EdgeState state, EdgeState::open(state_dir));
  std::vector<LoginInfo> out;
  for (const LoginRecord& l : state.logins())
    out.push_back({l.id, l.name, l.zones, l.created_unix, l.revoked_unix});
  return out;
}

base::Result<void> revokeLogin(const std::string& state_dir, const std::string& name_or_id) {
  ASSIGN_OR_RETURN(base::UniqueFd lock, EdgeState::lock(state_dir));
  ASSIGN_OR_RETURN(EdgeState state, EdgeState::open(state_dir));
  RETURN_IF_ERROR(state.revokeLogin(name_or_id));
  RETURN_IF_ERROR(state.save());
  LOG_INFO("login revoked login={}", name_or_id);
  return {};
}

namespace {
TunnelInfo infoOf(const EdgeState& state, const TunnelRecord& t,
                  const std::optional<std::vector<LiveConnection>>& live) {
  TunnelInfo info{t.id, t.name, t.created_unix, {}, std::nullopt};
  for (const RouteRecord& r : state.routes())
    if (r.tunnel_id == t.id) info.hostnames.push_back(r.hostname);
  if (live) {
    info.connections.emplace();
    for (const LiveConnection& c : *live)
      if (c.tunnel_id == t.id) info.connections->push_back(c);
  }
  return info;
}
}  // namespace

base::Result<std::vector<TunnelInfo>> listTunnels(const std::string& state_dir) {
  ASSIGN_OR_RETURN(EdgeState state, EdgeState::open(state_dir));
  ASSIGN_OR_RETURN(auto live, readLive(state_dir));
  std::vector<TunnelInfo> out;
  out.reserve(state.tunnels().size());
  for (const TunnelRecord& t : state.tunnels()) out.push_back(infoOf(state, t, live));
  return out;
}

base::Result<TunnelInfo> tunnelInfo(const std::string& state_dir, const std::string& name_or_id) {
  ASSIGN_OR_RETURN(EdgeState state, EdgeState::open(state_dir));
  const TunnelRecord* t = state.findTunnel(name_or_id);
  if (t == nullptr) return base::invalid("no tunnel with name or id '{}'", name_or_id);
  ASSIGN_OR_RETURN(auto live, readLive(state_dir));
  return infoOf(state, *t, live);
}

base::Result<void> deleteTunnel(const std::string& state_dir, const std::string& name_or_id) {
  ASSIGN_OR_RETURN(base::UniqueFd lock, EdgeState::lock(state_dir));
  ASSIGN_OR_RETURN(EdgeState state, EdgeState::open(state_dir));
  RETURN_IF_ERROR(state.removeTunnel(name_or_id));
  RETURN_IF_ERROR(state.save());
  LOG_INFO("tunnel deleted tunnel={}", name_or_id);
  return {};
}

base::Result<void> routeHostname(const std::string& state_dir, const std::string& name_or_id,
                                 const std::string& hostname) {
  ASSIGN_OR_RETURN(base::UniqueFd lock, EdgeState::lock(state_dir));
  ASSIGN_OR_RETURN(EdgeState state, EdgeState::open(state_dir));
  RETURN_IF_ERROR(state.addRoute(name_or_id, hostname));
  RETURN_IF_ERROR(state.save());
  LOG_INFO("route added hostname={} tunnel={}", base::toLower(hostname), name_or_id);
  return {};
}

base::Result<std::vector<RouteInfo>> listRoutes(const std::string& state_dir) {
  ASSIGN_OR_RETURN(EdgeState state, EdgeState::open(state_dir));
  std::vector<RouteInfo> out;
  for (const RouteRecord& r : state.routes()) {
    const TunnelRecord* t = state.findTunnel(r.tunnel_id);
    out.push_back({r.hostname, r.tunnel_id, t ? t->name : std::string("?")});
  }
  return out;
}

base::Result<std::vector<CertInfo>> listEdgeCertificates(const std::string& state_dir) {
  ASSIGN_OR_RETURN(auto list, listCertificates(state_dir));
  std::vector<CertInfo> out;
  for (const auto& c : list)
    out.push_back(
        {c.name, c.cert ? c.cert->issuer : "", c.cert ? c.cert->not_after : 0, c.last_error});
  return out;
}

namespace {
// "tcp:PORT" names a TCP route in `route delete` (a hostname never holds a ':').
constexpr std::string_view kTcpPrefix = "tcp:";
}  // namespace

base::Result<std::vector<TcpRouteInfo>> listTcpRoutes(const std::string& state_dir) {
  ASSIGN_OR_RETURN(EdgeState state, EdgeState::open(state_dir));
  std::vector<TcpRouteInfo> out;
  for (const TcpRouteRecord& r : state.tcpRoutes()) {
    auto id = state.routeFor(r.hostname);
    const TunnelRecord* t = id ? state.findTunnel(*id) : nullptr;
    out.push_back({r.port, r.hostname, t ? t->name : std::string("?")});
  }
  return out;
}

base::Result<void> deleteRoute(const std::string& state_dir, const std::string& hostname) {
  ASSIGN_OR_RETURN(base::UniqueFd lock, EdgeState::lock(state_dir));
  ASSIGN_OR_RETURN(EdgeState state, EdgeState::open(state_dir));
  if (std::string_view(hostname).starts_with(kTcpPrefix)) {
    ASSIGN_OR_RETURN(uint16_t port,
                     parseTcpPort(std::string_view(hostname).substr(kTcpPrefix.size())));
    RETURN_IF_ERROR(state.removeTcpRoute(port));
    RETURN_IF_ERROR(state.save());
    LOG_INFO("tcp route deleted port={}", port);
    return {};
  }
  RETURN_IF_ERROR(state.removeRoute(hostname));
  RETURN_IF_ERROR(state.save());
  LOG_INFO("route deleted hostname={}", base::toLower(hostname));
  return {};
}

base::Result<std::string> readTokenFile(const std::string& path) {
  // open + fstat (not stat + open) so the mode checked is that of the file read.
  base::UniqueFd fd(
      base::retryEintr([&] { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY); }));
  if (!fd) return base::sysError("open token file {}", path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return base::sysError("stat token file {}", path);
  if (!S_ISREG(st.st_mode)) return base::invalid("token file {} is not a regular file", path);
  if ((st.st_mode & 077) != 0) {
    return base::invalid(
        "token file {} is readable by group or others (mode {:04o}): run chmod 600 {}", path,
        static_cast<unsigned>(st.st_mode & 07777), path);
  }
  std::string data;
  std::array<char, 4096> buf;
  for (;;) {
    const ssize_t n = base::retryEintr([&] { return ::read(fd.get(), buf.data(), buf.size()); });
    if (n < 0) return base::sysError("read token file {}", path);
    if (n == 0) break;
    if (data.size() + static_cast<size_t>(n) > kMaxTokenFile)
      return base::invalid("token file {} is larger than {} bytes", path, kMaxTokenFile);
    data.append(buf.data(), static_cast<size_t>(n));
  }
  std::string token(base::trim(data));
  if (token.empty()) return base::invalid("token file {} is empty", path);
  return token;
}

namespace {

// A file of the connector's state directory, when it exists.
std::string inStateDir(const Sources& s, const char* name) {
  std::string path = s.state_dir + "/" + name;
  return ::access(path.c_str(), F_OK) == 0 ? path : "";
}

}  // namespace

base::Result<config::TunnelConfig> loadRules(const Sources& s, std::string* file) {
  if (!s.url.empty() && !s.config_file.empty())
    return base::invalid("give either --config or --url, not both");
  if (file) file->clear();
  if (!s.url.empty()) return config::singleServiceConfig(s.url);
  std::string path = s.config_file.empty() ? inStateDir(s, "config.yml") : s.config_file;
  if (path.empty())
    return base::invalid("give --config FILE (ingress rules) or --url URL, or put the rules in {}",
                         s.state_dir + "/config.yml");
  if (file) *file = path;
  return config::loadTunnelConfig(path);
}

base::Result<std::string> findToken(const Sources& s, const config::TunnelConfig& cfg) {
  if (!s.token_file.empty()) return readTokenFile(s.token_file);
  if (!s.name.empty()) {
    // Named: that tunnel's token and no other (a missing one is an error, not a fallback).
    if (auto ok = validateTunnelName(s.name); !ok) return base::Unexpected(ok.error());
    const std::string path = tunnelTokenPath(s.state_dir, s.name);
    if (::access(path.c_str(), F_OK) != 0)
      return base::invalid(
          "no token for tunnel {}: {} does not exist (burrow tunnel create {} "
          "writes it)",
          s.name, path, s.name);
    return readTokenFile(path);
  }
  for (const std::string* f : {&cfg.token_file, &cfg.credentials_file})
    if (!f->empty()) return readTokenFile(*f);
  if (const char* env = std::getenv("BURROW_TUNNEL_TOKEN"); env && *env)
    return std::string(base::trim(env));
  if (std::string f = inStateDir(s, "token"); !f.empty()) return readTokenFile(f);
  return base::invalid(
      "no token: give --token-file FILE, set BURROW_TUNNEL_TOKEN, or put it in {}/token",
      s.state_dir);
}

}  // namespace tunnel
