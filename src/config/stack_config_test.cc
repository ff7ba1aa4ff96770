// burrow.yaml: the example stack parsed to its structure, and each kind of bad input refused
// with FILE:LINE: key.path and a hint (or warned about, for unknown keys).
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "base/base.h"
#include "config/config.h"

namespace config {
namespace {

const std::string kDir = BURROW_STACK_TEST_DATA;
// Inline stacks are named as if they sat beside the test data, so relative paths reach it.
const std::string kSource = kDir + "/inline.yaml";

std::string errorOf(std::string_view yaml) {
  auto stack = parseStack(yaml, kSource);
  EXPECT_FALSE(stack) << yaml;
  return stack ? "" : stack.error().message();
}

// The error must start with "inline.yaml:LINE: " and contain `part`.
void expectError(std::string_view yaml, int line, std::string_view part) {
  const std::string msg = errorOf(yaml);
  EXPECT_TRUE(msg.starts_with(fmt::format("{}:{}: ", kSource, line))) << msg;
  EXPECT_NE(msg.find(part), std::string::npos) << msg;
}

// Two exec services; `tail` goes on from line 6 (top level).
std::string twoServices(std::string_view tail = "") {
  return fmt::format(
      "services:\n"             // 1
      "  web:\n"                // 2
      "    exec: [/bin/web]\n"  // 3
      "  db:\n"                 // 4
      "    exec: [/bin/db]\n"   // 5
      "{}",
      tail);
}

// twoServices() with `lines` added to web, from line 4 on.
std::string webWith(std::string_view lines) {
  std::string yaml = twoServices();
  yaml.insert(yaml.find("  db:"), lines);
  return yaml;
}

TEST(Stack, IssueExampleParsesToItsStructure) {
  auto stack = loadStack(kDir + "/burrow.yaml");
  ASSERT_TRUE(stack) << stack.error().message();
  EXPECT_TRUE(stack->warnings.empty());
  EXPECT_EQ(stack->token_file, kDir + "/token");
  EXPECT_EQ(stack->pool, "10.77.0.0/16");

  ASSERT_EQ(stack->namespaces.size(), 1u);
  const NamespaceConfig& vpn = stack->namespaces[0];
  EXPECT_EQ(vpn.name, "vpn");
  EXPECT_EQ(vpn.line, 7);
  EXPECT_EQ(vpn.wireguard.interface, "wg-vpn");
  // Filled from provider.conf, found beside burrow.yaml.
  ASSERT_EQ(vpn.wireguard.peers.size(), 1u);
  EXPECT_EQ(vpn.wireguard.peers[0].endpoint, "198.51.100.20:51820");
  EXPECT_EQ(vpn.dns_servers, std::vector<std::string>{"10.64.0.1"});

  ASSERT_EQ(stack->services.size(), 3u);
  const StackService& photos = stack->services[0];
  EXPECT_EQ(photos.name, "photos");
  EXPECT_EQ(photos.line, 9);
  ASSERT_TRUE(photos.unit);
  EXPECT_EQ(photos.unit->name, "photos.service");
  ASSERT_NE(photos.unit->section("Service"), nullptr);
  EXPECT_EQ(photos.unit->section("Service")->entries[0].value, "/usr/bin/photoprism start");
  EXPECT_TRUE(photos.exec.empty());
  EXPECT_EQ(photos.network, StackNetwork::Private);
  EXPECT_TRUE(photos.pick_users);
  ASSERT_EQ(photos.binds.size(), 2u);
  EXPECT_EQ(photos.binds[0].source, kDir + "/photos");
  EXPECT_EQ(photos.binds[0].target, "/photos");
  EXPECT_TRUE(photos.binds[0].read_only);
  EXPECT_EQ(photos.binds[1].source, kDir + "/state");
  EXPECT_EQ(photos.binds[1].target, "/data");
  EXPECT_FALSE(photos.binds[1].read_only);
  EXPECT_EQ(photos.binds[1].line, 13);
  EXPECT_EQ(photos.connects, std::vector<std::string>{"db"});
  EXPECT_EQ(photos.after, std::vector<std::string>{"db"});
  EXPECT_FALSE(photos.ephemeral);

  const StackService* db = stack->service("db");
  ASSERT_NE(db, nullptr);
  EXPECT_FALSE(db->unit);
  EXPECT_EQ(db->exec,
            (std::vector<std::string>{"/usr/lib/postgresql/15/bin/postgres", "-D", "/data"}));
  ASSERT_EQ(db->sandbox.size(), 3u);
  EXPECT_EQ(db->sandbox[0].key, "User");
  EXPECT_EQ(db->sandbox[0].value, "postgres");
  EXPECT_EQ(db->sandbox[1].key, "ProtectSystem");
  EXPECT_EQ(db->sandbox[1].value, "strict");
  EXPECT_EQ(db->sandbox[2].key, "StateDirectory");
  EXPECT_EQ(db->sandbox[2].line, 18);
  EXPECT_EQ(db->network, StackNetwork::Private);
  EXPECT_FALSE(db->pick_users);
  EXPECT_FALSE(db->ephemeral);

  const StackService* torrent = stack->service("torrent");
  ASSERT_NE(torrent, nullptr);
  EXPECT_EQ(torrent->network, StackNetwork::Vpn);
  EXPECT_EQ(torrent->vpn, "vpn");
  EXPECT_EQ(torrent->binds_to, std::vector<std::string>{"db"});
  EXPECT_EQ(stack->service("nope"), nullptr);

  ASSERT_EQ(stack->routes.size(), 3u);
  EXPECT_EQ(stack->routes[0].hostname, "photos.example.net");
  EXPECT_EQ(stack->routes[0].service.kind, ServiceKind::Http);
  EXPECT_EQ(stack->routes[0].service.name, "photos");
  EXPECT_EQ(stack->routes[0].service.host, "");
  EXPECT_EQ(stack->routes[0].service.port, 2342);
  EXPECT_EQ(stack->routes[1].service.name, "torrent");
  EXPECT_EQ(stack->routes[1].line, 27);
  EXPECT_EQ(stack->routes[2].service.kind, ServiceKind::HttpStatus);
  EXPECT_EQ(stack->routes[2].service.status, 404);
}

TEST(Stack, DefaultsAndPlainRoutes) {
  auto stack = parseStack(twoServices("routes:\n"
                                      "  - hostname: a.example.net\n"
                                      "    service: http://[::1]:8080\n"
                                      "  - service: http_status:404\n"),
                          kSource);
  ASSERT_TRUE(stack) << stack.error().message();
  EXPECT_EQ(stack->pool, "10.77.0.0/16");
  EXPECT_EQ(stack->token_file, "");
  EXPECT_TRUE(stack->namespaces.empty());
  EXPECT_EQ(stack->services[0].network, StackNetwork::Private);
  EXPECT_FALSE(stack->services[0].pick_users);
  EXPECT_FALSE(stack->services[0].ephemeral);
  // Brackets with a ':' hold an IPv6 address, as in config.yml.
  EXPECT_EQ(stack->routes[0].service.host, "::1");
  EXPECT_EQ(stack->routes[0].service.name, "");

  auto bare = parseStack(twoServices(), kSource);
  ASSERT_TRUE(bare) << bare.error().message();
  EXPECT_TRUE(bare->routes.empty());
}

TEST(Stack, NetworkModes) {
  auto stack = parseStack(
      "services:\n"
      "  a: {exec: [/a], network: host}\n"
      "  b: {exec: [/b], network: none, ephemeral: true, users: none}\n",
      kSource);
  ASSERT_TRUE(stack) << stack.error().message();
  EXPECT_EQ(stack->services[0].network, StackNetwork::Host);
  EXPECT_EQ(stack->services[1].network, StackNetwork::None);
  EXPECT_TRUE(stack->services[1].ephemeral);
  expectError("services:\n  a: {exec: [/a], network: bridge}\n", 2,
              "services.a.network: expected private, host, none or vpn:NAME, got 'bridge'");
  expectError("services:\n  a: {exec: [/a], users: auto}\n", 2,
              "services.a.users: expected pick or none");
}

TEST(Stack, UnknownKeysWarnWithTheNearestKey) {
  auto stack = parseStack(
      "services:\n"
      "  web:\n"
      "    exec: [/bin/web]\n"
      "    netwrok: host\n"
      "volumes: {}\n",
      kSource);
  ASSERT_TRUE(stack) << stack.error().message();
  ASSERT_EQ(stack->warnings.size(), 2u);
  EXPECT_EQ(stack->warnings[0], kSource + ":5: unknown key 'volumes' ignored");
  EXPECT_EQ(stack->warnings[1],
            kSource + ":4: unknown key 'services.web.netwrok' ignored; did you mean 'network'?");
  // The misspelt key was ignored, so the default stands.
  EXPECT_EQ(stack->services[0].network, StackNetwork::Private);
}

TEST(Stack, NamespaceAndRouteWarningsAreKept) {
  auto stack = parseStack(
      "namespaces:\n"
      "  vpn: {wireguard: {interface: wg-vpn, configFile: provider.conf}, colour: red}\n"
      "services:\n"
      "  web: {exec: [/bin/web]}\n"
      "tunnel: {tokenFile: /etc/burrow/token}\n"
      "routes:\n"
      "  - service: http://[web]:80\n"
      "    comment: the only route\n",
      kSource);
  ASSERT_TRUE(stack) << stack.error().message();
  ASSERT_EQ(stack->warnings.size(), 2u);
  EXPECT_EQ(stack->warnings[0], kSource + ":2: unknown key 'namespaces.vpn.colour'");
  EXPECT_EQ(stack->warnings[1], kSource + ":8: route #1: unknown key 'comment' ignored");
  EXPECT_EQ(stack->token_file, "/etc/burrow/token");  // absolute paths stay as written
}

TEST(Stack, TheConnectorsAccessLogAndMetrics) {
  auto stack = parseStack(twoServices("tunnel:\n"
                                      "  accessLog: access.log\n"
                                      "  accessLogFormat: json\n"
                                      "  metrics: 127.0.0.1:2000\n"),
                          kSource);
  ASSERT_TRUE(stack) << stack.error().message();
  EXPECT_EQ(stack->access_log, kDir + "/access.log");  // beside the file, as tokenFile
  EXPECT_EQ(stack->access_log_format, "json");
  EXPECT_EQ(stack->metrics, "127.0.0.1:2000");
  expectError(twoServices("tunnel:\n  accessLog: /nonexistent/dir/access.log\n"), 7,
              "tunnel.accessLog: the directory /nonexistent/dir does not exist");
  expectError(twoServices("tunnel:\n  accessLog: a.log\n  accessLogFormat: xml\n"), 8,
              "tunnel.accessLogFormat: 'xml' is not a format: json or combined");
  expectError(twoServices("tunnel:\n  accessLogFormat: json\n"), 6,
              "tunnel.accessLogFormat needs tunnel.accessLog");
  expectError(twoServices("tunnel:\n  metrics: 0.0.0.0:2000\n"), 7, "tunnel.metrics: ");
}

TEST(Stack, ALoginAndNameInsteadOfATokenAndTheHostnamesItsRoutesNeed) {
  auto stack = parseStack(
      "services:\n"
      "  web: {exec: [/bin/web]}\n"
      "tunnel: {login: login.token, name: homelab}\n"
      "routes:\n"
      "  - hostname: Photos.Example.net\n"
      "    service: http://[web]:80\n"
      "  - rule: Host(`a.example.net`) || (Host(`b.example.net`) && PathPrefix(`/x`))\n"
      "    service: http://[web]:80\n"
      "  - rule: Host(`a.example.net`) && Method(`POST`)\n"
      "    service: http://[web]:80\n"
      "  - rule: HostRegexp(`^c`)\n"
      "    service: http://[web]:80\n"
      "  - service: http_status:404\n",
      kSource);
  ASSERT_TRUE(stack) << stack.error().message();
  EXPECT_EQ(stack->login_file, kDir + "/login.token");
  EXPECT_EQ(stack->tunnel_name, "homelab");
  EXPECT_EQ(stack->hostnames(),
            (std::vector<std::string>{"photos.example.net", "a.example.net", "b.example.net"}));
  expectError(twoServices("tunnel: {login: l.token}\n"), 6, "tunnel: login and name go together");
  expectError(twoServices("tunnel: {login: l.token, name: x, tokenFile: t}\n"), 6,
              "tunnel: give tokenFile (a tunnel's token) or login");
  expectError(twoServices("tunnel: {login: l.token, name: 'a b'}\n"), 6,
              "tunnel.name: 'a b' is not a tunnel name");
}

TEST(Stack, DuplicateKeysAreErrors) {
  expectError("services:\n  a: {exec: [/a]}\n  a: {exec: [/b]}\n", 3,
              "services: key 'a' appears twice");
}

TEST(Stack, UnknownServiceInConnects) {
  expectError(webWith("    connects: [dbb]\n"), 4,
              "services.web.connects: no service 'dbb' under services:; did you mean 'db'?");
}

TEST(Stack, UnknownServiceInAfter) {
  expectError(webWith("    after:\n      - db\n      - cache\n"), 6,
              "services.web.after: no service 'cache' under services: (services: web, db)");
}

TEST(Stack, UnknownServiceInBindsTo) {
  expectError(twoServices("  cache:\n    exec: [/bin/cache]\n    bindsTo: store\n"), 8,
              "services.cache.bindsTo: no service 'store'");
}

TEST(Stack, ServiceCannotNameItself) {
  expectError(webWith("    connects: [web]\n"), 4,
              "services.web.connects: 'web' names the service itself");
}

TEST(Stack, UnknownServiceInRoute) {
  expectError(twoServices("routes:\n"                         // 6
                          "  - hostname: a.example.net\n"     // 7
                          "    service: http://[wev]:8080\n"  // 8
                          "  - service: http_status:404\n"),  // 9
              8, "route #1: service: [wev] is not a service of this file; did you mean [web]?");
}

TEST(Stack, ConfigYmlRefusesServiceNames) {
  auto cfg = parseTunnelConfig("ingress:\n  - service: http://[web]:8080\n", "config.yml");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().message(),
            "config.yml:2: ingress rule #1: 'http://[web]:8080': 'web' is not an IPv6 address");
}

TEST(Stack, VpnNetworkNeedsANamespace) {
  expectError(
      "namespaces:\n"
      "  vpn: {wireguard: {interface: wg-vpn, configFile: provider.conf}}\n"
      "services:\n"
      "  torrent:\n"
      "    exec: [/bin/torrent]\n"
      "    network: vpn:vpm\n",
      6, "services.torrent.network: no namespace 'vpm' under namespaces:; did you mean 'vpn'?");
  expectError("services:\n  t: {exec: [/t], network: 'vpn:x'}\n", 2,
              "no namespace 'x' under namespaces: (namespaces: none)");
}

TEST(Stack, NamespacesAreCheckedAsNetnsFilesAre) {
  // The same message `burrow netns` gives for this namespace, from the same code.
  expectError(
      "namespaces:\n"
      "  vpn:\n"
      "    wireguard: {interface: wg-vpn, configFile: provider.conf}\n"
      "    egress: {mode: allowList, allowedCidrs: [10.0.0.0/33]}\n",
      4, "namespaces.vpn.egress.allowedCidrs: '10.0.0.0/33' is not a CIDR");
  expectError("namespaces:\n  -bad: {}\n", 2, "namespaces.-bad: namespace name '-bad' is invalid");
}

TEST(Stack, AfterCycleIsNamed) {
  expectError(
      "services:\n"
      "  a: {exec: [/a], after: [b]}\n"
      "  b: {exec: [/b], after: [c]}\n"
      "  c: {exec: [/c], after: [a]}\n"
      "  d: {exec: [/d], after: [a]}\n",
      4, "services.c.after: the services wait for each other: a -> b -> c -> a");
}

TEST(Stack, AfterWithoutCycleIsFine) {
  auto stack = parseStack(
      "services:\n"
      "  a: {exec: [/a], after: [b, c]}\n"
      "  b: {exec: [/b], after: [c]}\n"
      "  c: {exec: [/c]}\n",
      kSource);
  ASSERT_TRUE(stack) << stack.error().message();
  EXPECT_EQ(stack->services[0].after, (std::vector<std::string>{"b", "c"}));
}

TEST(Stack, MissingBindSource) {
  expectError(webWith("    binds: [photos:/photos, \"nothing-here:/x:ro\"]\n"), 4,
              "services.web.binds: the source " + kDir + "/nothing-here does not exist");
}

TEST(Stack, BadBindShape) {
  expectError(webWith("    binds: [\"photos:/p:rw\"]\n"), 4,
              "services.web.binds: 'photos:/p:rw' is not SRC:DST or SRC:DST:ro");
  expectError(webWith("    binds: [\"photos:p\"]\n"), 4, "the target 'p' must be an absolute path");
}

TEST(Stack, PoolMustBeAnIpv4Cidr) {
  expectError("network:\n  pool: 10.77.0.0\n", 2,
              "network.pool: '10.77.0.0' is not an IPv4 CIDR (ADDRESS/PREFIX, e.g. 10.77.0.0/16)");
  expectError("network:\n  pool: fd00::/64\n", 2, "is not an IPv4 CIDR");
  expectError("network:\n  pool: 10.77.0.0/33\n", 2, "is not an IPv4 CIDR");
  expectError("network:\n  pool: 10.77.1.0/16\n", 2,
              "network.pool: '10.77.1.0/16' has host bits set; did you mean 10.77.0.0/16?");
}

TEST(Stack, PoolMustHoldALinkForEachPrivateService) {
  // A /29 holds two /30 links: two private services fit, a host one takes none.
  auto fits = parseStack(twoServices("  h: {exec: [/h], network: host}\n"
                                     "network: {pool: 10.0.0.0/29}\n"),
                         kSource);
  ASSERT_TRUE(fits) << fits.error().message();
  expectError(twoServices("  c: {exec: [/c]}\n"      // 6
                          "network:\n"               // 7
                          "  pool: 10.0.0.0/29\n"),  // 8
              8, "network.pool: 10.0.0.0/29 holds 2 /30 links and 3 services use network: private");
}

TEST(Stack, UnitAndExecBothOrNeither) {
  expectError(
      "services:\n"
      "  web:\n"
      "    unit: units/photos.service\n"
      "    exec: [/bin/web]\n",
      4, "services.web.exec: unit: is set too; give the service one of unit: or exec:");
  expectError("services:\n  web:\n    users: pick\n", 2,
              "services.web: nothing to run; give it unit: (a unit file) or exec: (a command)");
}

TEST(Stack, UnitThatDoesNotParseNamesItsFileAndLine) {
  expectError("services:\n  web:\n    unit: units/broken.service\n", 3,
              "services.web.unit: " + kDir +
                  "/units/broken.service:4: expected Key=Value, got 'this line is not an "
                  "assignment'");
  expectError("services:\n  web:\n    unit: units/missing.service\n", 3, "services.web.unit: ");
  expectError("services:\n  web:\n    unit: units/no-exec.service\n", 3,
              "units/no-exec.service has no ExecStart= in a [Service] section");
}

TEST(Stack, RoutesMustEndInACatchAll) {
  expectError(twoServices("routes:\n"                         // 6
                          "  - hostname: a.example.net\n"     // 7
                          "    service: http://[web]:80\n"),  // 8
              7, "route #1: the last route must match all URLs");
  expectError(twoServices("routes: []\n"), 6, "routes: the list is empty");
}

TEST(Stack, SandboxEntriesKeepTheirLines) {
  auto stack = parseStack(
      "services:\n"
      "  web:\n"
      "    exec: [/bin/web]\n"
      "    sandbox:\n"
      "      SystemCallFilter: ['@system-service', '~@privileged']\n"
      "      NoNewPrivileges: true\n",
      kSource);
  ASSERT_TRUE(stack) << stack.error().message();
  const auto& sandbox = stack->services[0].sandbox;
  ASSERT_EQ(sandbox.size(), 3u);
  EXPECT_EQ(sandbox[1].key, "SystemCallFilter");
  EXPECT_EQ(sandbox[1].value, "~@privileged");
  EXPECT_EQ(sandbox[2].value, "true");
  EXPECT_EQ(sandbox[2].line, 6);
  EXPECT_EQ(sandbox[2].file, kSource);
  expectError("services:\n  web:\n    exec: [/w]\n    sandbox: {Bad=Key: x}\n", 4,
              "services.web.sandbox: 'Bad=Key' is not a [Service] directive name");
}

TEST(Stack, StructureErrors) {
  expectError("", 1, "the file is empty");
  expectError("- a\n", 1, "expected a mapping of keys");
  expectError("services:\n  web: /bin/web\n", 2, "services.web: expected a mapping");
  expectError("services:\n  'a b': {exec: [/a]}\n", 2, "service name 'a b' is invalid");
  expectError("services:\n  connector: {exec: [/a]}\n", 2,
              "services.connector: service name 'connector' is the stack's own");
  expectError("services:\n  dashboard: {exec: [/a]}\n", 2,
              "service name 'dashboard' is the stack's own");
  expectError("services:\n  web: {exec: []}\n", 2, "services.web.exec: expected the command");
  expectError("services:\n  web: {exec: [/w], ephemeral: maybe}\n", 2,
              "services.web.ephemeral: expected true or false, got 'maybe'");
  expectError("services: [a, b]\n", 1, "services: expected a mapping, got a list");
  expectError("services:\n  web: {exec: [/w]\n", 3, "invalid YAML");
}

TEST(Stack, LoadNamesTheMissingFile) {
  auto stack = loadStack(kDir + "/no-such-burrow.yaml");
  ASSERT_FALSE(stack);
  EXPECT_NE(stack.error().message().find("no-such-burrow.yaml"), std::string::npos);
}

}  // namespace
}  // namespace config
