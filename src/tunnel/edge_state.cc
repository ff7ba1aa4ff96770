#include "tunnel/edge_state.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <ctime>

#include <nlohmann/json.hpp>

#include "base/base.h"
#include "tunnel/tls.h"
#include "tunnel/token.h"

namespace tunnel {
namespace {

using nlohmann::json;

constexpr int kStateVersion = 1;
constexpr size_t kMaxNameLength = 64;
constexpr size_t kMaxHostnameLength = 253;
constexpr size_t kMaxLabelLength = 63;

bool isNameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool isSha256Hex(std::string_view s) {
  if (s.size() != 64) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool pathExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// Parses state.json. `where` prefixes every error so that a user can find the bad entry.
struct Parsed {
  std::vector<LoginRecord> logins;
  std::vector<TunnelRecord> tunnels;
  std::vector<RouteRecord> routes;
  std::vector<TcpRouteRecord> tcp_routes;
  std::string last_addr;
  std::string last_listen_addr;
};

// Host -> tunnel id through `routes`: see EdgeState::routeFor.
std::optional<std::string> routeIn(const std::vector<RouteRecord>& routes, std::string_view host) {
  std::string h = base::toLower(host);
  if (!h.empty() && h.back() == '.') h.pop_back();  // "example.net." is the same name
  if (h.empty()) return std::nullopt;
  for (const RouteRecord& r : routes)
    if (r.hostname == h) return r.tunnel_id;
  // Wildcards, longest zone first: for a.b.zone try *.b.zone, then *.zone. Never the apex:
  // the candidate zone always drops at least the first label of the host.
  for (size_t dot = h.find('.'); dot != std::string::npos; dot = h.find('.', dot + 1)) {
    const std::string candidate = "*" + h.substr(dot);
    for (const RouteRecord& r : routes)
      if (r.hostname == candidate) return r.tunnel_id;
  }
  return std::nullopt;
}

// Parses state.json. `where` prefixes every error so that a user can find the bad entry.
base::Result<void> parseState(const std::string& where, std::string_view text, Parsed* out) {
  std::vector<TunnelRecord>* tunnels = &out->tunnels;
  std::vector<RouteRecord>* routes = &out->routes;
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return base::invalid("{}: not valid JSON", where);
  if (!j.is_object()) return base::invalid("{}: top level is not a JSON object", where);

  auto version = j.find("version");
  if (version == j.end() || !version->is_number_integer())
    return base::invalid("{}: missing or non-integer \"version\"", where);
  if (version->get<int64_t>() != kStateVersion)
    return base::invalid("{}: unsupported version {} (this burrow reads version {})", where,
                         version->get<int64_t>(), kStateVersion);

  auto str = [&](const json& obj, const char* key, const std::string& at,
                 std::string* value) -> base::Result<void> {
    auto it = obj.find(key);
    if (it == obj.end() || !it->is_string())
      return base::invalid("{}: {}: missing or non-string \"{}\"", where, at, key);
    *value = it->get<std::string>();
    return {};
  };

  auto int64 = [&](const json& obj, const char* key, const std::string& at, bool required,
                   int64_t* value) -> base::Result<void> {
    auto it = obj.find(key);
    if (it == obj.end() && !required) return {};
    if (it == obj.end() || !it->is_number_integer())
      return base::invalid("{}: {}: missing or non-integer \"{}\"", where, at, key);
    *value = it->get<int64_t>();
    return {};
  };

  auto ls = j.find("logins");
  if (ls != j.end() && !ls->is_array())
    return base::invalid("{}: \"logins\" is not an array", where);
  if (ls != j.end()) {
    for (size_t i = 0; i < ls->size(); ++i) {
      const json& l = (*ls)[i];
      const std::string at = fmt::format("logins[{}]", i);
      if (!l.is_object()) return base::invalid("{}: {} is not an object", where, at);
      LoginRecord rec;
      RETURN_IF_ERROR(str(l, "id", at, &rec.id));
      RETURN_IF_ERROR(str(l, "name", at, &rec.name));
      RETURN_IF_ERROR(str(l, "secret_sha256", at, &rec.secret_sha256));
      if (!isUuid(rec.id)) return base::invalid("{}: {}: id is not a UUID", where, at);
      if (auto ok = validateTunnelName(rec.name); !ok)
        return base::invalid("{}: {}: {}", where, at, ok.error().message());
      if (!isSha256Hex(rec.secret_sha256))
        return base::invalid("{}: {}: secret_sha256 is not 64 lowercase hex characters", where, at);
      RETURN_IF_ERROR(int64(l, "created", at, true, &rec.created_unix));
      RETURN_IF_ERROR(int64(l, "revoked", at, false, &rec.revoked_unix));
      auto zs = l.find("zones");
      if (zs == l.end() || !zs->is_array())
        return base::invalid("{}: {}: missing or non-array \"zones\"", where, at);
      for (const json& z : *zs) {
        if (!z.is_string()) return base::invalid("{}: {}: a zone is not a string", where, at);
        auto norm = normalizeRouteHostname(z.get<std::string>());
        if (!norm || *norm != z.get<std::string>() || norm->starts_with("*."))
          return base::invalid("{}: {}: zone '{}' is not a lowercase hostname", where, at,
                               z.get<std::string>());
        rec.zones.push_back(*norm);
      }
      for (const LoginRecord& other : out->logins) {
        if (other.id == rec.id) return base::invalid("{}: {}: duplicate id {}", where, at, rec.id);
        if (other.name == rec.name)
          return base::invalid("{}: {}: duplicate name {}", where, at, rec.name);
      }
      out->logins.push_back(std::move(rec));
    }
  }

  auto ts = j.find("tunnels");
  if (ts != j.end() && !ts->is_array())
    return base::invalid("{}: \"tunnels\" is not an array", where);
  if (ts != j.end()) {
    for (size_t i = 0; i < ts->size(); ++i) {
      const json& t = (*ts)[i];
      const std::string at = fmt::format("tunnels[{}]", i);
      if (!t.is_object()) return base::invalid("{}: {} is not an object", where, at);
      TunnelRecord rec;
      RETURN_IF_ERROR(str(t, "id", at, &rec.id));
      RETURN_IF_ERROR(str(t, "name", at, &rec.name));
      RETURN_IF_ERROR(str(t, "secret_sha256", at, &rec.secret_sha256));
      if (!isUuid(rec.id)) return base::invalid("{}: {}: id is not a UUID", where, at);
      if (auto ok = validateTunnelName(rec.name); !ok)
        return base::invalid("{}: {}: {}", where, at, ok.error().message());
      if (!isSha256Hex(rec.secret_sha256))
        return base::invalid("{}: {}: secret_sha256 is not 64 lowercase hex characters", where, at);
      RETURN_IF_ERROR(int64(t, "created", at, true, &rec.created_unix));
      if (t.contains("login")) {
        RETURN_IF_ERROR(str(t, "login", at, &rec.login));
        bool known = std::any_of(out->logins.begin(), out->logins.end(),
                                 [&](const LoginRecord& l) { return l.id == rec.login; });
        if (!known) return base::invalid("{}: {}: login {} names no login", where, at, rec.login);
      }
      for (const TunnelRecord& other : *tunnels) {
        if (other.id == rec.id) return base::invalid("{}: {}: duplicate id {}", where, at, rec.id);
        if (other.name == rec.name)
          return base::invalid("{}: {}: duplicate name {}", where, at, rec.name);
      }
      tunnels->push_back(std::move(rec));
    }
  }

  auto rs = j.find("routes");
  if (rs != j.end() && !rs->is_array())
    return base::invalid("{}: \"routes\" is not an array", where);
  if (rs != j.end()) {
    for (size_t i = 0; i < rs->size(); ++i) {
      const json& r = (*rs)[i];
      const std::string at = fmt::format("routes[{}]", i);
      if (!r.is_object()) return base::invalid("{}: {} is not an object", where, at);
      RouteRecord rec;
      std::string host;
      RETURN_IF_ERROR(str(r, "hostname", at, &host));
      RETURN_IF_ERROR(str(r, "tunnel_id", at, &rec.tunnel_id));
      auto norm = normalizeRouteHostname(host);
      if (!norm) return base::invalid("{}: {}: {}", where, at, norm.error().message());
      if (*norm != host) return base::invalid("{}: {}: hostname is not lowercase", where, at);
      rec.hostname = std::move(*norm);
      bool known = std::any_of(tunnels->begin(), tunnels->end(),
                               [&](const TunnelRecord& t) { return t.id == rec.tunnel_id; });
      if (!known)
        return base::invalid("{}: {}: tunnel_id {} names no tunnel", where, at, rec.tunnel_id);
      for (const RouteRecord& other : *routes)
        if (other.hostname == rec.hostname)
          return base::invalid("{}: {}: duplicate hostname {}", where, at, rec.hostname);
      routes->push_back(std::move(rec));
    }
  }

  auto tcp = j.find("tcp_routes");
  if (tcp != j.end() && !tcp->is_array())
    return base::invalid("{}: \"tcp_routes\" is not an array", where);
  if (tcp != j.end()) {
    for (size_t i = 0; i < tcp->size(); ++i) {
      const json& r = (*tcp)[i];
      const std::string at = fmt::format("tcp_routes[{}]", i);
      if (!r.is_object()) return base::invalid("{}: {} is not an object", where, at);
      TcpRouteRecord rec;
      RETURN_IF_ERROR(str(r, "hostname", at, &rec.hostname));
      auto norm = normalizeRouteHostname(rec.hostname);
      if (!norm || *norm != rec.hostname || rec.hostname.starts_with("*."))
        return base::invalid("{}: {}: hostname '{}' is not an exact lowercase hostname", where, at,
                             rec.hostname);
      auto port = r.find("port");
      if (port == r.end() || !port->is_number_integer() || port->get<int64_t>() < 1 ||
          port->get<int64_t>() > 65535)
        return base::invalid("{}: {}: \"port\" is not an integer from 1 to 65535", where, at);
      rec.port = static_cast<uint16_t>(port->get<int64_t>());
      if (!routeIn(*routes, rec.hostname))
        return base::invalid("{}: {}: hostname {} is not routed to a tunnel", where, at,
                             rec.hostname);
      for (const TcpRouteRecord& other : out->tcp_routes)
        if (other.port == rec.port)
          return base::invalid("{}: {}: duplicate port {}", where, at, rec.port);
      out->tcp_routes.push_back(std::move(rec));
    }
  }

  for (auto [key, dest] : {std::pair{"last_tunnel_addr", &out->last_addr},
                           std::pair{"last_listen_addr", &out->last_listen_addr}}) {
    auto last = j.find(key);
    if (last == j.end()) continue;
    if (!last->is_string()) return base::invalid("{}: \"{}\" is not a string", where, key);
    *dest = last->get<std::string>();
  }
  return {};
}

}  // namespace

base::Result<void> validateTunnelName(std::string_view name) {
  if (name.empty()) return base::invalid("tunnel name is empty");
  if (name.size() > kMaxNameLength)
    return base::invalid("tunnel name is longer than {} characters", kMaxNameLength);
  for (char c : name) {
    if (!isNameChar(c))
      return base::invalid("tunnel name '{}' may only contain letters, digits, '.', '_' and '-'",
                           name);
  }
  if (isUuid(name))
    return base::invalid("tunnel name '{}' looks like a tunnel id; choose another name", name);
  return {};
}

base::Result<std::string> normalizeRouteHostname(std::string_view hostname) {
  std::string h = base::toLower(hostname);
  if (h.empty()) return base::invalid("hostname is empty");
  if (h.size() > kMaxHostnameLength)
    return base::invalid("hostname is longer than {} characters", kMaxHostnameLength);
  if (h.find(':') != std::string::npos)
    return base::invalid("hostname '{}' cannot contain a port", h);
  if (h == "*")
    return base::invalid("hostname '*' alone is not a route; use '*.zone' for a wildcard");
  const size_t star = h.find('*');
  if (star != std::string::npos &&
      (star != 0 || h.size() < 2 || h[1] != '.' || h.find('*', 1) != std::string::npos))
    return base::invalid(
        "hostname '{}': '*' is allowed at most once, and only as the whole first label ('*.zone')",
        h);
  std::string_view rest(h);
  if (star == 0) rest.remove_prefix(2);
  size_t start = 0;
  while (start <= rest.size()) {
    size_t dot = rest.find('.', start);
    if (dot == std::string_view::npos) dot = rest.size();
    std::string_view label = rest.substr(start, dot - start);
    if (label.empty()) return base::invalid("hostname '{}' has an empty label", h);
    if (label.size() > kMaxLabelLength)
      return base::invalid("hostname '{}' has a label longer than {} characters", h,
                           kMaxLabelLength);
    for (char c : label) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
        return base::invalid("hostname '{}' has an invalid character (use a-z, 0-9, '-' and '.')",
                             h);
    }
    start = dot + 1;
  }
  return h;
}

base::Result<uint16_t> parseTcpPort(std::string_view text) {
  int port = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc() || end != text.data() + text.size() || port < 1 || port > 65535)
    return base::invalid("'{}' is not a port (1 to 65535)", text);
  return static_cast<uint16_t>(port);
}

