// The connector: dials the edge (TLS 1.3, pinned), registers, then serves the edge's
// streams as an HTTP/2 server, sending each to the origin its ingress rules name. Keeps
// ha_connections connections, each reconnecting with jittered backoff on its own.
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include <map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "base/base.h"
#include "tunnel/registration.h"
#include "tunnel/runtime.h"
#include "tunnel/tls.h"

namespace tunnel {

using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kDialTimeout = std::chrono::seconds(10);
// A connection that stayed registered this long resets the backoff.
constexpr auto kStableAfter = std::chrono::seconds(10);
}  // namespace

std::chrono::milliseconds Backoff::next() {
  int64_t d = base_.count();
  for (int i = 0; i < attempt_ && d < cap_.count(); ++i) d *= 2;
  d = std::min<int64_t>(d, cap_.count());
  ++attempt_;
  std::uniform_int_distribution<int64_t> dist(d / 2, d);
  return std::chrono::milliseconds(dist(rng_));
}

struct Connector::Impl {
  Impl(Connector& c, asio::io_context& io, config::TunnelConfig config, Token tok,
       std::vector<int> idx, std::string id, std::shared_ptr<ConnectorStats> st)
      : self(c),
        ioc(io),
        cfg(std::make_shared<const config::TunnelConfig>(std::move(config))),
        token(std::move(tok)),
        indexes(std::move(idx)),
        connector_id(std::move(id)),
        stats(std::move(st)),
        pool(std::make_shared<http::OriginPool>(io.get_executor())),
        drained_ev(io.get_executor()) {}

  enum class End { Retry, Permanent, Stopped };

  Connector& self;
  asio::io_context& ioc;
  // The rules and the origin pool that go with them. A reload swaps both; a request keeps the
  // ones it started with until it ends.
  std::shared_ptr<const config::TunnelConfig> cfg;
  Token token;
  std::vector<int> indexes;  // by slot: the HA connection indexes this thread keeps
  std::string connector_id;
  std::shared_ptr<ConnectorStats> stats;
  std::shared_ptr<http::AccessLog> access_log;
  std::unique_ptr<asio::ssl::context> tls;
  std::shared_ptr<http::OriginPool> pool;
  std::vector<std::shared_ptr<H2Session>> sessions;  // registered, by slot
  std::vector<std::unique_ptr<asio::steady_timer>> retry_timers;
  // By slot: a connection no longer wanted (ha-connections lowered by a reload) drains and is
  // not dialled again; `looping` while its connection loop runs.
  std::vector<bool> retired, looping;
  bool stopping = false;
  bool first_registered = false;
  int in_flight = 0;
  http::Event drained_ev;

  std::shared_ptr<tcp::acceptor> metrics_acceptor;
  std::optional<tcp::endpoint> metrics_ep;

  int readyConnections() const { return stats->ready.load(std::memory_order_relaxed); }

  std::string metricsText() const {
    std::string out;
    auto metric = [&](const char* name, const char* type, const char* help) {
      out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    };
    metric("burrow_tunnel_requests_total", "counter", "Requests received from the edge.");
    const ConnectorStats& st = *stats;
    out += fmt::format("burrow_tunnel_requests_total {}\n", st.requests.load());
    metric("burrow_tunnel_concurrent_requests", "gauge", "Requests being answered now.");
    out += fmt::format("burrow_tunnel_concurrent_requests {}\n", st.in_flight.load());
    metric("burrow_tunnel_request_errors_total", "counter",
           "Requests that ended without a complete answer.");
    out += fmt::format("burrow_tunnel_request_errors_total {}\n", st.request_errors.load());
    metric("burrow_tunnel_responses_total", "counter", "Answers sent, by status code.");
    for (size_t code = 0; code < st.responses.size(); ++code)
      if (uint64_t n = st.responses[code].load(); n > 0)
        out += fmt::format("burrow_tunnel_responses_total{{code=\"{}\"}} {}\n", code, n);
    metric("burrow_tunnel_ha_connections", "gauge", "Registered connections to the edge.");
    out += fmt::format("burrow_tunnel_ha_connections {}\n", readyConnections());
    metric("burrow_tunnel_registrations_total", "counter", "Registration attempts by result.");
    out += fmt::format("burrow_tunnel_registrations_total{{result=\"success\"}} {}\n",
                       st.registrations_ok.load());
    out += fmt::format("burrow_tunnel_registrations_total{{result=\"failure\"}} {}\n",
                       st.registrations_failed.load());
    return out;
  }

