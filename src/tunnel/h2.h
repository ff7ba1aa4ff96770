// HTTP/2 over one TLS connection with nghttp2, driven by Asio coroutines. The same session
// type serves both ends of a tunnel: the edge is the HTTP/2 client (it opens one stream per
// client request) and the connector the server; the edge's --https listener also uses the
// server role. Everything runs on the executor of the socket; nothing here is thread-safe.
// Flow control is manual: received DATA is acknowledged (WINDOW_UPDATE) only once the
// consumer has read it, so a slow consumer holds at most one stream window in memory.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "base/result.h"
#include "http/http.h"

typedef struct nghttp2_session nghttp2_session;

namespace tunnel {

namespace asio = boost::asio;
template <class T>
using Task = asio::awaitable<T>;
using TlsSocket = http::TlsStream;

class H2Session;

// FIFO of bytes kept as the pieces they arrived in: appending never moves bytes already
// queued, and reading from the front frees whole pieces.
class ByteQueue {
 public:
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void append(const char* data, size_t len);
  // Copies up to `len` bytes from the front into `out` and drops them; returns the count.
  size_t read(char* out, size_t len);

 private:
  std::vector<std::string> pieces_;  // pieces_[front_] is the oldest unread piece
  size_t front_ = 0;
  size_t front_off_ = 0;  // bytes of pieces_[front_] already read
  size_t size_ = 0;       // unread bytes in all pieces
};

// One HTTP/2 stream. As http::BodyReader it yields the peer's DATA; as http::ResponseWriter
// it sends ours: on the server role writeHead() submits the response, on the client role the
// head was submitted by H2Session::openStream and only the body methods are used.
class H2Stream final : public http::BodyReader, public http::ResponseWriter {
 public:
  H2Stream(H2Session* session, const asio::any_io_executor& ex, bool server);
  ~H2Stream() override;

  int32_t id() const { return id_; }
  http::RequestHead& request() { return request_; }  // server role: what the peer asked

  // Client role: waits for the final response head (interim 1xx are skipped). A 200 answer
  // to an extended CONNECT (WebSocket) is reported as status 101. Call it once: the head is
  // moved out to the caller.
  Task<base::Result<http::ResponseHead>> responseHead();

  Task<base::Result<size_t>> read(char* buf, size_t len) override;
  void cancel() override;  // RST_STREAM(CANCEL): we no longer want anything from this stream

  Task<base::Result<void>> writeHead(http::ResponseHead head) override;
  Task<base::Result<void>> writeBody(const char* data, size_t len) override;
  Task<base::Result<void>> finish() override;
  Task<base::Result<void>> flush() override;
  bool headWritten() const override { return head_written_; }
  // Fires when the stream closes (reset by the peer, or its connection lost) before our side
  // of it ended.
  void onAbandoned(std::function<void()> fn) override;

  // Resets the stream with an HTTP/2 error code (NO_ERROR when only our interest ended).
  void reset(uint32_t error_code);
  // Asks the peer to stop sending its body once our complete response has gone out
  // (RST_STREAM NO_ERROR after END_STREAM, RFC 9113 8.1), never before it.
  void stopInputAfterResponse();
  uint32_t closeCode() const { return close_code_; }     // HTTP/2 error code once closed
  int statusWritten() const { return status_written_; }  // server role: 0 until writeHead
  bool finished() const { return out_eof_; }             // our side ended cleanly
  bool inputComplete() const { return in_eof_; }         // the peer's side ended cleanly
  bool hasBufferedInput() const { return !in_.empty(); }
  bool closed() const { return closed_; }  // reset, or its connection ended

 private:
  friend class H2Session;
  friend struct H2Callbacks;
  // Hands a head kept back by writeHead to nghttp2 (no-op when there is none).
  base::Result<void> submitHead();
  // Resumes DATA nghttp2 deferred and wakes the session's writer.
  void wakeSender();
  friend struct H2StreamAccess;
  // Marks the stream gone with HTTP/2 error `code`, wakes its waiters and, when our side had
  // not ended, runs the abandon callback.
  void markClosed(uint32_t code);
  void wakeAll();

  H2Session* session_;  // null once the stream or its session is gone
  int32_t id_ = -1;
  bool server_;
  http::RequestHead request_;    // server role
  size_t head_bytes_ = 0;        // server role: request head size as HPACK counts it
  bool head_too_large_ = false;  // server role: over H2Options::max_head_bytes; answered 431
  http::ResponseHead response_;  // client role
  bool is_head_request_ = false;
  bool connect_ws_ = false;  // client role: sent as extended CONNECT
  bool head_ready_ = false;
  bool head_written_ = false;
  int status_written_ = 0;
  std::optional<http::ResponseHead> pending_head_;  // written but not yet given to nghttp2

  ByteQueue in_;  // received DATA not yet read; bounded by the stream window
  bool in_eof_ = false;
  http::Event in_ev_;

  ByteQueue out_;  // DATA to send; writers wait while it is above the high-water mark
  bool out_eof_ = false;
  bool end_sent_ = false;  // a frame with END_STREAM went out
  bool stop_input_after_end_ = false;
  bool deferred_ = false;  // nghttp2 is waiting for resume_data
  bool has_provider_ = false;
  http::Event out_ev_;

