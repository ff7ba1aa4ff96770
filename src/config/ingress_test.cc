// Ingress matching and the ingress validation errors, checked against cloudflared's
// semantics: first match wins, port dropped, case-insensitive hosts, "*.suffix" at any
// depth but not the apex, path searched (not anchored) without the query.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "config/config.h"

namespace config {
namespace {

// One string per line so that the line numbers in the assertions can be counted.
constexpr const char* kMatchConfig =
    "ingress:\n"                            // 1
    "  - hostname: photos.example.net\n"    // 2   rule #1 (index 0)
    "    service: http://localhost:8001\n"  // 3
    "  - hostname: \"*.example.com\"\n"     // 4   rule #2 (index 1)
    "    service: http://localhost:8002\n"  // 5
    "  - hostname: x.example.com\n"         // 6   rule #3 (index 2): shadowed by #2
    "    service: http://localhost:8003\n"  // 7
    "  - hostname: api.example.org\n"       // 8   rule #4 (index 3)
    "    path: ^/v1/\n"                     // 9
    "    service: http://localhost:8004\n"  // 10
    "  - hostname: api.example.org\n"       // 11  rule #5 (index 4)
    "    path: \\.(jpg|png)$\n"             // 12
    "    service: http://localhost:8005\n"  // 13
    "  - hostname: \"[::1]\"\n"             // 14  rule #6 (index 5)
    "    service: http://localhost:8006\n"  // 15
    "  - hostname: 192.0.2.7\n"             // 16  rule #7 (index 6)
    "    service: http://localhost:8007\n"  // 17
    "  - path: /static\n"                   // 18  rule #8 (index 7): any host
    "    service: http://localhost:8008\n"  // 19
    "  - service: http_status:404\n";       // 20  rule #9 (index 8): catch-all

TunnelConfig matchConfig() {
  auto cfg = parseTunnelConfig(kMatchConfig, "match.yml");
  EXPECT_TRUE(cfg.has_value()) << (cfg ? "" : cfg.error().message());
  return cfg ? *cfg : TunnelConfig{};
}

struct MatchCase {
  const char* host;
  const char* path;
  size_t want;
};

TEST(Ingress, MatchTable) {
  const TunnelConfig cfg = matchConfig();
  ASSERT_EQ(cfg.ingress.size(), 9u);
  const MatchCase cases[] = {
      // Exact hostname.
      {"photos.example.net", "/", 0},
      {"photos.example.net", "", 0},
      {"other.example.net", "/", 8},
      {"photos.example.net.evil.com", "/", 8},
      // Case-insensitive.
      {"PHOTOS.Example.NET", "/", 0},
      {"A.EXAMPLE.COM", "/", 1},
      // Port dropped before matching.
      {"photos.example.net:8443", "/", 0},
      {"a.example.com:80", "/", 1},
      // A fully qualified name with its trailing dot is the same host.
      {"photos.example.net.", "/", 0},
      // Wildcard: any depth of subdomain, never the apex, never a mere suffix.
      {"a.example.com", "/", 1},
      {"a.b.c.example.com", "/", 1},
      {"example.com", "/", 8},
      {"badexample.com", "/", 8},
      {"example.com.evil.net", "/", 8},
      // First match wins: x.example.com is caught by the wildcard before its own rule.
      {"x.example.com", "/", 1},
      // Path regex is searched, not anchored, unless the regex anchors itself.
      {"api.example.org", "/v1/users", 3},
      {"api.example.org", "/v2/v1/users", 8},
      {"api.example.org", "/img/a.png", 4},
      {"api.example.org", "/img/a.png/more", 8},
      {"any.host", "/assets/static/x.css", 7},
      {"any.host", "/static", 7},
      // The query is not part of the path.
      {"api.example.org", "/img/a.txt?f=a.png", 8},
      {"api.example.org", "/img/a.png?size=2", 4},
      {"api.example.org", "/x?/v1/", 8},
      // Percent-escapes are decoded first, as Go's URL.Path is.
      {"api.example.org", "/%76%31/users", 3},
      // IPv6 literal hosts, with and without a port; IPv4 with a port.
      {"[::1]:8080", "/", 5},
      {"[::1]", "/", 5},
      {"::1", "/", 5},
      {"[::2]:8080", "/", 8},
      {"192.0.2.7:443", "/", 6},
      // Catch-all.
      {"", "/", 8},
      {"unknown.test", "/anything", 8},
  };
  for (const MatchCase& c : cases) {
    EXPECT_EQ(matchIngress(cfg, c.host, c.path), c.want) << "host=" << c.host << " path=" << c.path;
  }
}

TEST(Ingress, WildcardHostnameRuleIsCatchAllWhenLast) {
  auto cfg = parseTunnelConfig(
      "ingress:\n"
      "  - hostname: a.example.com\n"
      "    service: http://localhost:1\n"
      "  - hostname: \"*\"\n"
      "    service: http://localhost:2\n",
      "t.yml");
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(matchIngress(*cfg, "zzz.test", "/"), 1u);
  EXPECT_EQ(matchIngress(*cfg, "a.example.com", "/"), 0u);
}

TEST(Ingress, DescribeMatchPrintsLikeCloudflared) {
  const TunnelConfig cfg = matchConfig();
  auto out = describeMatch(cfg, "https://photos.example.net/album?id=3");
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(*out,
            "Matched rule #1\n\thostname: photos.example.net\n\tservice: http://localhost:8001\n");

  out = describeMatch(cfg, "https://api.example.org:8443/v1/items");
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(*out,
            "Matched rule #4\n\thostname: api.example.org\n\tpath: ^/v1/\n"
            "\tservice: http://localhost:8004\n");

  out = describeMatch(cfg, "http://nothing.test");
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(*out, "Matched rule #9\n\tservice: http_status:404\n");

  out = describeMatch(cfg, "http://any.host/static/a.js");
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(*out, "Matched rule #8\n\tpath: /static\n\tservice: http://localhost:8008\n");

  out = describeMatch(cfg, "http://[::1]:9000/");
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(*out, "Matched rule #6\n\thostname: [::1]\n\tservice: http://localhost:8006\n");
}

TEST(Ingress, DescribeMatchNeedsSchemeAndHost) {
  const TunnelConfig cfg = matchConfig();
  for (const char* url : {"photos.example.net/x", "https:///x", "://photos.example.net", "",
                          "https://:8080/", "https://[]/"}) {
    auto out = describeMatch(cfg, url);
    ASSERT_FALSE(out) << url;
    EXPECT_NE(out.error().message().find("needs a scheme and a host"), std::string::npos)
        << out.error().message();
  }
}

// The message of a config that must fail.
std::string errorOf(std::string_view yaml) {
  auto cfg = parseTunnelConfig(yaml, "t.yml");
  if (cfg) return "<parsed fine>";
  return cfg.error().message();
}

// EXPECT that `msg` starts with `prefix` and contains `part`.
void expectError(const std::string& msg, std::string_view prefix, std::string_view part) {
  EXPECT_TRUE(msg.starts_with(prefix)) << "want prefix '" << prefix << "' in: " << msg;
  EXPECT_NE(msg.find(part), std::string::npos) << "want '" << part << "' in: " << msg;
}

TEST(Ingress, LastRuleMustBeCatchAll) {
  expectError(errorOf("tunnel: x\n"
                      "ingress:\n"
                      "  - hostname: a.example.com\n"
                      "    service: http://localhost\n"),
              "t.yml:3: ingress rule #1: ",
              "the last ingress rule must match all URLs (i.e. it should not have a hostname or "
              "path filter)");
  // A path makes even a "*" rule selective.
  expectError(errorOf("ingress:\n"
                      "  - hostname: a.example.com\n"
                      "    service: http://localhost\n"
                      "  - hostname: \"*\"\n"
                      "    path: /x\n"
                      "    service: http://localhost\n"),
              "t.yml:4: ingress rule #2: ", "the last ingress rule must match all URLs");
}

TEST(Ingress, CatchAllBeforeLastRuleIsRefused) {
  expectError(errorOf("ingress:\n"
                      "  - hostname: a.example.com\n"
                      "    service: http://localhost\n"
                      "  - service: http://localhost:81\n"
                      "  - hostname: b.example.com\n"
                      "    service: http://localhost\n"
                      "  - service: http_status:404\n"),
              "t.yml:4: ingress rule #2 is matching the hostname '*'",
              "will match every hostname, meaning the rules which follow it will never be "
              "triggered");
  expectError(errorOf("ingress:\n"
                      "  - hostname: \"*\"\n"
                      "    service: http://localhost:81\n"
                      "  - service: http_status:404\n"),
              "t.yml:2: ingress rule #1 is matching the hostname '*'", "never be triggered");
}

TEST(Ingress, WildcardOnlyAsFirstLabel) {
  for (const char* host :
       {"*.a.*.b", "a.*.example.com", "*example.com", "**.example.com", "example.*", "*."}) {
    std::string yaml = std::string(
                           "ingress:\n"
                           "  - service: http://localhost\n"
                           "    hostname: \"") +
                       host +
                       "\"\n"
                       "  - service: http_status:404\n";
    expectError(errorOf(yaml), "t.yml:3: ingress rule #1: ",
                "at most one wildcard character (\"*\") and it can only be used for subdomains, "
                "e.g. \"*.example.com\"");
  }
}

TEST(Ingress, HostnameCannotContainPort) {
  for (const char* host : {"a.example.com:8080", "[::1]:80", "*.example.com:443"}) {
    std::string yaml = std::string(
                           "tunnel: t\n"
                           "ingress:\n"
                           "  - hostname: \"") +
                       host +
                       "\"\n"
                       "    service: http://localhost\n"
                       "  - service: http_status:404\n";
    expectError(errorOf(yaml), "t.yml:3: ingress rule #1: ", "hostname cannot contain a port");
  }
}

TEST(Ingress, HostnameWithSchemeOrPathIsRefused) {
  expectError(errorOf("ingress:\n"
                      "  - hostname: https://a.example.com\n"
                      "    service: http://localhost\n"
                      "  - service: http_status:404\n"),
              "t.yml:2: ingress rule #1: ", "must not include a scheme");
  expectError(errorOf("ingress:\n"
                      "  - hostname: a.example.com/api\n"
                      "    service: http://localhost\n"
                      "  - service: http_status:404\n"),
              "t.yml:2: ingress rule #1: ", "cannot contain a path");
}

TEST(Ingress, InvalidPathRegexNamesTheRule) {
  expectError(errorOf("ingress:\n"
                      "  - hostname: a.example.com\n"
                      "    service: http://localhost\n"
                      "  - hostname: b.example.com\n"
                      "    path: \"/api/(v1\"\n"
                      "    service: http://localhost\n"
                      "  - service: http_status:404\n"),
              "t.yml:5: ingress rule #2 has an invalid path regex '/api/(v1': ", "missing )");
  // The mistake cloudflared users make most: a glob instead of a regex.
  expectError(errorOf("ingress:\n"
                      "  - hostname: b.example.com\n"
                      "    path: \"*\"\n"
                      "    service: http://localhost\n"
                      "  - service: http_status:404\n"),
              "t.yml:3: ingress rule #1 has an invalid path regex '*': ",
              "no argument for repetition operator");
  // Backreferences are not RE2 (nor Go): refused, never a backtracking engine.
  expectError(errorOf("ingress:\n"
                      "  - path: \"(a)\\\\1\"\n"
                      "    service: http://localhost\n"
                      "  - service: http_status:404\n"),
              "t.yml:2: ingress rule #1 has an invalid path regex", "");
}

TEST(Ingress, PathRegexRunsInLinearTime) {
  // (a+)+$ is the textbook catastrophic pattern for backtracking engines.
  auto cfg = parseTunnelConfig(
      "ingress:\n"
      "  - path: \"^/(a+)+$\"\n"
      "    service: http://localhost\n"
      "  - service: http_status:404\n",
      "t.yml");
  ASSERT_TRUE(cfg) << cfg.error().message();
  std::string path = "/" + std::string(100000, 'a') + "!";
  EXPECT_EQ(matchIngress(*cfg, "h", path), 1u);
  EXPECT_EQ(matchIngress(*cfg, "h", "/" + std::string(100000, 'a')), 0u);
}

TEST(Ingress, ServiceErrorsNameRuleAndLine) {
  expectError(errorOf("ingress:\n"
                      "  - hostname: a.example.com\n"
                      "    service: http://localhost:8080/api\n"
                      "  - service: http_status:404\n"),
              "t.yml:3: ingress rule #1: ", "ingress rules cannot proxy to a path");
  expectError(errorOf("ingress:\n"
                      "  - hostname: a.example.com\n"
                      "    service: localhost:8080\n"
                      "  - service: http_status:404\n"),
              "t.yml:3: ingress rule #1: ", "please make sure it has a scheme and a hostname");
  expectError(errorOf("ingress:\n"
                      "  - hostname: a.example.com\n"
                      "    service: http://localhost\n"
                      "  - service: http_status:abc\n"),
              "t.yml:4: ingress rule #2: ", "http_status: needs a number from 100 to 599");
  expectError(errorOf("ingress:\n"
                      "  - hostname: a.example.com\n"
                      "    service: ftp://localhost\n"
                      "  - service: http_status:404\n"),
              "t.yml:3: ingress rule #1: ",
              "unknown service scheme 'ftp'; accepted forms: http://HOST[:PORT], "
              "https://HOST[:PORT], ws://HOST[:PORT], wss://HOST[:PORT], unix:/PATH, "
              "unix+tls:/PATH, tcp://HOST:PORT, ssh://HOST[:PORT], rdp://HOST[:PORT], "
              "smb://HOST[:PORT], http_status:NNN or hello_world");
  expectError(errorOf("ingress:\n"
                      "  - hostname: db.example.com\n"
                      "    service: tcp://localhost\n"
                      "  - service: http_status:404\n"),
              "t.yml:3: ingress rule #1: ", "a tcp:// service needs a port");
  expectError(errorOf("ingress:\n"
                      "  - hostname: a.example.com\n"
                      "  - service: http_status:404\n"),
              "t.yml:2: ingress rule #1: ", "missing service:");
}

TEST(Ingress, EmptyIngressIsAnError) {
  expectError(errorOf("tunnel: x\n"
                      "ingress: []\n"),
              "t.yml:2: ", "doesn't contain any ingress rules");
  expectError(errorOf("tunnel: x\n"
                      "credentials-file: /etc/burrow/x.json\n"
                      "ingress:\n"),
              "t.yml:3: ", "doesn't contain any ingress rules");
  expectError(errorOf("tunnel: x\n"), "t.yml:1: ", "doesn't contain any ingress rules");
  expectError(errorOf(""), "t.yml:1: ", "doesn't contain any ingress rules");
}

}  // namespace
}  // namespace config
