#include "tunnel/manage.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "base/base.h"
#include "base/log.h"
#include "tunnel/edge_state.h"
#include "tunnel/token.h"

namespace tunnel {
namespace {

using nlohmann::json;

ManageReply reply(int status, const json& j, bool changed = false) {
  return {status, j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n", changed};
}
ManageReply refuse(int status, std::string_view message) {
  return reply(status, json{{"error", message}});
}

json tunnelJson(const EdgeState& state, const TunnelRecord& t,
                const std::vector<LiveConnection>& live) {
  json hostnames = json::array();
  for (const RouteRecord& r : state.routes())
    if (r.tunnel_id == t.id) hostnames.push_back(r.hostname);
  json conns = json::array();
  for (const LiveConnection& c : live)
    if (c.tunnel_id == t.id)
      conns.push_back({{"connection_id", c.connection_id},
                       {"connector_id", c.connector_id},
                       {"index", c.index},
                       {"peer", c.peer},
                       {"since", c.since_unix},
                       {"version", c.version}});
  return {{"id", t.id},
          {"name", t.name},
          {"created", t.created_unix},
          {"hostnames", std::move(hostnames)},
          {"connections", std::move(conns)}};
}

std::string joinZones(const std::vector<std::string>& zones) {
  if (zones.empty()) return "none";
  std::string out;
  for (const auto& z : zones) out += (out.empty() ? "" : ", ") + z;
  return out;
}

// A string member of a request body; the error names it.
base::Result<std::string> member(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string())
    return base::invalid("the request needs a string \"{}\"", key);
  return it->get<std::string>();
}

// The one request a login makes, with the state loaded (and locked when it writes).
class Request {
 public:
  Request(const LoginRecord& login, EdgeState& state, const std::vector<LiveConnection>& live)
      : login_(login), state_(state), live_(live) {}

  // A tunnel this login may manage, by name or id; 404 otherwise (whether or not it exists
  // for others: a login learns nothing of tunnels it may not manage).
  base::Result<const TunnelRecord*> managed(std::string_view name_or_id) {
    const TunnelRecord* t = state_.findTunnel(name_or_id);
    if (t == nullptr || !state_.mayManage(login_, *t))
      return base::invalid("no tunnel '{}' that login '{}' may manage", name_or_id, login_.name);
    return t;
  }

  ManageReply listTunnels() {
    json out = json::array();
    for (const TunnelRecord& t : state_.tunnels())
      if (state_.mayManage(login_, t)) out.push_back(tunnelJson(state_, t, live_));
    return reply(200, json{{"tunnels", std::move(out)}});
  }

  ManageReply tunnel(std::string_view name) {
    auto t = managed(name);
    if (!t) return refuse(404, t.error().message());
    return reply(200, tunnelJson(state_, **t, live_));
  }

  ManageReply createTunnel(const json& body) {
    auto name = member(body, "name");
    auto endpoint = member(body, "endpoint");
    if (!name) return refuse(400, name.error().message());
    if (!endpoint) return refuse(400, endpoint.error().message());
    if (auto ok = validateTunnelName(*name); !ok) return refuse(400, ok.error().message());
    if (auto hp = base::splitHostPort(*endpoint); !hp || hp->host.empty())
      return refuse(400, fmt::format("endpoint '{}' is not HOST:PORT", *endpoint));
    if (const TunnelRecord* t = state_.findTunnel(*name))
      return refuse(409, state_.mayManage(login_, *t)
                             ? fmt::format("a tunnel named '{}' already exists ({})", *name, t->id)
                             : fmt::format("the name '{}' is taken on this edge", *name));
    auto pin = state_.ensureIdentity();
    if (!pin) return refuse(500, pin.error().message());
    Token token;
    token.secret = base::randomBytes(kSecretSize);
    auto rec = state_.addTunnel(*name, token.secret, login_.id);
    if (!rec) return refuse(400, rec.error().message());
    if (auto ok = state_.save(); !ok) return refuse(500, ok.error().message());
    token.tunnel_id = rec->id;
    token.endpoint = *endpoint;
    token.pin = *pin;
    LOG_INFO("login created tunnel login={} name={} id={}", login_.name, rec->name, rec->id);
    return reply(201, json{{"id", rec->id}, {"name", rec->name}, {"token", encodeToken(token)}},
                 true);
  }

