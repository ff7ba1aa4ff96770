// The edge: public HTTP listeners, the tunnel acceptor (TLS + registration), the hostname
// registry, and the handler that turns each client request into a tunnel stream.
//
// One shard per core, each on its own thread and io_context with nothing on the data path
// shared: every shard listens on the client ports (SO_REUSEPORT spreads the connections),
// shard 0 accepts tunnel connections and deals them out in turn, and a shard serves a request
// with its own connections to the tunnel. A shard that has none forwards the request, over a
// socketpair, to a shard that has one.
#include <nghttp2/nghttp2.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <set>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <nlohmann/json.hpp>

#include "admin/admin.h"
#include "base/base.h"
#include "http/websocket.h"
#include "tunnel/acme.h"
#include "tunnel/gate.h"
#include "tunnel/live.h"
#include "tunnel/manage.h"
#include "tunnel/registration.h"
#include "tunnel/runtime.h"
#include "tunnel/tls.h"

namespace tunnel {

using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr std::string_view kAcmeChallengePath = "/.well-known/acme-challenge/";
// How often each shard looks whether state.json changed (one stat(2)).
constexpr auto kWatchEvery = std::chrono::milliseconds(250);

std::string stripPort(std::string_view authority) {
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    return base::toLower(
        authority.substr(1, close == std::string_view::npos ? authority.size() - 1 : close - 1));
  }
  auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(':') == colon)
    authority = authority.substr(0, colon);
  return base::toLower(authority);
}

// Closes a socket that is still busy when `timeout` passes (a silent peer cannot hold a
// connection open); disarmed when destroyed.
class Watchdog {
 public:
  Watchdog(asio::io_context& ioc, tcp::socket& sock, std::chrono::steady_clock::duration timeout)
      : timer_(ioc), armed_(std::make_shared<bool>(true)) {
    timer_.expires_after(timeout);
    timer_.async_wait([s = &sock, armed = armed_](const boost::system::error_code& e) {
      boost::system::error_code ignored;
      if (!e && *armed) s->close(ignored);
    });
  }
  ~Watchdog() {
    *armed_ = false;
    timer_.cancel();
  }

 private:
  asio::steady_timer timer_;
  std::shared_ptr<bool> armed_;
};

struct Done {
  explicit Done(const asio::any_io_executor& ex) : ev(ex) {}
  bool done = false;
  bool ok = true;
  std::optional<base::Error> read_error;  // why reading the source failed
  http::Event ev;
};

// Copies a body from `from` to `to` until its end, then finishes `to`.
Task<void> pipe(http::BodyReader& from, http::ResponseWriter& to, std::shared_ptr<Done> d) {
  http::Chunk buf;
  for (;;) {
    auto n = co_await from.read(buf.get(), buf.size());
    if (!n) {
      d->ok = false;
      d->read_error = n.error();
      break;
    }
    if (*n == 0) {
      d->ok = static_cast<bool>(co_await to.finish());
      break;
    }
    if (!co_await to.writeBody(buf.get(), *n)) {
      d->ok = false;
      break;
    }
  }
  d->done = true;
  d->ev.notify();
}

namespace ws = http::ws;

// A client of a TCP route (`edge route tcp`) in the guise of the WebSocket client `burrow
// access tcp` would be: its bytes are read as masked binary messages (the request's stream
// after the 101), and the messages of the answer are written to it as bytes. So its stream
// takes the path of any WebSocket request: routing, another shard's tunnel connection, the
// access log and metrics. Lives in the connection's coroutine; used on the shard's thread.
class TcpClient final : public http::BodyReader, public http::ResponseWriter {
 public:
  TcpClient(asio::io_context& ioc, tcp::socket sock, std::chrono::milliseconds send_timeout)
      : ioc_(ioc), sock_(std::move(sock)), send_timeout_(send_timeout) {
    std::memcpy(&mask_, base::randomBytes(sizeof mask_).data(), sizeof mask_);
  }
  int status() const { return status_; }
  const std::string& refusal() const { return refusal_; }

  // BodyReader: what the client sends, one binary message per read, then a close message.
  Task<base::Result<size_t>> read(char* buf, size_t len) override {
    if (pos_ == pending_.size()) {
      pending_.clear();
      pos_ = 0;
      if (eof_ || cancelled_) co_return 0;
      auto [ec, n] = co_await sock_.async_read_some(asio::buffer(chunk_.get(), chunk_.size()),
                                                    as_tuple(use_awaitable));
      if (cancelled_) co_return 0;
      mask_ = mask_ * 1664525u + 1013904223u;
      if (n > 0) {
        pending_ = ws::encodeFrame(ws::Opcode::Binary, std::string_view(chunk_.get(), n), mask_);
      } else if (ec == asio::error::eof) {
        pending_ = ws::encodeFrame(ws::Opcode::Close, std::string("\x03\xe8", 2), mask_);
        eof_ = true;  // 1000: normal closure
      } else {
        co_return base::makeError(std::errc::connection_reset, "tcp client: {}", ec.message());
      }
    }
    size_t n = std::min(len, pending_.size() - pos_);
    std::memcpy(buf, pending_.data() + pos_, n);
    pos_ += n;
    co_return n;
  }
  void cancel() override {
    cancelled_ = true;
    boost::system::error_code ignored;
    sock_.shutdown(tcp::socket::shutdown_receive, ignored);
  }

  // ResponseWriter: a 101 opens the stream; any other answer refuses it.
  Task<base::Result<void>> writeHead(http::ResponseHead head) override {
    status_ = head.status;
    co_return base::Result<void>{};
  }
  Task<base::Result<void>> writeBody(const char* data, size_t len) override {
    if (status_ != 101) {  // kept for the log line: why the stream was refused
      refusal_.append(data, std::min(len, kMaxRefusal - std::min(kMaxRefusal, refusal_.size())));
      co_return base::Result<void>{};
    }
    frames_.clear();
    if (auto ok = decoder_.feed(std::string_view(data, len), &frames_); !ok)
      co_return base::Unexpected(ok.error());
    for (const ws::Frame& f : frames_) {
      if (f.op == ws::Opcode::Close) {
        shutdownSend();
        break;
      }
      if (f.op == ws::Opcode::Ping || f.op == ws::Opcode::Pong || f.payload.empty()) continue;
      // A client that takes no bytes for send_timeout is disconnected, as on the http listener.
      Watchdog dog(ioc_, sock_, send_timeout_);
      auto [ec, n] =
          co_await asio::async_write(sock_, asio::buffer(f.payload), as_tuple(use_awaitable));
      if (ec) {
        if (abandoned_) std::exchange(abandoned_, nullptr)();
        co_return base::makeError(std::errc::connection_reset, "tcp client: {}", ec.message());
      }
    }
    co_return base::Result<void>{};
  }
  Task<base::Result<void>> finish() override {
    shutdownSend();
    co_return base::Result<void>{};
  }
  Task<base::Result<void>> flush() override { co_return base::Result<void>{}; }
  bool headWritten() const override { return status_ != 0; }
  void onAbandoned(std::function<void()> fn) override { abandoned_ = std::move(fn); }

 private:
  static constexpr size_t kMaxRefusal = 200;
  void shutdownSend() {
    boost::system::error_code ignored;
    sock_.shutdown(tcp::socket::shutdown_send, ignored);
  }

  asio::io_context& ioc_;
  tcp::socket sock_;
  const std::chrono::milliseconds send_timeout_;
  http::Chunk chunk_;
  std::string pending_;  // a framed message being read out; pos_ bytes of it are
  size_t pos_ = 0;
  uint32_t mask_ = 0;
  bool eof_ = false;  // the close message is (or was) pending: then end of body
  bool cancelled_ = false;
  int status_ = 0;  // of the answer; 0 = none yet
  std::string refusal_;
  ws::Decoder decoder_{/*masked=*/false, /*max_payload=*/1 << 20};
  std::vector<ws::Frame> frames_;
  std::function<void()> abandoned_;
};

}  // namespace

// What the shards share. Only the slow paths touch it: a connection registering or ending,
// a request arriving at a shard with no connection to its tunnel.
struct Edge::Shared {
  explicit Shared(size_t shards) : n(shards) {}
  size_t n;
  ClientLimits limits;
  std::shared_ptr<ConnectionGate> gate;  // made at start(), from limits
  std::mutex mu;
  std::unordered_map<std::string, std::vector<int>> sessions;  // tunnel id -> count per shard
  // Client requests being answered, all shards. Shared with the request coroutines, whose
  // frames can outlive the shards when the io_contexts are torn down at exit.
  std::shared_ptr<std::atomic<int>> in_flight = std::make_shared<std::atomic<int>>(0);
  size_t next_tunnel_shard = 0;  // used on shard 0's thread only
  // The state directory's lock and its list of live connections (see live.h); made at start().
  std::unique_ptr<LiveRegistry> live;
  // Logins' management calls (manage.h): answered on a thread of their own, one at a time
  // (they lock and write the state directory); made at start().
  std::unique_ptr<ManageApi> manage;
  std::unique_ptr<asio::thread_pool> manage_pool;
  std::atomic<int> manage_conns{0};
  // ACME (setAcme): HTTP-01 tokens answered on the http listener, and the issuer's thread.
  std::shared_ptr<AcmeTokens> acme_tokens;
  std::unique_ptr<AcmeIssuer> issuer;

