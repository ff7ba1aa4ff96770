#include "http/access_log.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace http {
namespace {

std::string protocolOf(int version) {
  switch (version) {
    case 10:
      return "HTTP/1.0";
    case 20:
      return "HTTP/2.0";
    default:
      return "HTTP/1.1";
  }
}

// Inside the combined format's quotes: `"`, `\`, control bytes and bytes past ASCII as \xHH,
// as nginx writes them, so that one line stays one line and its fields stay apart.
std::string escaped(std::string_view s) {
  if (s.empty()) return "-";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
      out += fmt::format("\\x{:02X}", c);
    else
      out += static_cast<char>(c);
  }
  return out;
}

std::string milliseconds(std::chrono::microseconds d) {
  return fmt::format("{:.3f}", static_cast<double>(d.count()) / 1000.0);
}

std::tm utc(std::chrono::system_clock::time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  return tm;
}

}  // namespace

base::Result<AccessLogFormat> parseAccessLogFormat(std::string_view name) {
  if (name == "json") return AccessLogFormat::Json;
  if (name == "combined") return AccessLogFormat::Combined;
  return base::invalid("unknown access log format '{}' (json or combined)", name);
}

std::string formatAccessEntry(const AccessEntry& e, AccessLogFormat format) {
  if (format == AccessLogFormat::Json) {
    std::tm tm = utc(e.time);
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(e.time.time_since_epoch()) % 1000;
    nlohmann::ordered_json j;
    j["time"] =
        fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms.count());
    j["client"] = e.client;
    j["host"] = e.host;
    j["method"] = e.method;
    j["path"] = e.target;
    j["protocol"] = protocolOf(e.version);
    j["status"] = e.status;
    j["bytes"] = e.bytes;
    j["duration_ms"] = static_cast<double>(e.duration.count()) / 1000.0;
    j["tunnel"] = e.tunnel.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(e.tunnel);
    j["upstream_ms"] =
        e.upstream ? nlohmann::ordered_json(static_cast<double>(e.upstream->count()) / 1000.0)
                   : nlohmann::ordered_json();
    j["user_agent"] = e.user_agent;
    j["referer"] = e.referer;
    // Bytes that are not UTF-8 (a client's header) are replaced rather than refused.
    return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  }
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm = utc(e.time);
  // Apache's combined format, then the host, the tunnel, the duration and the upstream time.
  return fmt::format(
      "{} - - [{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000] \"{} {} {}\" {} {} \"{}\" \"{}\" \"{}\" "
      "\"{}\" {}ms {}",
      e.client.empty() ? "-" : e.client, tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900,
      tm.tm_hour, tm.tm_min, tm.tm_sec, escaped(e.method), escaped(e.target), protocolOf(e.version),
      e.status, e.bytes, escaped(e.referer), escaped(e.user_agent), escaped(e.host), escaped(e.tunnel),
      milliseconds(e.duration), e.upstream ? milliseconds(*e.upstream) + "ms" : "-");
}

base::Result<std::shared_ptr<AccessLog>> AccessLog::open(std::string path, AccessLogFormat format) {
  if (path.empty()) return base::invalid("the access log needs a file, or - for standard output");
  int fd = STDOUT_FILENO;
  if (path != "-") {
    fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) return base::sysError("cannot open the access log {}", path);
  }
  return std::shared_ptr<AccessLog>(new AccessLog(std::move(path), format, fd));
}

AccessLog::~AccessLog() {
  if (fd_ != STDOUT_FILENO) ::close(fd_);
}

void AccessLog::write(const AccessEntry& e) {
  std::string line = formatAccessEntry(e, format_);
  line += '\n';
  std::lock_guard lock(mu_);
  // One write(2) per line: with O_APPEND, lines of other writers never interleave with it.
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a full disk loses log lines, never requests
    done += static_cast<size_t>(n);
  }
}

base::Result<void> AccessLog::reopen() {
  if (path_ == "-") return {};
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return base::sysError("cannot reopen the access log {}", path_);
  std::lock_guard lock(mu_);
  ::close(std::exchange(fd_, fd));
  return {};
}

AccessRecorder::AccessRecorder(const RequestHead& req, ResponseWriter& out)
    : out_(out), start_(std::chrono::steady_clock::now()) {
  entry_.time = std::chrono::system_clock::now();
  entry_.client = req.client_ip;
  entry_.host = req.authority;
  entry_.method = req.method;
  entry_.target = req.target;
  entry_.version = req.version;
  if (const std::string* ua = req.find("user-agent")) entry_.user_agent = *ua;
  if (const std::string* ref = req.find("referer")) entry_.referer = *ref;
}

Task<base::Result<void>> AccessRecorder::writeHead(ResponseHead head) {
  entry_.status = head.status;
  if (upstream_sent_ && !entry_.upstream)
    entry_.upstream = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - *upstream_sent_);
  co_return co_await out_.writeHead(std::move(head));
}

Task<base::Result<void>> AccessRecorder::writeBody(const char* data, size_t len) {
  auto r = co_await out_.writeBody(data, len);
  if (r) entry_.bytes += len;
  co_return r;
}

const AccessEntry& AccessRecorder::entry() {
  if (!out_.headWritten()) entry_.status = 499;
  entry_.duration = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start_);
  return entry_;
}

}  // namespace http
