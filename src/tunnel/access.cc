// `burrow access tcp|ssh|rdp|smb`: a local client's TCP connection (or stdin/stdout, for an ssh
// ProxyCommand) carried to a tcp:// route through the edge, as WebSocket binary messages over
// TLS, as cloudflared's `access tcp` does.
#include <openssl/ssl.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "base/base.h"
#include "http/http.h"
#include "http/websocket.h"
#include "tunnel/runtime.h"
#include "tunnel/tunnel.h"

namespace tunnel {
namespace {

using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

namespace ws = http::ws;

constexpr size_t kChunk = 64 * 1024;
constexpr size_t kMaxHead = 16 * 1024;
constexpr auto kHandshakeTimeout = std::chrono::seconds(15);

// Closes `sock` when the time is up, so that a hung edge ends the wait.
struct Deadline {
  Deadline(asio::any_io_executor ex, std::chrono::steady_clock::duration d, tcp::socket& s)
      : timer(ex) {
    timer.expires_after(d);
    timer.async_wait([&s, this](boost::system::error_code ec) {
      if (ec) return;
      expired = true;
      boost::system::error_code ignored;
      s.close(ignored);
    });
  }
  ~Deadline() { timer.cancel(); }
  asio::steady_timer timer;
  bool expired = false;
};

struct Tunnelled {
  std::unique_ptr<http::TlsStream> tls;
  std::string leftover;  // bytes after the 101's head: the first frames
};

// Dials the edge, checks its certificate, and upgrades to a WebSocket on the route.
Task<base::Result<Tunnelled>> open(const AccessOptions& o, asio::ssl::context& ctx) {
  auto ex = co_await asio::this_coro::executor;
  auto hp = base::splitHostPort(o.edge.empty() ? o.hostname + ":443" : o.edge);
  if (!hp) co_return base::Unexpected(hp.error());
  tcp::resolver resolver(ex);
  auto [rec, results] =
      co_await resolver.async_resolve(hp->host, std::to_string(hp->port), as_tuple(use_awaitable));
  if (rec)
    co_return base::invalid("cannot resolve the edge {}:{}: {}", hp->host, hp->port, rec.message());
  auto tls = std::make_unique<http::TlsStream>(ex, ctx);
  Deadline d(ex, kHandshakeTimeout, tls->next_layer());
  auto [cec, ep] =
      co_await asio::async_connect(tls->next_layer(), results, as_tuple(use_awaitable));
  if (cec)
    co_return base::invalid("cannot connect to the edge {}:{}: {}", hp->host, hp->port,
                            d.expired ? "timed out" : cec.message());
  boost::system::error_code nd;
  tls->next_layer().set_option(tcp::no_delay(true), nd);  // interactive streams: no Nagle
  SSL_set_tlsext_host_name(tls->native_handle(), o.hostname.c_str());
  if (!o.insecure) tls->set_verify_callback(asio::ssl::host_name_verification(o.hostname));
  auto [hec] =
      co_await tls->async_handshake(asio::ssl::stream_base::client, as_tuple(use_awaitable));
  if (hec)
    co_return base::invalid("TLS with the edge {}:{} failed: {}{}", hp->host, hp->port,
                            d.expired ? "timed out" : hec.message(),
                            o.insecure ? "" : " (--ca-file names the CA that signed it)");
  std::string key = base::base64Encode(base::randomBytes(16));
  std::string req = fmt::format(
      "GET / HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\nUser-Agent: burrow-access\r\n\r\n",
      o.hostname, key);
  auto [wec, wn] = co_await asio::async_write(*tls, asio::buffer(req), as_tuple(use_awaitable));
  if (wec) co_return base::invalid("sending to the edge failed: {}", wec.message());
  std::string got;
  size_t end = std::string::npos;
  char buf[4096];
  while ((end = got.find("\r\n\r\n")) == std::string::npos) {
    if (got.size() > kMaxHead) co_return base::invalid("the edge's answer has an oversized head");
    auto [rec2, n] = co_await tls->async_read_some(asio::buffer(buf), as_tuple(use_awaitable));
    got.append(buf, n);
    if (rec2 && got.find("\r\n\r\n") == std::string::npos)
      co_return base::invalid("the edge closed the connection before answering{}",
                              d.expired ? " (timed out)" : "");
  }
  std::string head = got.substr(0, end);
  std::string status_line = head.substr(0, head.find("\r\n"));
  if (!status_line.starts_with("HTTP/1.1 101")) {
    std::string body = got.substr(end + 4, 200);
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
    co_return base::invalid("the edge refused the stream for {}: {}{}{}", o.hostname, status_line,
                            body.empty() ? "" : ": ", body);
  }
  std::string lower = base::toLower(head);
  if (lower.find("\r\nsec-websocket-accept: " + base::toLower(ws::acceptKey(key))) ==
      std::string::npos)
    co_return base::invalid("the edge's 101 does not accept this WebSocket key");
  co_return Tunnelled{std::move(tls), got.substr(end + 4)};
}

// Both directions between `local_in`/`local_out` and the tunnel until either side ends.
template <class In, class Out>
Task<base::Result<void>> pipe(Tunnelled t, In& local_in, Out& local_out) {
  auto ex = co_await asio::this_coro::executor;
  auto& tls = *t.tls;
  bool down_done = false;
  asio::steady_timer down_ev(ex, asio::steady_timer::time_point::max());
  std::string down_error;
  // Edge -> local.
  asio::co_spawn(
      ex,
      [&]() -> Task<void> {
        ws::Decoder decoder(/*masked=*/false, /*max_payload=*/1 << 20);
        std::vector<ws::Frame> frames;
        std::string data = std::move(t.leftover);
        auto buf = std::make_unique<char[]>(kChunk);
        for (bool open = true; open;) {
          frames.clear();
          if (auto ok = decoder.feed(data, &frames); !ok) {
            down_error = ok.error().message();
            break;
          }
          for (const auto& f : frames) {
            if (f.op == ws::Opcode::Close) {
              open = false;
              break;
            }
            if (f.op != ws::Opcode::Binary && f.op != ws::Opcode::Continuation &&
                f.op != ws::Opcode::Text)
              continue;
            auto [ec, n] = co_await asio::async_write(local_out, asio::buffer(f.payload),
                                                      as_tuple(use_awaitable));
            if (ec) {
              open = false;
              break;
            }
          }
          if (!open) break;
          auto [ec, n] = co_await tls.async_read_some(asio::buffer(buf.get(), kChunk),
                                                      as_tuple(use_awaitable));
          data.assign(buf.get(), n);
          if (ec && n == 0) break;
        }
        boost::system::error_code ignored;
        if constexpr (requires { local_out.shutdown(tcp::socket::shutdown_send, ignored); })
          local_out.shutdown(tcp::socket::shutdown_send, ignored);
        else
          local_out.close(ignored);
        down_done = true;
        down_ev.cancel();
      },
      asio::detached);
  // Local -> edge.
  auto buf = std::make_unique<char[]>(kChunk);
  uint32_t mask_seed = 0;
  std::memcpy(&mask_seed, base::randomBytes(4).data(), 4);
  for (;;) {
    auto [ec, n] =
        co_await local_in.async_read_some(asio::buffer(buf.get(), kChunk), as_tuple(use_awaitable));
    if (n > 0) {
      mask_seed = mask_seed * 1664525u + 1013904223u;
      std::string frame =
          ws::encodeFrame(ws::Opcode::Binary, std::string_view(buf.get(), n), mask_seed);
      auto [wec, w] = co_await asio::async_write(tls, asio::buffer(frame), as_tuple(use_awaitable));
      if (wec) break;
    }
    if (ec) {
      if (down_done) break;
      // The local side is done sending: say so, and wait for the other direction to end.
      std::string close = ws::encodeFrame(ws::Opcode::Close, std::string("\x03\xe8", 2), mask_seed);
      (void)co_await asio::async_write(tls, asio::buffer(close), as_tuple(use_awaitable));
      break;
    }
    if (down_done) break;
  }
  while (!down_done) co_await down_ev.async_wait(as_tuple(use_awaitable));
  if (!down_error.empty()) co_return base::invalid("{}", down_error);
  co_return base::Result<void>{};
}

base::Result<void> setupContext(const AccessOptions& o, asio::ssl::context& ctx) {
  boost::system::error_code ec;
  if (o.insecure) {
    ctx.set_verify_mode(asio::ssl::verify_none, ec);
    return {};
  }
  ctx.set_verify_mode(asio::ssl::verify_peer, ec);
  if (!o.ca_file.empty()) {
    ctx.load_verify_file(o.ca_file, ec);
    if (ec) return base::invalid("--ca-file {}: {}", o.ca_file, ec.message());
  } else {
    ctx.set_default_verify_paths(ec);
  }
  return {};
}

}  // namespace

base::Result<int> runAccess(const AccessOptions& o) {
  if (o.hostname.empty()) return base::invalid("--hostname is required");
  if (o.insecure && !o.ca_file.empty())
    return base::invalid("--insecure and --ca-file exclude each other");
  asio::io_context ioc(1);
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  RETURN_IF_ERROR(setupContext(o, ctx));
  base::Result<int> result = 0;
  if (o.url.empty()) {
    // stdin/stdout: one stream, for an ssh ProxyCommand.
    asio::co_spawn(
        ioc,
        [&]() -> Task<void> {
          auto t = co_await open(o, ctx);
          if (!t) {
            result = base::Unexpected(t.error());
            co_return;
          }
          asio::posix::stream_descriptor in(ioc, ::dup(STDIN_FILENO));
          asio::posix::stream_descriptor out(ioc, ::dup(STDOUT_FILENO));
          if (auto r = co_await pipe(std::move(*t), in, out); !r)
            result = base::Unexpected(r.error());
        },
        asio::detached);
    ioc.run();
    return result;
  }
  ASSIGN_OR_RETURN(tcp::acceptor acc, listen(ioc, o.url, "url"));
  LOG_INFO("access listening url={} hostname={} edge={}", formatEndpoint(acc.local_endpoint()),
           o.hostname, o.edge.empty() ? o.hostname + ":443" : o.edge);
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (!ec) ioc.stop();
  });
  asio::co_spawn(
      ioc,
      [&]() -> Task<void> {
        for (;;) {
          auto [ec, sock] = co_await acc.async_accept(as_tuple(use_awaitable));
          if (ec) co_return;
          asio::co_spawn(
              ioc,
              [&o, &ctx, s = std::make_shared<tcp::socket>(std::move(sock))]() -> Task<void> {
                boost::system::error_code nd;
                s->set_option(tcp::no_delay(true), nd);
                auto t = co_await open(o, ctx);
                if (!t) {
                  LOG_WARN("access stream refused hostname={} error={}", o.hostname,
                           t.error().message());
                  co_return;
                }
                if (auto r = co_await pipe(std::move(*t), *s, *s); !r)
                  LOG_DEBUG("access stream ended error={}", r.error().message());
              },
              asio::detached);
        }
      },
      asio::detached);
  ioc.run();
  return 0;
}

}  // namespace tunnel
