#include "http/websocket.h"

#include <gtest/gtest.h>

namespace http::ws {
namespace {

TEST(WebSocket, AcceptKeyOfRfc6455) {
  // RFC 6455 section 1.3's example.
  EXPECT_EQ(acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocket, RoundTripsEveryLengthForm) {
  for (size_t n : {0, 1, 125, 126, 65535, 65536, 200000}) {
    std::string payload(n, 'x');
    for (size_t i = 0; i < n; ++i) payload[i] = static_cast<char>(i * 7);
    for (bool masked : {false, true}) {
      std::string wire = encodeFrame(Opcode::Binary, payload,
                                     masked ? std::optional<uint32_t>(0x37fa213d) : std::nullopt);
      Decoder d(masked, 1 << 20);
      std::vector<Frame> frames;
      // Fed one byte, then the rest: frames complete across reads.
      ASSERT_TRUE(d.feed(std::string_view(wire).substr(0, 1), &frames));
      EXPECT_TRUE(frames.empty());
      ASSERT_TRUE(d.feed(std::string_view(wire).substr(1), &frames));
      ASSERT_EQ(frames.size(), 1u) << n;
      EXPECT_EQ(frames[0].op, Opcode::Binary);
      EXPECT_TRUE(frames[0].fin);
      EXPECT_EQ(frames[0].payload, payload) << n << " masked=" << masked;
    }
  }
}

TEST(WebSocket, Rfc6455MaskedHello) {
  // Section 5.7: a single-frame masked text message "Hello".
  const std::string wire("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
  EXPECT_EQ(encodeFrame(Opcode::Text, "Hello", 0x37fa213d), wire);
  Decoder d(true, 1 << 20);
  std::vector<Frame> frames;
  ASSERT_TRUE(d.feed(wire + wire, &frames));
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[1].payload, "Hello");
}

TEST(WebSocket, ProtocolViolationsAreErrors) {
  auto errorOf = [](bool masked, std::string wire, uint64_t max = 1 << 20) {
    Decoder d(masked, max);
    std::vector<Frame> frames;
    auto r = d.feed(wire, &frames);
    EXPECT_FALSE(r);
    // And the decoder stays failed.
    EXPECT_FALSE(
        d.feed(encodeFrame(Opcode::Binary, "x", masked ? std::optional<uint32_t>(1) : std::nullopt),
               &frames));
    return r ? std::string() : r.error().message();
  };
  EXPECT_EQ(errorOf(true, encodeFrame(Opcode::Binary, "x", std::nullopt)),
            "WebSocket: a client's frame is not masked");
  EXPECT_EQ(errorOf(false, encodeFrame(Opcode::Binary, "x", 5)),
            "WebSocket: a server's frame is masked");
  EXPECT_EQ(errorOf(false, std::string("\xc2\x00", 2)),
            "WebSocket: reserved bits set (no extension was agreed)");
  EXPECT_EQ(errorOf(false, std::string("\x83\x00", 2)), "WebSocket: reserved opcode");
  EXPECT_EQ(errorOf(false, std::string("\x09\x00", 2)),
            "WebSocket: control frame longer than 125 bytes or split");
  EXPECT_EQ(errorOf(false, std::string("\x89\x7e\x00\x80", 4)),
            "WebSocket: control frame longer than 125 bytes or split");
  EXPECT_EQ(errorOf(false, encodeFrame(Opcode::Binary, std::string(2000, 'a'), std::nullopt), 1000),
            "WebSocket: frame larger than allowed");
  EXPECT_EQ(errorOf(false, std::string("\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", 10)),
            "WebSocket: payload length has its top bit set");
}

}  // namespace
}  // namespace http::ws
