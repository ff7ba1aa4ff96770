#include "tunnel/h2.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "base/base.h"

namespace tunnel {

using asio::as_tuple;
using asio::use_awaitable;

namespace {
constexpr size_t kHighWater = 256 * 1024;   // queued outbound DATA per stream before writers wait
constexpr size_t kWriteBatch = 256 * 1024;  // bytes gathered from nghttp2 per socket write
constexpr size_t kReadBuf = 64 * 1024;
constexpr uint32_t kMaxFrame = 64 * 1024;
constexpr size_t kTypicalHeaders = 16;  // headers vectors start with room for this many

base::Unexpected streamGone(const H2Stream& s, uint32_t code) {
  return base::makeError(std::errc::connection_reset, "tunnel stream {} reset: {}", s.id(),
                         nghttp2_http2_strerror(code));
}

// The name/value list of one head, for at most `n` fields: on the stack for ordinary heads,
// on the heap past that.
class NvList {
 public:
  explicit NvList(size_t n) : cap_(n) {
    if (n > kInline) heap_.resize(n);
    p_ = n > kInline ? heap_.data() : inline_;
  }
  NvList(const NvList&) = delete;
  NvList& operator=(const NvList&) = delete;
  void add(const std::string& name, const std::string& value) {
    CHECK(size_ < cap_);
    p_[size_++] = {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                   reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                   value.size(), NGHTTP2_NV_FLAG_NONE};
  }
  const nghttp2_nv* data() const { return p_; }
  size_t size() const { return size_; }