  ManageReply deleteTunnel(std::string_view name) {
    auto t = managed(name);
    if (!t) return refuse(404, t.error().message());
    const std::string id = (*t)->id, tname = (*t)->name;
    if (auto ok = state_.removeTunnel(id); !ok) return refuse(400, ok.error().message());
    if (auto ok = state_.save(); !ok) return refuse(500, ok.error().message());
    LOG_INFO("login deleted tunnel login={} name={} id={}", login_.name, tname, id);
    return reply(200, json::object(), true);
  }

  ManageReply listRoutes() {
    json out = json::array();
    for (const RouteRecord& r : state_.routes()) {
      const TunnelRecord* t = state_.findTunnel(r.tunnel_id);
      if (t && state_.mayManage(login_, *t))
        out.push_back({{"hostname", r.hostname}, {"tunnel_id", t->id}, {"tunnel_name", t->name}});
    }
    return reply(200, json{{"routes", std::move(out)}});
  }

  ManageReply route(const json& body) {
    auto name = member(body, "tunnel");
    auto hostname = member(body, "hostname");
    if (!name) return refuse(400, name.error().message());
    if (!hostname) return refuse(400, hostname.error().message());
    auto host = normalizeRouteHostname(*hostname);
    if (!host) return refuse(400, host.error().message());
    if (!inZones(login_.zones, *host))
      return refuse(403, fmt::format("hostname {} is outside the zones of login '{}' ({})", *host,
                                     login_.name, joinZones(login_.zones)));
    auto t = managed(*name);
    if (!t) return refuse(404, t.error().message());
    for (const RouteRecord& r : state_.routes()) {
      if (r.hostname != *host || r.tunnel_id == (*t)->id) continue;
      const TunnelRecord* holder = state_.findTunnel(r.tunnel_id);
      return refuse(409, holder && state_.mayManage(login_, *holder)
                             ? fmt::format("hostname {} is already routed to tunnel '{}'; delete "
                                           "that route first",
                                           *host, holder->name)
                             : fmt::format("hostname {} is already routed to a tunnel this login "
                                           "may not manage",
                                           *host));
    }
    const std::string id = (*t)->id, tname = (*t)->name;
    if (auto ok = state_.addRoute(id, *host); !ok) return refuse(400, ok.error().message());
    if (auto ok = state_.save(); !ok) return refuse(500, ok.error().message());
    LOG_INFO("login added route login={} hostname={} tunnel={}", login_.name, *host, tname);
    return reply(200, json::object(), true);
  }

  ManageReply deleteRoute(std::string_view hostname) {
    const std::string host = base::toLower(hostname);
    auto route = std::find_if(state_.routes().begin(), state_.routes().end(),
                              [&](const RouteRecord& r) { return r.hostname == host; });
    const TunnelRecord* t =
        route == state_.routes().end() ? nullptr : state_.findTunnel(route->tunnel_id);
    if (t == nullptr || !inZones(login_.zones, host) || !state_.mayManage(login_, *t))
      return refuse(404,
                    fmt::format("no route for {} that login '{}' may manage", host, login_.name));
    if (auto ok = state_.removeRoute(host); !ok) return refuse(400, ok.error().message());
    if (auto ok = state_.save(); !ok) return refuse(500, ok.error().message());
    LOG_INFO("login deleted route login={} hostname={}", login_.name, host);
    return reply(200, json::object(), true);
  }

