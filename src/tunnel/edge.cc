// The edge: public HTTP listeners, the tunnel acceptor (TLS + registration), the hostname
// registry, and the handler that turns each client request into a tunnel stream.
#include <nghttp2/nghttp2.h>
#include <sys/stat.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
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
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);

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

}  // namespace

struct Edge::Impl : http::Handler {
  Impl(Edge& e, asio::io_context& io) : edge(e), ioc(io) {}

  struct Live {
    std::vector<std::shared_ptr<H2Session>> sessions;
    size_t next = 0;
  };

  Edge& edge;
  asio::io_context& ioc;
  EdgeState state;
  std::unique_ptr<asio::ssl::context> tunnel_tls;
  std::unique_ptr<asio::ssl::context> https_tls;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::unordered_map<std::string, Live> live;  // tunnel id -> registered connections
  bool stopping = false;
  // Client requests being answered. Shared with the request coroutines, whose frames can
  // outlive this object when the io_context is torn down at exit: `owner` is cleared first.
  struct InFlight {
    int count = 0;
    Impl* owner = nullptr;
  };
  std::shared_ptr<InFlight> in_flight = std::make_shared<InFlight>(InFlight{0, this});
  http::Event drained_ev{ioc.get_executor()};
  ~Impl() { in_flight->owner = nullptr; }
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
    edge.reload();
    return true;
  }

  void rememberStat() {
    if (::stat(state.statePath().c_str(), &loaded_stat) != 0) loaded_stat = {};
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
    ++in_flight->count;
    struct Count {
      std::shared_ptr<InFlight> f;
      ~Count() {
        --f->count;
        if (f->owner) f->owner->drained_ev.notify();
      }
    } count{in_flight};
    std::string host = stripPort(req.authority);
    std::optional<std::string> tunnel_id =
        edge.default_tunnel_ ? edge.default_tunnel_ : state.routeFor(host);
    if (!tunnel_id && refreshIfChanged()) tunnel_id = state.routeFor(host);
    if (!tunnel_id) {
      LOG_DEBUG("route miss host={}", host);
      co_await http::respondText(out, 404, fmt::format("no tunnel serves host '{}'", host));
      co_return;
    }
    // X-Forwarded-*: append the peer to any chain the client sent.
    bool have_xff = false;
    for (auto& h : req.headers) {
      if (h.name == "x-forwarded-for") {
        h.value += ", " + req.client_ip;
        have_xff = true;
      }
    }
    std::erase_if(req.headers, [](const http::Header& h) {
      return h.name == "x-forwarded-proto" || h.name == "x-forwarded-host";
    });
    if (!have_xff) req.headers.push_back({"x-forwarded-for", req.client_ip});
    req.headers.push_back({"x-forwarded-proto", req.scheme});
    req.headers.push_back({"x-forwarded-host", req.authority});

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
    // A connector that is draining refuses streams it had not seen when it sent GOAWAY;
    // nothing of those reached an origin, so a body-less request moves to another
    // connection (a replica, or a connection that reconnected).
    base::Result<http::ResponseHead> head = base::makeError(std::errc::connection_aborted, "");
    for (int attempt = 0;; ++attempt) {
      auto session = pick(*tunnel_id);
      if (!session) {
        co_await http::respondText(
            out, 502, fmt::format("tunnel '{}' has no live connector", tunnelName(*tunnel_id)));
        co_return;
      }
      auto opened = session->openStream(req);
      if (!opened) {
        co_await http::respondText(out, 502, opened.error().message());
        co_return;
      }
      st = *opened;
      if (req.has_body) startUpload();
      head = co_await st->responseHead();
      // A connection that closed under the stream (a connector finishing its drain) may
      // have passed the request on: only idempotent methods are sent again then.
      bool idempotent = req.method == "GET" || req.method == "HEAD" || req.method == "OPTIONS";
      bool retry = !head && !req.has_body && !req.upgrade_websocket && attempt < 2 &&
                   (st->closeCode() == NGHTTP2_REFUSED_STREAM ||
                    (idempotent && st->closeCode() == NGHTTP2_CONNECT_ERROR));
      if (!retry) break;
      LOG_DEBUG("stream refused by a draining connector, retrying host={}", host);
    }
    if (!head) {
      if (up && !up->done) body.cancel();
      while (up && !up->done) co_await up->ev.wait();
      if (up && up->read_error && up->read_error->code == std::errc::bad_message)
        co_await http::respondText(out, 400, up->read_error->message());
      else
        co_await http::respondText(out, 502, head.error().message());
      co_return;
    }
    if (head->status == 101 && !req.upgrade_websocket) head->status = 502;
    if (!co_await out.writeHead(*head)) {
      st->cancel();
    } else {
      if (head->status == 101) startUpload();  // now the client's bytes are the stream
      if (!st->hasBufferedInput()) (void)co_await out.flush();
      auto down = std::make_shared<Done>(ex);
      co_await pipe(*st, out, down);
      if (!down->ok) st->cancel();
    }
    if (up && !up->done) {
      if (head->status == 101) {
        body.cancel();  // the origin closed the upgraded stream: stop reading the client
      } else if (!st->inputComplete()) {
        body.cancel();
      }
    }
    while (up && !up->done) co_await up->ev.wait();
  }

  // Accepts until the listener closes; each connection runs `serve` in its own coroutine.
  // A failing accept (out of fds, say) pauses the loop briefly instead of spinning.
  template <class Serve>
  Task<void> acceptLoop(tcp::acceptor& acc, std::string_view what, Serve serve) {
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
      asio::co_spawn(ioc, serve(std::move(sock)), asio::detached);
    }
  }

  // Keeps the listener and runs its accept loop; returns the address it is bound to.
  template <class Serve>
  tcp::endpoint serveOn(tcp::acceptor acc, std::string_view what, Serve serve) {
    tcp::endpoint ep = acc.local_endpoint();
    acceptors.push_back(std::make_unique<tcp::acceptor>(std::move(acc)));
    asio::co_spawn(ioc, acceptLoop(*acceptors.back(), what, std::move(serve)), asio::detached);
    return ep;
  }

  void closeListeners() {
    stopping = true;
    for (auto& a : acceptors) {
      boost::system::error_code ignored;
      a->close(ignored);
    }
  }

  Task<void> serveHttp(tcp::socket sock) {
    co_await http::serveHttp1(std::move(sock), *this, http::ServerLimits{});
  }

  // TLS server handshake (bounded by the caller's Watchdog).
  Task<boost::system::error_code> handshake(TlsSocket& stream) {
    auto [ec] =
        co_await stream.async_handshake(asio::ssl::stream_base::server, as_tuple(use_awaitable));
    co_return ec;
  }

  Task<void> serveHttps(tcp::socket sock) {
    auto stream = std::make_unique<TlsSocket>(std::move(sock), *https_tls);
    std::optional<Watchdog> dog(std::in_place, ioc, stream->next_layer(), kHandshakeTimeout);
    auto ec = co_await handshake(*stream);
    dog.reset();
    if (ec) {
      LOG_DEBUG("https handshake failed error={}", ec.message());
      co_return;
    }
    const unsigned char* alpn = nullptr;
    unsigned int alpn_len = 0;
    SSL_get0_alpn_selected(stream->native_handle(), &alpn, &alpn_len);
    if (std::string_view(reinterpret_cast<const char*>(alpn), alpn_len) == "h2") {
      boost::system::error_code e2;
      auto peer = stream->next_layer().remote_endpoint(e2);
      std::string ip = e2 ? "" : peer.address().to_string();
      auto session = H2Session::create(std::move(stream), H2Session::Role::Server);
      session->setRequestHandler([this, ip](std::shared_ptr<H2Stream> s) {
        asio::co_spawn(ioc, serveH2Request(std::move(s), ip), asio::detached);
      });
      co_await session->run();
    } else {
      co_await http::serveHttp1(std::move(stream), *this, http::ServerLimits{});
    }
  }

  Task<void> serveH2Request(std::shared_ptr<H2Stream> s, std::string ip) {
    auto& req = s->request();
    req.client_ip = ip;
    req.scheme = "https";
    co_await handle(req, *s, *s);
    if (!s->headWritten()) co_await http::respondText(*s, 502, "no response");
    if (!s->finished())
      s->reset(NGHTTP2_INTERNAL_ERROR);
    else if (!s->inputComplete())
      s->reset(NGHTTP2_NO_ERROR);
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
      if (reply.verdict == Verdict::Accepted) reply.connection_id = base::randomUuid();
    }
    std::string frame = encodeReply(reply);
    auto [wec, wn] =
        co_await asio::async_write(*stream, asio::buffer(frame), as_tuple(use_awaitable));
    if (reply.verdict != Verdict::Accepted) {
      LOG_WARN("tunnel peer refused peer={} verdict={} detail={}", peer_s,
               verdictName(reply.verdict), reply.message);
      co_return;
    }
    if (wec) co_return;
    const std::string tunnel_id = reg->tunnel_id;
    LOG_INFO("connector registered tunnel={} peer={} index={} connector_id={} connection_id={}",
             tunnelName(tunnel_id), peer_s, reg->conn_index, reg->connector_id,
             reply.connection_id);
    auto session = H2Session::create(std::move(stream), H2Session::Role::Client);
    live[tunnel_id].sessions.push_back(session);
    co_await session->run();
    auto it = live.find(tunnel_id);
    if (it != live.end()) {
      std::erase(it->second.sessions, session);
      if (it->second.sessions.empty()) live.erase(it);
    }
    LOG_INFO("connector disconnected tunnel={} peer={} connection_id={}", tunnelName(tunnel_id),
             peer_s, reply.connection_id);
  }
};