 private:
  static constexpr size_t kInline = 24;
  nghttp2_nv inline_[kInline];
  std::vector<nghttp2_nv> heap_;
  nghttp2_nv* p_;
  size_t cap_, size_ = 0;
};

std::optional<uint64_t> parseLength(std::string_view v) {
  if (v.empty() || v.size() > 19) return std::nullopt;
  uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

}  // namespace

// ---- ByteQueue ----

void ByteQueue::append(const char* data, size_t len) {
  constexpr size_t kCoalesce = 16 * 1024;  // small writes share a piece
  if (pieces_.size() > front_ && pieces_.back().size() + len <= kCoalesce &&
      !(pieces_.size() - front_ == 1 && front_off_ > 0))
    pieces_.back().append(data, len);
  else
    pieces_.emplace_back(data, len);
  size_ += len;
}

size_t ByteQueue::read(char* out, size_t len) {
  size_t done = 0;
  while (done < len && front_ < pieces_.size()) {
    std::string& front = pieces_[front_];
    size_t n = std::min(len - done, front.size() - front_off_);
    std::memcpy(out + done, front.data() + front_off_, n);
    done += n;
    front_off_ += n;
    if (front_off_ == front.size()) {
      std::string().swap(front);  // free the piece now, not when the queue empties
      ++front_;
      front_off_ = 0;
    }
  }
  if (front_ == pieces_.size()) {
    pieces_.clear();
    front_ = 0;
  } else if (front_ >= 64) {  // a queue that never empties: drop the read slots
    pieces_.erase(pieces_.begin(), pieces_.begin() + static_cast<std::ptrdiff_t>(front_));
    front_ = 0;
  }
  size_ -= done;
  return done;
}

// ---- H2Stream ----

H2Stream::H2Stream(H2Session* session, const asio::any_io_executor& ex, bool server)
    : session_(session), server_(server), in_ev_(ex), out_ev_(ex) {}

H2Stream::~H2Stream() = default;

void H2Stream::wakeAll() {
  in_ev_.notify();
  out_ev_.notify();
}

Task<base::Result<http::ResponseHead>> H2Stream::responseHead() {
  while (!head_ready_ && !closed_) co_await in_ev_.wait();
  if (!head_ready_) co_return streamGone(*this, close_code_);
  co_return std::move(response_);
}

Task<base::Result<size_t>> H2Stream::read(char* buf, size_t len) {
  for (;;) {
    if (!in_.empty()) {
      size_t n = in_.read(buf, len);
      if (session_ && !session_->closed_) {
        nghttp2_session_consume(session_->ng_, id_, n);  // opens the window again
        session_->signalWrite();
      }
      co_return n;
    }
    if (in_eof_) co_return size_t{0};
    if (closed_) co_return streamGone(*this, close_code_);
    auto timeout =
        server_ && session_ ? session_->opts_.body_timeout : std::chrono::milliseconds(0);
    if (timeout.count() == 0) {
      co_await in_ev_.wait();
    } else if (!co_await in_ev_.waitUntil(std::chrono::steady_clock::now() + timeout)) {
      co_return base::makeError(std::errc::timed_out, "request body: nothing came for {} ms",
                                timeout.count());
    }
  }
}

void H2Stream::cancel() { reset(NGHTTP2_CANCEL); }

void H2Stream::onAbandoned(std::function<void()> fn) {
  abandoned_ = std::move(fn);
  if (closed_ && !end_sent_ && abandoned_) std::exchange(abandoned_, nullptr)();
}

void H2Stream::markClosed(uint32_t code) {
  closed_ = true;
  if (close_code_ == 0) close_code_ = code;
  session_ = nullptr;
  wakeAll();
  if (!end_sent_ && abandoned_) std::exchange(abandoned_, nullptr)();
}

void H2Stream::reset(uint32_t error_code) {
  if (closed_ || !session_ || session_->closed_) return;
  nghttp2_submit_rst_stream(session_->ng_, NGHTTP2_FLAG_NONE, id_, error_code);
  session_->signalWrite();
}

void H2Stream::stopInputAfterResponse() {
  if (end_sent_)
    reset(NGHTTP2_NO_ERROR);
  else
    stop_input_after_end_ = true;  // onFrameSend resets once END_STREAM is out
}

// Gives nghttp2 the next piece of a stream's outbound DATA.
struct H2StreamAccess {
  static ssize_t provide(H2Stream& s, uint8_t* buf, size_t length, uint32_t* flags) {
    if (s.out_.empty()) {
      if (s.out_eof_) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
      }
      s.deferred_ = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    size_t n = s.out_.read(reinterpret_cast<char*>(buf), length);
    if (s.out_.empty() && s.out_eof_) *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (s.out_.size() <= kHighWater) s.out_ev_.notify();
    return static_cast<ssize_t>(n);
  }
};

namespace {
ssize_t readData(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                 nghttp2_data_source* source, void*) {
  auto* s = static_cast<H2Stream*>(source->ptr);
  return H2StreamAccess::provide(*s, buf, length, flags);
}
}  // namespace

Task<base::Result<void>> H2Stream::writeHead(http::ResponseHead head) {
  CHECK(server_ && !head_written_);
  head_written_ = true;
  status_written_ = head.status;
  if (closed_ || !session_ || session_->closed_) co_return streamGone(*this, close_code_);
  bool no_body = is_head_request_ ||
                 (head.status >= 100 && head.status < 200 && head.status != 101) ||
                 head.status == 204 || head.status == 304;
  has_provider_ = !no_body;
  if (no_body) out_eof_ = true;
  bool now = no_body || head.status == 101;
  pending_head_ = std::move(head);
  // A head with a body waits for its first bytes, finish() or flush(), so that a short answer
  // leaves in one write; a body-less answer, or a 101, is complete now.
  if (now) co_return submitHead();
  co_return base::Result<void>{};
}

base::Result<void> H2Stream::submitHead() {
  if (!pending_head_) return {};
  http::ResponseHead head = std::move(*pending_head_);
  pending_head_.reset();
  if (closed_ || !session_ || session_->closed_) return streamGone(*this, close_code_);
  NvList nva(head.headers.size() + 2);
  std::string status = std::to_string(head.status == 101 ? 200 : head.status);
  static const std::string kStatus = ":status", kLen = "content-length";
  nva.add(kStatus, status);
  for (const auto& h : head.headers) nva.add(h.name, h.value);
  std::string len;
  if (head.content_length) {
    len = std::to_string(*head.content_length);
    nva.add(kLen, len);
  }
  nghttp2_data_provider prd{};
  prd.source.ptr = this;
  prd.read_callback = readData;
  int rv = nghttp2_submit_response(session_->ng_, id_, nva.data(), nva.size(),
                                   has_provider_ ? &prd : nullptr);
  if (rv != 0)
    return base::makeError(std::errc::protocol_error, "submit response: {}", nghttp2_strerror(rv));
  session_->signalWrite();
  return {};
}

Task<base::Result<void>> H2Stream::flush() { co_return submitHead(); }

Task<base::Result<void>> H2Stream::writeBody(const char* data, size_t len) {
  if (len == 0) co_return base::Result<void>{};
  if (!has_provider_) co_return base::Result<void>{};  // a body-less answer: drop it
  while (!closed_ && out_.size() > kHighWater) {
    auto timeout = session_ ? session_->opts_.stream_send_timeout : std::chrono::milliseconds(0);
    if (timeout.count() == 0) {
      co_await out_ev_.wait();
    } else if (!co_await out_ev_.waitUntil(std::chrono::steady_clock::now() + timeout)) {
      LOG_DEBUG("http2 reader took nothing, resetting stream={} peer={} timeout_ms={}", id_,
                session_ ? session_->opts_.peer : "", timeout.count());
      reset(NGHTTP2_CANCEL);
      co_return base::makeError(std::errc::timed_out, "client took no bytes for {} ms",
                                timeout.count());
    }
  }
  if (closed_ || !session_ || session_->closed_) co_return streamGone(*this, close_code_);
  out_.append(data, len);
  CO_RETURN_IF_ERROR(submitHead());
  wakeSender();
  co_return base::Result<void>{};
}

void H2Stream::wakeSender() {
  if (deferred_) {  // nghttp2 parked this stream's DATA: it may go on now
    deferred_ = false;
    nghttp2_session_resume_data(session_->ng_, id_);
  }
  session_->signalWrite();
}

Task<base::Result<void>> H2Stream::finish() {
  if (out_eof_ && !pending_head_) co_return base::Result<void>{};
  out_eof_ = true;
  if (closed_ || !session_ || session_->closed_) co_return streamGone(*this, close_code_);
  CO_RETURN_IF_ERROR(submitHead());
  wakeSender();
  co_return base::Result<void>{};
}

// ---- H2Session ----

struct H2Callbacks {
  static H2Session& self(void* p) { return *static_cast<H2Session*>(p); }
  static H2Stream* stream(nghttp2_session* ng, int32_t id) {
    return static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(ng, id));
  }

