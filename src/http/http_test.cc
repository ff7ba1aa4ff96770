#include <gtest/gtest.h>

#include "http/http.h"

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

TEST(RequestHead, OversizedHeadGets431) {
  std::string big = "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n";
  EXPECT_EQ(parseStatus(big, 1024), 431);
}

TEST(RequestHead, AbsoluteFormTakesAuthorityFromTarget) {
  auto h = parseOk("GET http://x.example/p HTTP/1.1\r\nHost: other\r\n\r\n");
  EXPECT_EQ(h.authority, "x.example");
  EXPECT_EQ(h.target, "/p");
}

}  // namespace
}  // namespace http
