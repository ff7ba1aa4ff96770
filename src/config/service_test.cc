// parseService: every accepted form of `service:` and the ways it is refused.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"

namespace config {
namespace {

Service mustParse(const char* text) {
  auto s = parseService(text);
  EXPECT_TRUE(s) << text << ": " << (s ? "" : s.error().message());
  return s ? *s : Service{};
}

std::string errorOf(const char* text) {
  auto s = parseService(text);
  return s ? "<parsed fine>" : s.error().message();
}

TEST(Service, HttpWithDefaultAndExplicitPort) {
  Service s = mustParse("http://localhost");
  EXPECT_EQ(s.kind, ServiceKind::Http);
  EXPECT_EQ(s.host, "localhost");
  EXPECT_EQ(s.port, 80);
  EXPECT_EQ(s.text, "http://localhost");

  s = mustParse("http://127.0.0.1:8080");
  EXPECT_EQ(s.kind, ServiceKind::Http);
  EXPECT_EQ(s.host, "127.0.0.1");
  EXPECT_EQ(s.port, 8080);
}

TEST(Service, HttpsAndWebSocketSchemes) {
  Service s = mustParse("https://origin.lan");
  EXPECT_EQ(s.kind, ServiceKind::Https);
  EXPECT_EQ(s.port, 443);

  s = mustParse("ws://localhost:3000");
  EXPECT_EQ(s.kind, ServiceKind::Http);
  EXPECT_EQ(s.port, 3000);

  s = mustParse("wss://localhost");
  EXPECT_EQ(s.kind, ServiceKind::Https);
  EXPECT_EQ(s.port, 443);

  // Schemes are case-insensitive, as in Go's url.Parse.
  s = mustParse("HTTPS://Origin.lan:8443");
  EXPECT_EQ(s.kind, ServiceKind::Https);
  EXPECT_EQ(s.host, "Origin.lan");
  EXPECT_EQ(s.port, 8443);
}

TEST(Service, Ipv6LiteralsInBrackets) {
  Service s = mustParse("http://[::1]:8080");
  EXPECT_EQ(s.kind, ServiceKind::Http);
  EXPECT_EQ(s.host, "::1");
  EXPECT_EQ(s.port, 8080);

  s = mustParse("https://[2001:db8::1]");
  EXPECT_EQ(s.host, "2001:db8::1");
  EXPECT_EQ(s.port, 443);

  EXPECT_NE(errorOf("http://::1:8080").find("must be written in brackets"), std::string::npos);
  EXPECT_NE(errorOf("http://[::1:8080").find("missing its closing ']'"), std::string::npos);
  EXPECT_NE(errorOf("http://[not-v6]:80").find("is not an IPv6 address"), std::string::npos);
  EXPECT_NE(errorOf("http://[::1]8080").find("unexpected '8080'"), std::string::npos);
}

TEST(Service, TrailingSlashAloneIsNotAPath) {
  Service s = mustParse("http://localhost:8080/");
  EXPECT_EQ(s.host, "localhost");
  EXPECT_EQ(s.port, 8080);
  EXPECT_EQ(s.text, "http://localhost:8080/");
}

TEST(Service, PathOrQueryIsRefused) {
  for (const char* text : {"http://localhost:8080/api", "http://localhost//",
                           "http://localhost?x=1", "https://[::1]/a", "http://localhost#frag"}) {
    EXPECT_NE(errorOf(text).find("ingress rules cannot proxy to a path"), std::string::npos)
        << text << ": " << errorOf(text);
  }
}

TEST(Service, NeedsSchemeAndHost) {
  for (const char* text :
       {"localhost:8080", "localhost", "http://", "http://:8080", "://x", "https://[]:443"}) {
    EXPECT_NE(errorOf(text).find("please make sure it has a scheme and a hostname"),
              std::string::npos)
        << text << ": " << errorOf(text);
  }
  EXPECT_NE(errorOf("").find("service is empty"), std::string::npos);
}

TEST(Service, BadPorts) {
  for (const char* text : {"http://localhost:0", "http://localhost:65536", "http://localhost:8a",
                           "http://localhost:", "http://localhost:-1", "http://[::1]:"}) {
    EXPECT_NE(errorOf(text).find("has an invalid port"), std::string::npos)
        << text << ": " << errorOf(text);
  }
  EXPECT_EQ(mustParse("http://localhost:65535").port, 65535);
}

TEST(Service, UnixSockets) {
  Service s = mustParse("unix:/run/app.sock");
  EXPECT_EQ(s.kind, ServiceKind::Unix);
  EXPECT_EQ(s.unix_path, "/run/app.sock");

  s = mustParse("unix+tls:/run/app-tls.sock");
  EXPECT_EQ(s.kind, ServiceKind::UnixTls);
  EXPECT_EQ(s.unix_path, "/run/app-tls.sock");

  EXPECT_NE(errorOf("unix:").find("names no socket"), std::string::npos);
  EXPECT_NE(errorOf("unix+tls:").find("names no socket"), std::string::npos);
}

TEST(Service, HttpStatus) {
  Service s = mustParse("http_status:404");
  EXPECT_EQ(s.kind, ServiceKind::HttpStatus);
  EXPECT_EQ(s.status, 404);
  EXPECT_EQ(mustParse("http_status:100").status, 100);
  EXPECT_EQ(mustParse("http_status:599").status, 599);
  for (const char* text : {"http_status:", "http_status:abc", "http_status:99", "http_status:600",
                           "http_status:404x", "http_status:-404", "http_status:99999999999"}) {
    EXPECT_NE(errorOf(text).find("http_status: needs a number from 100 to 599"), std::string::npos)
        << text << ": " << errorOf(text);
  }
}

TEST(Service, HelloWorldSpellings) {
  for (const char* text : {"hello_world", "hello-world", "helloworld"}) {
    Service s = mustParse(text);
    EXPECT_EQ(s.kind, ServiceKind::HelloWorld) << text;
    EXPECT_EQ(s.text, text);
  }
}

TEST(Service, TcpSchemesAndUnknownOnes) {
  for (auto [text, port] : {std::pair{"tcp://localhost:5432", 5432},
                            {"ssh://localhost", 22},
                            {"rdp://10.0.0.5", 3389},
                            {"smb://nas", 445},
                            {"ssh://[::1]:2222", 2222}}) {
    auto s = parseService(text);
    ASSERT_TRUE(s) << text << ": " << s.error().message();
    EXPECT_EQ(s->kind, ServiceKind::Tcp) << text;
    EXPECT_EQ(s->port, port) << text;
  }
  EXPECT_EQ(errorOf("tcp://localhost"),
            "'tcp://localhost': a tcp:// service needs a port, e.g. tcp://localhost:5432");
  std::string msg = errorOf("gopher://localhost");
  EXPECT_NE(msg.find("unknown service scheme 'gopher'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unix:/PATH, unix+tls:/PATH, tcp://HOST:PORT, ssh://HOST[:PORT], "
                     "rdp://HOST[:PORT], smb://HOST[:PORT], http_status:NNN or hello_world"),
            std::string::npos)
      << msg;
  EXPECT_NE(errorOf("bastion").find("not supported"), std::string::npos);
}

TEST(Service, WhiteSpaceAndUserInfoAreRefused) {
  EXPECT_NE(errorOf("http://local host").find("white space"), std::string::npos);
  EXPECT_NE(errorOf("http://user:pw@localhost").find("user info"), std::string::npos);
}

}  // namespace
}  // namespace config
