// Origin side: pooled HTTP/1.1 connections to the services named by ingress rules, the
// request/response exchange over them, WebSocket relay, and the built-in answers.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <deque>
#include <map>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "base/base.h"
#include "http/http.h"
#include "http/internal.h"
#include "http/origin_response.h"
#include "http/sweep.h"
#include "http/websocket.h"

namespace http {

namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::as_tuple;
using asio::use_awaitable;
using Socket = asio::generic::stream_protocol::socket;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kChunk = Chunk::kSize;

struct OriginConn {
  // Beast reads at most the buffer's free capacity per call: give bodies room to arrive in
  // large pieces instead of 512-byte ones.
  explicit OriginConn(const asio::any_io_executor& ex) : sock(ex), sweep(sweepOf(ex)) {
    buf.reserve(kChunk);
  }
  explicit OriginConn(Socket s) : sock(std::move(s)), sweep(sweepOf(sock.get_executor())) {
    buf.reserve(kChunk);
  }
  Socket sock;
  SweepService& sweep;  // checks responseTimeout, looked up once per connection
  std::unique_ptr<asio::ssl::stream<Socket&>> tls;  // set for https:// and unix+tls:
  beast::flat_buffer buf;
  Clock::time_point idle_since{};
};

// Origin connections are pooled per destination and TLS settings. The key is built in place
// (no allocation per request); the pool copies it only for a destination it has not seen.
using PoolKey = fmt::basic_memory_buffer<char, 128>;
void poolKey(const config::Service& svc, const config::OriginSettings& o, PoolKey* key) {
  auto out = std::back_inserter(*key);
  switch (svc.kind) {
    case config::ServiceKind::Http:
      fmt::format_to(out, "h|{}|{}", svc.host, svc.port);
      break;
    case config::ServiceKind::Https:
      fmt::format_to(out, "s|{}|{}|{}|{}|{}", svc.host, svc.port, o.origin_server_name,
                     o.no_tls_verify, o.ca_pool);
      break;
    case config::ServiceKind::Unix:
      fmt::format_to(out, "u|{}", svc.unix_path);
      break;
    case config::ServiceKind::UnixTls:
      fmt::format_to(out, "t|{}|{}|{}|{}", svc.unix_path, o.origin_server_name, o.no_tls_verify,
                     o.ca_pool);
      break;
    default:
      break;
  }
}
std::string_view view(const PoolKey& k) { return {k.data(), k.size()}; }

// Runs `fn` on the socket's executor when `timeout` passes first; disarm() stops it.
class Deadline {
 public:
  Deadline(const asio::any_io_executor& ex, std::chrono::milliseconds timeout, Socket& sock)
      : timer_(ex), alive_(std::make_shared<bool>(true)) {
    timer_.expires_after(timeout);
    timer_.async_wait([alive = alive_, expired = expired_, &sock](const beast::error_code& ec) {
      if (ec || !*alive) return;
      *expired = true;
      beast::error_code ignored;
      sock.close(ignored);
    });
  }
  ~Deadline() { disarm(); }
  void disarm() {
    *alive_ = false;
    timer_.cancel();
  }
  bool expired() const { return *expired_; }

 private:
  asio::steady_timer timer_;
  std::shared_ptr<bool> alive_;
  std::shared_ptr<bool> expired_ = std::make_shared<bool>(false);
};

}  // namespace

struct OriginPool::Impl {
  explicit Impl(asio::any_io_executor e) : ex(std::move(e)), resolver(ex) {}
  asio::any_io_executor ex;
  asio::ip::tcp::resolver resolver;
  std::map<std::string, std::deque<std::unique_ptr<OriginConn>>, std::less<>> idle;
  std::map<std::string, std::unique_ptr<asio::ssl::context>> tls_contexts;

  base::Result<asio::ssl::context*> tlsContext(const config::OriginSettings& o) {
    std::string key = fmt::format("{}|{}", o.no_tls_verify, o.ca_pool);
    auto& slot = tls_contexts[key];
    if (!slot) {
      auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
      beast::error_code ec;
      if (o.no_tls_verify) {
        ctx->set_verify_mode(asio::ssl::verify_none);
      } else {
        ctx->set_verify_mode(asio::ssl::verify_peer);
        if (o.ca_pool.empty())
          ctx->set_default_verify_paths(ec);
        else
          ctx->load_verify_file(o.ca_pool, ec);
        if (ec) return base::invalid("caPool {}: {}", o.ca_pool, ec.message());
      }
      slot = std::move(ctx);
    }
    return slot.get();
  }

