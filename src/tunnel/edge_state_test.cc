#include "tunnel/edge_state.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "base/base.h"
#include "tunnel/token.h"

namespace tunnel {
namespace {

// A fresh directory per test, removed afterwards. The state lives one level down so that
// open() has to create it.
class EdgeStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/burrow-edge-state-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/state";
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  EdgeState openOrDie() {
    auto st = EdgeState::open(dir_);
    EXPECT_TRUE(st) << st.error().message();
    return st ? std::move(*st) : EdgeState();
  }

  static unsigned modeOf(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }

  std::string root_;
  std::string dir_;
};

const std::string kSecret(kSecretSize, 's');

TEST_F(EdgeStateTest, OpenCreatesPrivateDirectoryAndStartsEmpty) {
  EdgeState st = openOrDie();
  EXPECT_EQ(modeOf(dir_), 0700u);
  EXPECT_TRUE(st.tunnels().empty());
  EXPECT_TRUE(st.routes().empty());
  EXPECT_EQ(st.lastTunnelAddr(), "");
  EXPECT_EQ(st.statePath(), dir_ + "/state.json");
}

TEST_F(EdgeStateTest, OpenTightensAnExistingDirectory) {
  ASSERT_EQ(::mkdir(dir_.c_str(), 0755), 0);
  openOrDie();
  EXPECT_EQ(modeOf(dir_), 0700u);
}

TEST_F(EdgeStateTest, AddFindAndRemoveTunnels) {
  EdgeState st = openOrDie();
  auto home = st.addTunnel("home", kSecret);
  ASSERT_TRUE(home) << home.error().message();
  EXPECT_TRUE(isUuid(home->id));
  EXPECT_EQ(home->name, "home");
  EXPECT_EQ(home->secret_sha256, secretSha256(kSecret));
  EXPECT_EQ(home->secret_sha256.size(), 64u);
  EXPECT_GT(home->created_unix, 1600000000);
  auto lab = st.addTunnel("lab.v2_x-y", base::randomBytes(kSecretSize));
  ASSERT_TRUE(lab) << lab.error().message();
  EXPECT_NE(lab->id, home->id);
  EXPECT_EQ(st.tunnels().size(), 2u);

  ASSERT_NE(st.findTunnel("home"), nullptr);
  EXPECT_EQ(st.findTunnel("home")->id, home->id);
  ASSERT_NE(st.findTunnel(lab->id), nullptr);
  EXPECT_EQ(st.findTunnel(lab->id)->name, "lab.v2_x-y");
  EXPECT_EQ(st.findTunnel("nope"), nullptr);

  ASSERT_TRUE(st.removeTunnel("home"));
  EXPECT_EQ(st.findTunnel("home"), nullptr);
  ASSERT_TRUE(st.removeTunnel(lab->id));
  EXPECT_TRUE(st.tunnels().empty());
  auto gone = st.removeTunnel("home");
  ASSERT_FALSE(gone);
  EXPECT_NE(gone.error().message().find("home"), std::string::npos);
}

TEST_F(EdgeStateTest, RejectsDuplicateAndInvalidNames) {
  EdgeState st = openOrDie();
  ASSERT_TRUE(st.addTunnel("home", kSecret));
  auto dup = st.addTunnel("home", kSecret);
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message().find("already exists"), std::string::npos);
  for (std::string bad : {std::string(), std::string(65, 'a'), std::string("has space"),
                          std::string("slash/no"), std::string("üml"), base::randomUuid()}) {
    EXPECT_FALSE(st.addTunnel(bad, kSecret)) << bad;
  }
  EXPECT_TRUE(st.addTunnel(std::string(64, 'a'), kSecret));
  EXPECT_FALSE(st.addTunnel("short-secret", "abc"));
}

TEST_F(EdgeStateTest, Authenticate) {
  EdgeState st = openOrDie();
  auto t = st.addTunnel("home", kSecret);
  ASSERT_TRUE(t);
  EXPECT_EQ(st.authenticate(t->id, kSecret), Verdict::Accepted);
  std::string wrong = kSecret;
  wrong.back() = 't';
  EXPECT_EQ(st.authenticate(t->id, wrong), Verdict::BadSecret);
  EXPECT_EQ(st.authenticate(t->id, ""), Verdict::BadSecret);
  EXPECT_EQ(st.authenticate(base::randomUuid(), kSecret), Verdict::UnknownTunnel);
  // Names are for people; registration is by id only.
  EXPECT_EQ(st.authenticate("home", kSecret), Verdict::UnknownTunnel);
}

