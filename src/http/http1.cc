// The client-facing HTTP/1.1 server loop and the pieces of the request model shared with
// the rest of http: header filtering, Event, text answers.
#include <array>
#include <chrono>
#include <limits>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

#include "base/base.h"
#include "http/http.h"
#include "http/internal.h"

namespace http {

namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::as_tuple;
using asio::use_awaitable;

namespace {
// Free Chunk buffers of this thread; bounded so a burst does not pin memory for ever.
struct ChunkCache {
  std::vector<char*> free;
  ~ChunkCache() {
    for (char* p : free) delete[] p;
  }
};
thread_local ChunkCache t_chunks;
constexpr size_t kMaxCachedChunks = 256;
}  // namespace

Chunk::Chunk() {
  if (!t_chunks.free.empty()) {
    p_ = t_chunks.free.back();
    t_chunks.free.pop_back();
  } else {
    p_ = new char[kSize];
  }
}

Chunk::~Chunk() {
  if (!p_) return;
  if (t_chunks.free.size() < kMaxCachedChunks)
    t_chunks.free.push_back(p_);
  else
    delete[] p_;
}

Event::Event(const asio::any_io_executor& ex) : timer_(ex) {}

Task<void> Event::wait() {
  if (pending_) {
    pending_ = false;
    co_return;
  }
  timer_.expires_at(asio::steady_timer::time_point::max());
  co_await timer_.async_wait(as_tuple(use_awaitable));
  pending_ = false;
}

void Event::notify() {
  pending_ = true;
  timer_.cancel();
}

Task<void> respondText(ResponseWriter& out, int status, std::string_view reason) {
  if (out.headWritten()) co_return;
  ResponseHead head;
  head.status = status;
  std::string body = fmt::format("{} {}: {}\n", status, reasonPhrase(status), reason);
  head.headers.push_back({"content-type", "text/plain; charset=utf-8"});
  head.content_length = body.size();
  if (!co_await out.writeHead(std::move(head))) co_return;
  if (!co_await out.writeBody(body.data(), body.size())) co_return;
  (void)co_await out.finish();
}

namespace {

asio::ip::tcp::socket& lowest(asio::ip::tcp::socket& s) { return s; }
asio::ip::tcp::socket& lowest(TlsStream& s) { return s.next_layer(); }
LocalSocket& lowest(LocalSocket& s) { return s; }

// Reads the request body (or, after a 101, the raw stream) for one request.
template <class Stream>
class Http1Body final : public BodyReader {
 public:
  Http1Body(Stream& s, beast::flat_buffer& buf, bhttp::request_parser<bhttp::buffer_body>& p,
            bool expect_continue, int version)
      : s_(s), buf_(buf), p_(p), expect_continue_(expect_continue), version_(version) {}

  Task<base::Result<size_t>> read(char* out, size_t len) override {
    if (cancelled_)
      co_return base::makeError(std::errc::operation_canceled, "client body cancelled");
    if (upgraded_) {
      if (buf_.size() > 0) {
        size_t n = asio::buffer_copy(asio::buffer(out, len), buf_.data());
        buf_.consume(n);
        co_return n;
      }
      auto [ec, n] = co_await s_.async_read_some(asio::buffer(out, len), as_tuple(use_awaitable));
      if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) co_return size_t{0};
      if (ec)
        co_return base::makeError(std::errc::connection_reset, "client read: {}", ec.message());
      co_return n;
    }
    if (expect_continue_ && !p_.is_done()) {
      expect_continue_ = false;
      static constexpr std::string_view k100 = "HTTP/1.1 100 Continue\r\n\r\n";
      auto [ec, n] = co_await asio::async_write(s_, asio::buffer(k100), as_tuple(use_awaitable));
      if (ec)
        co_return base::makeError(std::errc::connection_reset, "client write: {}", ec.message());
    }
    // Beast reads at most the buffer's free capacity per call; a body deserves large reads.
    if (buf_.capacity() < len) buf_.reserve(len);
    while (!p_.is_done()) {
      p_.get().body().data = out;
      p_.get().body().size = len;
      auto [ec, unused] = co_await bhttp::async_read_some(s_, buf_, p_, as_tuple(use_awaitable));
      size_t n = len - p_.get().body().size;
      if (ec && ec != bhttp::error::need_buffer) {
        if (ec.category() == bhttp::make_error_code(bhttp::error::need_buffer).category() &&
            ec != bhttp::error::partial_message)
          co_return base::makeError(std::errc::bad_message, "malformed request body: {}",
                                    ec.message());
        co_return base::makeError(std::errc::connection_reset, "client body: {}", ec.message());
      }
      if (n > 0) co_return n;
    }
    co_return size_t{0};
  }

  void cancel() override {
    cancelled_ = true;
    beast::error_code ignored;
    lowest(s_).cancel(ignored);
  }

  bool complete() const { return !cancelled_ && (upgraded_ || p_.is_done()); }
  void setUpgraded() { upgraded_ = true; }