  std::unique_ptr<OriginConn> takeIdle(std::string_view key, Clock::duration max_idle) {
    auto it = idle.find(key);
    if (it == idle.end()) return nullptr;
    auto& q = it->second;
    auto now = Clock::now();
    while (!q.empty()) {
      auto c = std::move(q.back());
      q.pop_back();
      if (now - c->idle_since < max_idle) return c;
    }
    return nullptr;
  }

  void giveBack(std::string_view key, std::unique_ptr<OriginConn> c, size_t max_idle_conns) {
    auto it = idle.find(key);
    if (it == idle.end()) it = idle.emplace(std::string(key), decltype(it->second){}).first;
    auto& q = it->second;
    if (q.size() >= max_idle_conns) return;  // closes c
    c->idle_since = Clock::now();
    q.push_back(std::move(c));
  }

  Task<base::Result<std::unique_ptr<OriginConn>>> connect(const config::Service& svc,
                                                          const config::OriginSettings& o) {
    auto c = std::make_unique<OriginConn>(ex);
    bool tls = svc.kind == config::ServiceKind::Https || svc.kind == config::ServiceKind::UnixTls;
    std::string what;
    if (svc.kind == config::ServiceKind::Unix || svc.kind == config::ServiceKind::UnixTls) {
      what = svc.unix_path;
      asio::local::stream_protocol::endpoint ep(svc.unix_path);
      Deadline d(ex, o.connect_timeout, c->sock);
      beast::error_code ec;
      c->sock.open(asio::generic::stream_protocol(AF_UNIX, SOCK_STREAM), ec);
      if (!ec) std::tie(ec) = co_await c->sock.async_connect(ep, as_tuple(use_awaitable));
      if (ec)
        co_return base::makeError(std::errc::connection_refused, "origin {}: {}", what,
                                  d.expired() ? "connect timeout" : ec.message());
    } else {
      what = fmt::format("{}:{}", svc.host, svc.port);
      auto [rec, results] = co_await resolver.async_resolve(svc.host, std::to_string(svc.port),
                                                            as_tuple(use_awaitable));
      if (rec)
        co_return base::makeError(std::errc::host_unreachable, "origin {}: resolve: {}", what,
                                  rec.message());
      beast::error_code ec = asio::error::host_not_found;
      for (const auto& r : results) {
        Deadline d(ex, o.connect_timeout, c->sock);
        beast::error_code oc;
        if (c->sock.is_open()) c->sock.close(oc);
        asio::generic::stream_protocol::endpoint gep(r.endpoint());
        c->sock.open(gep.protocol(), ec);
        if (ec) continue;
        std::tie(ec) = co_await c->sock.async_connect(gep, as_tuple(use_awaitable));
        if (d.expired()) ec = asio::error::timed_out;
        if (!ec) break;
      }
      if (ec)
        co_return base::makeError(std::errc::connection_refused, "origin {}: {}", what,
                                  ec.message());
      beast::error_code ignored;
      c->sock.set_option(asio::ip::tcp::no_delay(true), ignored);
      // tcpKeepAlive: probe an idle pooled connection after this long (see tcp(7)).
      int keep_idle = static_cast<int>(std::max<int64_t>(1, o.tcp_keep_alive.count() / 1000));
      c->sock.set_option(asio::socket_base::keep_alive(true), ignored);
      ::setsockopt(c->sock.native_handle(), IPPROTO_TCP, TCP_KEEPIDLE, &keep_idle,
                   sizeof keep_idle);
      ::setsockopt(c->sock.native_handle(), IPPROTO_TCP, TCP_KEEPINTVL, &keep_idle,
                   sizeof keep_idle);
    }
    if (tls) {
      CO_ASSIGN_OR_RETURN(asio::ssl::context * ctx, tlsContext(o));
      c->tls = std::make_unique<asio::ssl::stream<Socket&>>(c->sock, *ctx);
      std::string sni = !o.origin_server_name.empty() ? o.origin_server_name : svc.host;
      if (!sni.empty()) {
        SSL_set_tlsext_host_name(c->tls->native_handle(), sni.c_str());
        if (!o.no_tls_verify) c->tls->set_verify_callback(asio::ssl::host_name_verification(sni));
      }
      Deadline d(ex, o.tls_timeout, c->sock);
      auto [ec] =
          co_await c->tls->async_handshake(asio::ssl::stream_base::client, as_tuple(use_awaitable));
      if (ec)
        co_return base::makeError(std::errc::connection_refused, "origin {}: TLS: {}", what,
                                  d.expired() ? "handshake timeout" : ec.message());
    }
    co_return c;
  }
};

