// The dashboard's pages from snapshots, and where it may listen.
#include <gtest/gtest.h>

#include "admin/admin.h"
#include "base/base.h"

namespace admin {
namespace {

constexpr const char* kSnapshot = R"({
  "now": 1764936000, "started": 1764935000,
  "tunnels": [
    {"name": "home", "id": "6b1c2d5e-0000-4000-8000-000000000001", "created": 1764930000,
     "hostnames": ["photos.example.net"],
     "connections": [{"connector_id": "abcdef0123456789", "connection_id": "c1", "index": 0,
                      "peer": "192.0.2.7:51234", "since": 1764935700,
                      "version": "burrow 0.1.0"},
                     {"connector_id": "99ef", "connection_id": "c2", "index": 1,
                      "peer": "192.0.2.8:4000", "since": 1764935700}],
     "traffic": {"rps": 12.5, "requests_hour": 750, "errors_hour": 2,
                 "requests": [10, 20, 30], "errors": [0, 2, 0]}},
    {"name": "<script>alert(1)</script>", "id": "x", "hostnames": [], "connections": []}
  ],
  "routes": [{"hostname": "photos.example.net", "tunnel": "home", "kind": "http"}],
  "certificates": [{"hostname": "photos.example.net", "issuer": "Pebble", "not_after": 1765000000,
                    "error": ""}],
  "recent_errors": [{"time": 1764935990, "tunnel": "home", "status": 502, "method": "GET",
                     "host": "photos.example.net", "target": "/a?b=\"c\"", "client": "198.51.100.1"}]
})";

TEST(Dashboard, EdgePageShowsTunnelsConnectorsRoutesCertificatesAndErrors) {
  std::string page = renderPage(Kind::Edge, kSnapshot);
  EXPECT_EQ(page.rfind("<!doctype html>", 0), 0u);
  EXPECT_NE(page.find("<tr data-tunnel=\"home\"><td><b>home</b>"), std::string::npos) << page;
  EXPECT_NE(page.find("192.0.2.7:51234 <small>#0 · up 5 min · connector abcdef01 · "
                      "<span class=\"ver\">burrow 0.1.0</span></small>"),
            std::string::npos)
      << page;
  // A connector older than the version field.
  EXPECT_NE(page.find("connector 99ef · <span class=\"ver\">version unknown</span>"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("<td class=\"n\">12.5</td><td class=\"n bad\">2</td>"), std::string::npos);
  EXPECT_NE(page.find("<polyline"), std::string::npos);
  EXPECT_NE(page.find("<span class=\"down\">no connector</span>"), std::string::npos);
  EXPECT_NE(page.find("<td>photos.example.net</td><td>home</td><td>http</td>"), std::string::npos);
  EXPECT_NE(page.find("<td>Pebble</td>"), std::string::npos);
  EXPECT_NE(page.find("<td class=\"n bad\">502</td>"), std::string::npos);
  // Nothing from the snapshot reaches the page unescaped.
  EXPECT_EQ(page.find("<script>alert"), std::string::npos);
  EXPECT_NE(page.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(page.find("/a?b=&quot;c&quot;"), std::string::npos);
  // Without JavaScript it refreshes itself; with it, the live script.
  EXPECT_NE(page.find("<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>"),
            std::string::npos);
  EXPECT_NE(page.find("<script src=\"/assets/dashboard.js\" defer></script>"), std::string::npos);
}

TEST(Dashboard, AnEmptyOrBrokenSnapshotStillRenders) {
  for (const char* s : {"{}", "not json", "[]", R"({"tunnels": 3, "routes": [1, "x"]})"}) {
    std::string main = renderMain(Kind::Edge, s);
    EXPECT_EQ(main.rfind("<main id=\"main\">", 0), 0u) << s;
    EXPECT_NE(main.find("No tunnels"), std::string::npos) << s;
  }
}

constexpr const char* kStack = R"({
  "now": 1764936000, "running": true, "supervisor": 41, "file": "/srv/burrow.yaml",
  "admin": "127.0.0.1:9000",
  "services": [
    {"name": "photos", "state": "running", "pid": 42, "address": "10.77.0.2",
     "network": "private", "restarts": 1, "started": 1764935700, "last_exit": "signal KILL",
     "exposure": 2.1, "band": "OK", "worst": ["PrivateUsers= no user namespace"],
     "log": ["listening on :8000", "GET / 200 <b>"]},
    {"name": "<img src=x>", "state": "restarting", "pid": 0, "address": "",
     "network": "vpn:vpn", "restarts": 3, "started": 0, "last_exit": "exit code 1",
     "exposure": 1.0, "band": "SAFE", "worst": [], "log": []}
  ],
  "connector": {"name": "connector", "state": "running", "pid": 43, "network": "-",
                "restarts": 0, "started": 1764935700},
  "dashboard": null,
  "routes": [{"hostname": "photos.example.net", "path": "", "rule": "", "service": "photos",
              "target": "http://10.77.0.2:8000", "middlewares": ["auth", "headers"]},
             {"hostname": "", "path": "", "rule": "", "service": "", "target": "http_status:404",
              "middlewares": []}],
  "namespaces": [{"name": "vpn", "state": "up", "last_handshake": 1764935990,
                  "rx_bytes": 1536, "tx_bytes": 3221225472}]
})";

