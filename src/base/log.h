// Logging: one line per event with key=value context, e.g.
//   LOG_WARN("route miss host={} path={}", host, path);
// Formatting happens in the caller (fmt); the sink is one non-template function so that
// spdlog stays out of widely included headers. Thread-safe. Never log secrets.
#pragma once

#include <string_view>

#include <fmt/core.h>

namespace base {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3, Off = 4 };

void setLogLevel(LogLevel level);
LogLevel logLevel();
// Parses "debug", "info", "warn", "error", "off"; false when unknown.
bool parseLogLevel(std::string_view text, LogLevel* out);
void logLine(LogLevel level, std::string_view line);

}  // namespace base

#define BURROW_LOG(level, ...)                                        \
  do {                                                                \
    if (static_cast<int>(level) >= static_cast<int>(::base::logLevel())) \
      ::base::logLine(level, ::fmt::format(__VA_ARGS__));             \
  } while (0)
#define LOG_DEBUG(...) BURROW_LOG(::base::LogLevel::Debug, __VA_ARGS__)
#define LOG_INFO(...) BURROW_LOG(::base::LogLevel::Info, __VA_ARGS__)
#define LOG_WARN(...) BURROW_LOG(::base::LogLevel::Warn, __VA_ARGS__)
#define LOG_ERROR(...) BURROW_LOG(::base::LogLevel::Error, __VA_ARGS__)
