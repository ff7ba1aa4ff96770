// http: burrow's HTTP/1.1 side — the client-facing HTTP/1.1 server loop, the request/
// response model shared with the tunnel's HTTP/2 streams, origin proxying with connection
// pools, and built-in responses. Everything here runs on one io_context thread: objects are
// not thread-safe and must be used from the executor that created them. Bodies stream:
// nothing buffers a whole body.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "base/result.h"
#include "config/config.h"

namespace boost::asio::ssl {
template <typename Stream>
class stream;
}

namespace http {

namespace asio = boost::asio;
template <class T>
using Task = asio::awaitable<T>;

// Wakes coroutines on one executor: wait() returns after the next notify(), or at once when
// notify() came since the last wait(). Callers re-check their condition after waking.
class Event {
 public:
  explicit Event(const asio::any_io_executor& ex);
  Task<void> wait();
  // As wait(), but gives up at `deadline`: false when it passed without a notify().
  Task<bool> waitUntil(std::chrono::steady_clock::time_point deadline);
  void notify();

 private:
  asio::steady_timer timer_;
  bool pending_ = false;  // notify() with nobody waiting
};

// A 64 KiB scratch buffer for moving body bytes, recycled through a per-thread free list so
// that a request costs no large allocation (and no zeroing). Movable, not copyable.
class Chunk {
 public:
  static constexpr size_t kSize = 64 * 1024;
  Chunk();
  ~Chunk();
  Chunk(Chunk&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  Chunk& operator=(Chunk&&) = delete;
  Chunk(const Chunk&) = delete;
  char* get() const { return p_; }
  static constexpr size_t size() { return kSize; }

 private:
  char* p_;
};

struct Header {
  std::string name;  // lowercase
  std::string value;
  bool operator==(const Header&) const = default;
};

// A request as it travels through burrow: end-to-end headers only. Hop-by-hop headers
// (Connection and what it names, Keep-Alive, Transfer-Encoding, TE, Trailer, Upgrade,
// Proxy-*), Host and Expect are removed on the way in; framing is carried by the fields.
struct RequestHead {
  std::string method;     // "GET"
  std::string target;     // origin-form: "/path?query"
  std::string scheme;     // "http" or "https" as the client used
  std::string authority;  // Host header or :authority
  std::vector<Header> headers;
  std::optional<uint64_t> content_length;
  bool has_body = false;           // a body follows: Content-Length > 0, chunked, or h2 DATA
  bool upgrade_websocket = false;  // Upgrade: websocket (HTTP/1.1) or CONNECT :protocol
  int version = 11;                // 10, 11 or 20
  std::string client_ip;           // socket peer as seen by the edge

  const std::string* find(std::string_view name) const;  // name lowercase
};

struct ResponseHead {
  int status = 200;
  std::vector<Header> headers;  // end-to-end only, as for RequestHead
  std::optional<uint64_t> content_length;