TEST_F(EdgeStateTest, ExactAndWildcardRoutes) {
  EdgeState st = openOrDie();
  auto a = st.addTunnel("a", kSecret);
  auto b = st.addTunnel("b", kSecret);
  auto c = st.addTunnel("c", kSecret);
  ASSERT_TRUE(a && b && c);
  ASSERT_TRUE(st.addRoute("a", "*.Example.NET"));
  ASSERT_TRUE(st.addRoute("b", "app.example.net"));
  ASSERT_TRUE(st.addRoute("c", "*.deep.example.net"));
  EXPECT_EQ(st.routes().front().hostname, "*.example.net");  // stored lowercase

  EXPECT_EQ(st.routeFor("app.example.net"), b->id);   // exact beats wildcard
  EXPECT_EQ(st.routeFor("APP.Example.net"), b->id);   // any case
  EXPECT_EQ(st.routeFor("app.example.net."), b->id);  // trailing dot
  EXPECT_EQ(st.routeFor("x.example.net"), a->id);
  EXPECT_EQ(st.routeFor("x.y.z.example.net"), a->id);   // any depth
  EXPECT_EQ(st.routeFor("x.deep.example.net"), c->id);  // longest zone wins
  EXPECT_EQ(st.routeFor("y.x.deep.example.net"), c->id);
  EXPECT_EQ(st.routeFor("deep.example.net"), a->id);    // apex of *.deep -> *.example.net
  EXPECT_EQ(st.routeFor("example.net"), std::nullopt);  // apex never matches
  EXPECT_EQ(st.routeFor("notexample.net"), std::nullopt);
  EXPECT_EQ(st.routeFor("other.org"), std::nullopt);
  EXPECT_EQ(st.routeFor(""), std::nullopt);
}

TEST_F(EdgeStateTest, RoutesAreIdempotentAndConflictsNameTheOwner) {
  EdgeState st = openOrDie();
  ASSERT_TRUE(st.addTunnel("home", kSecret));
  ASSERT_TRUE(st.addTunnel("lab", kSecret));
  ASSERT_TRUE(st.addRoute("home", "app.example.net"));
  ASSERT_TRUE(st.addRoute("home", "APP.example.net"));
  EXPECT_EQ(st.routes().size(), 1u);
  auto clash = st.addRoute("lab", "app.example.net");
  ASSERT_FALSE(clash);
  EXPECT_NE(clash.error().message().find("home"), std::string::npos) << clash.error().message();
  auto nobody = st.addRoute("ghost", "x.example.net");
  ASSERT_FALSE(nobody);
  EXPECT_NE(nobody.error().message().find("ghost"), std::string::npos);
}

TEST_F(EdgeStateTest, RemovingATunnelRemovesItsRoutes) {
  EdgeState st = openOrDie();
  auto home = st.addTunnel("home", kSecret);
  auto lab = st.addTunnel("lab", kSecret);
  ASSERT_TRUE(home && lab);
  ASSERT_TRUE(st.addRoute("home", "a.example.net"));
  ASSERT_TRUE(st.addRoute("home", "*.example.org"));
  ASSERT_TRUE(st.addRoute("lab", "lab.example.net"));
  ASSERT_TRUE(st.removeTunnel("home"));
  ASSERT_EQ(st.routes().size(), 1u);
  EXPECT_EQ(st.routes()[0].hostname, "lab.example.net");
  EXPECT_EQ(st.routeFor("a.example.net"), std::nullopt);
  EXPECT_EQ(st.routeFor("lab.example.net"), lab->id);
}

