#include <gtest/gtest.h>

#include "http/http.h"
#include "http/origin_response.h"

namespace http {
namespace {

RequestHead parseOk(std::string_view text) {
  int status = 0;
  auto r = parseRequestHead(text, ServerLimits{}, &status);
  EXPECT_TRUE(r) << r.error().message();
  return r ? *r : RequestHead{};
}

int parseStatus(std::string_view text, size_t limit = 32 * 1024) {
  int status = 0;
  ServerLimits l;
  l.max_head_bytes = limit;
  auto r = parseRequestHead(text, l, &status);
  EXPECT_FALSE(r);
  return status;
}

TEST(RequestHead, StripsHopByHopAndKeepsEndToEnd) {
  auto h = parseOk(
      "GET /a?b=1 HTTP/1.1\r\nHost: Photos.Example.net:8080\r\nConnection: keep-alive, X-Drop\r\n"
      "X-Drop: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nAccept: */*\r\nX-Custom: v\r\n\r\n");
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.target, "/a?b=1");
  EXPECT_EQ(h.authority, "Photos.Example.net:8080");
  ASSERT_EQ(h.headers.size(), 2u);
  EXPECT_EQ(h.headers[0].name, "accept");
  EXPECT_EQ(h.headers[1].name, "x-custom");
  EXPECT_FALSE(h.has_body);
}

TEST(RequestHead, DetectsBodiesAndUpgrade) {
  auto h = parseOk("POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n");
  EXPECT_TRUE(h.has_body);
  EXPECT_EQ(h.content_length.value_or(0), 5u);
  auto c = parseOk("POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_TRUE(c.has_body);
  EXPECT_FALSE(c.content_length);
  EXPECT_TRUE(c.find("transfer-encoding") == nullptr);
  auto w = parseOk(
      "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Key: x\r\n\r\n");
  EXPECT_TRUE(w.upgrade_websocket);
  EXPECT_NE(w.find("sec-websocket-key"), nullptr);
}

TEST(RequestHead, RejectsMalformedWith400) {
  EXPECT_EQ(parseStatus("GET / HTTP/1.1\r\n\r\n"), 400);  // no Host
  EXPECT_EQ(parseStatus("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
  EXPECT_EQ(parseStatus("G@T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(parseStatus("GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n"), 400);
  EXPECT_EQ(parseStatus("GET nopath HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
}

// RFC 9112 6.1/6.3: a body is framed by chunked as the last coding or by one Content-Length;
// any other Transfer-Encoding could be read two ways (TE.0 / TE.CL smuggling) and is refused.
TEST(RequestHead, TransferEncodingMustEndInChunkedAlone) {
  const std::string post = "POST /u HTTP/1.1\r\nHost: a\r\n";
  EXPECT_EQ(parseStatus(post + "Transfer-Encoding: gzip\r\n\r\n"), 400);
  EXPECT_EQ(parseStatus(post + "Transfer-Encoding: identity\r\n\r\n"), 400);
  EXPECT_EQ(parseStatus(post + "Transfer-Encoding: chunked, identity\r\n\r\n"), 400);
  EXPECT_EQ(parseStatus(post + "Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n\r\n"), 400);
  EXPECT_EQ(parseStatus(post + "Content-Length: 5\r\nTransfer-Encoding: xchunked\r\n\r\n"), 400);
  EXPECT_EQ(parseStatus(post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), 400);
  EXPECT_EQ(parseStatus(post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400);
  EXPECT_EQ(parseStatus("POST /u HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
  // A coding burrow does not decode before chunked: 501, not a body with its coding lost.
  EXPECT_EQ(parseStatus(post + "Transfer-Encoding: gzip, chunked\r\n\r\n"), 501);
  EXPECT_EQ(parseStatus(post + "Transfer-Encoding: chunked;x=1\r\n\r\n"), 400);
  EXPECT_EQ(parseStatus(post + "Transfer-Encoding: gzip;q=1, chunked\r\n\r\n"), 400);
  auto ok = parseOk(post + "Transfer-Encoding: Chunked \r\n\r\n");
  EXPECT_TRUE(ok.has_body);
}

TEST(RequestHead, HostMustBeAHostName) {
  EXPECT_EQ(parseStatus("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400);
  EXPECT_EQ(parseStatus("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400);
  EXPECT_EQ(parseStatus("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n"), 400);
  EXPECT_EQ(parseStatus("GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n"), 400);
  EXPECT_EQ(parseStatus("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"), 400);
  EXPECT_EQ(parseStatus("GET http://u@x.example/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(parseOk("GET / HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n").authority, "[::1]:8443");
  EXPECT_EQ(parseOk("GET / HTTP/1.1\r\nHost: a-b.example_x:80\r\n\r\n").authority,
            "a-b.example_x:80");
  EXPECT_TRUE(validAuthority(""));
  EXPECT_FALSE(validAuthority(":80"));
  EXPECT_FALSE(validAuthority("a\\b"));
}

TEST(RequestHead, AsteriskIsOnlyForOptions) {
  EXPECT_EQ(parseStatus("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(parseOk("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").target, "*");
}

// What reaches the origin from a byte stream: each request once, with the body its framing
// gives, and never a second request hidden in a body (the seeds of fuzz_request_stream).
TEST(RequestStream, NoSmugglingForm) {
  ServerLimits limits;
  int status = 0;
  auto ok = parseRequestStream(
      "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n0\r\n"
      "\r\nGET /b HTTP/1.1\r\nHost: b\r\n\r\n",
      limits, &status);
  ASSERT_TRUE(ok) << ok.error().message();
  ASSERT_EQ(ok->size(), 2u);
  EXPECT_EQ((*ok)[0].body, "abc");
  EXPECT_EQ((*ok)[1].head.target, "/b");
  for (std::string te : {"gzip", "identity", "chunked, identity"}) {
    auto r = parseRequestStream("POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: " + te +
                                    "\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
                                limits, &status);
    EXPECT_FALSE(r) << te;
    EXPECT_EQ(status, 400) << te;
  }
  auto r = parseRequestStream(
      "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\nG",
      limits, &status);
  EXPECT_FALSE(r);
  // A body cut short is incomplete, not a request (this once looped for ever).
  r = parseRequestStream("POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\n\r\n0\r\n\r\nG",
                         limits, &status);
  EXPECT_FALSE(r);
  EXPECT_EQ(status, 400);
}

TEST(RequestHead, OversizedHeadGets431) {
  std::string big = "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n";
  EXPECT_EQ(parseStatus(big, 1024), 431);
}

TEST(RequestHead, AbsoluteFormTakesAuthorityFromTarget) {
  auto h = parseOk("GET http://x.example/p HTTP/1.1\r\nHost: other\r\n\r\n");
  EXPECT_EQ(h.authority, "x.example");
  EXPECT_EQ(h.target, "/p");
}

OriginResponse responseOk(std::string_view text, bool head_request = false) {
  OriginResponse r;
  auto used = parseOriginResponse(text, head_request, &r);
  EXPECT_TRUE(used) << used.error().message();
  if (used) {
    EXPECT_EQ(*used, text.size());
  }
  return r;
}

std::string responseError(std::string_view text) {
  OriginResponse r;
  auto used = parseOriginResponse(text, false, &r);
  EXPECT_FALSE(used) << text;
  return used ? "" : used.error().message();
}

TEST(OriginResponse, ParsesHeadAndStripsHopByHop) {
  auto r = responseOk(
      "HTTP/1.1 200 OK\r\nServer: nginx\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\n"
      "Content-Length: 1024\r\nKeep-Alive: timeout=5\r\nETag: \"abc\"\r\n\r\n");
  EXPECT_EQ(r.head.status, 200);
  ASSERT_EQ(r.head.headers.size(), 2u);
  EXPECT_EQ(r.head.headers[0].name, "server");
  EXPECT_EQ(r.head.headers[1].name, "etag");
  EXPECT_EQ(r.head.headers[1].value, "\"abc\"");
  EXPECT_EQ(r.head.content_length.value_or(0), 1024u);
  EXPECT_EQ(r.framing, BodyFraming::Length);
  EXPECT_EQ(r.length, 1024u);
  EXPECT_TRUE(r.keep_alive);
}

TEST(OriginResponse, WaitsForTheWholeHead) {
  std::string full = "HTTP/1.1 204 No Content\r\nA: b\r\n\r\nbody";
  for (size_t cut = 0; cut < full.size() - 4; ++cut) {
    OriginResponse r;
    auto used = parseOriginResponse(std::string_view(full).substr(0, cut), false, &r);
    ASSERT_TRUE(used) << cut;
    EXPECT_EQ(*used, 0u) << cut;
  }
  OriginResponse r;
  EXPECT_EQ(parseOriginResponse(full, false, &r).value_or(0), full.size() - 4);
  EXPECT_EQ(r.framing, BodyFraming::None);
}

TEST(OriginResponse, Framing) {
  EXPECT_EQ(responseOk("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").framing,
            BodyFraming::Chunked);
  auto gz = responseOk("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
  EXPECT_EQ(gz.framing, BodyFraming::UntilClose);
  EXPECT_FALSE(gz.keep_alive);
  auto both =
      responseOk("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n");
  EXPECT_EQ(both.framing, BodyFraming::Chunked);
  EXPECT_FALSE(both.head.content_length);
  EXPECT_FALSE(both.keep_alive);
  auto bare = responseOk("HTTP/1.1 200 OK\r\n\r\n");
  EXPECT_EQ(bare.framing, BodyFraming::UntilClose);
  EXPECT_FALSE(bare.keep_alive);
  auto head = responseOk("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n", true);
  EXPECT_EQ(head.framing, BodyFraming::None);
  EXPECT_EQ(head.head.content_length.value_or(0), 50u);
  EXPECT_EQ(responseOk("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n").framing,
            BodyFraming::None);
  EXPECT_EQ(responseOk("HTTP/1.1 100 Continue\r\n\r\n").head.status, 100);
  EXPECT_EQ(responseOk("HTTP/1.1 200 OK\nContent-Length: 5, 5\n\n").length, 5u);
}

TEST(OriginResponse, KeepAliveByVersionAndConnection) {
  EXPECT_FALSE(
      responseOk("HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n").keep_alive);
  EXPECT_FALSE(responseOk("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
  EXPECT_TRUE(responseOk("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
                  .keep_alive);
}

TEST(OriginResponse, RejectsWhatCouldBeReadTwoWays) {
  EXPECT_NE(responseError("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n")
                .find("Content-Length"),
            std::string::npos);
  EXPECT_NE(responseError("HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\n").find("Content-Length"),
            std::string::npos);
  EXPECT_NE(responseError("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n").find("Content-Length"),
            std::string::npos);
  EXPECT_NE(responseError("HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n").find("folding"),
            std::string::npos);
  EXPECT_NE(responseError("HTTP/1.1 200 OK\r\nBad Name: b\r\n\r\n").find("header name"),
            std::string::npos);
  EXPECT_NE(responseError("HTTP/1.1 200 OK\r\nA: b\x01\r\n\r\n").find("control"),
            std::string::npos);
  for (auto line : {"HTTP/2 200 OK", "HTTP/1.1 2000 OK", "HTTP/1.1 099 x", "HTTP/1.1 20x OK",
                    "ICY 200 OK", "HTTP/1.1 200OK"})
    EXPECT_NE(responseError(std::string(line) + "\r\n\r\n").find("status line"), std::string::npos)
        << line;
  EXPECT_NE(
      responseError("HTTP/1.1 200 OK\r\nX: " + std::string(70000, 'a') + "\r\n\r\n").find("64 KiB"),
      std::string::npos);
}

// Feeds `wire` to a chunked decoder `piece` bytes at a time, the way the proxy does.
std::string decodeChunked(std::string_view wire, size_t piece, std::string* error) {
  ChunkedDecoder d;
  std::string buffered, body;
  size_t fed = 0;
  while (!d.done()) {
    auto s = d.step(buffered);
    if (!s) {
      *error = s.error().message();
      return body;
    }
    body.append(buffered, s->data_offset, s->data_len);
    buffered.erase(0, s->consumed);
    if (s->consumed > 0) continue;
    if (fed == wire.size()) {
      *error = "truncated";
      return body;
    }
    size_t n = std::min(piece, wire.size() - fed);
    buffered.append(wire.substr(fed, n));
    fed += n;
  }
  EXPECT_EQ(fed, wire.size());
  EXPECT_TRUE(buffered.empty());
  return body;
}

TEST(ChunkedDecoder, DecodesAtEveryPieceSize) {
  std::string wire = "5;ext=1\r\nhello\r\n1A\r\n" + std::string(26, 'z') +
                     "\r\n0\r\nTrailer: x\r\nGrpc-Status: 0\r\n\r\n";
  for (size_t piece : {1, 2, 3, 7, 64}) {
    std::string error;
    EXPECT_EQ(decodeChunked(wire, piece, &error), "hello" + std::string(26, 'z')) << piece;
    EXPECT_EQ(error, "") << piece;
  }
}

TEST(ChunkedDecoder, RejectsBadFraming) {
  for (auto wire : {"x\r\n", "5\r\nhelloX\r\n0\r\n\r\n", "fffffffffffffffffff\r\n", "5 x\r\n",
                    "5\r\nhello\r\n0\r\n"}) {
    std::string error;
    decodeChunked(wire, 4, &error);
    EXPECT_NE(error, "") << wire;
  }
  std::string error;
  decodeChunked(std::string(9000, '1'), 4096, &error);
  EXPECT_NE(error.find("too long"), std::string::npos);
}

}  // namespace
}  // namespace http
