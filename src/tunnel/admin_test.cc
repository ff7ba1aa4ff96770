// Edge administration (tunnel.h) against a real state directory.
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "base/base.h"
#include "tunnel/edge_state.h"
#include "tunnel/token.h"
#include "tunnel/tunnel.h"

namespace tunnel {
namespace {

class AdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/burrow-admin-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/edge";
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::string root_, dir_;
};

TEST_F(AdminTest, CreateTunnelReturnsAWorkingToken) {
  auto text = createTunnel(dir_, "home", "vps.example.net:7844");
  ASSERT_TRUE(text) << text.error().message();
  auto token = decodeToken(*text);
  ASSERT_TRUE(token) << token.error().message();
  EXPECT_EQ(token->endpoint, "vps.example.net:7844");
  EXPECT_EQ(token->secret.size(), kSecretSize);

  auto st = EdgeState::open(dir_);
  ASSERT_TRUE(st);
  auto pin = st->ensureIdentity();
  ASSERT_TRUE(pin);
  EXPECT_EQ(token->pin, *pin);
  const TunnelRecord* rec = st->findTunnel("home");
  ASSERT_NE(rec, nullptr);
  EXPECT_EQ(rec->id, token->tunnel_id);
  EXPECT_EQ(st->authenticate(token->tunnel_id, token->secret), Verdict::Accepted);

  // Every tunnel of one edge shares the pin; secrets differ.
  auto second = decodeToken(*createTunnel(dir_, "lab", "vps.example.net:7844"));
  ASSERT_TRUE(second);
  EXPECT_EQ(second->pin, token->pin);
  EXPECT_NE(second->secret, token->secret);
  EXPECT_FALSE(createTunnel(dir_, "home", "vps.example.net:7844"));
}

TEST_F(AdminTest, TheTokenIsLookedForWhereCloudflaredLooks) {
  ASSERT_TRUE(base::ensureDir(dir_, 0700));
  auto put = [&](const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    EXPECT_TRUE(base::writeFileAtomic(path, text + "\n", 0600));
    return path;
  };
  ::unsetenv("BURROW_TUNNEL_TOKEN");
  Sources s{"", "", "", dir_, ""};
  config::TunnelConfig cfg;
  auto none = findToken(s, cfg);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message(),
            "no token: give --token-file FILE, set BURROW_TUNNEL_TOKEN, "
            "or put it in " +
                dir_ + "/token");
  put("token", "from-state-dir");
  EXPECT_EQ(findToken(s, cfg).value_or(""), "from-state-dir");
  ::setenv("BURROW_TUNNEL_TOKEN", " from-env ", 1);
  EXPECT_EQ(findToken(s, cfg).value_or(""), "from-env");
  cfg.credentials_file = put("credentials", "from-credentials-file");
  EXPECT_EQ(findToken(s, cfg).value_or(""), "from-credentials-file");
  cfg.token_file = put("config-token", "from-token-file-key");
  EXPECT_EQ(findToken(s, cfg).value_or(""), "from-token-file-key");
  // `tunnel run NAME`: STATE/NAME.token before the config's and the environment's; missing,
  // it is an error, not a fall back to another tunnel's token.
  s.name = "app";
  auto absent = findToken(s, cfg);
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().message(), "no token for tunnel app: " + dir_ +
                                          "/app.token does not exist (burrow tunnel create app "
                                          "writes it)");
  put("app.token", "from-name");
  EXPECT_EQ(findToken(s, cfg).value_or(""), "from-name");
  s.token_file = put("flag-token", "from-flag");
  EXPECT_EQ(findToken(s, cfg).value_or(""), "from-flag");
  ::unsetenv("BURROW_TUNNEL_TOKEN");
  // A file group or others may read is refused, wherever it was named.
  ASSERT_EQ(::chmod(s.token_file.c_str(), 0640), 0);
  auto loose = findToken(s, cfg);
  ASSERT_FALSE(loose);
  EXPECT_NE(loose.error().message().find("readable by group or others"), std::string::npos);
}

TEST_F(AdminTest, RulesComeFromUrlConfigOrTheStateDirectory) {
  ASSERT_TRUE(base::ensureDir(dir_, 0700));
  std::string file = "x";
  auto url = loadRules({"http://127.0.0.1:9", "", "", dir_, ""}, &file);
  ASSERT_TRUE(url) << url.error().message();
  EXPECT_EQ(file, "");
  EXPECT_FALSE(loadRules({"http://127.0.0.1:9", dir_ + "/config.yml", "", dir_, ""}));
  auto missing = loadRules({"", "", "", dir_, ""});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find(dir_ + "/config.yml"), std::string::npos);
  ASSERT_TRUE(base::writeFileAtomic(dir_ + "/config.yml",
                                    "ingress:\n  - service: http_status:404\n", 0600));
  auto found = loadRules({"", "", "", dir_, ""}, &file);
  ASSERT_TRUE(found) << found.error().message();
  EXPECT_EQ(file, dir_ + "/config.yml");
}