  // What --metrics reports. Requests are counted only when it is on (set before start()).
  bool metrics_on = false;
  std::mutex metrics_mu;
  std::map<std::pair<std::string, int>, uint64_t> requests;  // (tunnel name, code); metrics_mu
  std::map<std::string, uint64_t> response_bytes;            // tunnel name; metrics_mu
  std::atomic<uint64_t> tls_ok{0}, tls_failed{0};

  // What the dashboard (--admin) shows beyond the counters: traffic by tunnel sampled every
  // 10 s for the last hour, and the last 5xx answers. Guarded by metrics_mu.
  bool admin_on = false;
  int64_t started_unix = 0;
  struct Sample {
    int64_t unix = 0;
    std::map<std::string, std::pair<uint64_t, uint64_t>> totals;  // tunnel -> (requests, 5xx)
  };
  std::deque<Sample> samples;  // oldest first, at most kSamples
  static constexpr size_t kSamples = 361;
  std::deque<http::AccessEntry> recent_errors;  // newest last, at most kRecentErrors
  static constexpr size_t kRecentErrors = 20;

  void noteAnswer(const http::AccessEntry& e) {
    if (!admin_on || e.status < 500) return;
    std::lock_guard lock(metrics_mu);
    recent_errors.push_back(e);
    if (recent_errors.size() > kRecentErrors) recent_errors.pop_front();
  }
  // Requests and 5xx answers by tunnel so far. Caller holds metrics_mu.
  std::map<std::string, std::pair<uint64_t, uint64_t>> totalsLocked() const {
    std::map<std::string, std::pair<uint64_t, uint64_t>> out;
    for (const auto& [k, count] : requests) {
      auto& t = out[k.first];
      t.first += count;
      if (k.second >= 500) t.second += count;
    }
    return out;
  }
  void sample(int64_t now) {
    std::lock_guard lock(metrics_mu);
    samples.push_back({now, totalsLocked()});
    if (samples.size() > kSamples) samples.pop_front();
  }

  void countRequest(const std::string& tunnel, int status, uint64_t bytes) {
    std::lock_guard lock(metrics_mu);
    ++requests[{tunnel, status}];
    response_bytes[tunnel] += bytes;
  }
  // Live connector connections by tunnel id, all shards.
  std::map<std::string, int> liveByTunnel() {
    std::lock_guard lock(mu);
    std::map<std::string, int> out;
    for (const auto& [id, counts] : sessions)
      for (int c : counts) out[id] += c;
    return out;
  }

  void count(const std::string& tunnel_id, size_t shard, int delta) {
    std::lock_guard lock(mu);
    auto& v = sessions[tunnel_id];
    v.resize(n);
    v[shard] += delta;
    if (std::all_of(v.begin(), v.end(), [](int c) { return c == 0; })) sessions.erase(tunnel_id);
  }
  // Another shard with a connection to the tunnel, preferring the one with the most.
  std::optional<size_t> shardWith(const std::string& tunnel_id, size_t except) {
    std::lock_guard lock(mu);
    auto it = sessions.find(tunnel_id);
    if (it == sessions.end()) return std::nullopt;
    std::optional<size_t> best;
    for (size_t i = 0; i < it->second.size(); ++i)
      if (i != except && it->second[i] > 0 && (!best || it->second[i] > it->second[*best]))
        best = i;
    return best;
  }
};

struct Edge::Shard : http::Handler {
  Shard(Edge& e, asio::io_context& io, size_t i) : edge(e), ioc(io), index(i) {}

  // One client connection of this shard: its place in the gate, and, while it waits for a
  // request, its place in the idle list, oldest first, from which room is made when every
  // slot is taken (as nginx reuses idle keep-alive connections). Lives in the connection's
  // coroutine; used on the shard's thread only. It shares the idle list rather than point at
  // the shard: coroutine frames can outlive the shard when the io_contexts are torn down.
  struct Slot;
  using IdleList = std::list<Slot*>;
  struct Slot {
    Slot(std::shared_ptr<IdleList> l, int f) : list(std::move(l)), fd(f) {}
    ~Slot() { setIdle(false); }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    void setIdle(bool idle) {
      if (idle == idle_pos.has_value()) return;
      if (idle) {
        idle_pos = list->insert(list->end(), this);
      } else {
        list->erase(*idle_pos);
        idle_pos.reset();
      }
    }
    std::shared_ptr<IdleList> list;
    int fd;  // not owned: the connection's socket, shut down to evict it
    ConnectionGate::Ticket ticket;
    std::optional<std::list<Slot*>::iterator> idle_pos;  // set while idle
  };

  struct Live {
    std::vector<std::shared_ptr<H2Session>> sessions;
    size_t next = 0;
  };

  // Serves requests that another shard forwarded here: they carry X-Forwarded-* already.
  struct Forwarded : http::Handler {
    explicit Forwarded(Shard& s) : shard(s) {}
    Task<void> handle(http::RequestHead& req, http::BodyReader& body,
                      http::ResponseWriter& out) override {
      co_await shard.serve(req, body, out, true, nullptr);
    }
    Shard& shard;
  };

  // The --metrics listener's requests (shard 0 only): small fixed answers, never routed.
  struct Metrics : http::Handler {
    explicit Metrics(Shard& s) : shard(s) {}
    Task<void> handle(http::RequestHead& req, http::BodyReader&,
                      http::ResponseWriter& out) override {
      std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
      http::ResponseHead head;
      std::string body;
      if (path == "/ready") {
        head.status = 200;
        body = "{\"status\":200}\n";
        head.headers.push_back({"content-type", "application/json"});
      } else if (path == "/metrics") {
        head.status = 200;
        body = shard.metricsText();
        head.headers.push_back({"content-type", "text/plain; version=0.0.4; charset=utf-8"});
      } else {
        head.status = 404;
        body = "not found: try /ready or /metrics\n";
      }
      head.content_length = body.size();
      if (!co_await out.writeHead(std::move(head))) co_return;
      if (req.method != "HEAD" && !co_await out.writeBody(body.data(), body.size())) co_return;
      (void)co_await out.finish();
    }
    Shard& shard;
  };

