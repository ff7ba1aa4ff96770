#include <gtest/gtest.h>

#include "tunnel/runtime.h"

namespace tunnel {
namespace {

TEST(Backoff, GrowsExponentiallyWithJitterUpToCap) {
  Backoff b(std::chrono::seconds(1), std::chrono::seconds(60), 42);
  int64_t ceiling = 1000;
  for (int i = 0; i < 12; ++i) {
    auto d = b.next().count();
    EXPECT_GE(d, ceiling / 2) << "attempt " << i;
    EXPECT_LE(d, ceiling) << "attempt " << i;
    ceiling = std::min<int64_t>(ceiling * 2, 60'000);
  }
}

TEST(Backoff, NeverZeroAndResets) {
  Backoff b(std::chrono::seconds(1), std::chrono::seconds(60), 7);
  for (int i = 0; i < 8; ++i) (void)b.next();
  b.reset();
  auto d = b.next().count();
  EXPECT_GE(d, 500);
  EXPECT_LE(d, 1000);
}

TEST(Backoff, JitterSpreadsDelays) {
  Backoff a(std::chrono::seconds(1), std::chrono::seconds(60), 1);
  Backoff b(std::chrono::seconds(1), std::chrono::seconds(60), 2);
  bool differ = false;
  for (int i = 0; i < 6; ++i) differ |= a.next() != b.next();
  EXPECT_TRUE(differ);
}

TEST(ListenAddr, ParsesForms) {
  EXPECT_EQ(parseListenAddr("127.0.0.1:8080")->port(), 8080);
  EXPECT_TRUE(parseListenAddr(":7844")->address().is_unspecified());
  EXPECT_TRUE(parseListenAddr("[::1]:0")->address().is_v6());
  EXPECT_EQ(formatEndpoint(*parseListenAddr("[::1]:9")), "[::1]:9");
  EXPECT_FALSE(parseListenAddr("127.0.0.1"));
  EXPECT_FALSE(parseListenAddr("127.0.0.1:99999"));
  EXPECT_FALSE(parseListenAddr("example.com:80"));
}

}  // namespace
}  // namespace tunnel