OriginPool::OriginPool(asio::any_io_executor ex) : impl_(std::make_unique<Impl>(std::move(ex))) {}
OriginPool::~OriginPool() = default;

namespace {

std::string serializeRequestHead(const RequestHead& req, const config::OriginSettings& o,
                                 bool chunked) {
  std::string out;
  out.reserve(512);
  out += req.method;
  out += ' ';
  out += req.target;
  out += " HTTP/1.1\r\nhost: ";
  out += o.http_host_header.empty() ? req.authority : o.http_host_header;
  out += "\r\n";
  for (const auto& h : req.headers) {
    if (h.name == "content-length") continue;
    out += h.name;
    out += ": ";
    out += h.value;
    out += "\r\n";
  }
  if (req.upgrade_websocket) {
    out += "connection: upgrade\r\nupgrade: websocket\r\n";
  } else if (req.content_length) {
    out += "content-length: " + std::to_string(*req.content_length) + "\r\n";
  } else if (chunked) {
    out += "transfer-encoding: chunked\r\n";
  }
  out += "\r\n";
  return out;
}

std::string_view bufView(const beast::flat_buffer& b) {
  return {static_cast<const char*>(b.data().data()), b.size()};
}

// Reads what the origin has into the free end of `buf`.
template <class S>
Task<beast::error_code> readMore(S& s, beast::flat_buffer& buf) {
  size_t room = buf.capacity() > buf.size() ? buf.capacity() - buf.size() : 4096;
  auto [ec, n] = co_await s.async_read_some(buf.prepare(room), as_tuple(use_awaitable));
  buf.commit(n);
  if (n > 0) co_return beast::error_code{};
  co_return ec ? ec : beast::error_code(asio::error::eof);
}

// Shared by the two halves of one exchange so the reading half can wait for the writing half.
struct UploadState {
  explicit UploadState(const asio::any_io_executor& ex) : done_ev(ex) {}
  bool done = false;
  bool ok = false;
  Event done_ev;
};

template <class S>
Task<void> upload(S& s, BodyReader& body, bool chunked, std::shared_ptr<UploadState> st) {
  Chunk chunk;
  bool ok = true;
  for (;;) {
    auto n = co_await body.read(chunk.get(), kChunk);
    if (!n) {
      ok = false;
      break;
    }
    if (*n == 0) {
      if (chunked) {
        auto [ec, w] =
            co_await asio::async_write(s, asio::buffer("0\r\n\r\n", 5), as_tuple(use_awaitable));
        if (ec) ok = false;
      }
      break;
    }
    std::array<asio::const_buffer, 3> bufs;
    size_t nb = 0;
    char line[24];
    if (chunked) {
      int l = std::snprintf(line, sizeof line, "%zx\r\n", *n);
      bufs[nb++] = asio::buffer(line, static_cast<size_t>(l));
    }
    bufs[nb++] = asio::buffer(chunk.get(), *n);
    if (chunked) bufs[nb++] = asio::buffer("\r\n", 2);
    auto [ec, w] =
        co_await asio::async_write(s, std::span(bufs.data(), nb), as_tuple(use_awaitable));
    if (ec) {
      ok = false;
      break;
    }
  }
  st->ok = ok;
  st->done = true;
  st->done_ev.notify();
}

// Raw byte relay from the origin to the client after a 101.
template <class S>
Task<void> relayDown(S& s, beast::flat_buffer& buf, ResponseWriter& out) {
  if (buf.size() > 0) {
    std::string pre(static_cast<const char*>(buf.data().data()), buf.size());
    buf.consume(buf.size());
    if (!co_await out.writeBody(pre.data(), pre.size())) co_return;
  }
  Chunk chunk;
  for (;;) {
    auto [ec, n] =
        co_await s.async_read_some(asio::buffer(chunk.get(), kChunk), as_tuple(use_awaitable));
    if (n > 0 && !co_await out.writeBody(chunk.get(), n)) co_return;
    if (ec) break;
  }
  (void)co_await out.finish();
}

enum class Outcome {
  Done,         // response relayed; the connection may be reusable
  FailedEarly,  // nothing was sent to the client and no body was consumed: may retry
  Failed,       // failed after the response started; the client sees an aborted response
};

void shutdownSend(Socket& s) {
  beast::error_code ignored;
  s.shutdown(Socket::shutdown_send, ignored);
}
template <class S>
Socket& lowestSocket(S& s) {
  if constexpr (std::is_same_v<S, Socket>)
    return s;
  else
    return s.next_layer();
}

// Reads the response head, after any interim (1xx) answers, which stay here.
template <class S>
Task<bool> readResponseHead(S& s, OriginConn& c, bool head_request, OriginResponse* r,
                            std::string* error) {
  for (;;) {
    auto used = parseOriginResponse(bufView(c.buf), head_request, r);
    if (used && *used > 0) {
      c.buf.consume(*used);
      if (r->head.status < 200 && r->head.status != 101) continue;
      co_return true;
    }
    auto ec = used ? co_await readMore(s, c.buf) : beast::error_code{};
    if (!used || ec) {
      *error = !used ? fmt::format("origin response: {}", used.error().message())
               : ec == asio::error::eof && c.buf.size() == 0
                   ? std::string("origin closed the connection without answering")
                   : fmt::format("origin response: {}", ec.message());
      co_return false;
    }
  }
}

// After a 101: both directions until either side ends, client -> origin here and origin ->
// client in a coroutine of its own.
template <class S>
Task<void> relayUpgraded(S& s, OriginConn& c, BodyReader& body, ResponseWriter& out) {
  auto ex = co_await asio::this_coro::executor;
  auto down_done = std::make_shared<UploadState>(ex);
  asio::co_spawn(
      ex,
      [&s, &c, &out, down_done]() -> Task<void> {
        co_await relayDown(s, c.buf, out);
        down_done->done = true;
        down_done->done_ev.notify();
      },
      asio::detached);
  Chunk chunk;
  for (;;) {
    auto n = co_await body.read(chunk.get(), kChunk);
    if (!n || *n == 0) break;
    auto [ec, w] =
        co_await asio::async_write(s, asio::buffer(chunk.get(), *n), as_tuple(use_awaitable));
    if (ec) break;
  }
  shutdownSend(lowestSocket(s));
  while (!down_done->done) co_await down_done->done_ev.wait();
}

// Relays the response body as `r` frames it. `body_ready`: bytes of it are already here, so
// a head kept back by `out` can leave with them.
template <class S>
Task<bool> relayBody(S& s, OriginConn& c, const OriginResponse& r, bool body_ready,
                     ResponseWriter& out, std::string* error) {
  // Body bytes go from the connection's buffer to the client as they come, decoded in place.
  ChunkedDecoder chunks;
  uint64_t left = r.length;
  auto bodyDone = [&] {
    switch (r.framing) {
      case BodyFraming::None:
        return true;
      case BodyFraming::Length:
        return left == 0;
      case BodyFraming::Chunked:
        return chunks.done();
      case BodyFraming::UntilClose:
        return false;
    }
    return true;
  };
  if (bodyDone() || !body_ready) (void)co_await out.flush();
  while (!bodyDone()) {
    size_t consumed = 0, offset = 0, len = 0;
    if (r.framing == BodyFraming::Chunked) {
      auto st = chunks.step(bufView(c.buf));
      if (!st) {
        *error = fmt::format("origin body: {}", st.error().message());
        co_return false;
      }
      consumed = st->consumed, offset = st->data_offset, len = st->data_len;
    } else {
      len = consumed = r.framing == BodyFraming::Length
                           ? static_cast<size_t>(std::min<uint64_t>(left, c.buf.size()))
                           : c.buf.size();
      left -= len;
    }
    if (len > 0 && !co_await out.writeBody(bufView(c.buf).data() + offset, len)) {
      *error = "client went away";
      co_return false;
    }
    c.buf.consume(consumed);
    if (consumed > 0) continue;
    auto ec = co_await readMore(s, c.buf);
    if (ec == asio::error::eof && r.framing == BodyFraming::UntilClose) break;
    if (ec) {
      *error =
          fmt::format("origin body: {}", ec == asio::error::eof
                                             ? std::string("origin closed the connection early")
                                             : ec.message());
      co_return false;
    }
  }
  co_return true;
}

// How an exchange that did not complete ended, beyond its Outcome.
struct Failure {
  std::string error;       // for the log, never for the client
  bool timed_out = false;  // the origin sent no response head within responseTimeout
  bool abandoned = false;  // the client went away: nothing more is owed to it
};

// While an exchange runs, a client that goes away closes the origin connection: the origin
// stops working for nobody, and every wait below ends at once.
class AbandonGuard {
 public:
  AbandonGuard(ResponseWriter& out, Socket& sock, Failure* f) : out_(out) {
    out_.onAbandoned([&sock, f] {
      f->abandoned = true;
      beast::error_code ignored;
      sock.close(ignored);
    });
  }
  ~AbandonGuard() { out_.onAbandoned(nullptr); }