 private:
  const LoginRecord& login_;
  EdgeState& state_;
  const std::vector<LiveConnection>& live_;
};

}  // namespace

ManageApi::ManageApi(std::string state_dir, std::function<std::vector<LiveConnection>()> live)
    : state_dir_(std::move(state_dir)), live_(std::move(live)) {}

int64_t ManageApi::throttled(const std::string& client_ip, Clock::time_point now) {
  auto it = buckets_.find(client_ip);
  if (it == buckets_.end()) return 0;
  Bucket& b = it->second;
  const double per_second = 1.0 / static_cast<double>(kFailRefill.count());
  b.tokens = std::min<double>(
      kFailBurst, b.tokens + std::chrono::duration<double>(now - b.at).count() * per_second);
  b.at = now;
  if (b.tokens >= 1.0) return 0;
  return static_cast<int64_t>((1.0 - b.tokens) / per_second) + 1;
}

void ManageApi::failed(const std::string& client_ip, Clock::time_point now) {
  // Bounded: a flood from many addresses forgets the oldest state rather than growing.
  if (buckets_.size() >= 10'000 && !buckets_.contains(client_ip)) buckets_.clear();
  auto [it, fresh] = buckets_.try_emplace(client_ip);
  if (fresh) it->second.at = now;
  (void)throttled(client_ip, now);
  it->second.tokens = std::max(0.0, it->second.tokens - 1.0);
}

ManageReply ManageApi::handle(std::string_view method, std::string_view target,
                              std::string_view authorization, std::string_view body,
                              const std::string& client_ip, Clock::time_point now) {
  if (int64_t wait = throttled(client_ip, now); wait > 0)
    return refuse(
        429, fmt::format("too many failed logins from {}; try again in {} s", client_ip, wait));
  constexpr std::string_view kBearer = "Bearer ";
  if (!authorization.starts_with(kBearer)) {
    failed(client_ip, now);
    return refuse(401, "no login token (Authorization: Bearer TOKEN)");
  }
  auto token = decodeLoginToken(authorization.substr(kBearer.size()));
  if (!token) {
    failed(client_ip, now);
    return refuse(401, token.error().message());
  }
  // A reading request needs no lock; a writing one holds it from load to save.
  const bool writes = method == "POST" || method == "DELETE";
  base::UniqueFd lock;
  if (writes) {
    auto l = EdgeState::lock(state_dir_);
    if (!l) return refuse(500, l.error().message());
    lock = std::move(*l);
  }
  auto state = EdgeState::open(state_dir_);
  if (!state) return refuse(500, state.error().message());
  auto login = state->authenticateLogin(token->login_id, token->secret);
  if (!login) {
    failed(client_ip, now);
    LOG_WARN("login refused peer={} error={}", client_ip, login.error().message());
    return refuse(401, login.error().message());
  }
  const LoginRecord me = **login;  // a copy: the state's vectors change below
  json in = json::object();
  if (!body.empty()) {
    in = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (in.is_discarded() || !in.is_object())
      return refuse(400, "the request body is not a JSON object");
  }
  std::vector<LiveConnection> live = live_ ? live_() : std::vector<LiveConnection>{};
  Request r(me, *state, live);
  std::string_view path = target.substr(0, target.find('?'));
  auto tail = [&](std::string_view prefix) -> std::optional<std::string_view> {
    if (!path.starts_with(prefix) || path.size() == prefix.size()) return std::nullopt;
    std::string_view rest = path.substr(prefix.size());
    if (rest.find('/') != std::string_view::npos) return std::nullopt;
    return rest;
  };
  if (path == "/v1/login" && method == "GET")
    return reply(200, json{{"name", me.name}, {"zones", me.zones}});
  if (path == "/v1/tunnels" && method == "GET") return r.listTunnels();
  if (path == "/v1/tunnels" && method == "POST") return r.createTunnel(in);
  if (auto name = tail("/v1/tunnels/")) {
    if (method == "GET") return r.tunnel(*name);
    if (method == "DELETE") return r.deleteTunnel(*name);
  }
  if (path == "/v1/routes" && method == "GET") return r.listRoutes();
  if (path == "/v1/routes" && method == "POST") return r.route(in);
  if (auto host = tail("/v1/routes/"); host && method == "DELETE") return r.deleteRoute(*host);
  return refuse(404, fmt::format("no such call: {} {}", method, path));
}

}  // namespace tunnel
