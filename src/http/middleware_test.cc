// Each middleware's logic over request and response heads, with and without its condition.
#include <gtest/gtest.h>

#include <string>

#include "base/base.h"
#include "config/config.h"
#include "http/http.h"

namespace http {
namespace {

// Made with `htpasswd -nbB -C 5 alice s3cret`, `htpasswd -nbm bob hunter2`,
// `htpasswd -nbs carol 'pa:ss'`.
constexpr char kAlice[] = "alice:$2y$05$daX4XB6kuIX1sLM0s24AtupO57WBqatNZUWGSA1J0JlmeIYZqTUGm";
constexpr char kBob[] = "bob:$apr1$a1KVgoGQ$lqPTSCdL7zc3/N6P/7RtL0";
constexpr char kCarol[] = "carol:{SHA}XyRLaTIb/WCdo8CuWc58gPVHl68=";

// The first rule of a config.yml with these middlewares, naming `names`.
config::TunnelConfig configWith(const std::string& middlewares, const std::string& names) {
  auto cfg = config::parseTunnelConfig("middlewares:\n" + middlewares +
                                           "ingress:\n"
                                           "  - hostname: a.example\n"
                                           "    service: http://localhost:8080\n"
                                           "    middlewares: " +
                                           names + "\n  - service: http_status:404\n",
                                       "t.yml");
  EXPECT_TRUE(cfg.has_value()) << cfg.error().message();
  return cfg ? std::move(*cfg) : config::TunnelConfig{};
}

RequestHead request(std::string target = "/path?q=1", std::string scheme = "https") {
  RequestHead req;
  req.method = "GET";
  req.target = std::move(target);
  req.scheme = std::move(scheme);
  req.authority = "a.example";
  req.client_ip = "192.0.2.7";
  return req;
}

std::string basic(std::string_view user_pass) { return "Basic " + base::base64Encode(user_pass); }

// `result` points into `cfg`, which it keeps.
struct Run {
  config::TunnelConfig cfg;
  MiddlewareResult result;
  RequestHead req;
};

Run run(const std::string& middlewares, RequestHead req, const std::string& names = "[m]") {
  Run r;
  r.cfg = configWith(middlewares, names);
  r.result = applyMiddlewares(r.cfg.ingress.at(0), req);
  r.req = std::move(req);
  return r;
}

const std::string* header(const std::vector<Header>& hs, std::string_view name) {
  for (const auto& h : hs)
    if (h.name == name) return &h.value;
  return nullptr;
}

TEST(MiddlewareHeaders, RequestHeadersSetAndRemoved) {
  RequestHead req = request();
  req.headers = {{"x-drop", "1"}, {"x-script-name", "old"}, {"accept", "*/*"}};
  auto r =
      run("  m: {headers: {customRequestHeaders: {X-Script-Name: test, X-Drop: '', "
          "X-New: v}}}\n",
          req);
  ASSERT_FALSE(r.result.answer);
  EXPECT_EQ(header(r.req.headers, "x-drop"), nullptr);
  ASSERT_NE(header(r.req.headers, "x-script-name"), nullptr);
  EXPECT_EQ(*header(r.req.headers, "x-script-name"), "test");
  EXPECT_EQ(*header(r.req.headers, "x-new"), "v");
  EXPECT_EQ(*header(r.req.headers, "accept"), "*/*");
}

TEST(MiddlewareHeaders, SecurityAndCustomResponseHeaders) {
  auto r =
      run("  m:\n    headers:\n"
          "      customResponseHeaders: {Server: '', X-Custom: yes}\n"
          "      stsSeconds: 63072000\n      stsIncludeSubdomains: true\n      stsPreload: true\n"
          "      frameDeny: true\n      contentTypeNosniff: true\n      browserXssFilter: true\n"
          "      contentSecurityPolicy: default-src 'self'\n      referrerPolicy: same-origin\n"
          "      permissionsPolicy: camera=()\n",
          request());
  ResponseHead head;
  head.headers = {{"server", "nginx"}, {"x-frame-options", "SAMEORIGIN"}};
  applyResponseHeaders(r.result, r.req, head);
  EXPECT_EQ(header(head.headers, "server"), nullptr);
  EXPECT_EQ(*header(head.headers, "x-custom"), "yes");
  EXPECT_EQ(*header(head.headers, "strict-transport-security"),
            "max-age=63072000; includeSubDomains; preload");
  EXPECT_EQ(*header(head.headers, "x-frame-options"), "DENY");
  EXPECT_EQ(*header(head.headers, "x-content-type-options"), "nosniff");
  EXPECT_EQ(*header(head.headers, "x-xss-protection"), "1; mode=block");
  EXPECT_EQ(*header(head.headers, "content-security-policy"), "default-src 'self'");
  EXPECT_EQ(*header(head.headers, "referrer-policy"), "same-origin");
  EXPECT_EQ(*header(head.headers, "permissions-policy"), "camera=()");
}

TEST(MiddlewareHeaders, StsOnlyOverHttpsUnlessForced) {
  const std::string plain = "  m: {headers: {stsSeconds: 60}}\n";
  auto http_req = run(plain, request("/", "http"));
  ResponseHead head;
  applyResponseHeaders(http_req.result, http_req.req, head);
  EXPECT_EQ(header(head.headers, "strict-transport-security"), nullptr);
  auto forced =
      run("  m: {headers: {stsSeconds: 60, forceSTSHeader: true}}\n", request("/", "http"));
  applyResponseHeaders(forced.result, forced.req, head);
  EXPECT_EQ(*header(head.headers, "strict-transport-security"), "max-age=60");
}

TEST(MiddlewareHeaders, CustomFrameOptionsAndOrder) {
  // The first middleware of the list has the last word on a header both set.
  auto r =
      run("  m: {headers: {customFrameOptionsValue: SAMEORIGIN, frameDeny: true}}\n"
          "  n: {headers: {customResponseHeaders: {X-Frame-Options: ALLOW, X-Who: n}}}\n"
          "  o: {headers: {customResponseHeaders: {X-Who: o}}}\n",
          request(), "[o, m, n]");
  ResponseHead head;
  applyResponseHeaders(r.result, r.req, head);
  EXPECT_EQ(*header(head.headers, "x-frame-options"), "SAMEORIGIN");
  EXPECT_EQ(*header(head.headers, "x-who"), "o");
}

TEST(MiddlewareStripPrefix, StripsTheFirstMatchingPrefix) {
  const std::string m = "  m: {stripPrefix: {prefixes: [/foo, /api]}}\n";
  auto r = run(m, request("/api/users?x=1"));
  EXPECT_EQ(r.req.target, "/users?x=1");
  EXPECT_EQ(*header(r.req.headers, "x-forwarded-prefix"), "/api");
  auto whole = run(m, request("/foo"));
  EXPECT_EQ(whole.req.target, "/");
  auto none = run(m, request("/bar/api"));
  EXPECT_EQ(none.req.target, "/bar/api");
  EXPECT_EQ(header(none.req.headers, "x-forwarded-prefix"), nullptr);
  // A prefix matches as text, as in Traefik: /foobar loses /foo.
  EXPECT_EQ(run(m, request("/foobar")).req.target, "/bar");
}

TEST(MiddlewareAddPrefix, PutsThePrefixFirst) {
  auto r = run("  m: {addPrefix: {prefix: /v2}}\n", request("/users?x=1"));
  EXPECT_EQ(r.req.target, "/v2/users?x=1");
  EXPECT_FALSE(r.result.answer);
}

TEST(MiddlewareRedirectScheme, RedirectsWithTraefiksStatuses) {
  const std::string perm = "  m: {redirectScheme: {scheme: https, permanent: true}}\n";
  const std::string temp = "  m: {redirectScheme: {scheme: https}}\n";
  RequestHead get = request("/p?q=1", "http");
  get.authority = "a.example:8080";
  auto r = run(perm, get);
  ASSERT_TRUE(r.result.answer);
  EXPECT_EQ(r.result.answer->status, 301);
  EXPECT_EQ(*header(r.result.answer->headers, "location"), "https://a.example/p?q=1");
  RequestHead post = get;
  post.method = "POST";
  EXPECT_EQ(run(perm, post).result.answer->status, 308);
  EXPECT_EQ(run(temp, get).result.answer->status, 302);
  EXPECT_EQ(run(temp, post).result.answer->status, 307);
  // Already there: the request goes on.
  EXPECT_FALSE(run(perm, request("/p", "https")).result.answer);
}

TEST(MiddlewareRedirectScheme, Port) {
  auto r = run("  m: {redirectScheme: {scheme: https, port: 8443}}\n", request("/", "http"));
  ASSERT_TRUE(r.result.answer);
  EXPECT_EQ(*header(r.result.answer->headers, "location"), "https://a.example:8443/");
  auto v6 = request("/", "http");
  v6.authority = "[::1]:80";
  auto r6 = run("  m: {redirectScheme: {scheme: https, port: 443}}\n", v6);
  EXPECT_EQ(*header(r6.result.answer->headers, "location"), "https://[::1]/");
}

TEST(MiddlewareRedirectRegex, ReplacesWithGroups) {
  const std::string m =
      "  m: {redirectRegex: {regex: '^https://a\\.example/(?P<rest>.*)', replacement: "
      "'https://b.example/new/${rest}$$$1', permanent: true}}\n";
  auto r = run(m, request("/old?x=1"));
  ASSERT_TRUE(r.result.answer);
  EXPECT_EQ(r.result.answer->status, 301);
  EXPECT_EQ(*header(r.result.answer->headers, "location"), "https://b.example/new/old?x=1$old?x=1");
  auto miss = run(m, request("/old", "http"));
  EXPECT_FALSE(miss.result.answer);
  // A replacement that gives the same URL would loop: the request goes on.
  EXPECT_FALSE(
      run("  m: {redirectRegex: {regex: '(.*)', replacement: '$1'}}\n", request()).result.answer);
  auto temp = run("  m: {redirectRegex: {regex: 'path', replacement: 'other'}}\n", request());
  ASSERT_TRUE(temp.result.answer);
  EXPECT_EQ(temp.result.answer->status, 302);
  EXPECT_EQ(*header(temp.result.answer->headers, "location"), "https://a.example/other?q=1");
}

TEST(MiddlewareIpAllowList, AllowsAndRefuses) {
  const std::string m = "  m: {ipAllowList: {sourceRange: [192.0.2.0/24, '::1']}}\n";
  EXPECT_FALSE(run(m, request()).result.answer);
  RequestHead other = request();
  other.client_ip = "198.51.100.1";
  // X-Forwarded-For is the client's to write: never read.
  other.headers = {{"x-forwarded-for", "192.0.2.7"}};
  auto r = run(m, other);
  ASSERT_TRUE(r.result.answer);
  EXPECT_EQ(r.result.answer->status, 403);
  RequestHead unknown = request();
  unknown.client_ip = "";
  EXPECT_EQ(run(m, unknown).result.answer->status, 403);
  auto custom =
      run("  m: {ipAllowList: {sourceRange: [10.0.0.0/8], rejectStatusCode: 404}}\n", request());
  EXPECT_EQ(custom.result.answer->status, 404);
}

std::string usersBlock() {
  return std::string("  m: {basicAuth: {users: ['") + kAlice + "', '" + kBob + "', '" + kCarol +
         "']}}\n";
}

TEST(MiddlewareBasicAuth, EachHashKindRightAndWrong) {
  for (auto [right, wrong] : {std::pair{"alice:s3cret", "alice:s3creT"},
                              {"bob:hunter2", "bob:hunter3"},
                              {"carol:pa:ss", "carol:pa"}}) {
    RequestHead ok = request();
    ok.headers = {{"authorization", basic(right)}};
    auto good = run(usersBlock(), ok);
    EXPECT_FALSE(good.result.answer) << right;
    // The header stays by default.
    EXPECT_NE(header(good.req.headers, "authorization"), nullptr);
    RequestHead bad = request();
    bad.headers = {{"authorization", basic(wrong)}};
    auto refused = run(usersBlock(), bad);
    ASSERT_TRUE(refused.result.answer) << wrong;
    EXPECT_EQ(refused.result.answer->status, 401);
    EXPECT_EQ(*header(refused.result.answer->headers, "www-authenticate"),
              "Basic realm=\"traefik\"");
  }
}

TEST(MiddlewareBasicAuth, MissingOrMalformedCredentials) {
  auto none = run(usersBlock(), request());
  ASSERT_TRUE(none.result.answer);
  EXPECT_EQ(none.result.answer->status, 401);
  for (const char* v : {"Bearer abc", "Basic !!!", "Basic", "Basic YWxpY2U="}) {
    RequestHead req = request();
    req.headers = {{"authorization", v}};
    EXPECT_EQ(run(usersBlock(), req).result.answer->status, 401) << v;
  }
  RequestHead unknown = request();
  unknown.headers = {{"authorization", basic("mallory:s3cret")}};
  EXPECT_EQ(run(usersBlock(), unknown).result.answer->status, 401);
}

TEST(MiddlewareBasicAuth, RealmRemoveHeaderAndHeaderField) {
  const std::string m = std::string("  m: {basicAuth: {users: ['") + kBob +
                        "'], realm: home, removeHeader: true, headerField: X-WebAuth-User}}\n";
  RequestHead req = request();
  req.headers = {{"authorization", "basic " + base::base64Encode("bob:hunter2")},
                 {"x-webauth-user", "forged"}};
  auto r = run(m, req);
  ASSERT_FALSE(r.result.answer);
  EXPECT_EQ(header(r.req.headers, "authorization"), nullptr);
  EXPECT_EQ(*header(r.req.headers, "x-webauth-user"), "bob");
  auto refused = run(m, request());
  EXPECT_EQ(*header(refused.result.answer->headers, "www-authenticate"), "Basic realm=\"home\"");
}

TEST(Passwords, Apr1MatchesHtpasswd) {
  EXPECT_EQ(apr1Crypt("hunter2", "a1KVgoGQ"), "$apr1$a1KVgoGQ$lqPTSCdL7zc3/N6P/7RtL0");
  EXPECT_EQ(apr1Crypt("hunter2", "a1KVgoGQ$lqPTSCdL7zc3/N6P/7RtL0"),
            "$apr1$a1KVgoGQ$lqPTSCdL7zc3/N6P/7RtL0");
}

TEST(Passwords, EmptyAndNulPasswords) {
  // `htpasswd -nbB -C 5 dave ''`
  auto dave = config::parseHtpasswd(
      "dave:$2y$05$W1zxUo6I.rQGqJx8WVOO5.EoWOKNx1Wj5z/FImd4DsPbz6ZilpR.G", "t");
  ASSERT_TRUE(dave.has_value());
  EXPECT_TRUE(verifyPassword(dave->at(0), ""));
  EXPECT_FALSE(verifyPassword(dave->at(0), "x"));
  // crypt(3) would stop at the NUL and see the right (empty) password.
  EXPECT_FALSE(verifyPassword(dave->at(0), std::string("\0x", 2)));
  auto alice = config::parseHtpasswd(kAlice, "t");
  ASSERT_TRUE(alice.has_value());
  EXPECT_TRUE(verifyPassword(alice->at(0), "s3cret"));
  EXPECT_FALSE(verifyPassword(alice->at(0), std::string("s3cret\0", 7)));
}

TEST(Passwords, ParseBasicAuthorization) {
  auto ok = parseBasicAuthorization("Basic " + base::base64Encode("u:p:q"));
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->first, "u");
  EXPECT_EQ(ok->second, "p:q");
  auto empty_pass = parseBasicAuthorization("BASIC " + base::base64Encode("u:"));
  ASSERT_TRUE(empty_pass.has_value());
  EXPECT_EQ(empty_pass->second, "");
  EXPECT_FALSE(parseBasicAuthorization("Digest x").has_value());
  EXPECT_FALSE(parseBasicAuthorization("Basic " + base::base64Encode("nocolon")).has_value());
}

TEST(RateLimiter, BurstThenRefill) {
  auto t = std::chrono::steady_clock::time_point{};
  config::Middleware::Rate rate;
  rate.average = 2;  // two per second: a token every 500 ms
  rate.burst = 3;
  RateLimiter limiter(rate, 100, [&] { return t; });
  EXPECT_TRUE(limiter.allow("a"));
  EXPECT_TRUE(limiter.allow("a"));
  EXPECT_TRUE(limiter.allow("a"));
  EXPECT_FALSE(limiter.allow("a"));
  // Another client has its own bucket.
  EXPECT_TRUE(limiter.allow("b"));
  t += std::chrono::milliseconds(499);
  EXPECT_FALSE(limiter.allow("a"));
  t += std::chrono::milliseconds(1);
  EXPECT_TRUE(limiter.allow("a"));
  EXPECT_FALSE(limiter.allow("a"));
  // A long pause refills to the burst, not beyond.
  t += std::chrono::hours(1);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.allow("a"));
  EXPECT_FALSE(limiter.allow("a"));
}