Edge::Edge(asio::io_context& ioc, EdgeState state)
    : impl_(std::make_unique<Impl>(*this, ioc)), state_(impl_->state) {
  impl_->state = std::move(state);
}

Edge::~Edge() = default;

base::Result<void> Edge::start(const std::string& http_addr, const std::string& https_addr,
                               const std::string& tunnel_addr, const std::string& cert_file,
                               const std::string& key_file) {
  auto& im = *impl_;
  RETURN_IF_ERROR(im.state.ensureIdentity());
  im.rememberStat();
  ASSIGN_OR_RETURN(SslCtxPtr tctx, makeEdgeTunnelContext(im.state.certPath(), im.state.keyPath()));
  im.tunnel_tls = std::make_unique<asio::ssl::context>(tctx.release());
  if (!https_addr.empty()) {
    std::string cert = cert_file.empty() ? im.state.certPath() : cert_file;
    std::string key = key_file.empty() ? im.state.keyPath() : key_file;
    ASSIGN_OR_RETURN(SslCtxPtr hctx, makeEdgeHttpsContext(cert, key));
    im.https_tls = std::make_unique<asio::ssl::context>(hctx.release());
  }
  // Bind everything first so that a bad address leaves nothing listening.
  std::optional<tcp::acceptor> http_acc, https_acc;
  ASSIGN_OR_RETURN(tcp::acceptor tunnel_acc, listen(im.ioc, tunnel_addr, "tunnel"));
  if (!http_addr.empty()) {
    ASSIGN_OR_RETURN(auto a, listen(im.ioc, http_addr, "http"));
    http_acc.emplace(std::move(a));
  }
  if (!https_addr.empty()) {
    ASSIGN_OR_RETURN(auto a, listen(im.ioc, https_addr, "https"));
    https_acc.emplace(std::move(a));
  }
  tunnel_ep_ = im.serveOn(std::move(tunnel_acc), "tunnel",
                          [&im](tcp::socket s) { return im.tunnelConnection(std::move(s)); });
  if (http_acc)
    http_ep_ = im.serveOn(std::move(*http_acc), "http",
                          [&im](tcp::socket s) { return im.serveHttp(std::move(s)); });
  if (https_acc)
    https_ep_ = im.serveOn(std::move(*https_acc), "https",
                           [&im](tcp::socket s) { return im.serveHttps(std::move(s)); });
  return {};
}