 private:
  ResponseWriter& out_;
};

template <class S>
Task<Outcome> exchange(S& s, OriginConn& c, const config::OriginSettings& o, RequestHead& req,
                       BodyReader& body, ResponseWriter& out, bool* reusable, Failure* failure) {
  *reusable = false;
  std::string* error = &failure->error;
  AbandonGuard abandon(out, c.sock, failure);
  bool chunked_up = req.has_body && !req.content_length && !req.upgrade_websocket;
  std::string head = serializeRequestHead(req, o, chunked_up);
  auto [wec, wn] = co_await asio::async_write(s, asio::buffer(head), as_tuple(use_awaitable));
  if (wec) {
    *error = fmt::format("write to origin: {}", wec.message());
    co_return Outcome::FailedEarly;
  }
  auto ex = co_await asio::this_coro::executor;
  std::shared_ptr<UploadState> up;
  if (req.has_body) {
    up = std::make_shared<UploadState>(ex);
    asio::co_spawn(ex, upload(s, body, chunked_up, up), asio::detached);
  }
  // Waits for the upload half, cancelling the client's body first when it is still running.
  auto joinUpload = [&](bool cancel) -> Task<bool> {
    if (!up) co_return true;
    if (!up->done && cancel) body.cancel();
    while (!up->done) co_await up->done_ev.wait();
    co_return up->ok;
  };

  OriginResponse r;
  // responseTimeout, on the sweep's ticks (no timer per request): the connection is closed,
  // which ends the read below.
  std::optional<SweepCheck> response_deadline;
  if (o.response_timeout.count() > 0)
    response_deadline.emplace(c.sweep, o.response_timeout, [&c, failure] {
      failure->timed_out = true;
      beast::error_code ignored;
      c.sock.close(ignored);
      return true;
    });
  bool got_head = co_await readResponseHead(s, c, req.method == "HEAD", &r, error);
  response_deadline.reset();
  if (failure->timed_out)
    *error = fmt::format("origin sent no response head within {} ms (responseTimeout)",
                         o.response_timeout.count());
  if (!got_head) {
    bool body_touched = up != nullptr;
    co_await joinUpload(true);
    co_return body_touched ? Outcome::Failed : Outcome::FailedEarly;
  }
  ResponseHead& resp = r.head;
  if (resp.status == 101) {
    if (!req.upgrade_websocket) {
      *error = "origin switched protocols without being asked";
      co_await joinUpload(true);
      co_return Outcome::Failed;
    }
    if (!co_await out.writeHead(std::move(resp))) co_return Outcome::Failed;
    co_await relayUpgraded(s, c, body, out);
    co_return Outcome::Done;
  }

  if (!co_await out.writeHead(std::move(resp))) {
    co_await joinUpload(true);
    co_return Outcome::Failed;
  }
  // The head waits for the first body bytes when they are already here (in our buffer or
  // the socket's), so both leave in one write; otherwise it goes now, for streaming answers
  // whose body comes later (server-sent events, long polls).
  // (No body at all, as a forwardAuth server's 200 has none: nothing to ask the socket.)
  beast::error_code avail_ec;
  const bool no_body =
      r.framing == BodyFraming::None || (r.framing == BodyFraming::Length && r.length == 0);
  bool body_ready = !no_body && (c.buf.size() > 0 || lowestSocket(s).available(avail_ec) > 0);
  if (!co_await relayBody(s, c, r, body_ready, out, error)) {
    co_await joinUpload(true);
    co_return Outcome::Failed;
  }
  bool upload_ok = co_await joinUpload(true);
  if (!co_await out.finish()) co_return Outcome::Failed;
  *reusable = upload_ok && r.keep_alive && c.buf.size() == 0;
  co_return Outcome::Done;
}

Task<void> helloWorld(RequestHead& req, ResponseWriter& out) {
  std::string body = fmt::format(
      "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>burrow</title></head>\n"
      "<body><h1>burrow is working</h1>\n<p>This page came through a burrow tunnel.</p>\n"
      "<p>host: {}<br>path: {}<br>method: {}</p></body></html>\n",
      req.authority, req.target.substr(0, 200), req.method);
  ResponseHead head;
  head.status = 200;
  head.headers.push_back({"content-type", "text/html; charset=utf-8"});
  head.content_length = body.size();
  if (!co_await out.writeHead(std::move(head))) co_return;
  if (req.method != "HEAD" && !co_await out.writeBody(body.data(), body.size())) co_return;
  (void)co_await out.finish();
}

// A route that carries TCP (tcp://, ssh://, rdp://, smb://): the client (`burrow access`)
// speaks WebSocket through the tunnel, the origin gets the raw bytes of its binary messages,
// and what the origin sends goes back as binary messages. Ends when either side does.
Task<void> relayTcp(OriginPool& pool, const config::IngressRule& rule, RequestHead& req,
                    BodyReader& body, ResponseWriter& out) {
  const auto& svc = rule.service;
  const std::string* key = req.find("sec-websocket-key");
  if (!req.upgrade_websocket || key == nullptr || key->empty()) {
    co_await respondText(out, 400,
                         "this route carries TCP: connect with `burrow access tcp --hostname "
                         "HOST` (a WebSocket upgrade)");
    co_return;
  }
  auto conn = co_await pool.impl().connect(svc, rule.origin);
  if (!conn) {
    LOG_WARN("origin unreachable service={} error={}", svc.text, conn.error().message());
    co_await respondText(out, 502, conn.error().message());
    co_return;
  }
  Socket& sock = (*conn)->sock;
  ResponseHead head;
  head.status = 101;
  // Upgrade and Connection are the client's server's to add (they are hop-by-hop).
  head.headers.push_back({"sec-websocket-accept", ws::acceptKey(*key)});
  if (!co_await out.writeHead(std::move(head))) co_return;
  (void)co_await out.flush();
  LOG_DEBUG("tcp stream open service={} client={}", svc.text, req.client_ip);

  // Origin -> client, in a coroutine of its own: binary messages, then a close frame.
  auto ex = co_await asio::this_coro::executor;
  auto down_done = std::make_shared<UploadState>(ex);
  asio::co_spawn(
      ex,
      [&sock, &out, down_done]() -> Task<void> {
        Chunk chunk;
        for (;;) {
          auto [ec, n] = co_await sock.async_read_some(asio::buffer(chunk.get(), kChunk),
                                                       as_tuple(use_awaitable));
          if (n > 0) {
            std::string frame =
                ws::encodeFrame(ws::Opcode::Binary, std::string_view(chunk.get(), n), std::nullopt);
            if (!co_await out.writeBody(frame.data(), frame.size())) break;
            if (!co_await out.flush()) break;
          }
          if (ec) {
            std::string close = ws::encodeFrame(ws::Opcode::Close, std::string("\x03\xe8", 2),
                                                std::nullopt);  // 1000: normal closure
            if (co_await out.writeBody(close.data(), close.size())) (void)co_await out.finish();
            break;
          }
        }
        down_done->done = true;
        down_done->done_ev.notify();
      },
      asio::detached);

  // Client -> origin.
  ws::Decoder decoder(/*masked=*/true, /*max_payload=*/1 << 20);
  std::vector<ws::Frame> frames;
  Chunk chunk;
  bool open = true;
  while (open) {
    auto n = co_await body.read(chunk.get(), kChunk);
    if (!n || *n == 0) break;
    frames.clear();
    if (auto ok = decoder.feed(std::string_view(chunk.get(), *n), &frames); !ok) {
      LOG_DEBUG("tcp stream closed service={} error={}", svc.text, ok.error().message());
      break;
    }
    for (const auto& f : frames) {
      if (f.op == ws::Opcode::Close) {
        open = false;
        break;
      }
      if (f.op == ws::Opcode::Ping || f.op == ws::Opcode::Pong || f.payload.empty()) continue;
      auto [ec, w] =
          co_await asio::async_write(sock, asio::buffer(f.payload), as_tuple(use_awaitable));
      if (ec) {
        open = false;
        break;
      }
    }
  }
  shutdownSend(sock);
  while (!down_done->done) co_await down_done->done_ev.wait();
  LOG_DEBUG("tcp stream closed service={}", svc.text);
}

}  // namespace

