#include "base/base.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace base {
namespace {

TEST(Base64, RoundTripsEveryLength) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t n = 0; n < all.size(); n += 7) {
    auto d = base64Decode(base64Encode(all.substr(0, n)));
    ASSERT_TRUE(d) << d.error().message();
    EXPECT_EQ(*d, all.substr(0, n));
  }
}

TEST(Base64, AcceptsUrlSafeAndUnpadded) {
  EXPECT_EQ(*base64Decode("-_8"), "\xfb\xff");
  EXPECT_EQ(*base64Decode("  aGk=\n"), "hi");
}

TEST(Base64, RejectsGarbageWithOffset) {
  auto d = base64Decode("aG*k");
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message().find("offset 2"), std::string::npos);
}

TEST(Hex, RoundTripAndErrors) {
  EXPECT_EQ(hexEncode(std::string_view("\x01\xab")), "01ab");
  EXPECT_EQ(*hexDecode("01AB"), "\x01\xab");
  EXPECT_FALSE(hexDecode("abc"));
  EXPECT_FALSE(hexDecode("zz"));
}

TEST(Duration, ParsesGoSyntax) {
  EXPECT_EQ(parseDuration("30s")->count(), 30000);
  EXPECT_EQ(parseDuration("1m30s")->count(), 90000);
  EXPECT_EQ(parseDuration("250ms")->count(), 250);
  EXPECT_EQ(parseDuration("2h")->count(), 7200000);
  EXPECT_EQ(parseDuration("5")->count(), 5000);
  // systemd.time(7) spellings.
  EXPECT_EQ(parseDuration("1min 30s")->count(), 90000);
  EXPECT_EQ(parseDuration("2sec 500msec")->count(), 2500);
  EXPECT_FALSE(parseDuration("5x"));
  EXPECT_FALSE(parseDuration(""));
  EXPECT_FALSE(parseDuration("s"));
}

TEST(Files, AtomicWriteSetsModeAndContent) {
  char tmpl[] = "/tmp/burrow-base-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  ASSERT_TRUE(ensureDir(dir + "/a/b", 0700));
  std::string f = dir + "/a/b/file";
  ASSERT_TRUE(writeFileAtomic(f, "hello", 0600));
  ASSERT_TRUE(writeFileAtomic(f, "again", 0600));
  EXPECT_EQ(*readFile(f), "again");
  struct stat st {};
  ASSERT_EQ(stat(f.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((dir + "/a/b").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  auto missing = readFile(dir + "/nope");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("/nope"), std::string::npos);
  ASSERT_EQ(system(("rm -rf " + dir).c_str()), 0);
}

TEST(Process, ZombieDoesNotRun) {
  EXPECT_TRUE(processRunning(::getpid()));
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  // Not reaped yet: a zombie once it has exited.
  for (int i = 0; i < 500 && processRunning(child); ++i) ::usleep(2000);
  EXPECT_FALSE(processRunning(child));
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  EXPECT_FALSE(processRunning(child));
}

TEST(Random, UuidHasVersion4Shape) {
  std::string u = randomUuid();
  ASSERT_EQ(u.size(), 36u);
  EXPECT_EQ(u[14], '4');
  EXPECT_NE(randomUuid(), u);
}

TEST(EverySecond, OneLineThenCountsUntilTheNextSecond) {
  EverySecond limit;
  EXPECT_EQ(limit.admit(), 1u);  // the first event gets its line
  EXPECT_EQ(limit.admit(), 0u);  // the rest of the second is counted, not written
  EXPECT_EQ(limit.admit(), 0u);
}

}  // namespace
TEST(HostPort, SplitsAndDetectsWildcardsAndLoopback) {
  auto hp = splitHostPort("[::1]:80");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "::1");
  EXPECT_EQ(hp->port, 80);
  hp = splitHostPort(":7844");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "");
  EXPECT_EQ(hp->port, 7844);
  EXPECT_TRUE(isWildcardHost(""));
  EXPECT_TRUE(isWildcardHost("0.0.0.0"));
  EXPECT_TRUE(isWildcardHost("::"));
  EXPECT_TRUE(isWildcardHost("0:0::0"));
  EXPECT_FALSE(isWildcardHost("::1"));
  EXPECT_FALSE(isWildcardHost("127.0.0.1"));
  EXPECT_FALSE(isWildcardHost("vps.example.net"));
  EXPECT_TRUE(isLoopbackHost("localhost"));
  EXPECT_TRUE(isLoopbackHost("127.3.2.1"));
  EXPECT_TRUE(isLoopbackHost("::1"));
  EXPECT_FALSE(isLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(isLoopbackHost("10.0.0.1"));
  EXPECT_FALSE(splitHostPort("a:0"));
  EXPECT_TRUE(splitHostPort("a:0", /*port_zero_ok=*/true));
  EXPECT_FALSE(splitHostPort("a:65536", true));
  EXPECT_FALSE(splitHostPort("::1:80"));
  EXPECT_FALSE(splitHostPort("a b:80"));
  EXPECT_FALSE(splitHostPort("[nope]:80"));
}

}  // namespace base