TEST(RateLimiter, PeriodAndDefaults) {
  auto t = std::chrono::steady_clock::time_point{};
  config::Middleware::Rate rate;
  rate.average = 1;
  rate.period = std::chrono::minutes(1);
  RateLimiter limiter(rate, 100, [&] { return t; });
  EXPECT_TRUE(limiter.allow("a"));  // burst 1
  EXPECT_FALSE(limiter.allow("a"));
  t += std::chrono::seconds(59);
  EXPECT_FALSE(limiter.allow("a"));
  t += std::chrono::seconds(1);
  EXPECT_TRUE(limiter.allow("a"));
  config::Middleware::Rate off;  // average 0: no limit
  RateLimiter unlimited(off, 100, [&] { return t; });
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(unlimited.allow("a"));
}

TEST(RateLimiter, TableIsBounded) {
  auto t = std::chrono::steady_clock::time_point{};
  config::Middleware::Rate rate;
  rate.average = 1;
  RateLimiter limiter(rate, 3, [&] { return t; });
  EXPECT_TRUE(limiter.allow("a"));
  EXPECT_FALSE(limiter.allow("a"));
  for (const char* c : {"b", "c", "d", "e"}) EXPECT_TRUE(limiter.allow(c));
  EXPECT_EQ(limiter.clients(), 3u);
  // The recently seen keep their state.
  EXPECT_FALSE(limiter.allow("e"));
}