  bool closed_ = false;              // the stream is gone (closed or reset)
  uint32_t close_code_ = 0;          // HTTP/2 error code it closed with
  std::function<void()> abandoned_;  // see onAbandoned; cleared once run
};

struct H2Options {
  // A PING goes out after this long without hearing from the peer; the connection is
  // declared dead after three such periods (a path that vanished without FIN or RST).
  std::chrono::milliseconds keepalive{15'000};
  uint32_t stream_window = 1 << 20;       // per-stream receive window
  uint32_t connection_window = 64 << 20;  // connection receive window
  uint32_t max_concurrent_streams = 10000;
  // A write to the peer that makes no progress for this long ends the connection.
  std::chrono::milliseconds send_timeout{60'000};

  // For connections from the public (the edge's https listener); 0 / false = off, as on the
  // tunnel, whose peer is a registered connector or edge.
  size_t max_head_bytes = 0;  // a larger request head (HPACK's count) gets 431
  // No stream open for this long (PINGs do not count): GOAWAY and close.
  std::chrono::milliseconds idle_timeout{0};
  // A request body that sends nothing for this long fails its reads with timed_out.
  std::chrono::milliseconds body_timeout{0};
  // A stream whose reader takes no response bytes for this long is reset.
  std::chrono::milliseconds stream_send_timeout{0};
  // Streams the peer resets before their response ended (HTTP/2 rapid reset) are allowed in a
  // burst of twice max_concurrent_streams, then at max_concurrent_streams per second; past
  // that the connection ends with GOAWAY(ENHANCE_YOUR_CALM).
  bool limit_resets = false;
  const char* name = "tunnel";  // for log lines: "tunnel", or "client" on the https listener
  std::string peer;             // for log lines: the client's address
  // Told true when the last open stream ends, false when the first one opens.
  std::function<void(bool idle)> on_idle;
};

class H2Session : public std::enable_shared_from_this<H2Session> {
 public:
  enum class Role { Client, Server };
  using RequestHandler = std::function<void(std::shared_ptr<H2Stream>)>;

  static std::shared_ptr<H2Session> create(std::unique_ptr<TlsSocket> sock, Role role,
                                           H2Options opts = {});
  ~H2Session();

  // Server role: called (on the executor) once per new request with complete headers.
  void setRequestHandler(RequestHandler h) { on_request_ = std::move(h); }
  // Runs the connection until it ends (peer gone, protocol error, or close()).
  Task<void> run();

  // Client role: submits the request head; DATA follows through the stream when
  // req.has_body or req.upgrade_websocket.
  base::Result<std::shared_ptr<H2Stream>> openStream(const http::RequestHead& req);

  // Graceful: GOAWAY; streams already open finish, no new ones are accepted.
  void goAway();
  // Ends the connection once every stream is done and every queued frame is written.
  void closeWhenIdle();
  // Abrupt: ends the connection and fails every stream.
  void close();

  size_t activeStreams() const { return streams_.size(); }
  bool draining() const { return goaway_sent_ || goaway_received_ || closed_; }
  bool closed() const { return closed_; }
  const asio::any_io_executor& executor() const { return ex_; }

 private:
  friend class H2Stream;
  H2Session(std::unique_ptr<TlsSocket> sock, Role role, H2Options opts);
  void signalWrite() { write_ev_.notify(); }
  Task<void> writeLoop();
  Task<void> keepaliveLoop();
  void terminate();

  // nghttp2 callbacks (static trampolines live in h2.cc).
  friend struct H2Callbacks;

  asio::any_io_executor ex_;
  std::unique_ptr<TlsSocket> sock_;
  Role role_;
  H2Options opts_;
  nghttp2_session* ng_ = nullptr;
  std::unordered_map<int32_t, std::shared_ptr<H2Stream>> streams_;
  RequestHandler on_request_;
  http::Event write_ev_;
  http::Event writer_done_ev_;
  bool writer_done_ = false;
  bool closed_ = false;
  bool goaway_sent_ = false;
  bool goaway_received_ = false;
  bool close_when_idle_ = false;
  std::chrono::steady_clock::time_point last_read_ = std::chrono::steady_clock::now();
  // When the last stream closed (or the connection opened); max while streams are open.
  std::chrono::steady_clock::time_point idle_since_ = std::chrono::steady_clock::now();
  // When the socket write in progress began; max when none is.
  std::chrono::steady_clock::time_point write_since_ = std::chrono::steady_clock::time_point::max();
  double reset_tokens_ = 0;  // rapid-reset budget (limit_resets)
  std::chrono::steady_clock::time_point reset_refill_ = std::chrono::steady_clock::now();
  bool calmed_ = false;                 // closed for resetting too fast; nothing more is read
  asio::steady_timer keepalive_timer_;  // cancelled when the connection ends
  // Counts a reset by the peer of a stream we had not finished; false once over budget.
  bool admitReset();
};

}  // namespace tunnel
