#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sandbox/sandbox.h"

namespace sandbox {
namespace {

Audit auditText(std::string_view text, std::string_view name = "/x/demo.service") {
  auto u = config::parseUnitFile(text, name);
  EXPECT_TRUE(u) << u.error().message();
  auto c = configFromUnit(*u);
  EXPECT_TRUE(c) << c.error().message();
  return audit(*c);
}

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ::pclose(p);
  return out;
}

bool haveSystemdAnalyze() { return ::access("/usr/bin/systemd-analyze", X_OK) == 0; }

TEST(Audit, BareUnitIsUnsafeAndReportEndsWithTheOverallLine) {
  Audit a = auditText("[Service]\nExecStart=/bin/true\n");
  EXPECT_EQ(a.exposure, 96u);
  EXPECT_EQ(a.band, "UNSAFE");
  std::string text = formatAudit(a);
  EXPECT_NE(text.find("\n→ Overall exposure level for demo.service: 9.6 UNSAFE\n"),
            std::string::npos)
      << text;
}

TEST(Audit, RootMakesUserChecksNotApply) {
  Audit a = auditText("[Service]\nExecStart=/bin/true\n");
  for (const auto& r : a.rows) {
    if (r.json_field == "RemoveIPC" || r.json_field == "SupplementaryGroups") {
      EXPECT_FALSE(r.badness) << r.json_field;
    }
  }
  a = auditText("[Service]\nExecStart=/bin/true\nUser=app\n");
  for (const auto& r : a.rows) {
    if (r.json_field == "RemoveIPC") {
      EXPECT_EQ(r.badness, 1u);
    }
  }
}

TEST(Audit, FindsSecretFilesOthersCanRead) {
  auto dir =
      std::filesystem::temp_directory_path() / ("burrow-audit-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto secret = dir / "token";
  std::ofstream(secret) << "s3cret";
  ::chmod(secret.c_str(), 0644);
  std::string unit = "[Service]\nExecStart=/bin/true\nReadOnlyPaths=" + secret.string() + "\n";
  Audit a = auditText(unit);
  ASSERT_EQ(a.findings.size(), 1u);
  EXPECT_NE(a.findings[0].find(secret.string() + " is readable by everyone (mode 0644)"),
            std::string::npos);
  ::chmod(secret.c_str(), 0620);
  a = auditText(unit);
  ASSERT_EQ(a.findings.size(), 1u);
  EXPECT_NE(a.findings[0].find("is writable by its group (mode 0620)"), std::string::npos);
  ::chmod(secret.c_str(), 0600);
  EXPECT_TRUE(auditText(unit).findings.empty());
  // EnvironmentFile= is where secrets often live.
  ::chmod(secret.c_str(), 0604);
  a = auditText("[Service]\nExecStart=/bin/true\nEnvironmentFile=-" + secret.string() + "\n");
  ASSERT_EQ(a.findings.size(), 1u);
  EXPECT_NE(a.findings[0].find("readable by everyone (mode 0604)"), std::string::npos);
  // A program others may rewrite.
  auto prog = dir / "prog";
  std::ofstream(prog) << "#!/bin/sh\n";
  ::chmod(prog.c_str(), 0777);
  a = auditText("[Service]\nExecStart=-" + prog.string() + " --flag\n");
  ASSERT_EQ(a.findings.size(), 1u);
  EXPECT_NE(a.findings[0].find("program " + prog.string() + " is writable by everyone"),
            std::string::npos);
  ::chmod(prog.c_str(), 0755);
  EXPECT_TRUE(auditText("[Service]\nExecStart=" + prog.string() + "\n").findings.empty());
  std::filesystem::remove_all(dir);
}

// The oracle: for every unit under tests/data/units, systemd-analyze's overall exposure and
// each row's exposure and verdict equal burrow's.
TEST(Audit, AgreesWithSystemdAnalyzeOnEveryTestUnit) {
  if (!haveSystemdAnalyze()) GTEST_SKIP() << "systemd-analyze is not installed";
  int units = 0;
  for (const auto& entry : std::filesystem::directory_iterator(BURROW_UNIT_DATA)) {
    if (entry.path().extension() != ".service") continue;
    ++units;
    const std::string path = entry.path().string();
    SCOPED_TRACE(path);
    auto u = config::loadUnitFile(path);
    ASSERT_TRUE(u) << u.error().message();
    auto c = configFromUnit(*u);
    ASSERT_TRUE(c) << c.error().message();
    Audit ours = audit(*c);

    std::string text =
        run("systemd-analyze security --offline=true --no-pager '" + path + "' 2>/dev/null");
    auto at = text.find("Overall exposure level for ");
    ASSERT_NE(at, std::string::npos) << text;
    std::string line = text.substr(at, text.find('\n', at) - at);
    std::string want = "Overall exposure level for " + ours.unit_name + ": " +
                       std::to_string(ours.exposure / 10) + "." +
                       std::to_string(ours.exposure % 10) + " " + ours.band;
    EXPECT_EQ(line.substr(0, want.size()), want);

    auto theirs = nlohmann::json::parse(
        run("systemd-analyze security --offline=true --json=short '" + path + "' 2>/dev/null"));
    std::map<std::string, nlohmann::json> by_field;
    for (const auto& row : theirs) by_field[row["json_field"].get<std::string>()] = row;
    EXPECT_EQ(by_field.size(), ours.rows.size());
    for (const auto& r : ours.rows) {
      auto it = by_field.find(r.json_field);
      ASSERT_NE(it, by_field.end()) << r.json_field;
      const auto& t = it->second;
      std::string their_exp = t["exposure"].is_null() ? "" : t["exposure"].get<std::string>();
      std::string our_exp = r.exposure_tenths ? std::to_string(*r.exposure_tenths / 10) + "." +
                                                    std::to_string(*r.exposure_tenths % 10)
                                              : "";
      EXPECT_EQ(our_exp, their_exp) << r.json_field;
      nlohmann::json our_set =
          r.badness ? nlohmann::json(*r.badness == 0) : nlohmann::json(nullptr);
      EXPECT_EQ(our_set, t["set"]) << r.json_field;
      EXPECT_EQ(r.name, t["name"].get<std::string>());
    }
  }
  EXPECT_GE(units, 25);
}

}  // namespace
}  // namespace sandbox