TEST(RateLimiter, RouteAnswers429) {
  RequestHead req = request();
  req.client_ip = "203.0.113.99";
  auto cfg = configWith("  m: {rateLimit: {average: 1, period: 1h, burst: 2}}\n", "[m]");
  RequestHead a = req, b = req, c = req;
  EXPECT_FALSE(applyMiddlewares(cfg.ingress[0], a).answer);
  EXPECT_FALSE(applyMiddlewares(cfg.ingress[0], b).answer);
  auto refused = applyMiddlewares(cfg.ingress[0], c);
  ASSERT_TRUE(refused.answer);
  EXPECT_EQ(refused.answer->status, 429);
  RequestHead other = request();
  other.client_ip = "203.0.113.100";
  EXPECT_FALSE(applyMiddlewares(cfg.ingress[0], other).answer);
}

TEST(MiddlewareChain, RunsInOrderAndStopsAtAnAnswer) {
  const std::string m =
      "  strip: {stripPrefix: {prefixes: [/api]}}\n"
      "  add: {addPrefix: {prefix: /v1}}\n"
      "  sec: {headers: {frameDeny: true}}\n"
      "  deny: {ipAllowList: {sourceRange: [10.0.0.0/8]}}\n"
      "  both: {chain: {middlewares: [strip, add]}}\n";
  auto r = run(m, request("/api/x"), "[both, sec]");
  EXPECT_FALSE(r.result.answer);
  EXPECT_EQ(r.req.target, "/v1/x");
  // The answer of a later middleware gets the headers of an earlier one, not of a later one.
  auto refused = run(m + "  late: {headers: {contentTypeNosniff: true}}\n", request("/api/x"),
                     "[sec, deny, late, add]");
  ASSERT_TRUE(refused.result.answer);
  EXPECT_EQ(refused.req.target, "/api/x");  // add never ran
  applyResponseHeaders(refused.result, refused.req, *refused.result.answer);
  EXPECT_EQ(*header(refused.result.answer->headers, "x-frame-options"), "DENY");
  EXPECT_EQ(header(refused.result.answer->headers, "x-content-type-options"), nullptr);
}

}  // namespace
}  // namespace http

