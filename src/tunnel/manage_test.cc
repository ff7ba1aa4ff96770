#include "tunnel/manage.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/base.h"
#include "tunnel/edge_state.h"
#include "tunnel/token.h"

namespace tunnel {
namespace {

using nlohmann::json;

// An edge state directory with two logins (home: example.net; lab: lab.org), and the API.
class ManageApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/burrow-manage-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto st = EdgeState::open(dir_);
    ASSERT_TRUE(st);
    st->setLastTunnelAddr("127.0.0.1:7844");
    ASSERT_TRUE(st->save());
    home_ = login("home", {"example.net"});
    lab_ = login("lab", {"lab.org"});
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string login(const std::string& name, const std::vector<std::string>& zones) {
    auto token = createLogin(dir_, name, zones, "", "");
    EXPECT_TRUE(token) << token.error().message();
    return token ? "Bearer " + *token : "";
  }

  // Status and parsed body of one call from 127.0.0.1.
  std::pair<int, json> call(const std::string& auth, std::string_view method,
                            std::string_view target, const json& body = nullptr,
                            const std::string& ip = "127.0.0.1") {
    ManageReply r = api_.handle(method, target, auth, body.is_null() ? "" : body.dump(), ip, now_);
    return {r.status, json::parse(r.body)};
  }

  std::string dir_, home_, lab_;
  ManageApi api_{"", nullptr};
  ManageApi::Clock::time_point now_ = ManageApi::Clock::now();

  void useDir() { api_ = ManageApi(dir_, nullptr); }
};

TEST_F(ManageApiTest, CreateRouteListDeleteWithinTheLoginsZones) {
  useDir();
  auto [s1, me] = call(home_, "GET", "/v1/login");
  EXPECT_EQ(s1, 200);
  EXPECT_EQ(me["name"], "home");
  EXPECT_EQ(me["zones"], json::array({"example.net"}));

  auto [s2, created] = call(home_, "POST", "/v1/tunnels", {{"name", "app"}, {"endpoint", "e:1"}});
  ASSERT_EQ(s2, 201) << created.dump();
  auto token = decodeToken(created["token"].get<std::string>());
  ASSERT_TRUE(token);
  EXPECT_EQ(token->tunnel_id, created["id"]);
  EXPECT_EQ(token->endpoint, "e:1");
  auto st = EdgeState::open(dir_);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->authenticate(token->tunnel_id, token->secret), Verdict::Accepted);

  EXPECT_EQ(
      call(home_, "POST", "/v1/routes", {{"tunnel", "app"}, {"hostname", "App.Example.NET"}}).first,
      200);
  auto [s3, outside] =
      call(home_, "POST", "/v1/routes", {{"tunnel", "app"}, {"hostname", "app.lab.org"}});
  EXPECT_EQ(s3, 403);
  EXPECT_EQ(outside["error"],
            "hostname app.lab.org is outside the zones of login 'home' (example.net)");
  auto [s4, list] = call(home_, "GET", "/v1/tunnels");
  EXPECT_EQ(s4, 200);
  ASSERT_EQ(list["tunnels"].size(), 1u);
  EXPECT_EQ(list["tunnels"][0]["hostnames"], json::array({"app.example.net"}));
  auto [s5, routes] = call(home_, "GET", "/v1/routes");
  EXPECT_EQ(routes["routes"], json::array({{{"hostname", "app.example.net"},
                                            {"tunnel_id", created["id"]},
                                            {"tunnel_name", "app"}}}));

  EXPECT_EQ(call(home_, "DELETE", "/v1/routes/app.example.net").first, 200);
  EXPECT_EQ(call(home_, "DELETE", "/v1/tunnels/app").first, 200);
  st = EdgeState::open(dir_);
  EXPECT_TRUE(st->tunnels().empty());
  EXPECT_TRUE(st->routes().empty());
}

TEST_F(ManageApiTest, LoginsWithoutACommonZoneSeeNothingOfEachOther) {
  useDir();
  ASSERT_EQ(call(home_, "POST", "/v1/tunnels", {{"name", "app"}, {"endpoint", "e:1"}}).first, 201);
  ASSERT_EQ(
      call(home_, "POST", "/v1/routes", {{"tunnel", "app"}, {"hostname", "a.example.net"}}).first,
      200);
  EXPECT_EQ(call(lab_, "GET", "/v1/tunnels").second["tunnels"].size(), 0u);
  EXPECT_EQ(call(lab_, "GET", "/v1/routes").second["routes"].size(), 0u);
  auto [s1, info] = call(lab_, "GET", "/v1/tunnels/app");
  EXPECT_EQ(s1, 404);
  EXPECT_EQ(info["error"], "no tunnel 'app' that login 'lab' may manage");
  EXPECT_EQ(call(lab_, "DELETE", "/v1/tunnels/app").first, 404);
  EXPECT_EQ(call(lab_, "DELETE", "/v1/routes/a.example.net").first, 404);
  auto [s2, taken] = call(lab_, "POST", "/v1/tunnels", {{"name", "app"}, {"endpoint", "e:1"}});
  EXPECT_EQ(s2, 409);
  EXPECT_EQ(taken["error"], "the name 'app' is taken on this edge");
  // A third login sharing example.net manages home's tunnel.
  std::string ops = login("ops", {"example.net", "ops.org"});
  EXPECT_EQ(call(ops, "GET", "/v1/tunnels").second["tunnels"].size(), 1u);
  EXPECT_EQ(call(ops, "DELETE", "/v1/routes/a.example.net").first, 200);
}

