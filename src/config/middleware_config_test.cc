// Traefik middlewares in config.yml and burrow.yaml: declaration, reference, errors.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.h"

namespace config {
namespace {

// Made with `htpasswd -nbB -C 5 alice s3cret`, `htpasswd -nbm bob hunter2`,
// `htpasswd -nbs carol 'pa:ss'`.
constexpr char kAlice[] = "alice:$2y$05$daX4XB6kuIX1sLM0s24AtupO57WBqatNZUWGSA1J0JlmeIYZqTUGm";
constexpr char kBob[] = "bob:$apr1$a1KVgoGQ$lqPTSCdL7zc3/N6P/7RtL0";
constexpr char kCarol[] = "carol:{SHA}XyRLaTIb/WCdo8CuWc58gPVHl68=";

std::string withRoute(const std::string& middlewares, const std::string& names = "[m]") {
  return "middlewares:\n" + middlewares +
         "ingress:\n"
         "  - hostname: a.example\n"
         "    service: http://localhost:8080\n"
         "    middlewares: " +
         names +
         "\n"
         "  - service: http_status:404\n";
}

base::Result<TunnelConfig> parse(const std::string& yaml) {
  return parseTunnelConfig(yaml, "c.yml");
}

std::string errorOf(const std::string& yaml) {
  auto cfg = parse(yaml);
  EXPECT_FALSE(cfg.has_value()) << yaml;
  return cfg ? "" : cfg.error().message();
}

const Middleware& only(const TunnelConfig& cfg) {
  EXPECT_EQ(cfg.middlewares.size(), 1u);
  return *cfg.middlewares.at(0);
}

TEST(Middlewares, HeadersEveryOption) {
  auto cfg =
      parse(withRoute("  m:\n"
                      "    headers:\n"
                      "      customRequestHeaders: {X-Script-Name: test, X-Drop: ''}\n"
                      "      customResponseHeaders: {X-Custom: yes, Server: ''}\n"
                      "      stsSeconds: 31536000\n"
                      "      stsIncludeSubdomains: true\n"
                      "      stsPreload: true\n"
                      "      forceSTSHeader: true\n"
                      "      frameDeny: true\n"
                      "      customFrameOptionsValue: SAMEORIGIN\n"
                      "      contentTypeNosniff: true\n"
                      "      browserXssFilter: true\n"
                      "      contentSecurityPolicy: default-src 'self'\n"
                      "      referrerPolicy: no-referrer\n"
                      "      permissionsPolicy: camera=()\n"));
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message();
  const auto& h = only(*cfg).headers;
  EXPECT_EQ(only(*cfg).kind, MiddlewareKind::Headers);
  ASSERT_EQ(h.request.size(), 2u);
  EXPECT_EQ(h.request[0].name, "x-drop");
  EXPECT_EQ(h.request[0].value, "");
  EXPECT_EQ(h.request[1].name, "x-script-name");
  EXPECT_EQ(h.request[1].value, "test");
  ASSERT_EQ(h.response.size(), 2u);
  EXPECT_EQ(h.response[0].name, "server");
  EXPECT_EQ(h.response[1].value, "yes");
  EXPECT_EQ(h.sts_seconds, 31536000);
  EXPECT_TRUE(h.sts_include_subdomains && h.sts_preload && h.force_sts_header && h.frame_deny);
  EXPECT_TRUE(h.content_type_nosniff && h.browser_xss_filter);
  EXPECT_EQ(h.custom_frame_options_value, "SAMEORIGIN");
  EXPECT_EQ(h.content_security_policy, "default-src 'self'");
  EXPECT_EQ(h.referrer_policy, "no-referrer");
  EXPECT_EQ(h.permissions_policy, "camera=()");
  ASSERT_EQ(cfg->ingress[0].run.size(), 1u);
  EXPECT_EQ(cfg->ingress[0].middlewares, std::vector<std::string>{"m"});
}

TEST(Middlewares, PrefixesAndRedirects) {
  auto cfg = parse(
      "middlewares:\n"
      "  strip: {stripPrefix: {prefixes: [/api, /v1]}}\n"
      "  add: {addPrefix: {prefix: foo}}\n"
      "  tls: {redirectScheme: {scheme: https, port: 8443, permanent: true}}\n"
      "  re: {redirectRegex: {regex: '^http://a\\.example/(.*)', replacement: 'https://b/${1}'}}\n"
      "ingress:\n"
      "  - rule: Host(`a.example`)\n"
      "    service: http://localhost:8080\n"
      "    middlewares: [strip@file, add, tls, re]\n"
      "  - service: http_status:404\n");
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message();
  ASSERT_EQ(cfg->middlewares.size(), 4u);
  EXPECT_EQ(cfg->middlewares[0]->prefixes, (std::vector<std::string>{"/api", "/v1"}));
  EXPECT_EQ(cfg->middlewares[1]->prefix, "/foo");  // a leading slash added, as in Traefik
  EXPECT_EQ(cfg->middlewares[2]->redirect.scheme, "https");
  EXPECT_EQ(cfg->middlewares[2]->redirect.port, "8443");
  EXPECT_TRUE(cfg->middlewares[2]->redirect.permanent);
  EXPECT_EQ(cfg->middlewares[3]->redirect.replacement, "https://b/${1}");
  EXPECT_FALSE(cfg->middlewares[3]->redirect.permanent);
  ASSERT_NE(cfg->middlewares[3]->redirect.re, nullptr);
  EXPECT_EQ(cfg->ingress[0].middlewares, (std::vector<std::string>{"strip", "add", "tls", "re"}));
  EXPECT_EQ(cfg->ingress[0].run.size(), 4u);
}

TEST(Middlewares, IpAllowList) {
  auto cfg =
      parse(withRoute("  m: {ipAllowList: {sourceRange: [127.0.0.1, 10.0.0.0/8, 'fd00::/8'], "
                      "rejectStatusCode: 404}}\n"));
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message();
  const Middleware& m = only(*cfg);
  EXPECT_EQ(m.allow.reject_status, 404);
  EXPECT_TRUE(ipAllowed(m, "127.0.0.1"));
  EXPECT_TRUE(ipAllowed(m, "10.2.3.4"));
  EXPECT_TRUE(ipAllowed(m, "::ffff:10.2.3.4"));
  EXPECT_TRUE(ipAllowed(m, "fd00::1"));
  EXPECT_FALSE(ipAllowed(m, "127.0.0.2"));
  EXPECT_FALSE(ipAllowed(m, "192.168.1.1"));
  EXPECT_FALSE(ipAllowed(m, ""));
  EXPECT_FALSE(ipAllowed(m, "not an address"));
  EXPECT_NE(errorOf(withRoute("  m: {ipAllowList: {sourceRange: [10.0.0.0/33]}}\n"))
                .find("c.yml:2: middlewares.m.ipAllowList.sourceRange: '10.0.0.0/33' is not an "
                      "IP address or a CIDR"),
            std::string::npos);
  EXPECT_NE(errorOf(withRoute("  m: {ipAllowList: {sourceRange: []}}\n")).find("refuse every"),
            std::string::npos);
}

TEST(Middlewares, BasicAuthUsersAndFile) {
  const auto dir = std::filesystem::path(testing::TempDir()) / "mw_basic";
  std::filesystem::create_directories(dir);
  {
    std::ofstream f(dir / "users");
    f << "# users\n\n" << kBob << "\n" << kCarol << "\r\n";
  }
  std::string yaml = withRoute(std::string("  m:\n    basicAuth:\n      users: ['") + kAlice +
                               "', 'bob:{SHA}XyRLaTIb/WCdo8CuWc58gPVHl68=']\n"
                               "      usersFile: users\n"
                               "      realm: home\n"
                               "      removeHeader: true\n"
                               "      headerField: X-WebAuth-User\n");
  auto cfg = parseTunnelConfig(yaml, (dir / "config.yml").string());
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message();
  const auto& b = only(*cfg).basic;
  ASSERT_EQ(b.users.size(), 3u);
  EXPECT_EQ(b.users[0].name, "alice");
  EXPECT_EQ(b.users[0].kind, HashKind::Bcrypt);
  EXPECT_EQ(b.users[1].name, "bob");  // the file's bob replaces the list's
  EXPECT_EQ(b.users[1].kind, HashKind::Apr1);
  EXPECT_EQ(b.users[2].kind, HashKind::Sha1);
  EXPECT_EQ(b.realm, "home");
  EXPECT_TRUE(b.remove_header);
  EXPECT_EQ(b.header_field, "x-webauth-user");

  auto defaults = parse(withRoute(std::string("  m: {basicAuth: {users: ['") + kAlice + "']}}\n"));
  ASSERT_TRUE(defaults.has_value()) << defaults.error().message();
  EXPECT_EQ(only(*defaults).basic.realm, "traefik");
  EXPECT_FALSE(only(*defaults).basic.remove_header);
}

TEST(Middlewares, BasicAuthErrors) {
  EXPECT_NE(errorOf(withRoute("  m: {basicAuth: {users: ['eve:plaintext']}}\n"))
                .find("c.yml:2: middlewares.m.basicAuth.users:1: user 'eve': the hash is not one "
                      "burrow checks"),
            std::string::npos);
  EXPECT_NE(errorOf(withRoute("  m: {basicAuth: {users: ['nocolon']}}\n")).find("user:hash"),
            std::string::npos);
  EXPECT_NE(errorOf(withRoute("  m: {basicAuth: {realm: x}}\n")).find("at least one user"),
            std::string::npos);
  EXPECT_NE(errorOf(withRoute("  m: {basicAuth: {usersFile: /nonexistent/users}}\n"))
                .find("c.yml:2: middlewares.m.basicAuth.usersFile: "),
            std::string::npos);
  EXPECT_NE(errorOf(withRoute("  m: {basicAuth: {users: ['bob:$apr1$x$short']}}\n"))
                .find("the hash is not one"),
            std::string::npos);
}

TEST(Htpasswd, ParsesEachKind) {
  auto users = parseHtpasswd(std::string(kAlice) + "\n" + kBob + "\n#x\n" + kCarol, "f");
  ASSERT_TRUE(users.has_value()) << users.error().message();
  ASSERT_EQ(users->size(), 3u);
  EXPECT_EQ((*users)[2].name, "carol");
  EXPECT_EQ((*users)[2].hash, "{SHA}XyRLaTIb/WCdo8CuWc58gPVHl68=");
  auto twice = parseHtpasswd(std::string(kAlice) + "\n" + kAlice, "f");
  ASSERT_FALSE(twice.has_value());
  EXPECT_EQ(twice.error().message(), "f:2: user 'alice' appears twice");
  EXPECT_FALSE(parseHtpasswd("carol:{SHA}notbase64!", "f").has_value());
  EXPECT_FALSE(parseHtpasswd(":{SHA}XyRLaTIb/WCdo8CuWc58gPVHl68=", "f").has_value());
}

TEST(Middlewares, ChainExpandsInOrder) {
  auto cfg = parse(
      "middlewares:\n"
      "  a: {addPrefix: {prefix: /a}}\n"
      "  b: {addPrefix: {prefix: /b}}\n"
      "  inner: {chain: {middlewares: [b, a]}}\n"
      "  outer: {chain: {middlewares: [a, inner]}}\n"
      "ingress:\n"
      "  - service: http://localhost:1\n"
      "    hostname: x\n"
      "    middlewares: [outer, b]\n"
      "  - service: http_status:404\n");
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message();
  std::vector<std::string> run;
  for (const auto& m : cfg->ingress[0].run) run.push_back(m->name);
  EXPECT_EQ(run, (std::vector<std::string>{"a", "b", "a", "b"}));
  EXPECT_EQ(cfg->ingress[0].middlewares, (std::vector<std::string>{"outer", "b"}));
}

TEST(Middlewares, ChainErrors) {
  EXPECT_NE(errorOf(withRoute("  m: {chain: {middlewares: [n]}}\n"
                              "  n: {chain: {middlewares: [m]}}\n"))
                .find("cycle: m -> n -> m"),
            std::string::npos);
  EXPECT_NE(errorOf(withRoute("  m: {chain: {middlewares: [hedaers]}}\n"
                              "  headers: {headers: {frameDeny: true}}\n"))
                .find("no middleware 'hedaers'; did you mean 'headers'?"),
            std::string::npos);
}

TEST(Middlewares, RateLimit) {
  auto cfg = parse(withRoute("  m: {rateLimit: {average: 100, period: 1m, burst: 50}}\n"));
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message();
  EXPECT_EQ(only(*cfg).rate.average, 100);
  EXPECT_EQ(only(*cfg).rate.period, Millis(60'000));
  EXPECT_EQ(only(*cfg).rate.burst, 50);
  auto defaults = parse(withRoute("  m: {rateLimit: {average: 5}}\n"));
  ASSERT_TRUE(defaults.has_value());
  EXPECT_EQ(only(*defaults).rate.period, Millis(1000));
  EXPECT_EQ(only(*defaults).rate.burst, 1);
  auto seconds = parse(withRoute("  m: {rateLimit: {average: 5, period: 10}}\n"));
  ASSERT_TRUE(seconds.has_value());
  EXPECT_EQ(only(*seconds).rate.period, Millis(10'000));
  EXPECT_NE(errorOf(withRoute("  m: {rateLimit: {average: 5, period: soon}}\n"))
                .find("expected a duration"),
            std::string::npos);
  EXPECT_NE(errorOf(withRoute("  m: {rateLimit: {average: -1}}\n")).find("whole number"),
            std::string::npos);
  EXPECT_NE(errorOf(withRoute("  m: {rateLimit: {average: 1, burst: 0}}\n")).find("whole number"),
            std::string::npos);
}

TEST(Middlewares, ReferenceErrors) {
  EXPECT_EQ(errorOf(withRoute("  sec: {headers: {frameDeny: true}}\n", "[sek]")),
            "c.yml:6: ingress rule #1: middlewares: no middleware 'sek' under middlewares:; did "
            "you mean 'sec'?");
  EXPECT_NE(errorOf(withRoute("  sec: {headers: {frameDeny: true}}\n", "[sec@docker]"))
                .find("from this file only"),
            std::string::npos);
  EXPECT_NE(errorOf("ingress:\n  - service: http://localhost:1\n    hostname: x\n"
                    "    middlewares: [a]\n  - service: http_status:404\n")
                .find("the file declares none"),
            std::string::npos);
}

TEST(Middlewares, TypeAndOptionErrors) {
  EXPECT_EQ(errorOf(withRoute("  m: {hedaers: {frameDeny: true}}\n")),
            "c.yml:2: middlewares.m.hedaers: unknown middleware type 'hedaers'; did you mean "
            "'headers'?");
  EXPECT_NE(
      errorOf(withRoute("  m: {digestAuth: {users: [a]}}\n")).find("digestAuth is not there yet"),
      std::string::npos);
  EXPECT_NE(errorOf(withRoute("  m: {ipWhiteList: {sourceRange: [10.0.0.0/8]}}\n"))
                .find("write ipAllowList"),
            std::string::npos);
  EXPECT_NE(errorOf(withRoute("  m: {headers: {frameDeny: true}, addPrefix: {prefix: /a}}\n"))
                .find("one middleware type"),
            std::string::npos);
  EXPECT_EQ(errorOf(withRoute("  m: {headers: {frameDney: true}}\n")),
            "c.yml:2: middlewares.m.headers.frameDney: unknown option 'frameDney' of headers; "
            "did you mean 'frameDeny'?");
  EXPECT_NE(errorOf(withRoute("  m: {headers: {frameDeny: maybe}}\n")).find("true or false"),
            std::string::npos);
  EXPECT_NE(errorOf(withRoute("  m: {headers: {customRequestHeaders: {'a b': x}}}\n"))
                .find("not a header name"),
            std::string::npos);
  EXPECT_NE(errorOf(withRoute("  m: {redirectScheme: {scheme: ftp}}\n")).find("http or https"),
            std::string::npos);
  EXPECT_NE(errorOf(withRoute("  m: {redirectScheme: {permanent: true}}\n")).find("needs 'scheme'"),
            std::string::npos);
  EXPECT_NE(errorOf(withRoute("  m: {redirectScheme: {scheme: https, port: 70000}}\n"))
                .find("from 1 to 65535"),
            std::string::npos);
  EXPECT_NE(errorOf(withRoute("  m: {redirectRegex: {regex: '(', replacement: x}}\n"))
                .find("invalid regular expression"),
            std::string::npos);
  EXPECT_NE(errorOf(withRoute("  m: {redirectRegex: {regex: a}}\n")).find("needs 'replacement'"),
            std::string::npos);
  EXPECT_NE(errorOf(withRoute("  m: {stripPrefix: {}}\n")).find("needs 'prefixes'"),
            std::string::npos);
  EXPECT_NE(errorOf(withRoute("  m: {addPrefix: {prefix: '/a?b'}}\n")).find("must be a path"),
            std::string::npos);
}

// Options that protect something are errors when burrow does not enforce them; the others
// are one warning each.
TEST(Middlewares, UnenforcedProtectionIsAnError) {
  for (const char* m : {"  m: {headers: {allowedHosts: [a.example]}}\n",
                        "  m: {ipAllowList: {sourceRange: [10.0.0.0/8], ipStrategy: {depth: 1}}}\n",
                        "  m: {rateLimit: {average: 1, sourceCriterion: {requestHost: true}}}\n"}) {
    EXPECT_NE(errorOf(withRoute(m)).find("burrow does not enforce"), std::string::npos) << m;
  }
  auto cfg = parse(withRoute("  m: {headers: {frameDeny: true, addVaryHeader: true}}\n"));
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message();
  ASSERT_EQ(cfg->warnings.size(), 1u);
  EXPECT_EQ(cfg->warnings[0],
            "c.yml:2: middlewares.m.headers.addVaryHeader: ignoring option 'addVaryHeader' (not "
            "implemented by burrow)");
}

TEST(Middlewares, FormatRoundTrips) {
  std::string yaml =
      "middlewares:\n"
      "  h:\n"
      "    headers:\n"
      "      customRequestHeaders: {X-A: '1', X-B: ''}\n"
      "      customResponseHeaders: {X-C: \"q\\\"uote\"}\n"
      "      stsSeconds: 60\n"
      "      frameDeny: true\n"
      "      referrerPolicy: no-referrer\n"
      "  s: {stripPrefix: {prefixes: [/api]}}\n"
      "  p: {addPrefix: {prefix: /x}}\n"
      "  r: {redirectScheme: {scheme: https, port: 8443, permanent: true}}\n"
      "  x: {redirectRegex: {regex: '^(.*)$', replacement: '$1/', permanent: false}}\n"
      "  i: {ipAllowList: {sourceRange: [127.0.0.1/32]}}\n"
      "  b: {basicAuth: {users: ['" +
      std::string(kAlice) +
      "'], realm: r, removeHeader: true, headerField: X-U}}\n"
      "  c: {chain: {middlewares: [s, p]}}\n"
      "  l: {rateLimit: {average: 3, period: 2s, burst: 4}}\n"
      "ingress:\n"
      "  - rule: Host(`a`)\n"
      "    service: http://localhost:1\n"
      "    middlewares: [h, c, r, x, i, b, l]\n"
      "  - service: http_status:404\n";
  auto cfg = parse(yaml);
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message();
  std::string text = formatTunnelConfig(*cfg);
  auto again = parseTunnelConfig(text, "written");
  ASSERT_TRUE(again.has_value()) << again.error().message() << "\n" << text;
  EXPECT_EQ(formatTunnelConfig(*again), text);
  ASSERT_EQ(again->middlewares.size(), cfg->middlewares.size());
  EXPECT_EQ(again->ingress[0].middlewares, cfg->ingress[0].middlewares);
  EXPECT_EQ(again->ingress[0].run.size(), 8u);
  EXPECT_EQ(again->middlewares[0]->headers.response[0].value, "q\"uote");
  EXPECT_EQ(again->middlewares.at(8)->rate.period, Millis(2000));
}

TEST(Middlewares, StackDeclaresAndRoutesName) {
  auto st = parseStack(
      "middlewares:\n"
      "  sec: {headers: {frameDeny: true}}\n"
      "routes:\n"
      "  - hostname: a.example\n"
      "    service: http://localhost:1\n"
      "    middlewares: [sec@file]\n"
      "  - service: http_status:404\n",
      "burrow.yaml");
  ASSERT_TRUE(st.has_value()) << st.error().message();
  ASSERT_EQ(st->middlewares.size(), 1u);
  EXPECT_EQ(st->routes[0].middlewares, std::vector<std::string>{"sec"});
  auto bad = parseStack(
      "middlewares:\n"
      "  sec: {headers: {frameDeny: true}}\n"
      "routes:\n"
      "  - hostname: a.example\n"
      "    service: http://localhost:1\n"
      "    middlewares: [sex]\n"
      "  - service: http_status:404\n",
      "burrow.yaml");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message(),
            "burrow.yaml:6: route #1: middlewares: no middleware 'sex' under middlewares:; did "
            "you mean 'sec'?");
}

TEST(Middlewares, DescribeMatchShowsWhatRuns) {
  auto cfg = parse(
      "middlewares:\n"
      "  a: {addPrefix: {prefix: /a}}\n"
      "  sec: {headers: {frameDeny: true}}\n"
      "  both: {chain: {middlewares: [sec, a]}}\n"
      "ingress:\n"
      "  - hostname: x.example\n"
      "    service: http://localhost:1\n"
      "    middlewares: [both]\n"
      "  - service: http_status:404\n");
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message();
  auto out = describeMatch(*cfg, "https://x.example/");
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out,
            "Matched rule #1\n\thostname: x.example\n\tmiddlewares: both\n\truns: sec (headers), "
            "a (addPrefix)\n\tservice: http://localhost:1\n");
  auto none = describeMatch(*cfg, "https://y.example/");
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->find("middlewares"), std::string::npos);
}

}  // namespace
}  // namespace config

namespace config {
namespace {

TEST(Middlewares, ForwardAuthEveryOption) {
  auto cfg =
      parse(withRoute("  m:\n"
                      "    forwardAuth:\n"
                      "      address: https://auth.example:9443/api/authz/forward-auth?x=1\n"
                      "      trustForwardHeader: true\n"
                      "      authResponseHeaders: [Remote-User, Remote-Groups]\n"
                      "      authResponseHeadersRegex: ^X-Auth-\n"
                      "      authRequestHeaders: [Cookie, Accept]\n"
                      "      preserveLocationHeader: true\n"
                      "      maxResponseBodySize: 4096\n"
                      "      forwardBody: false\n"
                      "      maxBodySize: -1\n"
                      "      tls: {insecureSkipVerify: true}\n"));
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message();
  const Middleware& m = only(*cfg);
  EXPECT_EQ(m.kind, MiddlewareKind::ForwardAuth);
  const auto& f = m.forward;
  EXPECT_EQ(f.service.kind, ServiceKind::Https);
  EXPECT_EQ(f.service.host, "auth.example");
  EXPECT_EQ(f.service.port, 9443);
  EXPECT_EQ(f.authority, "auth.example:9443");
  EXPECT_EQ(f.target, "/api/authz/forward-auth?x=1");
  EXPECT_TRUE(f.trust_forward_header);
  EXPECT_EQ(f.response_headers, (std::vector<std::string>{"remote-user", "remote-groups"}));
  ASSERT_NE(f.response_re, nullptr);
  EXPECT_EQ(f.request_headers, (std::vector<std::string>{"cookie", "accept"}));
  EXPECT_TRUE(f.preserve_location);
  EXPECT_EQ(f.max_response_body, 4096);
  EXPECT_TRUE(f.origin.no_tls_verify);
  EXPECT_EQ(f.origin.response_timeout, kForwardAuthTimeout);
  EXPECT_EQ(f.origin.connect_timeout, kForwardAuthTimeout);
  // Formatted and parsed again, it is the same middleware.
  auto again = parseTunnelConfig(formatTunnelConfig(*cfg), "again.yml");
  ASSERT_TRUE(again.has_value()) << again.error().message() << formatTunnelConfig(*cfg);
  const auto& g = only(*again).forward;
  EXPECT_EQ(g.address, f.address);
  EXPECT_EQ(g.response_headers, f.response_headers);
  EXPECT_EQ(g.response_headers_regex, f.response_headers_regex);
  EXPECT_EQ(g.request_headers, f.request_headers);
  EXPECT_EQ(g.trust_forward_header, f.trust_forward_header);
  EXPECT_EQ(g.preserve_location, f.preserve_location);
  EXPECT_EQ(g.max_response_body, f.max_response_body);
  EXPECT_TRUE(g.origin.no_tls_verify);
}

TEST(Middlewares, ForwardAuthDefaults) {
  auto cfg = parse(withRoute("  m: {forwardAuth: {address: 'http://127.0.0.1:9091'}}\n"));
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message();
  const auto& f = only(*cfg).forward;
  EXPECT_EQ(f.service.kind, ServiceKind::Http);
  EXPECT_EQ(f.service.port, 9091);
  EXPECT_EQ(f.target, "/");
  EXPECT_FALSE(f.trust_forward_header);
  EXPECT_FALSE(f.preserve_location);
  EXPECT_EQ(f.max_response_body, kForwardAuthMaxBody);
  EXPECT_TRUE(f.request_headers.empty());
  auto q = parse(withRoute("  m: {forwardAuth: {address: 'http://a?x=1'}}\n"));
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(only(*q).forward.target, "/?x=1");
  EXPECT_EQ(only(*q).forward.service.port, 80);
}

TEST(Middlewares, ForwardAuthRefusals) {
  auto err = [](const std::string& opts) {
    return errorOf(withRoute("  m:\n    forwardAuth:\n" + opts));
  };
  EXPECT_EQ(err("      trustForwardHeader: true\n"),
            "c.yml:3: middlewares.m.forwardAuth: forwardAuth needs 'address'");
  EXPECT_NE(err("      address: ftp://a/x\n").find("must be an http:// or https:// URL"),
            std::string::npos);
  EXPECT_NE(err("      address: a.example/auth\n").find("must be an http:// or https:// URL"),
            std::string::npos);
  EXPECT_NE(err("      address: http://a/x#frag\n").find("without a fragment"), std::string::npos);
  EXPECT_NE(err("      address: http:///x\n").find("c.yml:4:"), std::string::npos);
  EXPECT_NE(err("      address: http://a\n      forwardBody: true\n")
                .find("c.yml:5: middlewares.m.forwardAuth.forwardBody: burrow does not send the "
                      "request body"),
            std::string::npos);
  EXPECT_NE(err("      address: http://a\n      addAuthCookiesToResponse: [s]\n")
                .find("c.yml:5: middlewares.m.forwardAuth.addAuthCookiesToResponse: burrow does "
                      "not enforce addAuthCookiesToResponse yet"),
            std::string::npos);
  EXPECT_NE(err("      address: http://a\n      headerField: X-User\n")
                .find("c.yml:5: middlewares.m.forwardAuth.headerField: burrow does not enforce"),
            std::string::npos);
  EXPECT_NE(err("      address: https://a\n      tls: {cert: c.pem, key: k.pem}\n")
                .find("client certificate"),
            std::string::npos);
  EXPECT_NE(
      err("      address: https://a\n      tls: {ca: /nonexistent/ca.pem}\n").find("no such file"),
      std::string::npos);
  EXPECT_NE(err("      address: https://a\n      tls: {verify: true}\n").find("unknown option"),
            std::string::npos);
  EXPECT_NE(err("      address: http://a\n      tls: {insecureSkipVerify: true}\n")
                .find("https:// address only"),
            std::string::npos);
  EXPECT_NE(err("      address: http://a\n      authResponseHeadersRegex: '('\n")
                .find("invalid regular expression"),
            std::string::npos);
  EXPECT_NE(err("      address: http://a\n      authResponseHeaders: ['a b']\n")
                .find("not a header name"),
            std::string::npos);
  EXPECT_NE(err("      address: http://a\n      maxResponseBodySize: -2\n").find("from -1"),
            std::string::npos);
  EXPECT_NE(err("      address: http://a\n      adress: x\n").find("did you mean 'address'"),
            std::string::npos);
}

}  // namespace
}  // namespace config
