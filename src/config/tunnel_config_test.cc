// config.yml as a whole: top-level keys, originRequest inheritance and defaults, keys
// burrow ignores, YAML-level errors, files written for cloudflared, and --url.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "config/config.h"

namespace config {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::string errorOf(std::string_view yaml) {
  auto cfg = parseTunnelConfig(yaml, "t.yml");
  return cfg ? "<parsed fine>" : cfg.error().message();
}

void expectError(const std::string& msg, std::string_view prefix, std::string_view part) {
  EXPECT_TRUE(msg.starts_with(prefix)) << "want prefix '" << prefix << "' in: " << msg;
  EXPECT_NE(msg.find(part), std::string::npos) << "want '" << part << "' in: " << msg;
}

std::string dataFile(const char* name) { return std::string(BURROW_CONFIG_TEST_DATA) + "/" + name; }

TEST(TunnelConfig, CloudflaredUserConfigLoads) {
  auto cfg = loadTunnelConfig(dataFile("cloudflared_config.yml"));
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->source, dataFile("cloudflared_config.yml"));
  EXPECT_EQ(cfg->tunnel, "6ff42ae2-765d-4adf-8112-31c55c1551ef");
  EXPECT_EQ(cfg->credentials_file, "/root/.cloudflared/6ff42ae2-765d-4adf-8112-31c55c1551ef.json");
  EXPECT_EQ(cfg->metrics, "localhost:2000");
  EXPECT_EQ(cfg->grace_period, milliseconds(45'000));
  EXPECT_EQ(cfg->ha_connections, 2);
  EXPECT_EQ(cfg->token_file, "");

  ASSERT_EQ(cfg->ingress.size(), 7u);
  const auto& r = cfg->ingress;
  EXPECT_EQ(r[0].hostname, "photos.example.com");
  EXPECT_EQ(r[0].line, 23);
  EXPECT_EQ(r[0].service.kind, ServiceKind::Http);
  EXPECT_EQ(r[0].service.port, 2342);
  EXPECT_EQ(r[0].origin.connect_timeout, milliseconds(10'000));  // top-level default
  EXPECT_EQ(r[0].origin.keep_alive_connections, 50);

  EXPECT_EQ(r[1].path, "^/api/v[0-9]+/");
  EXPECT_NE(r[1].path_re, nullptr);
  EXPECT_EQ(r[1].origin.connect_timeout, milliseconds(2'000));  // rule wins
  EXPECT_EQ(r[1].origin.http_host_header, "gitea.internal");
  EXPECT_EQ(r[1].origin.keep_alive_connections, 50);  // inherited

  EXPECT_EQ(r[2].service.kind, ServiceKind::Https);
  EXPECT_EQ(r[2].service.host, "::1");
  EXPECT_EQ(r[2].service.port, 8443);
  EXPECT_TRUE(r[2].origin.no_tls_verify);
  EXPECT_EQ(r[2].origin.origin_server_name, "dev.internal");

  EXPECT_EQ(r[3].service.kind, ServiceKind::Unix);
  EXPECT_EQ(r[3].service.unix_path, "/run/app/app.sock");
  EXPECT_EQ(r[4].service.kind, ServiceKind::Http);
  EXPECT_EQ(r[5].service.kind, ServiceKind::HelloWorld);
  EXPECT_EQ(r[6].service.kind, ServiceKind::HttpStatus);
  EXPECT_EQ(r[6].service.status, 404);
  EXPECT_EQ(r[6].line, 43);

  EXPECT_EQ(matchIngress(*cfg, "git.example.com:443", "/api/v3/repos?x=1"), 1u);
  EXPECT_EQ(matchIngress(*cfg, "git.example.com", "/explore"), 6u);
  EXPECT_EQ(matchIngress(*cfg, "a.b.dev.example.com", "/"), 2u);
  EXPECT_EQ(matchIngress(*cfg, "dev.example.com", "/"), 6u);

  // Every cloudflared-only key is a warning naming key and line, never an error.
  const std::string f = dataFile("cloudflared_config.yml");
  const std::vector<std::string> want = {
      f + ":6: ignoring key 'logfile' (not used by burrow)",
      f + ":7: ignoring key 'protocol' (not used by burrow)",
      f + ":8: ignoring key 'no-autoupdate' (not used by burrow)",
      f + ":9: ignoring key 'edge-ip-version' (not used by burrow)",
      f + ":10: ignoring key 'warp-routing' (not used by burrow)",
      f + ":18: originRequest: ignoring key 'noHappyEyeballs' (not used by burrow)",
      f + ":36: ingress rule #3: originRequest: ignoring key 'http2Origin' (not used by burrow)",
  };
  EXPECT_EQ(cfg->warnings, want);
}

TEST(TunnelConfig, LegacyUrlKeyIsOneCatchAllRule) {
  auto cfg = loadTunnelConfig(dataFile("legacy_url.yml"));
  ASSERT_TRUE(cfg) << cfg.error().message();
  ASSERT_EQ(cfg->ingress.size(), 1u);
  EXPECT_EQ(cfg->ingress[0].hostname, "");
  EXPECT_EQ(cfg->ingress[0].service.port, 8000);
  EXPECT_EQ(cfg->ingress[0].line, 4);
  EXPECT_EQ(cfg->warnings.size(), 1u);  // no-autoupdate

  expectError(errorOf("url: http://localhost:8000\n"
                      "ingress:\n"
                      "  - service: http_status:404\n"),
              "t.yml:1: ", "url: cannot be set when using multiple-origin ingress rules");
  expectError(errorOf("tunnel: x\n"
                      "url: localhost:8000\n"),
              "t.yml:2: url: ", "please make sure it has a scheme and a hostname");
}

TEST(TunnelConfig, FileErrorsCarryThePath) {
  auto cfg = loadTunnelConfig(dataFile("bad_last_rule.yml"));
  ASSERT_FALSE(cfg);
  expectError(cfg.error().message(), dataFile("bad_last_rule.yml") + ":5: ingress rule #2: ",
              "the last ingress rule must match all URLs");

  cfg = loadTunnelConfig(dataFile("does_not_exist.yml"));
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().code, std::errc::no_such_file_or_directory);
}

TEST(TunnelConfig, TopLevelScalars) {
  auto cfg = parseTunnelConfig(
      "tunnel: home\n"
      "token-file: /etc/burrow/token\n"
      "ha-connections: 4\n"
      "grace-period: 1m30s\n"
      "ingress:\n"
      "  - service: hello_world\n",
      "t.yml");
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->tunnel, "home");
  EXPECT_EQ(cfg->token_file, "/etc/burrow/token");
  EXPECT_EQ(cfg->ha_connections, 4);
  EXPECT_EQ(cfg->grace_period, milliseconds(90'000));
  EXPECT_EQ(cfg->metrics, "");
  EXPECT_TRUE(cfg->warnings.empty());

  expectError(errorOf("ha-connections: 0\n"
                      "ingress:\n"
                      "  - service: hello_world\n"),
              "t.yml:1: ", "ha-connections: expected a whole number from 1 to 64, got '0'");
  expectError(errorOf("ingress:\n"
                      "  - service: hello_world\n"
                      "grace-period: soon\n"),
              "t.yml:3: ", "grace-period: duration 'soon'");
  expectError(errorOf("tunnel: [a, b]\n"
                      "ingress:\n"
                      "  - service: hello_world\n"),
              "t.yml:1: ", "tunnel: expected a string, got a list");
}

TEST(TunnelConfig, OriginRequestDefaults) {
  OriginSettings s = resolve(OriginRequest{});
  EXPECT_EQ(s.connect_timeout, seconds(30));
  EXPECT_EQ(s.tls_timeout, seconds(10));
  EXPECT_EQ(s.tcp_keep_alive, seconds(30));
  EXPECT_EQ(s.keep_alive_connections, 100);
  EXPECT_EQ(s.keep_alive_timeout, seconds(90));
  EXPECT_FALSE(s.no_tls_verify);
  EXPECT_FALSE(s.disable_chunked_encoding);
  EXPECT_EQ(s.http_host_header, "");
  EXPECT_EQ(s.origin_server_name, "");
  EXPECT_EQ(s.ca_pool, "");
  EXPECT_EQ(s.response_timeout, seconds(100));
}

TEST(TunnelConfig, ResponseTimeoutIsADurationAboveZero) {
  auto cfg = parseTunnelConfig(
      "originRequest:\n"
      "  responseTimeout: 2s\n"
      "ingress:\n"
      "  - hostname: a.example.com\n"
      "    service: http://localhost:1\n"
      "    originRequest: {responseTimeout: 1m}\n"
      "  - service: http://localhost:2\n",
      "t.yml");
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->ingress[0].origin.response_timeout, seconds(60));
  EXPECT_EQ(cfg->ingress[1].origin.response_timeout, seconds(2));
  expectError(errorOf("originRequest:\n"
                      "  responseTimeout: 0s\n"
                      "ingress:\n"
                      "  - service: hello_world\n"),
              "t.yml:2: originRequest: ", "responseTimeout: must be longer than 0s");
}

// A key that protects a route and is not enforced would leave the route public: an error
// with file and line, never a warning.
TEST(TunnelConfig, UnenforcedProtectionIsAnError) {
  // access: required: true is burrow's portal's to check; without portal: it would be public.
  expectError(errorOf("ingress:\n"
                      "  - hostname: a.example.com\n"
                      "    service: http://localhost:1\n"
                      "    originRequest:\n"
                      "      access:\n"
                      "        required: true\n"
                      "        teamName: home\n"
                      "        audTag: [abc]\n"
                      "  - service: http_status:404\n"),
              "t.yml:5: ingress rule #1: originRequest: access: ",
              "required: true needs portal: the address of burrow auth");
  expectError(errorOf("originRequest:\n"
                      "  access: {required: yes, portal: unix:/run/auth.sock}\n"
                      "ingress:\n"
                      "  - service: hello_world\n"),
              "t.yml:2: originRequest: access: ",
              "portal: expected the http:// or https:// address of burrow auth");
  expectError(errorOf("originRequest:\n"
                      "  access: {required: yes, portal: 'http://[auth]:9091'}\n"
                      "ingress:\n"
                      "  - service: hello_world\n"),
              "t.yml:2: originRequest: access: portal: ", "'auth' is not an IPv6 address");
  expectError(errorOf("originRequest:\n"
                      "  ipRules:\n"
                      "    - prefix: 10.0.0.0/8\n"
                      "      allow: false\n"
                      "ingress:\n"
                      "  - service: hello_world\n"),
              "t.yml:2: originRequest: ", "ipRules: burrow does not enforce IP rules");
  // required: false protects nothing: its other keys are only noted.
  auto cfg = parseTunnelConfig(
      "originRequest:\n"
      "  access: {required: false, teamName: home}\n"
      "ingress:\n"
      "  - service: hello_world\n",
      "t.yml");
  ASSERT_TRUE(cfg) << cfg.error().message();
  ASSERT_EQ(cfg->warnings.size(), 1u);
  EXPECT_EQ(cfg->warnings[0],
            "t.yml:2: originRequest: access: ignoring key 'teamName' (Cloudflare Access's; "
            "required is false)");
  EXPECT_FALSE(cfg->ingress[0].origin.access_portal);
}

// access: {required: true, portal: URL} at the top applies to every rule; a rule may turn it
// off; the portal survives the round trip the stack makes for its connector.
TEST(TunnelConfig, AccessNamesThePortalThatChecksEachRequest) {
  auto cfg = parseTunnelConfig(
      "originRequest:\n"
      "  access: {required: true, portal: 'http://127.0.0.1:9091', teamName: home}\n"
      "ingress:\n"
      "  - hostname: open.example.net\n"
      "    service: http://127.0.0.1:1\n"
      "    originRequest: {access: {required: false}}\n"
      "  - service: http://127.0.0.1:2\n",
      "t.yml");
  ASSERT_TRUE(cfg) << cfg.error().message();
  ASSERT_EQ(cfg->warnings.size(), 1u);
  EXPECT_EQ(cfg->warnings[0],
            "t.yml:2: originRequest: access: ignoring key 'teamName' (Cloudflare Access's; "
            "burrow's portal decides who gets in)");
  EXPECT_FALSE(cfg->ingress[0].origin.access_portal);
  ASSERT_TRUE(cfg->ingress[1].origin.access_portal);
  EXPECT_EQ(cfg->ingress[1].origin.access_portal->host, "127.0.0.1");
  EXPECT_EQ(cfg->ingress[1].origin.access_portal->port, 9091);
  auto again = parseTunnelConfig(formatTunnelConfig(*cfg), "again.yml");
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_FALSE(again->ingress[0].origin.access_portal);
  ASSERT_TRUE(again->ingress[1].origin.access_portal);
  EXPECT_EQ(again->ingress[1].origin.access_portal->port, 9091);
}

TEST(TunnelConfig, MergeIsFieldByFieldChildWins) {
  OriginRequest parent;
  parent.connect_timeout = seconds(5);
  parent.no_tls_verify = true;
  parent.ca_pool = "/etc/ca.pem";
  OriginRequest child;
  child.no_tls_verify = false;  // an explicit false overrides an inherited true
  child.tls_timeout = seconds(2);
  OriginRequest m = merge(parent, child);
  EXPECT_EQ(m.connect_timeout, seconds(5));
  EXPECT_EQ(m.no_tls_verify, false);
  EXPECT_EQ(m.tls_timeout, seconds(2));
  EXPECT_EQ(m.ca_pool, "/etc/ca.pem");
  EXPECT_FALSE(m.keep_alive_timeout.has_value());
}

TEST(TunnelConfig, OriginRequestInheritance) {
  // originRequest after ingress still applies to every rule.
  auto cfg = parseTunnelConfig(
      "ingress:\n"
      "  - hostname: a.example.com\n"
      "    service: https://localhost:8443\n"
      "    originRequest:\n"
      "      connectTimeout: 1m30s\n"
      "      httpHostHeader: a.internal\n"
      "      keepAliveConnections: 7\n"
      "      noTLSVerify: false\n"
      "      disableChunkedEncoding: true\n"
      "  - service: http_status:404\n"
      "originRequest:\n"
      "  connectTimeout: 10s\n"
      "  noTLSVerify: true\n"
      "  httpHostHeader: top.internal\n"
      "  tlsTimeout: 5\n"
      "  tcpKeepAlive: 15s\n"
      "  keepAliveTimeout: 2m\n"
      "  caPool: /etc/ssl/origin.pem\n"
      "  originServerName: origin.lan\n",
      "t.yml");
  ASSERT_TRUE(cfg) << cfg.error().message();
  const OriginSettings& a = cfg->ingress[0].origin;
  EXPECT_EQ(a.connect_timeout, seconds(90));
  EXPECT_EQ(a.http_host_header, "a.internal");
  EXPECT_EQ(a.keep_alive_connections, 7);
  EXPECT_FALSE(a.no_tls_verify);
  EXPECT_TRUE(a.disable_chunked_encoding);
  EXPECT_EQ(a.tls_timeout, seconds(5));  // bare number = seconds
  EXPECT_EQ(a.tcp_keep_alive, seconds(15));
  EXPECT_EQ(a.keep_alive_timeout, seconds(120));
  EXPECT_EQ(a.ca_pool, "/etc/ssl/origin.pem");
  EXPECT_EQ(a.origin_server_name, "origin.lan");

  const OriginSettings& b = cfg->ingress[1].origin;
  EXPECT_EQ(b.connect_timeout, seconds(10));
  EXPECT_TRUE(b.no_tls_verify);
  EXPECT_EQ(b.http_host_header, "top.internal");
  EXPECT_EQ(b.keep_alive_connections, 100);  // cloudflared's default
  EXPECT_FALSE(b.disable_chunked_encoding);
}

TEST(TunnelConfig, OriginRequestBadValuesNameKeyAndLine) {
  expectError(errorOf("originRequest:\n"
                      "  connectTimeout: abc\n"
                      "ingress:\n"
                      "  - service: hello_world\n"),
              "t.yml:2: originRequest: connectTimeout: ", "duration 'abc'");
  expectError(errorOf("originRequest:\n"
                      "  tlsTimeout: 10 parsecs\n"
                      "ingress:\n"
                      "  - service: hello_world\n"),
              "t.yml:2: originRequest: tlsTimeout: ", "unknown unit");
  expectError(errorOf("ingress:\n"
                      "  - hostname: a.example.com\n"
                      "    service: http://localhost\n"
                      "  - service: http_status:404\n"
                      "    originRequest:\n"
                      "      noTLSVerify: maybe\n"),
              "t.yml:6: ingress rule #2: originRequest: noTLSVerify: ",
              "expected true or false, got 'maybe'");
  expectError(errorOf("originRequest:\n"
                      "  keepAliveConnections: many\n"
                      "ingress:\n"
                      "  - service: hello_world\n"),
              "t.yml:2: originRequest: keepAliveConnections: ", "expected a whole number");
  expectError(errorOf("originRequest:\n"
                      "  keepAliveConnections: -1\n"
                      "ingress:\n"
                      "  - service: hello_world\n"),
              "t.yml:2: originRequest: keepAliveConnections: ", "expected a whole number");
  expectError(errorOf("originRequest:\n"
                      "  httpHostHeader: {a: b}\n"
                      "ingress:\n"
                      "  - service: hello_world\n"),
              "t.yml:2: originRequest: httpHostHeader: ", "expected a string, got a mapping");
  expectError(errorOf("tunnel: x\n"
                      "originRequest: 30s\n"
                      "ingress:\n"
                      "  - service: hello_world\n"),
              "t.yml:2: ", "originRequest: expected a mapping of settings, got a scalar");
}

TEST(TunnelConfig, UnknownKeysWarnNeverFail) {
  auto cfg = parseTunnelConfig(
      "ingres: []\n"
      "ingress:\n"
      "  - hostname: a.example.com\n"
      "    service: http://localhost\n"
      "    comment: photos\n"
      "    originRequest:\n"
      "      proxyType: socks\n"
      "  - service: http_status:404\n",
      "t.yml");
  ASSERT_TRUE(cfg) << cfg.error().message();
  const std::vector<std::string> want = {
      "t.yml:1: unknown key 'ingres' ignored; did you mean 'ingress'?",
      "t.yml:5: ingress rule #1: unknown key 'comment' ignored",
      "t.yml:7: ingress rule #1: originRequest: ignoring key 'proxyType' (not used by burrow)",
  };
  EXPECT_EQ(cfg->warnings, want);
}

TEST(TunnelConfig, StructureErrors) {
  expectError(errorOf("- a\n- b\n"), "t.yml:1: ", "the config must be a mapping");
  expectError(errorOf("ingress: photos\n"), "t.yml:1: ", "ingress: expected a list of rules");
  expectError(errorOf("ingress:\n"
                      "  - http://localhost\n"),
              "t.yml:2: ingress rule #1: ", "expected a mapping with service:");
  expectError(errorOf("tunnel: a\n"
                      "ingress:\n"
                      "  - service: hello_world\n"
                      "tunnel: b\n"),
              "t.yml:4: ", "key 'tunnel' appears twice");
  expectError(errorOf("ingress:\n"
                      "  - service: hello_world\n"
                      "    service: http_status:404\n"),
              "t.yml:3: ingress rule #1: ", "key 'service' appears twice");
  expectError(errorOf("? [a, b]\n"
                      ": c\n"
                      "ingress:\n"
                      "  - service: hello_world\n"),
              "t.yml:1: ", "keys must be plain names");
}

TEST(TunnelConfig, YamlSyntaxErrorsCarryTheLine) {
  expectError(errorOf("tunnel: x\n"
                      "ingress:\n"
                      "  - service: [unclosed\n"
                      "  - service: http_status:404\n"),
              "t.yml:", "invalid YAML");
  std::string msg = errorOf(
      "tunnel: x\n"
      "ingress:\n"
      "  - service: hello_world\n"
      "\tbad: tab\n");
  expectError(msg, "t.yml:4: ", "invalid YAML");
  expectError(errorOf("a: *undefined\n"), "t.yml:1: ", "invalid YAML");
}

TEST(SingleService, UrlIsOneCatchAllRule) {
  auto cfg = singleServiceConfig("http://localhost:8080");
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->source, "--url");
  ASSERT_EQ(cfg->ingress.size(), 1u);
  EXPECT_EQ(cfg->ingress[0].hostname, "");
  EXPECT_EQ(cfg->ingress[0].path_re, nullptr);
  EXPECT_EQ(cfg->ingress[0].service.host, "localhost");
  EXPECT_EQ(cfg->ingress[0].service.port, 8080);
  EXPECT_EQ(cfg->ingress[0].origin.connect_timeout, seconds(30));
  EXPECT_EQ(matchIngress(*cfg, "anything.example", "/x"), 0u);
  auto out = describeMatch(*cfg, "https://anything.example/x");
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "Matched rule #1\n\tservice: http://localhost:8080\n");

  // cloudflared reads `--url localhost:8080` as http://localhost:8080.
  cfg = singleServiceConfig("localhost:8080");
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->ingress[0].service.kind, ServiceKind::Http);
  EXPECT_EQ(cfg->ingress[0].service.port, 8080);

  cfg = singleServiceConfig("unix:/run/app.sock");
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->ingress[0].service.kind, ServiceKind::Unix);
}

TEST(SingleService, UrlIsValidatedLikeAService) {
  auto cfg = singleServiceConfig("http://localhost:8080/app");
  ASSERT_FALSE(cfg);
  expectError(cfg.error().message(), "--url: ", "ingress rules cannot proxy to a path");
  cfg = singleServiceConfig("tcp://localhost:22");  // as cloudflared's --url ssh://...
  ASSERT_TRUE(cfg);
  EXPECT_EQ(cfg->ingress[0].service.kind, ServiceKind::Tcp);
  cfg = singleServiceConfig("");
  ASSERT_FALSE(cfg);
  expectError(cfg.error().message(), "--url: ", "service is empty");
}

// The connector of a stack is given its routes as config.yml text: it must parse back to the
// same rules, with every originRequest field kept.
TEST(TunnelConfig, FormattedConfigParsesBackToTheSameRules) {
  auto cfg = parseTunnelConfig(R"(
originRequest: { connectTimeout: 7s, httpHostHeader: 'a "quoted" \ host' }
ingress:
  - hostname: "*.example.net"
    path: ^/api/.*
    service: https://[::1]:8443
    originRequest: { noTLSVerify: true, caPool: /etc/ca.pem, keepAliveConnections: 3 }
  - hostname: x.example.net
    service: unix:/run/x.sock
  - service: http_status:404
)",
                               "t.yml");
  ASSERT_TRUE(cfg) << cfg.error().message();
  auto back = parseTunnelConfig(formatTunnelConfig(*cfg), "formatted.yml");
  ASSERT_TRUE(back) << back.error().message() << "\n" << formatTunnelConfig(*cfg);
  ASSERT_EQ(back->ingress.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const auto &a = cfg->ingress[i], &b = back->ingress[i];
    EXPECT_EQ(a.hostname, b.hostname);
    EXPECT_EQ(a.path, b.path);
    EXPECT_EQ(a.service.kind, b.service.kind);
    EXPECT_EQ(a.service.host, b.service.host);
    EXPECT_EQ(a.service.port, b.service.port);
    EXPECT_EQ(a.service.unix_path, b.service.unix_path);
    EXPECT_EQ(a.service.status, b.service.status);
    EXPECT_EQ(a.origin.connect_timeout, b.origin.connect_timeout);
    EXPECT_EQ(a.origin.http_host_header, b.origin.http_host_header);
    EXPECT_EQ(a.origin.no_tls_verify, b.origin.no_tls_verify);
    EXPECT_EQ(a.origin.ca_pool, b.origin.ca_pool);
    EXPECT_EQ(a.origin.keep_alive_connections, b.origin.keep_alive_connections);
    EXPECT_EQ(a.origin.response_timeout, b.origin.response_timeout);
  }
  EXPECT_EQ(back->ingress[0].origin.connect_timeout, seconds(7));
  EXPECT_EQ(back->ingress[0].origin.http_host_header, "a \"quoted\" \\ host");
}