  // The metrics listener's requests: small fixed answers, never routed anywhere.
  struct MetricsHandler : http::Handler {
    explicit MetricsHandler(Impl& i) : im(i) {}
    Impl& im;
    Task<void> handle(http::RequestHead& req, http::BodyReader&,
                      http::ResponseWriter& out) override {
      std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
      http::ResponseHead head;
      std::string body;
      int ready = im.readyConnections();
      if (path == "/ready") {
        head.status = ready > 0 ? 200 : 503;
        body = fmt::format("{{\"status\":{},\"readyConnections\":{},\"connectorId\":\"{}\"}}\n",
                           head.status, ready, im.connector_id);
        head.headers.push_back({"content-type", "application/json"});
      } else if (path == "/healthcheck") {
        head.status = ready > 0 ? 200 : 503;
        body = ready > 0 ? "OK\n" : "no connection to the edge\n";
        head.headers.push_back({"content-type", "text/plain; charset=utf-8"});
      } else if (path == "/metrics") {
        head.status = 200;
        body = im.metricsText();
        head.headers.push_back({"content-type", "text/plain; version=0.0.4; charset=utf-8"});
      } else {
        head.status = 404;
        body = "not found: try /ready, /healthcheck or /metrics\n";
      }
      head.content_length = body.size();
      if (!co_await out.writeHead(std::move(head))) co_return;
      if (req.method != "HEAD" && !co_await out.writeBody(body.data(), body.size())) co_return;
      (void)co_await out.finish();
    }
  };
  std::unique_ptr<MetricsHandler> metrics_handler;

  // Holds its acceptor: a reload may replace metrics_acceptor while this waits on the old one.
  Task<void> acceptMetrics(std::shared_ptr<tcp::acceptor> acc) {
    for (;;) {
      auto [ec, sock] = co_await acc->async_accept(as_tuple(use_awaitable));
      if (ec) co_return;  // closed at stop or by a reload
      asio::co_spawn(ioc, http::serveHttp1(std::move(sock), *metrics_handler, http::ServerLimits{}),
                     asio::detached);
    }
  }

  void fatal(base::Error e) {
    if (self.fatal_) return;
    self.fatal_ = std::move(e);
    stopAll();
    if (self.on_fatal_) self.on_fatal_();
  }

  void stopAll() {
    stopping = true;
    if (metrics_acceptor) {
      boost::system::error_code ignored;
      metrics_acceptor->close(ignored);
    }
    for (auto& t : retry_timers)
      if (t) t->cancel();
    for (auto& s : sessions)
      if (s) s->close();
  }