  static int onBeginHeaders(nghttp2_session* ng, const nghttp2_frame* f, void* user) {
    auto& s = self(user);
    if (s.role_ != H2Session::Role::Server || f->hd.type != NGHTTP2_HEADERS ||
        f->headers.cat != NGHTTP2_HCAT_REQUEST)
      return 0;
    auto st = std::make_shared<H2Stream>(&s, s.ex_, true);
    st->id_ = f->hd.stream_id;
    if (s.streams_.empty() && s.opts_.on_idle) s.opts_.on_idle(false);
    s.streams_[st->id_] = st;
    s.idle_since_ = std::chrono::steady_clock::time_point::max();
    nghttp2_session_set_stream_user_data(ng, st->id_, st.get());
    return 0;
  }

  static int onHeader(nghttp2_session* ng, const nghttp2_frame* f, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    auto& s = self(user);
    H2Stream* st = stream(ng, f->hd.stream_id);
    if (!st || f->hd.type != NGHTTP2_HEADERS) return 0;
    std::string_view n(reinterpret_cast<const char*>(name), namelen);
    std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (s.role_ == H2Session::Role::Server) {
      if (f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;  // trailers are dropped
      if (s.opts_.max_head_bytes > 0) {
        st->head_bytes_ += namelen + valuelen + 32;  // RFC 9113 6.5.2's accounting
        if (st->head_bytes_ > s.opts_.max_head_bytes) st->head_too_large_ = true;
        if (st->head_too_large_) return 0;  // keep nothing more of it
      }
      auto& r = st->request_;
      if (n == ":method")
        r.method = v;
      else if (n == ":path")
        r.target = v;
      else if (n == ":authority")
        r.authority = v;
      else if (n == ":scheme")
        r.scheme = v;
      else if (n == ":protocol")
        r.upgrade_websocket = base::toLower(v) == "websocket";
      else if (n == "content-length")
        r.content_length = parseLength(v);
      else if (n == "host") {
        if (r.authority.empty()) r.authority = v;
      } else if (!n.empty() && n[0] != ':') {
        if (r.headers.empty()) r.headers.reserve(kTypicalHeaders);
        r.headers.push_back({std::string(n), std::string(v)});
      }
    } else {
      if (f->headers.cat != NGHTTP2_HCAT_RESPONSE && f->headers.cat != NGHTTP2_HCAT_HEADERS)
        return 0;
      if (st->head_ready_) return 0;  // trailers are dropped
      auto& r = st->response_;
      if (n == ":status") {
        int code = 0;
        for (char c : v) code = code * 10 + (c - '0');
        r.status = code;
      } else if (n == "content-length") {
        r.content_length = parseLength(v);
      } else if (!n.empty() && n[0] != ':') {
        if (r.headers.empty()) r.headers.reserve(kTypicalHeaders);
        r.headers.push_back({std::string(n), std::string(v)});
      }
    }
    return 0;
  }

  static int onFrameRecv(nghttp2_session* ng, const nghttp2_frame* f, void* user) {
    auto& s = self(user);
    if (f->hd.type == NGHTTP2_GOAWAY) {
      s.goaway_received_ = true;
      return 0;
    }
    H2Stream* st = f->hd.stream_id ? stream(ng, f->hd.stream_id) : nullptr;
    if (!st) return 0;
    if (f->hd.type == NGHTTP2_RST_STREAM && !st->end_sent_ && !s.admitReset()) {
      static base::EverySecond calm_log;  // a reconnecting attacker must not flood the log
      if (uint64_t n = calm_log.admit())
        LOG_WARN(
            "http2 clients reset streams faster than they are served, connections closed "
            "connections={} last_peer={}",
            n, s.opts_.peer);
      nghttp2_session_terminate_session(ng, NGHTTP2_ENHANCE_YOUR_CALM);
      s.calmed_ = true;
      // Stop here: the rest of what it sent (more of the same) is not even decoded.
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    bool end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (f->hd.type == NGHTTP2_HEADERS) {
      if (s.role_ == H2Session::Role::Server && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
        auto& r = st->request_;
        if (r.method == "CONNECT" && r.upgrade_websocket)
          r.method = "GET";
        else
          r.upgrade_websocket = false;
        r.version = 20;
        r.has_body = !end && !r.upgrade_websocket;
        st->is_head_request_ = r.method == "HEAD";
        if (end) st->in_eof_ = true;
        if (st->head_too_large_) {
          // As the HTTP/1.1 listener does: 431, and the request goes no further.
          LOG_DEBUG("request head too large peer={} bytes={}", s.opts_.peer, st->head_bytes_);
          static const nghttp2_nv kNv[] = {
              {(uint8_t*)":status", (uint8_t*)"431", 7, 3, NGHTTP2_NV_FLAG_NONE},
              {(uint8_t*)"content-length", (uint8_t*)"0", 14, 1, NGHTTP2_NV_FLAG_NONE}};
          st->head_written_ = true;
          st->status_written_ = 431;
          st->out_eof_ = true;
          nghttp2_submit_response(ng, st->id_, kNv, 2, nullptr);
          if (!end) st->stop_input_after_end_ = true;
          return 0;
        }
        if (s.on_request_) {
          auto shared = s.streams_[st->id_];
          s.on_request_(shared);
        }
        return 0;
      }
      if (s.role_ == H2Session::Role::Client && !st->head_ready_) {
        int code = st->response_.status;
        if (code >= 100 && code < 200) {  // interim: wait for the final head
          st->response_ = http::ResponseHead{};
          return 0;
        }
        if (st->connect_ws_ && code == 200) st->response_.status = 101;
        st->head_ready_ = true;
      }
    }
    if (end) st->in_eof_ = true;
    st->in_ev_.notify();
    return 0;
  }

  static int onDataChunk(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len,
                         void* user) {
    auto& s = self(user);
    H2Stream* st = stream(s.ng_, id);
    if (!st) {
      nghttp2_session_consume(s.ng_, id, len);
      return 0;
    }
    st->in_.append(reinterpret_cast<const char*>(data), len);
    st->in_ev_.notify();
    return 0;
  }

  static int onFrameSend(nghttp2_session* ng, const nghttp2_frame* f, void*) {
    if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM)) return 0;
    if (f->hd.type != NGHTTP2_DATA && f->hd.type != NGHTTP2_HEADERS) return 0;
    H2Stream* st = stream(ng, f->hd.stream_id);
    if (!st) return 0;
    st->end_sent_ = true;
    if (st->stop_input_after_end_ && !st->in_eof_)
      nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_NO_ERROR);
    return 0;
  }

