#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "base/base.h"
#include "tunnel/acme.h"

namespace tunnel {
namespace {

class HookSolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/burrow-hook-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string script(const std::string& name, const std::string& body) {
    std::string path = dir_ + "/" + name;
    EXPECT_TRUE(base::writeFileAtomic(path, "#!/bin/sh\n" + body, 0700));
    return path;
  }
  std::string dir_;
};

TEST_F(HookSolverTest, MustBeAnExecutablePath) {
  EXPECT_FALSE(makeHookSolver("hook.sh"));
  EXPECT_FALSE(makeHookSolver(dir_ + "/missing"));
  std::string plain = dir_ + "/plain";
  ASSERT_TRUE(base::writeFileAtomic(plain, "#!/bin/sh\n", 0600));
  auto r = makeHookSolver(plain);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("not executable"), std::string::npos);
}

TEST_F(HookSolverTest, GetsPresentAndCleanupWithTheFqdnAndValue) {
  std::string out = dir_ + "/calls";
  auto hook = makeHookSolver(script("hook", "echo \"$@\" >> " + out + "\n"));
  ASSERT_TRUE(hook);
  ASSERT_TRUE((*hook)->present("_acme-challenge.zone.test", "VALUE"));
  ASSERT_TRUE((*hook)->cleanup("_acme-challenge.zone.test", "VALUE"));
  auto calls = base::readFile(out);
  ASSERT_TRUE(calls);
  EXPECT_EQ(*calls,
            "present _acme-challenge.zone.test. VALUE\n"
            "cleanup _acme-challenge.zone.test. VALUE\n");
}

TEST_F(HookSolverTest, FailureCarriesTheExitAndStderr) {
  auto hook = makeHookSolver(script("hook", "echo on stdout\necho 'no such zone' >&2\nexit 3\n"));
  ASSERT_TRUE(hook);
  auto r = (*hook)->present("_acme-challenge.zone.test", "VALUE");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("exit 3: no such zone"), std::string::npos)
      << r.error().message();
  EXPECT_EQ(r.error().message().find("on stdout"), std::string::npos);
}

TEST_F(HookSolverTest, StopEndsARunningHookAndWhatFollows) {
  std::string pid_file = dir_ + "/pid";
  auto hook = makeHookSolver(script("hook", "echo $$ > " + pid_file + "\nexec sleep 300\n"));
  ASSERT_TRUE(hook);
  std::thread stopper([&] {
    while (!std::filesystem::exists(pid_file))
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    (*hook)->stop();
  });
  auto start = std::chrono::steady_clock::now();
  auto r = (*hook)->present("_acme-challenge.zone.test", "VALUE");
  stopper.join();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("the edge is stopping"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  auto pid = base::readFile(pid_file);
  ASSERT_TRUE(pid);
  EXPECT_FALSE(base::processRunning(std::stoi(*pid)));  // killed and reaped
  EXPECT_FALSE((*hook)->cleanup("_acme-challenge.zone.test", "VALUE"));
}

}  // namespace
}  // namespace tunnel