  static std::string label(std::string_view v) {
    std::string out;
    for (char c : v) {
      if (c == '\\' || c == '"') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    return out;
  }

  // Prometheus' text format. Tunnels by name (an id when the name is not known here).
  std::string metricsText() {
    Shared& sh = *edge.shared_;
    std::string out;
    auto metric = [&](std::string_view name, std::string_view type, std::string_view help) {
      out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    };
    metric("burrow_edge_requests_total", "counter",
           "Client requests answered, by tunnel (empty: no route) and status code.");
    std::map<std::pair<std::string, int>, uint64_t> requests;
    std::map<std::string, uint64_t> bytes;
    {
      std::lock_guard lock(sh.metrics_mu);
      requests = sh.requests;
      bytes = sh.response_bytes;
    }
    for (const auto& [k, n] : requests)
      out += fmt::format("burrow_edge_requests_total{{tunnel=\"{}\",code=\"{}\"}} {}\n",
                         label(k.first), k.second, n);
    metric("burrow_edge_response_bytes_total", "counter", "Body bytes sent to clients, by tunnel.");
    for (const auto& [t, n] : bytes)
      out += fmt::format("burrow_edge_response_bytes_total{{tunnel=\"{}\"}} {}\n", label(t), n);
    metric("burrow_edge_requests_in_flight", "gauge", "Client requests being answered.");
    out += fmt::format("burrow_edge_requests_in_flight {}\n", sh.in_flight->load());
    metric("burrow_edge_client_connections", "gauge", "Open client connections.");
    out += fmt::format("burrow_edge_client_connections {}\n", sh.gate ? sh.gate->open() : 0);
    metric("burrow_edge_tunnel_connections", "gauge",
           "Registered connector connections, by tunnel.");
    for (const auto& [id, n] : sh.liveByTunnel())
      out += fmt::format("burrow_edge_tunnel_connections{{tunnel=\"{}\"}} {}\n",
                         label(tunnelName(id)), n);
    metric("burrow_edge_tls_handshakes_total", "counter",
           "TLS handshakes on the https listener, by result.");
    out += fmt::format("burrow_edge_tls_handshakes_total{{result=\"ok\"}} {}\n", sh.tls_ok.load());
    out += fmt::format("burrow_edge_tls_handshakes_total{{result=\"failed\"}} {}\n",
                       sh.tls_failed.load());
    metric("burrow_edge_refused_connections_total", "counter",
           "Client connections refused, by the limit they met.");
    ConnectionGate::Refusals r = sh.gate ? sh.gate->refusedEver() : ConnectionGate::Refusals{};
    out += fmt::format(
        "burrow_edge_refused_connections_total{{limit=\"max_connections_per_client\"}} {}\n",
        r.per_client);
    out += fmt::format("burrow_edge_refused_connections_total{{limit=\"max_connections\"}} {}\n",
                       r.total);
    return out;
  }

  Edge& edge;
  asio::io_context& ioc;
  const size_t index;
  Forwarded from_shards{*this};
  Metrics metrics{*this};

  // The dashboard's data (--admin; shard 0's thread): this shard's copy of the state, the live
  // connections, the ACME certificates, and the traffic Shared keeps.
  struct Dashboard : admin::Source {
    explicit Dashboard(Shard& s) : shard(s) {}
    std::string snapshotJson() override { return shard.dashboardJson(); }
    Shard& shard;
  };
  Dashboard dashboard_source{*this};
  std::unique_ptr<admin::Handler> dashboard;

  std::string dashboardJson() {
    using json = nlohmann::json;
    Shared& sh = *edge.shared_;
    const int64_t now = ::time(nullptr);
    std::map<std::string, std::pair<uint64_t, uint64_t>> totals;
    std::deque<Shared::Sample> samples;
    std::deque<http::AccessEntry> errors;
    {
      std::lock_guard lock(sh.metrics_mu);
      totals = sh.totalsLocked();
      samples = sh.samples;
      errors = sh.recent_errors;
    }
    samples.push_back({now, totals});
    // The totals of TUNNEL at the sample nearest `at` (at or after it).
    auto at = [&](const std::string& tunnel, int64_t t) -> std::pair<uint64_t, uint64_t> {
      for (const auto& s : samples)
        if (s.unix >= t) {
          auto it = s.totals.find(tunnel);
          return it == s.totals.end() ? std::pair<uint64_t, uint64_t>{} : it->second;
        }
      return {};
    };
    std::vector<LiveConnection> conns_now =
        sh.live ? sh.live->snapshot() : std::vector<LiveConnection>{};
    json tunnels = json::array();
    for (const TunnelRecord& t : state.tunnels()) {
      json conns = json::array();
      for (const LiveConnection& c : conns_now)
        if (c.tunnel_id == t.id)
          conns.push_back({{"connector_id", c.connector_id},
                           {"connection_id", c.connection_id},
                           {"index", c.index},
                           {"peer", c.peer},
                           {"since", c.since_unix},
                           {"version", c.version}});
      json hosts = json::array();
      for (const RouteRecord& r : state.routes())
        if (r.tunnel_id == t.id) hosts.push_back(r.hostname);
      // Per minute over the last hour, oldest first, from the 10 s samples.
      const int64_t first = samples.empty() ? now : samples.front().unix;
      json reqs = json::array(), errs = json::array();
      for (int m = 59; m >= 0; --m) {
        int64_t from = now - (m + 1) * 60, to = now - m * 60;
        if (to <= first) continue;
        auto a = at(t.name, std::max(from, first)), b = at(t.name, to);
        reqs.push_back(b.first - a.first);
        errs.push_back(b.second - a.second);
      }
      auto cur = totals[t.name];
      int64_t window_from = std::max(now - 60, first);
      auto minute_ago = at(t.name, window_from);
      double rps = now > window_from ? static_cast<double>(cur.first - minute_ago.first) /
                                           static_cast<double>(now - window_from)
                                     : 0.0;
      auto hour_ago = at(t.name, std::max(now - 3600, first));
      tunnels.push_back({{"name", t.name},
                         {"id", t.id},
                         {"created", t.created_unix},
                         {"hostnames", hosts},
                         {"connections", conns},
                         {"traffic",
                          {{"rps", rps},
                           {"requests_hour", cur.first - hour_ago.first},
                           {"errors_hour", cur.second - hour_ago.second},
                           {"requests", reqs},
                           {"errors", errs}}}});
    }
    json routes = json::array();
    for (const RouteRecord& r : state.routes())
      routes.push_back(
          {{"hostname", r.hostname}, {"tunnel", tunnelName(r.tunnel_id)}, {"kind", "http"}});
    for (const TcpRouteRecord& r : state.tcpRoutes())
      routes.push_back({{"hostname", r.hostname},
                        {"tunnel",
                         [&] {
                           for (const RouteRecord& h : state.routes())
                             if (h.hostname == r.hostname) return tunnelName(h.tunnel_id);
                           return std::string("-");
                         }()},
                        {"kind", fmt::format("tcp:{}", r.port)}});
    json got = json::array();
    if (auto list = listEdgeCertificates(state.dir()))
      for (const CertInfo& c : *list)
        got.push_back({{"hostname", c.name},
                       {"issuer", c.issuer},
                       {"not_after", c.not_after},
                       {"error", c.last_error}});
    json recent = json::array();
    for (auto it = errors.rbegin(); it != errors.rend(); ++it)
      recent.push_back({{"time", std::chrono::system_clock::to_time_t(it->time)},
                        {"tunnel", it->tunnel},
                        {"status", it->status},
                        {"method", it->method},
                        {"host", it->host},
                        {"target", it->target},
                        {"client", it->client}});
    json listeners = json::object();
    for (auto [name, ep] : {std::pair{"http", edge.http_ep_},
                            {"https", edge.https_ep_},
                            {"tunnel", edge.tunnel_ep_},
                            {"metrics", edge.metrics_ep_},
                            {"admin", edge.admin_ep_}})
      if (ep) listeners[name] = formatEndpoint(*ep);
    json out = {{"now", now},
                {"started", sh.started_unix},
                {"listeners", listeners},
                {"tunnels", tunnels},
                {"routes", routes},
                {"certificates", got},
                {"recent_errors", recent}};
    return out.dump(-1, ' ', false, json::error_handler_t::replace);
  }

  // Every 10 s, the traffic totals for the dashboard's last hour.
  Task<void> sampleTraffic() {
    asio::steady_timer t(ioc);
    while (!stopping) {
      t.expires_after(std::chrono::seconds(10));
      auto [ec] = co_await t.async_wait(as_tuple(use_awaitable));
      if (ec || stopping) co_return;
      edge.shared_->sample(::time(nullptr));
    }
  }
  EdgeState state;
  std::unique_ptr<asio::ssl::context> tunnel_tls;
  // The SNI callback of https_tls points at it: declared first so that it outlives it.
  std::shared_ptr<CertSelector> certs;
  std::unique_ptr<asio::ssl::context> https_tls;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::unordered_map<std::string, Live> live;  // tunnel id -> registered connections
  // Client connections waiting for a request, longest-waiting first.
  std::shared_ptr<IdleList> idle_slots = std::make_shared<IdleList>();
  bool stopping = false;
  struct stat loaded_stat {};  // of state.json when last loaded; st_ino 0 = not yet

  // Re-reads the state when state.json changed since it was loaded (one stat(2) otherwise),
  // so `edge tunnel create` and `edge route dns` take effect without a SIGHUP.
  bool refreshIfChanged() {
    struct stat st {};
    if (::stat(state.statePath().c_str(), &st) != 0) return false;
    if (st.st_ino == loaded_stat.st_ino && st.st_size == loaded_stat.st_size &&
        st.st_mtim.tv_sec == loaded_stat.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == loaded_stat.st_mtim.tv_nsec)
      return false;
    reload();
    return true;
  }

  void reload() {
    auto fresh = EdgeState::open(state.dir());
    if (!fresh) {
      LOG_ERROR("reload failed, keeping the previous state error={}", fresh.error().message());
      return;
    }
    state = std::move(*fresh);
    rememberStat();
    // Tunnels that no longer exist lose their connections.
    for (auto& [id, l] : live) {
      if (state.findTunnel(id)) continue;
      for (auto& s : l.sessions) s->close();
    }
    if (index == 0)
      LOG_INFO("reloaded tunnels={} routes={} tcp_routes={}", state.tunnels().size(),
               state.routes().size(), state.tcpRoutes().size());
    syncTcpRoutes();
  }

  // The listeners of TCP routes (`edge route tcp`), by port. A listener stays while its route
  // does: deleting the route closes it; streams already open finish as they would.
  struct TcpListener {
    std::string hostname;
    std::shared_ptr<tcp::acceptor> acc;  // shared with its accept loop
  };
  std::map<uint16_t, TcpListener> tcp_listeners;
  std::set<uint16_t> tcp_unbound;  // routes whose port could not be bound (logged once)

  // Opens and closes the listeners of TCP routes to match the state. A port that cannot be
  // bound is logged and tried again every kWatchEvery, without holding anything else up.
  void syncTcpRoutes() {
    if (stopping || edge.tcp_listen_addr_.empty()) return;
    const auto& routes = state.tcpRoutes();
    for (auto it = tcp_listeners.begin(); it != tcp_listeners.end();) {
      bool kept = std::any_of(routes.begin(), routes.end(), [&](const TcpRouteRecord& r) {
        return r.port == it->first && r.hostname == it->second.hostname;
      });
      if (kept) {
        ++it;
        continue;
      }
      boost::system::error_code ignored;
      it->second.acc->close(ignored);
      if (index == 0)
        LOG_INFO("tcp route closed port={} hostname={}", it->first, it->second.hostname);
      it = tcp_listeners.erase(it);
    }
    std::erase_if(tcp_unbound, [&](uint16_t port) {
      return std::none_of(routes.begin(), routes.end(),
                          [&](const TcpRouteRecord& r) { return r.port == port; });
    });
    for (const TcpRouteRecord& r : routes) {
      if (tcp_listeners.contains(r.port)) continue;
      const std::string addr = withPort(edge.tcp_listen_addr_, r.port);
      base::Result<tcp::acceptor> acc = base::invalid("");
      std::string why = "the port is one of the edge's own listeners";
      if (!ownPort(r.port)) {
        acc = listen(ioc, addr, "tcp-route", edge.shards_.size() > 1);
        if (!acc) why = acc.error().code.message();
      }
      if (!acc) {
        if (tcp_unbound.insert(r.port).second)
          LOG_ERROR("tcp route cannot listen addr={} hostname={} shard={} error={}", addr,
                    r.hostname, index, why);
        continue;
      }
      tcp_unbound.erase(r.port);
      auto shared = std::make_shared<tcp::acceptor>(std::move(*acc));
      tcp_listeners[r.port] = TcpListener{r.hostname, shared};
      if (index == 0)
        LOG_INFO("tcp route listening addr={} hostname={}",
                 formatEndpoint(shared->local_endpoint()), r.hostname);
      asio::co_spawn(ioc,
                     acceptLoop(*shared, "tcp-route", true,
                                [this, shared, host = r.hostname](tcp::socket sock,
                                                                  std::unique_ptr<Slot> slot) {
                                  slot->setIdle(false);  // a stream, not a wait for a request
                                  return serveTcp(std::move(sock), std::move(slot), host);
                                }),
                     asio::detached);
    }
  }

  bool ownPort(uint16_t port) const {
    for (const auto& ep :
         {edge.http_ep_, edge.https_ep_, edge.tunnel_ep_, edge.metrics_ep_, edge.admin_ep_})
      if (ep && ep->port() == port) return true;
    return false;
  }

  // One client of a TCP route: carried as the WebSocket stream `burrow access tcp --hostname
  // HOST` would open, through handle() like any request.
  // `slot` holds the connection's place in the gate until the stream ends.
  Task<void> serveTcp(tcp::socket sock, std::unique_ptr<Slot> slot, std::string hostname) {
    CHECK(slot != nullptr);
    boost::system::error_code ec;
    auto peer = sock.remote_endpoint(ec);
    http::RequestHead req;
    req.method = "GET";
    req.target = "/";
    req.scheme = "tcp";
    req.authority = hostname;
    req.upgrade_websocket = true;
    req.client_ip = ec ? "" : peer.address().to_string();
    req.headers.push_back({"sec-websocket-key", base::base64Encode(base::randomBytes(16))});
    req.headers.push_back({"sec-websocket-version", "13"});
    sock.set_option(tcp::no_delay(true), ec);  // interactive streams (ssh): no Nagle
    TcpClient client(ioc, std::move(sock), edge.shared_->limits.send_timeout);
    co_await handle(req, client, client);
    if (client.status() != 101) {
      std::string why = client.refusal();
      while (!why.empty() && (why.back() == '\n' || why.back() == '\r')) why.pop_back();
      LOG_WARN("tcp route stream refused hostname={} client={} status={} detail={}", hostname,
               req.client_ip, client.status(), why);
    }
  }

  void rememberStat() {
    if (::stat(state.statePath().c_str(), &loaded_stat) != 0) loaded_stat = {};
  }

  // Looks at state.json every kWatchEvery, so that what `edge tunnel delete` and `edge route`
  // change is applied within a second without a SIGHUP: a deleted tunnel's connectors are
  // dropped, a deleted route stops being served.
  std::unique_ptr<asio::steady_timer> watch_timer;
  Task<void> watchState() {
    while (!stopping) {
      watch_timer->expires_after(kWatchEvery);
      auto [ec] = co_await watch_timer->async_wait(as_tuple(use_awaitable));
      if (ec || stopping) co_return;
      if (!refreshIfChanged() && !tcp_unbound.empty()) syncTcpRoutes();
    }
  }

  std::shared_ptr<H2Session> pick(const std::string& tunnel_id) {
    auto it = live.find(tunnel_id);
    if (it == live.end()) return nullptr;
    auto& l = it->second;
    std::shared_ptr<H2Session> best;
    size_t n = l.sessions.size();
    for (size_t i = 0; i < n; ++i) {
      auto& s = l.sessions[(l.next + i) % n];
      if (s->draining()) continue;
      if (!best || s->activeStreams() < best->activeStreams()) best = s;
    }
    if (n) l.next = (l.next + 1) % n;
    return best;
  }

  std::string tunnelName(const std::string& id) const {
    const TunnelRecord* t = state.findTunnel(id);
    return t ? t->name : id;
  }

  Task<void> handle(http::RequestHead& req, http::BodyReader& body,
                    http::ResponseWriter& out) override {
    auto log = edge.access_log_;
    const bool counted = edge.shared_->metrics_on;
    if (!log && !counted) {
      co_await serve(req, body, out, false, nullptr);
      co_return;
    }
    // Logged and counted by the shard the client is connected to, once, also when another
    // shard serves it.
    http::AccessRecorder rec(req, out);
    co_await serve(req, body, rec, false, &rec);
    const http::AccessEntry& e = rec.entry();
    if (log) log->write(e);
    if (counted) {
      edge.shared_->countRequest(e.tunnel, e.status, e.bytes);
      edge.shared_->noteAnswer(e);
    }
  }

  // Hands the request to shard `to` over a fresh socketpair and relays its answer.
  Task<void> forwardTo(Shard& to, http::RequestHead& req, http::BodyReader& body,
                       http::ResponseWriter& out, http::AccessRecorder* rec) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      co_await http::respondText(out, 502, base::sysError("socketpair").value().message());
      co_return;
    }
    const asio::generic::stream_protocol unix_stream(AF_UNIX, SOCK_STREAM);
    asio::post(to.ioc, [&to, fd = fds[1], unix_stream] {
      http::LocalSocket peer(to.ioc);
      boost::system::error_code ec;
      peer.assign(unix_stream, fd, ec);
      if (ec) {
        ::close(fd);
        return;
      }
      asio::co_spawn(to.ioc,
                     http::serveHttp1(std::move(peer), to.from_shards, to.serverLimits(nullptr)),
                     asio::detached);
    });
    http::LocalSocket mine(ioc);
    boost::system::error_code ec;
    mine.assign(unix_stream, fds[0], ec);
    if (ec) {
      ::close(fds[0]);
      co_await http::respondText(out, 502, ec.message());
      co_return;
    }
    LOG_DEBUG("request forwarded from_shard={} to_shard={} host={} method={}", index, to.index,
              req.authority, req.method);
    if (rec) rec->upstreamSent();
    co_await http::forward(std::move(mine), req, body, out);
  }

  // `forwarded`: another shard sent the request here; it is not forwarded again. `rec`: the
  // access log's record of it, told the tunnel and the upstream time (nullptr: not logged).
  Task<void> serve(http::RequestHead& req, http::BodyReader& body, http::ResponseWriter& out,
                   bool forwarded, http::AccessRecorder* rec) {
    // A forwarded request is counted once, by the shard its client is connected to.
    struct Count {
      std::shared_ptr<std::atomic<int>> n;
      ~Count() {
        if (n) n->fetch_sub(1, std::memory_order_relaxed);
      }
    } count{forwarded ? nullptr : edge.shared_->in_flight};
    if (count.n) count.n->fetch_add(1, std::memory_order_relaxed);
    if (req.version == 20 && !forwarded) {
      // HTTP/1.1 heads were checked as they were parsed; HTTP/2's are checked here.
      if (auto ok = http::checkTarget(req); !ok) {
        co_await http::respondText(out, 400, ok.error().message());
        co_return;
      }
    }
    if (!forwarded && req.scheme == "http" && edge.shared_->acme_tokens &&
        req.target.starts_with(kAcmeChallengePath)) {
      // HTTP-01 (RFC 8555 section 8.3): answered before routing, for any host.
      std::string_view token = std::string_view(req.target).substr(kAcmeChallengePath.size());
      if (auto key_auth = edge.shared_->acme_tokens->find(token)) {
        co_await answerChallenge(*key_auth, out);
        co_return;
      }
    }
    std::string host = stripPort(req.authority);
    std::optional<std::string> tunnel_id =
        edge.default_tunnel_ ? edge.default_tunnel_ : state.routeFor(host);
    if (!tunnel_id && refreshIfChanged()) tunnel_id = state.routeFor(host);
    if (!tunnel_id) {
      LOG_DEBUG("route miss host={}", host);
      co_await http::respondText(out, 404, "no tunnel serves this host");
      co_return;
    }
    if (rec) rec->setTunnel(tunnelName(*tunnel_id));
    if (!forwarded && edge.redirect_https_ && req.scheme == "http" &&
        !req.target.starts_with(kAcmeChallengePath)) {
      co_await redirectToHttps(req, host, out);
      co_return;
    }
    if (!forwarded) {
      // X-Forwarded-*: append the peer to any chain the client sent.
      bool have_xff = false;
      for (auto& h : req.headers) {
        if (h.name == "x-forwarded-for") {
          h.value += ", " + req.client_ip;
          have_xff = true;
        }
      }
      // The client's own copies of the headers the edge sets are dropped, unread: only the
      // edge may name the client's address to the connector.
      std::erase_if(req.headers, [](const http::Header& h) {
        return h.name == "x-forwarded-proto" || h.name == "x-forwarded-host" ||
               h.name == kClientIpHeader;
      });
      if (!req.client_ip.empty())
        req.headers.push_back({std::string(kClientIpHeader), req.client_ip});
      if (!have_xff) req.headers.push_back({"x-forwarded-for", req.client_ip});
      req.headers.push_back({"x-forwarded-proto", req.scheme});
      req.headers.push_back({"x-forwarded-host", req.authority});
      if (!live.contains(*tunnel_id)) {
        if (auto other = edge.shared_->shardWith(*tunnel_id, index)) {
          co_await forwardTo(*edge.shards_[*other], req, body, out, rec);
          co_return;
        }
      }
    }

    co_await relay(req, body, out, *tunnel_id, host, rec);
  }

  Task<void> answerChallenge(const std::string& key_auth, http::ResponseWriter& out) {
    http::ResponseHead head;
    head.status = 200;
    head.headers.push_back({"content-type", "application/octet-stream"});
    head.content_length = key_auth.size();
    if (!co_await out.writeHead(std::move(head))) co_return;
    if (!co_await out.writeBody(key_auth.data(), key_auth.size())) co_return;
    (void)co_await out.finish();
  }

  // 308 to the same URL on the https listener (its port named unless it is 443). 308 keeps
  // the method and body, as 301 and 302 do not.
  Task<void> redirectToHttps(const http::RequestHead& req, const std::string& host,
                             http::ResponseWriter& out) {
    uint16_t port = edge.https_ep_ ? edge.https_ep_->port() : 443;
    std::string authority = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    if (port != 443) authority += ":" + std::to_string(port);
    std::string location = "https://" + authority + req.target;
    std::string body = fmt::format("308 Permanent Redirect\n{}\n", location);
    http::ResponseHead head;
    head.status = 308;
    head.headers.push_back({"location", location});
    head.headers.push_back({"content-type", "text/plain; charset=utf-8"});
    head.content_length = body.size();
    if (!co_await out.writeHead(std::move(head))) co_return;
    if (req.method != "HEAD" && !co_await out.writeBody(body.data(), body.size())) co_return;
    (void)co_await out.finish();
  }

  // Opens the stream for `req` and waits for its answer's head. A connector that is draining
  // refuses streams it had not seen when it sent GOAWAY; nothing of those reached an origin,
  // so a body-less request moves to another connection (a replica, or a connection that
  // reconnected).
  template <class StartUpload>
  Task<base::Result<http::ResponseHead>> firstAnswer(http::RequestHead& req,
                                                     const std::string& tunnel_id,
                                                     const std::string& host,
                                                     std::shared_ptr<H2Stream>& st,
                                                     StartUpload& startUpload, const bool& gone) {
    for (int attempt = 0;; ++attempt) {
      auto session = pick(tunnel_id);
      if (!session)
        co_return base::makeError(std::errc::not_connected, "tunnel '{}' has no live connector",
                                  tunnelName(tunnel_id));
      auto opened = session->openStream(req);
      if (!opened) co_return base::Unexpected(opened.error());
      st = *opened;
      if (gone) st->cancel();  // the client left while a retry was being opened
      if (req.has_body) startUpload();
      auto head = co_await st->responseHead();
      // A connection that closed under the stream (a connector finishing its drain) may
      // have passed the request on: only idempotent methods are sent again then.
      bool idempotent = req.method == "GET" || req.method == "HEAD" || req.method == "OPTIONS";
      bool retry = !head && !req.has_body && !req.upgrade_websocket && attempt < 2 &&
                   (st->closeCode() == NGHTTP2_REFUSED_STREAM ||
                    (idempotent && st->closeCode() == NGHTTP2_CONNECT_ERROR));
      if (!retry) co_return head;
      LOG_DEBUG("stream refused by a draining connector, retrying host={}", host);
    }
  }

  void noLiveConnector(const std::string& tunnel_id) {
    static base::EverySecond log;
    if (uint64_t n = log.admit())
      LOG_WARN("requests for a tunnel with no live connector tunnel={} requests={}",
               tunnelName(tunnel_id), n);
  }

  // Sends one routed request through the tunnel and relays the answer back (a coroutine of
  // its own, so that each frame stays small enough for Asio's recycling allocator).
  Task<void> relay(http::RequestHead& req, http::BodyReader& body, http::ResponseWriter& out,
                   const std::string& tunnel_id, const std::string& host,
                   http::AccessRecorder* rec) {
    auto ex = co_await asio::this_coro::executor;
    std::shared_ptr<H2Stream> st;
    std::shared_ptr<Done> up;
    // The client's body (or upgraded stream) into the tunnel; a failure resets the stream so
    // that the connector stops waiting for it.
    auto startUpload = [&] {
      up = std::make_shared<Done>(ex);
      asio::co_spawn(
          ex,
          [&body, st, up]() -> Task<void> {
            co_await pipe(body, *st, up);
            if (!up->ok) st->cancel();
          },
          asio::detached);
    };
    // A client that goes away takes its tunnel stream with it: the connector then stops
    // the origin request.
    // It may be gone already (closed right after sending): then no stream is opened at all.
    bool gone = false;
    out.onAbandoned([&st, &gone] {
      gone = true;
      if (st) st->cancel();
    });
    struct Unhook {
      http::ResponseWriter& w;
      ~Unhook() { w.onAbandoned(nullptr); }
    } unhook{out};
    if (gone) {
      LOG_DEBUG("client gone before its request was sent client={} host={}", req.client_ip, host);
      co_return;
    }
    if (rec) rec->upstreamSent();
    auto head = co_await firstAnswer(req, tunnel_id, host, st, startUpload, gone);
    if (!head) {
      if (up && !up->done) body.cancel();
      while (up && !up->done) co_await up->ev.wait();
      auto why = up && up->read_error ? up->read_error->code : std::error_code();
      if (why == std::errc::bad_message) {
        co_await http::respondText(out, 400, up->read_error->message());
      } else if (why == std::errc::timed_out) {
        LOG_DEBUG("request body timed out client={} host={}", req.client_ip, host);
        co_await http::respondText(out, 408, up->read_error->message());
      } else if (gone) {
        // The client left and took its stream with it: nobody to answer (the access log
        // says 499, as nginx does), rather than a 502 to a closed connection.
        LOG_DEBUG("client gone before the answer client={} host={}", req.client_ip, host);
      } else {
        if (head.error().code == std::errc::not_connected) noLiveConnector(tunnel_id);
        co_await http::respondText(out, 502, head.error().message());
      }
      co_return;
    }
    if (head->status == 101 && !req.upgrade_websocket) head->status = 502;
    const int status = head->status;
    if (!co_await out.writeHead(std::move(*head))) {
      st->cancel();
    } else {
      if (status == 101) startUpload();  // now the client's bytes are the stream
      if (!st->hasBufferedInput()) (void)co_await out.flush();
      auto down = std::make_shared<Done>(ex);
      co_await pipe(*st, out, down);
      if (!down->ok) st->cancel();
    }
    if (up && !up->done) {
      if (status == 101) {
        body.cancel();  // the origin closed the upgraded stream: stop reading the client
      } else if (!st->inputComplete()) {
        body.cancel();
      }
    }
    while (up && !up->done) co_await up->ev.wait();
  }

  // On shard 0: deals each tunnel connection out to the shards in turn, so that a
  // connector's HA connections spread over them.
  Task<void> dealTunnel(tcp::socket sock) {
    auto& sh = *edge.shared_;
    Shard& to = *edge.shards_[sh.next_tunnel_shard++ % sh.n];
    if (&to == this) {
      co_await tunnelConnection(std::move(sock));
      co_return;
    }
    boost::system::error_code ec;
    auto protocol = sock.local_endpoint(ec).protocol();
    int fd = ec ? -1 : sock.release(ec);
    if (ec || fd < 0) co_return;
    asio::post(to.ioc, [&to, protocol, fd] {
      tcp::socket s(to.ioc);
      boost::system::error_code e;
      s.assign(protocol, fd, e);
      if (e) {
        ::close(fd);
        return;
      }
      asio::co_spawn(to.ioc, to.tunnelConnection(std::move(s)), asio::detached);
    });
  }

  void closeSessions() {
    for (auto& [id, l] : live)
      for (auto& s : l.sessions) s->close();
  }

  // Takes a slot in the gate for a new client connection, making room by closing the
  // longest-idle connection of this shard when every slot is taken. A refused connection costs
  // its accept and a close (with RST: no TIME_WAIT kept for it). Null when refused.
  std::unique_ptr<Slot> admitClient(tcp::socket& sock) {
    auto& gate = *edge.shared_->gate;
    boost::system::error_code ec;
    auto peer = sock.remote_endpoint(ec);
    auto slot = std::make_unique<Slot>(idle_slots, sock.native_handle());
    auto verdict =
        ec ? ConnectionGate::Verdict::TotalFull : gate.admit(peer.address(), &slot->ticket);
    if (verdict == ConnectionGate::Verdict::TotalFull && !ec && evictIdle())
      verdict = gate.admit(peer.address(), &slot->ticket, true);
    if (verdict == ConnectionGate::Verdict::Admitted) {
      slot->setIdle(true);  // until its first request arrives
      return slot;
    }
    sock.set_option(asio::socket_base::linger(true, 0), ec);
    sock.close(ec);
    if (auto r = gate.refusalsToReport(std::chrono::steady_clock::now()))
      LOG_WARN(
          "client connections refused per_client_limit={} total_limit={} "
          "max_connections_per_client={} max_connections={}",
          r->per_client, r->total, gate.maxPerClient(), gate.maxTotal());
    return nullptr;
  }

  // Closes the connection of this shard that has waited longest for a request.
  bool evictIdle() {
    if (idle_slots->empty()) return false;
    Slot* s = idle_slots->front();
    s->setIdle(false);  // never picked twice; its ticket goes back when its coroutine ends
    ::shutdown(s->fd, SHUT_RDWR);
    LOG_DEBUG("idle client connection closed to make room shard={}", index);
    return true;
  }

  // Accepts until the listener closes; each connection runs `serve` in its own coroutine,
  // given its gate slot when `gated` (client listeners). A failing accept (out of fds, say)
  // pauses the loop briefly instead of spinning.
  template <class Serve>
  Task<void> acceptLoop(tcp::acceptor& acc, std::string_view what, bool gated, Serve serve) {
    asio::steady_timer pause(ioc);
    for (;;) {
      auto [ec, sock] = co_await acc.async_accept(as_tuple(use_awaitable));
      if (ec) {
        if (stopping || ec == asio::error::operation_aborted) co_return;
        LOG_WARN("accept failed listener={} error={}", what, ec.message());
        pause.expires_after(std::chrono::milliseconds(100));
        co_await pause.async_wait(as_tuple(use_awaitable));
        continue;
      }
      std::unique_ptr<Slot> slot;
      if (gated && !(slot = admitClient(sock))) continue;
      asio::co_spawn(ioc, serve(std::move(sock), std::move(slot)), asio::detached);
    }
  }

  // Keeps the listener and runs its accept loop; returns the address it is bound to.
  template <class Serve>
  tcp::endpoint serveOn(tcp::acceptor acc, std::string_view what, bool gated, Serve serve) {
    tcp::endpoint ep = acc.local_endpoint();
    acceptors.push_back(std::make_unique<tcp::acceptor>(std::move(acc)));
    asio::co_spawn(ioc, acceptLoop(*acceptors.back(), what, gated, std::move(serve)),
                   asio::detached);
    return ep;
  }

  http::ServerLimits serverLimits(Slot* slot) const {
    const ClientLimits& l = edge.shared_->limits;
    http::ServerLimits s;
    s.max_head_bytes = l.max_head_bytes;
    s.idle_timeout = l.idle_timeout;
    s.body_timeout = l.body_timeout;
    s.send_timeout = l.send_timeout;
    if (slot) s.on_idle = [slot](bool idle) { slot->setIdle(idle); };
    // A head refused before routing (400, 431) is logged and counted too, with no method or
    // path (there is none to trust); a request forwarded from a shard was already.
    if (slot && (edge.access_log_ || edge.shared_->metrics_on))
      s.on_refused = [log = edge.access_log_, sh = edge.shared_.get()](
                         int status, const std::string& client, size_t bytes) {
        http::AccessEntry e;
        e.time = std::chrono::system_clock::now();
        e.client = client;
        e.method = e.target = "-";
        e.status = status;
        e.bytes = bytes;
        if (log) log->write(e);
        if (sh->metrics_on) sh->countRequest("", status, bytes);
      };
    return s;
  }

  void closeListeners() {
    stopping = true;
    if (watch_timer) watch_timer->cancel();
    if (dashboard) dashboard->stop();
    for (auto& a : acceptors) {
      boost::system::error_code ignored;
      a->close(ignored);
    }
    for (auto& [port, l] : tcp_listeners) {
      boost::system::error_code ignored;
      l.acc->close(ignored);
    }
    tcp_listeners.clear();
  }

  Task<void> serveHttp(tcp::socket sock, std::unique_ptr<Slot> slot) {
    co_await http::serveHttp1(std::move(sock), *this, serverLimits(slot.get()));
  }

  // TLS server handshake (bounded by the caller's Watchdog).
  Task<boost::system::error_code> handshake(TlsSocket& stream) {
    auto [ec] =
        co_await stream.async_handshake(asio::ssl::stream_base::server, as_tuple(use_awaitable));
    co_return ec;
  }

  Task<void> serveHttps(tcp::socket sock, std::unique_ptr<Slot> slot) {
    auto stream = std::make_unique<TlsSocket>(std::move(sock), *https_tls);
    std::optional<Watchdog> dog(std::in_place, ioc, stream->next_layer(), kHandshakeTimeout);
    auto ec = co_await handshake(*stream);
    dog.reset();
    if (ec) {
      edge.shared_->tls_failed.fetch_add(1, std::memory_order_relaxed);
      LOG_DEBUG("https handshake failed error={}", ec.message());
      co_return;
    }
    edge.shared_->tls_ok.fetch_add(1, std::memory_order_relaxed);
    const unsigned char* alpn = nullptr;
    unsigned int alpn_len = 0;
    SSL_get0_alpn_selected(stream->native_handle(), &alpn, &alpn_len);
    const std::string_view protocol(reinterpret_cast<const char*>(alpn), alpn_len);
    // A TLS-ALPN-01 validation: the handshake was all of it (RFC 8737 section 3).
    if (protocol == kAcmeTlsAlpn) co_return;
    if (protocol == "h2") {
      boost::system::error_code e2;
      auto peer = stream->next_layer().remote_endpoint(e2);
      std::string ip = e2 ? "" : peer.address().to_string();
      const ClientLimits& l = edge.shared_->limits;
      H2Options o;
      o.max_concurrent_streams = l.h2_max_streams;
      o.max_head_bytes = l.max_head_bytes;
      o.idle_timeout = l.idle_timeout;
      o.body_timeout = l.body_timeout;
      o.send_timeout = l.send_timeout;
      o.stream_send_timeout = l.send_timeout;
      o.limit_resets = true;
      o.name = "client";
      o.peer = ip;
      o.on_idle = [s = slot.get()](bool idle) { s->setIdle(idle); };
      auto session = H2Session::create(std::move(stream), H2Session::Role::Server, o);
      session->setRequestHandler([this, ip](std::shared_ptr<H2Stream> s) {
        asio::co_spawn(ioc, serveH2Request(std::move(s), ip), asio::detached);
      });
      co_await session->run();
    } else {
      co_await http::serveHttp1(std::move(stream), *this, serverLimits(slot.get()));
    }
  }

  Task<void> serveH2Request(std::shared_ptr<H2Stream> s, std::string ip) {
    // Reset before its turn came (HTTP/2 rapid reset): nothing was asked of anyone yet.
    if (s->closed()) co_return;
    auto& req = s->request();
    req.client_ip = ip;
    req.scheme = "https";
    co_await handle(req, *s, *s);
    if (!s->headWritten()) co_await http::respondText(*s, 502, "no response");
    if (!s->finished())
      s->reset(NGHTTP2_INTERNAL_ERROR);
    else if (!s->inputComplete())
      s->stopInputAfterResponse();  // after the answer (a 408, say), never before it
  }

  Task<base::Result<Registration>> readRegistration(TlsSocket& s) {
    std::string header(kFrameHeader, '\0');
    auto [ec, n] = co_await asio::async_read(s, asio::buffer(header), as_tuple(use_awaitable));
    if (ec)
      co_return base::makeError(std::errc::connection_reset, "read registration: {}", ec.message());
    CO_ASSIGN_OR_RETURN(size_t len, frameLength(header));
    std::string payload(len, '\0');
    std::tie(ec, n) = co_await asio::async_read(s, asio::buffer(payload), as_tuple(use_awaitable));
    if (ec)
      co_return base::makeError(std::errc::connection_reset, "read registration: {}", ec.message());
    co_return decodeRegistration(payload);
  }

  // A login's management calls on the tunnel listener (manage.h): HTTP/1.1, small bodies,
  // each answered on the management thread; at most kMaxManageConns at once.
  struct ManageHandler : http::Handler {
    explicit ManageHandler(Shard& s) : shard(s) {}
    Task<void> handle(http::RequestHead& req, http::BodyReader& body,
                      http::ResponseWriter& out) override {
      std::string in;
      ManageReply reply;
      bool too_large = false;
      char buf[4096];
      for (;;) {
        auto n = co_await body.read(buf, sizeof(buf));
        if (!n) co_return;  // the client went away
        if (*n == 0) break;
        if (in.size() + *n > kMaxManageBody) {
          too_large = true;
          body.cancel();
          break;
        }
        in.append(buf, *n);
      }
      if (too_large) {
        reply = {413,
                 fmt::format("{{\"error\":\"request body over {} bytes\"}}\n", kMaxManageBody)};
      } else {
        const std::string* auth = req.find("authorization");
        Shared& sh = *shard.edge.shared_;
        reply = co_await asio::co_spawn(
            *sh.manage_pool,
            [&sh, &req, &in, auth]() -> Task<ManageReply> {
              co_return sh.manage->handle(req.method, req.target, auth ? *auth : "", in,
                                          req.client_ip);
            },
            use_awaitable);
        if (reply.changed) shard.edge.reload();
      }
      http::ResponseHead head;
      head.status = reply.status;
      head.headers.push_back({"content-type", "application/json"});
      head.content_length = reply.body.size();
      if (!co_await out.writeHead(std::move(head))) co_return;
      if (!co_await out.writeBody(reply.body.data(), reply.body.size())) co_return;
      (void)co_await out.finish();
    }
    Shard& shard;
  };

  static constexpr int kMaxManageConns = 64;

  Task<void> serveManage(std::unique_ptr<TlsSocket> stream, std::string peer_ip) {
    auto& count = edge.shared_->manage_conns;
    if (count.fetch_add(1) >= kMaxManageConns) {
      count.fetch_sub(1);
      LOG_WARN("management connection refused peer={} reason=too many at once", peer_ip);
      co_return;
    }
    struct Release {
      std::atomic<int>& c;
      ~Release() { c.fetch_sub(1); }
    } release{count};
    ManageHandler handler(*this);
    http::ServerLimits limits;
    limits.idle_timeout = std::chrono::seconds(10);
    limits.body_timeout = std::chrono::seconds(10);
    limits.send_timeout = std::chrono::seconds(10);
    co_await http::serveHttp1(std::move(stream), handler, limits);
  }

  Task<void> tunnelConnection(tcp::socket sock) {
    boost::system::error_code e0;
    auto peer = sock.remote_endpoint(e0);
    std::string peer_s = e0 ? "?" : formatEndpoint(peer);
    auto stream = std::make_unique<TlsSocket>(std::move(sock), *tunnel_tls);
    std::optional<Watchdog> dog(std::in_place, ioc, stream->next_layer(), kHandshakeTimeout);
    if (auto ec = co_await handshake(*stream)) {
      LOG_WARN("tunnel peer dropped peer={} reason=tls error={}", peer_s, ec.message());
      co_return;
    }
    const unsigned char* alpn = nullptr;
    unsigned int alpn_len = 0;
    SSL_get0_alpn_selected(stream->native_handle(), &alpn, &alpn_len);
    if (std::string_view(reinterpret_cast<const char*>(alpn), alpn_len) == kManageAlpn) {
      dog.reset();
      // A named string: g++ 12 copies a prvalue argument of a coroutine bitwise into the
      // callee's frame, so a short (in-place) temporary would be freed from the wrong frame.
      std::string peer_ip = e0 ? "" : peer.address().to_string();
      co_await serveManage(std::move(stream), std::move(peer_ip));
      co_return;
    }
    auto reg = co_await readRegistration(*stream);
    dog.reset();
    Reply reply;
    if (!reg) {
      reply.verdict = Verdict::Malformed;
      reply.message = reg.error().message();
    } else if (reg->version != kProtocolVersion) {
      reply.verdict = Verdict::UnsupportedVersion;
      reply.message = fmt::format("this edge speaks protocol version {}", kProtocolVersion);
    } else if (stopping) {
      reply.verdict = Verdict::Busy;
      reply.message = "edge is shutting down";
    } else {
      reply.verdict = state.authenticate(reg->tunnel_id, reg->secret);
      // A tunnel created since the last load is found without a SIGHUP.
      if (reply.verdict == Verdict::UnknownTunnel && refreshIfChanged())
        reply.verdict = state.authenticate(reg->tunnel_id, reg->secret);
      if (reply.verdict == Verdict::Accepted) {
        reply.connection_id = base::randomUuid();
        reply.client_address = true;  // serve() sets kClientIpHeader on every request
      }
    }
    std::string frame = encodeReply(reply);
    if (reply.verdict != Verdict::Accepted) {
      co_await asio::async_write(*stream, asio::buffer(frame), as_tuple(use_awaitable));
      LOG_WARN("tunnel peer refused peer={} verdict={} detail={}", peer_s,
               verdictName(reply.verdict), reply.message);
      co_return;
    }
    // The session is made and counted before the connector hears it is accepted: a request
    // sent the moment the connector says so finds it (the session writes nothing before
    // run(), so the reply still goes first).
    const std::string tunnel_id = reg->tunnel_id;
    TlsSocket* raw = stream.get();
    auto session = H2Session::create(std::move(stream), H2Session::Role::Client);
    live[tunnel_id].sessions.push_back(session);
    edge.shared_->count(tunnel_id, index, +1);
    auto forget = [&] {
      edge.shared_->count(tunnel_id, index, -1);
      auto it = live.find(tunnel_id);
      if (it != live.end()) {
        std::erase(it->second.sessions, session);
        if (it->second.sessions.empty()) live.erase(it);
      }
    };
    auto [wec, wn] = co_await asio::async_write(*raw, asio::buffer(frame), as_tuple(use_awaitable));
    if (wec) {
      forget();
      session->close();
      co_return;
    }
    LOG_INFO(
        "connector registered tunnel={} peer={} index={} connector_id={} connection_id={} "
        "version=\"{}\"",
        tunnelName(tunnel_id), peer_s, reg->conn_index, reg->connector_id, reply.connection_id,
        reg->client_version);
    LiveRegistry* registry = edge.shared_->live.get();
    if (registry)
      registry->add({tunnel_id, reply.connection_id, reg->connector_id, reg->conn_index, peer_s,
                     static_cast<int64_t>(::time(nullptr)), reg->client_version});
    co_await session->run();
    if (registry) registry->remove(reply.connection_id);
    forget();
    LOG_INFO("connector disconnected tunnel={} peer={} connection_id={}", tunnelName(tunnel_id),
             peer_s, reply.connection_id);
  }
};