TEST_F(EdgeStateTest, TcpRoutesNeedARoutedExactHostnameAndAFreePort) {
  EdgeState st = openOrDie();
  ASSERT_TRUE(st.addTunnel("home", kSecret));
  ASSERT_TRUE(st.addRoute("home", "ssh.example.net"));
  ASSERT_TRUE(st.addRoute("home", "*.lab.example.net"));
  ASSERT_TRUE(st.addTcpRoute("SSH.example.net", 2222));
  ASSERT_TRUE(st.addTcpRoute("ssh.example.net", 2222));     // the same pair: no change
  ASSERT_TRUE(st.addTcpRoute("pi.lab.example.net", 2223));  // routed by the wildcard
  ASSERT_EQ(st.tcpRoutes().size(), 2u);
  EXPECT_EQ(st.tcpRoutes()[0].hostname, "ssh.example.net");
  EXPECT_EQ(st.tcpRoutes()[0].port, 2222);

  auto taken = st.addTcpRoute("pi.lab.example.net", 2222);
  ASSERT_FALSE(taken);
  EXPECT_NE(taken.error().message().find("port 2222 is already carried to ssh.example.net"),
            std::string::npos)
      << taken.error().message();
  auto unrouted = st.addTcpRoute("other.example.net", 2224);
  ASSERT_FALSE(unrouted);
  EXPECT_NE(unrouted.error().message().find("other.example.net is not routed"), std::string::npos)
      << unrouted.error().message();
  EXPECT_FALSE(st.addTcpRoute("*.lab.example.net", 2224));
  EXPECT_FALSE(st.addTcpRoute("ssh.example.net", 0));
  EXPECT_EQ(st.tcpRoutes().size(), 2u);

  ASSERT_TRUE(st.removeTcpRoute(2223));
  auto gone = st.removeTcpRoute(2223);
  ASSERT_FALSE(gone);
  EXPECT_NE(gone.error().message().find("no TCP route on port 2223"), std::string::npos);
  EXPECT_EQ(st.tcpRoutes().size(), 1u);
}

TEST_F(EdgeStateTest, TcpRoutesGoWithTheirHostnameRouteOrTunnel) {
  EdgeState st = openOrDie();
  ASSERT_TRUE(st.addTunnel("home", kSecret));
  ASSERT_TRUE(st.addTunnel("lab", kSecret));
  ASSERT_TRUE(st.addRoute("home", "ssh.example.net"));
  ASSERT_TRUE(st.addRoute("lab", "*.lab.example.net"));
  ASSERT_TRUE(st.addTcpRoute("ssh.example.net", 2222));
  ASSERT_TRUE(st.addTcpRoute("pi.lab.example.net", 2223));
  ASSERT_TRUE(st.removeRoute("ssh.example.net"));
  ASSERT_EQ(st.tcpRoutes().size(), 1u);
  EXPECT_EQ(st.tcpRoutes()[0].port, 2223);
  ASSERT_TRUE(st.removeTunnel("lab"));
  EXPECT_TRUE(st.tcpRoutes().empty());
}

TEST_F(EdgeStateTest, TcpRoutesAndListenAddressPersist) {
  {
    EdgeState st = openOrDie();
    ASSERT_TRUE(st.addTunnel("home", kSecret));
    ASSERT_TRUE(st.addRoute("home", "ssh.example.net"));
    ASSERT_TRUE(st.addTcpRoute("ssh.example.net", 2222));
    st.setLastListenAddr("192.0.2.1:80");
    ASSERT_TRUE(st.save());
  }
  EdgeState st = openOrDie();
  ASSERT_EQ(st.tcpRoutes().size(), 1u);
  EXPECT_EQ(st.tcpRoutes()[0].hostname, "ssh.example.net");
  EXPECT_EQ(st.tcpRoutes()[0].port, 2222);
  EXPECT_EQ(st.lastListenAddr(), "192.0.2.1:80");
}

TEST(TcpPort, DigitsFromOneTo65535) {
  EXPECT_EQ(parseTcpPort("1").value(), 1);
  EXPECT_EQ(parseTcpPort("65535").value(), 65535);
  for (const char* bad : {"", "0", "65536", "-1", "22x", " 22", "+22"}) {
    auto r = parseTcpPort(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message().find("is not a port (1 to 65535)"), std::string::npos);
  }
}

TEST(RouteHostname, NormalisesAndExplainsRejections) {
  EXPECT_EQ(*normalizeRouteHostname("App.Example.NET"), "app.example.net");
  EXPECT_EQ(*normalizeRouteHostname("*.example.net"), "*.example.net");
  EXPECT_EQ(*normalizeRouteHostname("x-1.a"), "x-1.a");
  struct Case {
    const char* host;
    const char* why;
  };
  for (Case c : {Case{"", "empty"}, Case{"*", "alone"}, Case{"app.example.net:443", "port"},
                 Case{"a.*.example.net", "first label"}, Case{"*a.example.net", "first label"},
                 Case{"*.*.example.net", "first label"}, Case{"*.", "empty label"},
                 Case{"a..b", "empty label"}, Case{".a", "empty label"},
                 Case{"a.b.", "empty label"}, Case{"under_score.net", "invalid character"},
                 Case{"sp ace.net", "invalid character"}, Case{"a/b", "invalid character"}}) {
    auto r = normalizeRouteHostname(c.host);
    ASSERT_FALSE(r) << c.host;
    EXPECT_NE(r.error().message().find(c.why), std::string::npos)
        << c.host << ": " << r.error().message();
  }
  EXPECT_FALSE(normalizeRouteHostname(std::string(64, 'a') + ".net"));
  EXPECT_FALSE(normalizeRouteHostname(std::string(300, 'a')));
}

