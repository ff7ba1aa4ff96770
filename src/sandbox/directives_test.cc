#include <sched.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include "sandbox/sandbox.h"

namespace sandbox {
namespace {

base::Result<Config> parse(std::string_view service, std::string_view unit = "") {
  std::string text =
      "[Unit]\n" + std::string(unit) + "[Service]\nExecStart=/bin/true\n" + std::string(service);
  auto u = config::parseUnitFile(text, "/x/test.service");
  if (!u) return base::Unexpected(u.error());
  return configFromUnit(*u);
}

TEST(Directives, BooleansTakeEverySpelling) {
  for (auto v : {"yes", "true", "on", "1", "y", "t"}) {
    auto c = parse(std::string("NoNewPrivileges=") + v + "\n");
    ASSERT_TRUE(c) << v;
    EXPECT_TRUE(c->no_new_privileges) << v;
  }
  auto c = parse("NoNewPrivileges=yes\nNoNewPrivileges=off\n");
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->no_new_privileges);
}

TEST(Directives, BadValuesNameFileLineAndExpectation) {
  auto c = parse("PrivateTmp=maybe\n");
  ASSERT_FALSE(c);
  EXPECT_EQ(
      c.error().message(),
      "/x/test.service:4: PrivateTmp=maybe: expected a boolean (yes/no, true/false, on/off, 1/0)");
  c = parse("ProtectSystem=very\n");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message(),
            "/x/test.service:4: ProtectSystem=very: expected one of: full, strict");
  c = parse("CapabilityBoundingSet=CAP_NOPE\n");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("unknown capability 'CAP_NOPE'"), std::string::npos);
  c = parse("UMask=0999\n");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("expected an octal mode"), std::string::npos);
  c = parse("SystemCallFilter=@no-such-group\n");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("unknown system call group '@no-such-group'"),
            std::string::npos);
}

// Restart= is supervise's one restart policy, parsed by it; the message still names FILE:LINE.
TEST(Directives, RestartIsTheSharedPolicy) {
  auto c = parse("Restart=on-abnormal\nRestartSec=250ms\n");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->restart, supervise::Restart::OnAbnormal);
  EXPECT_EQ(c->restart_sec, std::chrono::milliseconds(250));
  c = parse("");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->restart, supervise::Restart::No);
  c = parse("Restart=sometimes\n");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message(),
            "/x/test.service:4: Restart=sometimes: expected no, on-success, on-failure, "
            "on-abnormal, on-abort, on-watchdog or always");
}

TEST(Directives, UnknownDirectivesWarnWithLine) {
  auto c = parse("Frobnicate=yes\n");
  ASSERT_TRUE(c);
  ASSERT_EQ(c->warnings.size(), 1u);
  EXPECT_EQ(c->warnings[0],
            "/x/test.service:4: unknown directive Frobnicate= in [Service], ignored");
}

TEST(Directives, EverySystemdDirectiveIsAppliedOrSaidNotToBe) {
  auto u = config::parseUnitFile(
      "[Unit]\nDescription=d\nAfter=network.target\nConditionPathExists=/x\nX-Ours=1\n"
      "Frobnicate=1\n"
      "[Service]\nType=forking\nExecStart=/bin/true\nNice=5\nStandardOutput=journal\n"
      "MemoryLimit=1G\nPrivateTmp=yes\nType=exec\n"
      "[Install]\nWantedBy=multi-user.target\n"
      "[X-Other]\nWhatever=1\n",
      "/x/t.service");
  ASSERT_TRUE(u) << u.error().message();
  auto c = configFromUnit(*u);
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->warnings, std::vector<std::string>{
                             "/x/t.service:6: unknown directive Frobnicate= in [Unit], ignored"});
  EXPECT_EQ(c->not_applied, (std::vector<std::string>{
                                "/x/t.service:3: After=", "/x/t.service:4: ConditionPathExists=",
                                "/x/t.service:8: Type=forking",
                                "/x/t.service:10: Nice=", "/x/t.service:11: StandardOutput=",
                                "/x/t.service:12: MemoryLimit=", "/x/t.service:16: WantedBy="}));
}

TEST(Directives, SeveralExecStartOnlyForOneshot) {
  auto c = parse("ExecStart=/bin/false\n");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message(),
            "/x/test.service: 2 ExecStart= lines: more than one is for Type=oneshot only");
  c = parse("ExecStart=/bin/false\nType=oneshot\n");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->exec_start.size(), 2u);
  EXPECT_TRUE(c->not_applied.empty());
}