Edge::Edge(asio::io_context& ioc, EdgeState state)
    : Edge(std::vector<asio::io_context*>{&ioc}, std::move(state)) {}

Edge::Edge(const std::vector<asio::io_context*>& iocs, EdgeState state)
    : shared_(std::make_unique<Shared>(iocs.size())) {
  CHECK(!iocs.empty());
  for (size_t i = 0; i < iocs.size(); ++i) {
    shards_.push_back(std::make_unique<Shard>(*this, *iocs[i], i));
    shards_.back()->state = state;
  }
}

Edge::~Edge() {
  if (shared_->issuer) shared_->issuer.reset();  // joins its thread
}

EdgeState& Edge::state() { return shards_[0]->state; }

void Edge::setClientLimits(const ClientLimits& limits) { shared_->limits = limits; }

base::Result<void> Edge::start(const std::string& http_addr, const std::string& https_addr,
                               const std::string& tunnel_addr, const std::string& cert_file,
                               const std::string& key_file) {
  auto& first = *shards_[0];
  shared_->gate = ConnectionGate::create(shared_->limits.max_connections,
                                         shared_->limits.max_connections_per_client);
  // First: a second edge on the same state directory is refused before it binds anything.
  ASSIGN_OR_RETURN(shared_->live, LiveRegistry::open(first.state.dir()));
  shared_->manage = std::make_unique<ManageApi>(
      first.state.dir(), [live = shared_->live.get()] { return live->snapshot(); });
  shared_->manage_pool = std::make_unique<asio::thread_pool>(1);
  {
    ASSIGN_OR_RETURN(base::UniqueFd lock, EdgeState::lock(first.state.dir()));
    RETURN_IF_ERROR(first.state.ensureIdentity());
  }
  ASSIGN_OR_RETURN(SslCtxPtr tctx,
                   makeEdgeTunnelContext(first.state.certPath(), first.state.keyPath()));
  std::shared_ptr<SSL_CTX> tunnel_ctx(tctx.release(), SSL_CTX_free);
  std::shared_ptr<SSL_CTX> https_ctx;
  if (!https_addr.empty()) {
    std::string cert = cert_file.empty() ? first.state.certPath() : cert_file;
    std::string key = key_file.empty() ? first.state.keyPath() : key_file;
    ASSIGN_OR_RETURN(SslCtxPtr hctx, makeEdgeHttpsContext(cert, key));
    https_ctx.reset(hctx.release(), SSL_CTX_free);
  }
  std::shared_ptr<CertSelector> certs;
  if (acme_ && https_ctx) {
    certs = std::make_shared<CertSelector>();
    certs->attach(https_ctx.get());
    shared_->acme_tokens = std::make_shared<AcmeTokens>();
  }
  // Bind everything first so that a bad address leaves nothing listening. The client
  // listeners share their port (SO_REUSEPORT); port 0 becomes the first one's port.
  const bool shared_port = shards_.size() > 1;
  ASSIGN_OR_RETURN(tcp::acceptor tunnel_acc, listen(first.ioc, tunnel_addr, "tunnel"));
  std::optional<tcp::acceptor> metrics_acc;
  if (!metrics_addr_.empty()) {
    ASSIGN_OR_RETURN(auto a, listen(first.ioc, metrics_addr_, "metrics"));
    metrics_acc.emplace(std::move(a));
    shared_->metrics_on = true;
  }
  std::optional<tcp::acceptor> admin_acc;
  if (!admin_addr_.empty()) {
    ASSIGN_OR_RETURN(auto a, listen(first.ioc, admin_addr_, "admin"));
    admin_acc.emplace(std::move(a));
    shared_->metrics_on = true;
    shared_->admin_on = true;
  }
  shared_->started_unix = ::time(nullptr);
  std::vector<std::optional<tcp::acceptor>> http_accs(shards_.size()), https_accs(shards_.size());
  for (size_t i = 0; i < shards_.size(); ++i) {
    auto& ioc = shards_[i]->ioc;
    if (!http_addr.empty()) {
      auto addr = i == 0 ? http_addr : withPort(http_addr, http_accs[0]->local_endpoint().port());
      ASSIGN_OR_RETURN(auto a, listen(ioc, addr, "http", shared_port));
      http_accs[i].emplace(std::move(a));
    }
    if (!https_addr.empty()) {
      auto addr =
          i == 0 ? https_addr : withPort(https_addr, https_accs[0]->local_endpoint().port());
      ASSIGN_OR_RETURN(auto a, listen(ioc, addr, "https", shared_port));
      https_accs[i].emplace(std::move(a));
    }
  }
  for (auto& sh : shards_) {
    sh->rememberStat();
    sh->watch_timer = std::make_unique<asio::steady_timer>(sh->ioc);
    asio::co_spawn(sh->ioc, sh->watchState(), asio::detached);
    // asio::ssl::context takes ownership: each shard gets its own reference.
    SSL_CTX_up_ref(tunnel_ctx.get());
    sh->tunnel_tls = std::make_unique<asio::ssl::context>(tunnel_ctx.get());
    sh->certs = certs;
    if (https_ctx) {
      SSL_CTX_up_ref(https_ctx.get());
      sh->https_tls = std::make_unique<asio::ssl::context>(https_ctx.get());
    }
  }
  tunnel_ep_ = first.serveOn(std::move(tunnel_acc), "tunnel", false,
                             [&first](tcp::socket s, std::unique_ptr<Shard::Slot>) {
                               return first.dealTunnel(std::move(s));
                             });
  if (metrics_acc)
    metrics_ep_ =
        first.serveOn(std::move(*metrics_acc), "metrics", false,
                      [&first](tcp::socket s, std::unique_ptr<Shard::Slot>) {
                        return http::serveHttp1(std::move(s), first.metrics, http::ServerLimits{});
                      });
  if (admin_acc) {
    first.dashboard = std::make_unique<admin::Handler>(admin::Kind::Edge, first.dashboard_source,
                                                       nullptr, admin_login_);
    admin_ep_ = first.serveOn(std::move(*admin_acc), "admin", false,
                              [&first](tcp::socket s, std::unique_ptr<Shard::Slot>) {
                                return http::serveHttp1(std::move(s), *first.dashboard,
                                                        http::ServerLimits{});
                              });
    shared_->sample(shared_->started_unix);  // the baseline: nothing counted yet
    asio::co_spawn(first.ioc, first.sampleTraffic(), asio::detached);
  }
  for (size_t i = 0; i < shards_.size(); ++i) {
    auto& sh = *shards_[i];
    if (http_accs[i]) {
      auto ep = sh.serveOn(std::move(*http_accs[i]), "http", true,
                           [&sh](tcp::socket s, std::unique_ptr<Shard::Slot> slot) {
                             return sh.serveHttp(std::move(s), std::move(slot));
                           });
      if (i == 0) http_ep_ = ep;
    }
    if (https_accs[i]) {
      auto ep = sh.serveOn(std::move(*https_accs[i]), "https", true,
                           [&sh](tcp::socket s, std::unique_ptr<Shard::Slot> slot) {
                             return sh.serveHttps(std::move(s), std::move(slot));
                           });
      if (i == 0) https_ep_ = ep;
    }
  }
  // TCP routes open on the client listener's host, once the edge's own ports are known.
  tcp_listen_addr_ = !http_addr.empty() ? http_addr : https_addr;
  for (auto& sh : shards_) sh->syncTcpRoutes();
  if (certs) {
    shared_->issuer = std::make_unique<AcmeIssuer>(*acme_, shared_->acme_tokens, certs);
    shared_->issuer->start();
  }
  return {};
}