TEST_F(EdgeStateTest, PersistsAcrossReopenWithPrivateFileMode) {
  std::string home_id;
  {
    EdgeState st = openOrDie();
    auto home = st.addTunnel("home", kSecret);
    ASSERT_TRUE(home);
    home_id = home->id;
    ASSERT_TRUE(st.addRoute("home", "*.example.net"));
    st.setLastTunnelAddr("vps.example.net:7844");
    ASSERT_TRUE(st.save());
  }
  EXPECT_EQ(modeOf(dir_ + "/state.json"), 0600u);
  EXPECT_EQ(modeOf(dir_), 0700u);
  auto text = base::readFile(dir_ + "/state.json");
  ASSERT_TRUE(text);
  EXPECT_EQ(text->find(kSecret), std::string::npos);  // only the hash is stored
  EXPECT_NE(text->find("\"version\": 1"), std::string::npos);

  EdgeState again = openOrDie();
  ASSERT_EQ(again.tunnels().size(), 1u);
  EXPECT_EQ(again.tunnels()[0].id, home_id);
  EXPECT_EQ(again.tunnels()[0].name, "home");
  EXPECT_EQ(again.lastTunnelAddr(), "vps.example.net:7844");
  EXPECT_EQ(again.routeFor("a.example.net"), home_id);
  EXPECT_EQ(again.authenticate(home_id, kSecret), Verdict::Accepted);
}

TEST_F(EdgeStateTest, CorruptStateIsAnErrorNamingTheFile) {
  openOrDie();
  const std::string path = dir_ + "/state.json";
  struct Case {
    const char* text;
    const char* why;
  };
  for (
      Case c :
      {Case{"{not json", "not valid JSON"}, Case{"[]", "not a JSON object"},
       Case{R"({"tunnels":[]})", "version"}, Case{R"({"version":2})", "unsupported version"},
       Case{R"({"version":1,"tunnels":{}})", "tunnels"},
       Case{R"({"version":1,"tunnels":[{"id":"x","name":"a","secret_sha256":"","created":1}]})",
            "tunnels[0]"},
       Case{
           R"({"version":1,"routes":[{"hostname":"a.net","tunnel_id":"01234567-89ab-cdef-0123-456789abcdef"}]})",
           "routes[0]"},
       Case{R"({"version":1,"tcp_routes":[{"hostname":"a.net","port":22}]})",
            "tcp_routes[0]: hostname a.net is not routed"},
       Case{R"({"version":1,"tcp_routes":[{"hostname":"a.net","port":0}]})",
            "tcp_routes[0]: \"port\" is not an integer from 1 to 65535"},
       Case{R"({"version":1,"tcp_routes":{}})", "\"tcp_routes\" is not an array"}}) {
    ASSERT_TRUE(base::writeFileAtomic(path, c.text, 0600));
    auto st = EdgeState::open(dir_);
    ASSERT_FALSE(st) << c.text;
    EXPECT_NE(st.error().message().find(path), std::string::npos) << st.error().message();
    EXPECT_NE(st.error().message().find(c.why), std::string::npos) << st.error().message();
  }
}

TEST_F(EdgeStateTest, EnsureIdentityMakesKeyOnceAndReturnsStablePin) {
  EdgeState st = openOrDie();
  auto pin = st.ensureIdentity();
  ASSERT_TRUE(pin) << pin.error().message();
  EXPECT_EQ(pin->size(), 64u);
  EXPECT_EQ(modeOf(st.keyPath()), 0600u);
  EXPECT_EQ(modeOf(st.certPath()), 0644u);
  auto again = st.ensureIdentity();
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *pin);
  // A lone certificate (interrupted first run) is replaced, giving a new key.
  ASSERT_EQ(::unlink(st.keyPath().c_str()), 0);
  auto fresh = st.ensureIdentity();
  ASSERT_TRUE(fresh);
  EXPECT_NE(*fresh, *pin);
}