TEST(Directives, CapabilityListsMergeAsSystemdDoes) {
  auto c = parse("CapabilityBoundingSet=CAP_CHOWN\nCapabilityBoundingSet=CAP_KILL\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->capability_bounding_set, (1u << 0) | (1u << 5));
  c = parse("CapabilityBoundingSet=~CAP_SYS_ADMIN\nCapabilityBoundingSet=~CAP_KILL\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->capability_bounding_set, ~uint64_t{0} & ~(uint64_t{1} << 21) & ~(uint64_t{1} << 5));
  c = parse("CapabilityBoundingSet=\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->capability_bounding_set, 0u);
  c = parse("AmbientCapabilities=CAP_NET_BIND_SERVICE\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->ambient_capabilities, uint64_t{1} << 10);
}

TEST(Directives, AddressFamiliesAllowDenyNoneAndReset) {
  auto c = parse("RestrictAddressFamilies=AF_INET AF_INET6\nRestrictAddressFamilies=~AF_INET6\n");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->address_families_allow_list);
  EXPECT_EQ(c->address_families, std::set<int>{AF_INET});
  c = parse("RestrictAddressFamilies=none\n");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->address_families_allow_list);
  EXPECT_TRUE(c->address_families.empty());
  c = parse(
      "RestrictAddressFamilies=AF_PACKET\nRestrictAddressFamilies=\nRestrictAddressFamilies=~AF_"
      "UNIX\n");
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->address_families_allow_list);
  EXPECT_EQ(c->address_families, std::set<int>{AF_UNIX});
}

TEST(Directives, NamespacesBooleanListAndInverted) {
  auto c = parse("RestrictNamespaces=yes\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->restrict_namespaces, 0u);
  c = parse("RestrictNamespaces=net ipc\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->restrict_namespaces, uint64_t{CLONE_NEWNET | CLONE_NEWIPC});
  c = parse("RestrictNamespaces=~user\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->restrict_namespaces & CLONE_NEWUSER, 0u);
  EXPECT_NE(c->restrict_namespaces & CLONE_NEWNET, 0u);
}

TEST(Directives, SystemCallFilterAllowListStartsFromDefault) {
  auto c = parse("SystemCallFilter=@basic-io\nSystemCallFilter=~write:EPERM\n");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->syscall_allow_list);
  EXPECT_TRUE(c->syscall_filter.contains("read"));
  EXPECT_TRUE(c->syscall_filter.contains("exit_group"));  // from @default
  EXPECT_FALSE(c->syscall_filter.contains("write"));
  EXPECT_FALSE(c->syscall_filter.contains("ptrace"));
  c = parse("SystemCallFilter=~@debug\n");
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->syscall_allow_list);
  EXPECT_TRUE(c->syscall_filter.contains("ptrace"));
}

TEST(Directives, DynamicUserImpliesWhatSystemdImplies) {
  auto c = parse("DynamicUser=yes\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->user, "test");
  EXPECT_TRUE(c->private_tmp);
  EXPECT_TRUE(c->remove_ipc);
  EXPECT_EQ(c->protect_system, "strict");
  EXPECT_EQ(c->protect_home, "read-only");
  EXPECT_TRUE(c->no_new_privileges);
  EXPECT_TRUE(c->restrict_suid_sgid);
  c = parse("ProtectClock=yes\nPrivateDevices=yes\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->capability_bounding_set & (uint64_t{1} << 25), 0u);  // CAP_SYS_TIME
  EXPECT_EQ(c->capability_bounding_set & (uint64_t{1} << 27), 0u);  // CAP_MKNOD
}

TEST(Directives, StopTimeoutTakesSpansAndInfinity) {
  auto c = parse("");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->timeout_stop.count(), 90'000);  // systemd's default
  c = parse("TimeoutStopSec=1min 30s\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->timeout_stop.count(), 90'000);
  c = parse("TimeoutSec=250ms\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->timeout_stop.count(), 250);
  c = parse("TimeoutStopSec=infinity\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->timeout_stop.count(), 0);
  c = parse("TimeoutStopSec=soon\n");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message(),
            "/x/test.service:4: TimeoutStopSec=soon: expected a time span such as 90, 1min 30s "
            "or 500ms, or infinity");
}

TEST(Directives, NoServiceSectionIsAnErrorOutsideServiceUnits) {
  auto u = config::parseUnitFile("[Unit]\nDescription=x\n", "t.socket");
  ASSERT_TRUE(u);
  auto c = configFromUnit(*u);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message(), "t.socket: no [Service] section");
  // A service unit without one (systemd-exit.service) has the defaults, as in systemd.
  u = config::parseUnitFile("[Unit]\nDefaultDependencies=no\n", "t.service");
  ASSERT_TRUE(u);
  c = configFromUnit(*u);
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_TRUE(c->exec_start.empty());
  EXPECT_FALSE(c->default_dependencies);
}

}  // namespace
}  // namespace sandbox