  // `client_address`: the edge names the client's address in kClientIpHeader (Reply).
  Task<void> serveStream(std::shared_ptr<H2Stream> st, bool client_address) {
    ++in_flight;
    stats->in_flight.fetch_add(1, std::memory_order_relaxed);
    stats->requests.fetch_add(1, std::memory_order_relaxed);
    auto& req = st->request();
    std::string_view target = req.target;
    std::string_view path = target.substr(0, target.find('?'));
    const auto rules = cfg;
    const auto origins = pool;
    // The edge names the client's address in its own header, having removed any the client
    // sent under that name. An edge that does not say so passes the client's copy through:
    // it is dropped, unread, so that neither a rule nor the origin believes it.
    if (client_address) {
      for (const auto& h : req.headers)
        if (h.name == kClientIpHeader) req.client_ip = h.value;
    } else {
      std::erase_if(req.headers, [](const http::Header& h) { return h.name == kClientIpHeader; });
    }
    config::RouteRequest route;
    // A WebSocket upgrade arrives as an extended CONNECT; its client sent a GET.
    route.method = req.upgrade_websocket ? std::string_view("GET") : req.method;
    route.host = req.authority;
    route.target = target;
    route.client_ip = req.client_ip;
    if (config::hasRouteRules(*rules)) {
      route.headers.reserve(req.headers.size());
      for (const auto& h : req.headers) route.headers.emplace_back(h.name, h.value);
    }
    size_t idx = config::matchIngress(*rules, route);
    if (const auto log = access_log) {
      // Recorded before the route's middlewares change the request; the upstream time runs
      // from here (middlewares included) to the answer's head.
      http::AccessRecorder rec(req, *st);
      rec.setTunnel(token.tunnel_id);
      rec.upstreamSent();
      co_await http::serveRoute(*origins, rules->ingress[idx], req, *st, rec);
      if (!st->headWritten()) co_await http::respondText(rec, 502, "no response");
      log->write(rec.entry());
    } else {
      co_await http::serveRoute(*origins, rules->ingress[idx], req, *st, *st);
    }
    if (!st->headWritten()) co_await http::respondText(*st, 502, "no response");
    if (int code = st->statusWritten(); code > 0 && code < 600)
      stats->responses[static_cast<size_t>(code)].fetch_add(1, std::memory_order_relaxed);
    LOG_DEBUG("request served method={} host={} path={} rule={} status={}", req.method,
              req.authority, path, idx + 1, st->statusWritten());
    if (!st->finished()) {
      stats->request_errors.fetch_add(1, std::memory_order_relaxed);
      st->reset(NGHTTP2_INTERNAL_ERROR);
    } else if (!st->inputComplete()) {
      st->stopInputAfterResponse();
    }
    --in_flight;
    stats->in_flight.fetch_sub(1, std::memory_order_relaxed);
    drained_ev.notify();
  }