  static int onStreamClose(nghttp2_session*, int32_t id, uint32_t code, void* user) {
    auto& s = self(user);
    auto it = s.streams_.find(id);
    if (it == s.streams_.end()) return 0;
    auto st = it->second;
    // Bytes nobody will read must still be credited back to the connection window.
    if (size_t unread = st->in_.size(); unread > 0)
      nghttp2_session_consume_connection(s.ng_, unread);
    s.streams_.erase(it);
    if (s.streams_.empty()) {
      s.idle_since_ = std::chrono::steady_clock::now();
      if (s.opts_.on_idle) s.opts_.on_idle(true);
    }
    st->markClosed(code);
    return 0;
  }

  static ssize_t readLength(nghttp2_session*, uint8_t, int32_t, int32_t stream_window,
                            int32_t connection_window, uint32_t remote_max_frame, void*) {
    int64_t limit = std::min<int64_t>(stream_window, connection_window);
    limit = std::min<int64_t>(limit, std::min<uint32_t>(remote_max_frame, kMaxFrame));
    return static_cast<ssize_t>(std::max<int64_t>(limit, 1));
  }
};

std::shared_ptr<H2Session> H2Session::create(std::unique_ptr<TlsSocket> sock, Role role,
                                             H2Options opts) {
  return std::shared_ptr<H2Session>(new H2Session(std::move(sock), role, opts));
}

