// The home's side of the management API (manage.h): `burrow tunnel login|create|route|list|
// info|delete` with the login stored in the state directory. One blocking request per call,
// over the edge's tunnel listener, trusting the edge by the pin in the login token.
#include <unistd.h>

#include <cctype>

#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "base/base.h"
#include "tunnel/acme.h"
#include "tunnel/edge_state.h"
#include "tunnel/manage.h"
#include "tunnel/tls.h"
#include "tunnel/token.h"
#include "tunnel/tunnel.h"

namespace tunnel {
namespace {

using nlohmann::json;

constexpr size_t kMaxReply = 4 << 20;

// Percent-encodes a path segment (names and hostnames are plain, but a user's typo is not).
std::string segment(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '*') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

struct Login {
  LoginToken token;
  std::string text;  // as stored: what goes in Authorization
};

base::Result<Login> loadLogin(const std::string& path) {
  if (::access(path.c_str(), F_OK) != 0)
    return base::invalid("not logged in: no {} (run burrow tunnel login --token-file FILE first)",
                         path);
  ASSIGN_OR_RETURN(std::string text, readTokenFile(path));
  auto token = decodeLoginToken(text);
  if (!token) return base::invalid("{}: {}", path, token.error().message());
  return Login{std::move(*token), std::move(text)};
}

// One call; a 4xx/5xx answer is an error carrying the edge's message.
base::Result<json> call(const Login& login, std::string_view method, std::string_view path,
                        const json* body = nullptr) {
  ASSIGN_OR_RETURN(base::HostPort hp, base::splitHostPort(login.token.endpoint));
  ASSIGN_OR_RETURN(SslCtxPtr ctx, makeConnectorContext(login.token.pin, kManageAlpn));
  std::string payload = body ? body->dump() : "";
  std::string req = fmt::format(
      "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: burrow\r\nAuthorization: Bearer {}\r\n"
      "Connection: close\r\nContent-Length: {}\r\n",
      method, path, login.token.endpoint, login.text, payload.size());
  if (body) req += "Content-Type: application/json\r\n";
  req += "\r\n";
  req += payload;
  auto raw = tlsRoundTrip(ctx.get(), hp.host, std::to_string(hp.port), false, req, kMaxReply);
  if (!raw) return base::invalid("edge {}: {}", login.token.endpoint, raw.error().message());
  if (raw->empty())
    return base::invalid(
        "edge {} closed the connection without an answer (an edge older than "
        "logins refuses the management protocol)",
        login.token.endpoint);
  ASSIGN_OR_RETURN(HttpReply r, parseHttpReply(*raw));
  json j = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (r.status >= 400) {
    std::string why = j.is_object() && j.contains("error") && j["error"].is_string()
                          ? j["error"].get<std::string>()
                          : std::string(base::trim(r.body));
    return base::invalid("edge {} refused: {}", login.token.endpoint, why);
  }
  if (j.is_discarded() || !j.is_object())
    return base::invalid("edge {} answered {} without a JSON object", login.token.endpoint,
                         r.status);
  return j;
}

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
int64_t num(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

TunnelInfo tunnelFrom(const json& t) {
  TunnelInfo info;
  info.id = str(t, "id");
  info.name = str(t, "name");
  info.created_unix = num(t, "created");
  if (auto h = t.find("hostnames"); h != t.end() && h->is_array())
    for (const json& x : *h)
      if (x.is_string()) info.hostnames.push_back(x.get<std::string>());
  if (auto c = t.find("connections"); c != t.end() && c->is_array()) {
    info.connections.emplace();
    for (const json& x : *c) {
      if (!x.is_object()) continue;
      info.connections->push_back({info.id, str(x, "connection_id"), str(x, "connector_id"),
                                   static_cast<uint32_t>(num(x, "index")), str(x, "peer"),
                                   num(x, "since"), str(x, "version")});
    }
  }
  return info;
}

}  // namespace

base::Result<LoginView> loginHome(const std::string& state_dir, const std::string& token_file) {
  ASSIGN_OR_RETURN(std::string text, readTokenFile(token_file));
  auto token = decodeLoginToken(text);
  if (!token) return base::invalid("{}: {}", token_file, token.error().message());
  Login login{std::move(*token), text};
  // Checked with the edge before anything is stored: a wrong or revoked token stays out.
  ASSIGN_OR_RETURN(json me, call(login, "GET", "/v1/login"));
  LoginView view{str(me, "name"), {}, login.token.endpoint};
  if (auto z = me.find("zones"); z != me.end() && z->is_array())
    for (const json& x : *z)
      if (x.is_string()) view.zones.push_back(x.get<std::string>());
  RETURN_IF_ERROR(base::ensureDir(state_dir, 0700));
  RETURN_IF_ERROR(base::writeFileAtomic(loginTokenPath(state_dir), text + "\n", 0600));
  return view;
}

base::Result<std::string> remoteCreateTunnel(const std::string& login_file, const std::string& name,
                                             const std::string& output) {
  ASSIGN_OR_RETURN(Login login, loadLogin(login_file));
  const std::string& path = output;
  // The file is refused before the edge is asked, so that no tunnel is made whose token
  // has nowhere to go.
  if (::access(path.c_str(), F_OK) == 0)
    return base::invalid("{} exists: remove it or name another file with --output", path);
  json body = {{"name", name}, {"endpoint", login.token.endpoint}};
  ASSIGN_OR_RETURN(json created, call(login, "POST", "/v1/tunnels", &body));
  const std::string id = str(created, "id"), token = str(created, "token");
  if (id.empty() || token.empty())
    return base::invalid("edge {} answered without the tunnel's id and token",
                         login.token.endpoint);
  if (auto ok = writeNewTokenFile(path, token); !ok) {
    // The edge made it but its token is lost: take it back rather than leave it unusable.
    (void)call(login, "DELETE", "/v1/tunnels/" + segment(id));
    return base::Unexpected(ok.error());
  }
  return id;
}

base::Result<std::vector<TunnelInfo>> remoteListTunnels(const std::string& login_file) {
  ASSIGN_OR_RETURN(Login login, loadLogin(login_file));
  ASSIGN_OR_RETURN(json j, call(login, "GET", "/v1/tunnels"));
  std::vector<TunnelInfo> out;
  if (auto ts = j.find("tunnels"); ts != j.end() && ts->is_array())
    for (const json& t : *ts)
      if (t.is_object()) out.push_back(tunnelFrom(t));
  return out;
}

base::Result<TunnelInfo> remoteTunnelInfo(const std::string& login_file, const std::string& name) {
  ASSIGN_OR_RETURN(Login login, loadLogin(login_file));
  ASSIGN_OR_RETURN(json j, call(login, "GET", "/v1/tunnels/" + segment(name)));
  return tunnelFrom(j);
}

base::Result<void> remoteDeleteTunnel(const std::string& login_file, const std::string& name) {
  ASSIGN_OR_RETURN(Login login, loadLogin(login_file));
  RETURN_IF_ERROR(call(login, "DELETE", "/v1/tunnels/" + segment(name)));
  return {};
}

base::Result<void> remoteRouteDns(const std::string& login_file, const std::string& name,
                                  const std::string& hostname) {
  ASSIGN_OR_RETURN(Login login, loadLogin(login_file));
  json body = {{"tunnel", name}, {"hostname", hostname}};
  RETURN_IF_ERROR(call(login, "POST", "/v1/routes", &body));
  return {};
}

base::Result<std::vector<RouteInfo>> remoteListRoutes(const std::string& login_file) {
  ASSIGN_OR_RETURN(Login login, loadLogin(login_file));
  ASSIGN_OR_RETURN(json j, call(login, "GET", "/v1/routes"));
  std::vector<RouteInfo> out;
  if (auto rs = j.find("routes"); rs != j.end() && rs->is_array())
    for (const json& r : *rs)
      if (r.is_object())
        out.push_back({str(r, "hostname"), str(r, "tunnel_id"), str(r, "tunnel_name")});
  return out;
}

base::Result<void> remoteDeleteRoute(const std::string& login_file, const std::string& hostname) {
  ASSIGN_OR_RETURN(Login login, loadLogin(login_file));
  RETURN_IF_ERROR(call(login, "DELETE", "/v1/routes/" + segment(hostname)));
  return {};
}

base::Result<std::string> ensureRemoteTunnel(const std::string& login_file, const std::string& name,
                                             const std::string& token_file,
                                             const std::vector<std::string>& hostnames) {
  ASSIGN_OR_RETURN(Login login, loadLogin(login_file));
  // Hostnames outside the login's zones are refused before anything is made.
  ASSIGN_OR_RETURN(json me, call(login, "GET", "/v1/login"));
  std::vector<std::string> zones;
  if (auto z = me.find("zones"); z != me.end() && z->is_array())
    for (const json& x : *z)
      if (x.is_string()) zones.push_back(x.get<std::string>());
  for (const std::string& h : hostnames)
    if (!inZones(zones, h))
      return base::invalid("hostname {} is outside the zones of login '{}' ({})", h,
                           str(me, "name"),
                           zones.empty() ? "none" : fmt::format("{}", fmt::join(zones, ", ")));
  std::string token;
  bool made = false;
  if (::access(token_file.c_str(), F_OK) == 0) {
    ASSIGN_OR_RETURN(token, readTokenFile(token_file));
    auto kept = decodeToken(token);
    auto there = call(login, "GET", "/v1/tunnels/" + segment(name));
    if (!kept || !there || str(*there, "id") != kept->tunnel_id) {
      // Deleted on the edge (or made again by someone else): this token is dead.
      if (there)
        return base::invalid("tunnel {} on the edge is not the one {} is for", name, token_file);
      ::unlink(token_file.c_str());
      token.clear();
    }
  }
  if (token.empty()) {
    ASSIGN_OR_RETURN(std::string id, remoteCreateTunnel(login_file, name, token_file));
    (void)id;
    ASSIGN_OR_RETURN(token, readTokenFile(token_file));
    made = true;
  }
  for (const std::string& h : hostnames) {
    json body = {{"tunnel", name}, {"hostname", h}};
    if (auto ok = call(login, "POST", "/v1/routes", &body); !ok) {
      // A tunnel made just now is taken back with what was routed to it.
      if (made) {
        (void)call(login, "DELETE", "/v1/tunnels/" + segment(name));
        ::unlink(token_file.c_str());
      }
      return base::Unexpected(ok.error());
    }
  }
  return token;
}

std::string loginTokenPath(const std::string& state_dir) { return state_dir + "/login.token"; }
std::string tunnelTokenPath(const std::string& state_dir, const std::string& name) {
  return state_dir + "/" + name + ".token";
}

}  // namespace tunnel