std::string secretSha256(std::string_view secret) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // EVP_Digest with SHA-256 on memory cannot fail short of a broken OpenSSL build.
  CHECK(EVP_Digest(secret.data(), secret.size(), md, &len, EVP_sha256(), nullptr) == 1);
  return base::hexEncode(std::string_view(reinterpret_cast<const char*>(md), len));
}

base::Result<EdgeState> EdgeState::open(const std::string& dir) {
  if (dir.empty()) return base::invalid("state directory is empty");
  RETURN_IF_ERROR(base::ensureDir(dir, 0700));
  EdgeState st;
  st.dir_ = dir;
  const std::string path = st.statePath();
  auto text = base::readFile(path);
  if (!text) {
    if (text.error().code == std::errc::no_such_file_or_directory) return st;
    return base::Unexpected(text.error());
  }
  Parsed p;
  RETURN_IF_ERROR(parseState("state file " + path, *text, &p));
  st.logins_ = std::move(p.logins);
  st.tunnels_ = std::move(p.tunnels);
  st.routes_ = std::move(p.routes);
  st.tcp_routes_ = std::move(p.tcp_routes);
  st.last_tunnel_addr_ = std::move(p.last_addr);
  st.last_listen_addr_ = std::move(p.last_listen_addr);
  return st;
}