 private:
  Stream& s_;
  beast::flat_buffer& buf_;
  bhttp::request_parser<bhttp::buffer_body>& p_;
  bool expect_continue_;
  [[maybe_unused]] int version_;
  bool upgraded_ = false;
  bool cancelled_ = false;
};

// Writes one response on an HTTP/1.1 connection, choosing its framing.
template <class Stream>
class Http1Writer final : public ResponseWriter {
 public:
  Http1Writer(Stream& s, Http1Body<Stream>& body, bool head_request, int version, bool keep_alive)
      : s_(s),
        body_(body),
        head_request_(head_request),
        version_(version),
        keep_alive_(keep_alive) {}

  Task<base::Result<void>> writeHead(ResponseHead head) override {
    CHECK(!head_written_);
    head_written_ = true;
    status_ = head.status;
    no_body_ = head_request_ || statusHasNoBody(head.status);
    if (head.status == 101) {
      upgraded_ = true;
      body_.setUpgraded();  // from now on the request "body" is the client's raw stream
      no_body_ = false;
    } else if (!no_body_ && !head.content_length) {
      if (version_ == 11)
        chunked_ = true;
      else
        close_ = true;  // HTTP/1.0: the body ends when the connection does
    }
    if (!keep_alive_) close_ = true;
    pending_ = serializeResponseHead(head, chunked_, close_ && !upgraded_, version_);
    if (upgraded_) co_return co_await flush();
    co_return base::Result<void>{};
  }

  Task<base::Result<void>> writeBody(const char* data, size_t len) override {
    if (len == 0) co_return base::Result<void>{};
    if (no_body_) co_return base::Result<void>{};
    std::array<asio::const_buffer, 4> bufs;
    size_t nb = 0;
    if (!pending_.empty()) bufs[nb++] = asio::buffer(pending_);
    char size_line[24];
    if (chunked_) {
      int l = std::snprintf(size_line, sizeof size_line, "%zx\r\n", len);
      bufs[nb++] = asio::buffer(size_line, static_cast<size_t>(l));
    }
    bufs[nb++] = asio::buffer(data, len);
    if (chunked_) bufs[nb++] = asio::buffer("\r\n", 2);
    auto [ec, n] =
        co_await asio::async_write(s_, std::span(bufs.data(), nb), as_tuple(use_awaitable));
    pending_.clear();
    if (ec)
      co_return base::makeError(std::errc::connection_reset, "client write: {}", ec.message());
    co_return base::Result<void>{};
  }

  Task<base::Result<void>> finish() override {
    CHECK(head_written_);
    if (finished_) co_return base::Result<void>{};
    finished_ = true;
    if (chunked_) pending_ += "0\r\n\r\n";
    co_return co_await flush();
  }

  Task<base::Result<void>> flush() override {
    if (pending_.empty()) co_return base::Result<void>{};
    auto [ec, n] = co_await asio::async_write(s_, asio::buffer(pending_), as_tuple(use_awaitable));
    pending_.clear();
    if (ec)
      co_return base::makeError(std::errc::connection_reset, "client write: {}", ec.message());
    co_return base::Result<void>{};
  }

  bool headWritten() const override { return head_written_; }
  bool finished() const { return finished_; }
  bool mustClose() const { return close_; }
  bool upgraded() const { return upgraded_; }