Task<void> proxy(OriginPool& pool, const config::IngressRule& rule, RequestHead& req,
                 BodyReader& body, ResponseWriter& out) {
  const auto& svc = rule.service;
  if (svc.kind == config::ServiceKind::Tcp) {
    co_await relayTcp(pool, rule, req, body, out);
    co_return;
  }
  if (svc.kind == config::ServiceKind::HttpStatus) {
    ResponseHead head;
    head.status = svc.status;
    head.content_length = 0;
    if (co_await out.writeHead(std::move(head))) (void)co_await out.finish();
    co_return;
  }
  if (svc.kind == config::ServiceKind::HelloWorld) {
    co_await helloWorld(req, out);
    co_return;
  }
  if (rule.origin.disable_chunked_encoding && req.has_body && !req.content_length &&
      !req.upgrade_websocket) {
    // The origin takes no chunked bodies and this one has no length: say so rather than send
    // it unframed (the origin would see no body) or hold it all in memory to count it.
    co_await respondText(out, 411,
                         "this origin takes no chunked request bodies (disableChunkedEncoding); "
                         "send Content-Length");
    co_return;
  }
  if (auto failed = co_await roundTrip(pool, svc, rule.origin, req, body, out)) {
    if (failed->abandoned) {
      LOG_DEBUG("request abandoned by the client, origin connection closed service={}", svc.text);
      co_return;
    }
    if (failed->unreachable)
      LOG_WARN("origin unreachable service={} error={}", svc.text, failed->message);
    else
      LOG_WARN("origin request failed service={} error={}", svc.text, failed->message);
    co_await respondText(out, failed->status, failed->message);
  }
}