base::Result<base::UniqueFd> EdgeState::lock(const std::string& dir) {
  if (dir.empty()) return base::invalid("state directory is empty");
  RETURN_IF_ERROR(base::ensureDir(dir, 0700));
  const std::string path = dir + "/state.lock";
  base::UniqueFd fd(base::retryEintr(
      [&] { return ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600); }));
  if (!fd) return base::sysError("open {}", path);
  if (base::retryEintr([&] { return ::flock(fd.get(), LOCK_EX); }) != 0)
    return base::sysError("lock {}", path);
  return fd;
}

base::Result<std::string> EdgeState::ensureIdentity() {
  if (!pathExists(certPath()) || !pathExists(keyPath())) {
    // Both or neither: a lone key or certificate is from an interrupted run and is replaced.
    RETURN_IF_ERROR(generateSelfSigned(certPath(), keyPath(), "burrow-edge"));
    LOG_INFO("made edge identity cert={}", certPath());
  }
  return publicKeyPin(certPath());
}

base::Result<TunnelRecord> EdgeState::addTunnel(const std::string& name, const std::string& secret,
                                                const std::string& login) {
  RETURN_IF_ERROR(validateTunnelName(name));
  if (secret.size() != kSecretSize)
    return base::invalid("tunnel secret must be {} bytes", kSecretSize);
  for (const TunnelRecord& t : tunnels_)
    if (t.name == name) return base::invalid("a tunnel named '{}' already exists ({})", name, t.id);
  TunnelRecord rec;
  do {
    rec.id = base::randomUuid();
  } while (findTunnel(rec.id) != nullptr);
  rec.name = name;
  rec.secret_sha256 = secretSha256(secret);
  rec.created_unix = static_cast<int64_t>(std::time(nullptr));
  rec.login = login;
  tunnels_.push_back(rec);
  return rec;
}

