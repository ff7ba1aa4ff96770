#include <gtest/gtest.h>

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

}  // namespace
}  // namespace config
