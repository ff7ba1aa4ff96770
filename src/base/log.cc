#include "base/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include <fmt/chrono.h>

namespace base {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::Info)};
std::mutex g_mu;  // serialises whole lines on stderr

// Under journald (JOURNAL_STREAM names our stderr) lines carry <N> priorities and no time.
bool underJournal() {
  static const bool v = [] {
    const char* js = std::getenv("JOURNAL_STREAM");
    return js != nullptr && *js != '\0';
  }();
  return v;
}

}  // namespace

void setLogLevel(LogLevel level) { g_level = static_cast<int>(level); }
LogLevel logLevel() { return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed)); }

bool parseLogLevel(std::string_view t, LogLevel* out) {
  if (t == "debug")
    *out = LogLevel::Debug;
  else if (t == "info")
    *out = LogLevel::Info;
  else if (t == "warn")
    *out = LogLevel::Warn;
  else if (t == "error")
    *out = LogLevel::Error;
  else if (t == "off")
    *out = LogLevel::Off;
  else
    return false;
  return true;
}

void logLine(LogLevel level, std::string_view line) {
  static constexpr const char* kNames[] = {"DBG", "INF", "WRN", "ERR"};
  static constexpr int kPrio[] = {7, 6, 4, 3};
  int l = static_cast<int>(level);
  if (l < 0 || l > 3) return;
  std::string out;
  if (underJournal()) {
    out = fmt::format("<{}>{}\n", kPrio[l], line);
  } else {
    auto now = std::chrono::system_clock::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
    out = fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z {} {}\n",
                      fmt::gmtime(std::chrono::system_clock::to_time_t(now)), ms.count(), kNames[l],
                      line);
  }
  std::lock_guard<std::mutex> lock(g_mu);
  (void)!::write(STDERR_FILENO, out.data(), out.size());
}

}  // namespace base