TEST(TunnelConfig, FormattedStackRouteCarriesTheAddressItWasGiven) {
  auto stack = parseStack(R"(
services:
  photos: { exec: [/bin/true] }
routes:
  - hostname: photos.example.net
    service: http://[photos]:2342
  - service: http_status:404
)",
                          "/tmp/burrow.yaml");
  ASSERT_TRUE(stack) << stack.error().message();
  TunnelConfig cfg;
  cfg.ingress = stack->routes;
  cfg.ingress[0].service.host = "10.77.0.2";
  auto back = parseTunnelConfig(formatTunnelConfig(cfg), "formatted.yml");
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->ingress[0].service.host, "10.77.0.2");
  EXPECT_EQ(back->ingress[0].service.port, 2342);
  EXPECT_EQ(back->ingress[0].hostname, "photos.example.net");
}

}  // namespace

TEST(TunnelConfig, MisspeltKeysGetTheNearestKnownKey) {
  auto cfg = parseTunnelConfig(
      "ha-conections: 2\n"
      "originRequest:\n"
      "  connectTimout: 5s\n"
      "ingress:\n"
      "  - hostname: a.example.com\n"
      "    pathh: ^/api\n"
      "    service: http://localhost\n"
      "  - service: http_status:404\n",
      "t.yml");
  ASSERT_TRUE(cfg) << cfg.error().message();
  const std::vector<std::string> want = {
      "t.yml:1: unknown key 'ha-conections' ignored; did you mean 'ha-connections'?",
      "t.yml:3: originRequest: unknown key 'connectTimout' ignored; did you mean "
      "'connectTimeout'?",
      "t.yml:6: ingress rule #1: unknown key 'pathh' ignored; did you mean 'path'?",
  };
  EXPECT_EQ(cfg->warnings, want);
  EXPECT_EQ(nearestKey("zzz", {"ingress", "url"}), "");
  EXPECT_EQ(nearestKey("URL", {"ingress", "url"}), "url");
}