  // Dials, registers and serves one connection; returns how it ended.
  Task<End> connectOnce(size_t slot, base::Error* err) {
    const int index = indexes[slot];
    auto hp = base::splitHostPort(token.endpoint);
    if (!hp) {
      *err = hp.error();
      co_return End::Permanent;
    }
    tcp::resolver resolver(ioc);
    auto [rec, results] = co_await resolver.async_resolve(hp->host, std::to_string(hp->port),
                                                          as_tuple(use_awaitable));
    if (rec) {
      *err = base::Error{rec, fmt::format("resolve edge {}", token.endpoint)};
      co_return End::Retry;
    }
    auto stream = std::make_unique<TlsSocket>(ioc, *tls);
    asio::steady_timer timer(ioc);
    timer.expires_after(kDialTimeout);
    auto* raw = &stream->next_layer();
    bool timed_out = false;
    timer.async_wait([raw, &timed_out](const boost::system::error_code& e) {
      if (e) return;
      timed_out = true;
      boost::system::error_code ignored;
      raw->close(ignored);
    });
    auto [cec, ep] =
        co_await asio::async_connect(stream->next_layer(), results, as_tuple(use_awaitable));
    if (cec) {
      timer.cancel();
      *err = base::Error{
          cec, fmt::format("connect to edge {}{}", token.endpoint, timed_out ? " (timeout)" : "")};
      co_return End::Retry;
    }
    auto [hec] =
        co_await stream->async_handshake(asio::ssl::stream_base::client, as_tuple(use_awaitable));
    if (hec) {
      timer.cancel();
      if (pinMismatch(stream->native_handle())) {
        *err = base::Error{std::make_error_code(std::errc::permission_denied),
                           fmt::format("edge certificate pin mismatch: the server at {} is not the "
                                       "edge this token was created for",
                                       token.endpoint)};
        co_return End::Permanent;
      }
      *err = base::Error{hec, fmt::format("TLS handshake with edge {}", token.endpoint)};
      co_return End::Retry;
    }
    Registration reg;
    reg.tunnel_id = token.tunnel_id;
    reg.secret = token.secret;
    reg.conn_index = static_cast<uint32_t>(index);
    reg.connector_id = connector_id;
    reg.client_version = fmt::format("burrow {}", base::version());
    std::string frame = encodeRegistration(reg);
    auto [wec, wn] =
        co_await asio::async_write(*stream, asio::buffer(frame), as_tuple(use_awaitable));
    std::string header(kFrameHeader, '\0');
    boost::system::error_code rec2 = wec;
    if (!rec2)
      std::tie(rec2, wn) =
          co_await asio::async_read(*stream, asio::buffer(header), as_tuple(use_awaitable));
    base::Result<Reply> reply = base::makeError(std::errc::protocol_error, "no reply");
    if (!rec2) {
      auto len = frameLength(header);
      if (!len) {
        reply = base::Unexpected(len.error());
      } else {
        std::string payload(*len, '\0');
        std::tie(rec2, wn) =
            co_await asio::async_read(*stream, asio::buffer(payload), as_tuple(use_awaitable));
        if (!rec2) reply = decodeReply(payload);
      }
    }
    timer.cancel();
    if (rec2) {
      *err = base::Error{rec2, fmt::format("registration with edge {}", token.endpoint)};
      co_return End::Retry;
    }
    if (!reply) {
      *err = reply.error();
      co_return End::Retry;
    }
    if (reply->verdict != Verdict::Accepted) {
      stats->registrations_failed.fetch_add(1, std::memory_order_relaxed);
      std::string what;
      switch (reply->verdict) {
        case Verdict::UnknownTunnel:
          what = "unknown tunnel (deleted, or the token belongs to another edge)";
          break;
        case Verdict::BadSecret:
          what = "bad secret (the token does not match the tunnel)";
          break;
        case Verdict::UnsupportedVersion:
          what = "unsupported protocol version";
          break;
        case Verdict::Malformed:
          what = "malformed registration";
          break;
        default:
          what = std::string(verdictName(reply->verdict));
      }
      *err = base::Error{std::make_error_code(std::errc::permission_denied),
                         fmt::format("edge refused the tunnel: {}{}{}", what,
                                     reply->message.empty() ? "" : ": ", reply->message)};
      co_return isPermanent(reply->verdict) ? End::Permanent : End::Retry;
    }
    if (stopping) co_return End::Stopped;
    stats->registrations_ok.fetch_add(1, std::memory_order_relaxed);
    auto session = H2Session::create(std::move(stream), H2Session::Role::Server);
    session->setRequestHandler(
        [this, client_address = reply->client_address](std::shared_ptr<H2Stream> st) {
          asio::co_spawn(ioc, serveStream(std::move(st), client_address), asio::detached);
        });
    sessions[slot] = session;
    stats->ready.fetch_add(1, std::memory_order_relaxed);
    LOG_INFO("connection registered index={} connection_id={} edge={}", index, reply->connection_id,
             token.endpoint);
    if (!first_registered) {
      first_registered = true;
      if (self.on_first_registered_) self.on_first_registered_();
    }
    co_await session->run();
    sessions[slot].reset();
    stats->ready.fetch_sub(1, std::memory_order_relaxed);
    drained_ev.notify();
    *err = base::Error{std::make_error_code(std::errc::connection_reset),
                       fmt::format("connection to edge {} ended", token.endpoint)};
    co_return stopping ? End::Stopped : End::Retry;
  }

  // `looping` is cleared only when the loop returns: a frame destroyed unfinished at exit
  // (the io_context going after this object) must not touch it.
  Task<void> connectionLoop(size_t slot) {
    looping[slot] = true;
    co_await keepConnected(slot);
    looping[slot] = false;
  }