namespace http {
namespace {

std::vector<Header> startingWith(std::vector<Header> hs, std::string_view prefix) {
  std::erase_if(hs, [&](const Header& h) { return !h.name.starts_with(prefix); });
  return hs;
}

TEST(MiddlewareForwardAuth, RequestCarriesClientHeadersAndForwardedOnes) {
  auto cfg = configWith("  m: {forwardAuth: {address: 'http://127.0.0.1:9/auth?x=1'}}\n", "[m]");
  const auto& m = *cfg.ingress.at(0).run.at(0);
  RequestHead req = request("/p/a?b=c");
  req.method = "POST";
  req.authority = "a.example:8443";
  req.content_length = 3;
  req.has_body = true;
  req.headers = {{"cookie", "s=1"},
                 {"content-length", "3"},
                 {"x-forwarded-for", "6.6.6.6, 192.0.2.7"},
                 {"x-forwarded-uri", "/forged"},
                 {"x-forwarded-port", "1"},
                 {"x-forwarded-proto", "https"},
                 {"accept", "text/html"}};
  RequestHead ask = forwardAuthRequest(m, req);
  EXPECT_EQ(ask.method, "GET");
  EXPECT_EQ(ask.target, "/auth?x=1");
  EXPECT_EQ(ask.authority, "127.0.0.1:9");
  EXPECT_FALSE(ask.has_body);
  EXPECT_FALSE(ask.content_length);
  EXPECT_EQ(ask.headers, (std::vector<Header>{{"cookie", "s=1"},
                                              {"accept", "text/html"},
                                              {"x-forwarded-for", "192.0.2.7"},
                                              {"x-forwarded-method", "POST"},
                                              {"x-forwarded-proto", "https"},
                                              {"x-forwarded-host", "a.example:8443"},
                                              {"x-forwarded-uri", "/p/a?b=c"},
                                              {"x-forwarded-port", "8443"}}));
}

TEST(MiddlewareForwardAuth, TrustForwardHeaderKeepsTheClientsCopies) {
  auto cfg = configWith(
      "  m: {forwardAuth: {address: 'http://a/', trustForwardHeader: true, authRequestHeaders: "
      "[Cookie]}}\n",
      "[m]");
  const auto& m = *cfg.ingress.at(0).run.at(0);
  RequestHead req = request("/x", "http");
  req.headers = {{"cookie", "s=1"},
                 {"accept", "*/*"},
                 {"x-forwarded-for", "6.6.6.6, 192.0.2.7"},
                 {"x-forwarded-uri", "/forged"},
                 {"x-forwarded-method", "DELETE"}};
  RequestHead ask = forwardAuthRequest(m, req);
  EXPECT_EQ(ask.headers, (std::vector<Header>{{"cookie", "s=1"},
                                              {"x-forwarded-for", "6.6.6.6, 192.0.2.7"},
                                              {"x-forwarded-method", "DELETE"},
                                              {"x-forwarded-proto", "http"},
                                              {"x-forwarded-host", "a.example"},
                                              {"x-forwarded-uri", "/forged"},
                                              {"x-forwarded-port", "80"}}));
  EXPECT_EQ(startingWith(ask.headers, "accept").size(), 0u);
}

TEST(MiddlewareForwardAuth, ResponseHeadersReplaceTheClientsCopies) {
  auto cfg = configWith(
      "  m: {forwardAuth: {address: 'http://a/', authResponseHeaders: [Remote-User], "
      "authResponseHeadersRegex: '^X-Auth-'}}\n",
      "[m]");
  const auto& m = *cfg.ingress.at(0).run.at(0);
  RequestHead req = request();
  req.headers = {{"remote-user", "forged"}, {"x-auth-role", "admin"}, {"accept", "*/*"}};
  ResponseHead auth;
  auth.headers = {{"remote-user", "alice"}, {"x-auth-id", "7"}, {"set-cookie", "a=b"}};
  copyAuthResponseHeaders(m, auth, req);
  EXPECT_EQ(req.headers,
            (std::vector<Header>{{"accept", "*/*"}, {"remote-user", "alice"}, {"x-auth-id", "7"}}));
  // Named but not sent: the client's copy is gone all the same.
  RequestHead other = request();
  other.headers = {{"remote-user", "forged"}};
  copyAuthResponseHeaders(m, ResponseHead{}, other);
  EXPECT_TRUE(other.headers.empty());
}

TEST(MiddlewareForwardAuth, SynchronousRunRefuses) {
  RequestHead req = request();
  auto r = run("  m: {forwardAuth: {address: 'http://a/'}}\n", req);
  ASSERT_TRUE(r.result.answer);
  EXPECT_EQ(r.result.answer->status, 500);
}

}  // namespace
}  // namespace http