Task<std::optional<RoundTripError>> roundTrip(OriginPool& pool, const config::Service& svc,
                                              const config::OriginSettings& origin,
                                              RequestHead& req, BodyReader& body,
                                              ResponseWriter& out) {
  auto& impl = pool.impl();
  PoolKey key;
  poolKey(svc, origin, &key);
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto conn = impl.takeIdle(view(key), origin.keep_alive_timeout);
    bool reused = conn != nullptr;
    if (!conn) {
      auto fresh = co_await impl.connect(svc, origin);
      if (!fresh) co_return RoundTripError{fresh.error().message(), 502, false, true};
      conn = std::move(*fresh);
    }
    bool reusable = false;
    Failure f;
    Outcome r = conn->tls
                    ? co_await exchange(*conn->tls, *conn, origin, req, body, out, &reusable, &f)
                    : co_await exchange(conn->sock, *conn, origin, req, body, out, &reusable, &f);
    if (r == Outcome::Done && !f.abandoned) {
      if (reusable && !req.upgrade_websocket)
        impl.giveBack(view(key), std::move(conn),
                      static_cast<size_t>(origin.keep_alive_connections));
      co_return std::nullopt;
    }
    if (f.abandoned) co_return RoundTripError{"the client went away", 502, true};
    if (r == Outcome::FailedEarly && reused && !out.headWritten() && !f.timed_out)
      continue;  // a stale pooled connection
    co_return RoundTripError{f.error, f.timed_out ? 504 : 502};
  }
  co_return RoundTripError{"no connection to the origin", 502};
}

Task<void> forward(LocalSocket sock, RequestHead& req, BodyReader& body, ResponseWriter& out) {
  // Host from the request, and no response timeout of its own: the shard that serves the
  // request applies the origin's.
  static const config::OriginSettings kPlain = [] {
    config::OriginSettings o;
    o.response_timeout = config::Millis(0);
    return o;
  }();
  OriginConn conn(std::move(sock));
  bool reusable = false;
  Failure f;
  Outcome r = co_await exchange(conn.sock, conn, kPlain, req, body, out, &reusable, &f);
  if (r != Outcome::Done && !f.abandoned) co_await respondText(out, 502, f.error);
  beast::error_code ignored;
  conn.sock.shutdown(Socket::shutdown_both, ignored);
}

}  // namespace http