 private:
  Stream& s_;
  Http1Body<Stream>& body_;
  bool head_request_;
  int version_;
  bool keep_alive_;
  bool head_written_ = false;
  bool finished_ = false;
  bool no_body_ = false;
  bool chunked_ = false;
  bool close_ = false;
  bool upgraded_ = false;
  int status_ = 0;
  std::string pending_;  // serialized head not yet sent
};

Task<void> writeRaw(auto& s, std::string_view text) {
  (void)co_await asio::async_write(s, asio::buffer(text), as_tuple(use_awaitable));
}

// Closes the socket when the connection sits idle past its deadline.
struct IdleGuard {
  asio::steady_timer timer;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  bool done = false;
};

// The deadline moves with every request without touching the timer (no syscall per
// request): the timer wakes at the old deadline, sees a later one and sleeps again.
template <class Sock>
Task<void> watchIdle(std::shared_ptr<IdleGuard> g, Sock* sock,
                     std::chrono::milliseconds idle_timeout) {
  while (!g->done) {
    auto d = g->deadline;
    g->timer.expires_at(d == std::chrono::steady_clock::time_point::max()
                            ? std::chrono::steady_clock::now() + idle_timeout
                            : d);
    co_await g->timer.async_wait(as_tuple(use_awaitable));
    if (g->done) break;
    if (std::chrono::steady_clock::now() >= g->deadline) {
      beast::error_code ignored;
      sock->shutdown(asio::socket_base::shutdown_both, ignored);
      break;
    }
  }
}

// The answer went out before the client finished sending its body (an early 411, 413 or
// 401). Closing now, with its bytes unread, would make the kernel reset the connection, and
// the client could lose the answer. Stop sending instead, then read and drop what still
// comes, for a bounded time and amount, as nginx's lingering close does.
template <class Stream, class Sock>
Task<void> lingerClose(Stream& s, Sock& sock) {
  constexpr auto kLingerTime = std::chrono::seconds(2);
  constexpr size_t kLingerBytes = 4 << 20;
  beast::error_code ec;
  if constexpr (std::is_same_v<Stream, Sock>) sock.shutdown(asio::socket_base::shutdown_send, ec);
  asio::steady_timer limit(s.get_executor());
  limit.expires_after(kLingerTime);
  limit.async_wait([&sock](const beast::error_code& e) {
    beast::error_code ignored;
    if (!e) sock.cancel(ignored);
  });
  Chunk chunk;
  size_t dropped = 0;
  while (dropped < kLingerBytes) {
    auto [rec, n] = co_await s.async_read_some(asio::buffer(chunk.get(), Chunk::kSize),
                                               as_tuple(use_awaitable));
    dropped += n;
    if (rec) break;
  }
  limit.cancel();
}

template <class Stream>
Task<void> serveLoop(Stream& s, Handler& handler, ServerLimits limits, std::string scheme) {
  auto& sock = lowest(s);
  std::string client_ip;  // none for an in-process peer
  if constexpr (std::is_same_v<std::remove_reference_t<decltype(sock)>, asio::ip::tcp::socket>) {
    beast::error_code ec0;
    auto peer = sock.remote_endpoint(ec0);
    if (!ec0) client_ip = peer.address().to_string();
    sock.set_option(asio::ip::tcp::no_delay(true), ec0);
  }

  auto guard = std::make_shared<IdleGuard>(IdleGuard{asio::steady_timer(s.get_executor())});
  asio::co_spawn(s.get_executor(), watchIdle(guard, &sock, limits.idle_timeout), asio::detached);
  struct Stop {
    std::shared_ptr<IdleGuard> g;
    ~Stop() {
      g->done = true;
      g->timer.cancel();
    }
  } stop{guard};

  beast::flat_buffer buf;
  for (;;) {
    bhttp::request_parser<bhttp::buffer_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.max_head_bytes));
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    guard->deadline = std::chrono::steady_clock::now() + limits.idle_timeout;
    auto [ec, n] = co_await bhttp::async_read_header(s, buf, parser, as_tuple(use_awaitable));
    guard->deadline = std::chrono::steady_clock::time_point::max();
    if (ec) {
      if (ec == bhttp::error::header_limit) {
        LOG_DEBUG("request head too large client={}", client_ip);
        co_await writeRaw(s,
                          "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n"
                          "connection: close\r\n\r\n");
      } else if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
                 ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
        LOG_DEBUG("malformed request client={} error={}", client_ip, ec.message());
        co_await writeRaw(s,
                          "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n"
                          "connection: close\r\n\r\n");
      }
      co_return;
    }
    int status = 400;
    auto parsed = requestFromBeast(parser.get().base(), &status);
    if (!parsed) {
      LOG_DEBUG("bad request client={} error={}", client_ip, parsed.error().message());
      std::string body = fmt::format("400 Bad Request: {}\n", parsed.error().message());
      co_await writeRaw(s, fmt::format("HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\n"
                                       "content-length: {}\r\nconnection: close\r\n\r\n{}",
                                       body.size(), body));
      co_return;
    }
    RequestHead& req = *parsed;
    req.scheme = scheme;
    req.client_ip = client_ip;
    if (parser.content_length()) req.content_length = *parser.content_length();
    req.has_body = parser.chunked() || req.content_length.value_or(0) > 0;
    bool expect_continue = false;
    if (auto e = parser.get().find(bhttp::field::expect); e != parser.get().end())
      expect_continue =
          base::toLower(std::string_view(e->value().data(), e->value().size())) == "100-continue";
    bool keep_alive = parser.keep_alive() && !req.upgrade_websocket;

    Http1Body<Stream> body(s, buf, parser, expect_continue && req.has_body, req.version);
    Http1Writer<Stream> out(s, body, req.method == "HEAD", req.version, keep_alive);
    co_await handler.handle(req, body, out);
    if (!out.headWritten()) co_await respondText(out, 502, "no response from the handler");
    if (out.upgraded()) co_return;  // the handler relayed the upgraded stream to its end
    if (out.finished() && !out.upgraded() && !body.complete()) {
      co_await lingerClose(s, sock);
      co_return;
    }
    if (!out.finished() || out.mustClose() || !body.complete()) co_return;
  }
}

}  // namespace

Task<void> serveHttp1(asio::ip::tcp::socket sock, Handler& handler, ServerLimits limits) {
  co_await serveLoop(sock, handler, limits, "http");
  beast::error_code ignored;
  sock.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
}

Task<void> serveHttp1(LocalSocket sock, Handler& handler, ServerLimits limits) {
  co_await serveLoop(sock, handler, limits, "http");
  beast::error_code ignored;
  sock.shutdown(asio::socket_base::shutdown_both, ignored);
}

Task<void> serveHttp1(std::unique_ptr<TlsStream> stream, Handler& handler, ServerLimits limits) {
  co_await serveLoop(*stream, handler, limits, "https");
  (void)co_await stream->async_shutdown(as_tuple(use_awaitable));
}

}  // namespace http