bool inZones(const std::vector<std::string>& zones, std::string_view hostname) {
  std::string_view h = hostname;
  if (h.starts_with("*.")) h.remove_prefix(2);  // *.a.zone is inside zone, *.zone too
  for (const std::string& z : zones)
    if (h == z || (h.size() > z.size() && h.ends_with(z) && h[h.size() - z.size() - 1] == '.'))
      return true;
  return false;
}

base::Result<LoginRecord> EdgeState::addLogin(const std::string& name, const std::string& secret,
                                              const std::vector<std::string>& zones) {
  if (auto ok = validateTunnelName(name); !ok)
    return base::invalid("login {}", ok.error().message().substr(std::string("tunnel ").size()));
  if (secret.size() != kSecretSize)
    return base::invalid("login secret must be {} bytes", kSecretSize);
  for (const LoginRecord& l : logins_)
    if (l.name == name) return base::invalid("a login named '{}' already exists ({})", name, l.id);
  LoginRecord rec;
  for (const std::string& z : zones) {
    ASSIGN_OR_RETURN(std::string norm, normalizeRouteHostname(z));
    if (norm.starts_with("*."))
      return base::invalid("zone '{}': a zone is a name ('{}' holds every name below it)", z,
                           norm.substr(2));
    if (std::find(rec.zones.begin(), rec.zones.end(), norm) == rec.zones.end())
      rec.zones.push_back(std::move(norm));
  }
  do {
    rec.id = base::randomUuid();
  } while (findLogin(rec.id) != nullptr);
  rec.name = name;
  rec.secret_sha256 = secretSha256(secret);
  rec.created_unix = static_cast<int64_t>(std::time(nullptr));
  logins_.push_back(rec);
  return rec;
}

