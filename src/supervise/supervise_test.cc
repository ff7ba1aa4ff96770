// The service files install writes: seed 001's profile adapted to the subcommand, quoting,
// and the header that uninstall reads.
#include <signal.h>

#include <gtest/gtest.h>

#include "supervise/supervise.h"

namespace supervise {
namespace {

Service connector() {
  return {"burrow-tunnel",
          "burrow-tunnel",
          "/var/lib/burrow",
          {"tunnel", "run", "--config", "/var/lib/burrow/config.yml", "--token-file",
           "/var/lib/burrow/token"},
          "/usr/local/bin/burrow"};
}

bool has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(SystemdUnit, ConnectorGetsTheWholeProfileAndNoCapability) {
  std::string u = systemdUnit(connector(), {"user=burrow-tunnel"});
  EXPECT_EQ(u.rfind("# Written by burrow service install", 0), 0u) << u;
  EXPECT_TRUE(has(u, "# burrow-created: user=burrow-tunnel")) << u;
  EXPECT_TRUE(has(u, "# burrow-state-dir: /var/lib/burrow")) << u;
  EXPECT_TRUE(has(u,
                  "ExecStart=/usr/local/bin/burrow tunnel run --config "
                  "/var/lib/burrow/config.yml --token-file /var/lib/burrow/token"))
      << u;
  for (const char* l : {"User=burrow-tunnel", "ReadWritePaths=/var/lib/burrow", "PrivateUsers=yes",
                        "CapabilityBoundingSet=", "ProtectSystem=strict", "NoNewPrivileges=yes",
                        "SystemCallFilter=@system-service", "Restart=on-failure"})
    EXPECT_TRUE(has(u, l)) << l << "\n" << u;
}

TEST(SystemdUnit, EdgeOnALowPortKeepsOnlyNetBindService) {
  Service s = connector();
  s.name = s.user = "burrow-edge";
  s.command = {"edge", "--state-dir", "/var/lib/burrow", "--http", ":80", "--tunnel", ":7844"};
  std::string u = systemdUnit(s, {});
  EXPECT_TRUE(has(u, "CapabilityBoundingSet=CAP_NET_BIND_SERVICE")) << u;
  EXPECT_TRUE(has(u, "AmbientCapabilities=CAP_NET_BIND_SERVICE")) << u;
  EXPECT_FALSE(has(u, "PrivateUsers=yes")) << u;
  s.command = {"edge", "--state-dir", "/var/lib/burrow", "--http", ":8080", "--tunnel", ":7844"};
  EXPECT_TRUE(has(systemdUnit(s, {}), "PrivateUsers=yes"));
}

TEST(SystemdUnit, QuotesAndSpecifiers) {
  Service s = connector();
  s.command = {"tunnel", "run", "--config", "/srv/my config.yml", "--token-file", "/srv/100%"};
  std::string u = systemdUnit(s, {});
  EXPECT_NE(u.find("--config \"/srv/my config.yml\" --token-file /srv/100%%\n"), std::string::npos)
      << u;
}

TEST(SystemdUnit, TheStackRunsAsRootOutsideASandboxAndStopsInOrder) {
  Service s{"burrow-stack",
            "root",
            "/var/lib/burrow/burrow-stack",
            {"up", "--state-dir", "/var/lib/burrow/burrow-stack", "-f", "/srv/burrow.yaml"},
            "/usr/local/bin/burrow"};
  std::string u = systemdUnit(s, {});
  for (const char* l : {"Description=burrow stack",
                        "ExecStart=/usr/local/bin/burrow up --state-dir "
                        "/var/lib/burrow/burrow-stack -f /srv/burrow.yaml",
                        "ExecReload=/bin/kill -HUP $MAINPID", "KillMode=mixed",
                        "Restart=on-failure", "WantedBy=multi-user.target"})
    EXPECT_TRUE(has(u, l)) << l << "\n" << u;
  // Each service is sandboxed by the stack; the supervisor needs namespaces and mounts.
  for (const char* l : {"User=", "PrivateUsers=", "RestrictNamespaces=", "ProtectSystem="})
    EXPECT_EQ(u.find(std::string("\n") + l), std::string::npos) << l << "\n" << u;
  std::string sc = openrcScript(s, {});
  EXPECT_TRUE(has(sc, "command_user='root:root'")) << sc;
  EXPECT_TRUE(has(sc, "retry=\"TERM/120/KILL/5\"")) << sc;
}

TEST(OpenrcScript, SuperviseDaemonAsTheServiceUser) {
  std::string sc = openrcScript(connector(), {"state-dir=/var/lib/burrow"});
  EXPECT_EQ(sc.rfind("#!/sbin/openrc-run\n# Written by burrow service install", 0), 0u) << sc;
  for (const char* l :
       {"supervisor=supervise-daemon", "command='/usr/local/bin/burrow'",
        "command_user='burrow-tunnel:burrow-tunnel'", "pidfile='/var/lib/burrow/burrow-tunnel.pid'",
        "respawn_max=0", "# burrow-created: state-dir=/var/lib/burrow"})
    EXPECT_TRUE(has(sc, l)) << l << "\n" << sc;
  EXPECT_NE(sc.find("depend() {\n\tneed net\n}"), std::string::npos) << sc;
  EXPECT_NE(sc.find("command_args=\"'tunnel' 'run' '--config'"), std::string::npos) << sc;
}

TEST(Record, OnePlaceWhateverTheInit) {
  EXPECT_EQ(recordPath("burrow-tunnel"), "/var/lib/burrow/services/burrow-tunnel");
  EXPECT_EQ(unitPath(Init::None, "burrow-tunnel"), recordPath("burrow-tunnel"));
  EXPECT_EQ(unitPath(Init::Systemd, "b"), "/etc/systemd/system/b.service");
  EXPECT_EQ(unitPath(Init::OpenRC, "b"), "/etc/init.d/b");
}

TEST(Init, Names) {
  EXPECT_EQ(*parseInit("openrc"), Init::OpenRC);
  auto bad = parseInit("upstart");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "--init upstart: expected auto, systemd, openrc or none");
}

// systemd.service(5)'s table of exit causes against Restart= values.
TEST(Restart, FollowsSystemdsTable) {
  const Exit clean = Exit::fromCode(0), code = Exit::fromCode(3), term = Exit::fromCode(143),
             kill = Exit::fromCode(137), abrt = Exit::fromWaitStatus(SIGABRT);
  EXPECT_EQ(kill.signal, SIGKILL);
  EXPECT_EQ(abrt.signal, SIGABRT);
  struct Row {
    Restart policy;
    bool clean, code, term, kill;
  } rows[] = {{Restart::No, false, false, false, false},
              {Restart::Always, true, true, true, true},
              {Restart::OnSuccess, true, false, true, false},
              {Restart::OnFailure, false, true, false, true},
              {Restart::OnAbnormal, false, false, false, true},
              {Restart::OnAbort, false, false, false, true}};
  for (const auto& r : rows) {
    EXPECT_EQ(shouldRestart(r.policy, clean), r.clean) << static_cast<int>(r.policy);
    EXPECT_EQ(shouldRestart(r.policy, code), r.code) << static_cast<int>(r.policy);
    EXPECT_EQ(shouldRestart(r.policy, term), r.term) << static_cast<int>(r.policy);
    EXPECT_EQ(shouldRestart(r.policy, kill), r.kill) << static_cast<int>(r.policy);
  }
  EXPECT_TRUE(shouldRestart(Restart::OnAbort, abrt));
  EXPECT_EQ(*parseRestart("on-abnormal"), Restart::OnAbnormal);
  auto bad = parseRestart("sometimes");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("Restart=sometimes"), std::string::npos);
}

TEST(Restart, BackoffDoublesWhileRunsAreShortAndStartsOverAfterALongOne) {
  using std::chrono::milliseconds;
  Backoff b(milliseconds(100));
  EXPECT_EQ(b.next(milliseconds(10)), milliseconds(100));
  EXPECT_EQ(b.next(milliseconds(10)), milliseconds(200));
  EXPECT_EQ(b.next(milliseconds(10)), milliseconds(400));
  for (int i = 0; i < 20; ++i) b.next(milliseconds(10));
  EXPECT_EQ(b.next(milliseconds(10)), Backoff::kMax);
  EXPECT_EQ(b.next(Backoff::kSettled), milliseconds(100));
}

}  // namespace
}  // namespace supervise