TEST(Dashboard, StackPageShowsServicesRoutesNamespacesLogsAndTheGraph) {
  std::string page = renderPage(Kind::Stack, kStack);
  EXPECT_NE(page.find("<title>burrow stack</title>"), std::string::npos);
  EXPECT_NE(page.find("<tr data-service=\"photos\"><td><b>photos</b></td><td class=\"state "
                      "up\">running</td><td class=\"n\">42</td><td>10.77.0.2</td>"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("<b>2.1</b> OK<div class=\"finding\">PrivateUsers= no user namespace"),
            std::string::npos);
  EXPECT_NE(page.find("<td class=\"state warn\">restarting</td>"), std::string::npos);
  EXPECT_NE(page.find("<tr data-service=\"connector\" class=\"own\">"), std::string::npos);
  EXPECT_NE(page.find("<span class=\"tag\">auth</span> <span class=\"tag\">headers</span>"),
            std::string::npos);
  EXPECT_NE(page.find("<td>10 s ago</td><td class=\"n\">1.5 KiB</td><td class=\"n\">3.0 "
                      "GiB</td>"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("<pre data-log=\"photos\">listening on :8000\nGET / 200 &lt;b&gt;\n"),
            std::string::npos);
  // The graph: a box per node, and a line from each route to its service.
  for (const char* node :
       {"edge", "connector", "route0", "route1", "svc:photos", "net:private", "net:vpn:vpn"})
    EXPECT_NE(page.find(std::string("data-node=\"") + node + "\""), std::string::npos) << node;
  EXPECT_NE(page.find("<g class=\"node up\" data-node=\"net:vpn:vpn\">"), std::string::npos);
  EXPECT_EQ(page.find("<img src=x>"), std::string::npos);
  EXPECT_NE(page.find("&lt;img src=x&gt;"), std::string::npos);
}

TEST(Dashboard, ActionsAreFormsWithTheTokenAndOnlyWhenAsked) {
  // Read-only: no form at all.
  EXPECT_EQ(renderPage(Kind::Stack, kStack).find("<form"), std::string::npos);
  Controls c{"0123abcd", {"2026-12-05T19:30:00Z restart photos: <done>"}};
  std::string page = renderPage(Kind::Stack, kStack, &c);
  const std::string token = "<input type=\"hidden\" name=\"csrf\" value=\"0123abcd\">";
  EXPECT_NE(page.find("<form method=\"post\" action=\"/api/actions\" class=\"act\">" + token +
                      "<input type=\"hidden\" name=\"target\" value=\"photos\">"
                      "<button name=\"action\" value=\"restart\">restart</button></form>"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("value=\"connector\"><button name=\"action\" value=\"drain\">drain"),
            std::string::npos);
  EXPECT_NE(page.find("<button name=\"action\" value=\"reload\">reload the stack</button>"),
            std::string::npos);
  EXPECT_NE(page.find("<li>2026-12-05T19:30:00Z restart photos: &lt;done&gt;</li>"),
            std::string::npos);
  // A service's name is escaped in its form as everywhere.
  EXPECT_NE(page.find("value=\"&lt;img src=x&gt;\"><button"), std::string::npos);
  EXPECT_EQ(page.find("<img src=x>"), std::string::npos);
  // The edge's page has no actions.
  EXPECT_EQ(renderPage(Kind::Edge, kSnapshot, &c).find("<form"), std::string::npos);
}

TEST(Dashboard, AStackThatIsNotUpSaysSo) {
  for (const char* s : {"{}", "not json", R"({"running": "yes", "services": 3})",
                        R"({"services": [1, "x", {"name": 5}], "routes": [null]})"}) {
    std::string main = renderMain(Kind::Stack, s);
    EXPECT_EQ(main.rfind("<main id=\"main\">", 0), 0u) << s;
    EXPECT_TRUE(main.find("No stack is up") != std::string::npos ||
                main.find("No supervisor runs") != std::string::npos)
        << s;
  }
}

TEST(Dashboard, ListensOnLoopbackOnly) {
  EXPECT_TRUE(checkAddress("127.0.0.1:0"));
  EXPECT_TRUE(checkAddress("[::1]:9000"));
  EXPECT_TRUE(checkAddress("localhost:9000"));
  for (const char* a : {"0.0.0.0:9000", ":9000", "192.0.2.1:9000", "[::]:9000"}) {
    auto r = checkAddress(a);
    ASSERT_FALSE(r) << a;
    EXPECT_NE(r.error().message().find("not a loopback address"), std::string::npos) << a;
    EXPECT_NE(r.error().message().find("--admin-users FILE"), std::string::npos) << a;
    EXPECT_TRUE(checkAddress(a, /*login=*/true)) << a;
  }
  EXPECT_FALSE(checkAddress("127.0.0.1"));  // no port
  EXPECT_FALSE(checkAddress("127.0.0.1", /*login=*/true));
}

TEST(Dashboard, ALoginIsBasicAuthThenTheAccessPortal) {
  auto none = loadLogin("127.0.0.1:0", "", "");
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, nullptr);

  const std::string dir = ::testing::TempDir();
  const std::string users = dir + "/admin-users";
  // "secret" by htpasswd -nbs (SHA1).
  ASSERT_TRUE(base::writeFileAtomic(
      users, "# the admins\nalice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n", 0600));
  auto both = loadLogin("192.0.2.1:9000", users, "http://127.0.0.1:9091");
  ASSERT_TRUE(both) << both.error().message();
  ASSERT_EQ((*both)->run.size(), 2u);
  EXPECT_EQ((*both)->run[0]->kind, config::MiddlewareKind::BasicAuth);
  EXPECT_EQ((*both)->run[0]->basic.users.at(0).name, "alice");
  EXPECT_EQ((*both)->run[0]->basic.header_field, "remote-user");
  EXPECT_EQ((*both)->run[1]->kind, config::MiddlewareKind::ForwardAuth);
  EXPECT_EQ((*both)->run[1]->forward.address, "http://127.0.0.1:9091/api/authz/forward-auth");

  struct Bad {
    std::string users, portal, says;
  };
  const std::string empty = dir + "/admin-users-empty", broken = dir + "/admin-users-broken";
  ASSERT_TRUE(base::writeFileAtomic(empty, "# nobody yet\n", 0600));
  ASSERT_TRUE(
      base::writeFileAtomic(broken, "alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\nbob\n", 0600));
  for (const Bad& b : std::vector<Bad>{
           {dir + "/no-such-file", "", "--admin-users " + dir + "/no-such-file"},
           {empty, "", "names no user"},
           {broken, "", "--admin-users " + broken + ":2: expected user:hash"},
           {"", "unix:/run/auth.sock", "--admin-access unix:/run/auth.sock: expected the http://"},
           {"", "nonsense", "--admin-access nonsense"}}) {
    auto r = loadLogin("127.0.0.1:0", b.users, b.portal);
    ASSERT_FALSE(r) << b.users << b.portal;
    EXPECT_NE(r.error().message().find(b.says), std::string::npos) << r.error().message();
  }
}

}  // namespace
}  // namespace admin