TEST_F(ManageApiTest, AHostnameAnotherTunnelHoldsIsRefusedAndNothingChanges) {
  useDir();
  // Made on the edge itself: no login may manage it, even inside its zone.
  ASSERT_TRUE(createTunnel(dir_, "edge-own", "", ""));
  ASSERT_TRUE(routeHostname(dir_, "edge-own", "www.example.net"));
  ASSERT_EQ(call(home_, "POST", "/v1/tunnels", {{"name", "app"}, {"endpoint", "e:1"}}).first, 201);
  auto before = base::readFile(dir_ + "/state.json");
  auto [s, held] =
      call(home_, "POST", "/v1/routes", {{"tunnel", "app"}, {"hostname", "www.example.net"}});
  EXPECT_EQ(s, 409);
  EXPECT_EQ(held["error"],
            "hostname www.example.net is already routed to a tunnel this login may not manage");
  EXPECT_EQ(*base::readFile(dir_ + "/state.json"), *before);
  EXPECT_EQ(call(home_, "GET", "/v1/tunnels/edge-own").first, 404);
}

TEST_F(ManageApiTest, WrongRevokedAndMissingTokensAreRefusedThenThrottled) {
  useDir();
  auto [s1, none] = call("", "GET", "/v1/login", nullptr, "10.0.0.1");
  EXPECT_EQ(s1, 401);
  EXPECT_EQ(none["error"], "no login token (Authorization: Bearer TOKEN)");
  auto token = decodeLoginToken(home_.substr(7));
  ASSERT_TRUE(token);
  LoginToken wrong = *token;
  wrong.secret = base::randomBytes(kSecretSize);
  auto [s2, bad] =
      call("Bearer " + encodeLoginToken(wrong), "GET", "/v1/login", nullptr, "10.0.0.1");
  EXPECT_EQ(s2, 401);
  EXPECT_EQ(bad["error"], "wrong secret for login 'home'");
  ASSERT_TRUE(revokeLogin(dir_, "lab"));
  auto [s3, revoked] = call(lab_, "GET", "/v1/login", nullptr, "10.0.0.1");
  EXPECT_EQ(s3, 401);
  EXPECT_NE(revoked["error"].get<std::string>().find("login token 'lab' was revoked on "),
            std::string::npos);
  // Five failures are the burst: the sixth is refused before the token is looked at, even a
  // good one; another address is not held up, and the bucket refills in time.
  EXPECT_EQ(call("Bearer x", "GET", "/v1/login", nullptr, "10.0.0.1").first, 401);
  EXPECT_EQ(call("Bearer x", "GET", "/v1/login", nullptr, "10.0.0.1").first, 401);
  auto [s4, slow] = call(home_, "GET", "/v1/login", nullptr, "10.0.0.1");
  EXPECT_EQ(s4, 429);
  EXPECT_NE(slow["error"].get<std::string>().find("too many failed logins from 10.0.0.1"),
            std::string::npos);
  EXPECT_EQ(call(home_, "GET", "/v1/login", nullptr, "10.0.0.2").first, 200);
  now_ += ManageApi::kFailRefill + std::chrono::seconds(1);
  EXPECT_EQ(call(home_, "GET", "/v1/login", nullptr, "10.0.0.1").first, 200);
}

TEST_F(ManageApiTest, BadBodiesAndUnknownCallsSayWhat) {
  useDir();
  ManageReply r = api_.handle("POST", "/v1/tunnels", home_, "[1]", "127.0.0.1", now_);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("not a JSON object"), std::string::npos);
  EXPECT_EQ(call(home_, "POST", "/v1/tunnels", {{"name", "a b"}, {"endpoint", "e:1"}}).first, 400);
  EXPECT_EQ(call(home_, "POST", "/v1/tunnels", {{"endpoint", "e:1"}}).second["error"],
            "the request needs a string \"name\"");
  EXPECT_EQ(call(home_, "PUT", "/v1/tunnels").second["error"], "no such call: PUT /v1/tunnels");
  EXPECT_FALSE(r.changed);
}

}  // namespace
}  // namespace tunnel