const LoginRecord* EdgeState::findLogin(std::string_view name_or_id) const {
  for (const LoginRecord& l : logins_)
    if (l.id == name_or_id) return &l;
  for (const LoginRecord& l : logins_)
    if (l.name == name_or_id) return &l;
  return nullptr;
}

base::Result<void> EdgeState::revokeLogin(std::string_view name_or_id) {
  const LoginRecord* found = findLogin(name_or_id);
  if (found == nullptr)
    return base::invalid("no login with name or id '{}' (see burrow edge login-token list)",
                         name_or_id);
  LoginRecord& l = logins_[static_cast<size_t>(found - logins_.data())];
  if (l.revoked_unix != 0)
    return base::invalid("login '{}' was already revoked on {}", l.name,
                         base::formatUtc(l.revoked_unix));
  l.revoked_unix = static_cast<int64_t>(std::time(nullptr));
  return {};
}

base::Result<const LoginRecord*> EdgeState::authenticateLogin(std::string_view login_id,
                                                              std::string_view secret) const {
  const LoginRecord* l = nullptr;
  for (const LoginRecord& r : logins_)
    if (r.id == login_id) l = &r;
  if (l == nullptr)
    return base::invalid("unknown login token: this edge has no login {}", login_id);
  const std::string got = secretSha256(secret);
  if (got.size() != l->secret_sha256.size() ||
      CRYPTO_memcmp(got.data(), l->secret_sha256.data(), got.size()) != 0)
    return base::invalid("wrong secret for login '{}'", l->name);
  // Checked after the secret, so that only the token's holder learns it was revoked.
  if (l->revoked_unix != 0)
    return base::invalid("login token '{}' was revoked on {}", l->name,
                         base::formatUtc(l->revoked_unix));
  return l;
}

bool EdgeState::mayManage(const LoginRecord& login, const TunnelRecord& tunnel) const {
  if (tunnel.login.empty()) return false;
  if (tunnel.login == login.id) return true;
  const LoginRecord* maker = findLogin(tunnel.login);
  if (maker == nullptr) return false;
  for (const std::string& z : maker->zones)
    if (std::find(login.zones.begin(), login.zones.end(), z) != login.zones.end()) return true;
  return false;
}

const TunnelRecord* EdgeState::findTunnel(std::string_view name_or_id) const {
  // Ids first; names can never look like ids (validateTunnelName), so the order only
  // matters for speed of intent, not for ambiguity.
  for (const TunnelRecord& t : tunnels_)
    if (t.id == name_or_id) return &t;
  for (const TunnelRecord& t : tunnels_)
    if (t.name == name_or_id) return &t;
  return nullptr;
}

base::Result<void> EdgeState::removeTunnel(std::string_view name_or_id) {
  const TunnelRecord* t = findTunnel(name_or_id);
  if (t == nullptr) return base::invalid("no tunnel with name or id '{}'", name_or_id);
  const std::string id = t->id;
  std::erase_if(routes_, [&](const RouteRecord& r) { return r.tunnel_id == id; });
  std::erase_if(tunnels_, [&](const TunnelRecord& r) { return r.id == id; });
  dropUnroutedTcp();
  return {};
}

base::Result<void> EdgeState::addRoute(std::string_view name_or_id, std::string_view hostname) {
  ASSIGN_OR_RETURN(std::string host, normalizeRouteHostname(hostname));
  const TunnelRecord* t = findTunnel(name_or_id);
  if (t == nullptr) return base::invalid("no tunnel with name or id '{}'", name_or_id);
  for (const RouteRecord& r : routes_) {
    if (r.hostname != host) continue;
    if (r.tunnel_id == t->id) return {};  // already there: routing is idempotent
    const TunnelRecord* owner = findTunnel(r.tunnel_id);
    return base::invalid(
        "hostname {} is already routed to tunnel '{}' ({}); delete that "
        "tunnel or route another hostname",
        host, owner ? owner->name : std::string("?"), r.tunnel_id);
  }
  routes_.push_back(RouteRecord{std::move(host), t->id});
  return {};
}