H2Session::H2Session(std::unique_ptr<TlsSocket> sock, Role role, H2Options opts)
    : ex_(sock->get_executor()),
      sock_(std::move(sock)),
      role_(role),
      opts_(opts),
      write_ev_(ex_),
      writer_done_ev_(ex_),
      keepalive_timer_(ex_) {
  reset_tokens_ = 2.0 * opts_.max_concurrent_streams;
  // A tunnel connection is busy for its whole life: keep OpenSSL's record buffers rather than
  // freeing and allocating 16 KB twice per burst (Asio turns RELEASE_BUFFERS on).
  SSL_clear_mode(sock_->native_handle(), SSL_MODE_RELEASE_BUFFERS);
  nghttp2_session_callbacks* cbs = nullptr;
  CHECK(nghttp2_session_callbacks_new(&cbs) == 0);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, H2Callbacks::onBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cbs, H2Callbacks::onHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, H2Callbacks::onFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, H2Callbacks::onDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, H2Callbacks::onStreamClose);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, H2Callbacks::onFrameSend);
  nghttp2_session_callbacks_set_data_source_read_length_callback(cbs, H2Callbacks::readLength);
  nghttp2_option* opt = nullptr;
  CHECK(nghttp2_option_new(&opt) == 0);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_peer_max_concurrent_streams(opt, opts_.max_concurrent_streams);
  int rv = role == Role::Server ? nghttp2_session_server_new2(&ng_, cbs, this, opt)
                                : nghttp2_session_client_new2(&ng_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  CHECK(rv == 0);
  std::vector<nghttp2_settings_entry> iv = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, opts_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, opts_.stream_window},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, kMaxFrame},
  };
  if (role == Role::Server) iv.push_back({NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1});
  CHECK(nghttp2_submit_settings(ng_, NGHTTP2_FLAG_NONE, iv.data(), iv.size()) == 0);
  CHECK(nghttp2_session_set_local_window_size(ng_, NGHTTP2_FLAG_NONE, 0,
                                              static_cast<int32_t>(opts_.connection_window)) == 0);
}

H2Session::~H2Session() {
  for (auto& [id, st] : streams_) st->session_ = nullptr;
  nghttp2_session_del(ng_);
}

