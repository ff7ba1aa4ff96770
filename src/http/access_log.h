// The access log of the edge and the connector: one line per request, as JSON or in the
// combined format with burrow's fields after it. Written from any thread; SIGUSR1 reopens the
// file for logrotate.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "base/base.h"
#include "http/http.h"

namespace http {

enum class AccessLogFormat { Json, Combined };

// "json" or "combined"; anything else is an error naming both.
base::Result<AccessLogFormat> parseAccessLogFormat(std::string_view name);

struct AccessEntry {
  std::chrono::system_clock::time_point time;  // when the request head had arrived
  std::string client;                          // the client's address
  std::string host, method, target, user_agent, referer;
  int version = 11;    // 10, 11 or 20
  int status = 0;      // 499: the client went away before an answer's head was sent
  uint64_t bytes = 0;  // body bytes sent to the client
  std::chrono::microseconds duration{0};
  std::string tunnel;  // "" = none (no route)
  // From sending the request on (through the tunnel, or to the origin) to its answer's head.
  std::optional<std::chrono::microseconds> upstream;
};

// One line, without the newline.
std::string formatAccessEntry(const AccessEntry& e, AccessLogFormat format);

class AccessLog {
 public:
  // PATH "-" is standard output. A file is opened for appending and created 0640.
  static base::Result<std::shared_ptr<AccessLog>> open(std::string path, AccessLogFormat format);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  void write(const AccessEntry& e);
  // Opens the path again (after logrotate moved the file away); on failure the old file stays
  // in use and the error is returned.
  base::Result<void> reopen();
  const std::string& path() const { return path_; }

 private:
  AccessLog(std::string path, AccessLogFormat format, int fd)
      : path_(std::move(path)), format_(format), fd_(fd) {}
  const std::string path_;
  const AccessLogFormat format_;
  std::mutex mu_;
  int fd_;
};

// Starts an entry from a request (before anything changes it) and counts what its answer
// sends: wrap the ResponseWriter, serve through it, then call entry().
class AccessRecorder final : public ResponseWriter {
 public:
  AccessRecorder(const RequestHead& req, ResponseWriter& out);
  Task<base::Result<void>> writeHead(ResponseHead head) override;
  Task<base::Result<void>> writeBody(const char* data, size_t len) override;
  Task<base::Result<void>> finish() override { return out_.finish(); }
  Task<base::Result<void>> flush() override { return out_.flush(); }
  bool headWritten() const override { return out_.headWritten(); }
  void onAbandoned(std::function<void()> fn) override { out_.onAbandoned(std::move(fn)); }

  // The request went on upstream now: the upstream time runs from here to the answer's head.
  void upstreamSent() { upstream_sent_ = std::chrono::steady_clock::now(); }
  void setTunnel(std::string name) { entry_.tunnel = std::move(name); }
  // The finished entry: status, bytes and duration as of now.
  const AccessEntry& entry();

 private:
  ResponseWriter& out_;
  AccessEntry entry_;
  std::chrono::steady_clock::time_point start_;
  std::optional<std::chrono::steady_clock::time_point> upstream_sent_;
};

}  // namespace http
