// Traefik v3 rules: the syntax (values, operators, precedence, errors with their column), each
// matcher's meaning as Traefik documents it, and the ordering of rule routes among ingress
// rules (priority by rule length, Traefik's documented examples).
#include "config/rule.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"

namespace config {
namespace {

struct Req {
  std::string method = "GET";
  std::string host = "example.com";
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string client_ip = "192.0.2.10";
};

// Parses `rule` (which must parse) and matches it against `r`.
bool matches(std::string_view rule, const Req& r) {
  auto parsed = Rule::parse(rule);
  EXPECT_TRUE(parsed) << rule << ": " << (parsed ? "" : parsed.error().message());
  if (!parsed) return false;
  RouteRequest req;
  req.method = r.method;
  req.host = r.host;
  req.target = r.target;
  req.client_ip = r.client_ip;
  for (const auto& [n, v] : r.headers) req.headers.emplace_back(n, v);
  return (*parsed)->matches(RuleRequest(req));
}

Req at(std::string host, std::string target = "/") {
  Req r;
  r.host = std::move(host);
  r.target = std::move(target);
  return r;
}

std::string parseError(std::string_view rule) {
  auto parsed = Rule::parse(rule);
  return parsed ? "<parsed fine>" : parsed.error().message();
}

TEST(Rule, HostIsCaseInsensitiveAndIgnoresThePort) {
  EXPECT_TRUE(matches("Host(`example.com`)", at("example.com")));
  EXPECT_TRUE(matches("Host(`Example.COM`)", at("EXAMPLE.com:8443")));
  EXPECT_TRUE(matches("Host(`example.com`)", at("example.com.")));  // trailing dot either side
  EXPECT_TRUE(matches("Host(`example.com.`)", at("example.com")));
  EXPECT_FALSE(matches("Host(`example.com`)", at("www.example.com")));
  EXPECT_FALSE(matches("Host(`example.com`)", at("example.com.evil")));
  EXPECT_FALSE(matches("Host(``)", at("")));
  EXPECT_TRUE(matches("Host(`::1`)", at("[::1]:8080")));
}

TEST(Rule, HostRegexpSearchesTheLowercaseHost) {
  EXPECT_TRUE(matches("HostRegexp(`^.+\\.example\\.com$`)", at("A.Example.com:443")));
  EXPECT_FALSE(matches("HostRegexp(`^.+\\.example\\.com$`)", at("example.com")));
  // Unanchored, as Go's MatchString: a pattern matches anywhere in the host.
  EXPECT_TRUE(matches("HostRegexp(`example`)", at("www.example.org")));
  EXPECT_TRUE(matches("HostRegexp(`^example\\.(com|org)$`)", at("example.org")));
  // The host is lowercased before matching, so an uppercase pattern needs (?i).
  EXPECT_FALSE(matches("HostRegexp(`^EXAMPLE`)", at("example.com")));
  EXPECT_TRUE(matches("HostRegexp(`(?i)^EXAMPLE`)", at("example.com")));
}

TEST(Rule, PathIsExact) {
  EXPECT_TRUE(matches("Path(`/products`)", at("x", "/products")));
  EXPECT_TRUE(matches("Path(`/products`)", at("x", "/products?page=2")));
  EXPECT_FALSE(matches("Path(`/products`)", at("x", "/products/")));
  EXPECT_FALSE(matches("Path(`/products`)", at("x", "/products/shoes")));
  EXPECT_FALSE(matches("Path(`/products`)", at("x", "/Products")));
}

TEST(Rule, PathPrefixIsAPlainPrefix) {
  for (const char* p : {"/products", "/products/", "/products/shoes", "/products-for-sale"})
    EXPECT_TRUE(matches("PathPrefix(`/products`)", at("x", p))) << p;
  EXPECT_FALSE(matches("PathPrefix(`/products`)", at("x", "/product")));
  // Not a regular expression.
  EXPECT_FALSE(matches("PathPrefix(`/a.c`)", at("x", "/abc")));
  EXPECT_TRUE(matches("PathPrefix(`/`)", at("x", "")));  // a URL without a path asks for "/"
}

TEST(Rule, PathRegexpSearchesThePath) {
  const char* shoes = "PathRegexp(`^/products/(shoes|socks)/[0-9]+$`)";
  EXPECT_TRUE(matches(shoes, at("x", "/products/shoes/31")));
  EXPECT_FALSE(matches(shoes, at("x", "/products/hats/31")));
  EXPECT_TRUE(matches("PathRegexp(`\\.(jpeg|jpg|png)$`)", at("x", "/a/b.png?x=.txt")));
  EXPECT_FALSE(matches("PathRegexp(`\\.(jpeg|jpg|png)$`)", at("x", "/a/b.txt?x=.png")));
  EXPECT_TRUE(matches("PathRegexp(`(?i)^/products`)", at("x", "/PRODUCTS/x")));
}

TEST(Rule, PathEscapesAreDecodedExceptReservedOnes) {
  EXPECT_TRUE(matches("PathPrefix(`/foo bar`)", at("x", "/foo%20bar/x")));
  EXPECT_TRUE(matches("Path(`/caf\u00e9`)", at("x", "/caf%C3%A9")));
  // An encoded '/' is not a path separator: it stays as written.
  EXPECT_TRUE(matches("Path(`/a%2Fb`)", at("x", "/a%2Fb")));
  EXPECT_FALSE(matches("Path(`/a/b`)", at("x", "/a%2Fb")));
  EXPECT_TRUE(matches("Path(`/admin%2F`)", at("x", "/%61dmin%2F")));
  // Traefik keeps only the uppercase spelling; "%2f" is decoded like any other escape.
  EXPECT_TRUE(matches("Path(`/a/b`)", at("x", "/a%2fb")));
  EXPECT_TRUE(matches("Path(`/a%zz`)", at("x", "/a%zz")));  // malformed: kept as written
}

TEST(Rule, MethodComparesUppercase) {
  Req post = at("x");
  post.method = "POST";
  EXPECT_TRUE(matches("Method(`POST`)", post));
  EXPECT_TRUE(matches("Method(`post`)", post));
  EXPECT_FALSE(matches("Method(`GET`)", post));
  EXPECT_TRUE(matches("Method(`OPTIONS`) || Method(`POST`)", post));
}

TEST(Rule, HeaderValueIsExactNameIsNot) {
  Req r = at("x");
  r.headers = {{"content-type", "application/yaml"}, {"x-multi", "a"}, {"x-multi", "b"}};
  EXPECT_TRUE(matches("Header(`Content-Type`, `application/yaml`)", r));
  EXPECT_FALSE(matches("Header(`Content-Type`, `application/YAML`)", r));
  EXPECT_FALSE(matches("Header(`Content-Type`, `application`)", r));
  EXPECT_TRUE(matches("Header(`X-Multi`, `b`)", r));  // any line of the header
  EXPECT_FALSE(matches("Header(`X-Absent`, ``)", r));
  EXPECT_TRUE(matches("HeaderRegexp(`Content-Type`, `^application/(json|yaml)$`)", r));
  EXPECT_TRUE(matches("HeaderRegexp(`content-type`, `yaml`)", r));  // unanchored
  EXPECT_FALSE(matches("HeaderRegexp(`Content-Type`, `^application/json$`)", r));
  EXPECT_TRUE(matches("HeaderRegexp(`Content-Type`, `(?i)^APPLICATION/yaml$`)", r));
}

TEST(Rule, QueryAsGoParsesIt) {
  EXPECT_TRUE(matches("Query(`mobile`, `true`)", at("x", "/search?mobile=true")));
  EXPECT_FALSE(matches("Query(`mobile`, `true`)", at("x", "/search?mobile=yes")));
  EXPECT_FALSE(matches("Query(`mobile`, `true`)", at("x", "/search")));
  // One value: the parameter is there with no value.
  EXPECT_TRUE(matches("Query(`mobile`)", at("x", "/search?mobile")));
  EXPECT_TRUE(matches("Query(`mobile`)", at("x", "/search?a=1&mobile=")));
  EXPECT_FALSE(matches("Query(`mobile`)", at("x", "/search?mobile=true")));
  EXPECT_TRUE(matches("Query(`k`, `b`)", at("x", "/?k=a&k=b")));  // any of its values
  // Decoding: '+' and %20 are spaces; ';' is not a separator (the pair is dropped).
  EXPECT_TRUE(matches("Query(`q`, `a b`)", at("x", "/?q=a+b")));
  EXPECT_TRUE(matches("Query(`q w`, `a b`)", at("x", "/?q%20w=a%20b")));
  EXPECT_FALSE(matches("Query(`a`, `1`)", at("x", "/?a=1;b=2")));
  EXPECT_FALSE(matches("Query(`a`, `%zz`)", at("x", "/?a=%zz")));
  EXPECT_TRUE(matches("QueryRegexp(`mobile`, `^(true|yes)$`)", at("x", "/?mobile=yes")));
  EXPECT_FALSE(matches("QueryRegexp(`mobile`, `^(true|yes)$`)", at("x", "/?mobile=no")));
  EXPECT_TRUE(matches("QueryRegexp(`mobile`, `^.*$`)", at("x", "/?mobile")));
  EXPECT_FALSE(matches("QueryRegexp(`mobile`, `^.*$`)", at("x", "/?other")));
  EXPECT_TRUE(matches("QueryRegexp(`mobile`)", at("x", "/?mobile")));
}

TEST(Rule, ClientIpTakesAddressesAndRanges) {
  Req r = at("x");
  r.client_ip = "10.76.105.11";
  EXPECT_TRUE(matches("ClientIP(`10.76.105.11`)", r));
  EXPECT_FALSE(matches("ClientIP(`10.76.105.12`)", r));
  EXPECT_TRUE(matches("ClientIP(`10.76.0.0/16`)", r));
  EXPECT_TRUE(matches("ClientIP(`10.76.105.1/16`)", r));  // host bits are ignored
  EXPECT_FALSE(matches("ClientIP(`10.77.0.0/16`)", r));
  EXPECT_TRUE(matches("ClientIP(`0.0.0.0/0`)", r));
  EXPECT_FALSE(matches("ClientIP(`::/0`)", r));
  r.client_ip = "::ffff:10.76.105.11";  // a dual-stack listener's view of an IPv4 client
  EXPECT_TRUE(matches("ClientIP(`10.76.0.0/16`)", r));
  EXPECT_TRUE(matches("ClientIP(`::ffff:10.76.0.0/112`)", r));
  r.client_ip = "fe80::1";
  EXPECT_TRUE(matches("ClientIP(`fe80::/10`)", r));
  EXPECT_FALSE(matches("ClientIP(`::1`)", r));
  r.client_ip = "::1";
  EXPECT_TRUE(matches("ClientIP(`::1`)", r));
  // Unknown: no ClientIP matches, so a negated one does.
  r.client_ip = "";
  EXPECT_FALSE(matches("ClientIP(`0.0.0.0/0`)", r));
  EXPECT_TRUE(matches("!ClientIP(`10.0.0.0/8`)", r));
}

TEST(Rule, NotBindsTightestThenAndThenOr) {
  Req a = at("a.test");
  Req b = at("b.test");
  Req b_post = b;
  b_post.method = "POST";
  // || is weakest: Host(a) || (Host(b) && Method(POST)).
  const char* mixed = "Host(`a.test`) || Host(`b.test`) && Method(`POST`)";
  EXPECT_TRUE(matches(mixed, a));
  EXPECT_FALSE(matches(mixed, b));
  EXPECT_TRUE(matches(mixed, b_post));
  const char* grouped = "(Host(`a.test`) || Host(`b.test`)) && Method(`POST`)";
  EXPECT_FALSE(matches(grouped, a));
  EXPECT_TRUE(matches(grouped, b_post));
  // ! takes the matcher next to it, not the whole && chain.
  EXPECT_TRUE(matches("!Host(`a.test`) && Method(`GET`)", b));
  EXPECT_FALSE(matches("!Host(`a.test`) && Method(`GET`)", a));
  EXPECT_TRUE(matches("!(Host(`a.test`) && Method(`POST`))", a));
  EXPECT_FALSE(matches("!!Host(`a.test`) && !Host(`a.test`)", a));
  EXPECT_TRUE(matches("Host(`x`) || Host(`y`) || Host(`a.test`)", a));
  EXPECT_TRUE(matches(" ( ( Host(`a.test`) ) ) ", a));
}

TEST(Rule, ValuesInBackticksOrGoDoubleQuotes) {
  Req r = at("a.test", "/x.y");
  EXPECT_TRUE(matches("Host(\"a.test\")", r));
  // Backticks are raw; double quotes take Go's escapes.
  EXPECT_TRUE(matches("PathRegexp(`^/x\\.y$`)", r));
  EXPECT_TRUE(matches("PathRegexp(\"^/x\\\\.y$\")", r));
  EXPECT_TRUE(matches("Path(\"/\\x78.\\u0079\")", r));
  EXPECT_TRUE(matches("Path(\"/\\170.y\")", r));
  EXPECT_TRUE(matches("Host(`a.test`)&&Path(`/x.y`)", r));
  EXPECT_TRUE(matches("Host(\n  `a.test`\n) &&\n\tPath(`/x.y`)", r));
  // Traefik accepts each name as written, all lowercase, all uppercase, or capitalised.
  for (const char* rule : {"host(`a.test`)", "HOST(`a.test`)", "Pathprefix(`/x`)",
                           "PATHPREFIX(`/x`)", "pathprefix(`/x`)"})
    EXPECT_TRUE(matches(rule, r)) << rule;
  Req h = at("x");
  h.headers = {{"x-q", "say \"hi\""}};
  EXPECT_TRUE(matches("Header(`X-Q`, \"say \\\"hi\\\"\")", h));
}

TEST(Rule, ErrorsNameTheColumnAndWhatWasExpected) {
  EXPECT_EQ(parseError("Host(`a.com` && Path(`/`)"),
            "1:14: expected ')' after the arguments of Host, got '&'");
  EXPECT_EQ(parseError(""),
            "1:1: the rule is empty; expected a matcher such as Host(`example.com`)");
  EXPECT_EQ(parseError("Host('a.com')"),
            "1:6: single quotes are not accepted (Traefik's values are Go strings): write value 1 "
            "of Host in backticks or double quotes");
  EXPECT_EQ(parseError("Hostt(`a`)"), "1:1: unknown matcher 'Hostt'; did you mean 'Host'?");
  EXPECT_EQ(parseError("Host(`a`) && pathPrefix(`/`)"),
            "1:14: unknown matcher 'pathPrefix'; did you mean 'PathPrefix'?");
  EXPECT_NE(
      parseError("Frobnicate(`a`)").find("1:1: unknown matcher 'Frobnicate' (matchers: Host, "),
      std::string::npos);
  EXPECT_EQ(parseError("Host(`a`) &&"),
            "1:13: expected a matcher such as Host(`example.com`), '!' or '(', got the end of "
            "the rule");
  EXPECT_EQ(parseError("Host(`a`) & Path(`/`)"),
            "1:11: expected '&&', '||' or the end of the rule, got '&'");
  EXPECT_EQ(parseError("Host(`a`) Path(`/`)"),
            "1:11: expected '&&', '||' or the end of the rule, got 'Path'");
  EXPECT_EQ(parseError("(Host(`a`) || Path(`/`)"),
            "1:24: expected ')' to close the '(' at 1:1, got the end of the rule");
  EXPECT_EQ(parseError("Host`a`"), "1:5: expected '(' after Host, got '`'");
  EXPECT_EQ(parseError("Host(`a)"), "1:6: the value opened here has no closing backtick");
  EXPECT_EQ(parseError("Host(\"a)"), "1:6: the value opened here has no closing double quote");
  EXPECT_EQ(parseError("Host(a.com)"),
            "1:6: expected value 1 of Host in backticks or double quotes, got 'a'");
  EXPECT_EQ(parseError("Host(\"a\\qb\")"),
            "1:8: unknown escape sequence '\\q' in a double-quoted value");
  EXPECT_EQ(parseError("Host(`a`)\n  && Pathh(`/`)"),
            "2:6: unknown matcher 'Pathh'; did you mean 'Path'?");
  EXPECT_EQ(parseError("|| Host(`a`)"),
            "1:1: expected a matcher such as Host(`example.com`), '!' or '(', got '|' (an "
            "operator needs a matcher on each side)");
}

TEST(Rule, ArgumentCountsAreChecked) {
  EXPECT_EQ(parseError("Host(`a`, `b`)"), "1:1: Host takes 1 value, got 2");
  EXPECT_EQ(parseError("Host()"), "1:1: Host takes 1 value, got 0");
  EXPECT_EQ(parseError("Path(`/`) && Header(`X-A`)"), "1:14: Header takes 2 values, got 1");
  EXPECT_EQ(parseError("HeaderRegexp(`a`, `b`, `c`)"), "1:1: HeaderRegexp takes 2 values, got 3");
  EXPECT_EQ(parseError("Query(`a`, `b`, `c`)"), "1:1: Query takes 1 or 2 values, got 3");
  EXPECT_EQ(parseError("QueryRegexp()"), "1:1: QueryRegexp takes 1 or 2 values, got 0");
  for (const char* ok :
       {"Query(`a`)", "Query(`a`, `b`)", "QueryRegexp(`a`)", "QueryRegexp(`a`, `b`)",
        "Header(`a`, `b`)", "HeaderRegexp(`a`, `b`)", "ClientIP(`::1`)", "Method(`GET`)",
        "PathRegexp(`x`)", "HostRegexp(`x`)", "Path(`/`)", "PathPrefix(`/`)", "Host(`a`)"})
    EXPECT_TRUE(Rule::parse(ok)) << ok;
}

TEST(Rule, ValuesAreChecked) {
  EXPECT_EQ(parseError("Path(`products`)"), "1:6: Path: 'products' does not start with '/'");
  EXPECT_EQ(parseError("PathPrefix(\"x\")"), "1:12: PathPrefix: 'x' does not start with '/'");
  EXPECT_NE(parseError("PathRegexp(`(`)").find("1:12: PathRegexp: invalid regular expression '('"),
            std::string::npos);
  EXPECT_NE(parseError("Host(`a`) || HeaderRegexp(`A`, `[z-a]`)")
                .find("1:32: HeaderRegexp: invalid regular expression"),
            std::string::npos);
  EXPECT_EQ(parseError("ClientIP(`10.0.0.0/33`)"),
            "1:10: ClientIP: '10.0.0.0/33' is not an IP address or a CIDR (10.0.0.0/8, fd00::/8)");
  EXPECT_NE(parseError("ClientIP(`example.com`)").find("is not an IP address"), std::string::npos);
  EXPECT_NE(parseError("Host(`b\u00fccher.example`)").find("non-ASCII"), std::string::npos);
  EXPECT_NE(parseError("HostRegexp(`b\u00fccher`)").find("non-ASCII"), std::string::npos);
}

TEST(Rule, NestingIsBounded) {
  std::string deep(200, '(');
  deep += "Host(`a`)" + std::string(200, ')');
  EXPECT_NE(parseError(deep).find("deeper than 64 levels"), std::string::npos);
  std::string nots(200, '!');
  EXPECT_NE(parseError(nots + "Host(`a`)").find("deeper than 64 levels"), std::string::npos);
  // Long flat chains are fine: they do not nest.
  std::string chain = "Host(`a`)";
  for (int i = 0; i < 2000; ++i) chain += " || Host(`b`)";
  EXPECT_TRUE(matches(chain, at("b")));
}

// ---- Rule routes among ingress rules ----

TunnelConfig parsed(std::string_view yaml) {
  auto cfg = parseTunnelConfig(yaml, "r.yml");
  EXPECT_TRUE(cfg) << (cfg ? "" : cfg.error().message());
  return cfg ? *cfg : TunnelConfig{};
}

std::string errorOf(std::string_view yaml) {
  auto cfg = parseTunnelConfig(yaml, "r.yml");
  return cfg ? "<parsed fine>" : cfg.error().message();
}

// Traefik's documented example: HostRegexp(`[a-z]+\.traefik\.com`) is 34 characters long and
// Host(`foobar.traefik.com`) 26, so the regexp wins for foobar.traefik.com, wherever it is in
// the file; `priority: 2` on it lets the Host rule win.
TEST(RuleRoutes, DefaultPriorityIsTheRuleLength) {
  const TunnelConfig cfg = parsed(
      "ingress:\n"
      "  - rule: Host(`foobar.traefik.com`)\n"
      "    service: http://localhost:8002\n"
      "  - rule: HostRegexp(`[a-z]+\\.traefik\\.com`)\n"
      "    service: http://localhost:8001\n"
      "  - service: http_status:404\n");
  ASSERT_EQ(cfg.ingress.size(), 3u);
  EXPECT_EQ(cfg.ingress[0].priority, 26);
  EXPECT_EQ(cfg.ingress[1].priority, 34);
  EXPECT_EQ(matchIngress(cfg, "foobar.traefik.com", "/"), 1u);
  EXPECT_EQ(matchIngress(cfg, "other.traefik.com", "/"), 1u);
  EXPECT_EQ(matchIngress(cfg, "traefik.org", "/"), 2u);

  const TunnelConfig two = parsed(
      "ingress:\n"
      "  - rule: Host(`foobar.traefik.com`)\n"
      "    service: http://localhost:8002\n"
      "  - rule: HostRegexp(`[a-z]+\\.traefik\\.com`)\n"
      "    priority: 2\n"
      "    service: http://localhost:8001\n"
      "  - service: http_status:404\n");
  EXPECT_EQ(two.ingress[1].priority, 2);
  EXPECT_EQ(matchIngress(two, "foobar.traefik.com", "/"), 0u);
  EXPECT_EQ(matchIngress(two, "other.traefik.com", "/"), 1u);
}

// Traefik's older example of why length is the default: the longer prefix goes first.
TEST(RuleRoutes, LongerPrefixFirstTiesInFileOrder) {
  const TunnelConfig cfg = parsed(
      "ingress:\n"
      "  - rule: PathPrefix(`/1`)\n"
      "    service: http://localhost:8001\n"
      "  - rule: PathPrefix(`/12345`)\n"
      "    service: http://localhost:8002\n"
      "  - rule: PathPrefix(`/1234`)\n"
      "    service: http://localhost:8003\n"
      "  - rule: PathPrefix(`/9999`)\n"  // as long as /1234
      "    service: http://localhost:8004\n"
      "  - rule: PathPrefix(`/9`)\n"
      "    priority: 0\n"  // Traefik's 0: the default
      "    service: http://localhost:8005\n"
      "  - service: http_status:404\n");
  EXPECT_EQ(matchIngress(cfg, "x", "/123456"), 1u);
  EXPECT_EQ(matchIngress(cfg, "x", "/12349"), 2u);
  EXPECT_EQ(matchIngress(cfg, "x", "/99999"), 3u);
  EXPECT_EQ(matchIngress(cfg, "x", "/19"), 0u);
  EXPECT_EQ(matchIngress(cfg, "x", "/9"), 4u);
  EXPECT_EQ(matchIngress(cfg, "x", "/2"), 5u);
  EXPECT_EQ(cfg.ingress[4].priority, 16);

  const TunnelConfig tie = parsed(
      "ingress:\n"
      "  - rule: PathPrefix(`/a`)\n"
      "    service: http://localhost:8001\n"
      "  - rule: PathPrefix(`/`)\n"
      "    priority: 20\n"
      "    service: http://localhost:8002\n"
      "  - rule: PathPrefix(`/b`)\n"
      "    priority: 20\n"
      "    service: http://localhost:8003\n"
      "  - service: http_status:404\n");
  EXPECT_EQ(matchIngress(tie, "x", "/b"), 1u);  // 20 = 20: the earlier one
  EXPECT_EQ(matchIngress(tie, "x", "/a"), 1u);  // 20 > 16
}

TEST(RuleRoutes, NegativePriorityGoesBelowTheDefaults) {
  const TunnelConfig cfg = parsed(
      "ingress:\n"
      "  - rule: PathPrefix(`/`)\n"
      "    priority: -1\n"
      "    service: http://localhost:8001\n"
      "  - rule: Host(`a`)\n"
      "    service: http://localhost:8002\n"
      "  - service: http_status:404\n");
  EXPECT_EQ(matchIngress(cfg, "a", "/"), 1u);
  EXPECT_EQ(matchIngress(cfg, "b", "/"), 0u);
}

// Rule routes are tried before the cloudflared rules, which keep their file order after them.
TEST(RuleRoutes, RulesComeBeforeHostnameRules) {
  const TunnelConfig cfg = parsed(
      "ingress:\n"
      "  - hostname: app.test\n"
      "    service: http://localhost:8001\n"
      "  - rule: Host(`app.test`) && PathPrefix(`/admin`)\n"
      "    service: http://localhost:8002\n"
      "  - hostname: app.test\n"  // shadowed by #1, as in cloudflared
      "    path: ^/api\n"
      "    service: http://localhost:8003\n"
      "  - service: http_status:404\n");
  EXPECT_EQ(matchIngress(cfg, "app.test", "/admin/x"), 1u);
  EXPECT_EQ(matchIngress(cfg, "app.test", "/api"), 0u);
  EXPECT_EQ(matchIngress(cfg, "other.test", "/admin"), 3u);
}

TEST(RuleRoutes, MatchingReadsTheWholeRequest) {
  const TunnelConfig cfg = parsed(
      "ingress:\n"
      "  - rule: Method(`POST`) && Header(`X-Api`, `1`) && Query(`v`, `2`)\n"
      "    service: http://localhost:8001\n"
      "  - rule: ClientIP(`192.0.2.0/24`)\n"
      "    service: http://localhost:8002\n"
      "  - service: http_status:404\n");
  RouteRequest req;
  req.method = "POST";
  req.host = "x";
  req.target = "/p?v=2";
  req.headers = {{"x-api", "1"}};
  EXPECT_EQ(matchIngress(cfg, req), 0u);
  req.method = "PUT";
  EXPECT_EQ(matchIngress(cfg, req), 2u);
  req.client_ip = "192.0.2.77";
  EXPECT_EQ(matchIngress(cfg, req), 1u);
  EXPECT_TRUE(hasRouteRules(cfg));
  EXPECT_FALSE(hasRouteRules(parsed("ingress:\n  - service: http_status:404\n")));
}

TEST(RuleRoutes, ConfigErrors) {
  EXPECT_EQ(errorOf("ingress:\n"
                    "  - rule: Host(`a.com` && Path(`/`)\n"
                    "    service: http://localhost\n"
                    "  - service: http_status:404\n"),
            "r.yml:2: ingress rule #1: rule: 1:14: expected ')' after the arguments of Host, got "
            "'&'");
  EXPECT_EQ(errorOf("ingress:\n"
                    "  - rule: Hots(`a.com`)\n"
                    "    service: http://localhost\n"
                    "  - service: http_status:404\n"),
            "r.yml:2: ingress rule #1: rule: 1:1: unknown matcher 'Hots' (matchers: Host, "
            "HostRegexp, Path, PathPrefix, PathRegexp, Method, Header, HeaderRegexp, Query, "
            "QueryRegexp, ClientIP)");
  EXPECT_NE(errorOf("ingress:\n"
                    "  - hostname: a.com\n"
                    "    rule: Path(`/`)\n"
                    "    service: http://localhost\n"
                    "  - service: http_status:404\n")
                .find("r.yml:2: ingress rule #1: rule: cannot be combined with hostname: or "
                      "path:"),
            std::string::npos);
  EXPECT_NE(errorOf("ingress:\n"
                    "  - rule: Path(`/`)\n"
                    "    path: ^/x\n"
                    "    service: http://localhost\n"
                    "  - service: http_status:404\n")
                .find("r.yml:3: ingress rule #1: rule: cannot be combined"),
            std::string::npos);
  EXPECT_NE(errorOf("ingress:\n"
                    "  - hostname: a.com\n"
                    "    priority: 10\n"
                    "    service: http://localhost\n"
                    "  - service: http_status:404\n")
                .find("r.yml:3: ingress rule #1: priority: applies to rule: only"),
            std::string::npos);
  EXPECT_NE(errorOf("ingress:\n"
                    "  - rule: Path(`/`)\n"
                    "    priority: high\n"
                    "    service: http://localhost\n"
                    "  - service: http_status:404\n")
                .find("r.yml:3: ingress rule #1: priority: expected a whole number"),
            std::string::npos);
  EXPECT_NE(errorOf("ingress:\n"
                    "  - rule: PathPrefix(`/`)\n"
                    "    service: http://localhost\n")
                .find("the last ingress rule must match all URLs (i.e. it should not have a "
                      "hostname or path filter, nor a rule)"),
            std::string::npos);
  EXPECT_NE(errorOf("ingress:\n"
                    "  - rule: \"\"\n"
                    "    service: http://localhost\n"
                    "  - service: http_status:404\n")
                .find("rule: 1:1: the rule is empty"),
            std::string::npos);
}

TEST(RuleRoutes, DescribeMatchShowsRuleAndPriority) {
  const TunnelConfig cfg = parsed(
      "ingress:\n"
      "  - rule: Host(`a.test`) && Query(`x`)\n"
      "    service: http://localhost:8001\n"
      "  - rule: ClientIP(`0.0.0.0/0`) || Header(`X-A`, `1`)\n"
      "    priority: 1000\n"
      "    service: http://localhost:8002\n"
      "  - service: http_status:404\n");
  auto out = describeMatch(cfg, "https://a.test/p?x#frag");
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(*out,
            "Matched rule #1\n"
            "\trule: Host(`a.test`) && Query(`x`)\n"
            "\tpriority: 28\n"
            "\tservice: http://localhost:8001\n"
            "\tassumed: a GET with no headers from an unknown address (Header() and ClientIP() "
            "match nothing)\n");
  out = describeMatch(cfg, "https://a.test?x");
  ASSERT_TRUE(out);
  EXPECT_TRUE(out->starts_with("Matched rule #1\n")) << *out;
  out = describeMatch(cfg, "https://a.test/p");
  ASSERT_TRUE(out);
  EXPECT_TRUE(out->starts_with("Matched rule #3\n")) << *out;
}

TEST(RuleRoutes, FormatKeepsRuleAndPriority) {
  const TunnelConfig cfg = parsed(
      "ingress:\n"
      "  - rule: \"Host(`a.test`) &&\\n  Header(`X`, \\\"q\\\\\\\"\\\")\"\n"
      "    service: http://localhost:8001\n"
      "  - service: http_status:404\n");
  ASSERT_EQ(cfg.ingress.size(), 2u);
  const std::string text = formatTunnelConfig(cfg);
  auto again = parseTunnelConfig(text, "again.yml");
  ASSERT_TRUE(again) << again.error().message() << "\n" << text;
  EXPECT_EQ(again->ingress[0].rule, cfg.ingress[0].rule);
  EXPECT_EQ(again->ingress[0].priority, cfg.ingress[0].priority);
  EXPECT_EQ(formatTunnelConfig(*again), text);
}

TEST(RuleRoutes, StackRoutesTakeRules) {
  auto stack = parseStack(
      "services:\n"
      "  web: {exec: [/bin/true]}\n"
      "routes:\n"
      "  - rule: Host(`a.test`) && PathPrefix(`/api`)\n"
      "    priority: 5\n"
      "    service: http://[web]:8080\n"
      "  - service: http_status:404\n",
      "/tmp/burrow.yaml");
  ASSERT_TRUE(stack) << stack.error().message();
  ASSERT_EQ(stack->routes.size(), 2u);
  EXPECT_EQ(stack->routes[0].rule, "Host(`a.test`) && PathPrefix(`/api`)");
  EXPECT_EQ(stack->routes[0].priority, 5);
  auto bad = parseStack(
      "services:\n"
      "  web: {exec: [/bin/true]}\n"
      "routes:\n"
      "  - rule: Host(`a.test`) && PathPrefx(`/api`)\n"
      "    service: http://[web]:8080\n"
      "  - service: http_status:404\n",
      "/tmp/burrow.yaml");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(),
            "/tmp/burrow.yaml:4: route #1: rule: 1:19: unknown matcher 'PathPrefx'; did you mean "
            "'PathPrefix'?");
}

}  // namespace
}  // namespace config