base::Result<std::shared_ptr<H2Stream>> H2Session::openStream(const http::RequestHead& req) {
  CHECK(role_ == Role::Client);
  if (draining())
    return base::makeError(std::errc::connection_aborted, "tunnel connection is draining");
  auto st = std::make_shared<H2Stream>(this, ex_, false);
  NvList nva(req.headers.size() + 6);
  static const std::string kMethod = ":method", kScheme = ":scheme", kAuthority = ":authority",
                           kPath = ":path", kProtocol = ":protocol", kWebsocket = "websocket",
                           kConnect = "CONNECT", kLen = "content-length";
  st->connect_ws_ = req.upgrade_websocket;
  nva.add(kMethod, req.upgrade_websocket ? kConnect : req.method);
  static const std::string kHttp = "http";
  nva.add(kScheme, req.scheme.empty() ? kHttp : req.scheme);
  nva.add(kAuthority, req.authority);
  nva.add(kPath, req.target);
  if (req.upgrade_websocket) nva.add(kProtocol, kWebsocket);
  std::string len;
  if (req.content_length && !req.upgrade_websocket) {
    len = std::to_string(*req.content_length);
    nva.add(kLen, len);
  }
  for (const auto& h : req.headers) {
    if (h.name == "content-length") continue;
    if (h.name == "te" && base::toLower(h.value) != "trailers") continue;
    nva.add(h.name, h.value);
  }
  bool body = req.has_body || req.upgrade_websocket;
  nghttp2_data_provider prd{};
  prd.source.ptr = st.get();
  prd.read_callback = readData;
  st->has_provider_ = body;
  st->head_written_ = true;
  if (!body) st->out_eof_ = true;
  int32_t id =
      nghttp2_submit_request(ng_, nullptr, nva.data(), nva.size(), body ? &prd : nullptr, st.get());
  if (id < 0)
    return base::makeError(std::errc::protocol_error, "open tunnel stream: {}",
                           nghttp2_strerror(id));
  st->id_ = id;
  st->is_head_request_ = req.method == "HEAD";
  streams_[id] = st;
  signalWrite();
  return st;
}

void H2Session::goAway() {
  if (closed_ || goaway_sent_) return;
  goaway_sent_ = true;
  nghttp2_submit_goaway(ng_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(ng_),
                        NGHTTP2_NO_ERROR, nullptr, 0);
  signalWrite();
}

void H2Session::closeWhenIdle() {
  close_when_idle_ = true;
  signalWrite();
}

void H2Session::close() {
  if (closed_) return;
  terminate();
}

void H2Session::terminate() {
  closed_ = true;
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, st] : streams) st->markClosed(NGHTTP2_CONNECT_ERROR);
  keepalive_timer_.cancel();
  boost::system::error_code ignored;
  sock_->next_layer().cancel(ignored);
  sock_->next_layer().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  write_ev_.notify();
}

Task<void> H2Session::writeLoop() {
  auto self = shared_from_this();
  std::string out;
  out.reserve(kWriteBatch + kMaxFrame + 1024);
  while (!closed_) {
    out.clear();
    // Let the handlers that are already runnable (a response body right behind its head, the
    // END_STREAM right behind the body) add their frames first: one write carries them all.
    co_await asio::post(ex_, use_awaitable);
    // The connection may have ended meanwhile: nghttp2 must not touch its streams again
    // (their objects may be gone).
    if (closed_) break;
    for (;;) {
      const uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(ng_, &data);
      if (n < 0) {
        LOG_WARN("{} http2 send error peer={} error={}", opts_.name, opts_.peer,
                 nghttp2_strerror(static_cast<int>(n)));
        terminate();
        break;
      }
      if (n == 0) break;
      out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
      if (out.size() >= kWriteBatch) break;
    }
    if (closed_) break;
    if (out.empty()) {
      if ((close_when_idle_ && streams_.empty()) ||
          (!nghttp2_session_want_read(ng_) && !nghttp2_session_want_write(ng_))) {
        terminate();
        break;
      }
      co_await write_ev_.wait();
      continue;
    }
    write_since_ = std::chrono::steady_clock::now();
    auto [ec, n] = co_await asio::async_write(*sock_, asio::buffer(out), as_tuple(use_awaitable));
    write_since_ = std::chrono::steady_clock::time_point::max();
    if (ec) {
      if (!closed_)
        LOG_DEBUG("{} write failed peer={} error={}", opts_.name, opts_.peer, ec.message());
      terminate();
      break;
    }
  }
  writer_done_ = true;
  writer_done_ev_.notify();
}