void Edge::reload() {
  auto fresh = EdgeState::open(impl_->state.dir());
  if (!fresh) {
    LOG_ERROR("reload failed, keeping the previous state error={}", fresh.error().message());
    return;
  }
  impl_->state = std::move(*fresh);
  impl_->rememberStat();
  // Tunnels that no longer exist lose their connections.
  for (auto& [id, l] : impl_->live) {
    if (impl_->state.findTunnel(id)) continue;
    for (auto& s : l.sessions) s->close();
  }
  LOG_INFO("reloaded tunnels={} routes={}", impl_->state.tunnels().size(),
           impl_->state.routes().size());
}

void Edge::drain(std::chrono::milliseconds grace, std::function<void()> done) {
  auto& im = *impl_;
  im.closeListeners();
  LOG_INFO("draining in_flight={} grace_ms={}", im.in_flight->count, grace.count());
  auto deadline = std::chrono::steady_clock::now() + grace;
  auto timer = std::make_shared<asio::steady_timer>(im.ioc);
  asio::co_spawn(
      im.ioc,
      [this, &im, deadline, timer, done = std::move(done)]() -> Task<void> {
        timer->expires_at(deadline);
        timer->async_wait([&im](const boost::system::error_code&) { im.drained_ev.notify(); });
        while (im.in_flight->count > 0 && std::chrono::steady_clock::now() < deadline)
          co_await im.drained_ev.wait();
        timer->cancel();
        if (im.in_flight->count > 0)
          LOG_WARN("grace period over in_flight={}", im.in_flight->count);
        stop();
        done();
      },
      asio::detached);
}

void Edge::stop() {
  impl_->closeListeners();
  for (auto& [id, l] : impl_->live)
    for (auto& s : l.sessions) s->close();
}

}  // namespace tunnel