TEST(TunnelConfig, LogLevel) {
  auto cfg =
      parseTunnelConfig("loglevel: debug\ningress:\n  - service: http_status:404\n", "t.yml");
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->loglevel, "debug");
  EXPECT_TRUE(cfg->warnings.empty());
  cfg = parseTunnelConfig("loglevel: fatal\ningress:\n  - service: http_status:404\n", "t.yml");
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->loglevel, "error");
  expectError(errorOf("loglevel: loud\ningress:\n  - service: http_status:404\n"),
              "t.yml:1: ", "loglevel: 'loud' is not one of debug, info, warn, error, fatal, off");
}

TEST(TunnelConfig, MetricsMustBeLoopback) {
  for (const char* ok : {"localhost:2000", "127.0.0.1:0", "127.1.2.3:2000", "[::1]:2000"})
    EXPECT_TRUE(checkMetricsAddress(ok)) << ok;
  for (const char* bad :
       {"0.0.0.0:2000", ":2000", "[::]:2000", "192.168.1.1:2000", "example.com:2000"})
    EXPECT_FALSE(checkMetricsAddress(bad)) << bad;
  expectError(
      errorOf("metrics: 0.0.0.0:2000\ningress:\n  - service: http_status:404\n"),
      "t.yml:1: ", "metrics: '0.0.0.0:2000': the metrics listener binds loopback addresses only");
  EXPECT_FALSE(checkMetricsAddress("localhost"));
  EXPECT_FALSE(checkMetricsAddress("localhost:99999"));
}

}  // namespace config