  Task<void> keepConnected(size_t slot) {
    const int index = indexes[slot];
    Backoff backoff(std::chrono::seconds(1), std::chrono::seconds(60),
                    std::hash<std::string>{}(connector_id) + static_cast<uint64_t>(index));
    auto& timer = *retry_timers[slot];
    while (!stopping && !retired[slot]) {
      base::Error err;
      auto started = std::chrono::steady_clock::now();
      End end = co_await connectOnce(slot, &err);
      if (end == End::Permanent) {
        fatal(std::move(err));
        co_return;
      }
      if (end == End::Stopped || stopping) co_return;
      if (retired[slot]) {
        LOG_INFO("connection retired index={} (ha-connections lowered)", index);
        co_return;
      }
      if (std::chrono::steady_clock::now() - started > kStableAfter) backoff.reset();
      auto delay = backoff.next();
      LOG_WARN("connection lost index={} error={} retry_in_ms={}", index, err.message(),
               delay.count());
      timer.expires_after(delay);
      co_await timer.async_wait(as_tuple(use_awaitable));
    }
  }
};

namespace {
std::vector<int> firstIndexes(int n) {
  std::vector<int> v;
  for (int i = 0; i < n; ++i) v.push_back(i);
  return v;
}
}  // namespace

Connector::Connector(asio::io_context& ioc, config::TunnelConfig cfg, Token token,
                     int ha_connections)
    : Connector(ioc, std::move(cfg), std::move(token), firstIndexes(ha_connections),
                base::randomUuid(), std::make_shared<ConnectorStats>()) {}

Connector::Connector(asio::io_context& ioc, config::TunnelConfig cfg, Token token,
                     std::vector<int> indexes, std::string connector_id,
                     std::shared_ptr<ConnectorStats> stats)
    : impl_(std::make_unique<Impl>(*this, ioc, std::move(cfg), std::move(token), std::move(indexes),
                                   std::move(connector_id), std::move(stats))) {}

Connector::~Connector() = default;

base::Result<void> Connector::start() {
  auto& im = *impl_;
  if (im.indexes.empty() || im.indexes.size() > 64)
    return base::invalid("--ha-connections must be between 1 and 64, not {}", im.indexes.size());
  ASSIGN_OR_RETURN(SslCtxPtr ctx, makeConnectorContext(im.token.pin));
  im.tls = std::make_unique<asio::ssl::context>(ctx.release());
  im.sessions.resize(im.indexes.size());
  im.retired.resize(im.indexes.size());
  im.looping.resize(im.indexes.size());
  for (size_t slot = 0; slot < im.indexes.size(); ++slot) {
    im.retry_timers.push_back(std::make_unique<asio::steady_timer>(im.ioc));
    asio::co_spawn(im.ioc, im.connectionLoop(slot), asio::detached);
  }
  return {};
}

void Connector::setAccessLog(std::shared_ptr<http::AccessLog> log) {
  impl_->access_log = std::move(log);
}

void Connector::setConfig(std::shared_ptr<const config::TunnelConfig> cfg) {
  auto& im = *impl_;
  im.cfg = std::move(cfg);
  // New origin settings (TLS, timeouts, keep-alive) apply to new origin connections; the old
  // pool closes its idle ones once the last request using it ends.
  im.pool = std::make_shared<http::OriginPool>(im.ioc.get_executor());
}