  const std::string* find(std::string_view name) const;
};

// Reads a request (or, after an upgrade, the raw byte stream) from its producer.
class BodyReader {
 public:
  virtual ~BodyReader() = default;
  // Up to `len` bytes into `buf`; 0 at end of body. Errors when the peer went away.
  virtual Task<base::Result<size_t>> read(char* buf, size_t len) = 0;
  // Makes a pending or later read() fail promptly: the consumer gave up on the body.
  virtual void cancel() = 0;
};

// Writes a response to its consumer. writeHead once, then writeBody any number of times,
// then finish. After a 101 head, writeBody carries the raw upgraded byte stream.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  virtual Task<base::Result<void>> writeHead(ResponseHead head) = 0;  // a sink: move into it
  virtual Task<base::Result<void>> writeBody(const char* data, size_t len) = 0;
  virtual Task<base::Result<void>> finish() = 0;
  // Sends what is buffered (a head kept back to go out with the first body bytes).
  virtual Task<base::Result<void>> flush() = 0;
  virtual bool headWritten() const = 0;
  // Calls `fn` once if the consumer goes away before the response is finished (the client
  // closed its connection, an HTTP/2 stream was reset, a tunnel connection was lost), so that
  // the work done for it stops at once. Replaces an earlier callback; an empty `fn` removes
  // it. `fn` runs on the writer's executor, possibly inside another call of the writer's
  // connection: it must only cancel or close things, never wait or destroy the writer.
  virtual void onAbandoned(std::function<void()> fn) = 0;
};

class Handler {
 public:
  virtual ~Handler() = default;
  // Answers one request. Must read no further than the body and must call finish() (or
  // leave the head unwritten, which the server turns into a 502) before returning.
  virtual Task<void> handle(RequestHead& req, BodyReader& body, ResponseWriter& out) = 0;
};

struct ServerLimits {
  size_t max_head_bytes = 32 * 1024;  // larger request heads get 431
  // A connection waiting this long for a request head (or its rest) is closed.
  std::chrono::milliseconds idle_timeout{60'000};
  // A request body that sends nothing for this long gets 408 and the connection closes.
  std::chrono::milliseconds body_timeout{60'000};
  // A client that takes no bytes of the answer for this long is disconnected.
  std::chrono::milliseconds send_timeout{60'000};
  // Told true when the connection starts waiting for a request, false when one arrives, so
  // that its owner can close idle connections to make room (see tunnel's ConnectionGate).
  std::function<void(bool idle)> on_idle;
  // Told of a request refused before it reached the handler (400 for a malformed head, 431
  // for one too large): its status, the client's address and the body bytes of the answer.
  std::function<void(int status, const std::string& client_ip, size_t bytes)> on_refused;
};

using TlsStream = asio::ssl::stream<asio::ip::tcp::socket>;

// Serves HTTP/1.1 requests on one client connection until it closes. Malformed heads get
// 400, oversized heads 431, and the connection is closed; nothing else is affected.
Task<void> serveHttp1(asio::ip::tcp::socket sock, Handler& handler, ServerLimits limits);
Task<void> serveHttp1(std::unique_ptr<TlsStream> stream, Handler& handler, ServerLimits limits);

// A stream socket to a peer in this process (one end of a socketpair): no client address.
using LocalSocket = asio::generic::stream_protocol::socket;
Task<void> serveHttp1(LocalSocket sock, Handler& handler, ServerLimits limits);

// Parses a complete request head ("... \r\n\r\n") the way serveHttp1 does: the same checks,
// the same resulting RequestHead. For tests and fuzzing. `status` gets 400 or 431 on error.
base::Result<RequestHead> parseRequestHead(std::string_view bytes, const ServerLimits& limits,
                                           int* status);

// One request of a byte stream as the HTTP/1.1 server reads it: its head and its body,
// decoded from whatever framing it had.
struct ParsedRequest {
  RequestHead head;
  std::string body;
};
// Splits `bytes` into the requests the HTTP/1.1 server reads from them, in order and with the
// same checks and framing (Content-Length or chunked; bodies up to 1 MiB). The first bad or
// incomplete request ends it with an error, `status` holding its answer (400, 431 or 501).
// For tests and fuzzing: what it returns is what would reach the origin.
base::Result<std::vector<ParsedRequest>> parseRequestStream(std::string_view bytes,
                                                            const ServerLimits& limits,
                                                            int* status);

// True when `authority` (a Host header or :authority) is a host name, IPv4 or [IPv6] address
// with an optional port, as RFC 3986 allows: no space, '/', '@' or '\\'. Empty is accepted.
bool validAuthority(std::string_view authority);
// The request's authority is valid and its target a path ("*" only for OPTIONS).
base::Result<void> checkTarget(const RequestHead& req);

// Answers `status` with a short text/plain page that names the status and nothing else
// ("502 Bad Gateway\n"), when the head has not been written yet; otherwise does nothing.
// `detail` (what went wrong, possibly internal: addresses, paths) goes to the debug log only:
// the public never learns it.
Task<void> respondText(ResponseWriter& out, int status, std::string_view detail);

// Keeps idle origin connections for reuse, per origin. One per thread.
class OriginPool {
 public:
  explicit OriginPool(asio::any_io_executor ex);
  ~OriginPool();
  OriginPool(const OriginPool&) = delete;
  OriginPool& operator=(const OriginPool&) = delete;

  struct Impl;  // defined in proxy.cc
  Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// Answers `req` through `rule`'s service: an origin over HTTP/1.1 (TCP, TLS or a Unix socket,
// pooled), http_status:NNN, or the hello page. Origin failures become 502 with a one-line
// reason. WebSocket upgrades are relayed both ways until either side closes.
Task<void> proxy(OriginPool& pool, const config::IngressRule& rule, RequestHead& req,
                 BodyReader& body, ResponseWriter& out);

// Sends `req` over `sock`, a connection to another HTTP/1.1 server in this process, and
// relays its answer: one exchange, then the connection closes. Failures become 502.
Task<void> forward(LocalSocket sock, RequestHead& req, BodyReader& body, ResponseWriter& out);

std::string_view reasonPhrase(int status);

// ---- Middlewares: Traefik's, run by the connector before the origin (docs/routing.md) ----
// Pure functions over the request and response heads, except rate limiting, whose per-client
// tables are shared by the connector's threads. Bodies are never touched: they still stream.

// A token bucket per client address: `average` requests per `period`, in bursts of at most
// `burst`; a new client starts with a full bucket. Keeps at most `max_clients` clients and
// forgets the one seen least recently to make room. Thread-safe (one mutex per limiter).
class RateLimiter {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  explicit RateLimiter(const config::Middleware::Rate& rate, size_t max_clients = 65536,
                       Clock now = {});
  ~RateLimiter();
  // Takes a token of `client`'s bucket; false when it is empty (the request is refused).
  bool allow(std::string_view client);
  size_t clients() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// What a route's middlewares made of one request.
struct MiddlewareResult {
  // Set when a middleware answers instead of the origin (a redirect, 401, 403, 429): send this
  // head and `body`.
  std::optional<ResponseHead> answer;
  std::string body;
  // The headers middlewares passed before that point: their response headers apply to the
  // answer, whoever gives it. They point into the rule's `run`, which must outlive them.
  std::vector<const config::Middleware*> response;
};

// Runs `rule.run` on `req` in order from `*next`: rewrites the request (headers, path,
// basicAuth's headers) and stops at the first middleware that answers (false), or before a
// forwardAuth (true, `*next` its index: it needs I/O, see forwardAuth()), or at the end (true).
// Rate limiters are looked up in one process-wide table by the middleware's name and settings.
bool applyMiddlewares(const config::IngressRule& rule, RequestHead& req, size_t* next,
                      MiddlewareResult* result);
// The same from the first, for a rule without forwardAuth: one there answers 500.
MiddlewareResult applyMiddlewares(const config::IngressRule& rule, RequestHead& req);
// Every middleware of `rule.run`, forwardAuth's exchanges included: serveRoute's first step.
Task<MiddlewareResult> runMiddlewares(OriginPool& pool, const config::IngressRule& rule,
                                      RequestHead& req, ResponseWriter& client);

// forwardAuth `m` (docs/routing.md): asks its authentication server about `req` through `pool`.
// True: a 2xx, go on (its authResponseHeaders now on `req`, the client's copies gone). False:
// `result->answer` holds the server's answer for the client, or a 500 when the server could not
// be asked or did not answer within config::kForwardAuthTimeout. `client` going away ends the
// exchange.
Task<bool> forwardAuth(OriginPool& pool, const config::Middleware& m, RequestHead& req,
                       ResponseWriter& client, MiddlewareResult* result);
// The GET that forwardAuth `m` sends for `req`: the client's headers (authRequestHeaders only,
// when given) less hop-by-hop ones and Content-Length, and X-Forwarded-For, -Method, -Proto,
// -Host, -Uri, -Port (the client's copies kept with trustForwardHeader only).
RequestHead forwardAuthRequest(const config::Middleware& m, const RequestHead& req);
// After a 2xx: removes the client's headers named by authResponseHeaders or matched by
// authResponseHeadersRegex from `req`, then copies those of `auth` onto it.
void copyAuthResponseHeaders(const config::Middleware& m, const ResponseHead& auth,
                             RequestHead& req);
// The same for one middleware, with `limiter` for a rateLimit. True: go on to the next.
bool applyMiddleware(const config::Middleware& m, RequestHead& req, RateLimiter* limiter,
                     MiddlewareResult* result);
// Sets the response headers of `r.response` on `head` (the first middleware of the list has the
// last word). `req` is the request as the client sent it: its scheme decides HSTS.
void applyResponseHeaders(const MiddlewareResult& r, const RequestHead& req, ResponseHead& head);

// The user and password of an "Authorization: Basic ..." value; an error when it is not one.
base::Result<std::pair<std::string, std::string>> parseBasicAuthorization(std::string_view value);
// True when `password` is the one `user`'s hash was made from (constant-time comparison).
bool verifyPassword(const config::HtpasswdUser& user, std::string_view password);
// Apache's MD5-crypt of `password` with `salt` (at most 8 bytes used): "$apr1$salt$hash".
std::string apr1Crypt(std::string_view password, std::string_view salt);

// proxy() behind `rule`'s middlewares: an answer of theirs goes out instead of the origin's.
Task<void> serveRoute(OriginPool& pool, const config::IngressRule& rule, RequestHead& req,
                      BodyReader& body, ResponseWriter& out);

}  // namespace http
