#include "http/access_log.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace http {
namespace {

AccessEntry sample() {
  AccessEntry e;
  // 2026-12-04T15:10:07.250Z
  e.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1796397007250));
  e.client = "203.0.113.9";
  e.host = "photos.example.net";
  e.method = "GET";
  e.target = "/album?id=7";
  e.version = 20;
  e.status = 200;
  e.bytes = 1024;
  e.duration = std::chrono::microseconds(12345);
  e.tunnel = "home";
  e.upstream = std::chrono::microseconds(11000);
  e.user_agent = "curl/7.88.1";
  e.referer = "";
  return e;
}

TEST(AccessLog, Combined) {
  EXPECT_EQ(formatAccessEntry(sample(), AccessLogFormat::Combined),
            "203.0.113.9 - - [04/Dec/2026:15:10:07 +0000] \"GET /album?id=7 HTTP/2.0\" 200 1024 "
            "\"-\" \"curl/7.88.1\" \"photos.example.net\" \"home\" 12.345ms 11.000ms");
}

TEST(AccessLog, CombinedKeepsOneLineAndItsFieldsApart) {
  AccessEntry e = sample();
  e.target = "/a\"b\\c\n d\x80";
  e.user_agent = "x\" \"y";
  e.tunnel = "";
  e.upstream.reset();
  std::string line = formatAccessEntry(e, AccessLogFormat::Combined);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_NE(line.find("\"GET /a\\x22b\\x5Cc\\x0A d\\x80 HTTP/2.0\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"x\\x22 \\x22y\""), std::string::npos) << line;
  EXPECT_TRUE(line.ends_with("\"-\" 12.345ms -")) << line;
}

TEST(AccessLog, Json) {
  AccessEntry e = sample();
  e.user_agent = "bad \xff utf-8 \"quoted\"\n";
  auto j = nlohmann::json::parse(formatAccessEntry(e, AccessLogFormat::Json));
  EXPECT_EQ(j["time"], "2026-12-04T15:10:07.250Z");
  EXPECT_EQ(j["client"], "203.0.113.9");
  EXPECT_EQ(j["host"], "photos.example.net");
  EXPECT_EQ(j["method"], "GET");
  EXPECT_EQ(j["path"], "/album?id=7");
  EXPECT_EQ(j["protocol"], "HTTP/2.0");
  EXPECT_EQ(j["status"], 200);
  EXPECT_EQ(j["bytes"], 1024);
  EXPECT_DOUBLE_EQ(j["duration_ms"].get<double>(), 12.345);
  EXPECT_EQ(j["tunnel"], "home");
  EXPECT_DOUBLE_EQ(j["upstream_ms"].get<double>(), 11.0);
  EXPECT_EQ(j["user_agent"], "bad \xEF\xBF\xBD utf-8 \"quoted\"\n");
  e.tunnel = "";
  e.upstream.reset();
  j = nlohmann::json::parse(formatAccessEntry(e, AccessLogFormat::Json));
  EXPECT_TRUE(j["tunnel"].is_null());
  EXPECT_TRUE(j["upstream_ms"].is_null());
}

TEST(AccessLog, Formats) {
  EXPECT_EQ(*parseAccessLogFormat("json"), AccessLogFormat::Json);
  EXPECT_EQ(*parseAccessLogFormat("combined"), AccessLogFormat::Combined);
  auto bad = parseAccessLogFormat("common");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "unknown access log format 'common' (json or combined)");
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(AccessLog, AppendsAndReopensAfterRotation) {
  std::string dir = ::testing::TempDir() + "/access_log_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string path = dir + "/access.log";
  { std::ofstream(path) << "kept\n"; }
  auto log = AccessLog::open(path, AccessLogFormat::Combined);
  ASSERT_TRUE(log) << log.error().message();
  (*log)->write(sample());
  std::filesystem::rename(path, path + ".1");  // logrotate's move
  (*log)->write(sample());                     // still into the moved file
  ASSERT_TRUE((*log)->reopen());
  (*log)->write(sample());
  std::string line = formatAccessEntry(sample(), AccessLogFormat::Combined) + "\n";
  EXPECT_EQ(slurp(path + ".1"), "kept\n" + line + line);
  EXPECT_EQ(slurp(path), line);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  std::filesystem::remove_all(dir);
}

TEST(AccessLog, UnwritablePathIsAnError) {
  auto log = AccessLog::open("/nonexistent-dir/access.log", AccessLogFormat::Json);
  ASSERT_FALSE(log);
  EXPECT_NE(log.error().message().find("cannot open the access log /nonexistent-dir/access.log"),
            std::string::npos)
      << log.error().message();
}

}  // namespace
}  // namespace http
