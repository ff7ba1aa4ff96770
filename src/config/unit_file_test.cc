#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.h"

namespace config {
namespace {

TEST(UnitFile, SectionsAssignmentsCommentsAndContinuations) {
  auto u = parseUnitFile(
      "# leading comment\n"
      "[Unit]\n"
      "Description = demo \n"
      "\n"
      "; another comment\n"
      "[Service]\n"
      "ExecStart=/bin/echo a \\\n"
      "# skipped inside a continuation\n"
      "  b\n"
      "Environment=A=1\r\n"
      "Environment=\n",
      "/etc/x/demo.service");
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_EQ(u->name, "demo.service");
  ASSERT_EQ(u->sections.size(), 2u);
  const auto* svc = u->section("Service");
  ASSERT_NE(svc, nullptr);
  ASSERT_EQ(svc->entries.size(), 3u);
  EXPECT_EQ(svc->entries[0].key, "ExecStart");
  EXPECT_EQ(svc->entries[0].value, "/bin/echo a  b");
  EXPECT_EQ(svc->entries[0].line, 7);
  EXPECT_EQ(svc->entries[1].value, "A=1");
  EXPECT_EQ(svc->entries[2].value, "");
  EXPECT_EQ(u->section("Unit")->entries[0].value, "demo");
  EXPECT_EQ(u->section("Install"), nullptr);
}

TEST(UnitFile, ErrorsNameFileAndLine) {
  auto e =
      parseUnitFile("[Service]\nExecStart=/bin/true\nthis is not an assignment\n", "a.service");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().message(),
            "a.service:3: expected Key=Value, got 'this is not an assignment'");
  e = parseUnitFile("User=x\n", "b.service");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().message(), "b.service:1: 'User' comes before any [Section] header");
  e = parseUnitFile("[Service\n", "c.service");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().message(), "c.service:1: bad section header '[Service'");
  e = parseUnitFile("[Service]\n=x\n", "d.service");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().message(), "d.service:2: assignment without a key");
  EXPECT_FALSE(parseUnitFile(std::string("[Service]\nA=\0b\n", 14), "e.service"));
}

TEST(UnitFile, ContinuationAtEndOfFile) {
  auto u = parseUnitFile("[Service]\nExecStart=/bin/true \\", "f.service");
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_EQ(u->section("Service")->entries[0].value, "/bin/true");
}

TEST(UnitFile, MissingFileIsASystemError) {
  auto u = loadUnitFile("/nonexistent/x.service");
  ASSERT_FALSE(u);
  EXPECT_NE(u.error().code, std::errc::invalid_argument);
}

// A search path of two directories: `high` comes before `low`, as /etc before /lib.
class UnitDirs : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "units-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    std::filesystem::create_directories(root_ + "/high");
    std::filesystem::create_directories(root_ + "/low");
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  void write(const std::string& rel, const std::string& text) {
    std::filesystem::path p = root_ + "/" + rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  std::vector<std::string> path() const { return {root_ + "/high", root_ + "/low"}; }
  // Every value of `key` in [section], in order.
  static std::vector<std::string> values(const UnitFile& u, const std::string& section,
                                         const std::string& key) {
    std::vector<std::string> out;
    for (const auto& s : u.sections)
      if (s.name == section)
        for (const auto& e : s.entries)
          if (e.key == key) out.push_back(e.value);
    return out;
  }
  std::string root_;
};