bool H2Session::admitReset() {
  if (!opts_.limit_resets) return true;
  auto now = std::chrono::steady_clock::now();
  double rate = opts_.max_concurrent_streams, burst = 2.0 * opts_.max_concurrent_streams;
  reset_tokens_ = std::min(
      burst, reset_tokens_ + rate * std::chrono::duration<double>(now - reset_refill_).count());
  reset_refill_ = now;
  reset_tokens_ -= 1;
  return reset_tokens_ >= 0;
}

Task<void> H2Session::keepaliveLoop() {
  auto self = shared_from_this();
  // Wake often enough to notice each deadline within a quarter of it.
  auto tick = opts_.keepalive;
  for (auto d : {opts_.idle_timeout, opts_.send_timeout})
    if (d.count() > 0) tick = std::min(tick, std::max(d / 4, std::chrono::milliseconds(50)));
  while (!closed_) {
    keepalive_timer_.expires_after(tick);
    co_await keepalive_timer_.async_wait(as_tuple(use_awaitable));
    if (closed_) break;
    auto now = std::chrono::steady_clock::now();
    if (opts_.send_timeout.count() > 0 && now - write_since_ >= opts_.send_timeout) {
      LOG_DEBUG("http2 peer takes no bytes, closing peer={} timeout_ms={}", opts_.peer,
                opts_.send_timeout.count());
      terminate();
      break;
    }
    if (opts_.idle_timeout.count() > 0 && streams_.empty() &&
        now - idle_since_ >= opts_.idle_timeout && !goaway_sent_) {
      LOG_DEBUG("http2 connection idle, closing peer={}", opts_.peer);
      goaway_sent_ = true;
      nghttp2_session_terminate_session(ng_, NGHTTP2_NO_ERROR);  // GOAWAY, then close
      signalWrite();
      continue;
    }
    if (now - last_read_ < opts_.keepalive) continue;
    auto silent = now - last_read_;
    if (silent >= 3 * opts_.keepalive) {
      LOG_WARN("{} peer silent, closing peer={} silent_ms={}", opts_.name, opts_.peer,
               std::chrono::duration_cast<std::chrono::milliseconds>(silent).count());
      terminate();
      break;
    }
    nghttp2_submit_ping(ng_, NGHTTP2_FLAG_NONE, nullptr);  // the peer must answer
    signalWrite();
  }
}

Task<void> H2Session::run() {
  auto self = shared_from_this();
  boost::system::error_code ignored;
  sock_->next_layer().set_option(asio::ip::tcp::no_delay(true), ignored);
  sock_->next_layer().set_option(asio::socket_base::keep_alive(true), ignored);
  asio::co_spawn(ex_, writeLoop(), asio::detached);
  asio::co_spawn(ex_, keepaliveLoop(), asio::detached);
  auto buf = std::make_unique<uint8_t[]>(kReadBuf);
  while (!closed_) {
    auto [ec, n] =
        co_await sock_->async_read_some(asio::buffer(buf.get(), kReadBuf), as_tuple(use_awaitable));
    if (ec) {
      if (!closed_)
        LOG_DEBUG("{} read ended peer={} error={}", opts_.name, opts_.peer, ec.message());
      break;
    }
    if (closed_) break;  // ended while the read was in flight: nghttp2 is done with it
    last_read_ = std::chrono::steady_clock::now();
    ssize_t rv = nghttp2_session_mem_recv(ng_, buf.get(), n);
    if (rv < 0) {
      // Say why in a GOAWAY, then close once it is out (the writer ends the session when
      // nghttp2 has nothing more to send; a peer that does not read is cut by send_timeout).
      // A connection closed for resetting too fast has its GOAWAY queued already.
      if (!calmed_) {
        int code = static_cast<int>(rv);
        if (opts_.name == std::string_view("tunnel"))
          LOG_WARN("tunnel http2 protocol error={}", nghttp2_strerror(code));
        else
          LOG_DEBUG("{} http2 protocol error peer={} error={}", opts_.name, opts_.peer,
                    nghttp2_strerror(code));
        nghttp2_session_terminate_session(
            ng_, code == NGHTTP2_ERR_FLOODED ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
      }
      signalWrite();
      while (!writer_done_) co_await writer_done_ev_.wait();
      break;
    }
    signalWrite();
  }
  if (!closed_) terminate();
  while (!writer_done_) co_await writer_done_ev_.wait();
}

}  // namespace tunnel
