// Logging: one line per event with key=value context, e.g.
//   LOG_WARN("route miss host={} path={}", host, path);
// Formatting happens in the caller (fmt); the sink is one non-template function so that
// spdlog stays out of widely included headers. Thread-safe. Never log secrets.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

#include <fmt/core.h>

namespace base {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3, Off = 4 };

void setLogLevel(LogLevel level);
LogLevel logLevel();
// Parses "debug", "info", "warn", "error", "off"; false when unknown.
bool parseLogLevel(std::string_view text, LogLevel* out);
void logLine(LogLevel level, std::string_view line);

// For events a client can repeat at will: lets one log line through per second and counts
// the events in between. Thread-safe (relaxed atomics); make one per kind of event, static.
class EverySecond {
 public:
  // Counts one event; returns how many happened since the last line (this one included)
  // when a line may be written now, 0 otherwise.
  uint64_t admit() {
    events_.fetch_add(1, std::memory_order_relaxed);
    int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count();
    int64_t last = last_ms_.load(std::memory_order_relaxed);
    if (now - last < 1000 || !last_ms_.compare_exchange_strong(last, now)) return 0;
    return events_.exchange(0);
  }

 private:
  std::atomic<int64_t> last_ms_{0};
  std::atomic<uint64_t> events_{0};
};

}  // namespace base

#define BURROW_LOG(level, ...)                                           \
  do {                                                                   \
    if (static_cast<int>(level) >= static_cast<int>(::base::logLevel())) \
      ::base::logLine(level, ::fmt::format(__VA_ARGS__));                \
  } while (0)
#define LOG_DEBUG(...) BURROW_LOG(::base::LogLevel::Debug, __VA_ARGS__)
#define LOG_INFO(...) BURROW_LOG(::base::LogLevel::Info, __VA_ARGS__)
#define LOG_WARN(...) BURROW_LOG(::base::LogLevel::Warn, __VA_ARGS__)
#define LOG_ERROR(...) BURROW_LOG(::base::LogLevel::Error, __VA_ARGS__)