// Runs `fn` on every shard's thread: at once for a shard of the calling thread.
void Edge::onEachShard(const std::function<void(Shard&)>& fn) {
  for (auto& sh : shards_) {
    if (sh->ioc.get_executor().running_in_this_thread())
      fn(*sh);
    else
      asio::post(sh->ioc, [fn, s = sh.get()] { fn(*s); });
  }
}

void Edge::reload() {
  onEachShard([](Shard& s) { s.reload(); });
}

void Edge::drain(std::chrono::milliseconds grace, std::function<void()> done) {
  if (shared_->issuer) shared_->issuer->stop();
  // Every shard closes its own listeners on its own thread; "draining" is logged once all
  // have, so that from then on no shard takes a new client.
  auto closed = std::make_shared<std::atomic<size_t>>(0);
  onEachShard([closed](Shard& s) {
    s.closeListeners();
    closed->fetch_add(1);
  });
  auto& first = *shards_[0];
  auto in_flight = shared_->in_flight;
  const size_t shards = shards_.size();
  auto deadline = std::chrono::steady_clock::now() + grace;
  asio::co_spawn(
      first.ioc,
      [this, &first, in_flight, closed, shards, grace, deadline,
       done = std::move(done)]() -> Task<void> {
        // Other shards' listeners close and requests end on their threads: look every few
        // milliseconds.
        asio::steady_timer tick(first.ioc);
        while (closed->load() < shards && std::chrono::steady_clock::now() < deadline) {
          tick.expires_after(std::chrono::milliseconds(1));
          co_await tick.async_wait(as_tuple(use_awaitable));
        }
        LOG_INFO("draining in_flight={} grace_ms={}", in_flight->load(), grace.count());
        while (in_flight->load() > 0 && std::chrono::steady_clock::now() < deadline) {
          tick.expires_after(std::chrono::milliseconds(20));
          co_await tick.async_wait(as_tuple(use_awaitable));
        }
        if (in_flight->load() > 0) LOG_WARN("grace period over in_flight={}", in_flight->load());
        stop();
        done();
      },
      asio::detached);
}

void Edge::stop() {
  if (shared_->issuer) shared_->issuer->stop();
  onEachShard([](Shard& s) {
    s.closeListeners();
    s.closeSessions();
  });
}

}  // namespace tunnel