base::Result<void> EdgeState::removeRoute(std::string_view hostname) {
  const std::string host = base::toLower(hostname);
  if (std::erase_if(routes_, [&](const RouteRecord& r) { return r.hostname == host; }) == 0)
    return base::invalid("no route for hostname '{}' (see burrow edge route list)", hostname);
  dropUnroutedTcp();
  return {};
}

void EdgeState::dropUnroutedTcp() {
  std::erase_if(tcp_routes_, [&](const TcpRouteRecord& r) { return !routeFor(r.hostname); });
}

base::Result<void> EdgeState::addTcpRoute(std::string_view hostname, uint16_t port) {
  ASSIGN_OR_RETURN(std::string host, normalizeRouteHostname(hostname));
  if (host.starts_with("*."))
    return base::invalid("a TCP port carries one hostname, not a wildcard ('{}')", host);
  if (port == 0) return base::invalid("port 0 is not a port a client can connect to");
  if (!routeFor(host))
    return base::invalid(
        "hostname {} is not routed to a tunnel; route it first (burrow edge route dns TUNNEL {})",
        host, host);
  for (const TcpRouteRecord& r : tcp_routes_) {
    if (r.port != port) continue;
    if (r.hostname == host) return {};  // already there
    return base::invalid(
        "port {} is already carried to {}; delete that route first (burrow edge route delete "
        "tcp:{})",
        port, r.hostname, port);
  }
  tcp_routes_.push_back(TcpRouteRecord{port, std::move(host)});
  return {};
}

base::Result<void> EdgeState::removeTcpRoute(uint16_t port) {
  if (std::erase_if(tcp_routes_, [&](const TcpRouteRecord& r) { return r.port == port; }) == 0)
    return base::invalid("no TCP route on port {} (see burrow edge route list)", port);
  return {};
}

Verdict EdgeState::authenticate(std::string_view tunnel_id, std::string_view secret) const {
  const TunnelRecord* found = nullptr;
  for (const TunnelRecord& t : tunnels_)
    if (t.id == tunnel_id) found = &t;
  if (found == nullptr) return Verdict::UnknownTunnel;
  const std::string got = secretSha256(secret);
  // Both are 64 hex characters (validated on load); compare in constant time anyway so that
  // timing tells nothing about how much of the hash matched.
  if (got.size() != found->secret_sha256.size() ||
      CRYPTO_memcmp(got.data(), found->secret_sha256.data(), got.size()) != 0)
    return Verdict::BadSecret;
  return Verdict::Accepted;
}

std::optional<std::string> EdgeState::routeFor(std::string_view host) const {
  return routeIn(routes_, host);
}

base::Result<void> EdgeState::save() const {
  json tunnels = json::array();
  for (const TunnelRecord& t : tunnels_) {
    json rec = {{"id", t.id},
                {"name", t.name},
                {"secret_sha256", t.secret_sha256},
                {"created", t.created_unix}};
    if (!t.login.empty()) rec["login"] = t.login;
    tunnels.push_back(std::move(rec));
  }
  json logins = json::array();
  for (const LoginRecord& l : logins_) {
    json rec = {{"id", l.id},
                {"name", l.name},
                {"secret_sha256", l.secret_sha256},
                {"zones", l.zones},
                {"created", l.created_unix}};
    if (l.revoked_unix != 0) rec["revoked"] = l.revoked_unix;
    logins.push_back(std::move(rec));
  }
  json routes = json::array();
  for (const RouteRecord& r : routes_)
    routes.push_back({{"hostname", r.hostname}, {"tunnel_id", r.tunnel_id}});
  json tcp = json::array();
  for (const TcpRouteRecord& r : tcp_routes_)
    tcp.push_back({{"port", r.port}, {"hostname", r.hostname}});
  json j = {{"version", kStateVersion},
            {"tunnels", std::move(tunnels)},
            {"routes", std::move(routes)},
            {"tcp_routes", std::move(tcp)},
            {"logins", std::move(logins)},
            {"last_tunnel_addr", last_tunnel_addr_},
            {"last_listen_addr", last_listen_addr_}};
  RETURN_IF_ERROR(base::ensureDir(dir_, 0700));
  return base::writeFileAtomic(statePath(),
                               j.dump(2, ' ', false, json::error_handler_t::replace) + "\n", 0600);
}

}  // namespace tunnel