TEST_F(AdminTest, CreateTunnelFallsBackToTheEdgesLastAddress) {
  {
    auto st = EdgeState::open(dir_);
    ASSERT_TRUE(st);
    st->setLastTunnelAddr("203.0.113.9:7844");
    ASSERT_TRUE(st->save());
  }
  auto token = decodeToken(*createTunnel(dir_, "home", ""));
  ASSERT_TRUE(token);
  EXPECT_EQ(token->endpoint, "203.0.113.9:7844");
}

TEST_F(AdminTest, CreateTunnelNeedsADialableEndpoint) {
  auto none = createTunnel(dir_, "home", "");
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message().find("--endpoint HOST:PORT"), std::string::npos);
  for (const char* last : {"0.0.0.0:7844", "[::]:7844", ":7844"}) {
    auto st = EdgeState::open(dir_);
    ASSERT_TRUE(st);
    st->setLastTunnelAddr(last);
    ASSERT_TRUE(st->save());
    auto r = createTunnel(dir_, "home", "");
    ASSERT_FALSE(r) << last;
    EXPECT_NE(r.error().message().find("--endpoint HOST:PORT"), std::string::npos)
        << r.error().message();
  }
  auto bad = createTunnel(dir_, "home", "no-port");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("--endpoint"), std::string::npos);
  // Nothing was created by the refusals.
  auto list = listTunnels(dir_);
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->empty());
}

TEST_F(AdminTest, ListRouteAndDelete) {
  ASSERT_TRUE(createTunnel(dir_, "home", "edge:7844"));
  ASSERT_TRUE(createTunnel(dir_, "lab", "edge:7844"));
  ASSERT_TRUE(routeHostname(dir_, "home", "App.example.net"));
  ASSERT_TRUE(routeHostname(dir_, "home", "*.example.org"));
  ASSERT_TRUE(routeHostname(dir_, "home", "app.example.net"));  // idempotent
  auto clash = routeHostname(dir_, "lab", "app.example.net");
  ASSERT_FALSE(clash);
  EXPECT_NE(clash.error().message().find("home"), std::string::npos);
  EXPECT_FALSE(routeHostname(dir_, "lab", "bad:80"));

  auto list = listTunnels(dir_);
  ASSERT_TRUE(list) << list.error().message();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "home");
  EXPECT_EQ((*list)[0].hostnames, (std::vector<std::string>{"app.example.net", "*.example.org"}));
  EXPECT_TRUE((*list)[1].hostnames.empty());

  ASSERT_TRUE(deleteTunnel(dir_, "home"));
  list = listTunnels(dir_);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "lab");
  ASSERT_TRUE(routeHostname(dir_, (*list)[0].id, "app.example.net"));  // freed, and by id
  EXPECT_FALSE(deleteTunnel(dir_, "home"));
}

TEST_F(AdminTest, ReadTokenFileRefusesLooseModesAndTrims) {
  ASSERT_TRUE(base::ensureDir(dir_, 0700));
  const std::string path = dir_ + "/token";
  ASSERT_TRUE(base::writeFileAtomic(path, "  abc123==\n", 0644));
  auto loose = readTokenFile(path);
  ASSERT_FALSE(loose);
  EXPECT_EQ(loose.error().message(), "token file " + path +
                                         " is readable by group or others (mode 0644): run "
                                         "chmod 600 " +
                                         path);
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  EXPECT_FALSE(readTokenFile(path));

  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  auto ok = readTokenFile(path);
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(*ok, "abc123==");

  ASSERT_TRUE(base::writeFileAtomic(path, " \n\t", 0600));
  auto empty = readTokenFile(path);
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message().find("empty"), std::string::npos);

  ASSERT_TRUE(base::writeFileAtomic(path, std::string(65 << 10, 'A'), 0400));
  EXPECT_FALSE(readTokenFile(path));
  EXPECT_FALSE(readTokenFile(dir_ + "/absent"));
  EXPECT_FALSE(readTokenFile(dir_));  // a directory
}

}  // namespace
}  // namespace tunnel
