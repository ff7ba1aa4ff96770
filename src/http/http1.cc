// The client-facing HTTP/1.1 server loop and the pieces of the request model shared with
// the rest of http: header filtering, Event, text answers.
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <limits>
#include <optional>

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
#include "http/sweep.h"

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

Task<bool> Event::waitUntil(std::chrono::steady_clock::time_point deadline) {
  if (pending_) {
    pending_ = false;
    co_return true;
  }
  timer_.expires_at(deadline);
  auto [ec] = co_await timer_.async_wait(as_tuple(use_awaitable));
  bool woken = pending_ || ec == asio::error::operation_aborted;
  pending_ = false;
  co_return woken;
}

void Event::notify() {
  pending_ = true;
  timer_.cancel();
}

Task<void> respondText(ResponseWriter& out, int status, std::string_view detail) {
  if (out.headWritten()) co_return;
  LOG_DEBUG("answering status={} detail={}", status, detail);
  ResponseHead head;
  head.status = status;
  std::string body = fmt::format("{} {}\n", status, reasonPhrase(status));
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

using Clock = std::chrono::steady_clock;
constexpr Clock::time_point kNever = Clock::time_point::max();

// The deadlines of one client connection, on one timer: waiting for a request head (idle),
// waiting for request body bytes, and waiting for the client to take response bytes. Moving
// a deadline later costs nothing (the timer wakes at the old one, sees the later one and
// sleeps again); only an earlier one re-arms the timer.
struct ConnTimer {
  explicit ConnTimer(const asio::any_io_executor& ex) : timer(ex), sweep(sweepOf(ex)) {}
  asio::steady_timer timer;
  SweepService& sweep;  // for the connection's checks (see AbandonWatch)
  Clock::time_point head = kNever, body = kNever, send = kNever;
  bool body_expired = false;  // the body deadline passed: reads end, the request gets 408
  bool done = false;

  void set(Clock::time_point& which, std::chrono::milliseconds after) {
    which = Clock::now() + after;
    if (which < timer.expiry()) timer.expires_at(which);  // wakes the watcher to re-arm
  }
  Clock::time_point next() const { return std::min({head, body, send}); }
};

// Enforces a ConnTimer: an expired head or send deadline shuts the connection down; an
// expired body deadline shuts down only its reading side, so that the request can still be
// answered 408 while the reads in progress end.
template <class Sock>
Task<void> watchDeadlines(std::shared_ptr<ConnTimer> t, Sock* sock,
                          std::chrono::milliseconds idle_timeout) {
  while (!t->done) {
    auto next = t->next();
    t->timer.expires_at(next == kNever ? Clock::now() + idle_timeout : next);
    co_await t->timer.async_wait(as_tuple(use_awaitable));
    if (t->done) break;
    auto now = Clock::now();
    beast::error_code ignored;
    if (now >= t->head || now >= t->send) {
      LOG_DEBUG("client connection closed reason={}", now >= t->send ? "send_timeout" : "idle");
      sock->shutdown(asio::socket_base::shutdown_both, ignored);
      break;
    }
    if (now >= t->body && !t->body_expired) {
      t->body_expired = true;
      t->body = kNever;
      sock->shutdown(asio::socket_base::shutdown_receive, ignored);
    }
  }
}

// Watches, while a request is answered, for its client to close the connection (nginx's
// check for a broken connection): a zero-byte peek means it went away, and the response's
// abandon callback runs. Bytes waiting (a pipelined request, a TLS record) end the watch.
// The peek runs on the io_context's sweep ticks, so a request answered within the first tick
// costs no syscall for it.
struct AbandonWatch {
  std::function<void()> fn;
  std::optional<SweepCheck> check;  // registered once the request has been read whole
  bool finished = false;            // the request is over

  // 1: the peer closed; 0: bytes are waiting; -1: nothing to read yet.
  static int peek(int fd) {
    char c;
    ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return 1;
    if (n > 0) return 0;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -1 : 1;
  }

  // Starts watching once the request has been read whole (before, reading its body notices).
  template <class Sock>
  void arm(Sock& sock, SweepService& sweep) {
    if (check || finished || !fn) return;
    int fd = sock.native_handle();
    check.emplace(sweep, std::chrono::milliseconds(0), [this, fd] {
      if (finished) return true;
      int state = peek(fd);
      if (state == 1) {
        finished = true;
        if (auto f = std::move(fn)) f();
      }
      return state >= 0;
    });
  }
};

// Reads the request body (or, after a 101, the raw stream) for one request.
template <class Stream>
class Http1Body final : public BodyReader {
 public:
  Http1Body(Stream& s, beast::flat_buffer& buf, bhttp::request_parser<bhttp::buffer_body>& p,
            bool expect_continue, ConnTimer& timer, std::chrono::milliseconds body_timeout,
            AbandonWatch& watch)
      : s_(s),
        buf_(buf),
        p_(p),
        expect_continue_(expect_continue),
        timer_(timer),
        body_timeout_(body_timeout),
        watch_(watch) {}

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
      timer_.set(timer_.body, body_timeout_);
      auto [ec, unused] = co_await bhttp::async_read_some(s_, buf_, p_, as_tuple(use_awaitable));
      timer_.body = kNever;
      size_t n = len - p_.get().body().size;
      if (timer_.body_expired)
        co_return base::makeError(std::errc::timed_out, "request body: nothing came for {} ms",
                                  body_timeout_.count());
      if (p_.is_done()) watch_.arm(lowest(s_), timer_.sweep);
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
  ConnTimer& timer_;
  std::chrono::milliseconds body_timeout_;
  AbandonWatch& watch_;
  bool upgraded_ = false;
  bool cancelled_ = false;
};

// Writes one response on an HTTP/1.1 connection, choosing its framing.
template <class Stream>
class Http1Writer final : public ResponseWriter {
 public:
  Http1Writer(Stream& s, Http1Body<Stream>& body, bool head_request, int version, bool keep_alive,
              ConnTimer& timer, std::chrono::milliseconds send_timeout, AbandonWatch& watch)
      : s_(s),
        body_(body),
        head_request_(head_request),
        version_(version),
        keep_alive_(keep_alive),
        timer_(timer),
        send_timeout_(send_timeout),
        watch_(watch) {}

  void onAbandoned(std::function<void()> fn) override {
    watch_.fn = std::move(fn);
    if (body_.complete()) watch_.arm(lowest(s_), timer_.sweep);
  }

  Task<base::Result<void>> writeHead(ResponseHead head) override {
    CHECK(!head_written_);
    head_written_ = true;
    status_ = head.status;
    no_body_ = head_request_ || statusHasNoBody(head.status);
    if (head.status == 101) {
      upgraded_ = true;
      body_.setUpgraded();  // from now on the request "body" is the client's raw stream
      no_body_ = false;
      // An upgraded stream ends its sending half when it is done (a tunnel's TCP client, a
      // request handed over from another shard) and still takes the answer: the end of its
      // reads is the body's to report, not a client gone. Writes that fail still end it.
      watch_.finished = true;
      watch_.check.reset();
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
    timer_.set(timer_.send, send_timeout_);
    auto [ec, n] =
        co_await asio::async_write(s_, std::span(bufs.data(), nb), as_tuple(use_awaitable));
    timer_.send = kNever;
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
    timer_.set(timer_.send, send_timeout_);
    auto [ec, n] = co_await asio::async_write(s_, asio::buffer(pending_), as_tuple(use_awaitable));
    timer_.send = kNever;
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
  ConnTimer& timer_;
  std::chrono::milliseconds send_timeout_;
  AbandonWatch& watch_;
};

Task<void> writeRaw(auto& s, std::string_view text) {
  (void)co_await asio::async_write(s, asio::buffer(text), as_tuple(use_awaitable));
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

  auto timer = std::make_shared<ConnTimer>(s.get_executor());
  asio::co_spawn(s.get_executor(), watchDeadlines(timer, &sock, limits.idle_timeout),
                 asio::detached);
  struct Stop {
    std::shared_ptr<ConnTimer> t;
    ~Stop() {
      t->done = true;
      t->timer.cancel();
    }
  } stop{timer};

  beast::flat_buffer buf;
  for (;;) {
    bhttp::request_parser<bhttp::buffer_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.max_head_bytes));
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    timer->set(timer->head, limits.idle_timeout);
    if (limits.on_idle) limits.on_idle(true);
    auto [ec, n] = co_await bhttp::async_read_header(s, buf, parser, as_tuple(use_awaitable));
    timer->head = kNever;
    if (limits.on_idle) limits.on_idle(false);
    if (ec) {
      if (ec == bhttp::error::header_limit) {
        LOG_DEBUG("request head too large client={}", client_ip);
        if (limits.on_refused) limits.on_refused(431, client_ip, 0);
        co_await writeRaw(s,
                          "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n"
                          "connection: close\r\n\r\n");
      } else if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
                 ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
        LOG_DEBUG("malformed request client={} error={}", client_ip, ec.message());
        if (limits.on_refused) limits.on_refused(400, client_ip, 0);
        co_await writeRaw(s,
                          "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n"
                          "connection: close\r\n\r\n");
      }
      co_return;
    }
    int status = 400;
    auto parsed = requestFromBeast(parser.get().base(), &status);
    if (!parsed) {
      LOG_DEBUG("bad request client={} status={} error={}", client_ip, status,
                parsed.error().message());
      std::string page = fmt::format("{} {}\n", status, reasonPhrase(status));
      if (limits.on_refused) limits.on_refused(status, client_ip, page.size());
      co_await writeRaw(s, fmt::format("HTTP/1.1 {} {}\r\ncontent-type: text/plain\r\n"
                                       "content-length: {}\r\nconnection: close\r\n\r\n{}",
                                       status, reasonPhrase(status), page.size(), page));
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

    AbandonWatch watch;
    Http1Body<Stream> body(s, buf, parser, expect_continue && req.has_body, *timer,
                           limits.body_timeout, watch);
    Http1Writer<Stream> out(s, body, req.method == "HEAD", req.version, keep_alive, *timer,
                            limits.send_timeout, watch);
    co_await handler.handle(req, body, out);
    watch.finished = true;
    watch.check.reset();
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