TEST(Zones, HoldTheNameAndEverythingBelowIt) {
  std::vector<std::string> zones{"example.net", "home.org"};
  EXPECT_TRUE(inZones(zones, "example.net"));
  EXPECT_TRUE(inZones(zones, "a.example.net"));
  EXPECT_TRUE(inZones(zones, "a.b.home.org"));
  EXPECT_TRUE(inZones(zones, "*.example.net"));
  EXPECT_TRUE(inZones(zones, "*.a.example.net"));
  EXPECT_FALSE(inZones(zones, "badexample.net"));
  EXPECT_FALSE(inZones(zones, "example.net.evil.org"));
  EXPECT_FALSE(inZones(zones, "net"));
  EXPECT_FALSE(inZones({}, "example.net"));
}

TEST_F(EdgeStateTest, LoginsAuthenticateRevokeAndPersist) {
  auto st = openOrDie();
  const std::string secret = base::randomBytes(kSecretSize);
  auto l = st.addLogin("home", secret, {"Example.NET", "example.net", "lab.org"});
  ASSERT_TRUE(l) << l.error().message();
  EXPECT_EQ(l->zones, (std::vector<std::string>{"example.net", "lab.org"}));
  EXPECT_FALSE(st.addLogin("home", secret, {}));  // names are unique
  auto star = st.addLogin("other", secret, {"*.example.net"});
  ASSERT_FALSE(star);
  EXPECT_NE(star.error().message().find("a zone is a name"), std::string::npos);
  auto badname = st.addLogin("a b", secret, {});
  ASSERT_FALSE(badname);
  EXPECT_EQ(badname.error().message().find("login name 'a b' may only contain"), 0u)
      << badname.error().message();

  auto ok = st.authenticateLogin(l->id, secret);
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ((*ok)->name, "home");
  auto wrong = st.authenticateLogin(l->id, base::randomBytes(kSecretSize));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().message(), "wrong secret for login 'home'");
  auto unknown = st.authenticateLogin(base::randomUuid(), secret);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message().find("unknown login token"), std::string::npos);

  auto t = st.addTunnel("app", base::randomBytes(kSecretSize), l->id);
  ASSERT_TRUE(t);
  ASSERT_TRUE(st.save());
  EXPECT_TRUE(st.revokeLogin("home"));
  auto again = st.revokeLogin("home");
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message().find("already revoked"), std::string::npos);
  ASSERT_TRUE(st.save());

  auto back = openOrDie();
  ASSERT_EQ(back.logins().size(), 1u);
  EXPECT_NE(back.logins()[0].revoked_unix, 0);
  EXPECT_EQ(back.findTunnel("app")->login, l->id);
  auto revoked = back.authenticateLogin(l->id, secret);
  ASSERT_FALSE(revoked);
  EXPECT_NE(revoked.error().message().find("login token 'home' was revoked on "),
            std::string::npos);
}

TEST_F(EdgeStateTest, ALoginManagesTunnelsOfLoginsSharingAZone) {
  auto st = openOrDie();
  auto a = st.addLogin("a", base::randomBytes(kSecretSize), {"a.net", "shared.org"});
  auto b = st.addLogin("b", base::randomBytes(kSecretSize), {"b.net"});
  auto c = st.addLogin("c", base::randomBytes(kSecretSize), {"shared.org"});
  ASSERT_TRUE(a && b && c);
  auto ta = st.addTunnel("ta", base::randomBytes(kSecretSize), a->id);
  auto tb = st.addTunnel("tb", base::randomBytes(kSecretSize), b->id);
  auto te = st.addTunnel("te", base::randomBytes(kSecretSize));
  ASSERT_TRUE(ta && tb && te);
  EXPECT_TRUE(st.mayManage(*a, *ta));
  EXPECT_FALSE(st.mayManage(*a, *tb));
  EXPECT_FALSE(st.mayManage(*b, *ta));
  EXPECT_TRUE(st.mayManage(*c, *ta));  // shares shared.org with a
  EXPECT_FALSE(st.mayManage(*c, *tb));
  EXPECT_FALSE(st.mayManage(*a, *te));  // made on the edge
}

TEST_F(EdgeStateTest, ATunnelNamingAnUnknownLoginIsAnError) {
  ASSERT_TRUE(base::ensureDir(dir_, 0700));
  ASSERT_TRUE(base::writeFileAtomic(
      dir_ + "/state.json",
      R"({"version":1,"tunnels":[{"id":"00000000-0000-4000-8000-000000000000","name":"t",)"
      R"("secret_sha256":")" +
          std::string(64, 'a') + R"(","created":1,"login":"x"}]})",
      0600));
  auto st = EdgeState::open(dir_);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("tunnels[0]: login x names no login"), std::string::npos)
      << st.error().message();
}

}  // namespace
}  // namespace tunnel
