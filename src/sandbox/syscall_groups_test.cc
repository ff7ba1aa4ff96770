#include <unistd.h>

#include <cstdio>
#include <map>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "sandbox/sandbox.h"

namespace sandbox {
namespace {

TEST(SyscallGroups, KnowsTheGroupsAndTheirMembers) {
  const SyscallGroup* clock = findSyscallGroup("@clock");
  ASSERT_NE(clock, nullptr);
  EXPECT_NE(std::string(clock->members).find("clock_settime"), std::string::npos);
  EXPECT_EQ(findSyscallGroup("@nope"), nullptr);
  EXPECT_NE(findSyscallGroup("@system-service"), nullptr);
  EXPECT_TRUE(syscallKnown("read"));
  EXPECT_FALSE(syscallKnown("no_such_call"));
}

// The checked-in table is what `systemd-analyze syscall-filter` prints on this machine.
TEST(SyscallGroups, TableEqualsSystemdAnalyze) {
  if (::access("/usr/bin/systemd-analyze", X_OK) != 0) GTEST_SKIP() << "no systemd-analyze";
  FILE* p = ::popen("systemd-analyze syscall-filter --no-pager 2>/dev/null", "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ::pclose(p);
  std::map<std::string, std::string> live;
  std::istringstream in(out);
  std::string line, group;
  while (std::getline(in, line)) {
    if (line.starts_with("@")) {
      group = line;
      live[group];
    } else if (line.empty() || line.starts_with("#")) {
      group.clear();
    } else if (!group.empty() && line.starts_with("    ") && line[4] != '#') {
      auto& m = live[group];
      m += (m.empty() ? "" : " ") + line.substr(4);
    }
  }
  std::map<std::string, std::string> ours;
  for (const auto& g : syscallGroups()) ours[std::string(g.name)] = std::string(g.members);
  EXPECT_EQ(ours, live) << "regenerate with scripts/gen-syscall-groups";
}

}  // namespace
}  // namespace sandbox