void Connector::setIndexes(const std::vector<int>& wanted, std::chrono::milliseconds grace) {
  auto& im = *impl_;
  if (im.stopping) return;
  for (size_t slot = 0; slot < im.indexes.size(); ++slot) {
    bool keep = std::find(wanted.begin(), wanted.end(), im.indexes[slot]) != wanted.end();
    if (keep == !im.retired[slot]) continue;
    im.retired[slot] = !keep;
    if (!keep) {
      // Drain: the edge stops opening streams here; the connection ends once they are done,
      // or at the grace period.
      im.retry_timers[slot]->cancel();
      if (auto s = im.sessions[slot]) {
        s->goAway();
        s->closeWhenIdle();
        auto t = std::make_shared<asio::steady_timer>(im.ioc, grace);
        t->async_wait([t, w = std::weak_ptr<H2Session>(s)](const boost::system::error_code& ec) {
          if (auto live = w.lock(); live && !ec) live->close();
        });
      }
    } else if (!im.looping[slot]) {
      asio::co_spawn(im.ioc, im.connectionLoop(slot), asio::detached);
    }
  }
  for (int index : wanted) {
    if (std::find(im.indexes.begin(), im.indexes.end(), index) != im.indexes.end()) continue;
    im.indexes.push_back(index);
    im.sessions.emplace_back();
    im.retired.push_back(false);
    im.looping.push_back(false);
    im.retry_timers.push_back(std::make_unique<asio::steady_timer>(im.ioc));
    asio::co_spawn(im.ioc, im.connectionLoop(im.indexes.size() - 1), asio::detached);
  }
}

void Connector::stopMetrics() {
  auto& im = *impl_;
  if (!im.metrics_acceptor) return;
  boost::system::error_code ignored;
  im.metrics_acceptor->close(ignored);
  im.metrics_acceptor.reset();
  im.metrics_ep.reset();
}

void Connector::drain(std::chrono::milliseconds grace, std::function<void()> done) {
  auto& im = *impl_;
  im.stopping = true;
  for (auto& t : im.retry_timers) t->cancel();
  for (auto& s : im.sessions)
    if (s) s->goAway();
  LOG_INFO("draining in_flight={} grace_ms={}", im.in_flight, grace.count());
  auto deadline = std::chrono::steady_clock::now() + grace;
  auto timer = std::make_shared<asio::steady_timer>(im.ioc);
  asio::co_spawn(
      im.ioc,
      [&im, deadline, timer, done = std::move(done)]() -> Task<void> {
        // Wake at the deadline even when nothing else happens.
        timer->expires_at(deadline);
        timer->async_wait([&im](const boost::system::error_code&) { im.drained_ev.notify(); });
        while (im.in_flight > 0 && std::chrono::steady_clock::now() < deadline)
          co_await im.drained_ev.wait();
        if (im.in_flight > 0) {
          LOG_WARN("grace period over in_flight={}", im.in_flight);
        } else {
          // Every answer is complete; let the connections write their last frames.
          for (auto& s : im.sessions)
            if (s) s->closeWhenIdle();
          while (im.self.liveConnections() > 0 && std::chrono::steady_clock::now() < deadline)
            co_await im.drained_ev.wait();
        }
        timer->cancel();
        im.stopAll();
        done();
      },
      asio::detached);
}

void Connector::stop() { impl_->stopAll(); }

base::Result<void> Connector::startMetrics(const std::string& addr) {
  auto& im = *impl_;
  if (auto ok = config::checkMetricsAddress(addr); !ok)
    return base::invalid("--metrics {}", ok.error().message());
  ASSIGN_OR_RETURN(tcp::acceptor acc, listen(im.ioc, addr, "metrics"));
  stopMetrics();  // the one a reload replaces, once the new one is bound
  im.metrics_ep = acc.local_endpoint();
  im.metrics_acceptor = std::make_shared<tcp::acceptor>(std::move(acc));
  if (!im.metrics_handler) im.metrics_handler = std::make_unique<Impl::MetricsHandler>(im);
  asio::co_spawn(im.ioc, im.acceptMetrics(im.metrics_acceptor), asio::detached);
  LOG_INFO("metrics ready addr={}", formatEndpoint(*im.metrics_ep));
  return {};
}

std::optional<asio::ip::tcp::endpoint> Connector::metricsEndpoint() const {
  return impl_->metrics_ep;
}

int Connector::liveConnections() const {
  int n = 0;
  for (auto& s : impl_->sessions)
    if (s && !s->closed()) ++n;
  return n;
}

}  // namespace tunnel