TEST_F(UnitDirs, FirstDirectoryWinsAndDropInsMergeByFileName) {
  write("low/web.service", "[Service]\nExecStart=/bin/low\nUser=a\n");
  write("high/web.service", "[Service]\nExecStart=/bin/high\nUser=b\n");
  write("low/web.service.d/20-user.conf", "[Service]\nUser=from-low\n");
  write("high/web.service.d/20-user.conf", "[Service]\nUser=from-high\n");
  write("low/web.service.d/10-tmp.conf", "[Service]\nPrivateTmp=yes\n[Install]\nWantedBy=x\n");
  write("low/service.d/05-all.conf", "[Service]\nUMask=0077\n");
  write("low/web.service.d/notes.txt", "[Service]\nUser=ignored\n");
  auto u = loadUnit("web.service", path());
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_EQ(u->name, "web.service");
  EXPECT_EQ(values(*u, "Service", "ExecStart"), std::vector<std::string>{"/bin/high"});
  EXPECT_EQ(values(*u, "Service", "User"), (std::vector<std::string>{"b", "from-high"}));
  EXPECT_EQ(values(*u, "Service", "PrivateTmp"), std::vector<std::string>{"yes"});
  EXPECT_EQ(values(*u, "Service", "UMask"), std::vector<std::string>{"0077"});
  EXPECT_EQ(values(*u, "Install", "WantedBy"), std::vector<std::string>{"x"});
  // An entry from a drop-in names the drop-in, for messages.
  for (const auto& s : u->sections) {
    for (const auto& e : s.entries) {
      if (e.key == "PrivateTmp") {
        EXPECT_EQ(e.file, root_ + "/low/web.service.d/10-tmp.conf");
      }
    }
  }
}

TEST_F(UnitDirs, InstanceFallsBackToItsTemplateAndTakesBothDropIns) {
  write("low/getty@.service", "[Service]\nExecStart=/sbin/agetty %I\n");
  write("low/getty@.service.d/a.conf", "[Service]\nUser=t\n");
  write("high/getty@tty1.service.d/b.conf", "[Service]\nGroup=i\n");
  auto u = loadUnit("getty@tty1.service", path());
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_EQ(u->name, "getty@tty1.service");
  EXPECT_EQ(values(*u, "Service", "User"), std::vector<std::string>{"t"});
  EXPECT_EQ(values(*u, "Service", "Group"), std::vector<std::string>{"i"});
}

TEST_F(UnitDirs, MaskedMissingAliasAndPath) {
  write("low/old.service", "[Service]\nExecStart=/bin/true\n");
  ASSERT_EQ(::symlink("/dev/null", (root_ + "/high/old.service").c_str()), 0);
  auto u = loadUnit("old.service", path());
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().message(), "old.service: masked (linked to /dev/null)");
  write("high/empty.service", "");
  u = loadUnit("empty.service", path());
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().message(), "empty.service: masked (empty file)");

  u = loadUnit("nowhere.service", path());
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().code, std::errc::no_such_file_or_directory);
  EXPECT_EQ(u.error().message(),
            "nowhere.service: no such unit in " + root_ + "/high, " + root_ + "/low");

  write("low/real.service", "[Service]\nExecStart=/bin/true\n");
  ASSERT_EQ(::symlink("real.service", (root_ + "/low/alias.service").c_str()), 0);
  u = loadUnit("alias.service", path());
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_EQ(u->name, "real.service");

  // A path is read as is; the drop-ins of its name still come from the search path.
  write("elsewhere/x.service", "[Service]\nExecStart=/bin/true\n");
  write("low/x.service.d/a.conf", "[Service]\nUser=d\n");
  u = loadUnit(root_ + "/elsewhere/x.service", path());
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_EQ(values(*u, "Service", "User"), std::vector<std::string>{"d"});
}

TEST(UnitSearchPath, EnvironmentWithTrailingColonAppendsTheDefaults) {
  ::setenv("SYSTEMD_UNIT_PATH", "/a:/b", 1);
  EXPECT_EQ(unitSearchPath(), (std::vector<std::string>{"/a", "/b"}));
  ::setenv("SYSTEMD_UNIT_PATH", "/a:", 1);
  auto p = unitSearchPath();
  ASSERT_GT(p.size(), 2u);
  EXPECT_EQ(p[0], "/a");
  EXPECT_EQ(p[1], "/etc/systemd/system");
  ::unsetenv("SYSTEMD_UNIT_PATH");
  EXPECT_EQ(unitSearchPath().front(), "/etc/systemd/system");
}

}  // namespace
}  // namespace config
