// base: the pieces every subsystem uses — Result/Error, owned fds, logging, CHECK, and
// small helpers for files, encodings and randomness. Nothing here knows about burrow's
// other subsystems. All functions are thread-safe unless noted.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/check.h"
#include "base/log.h"
#include "base/result.h"
#include "base/unique_fd.h"

namespace base {

// Retries a syscall-like callable while it fails with EINTR.
template <class F>
auto retryEintr(F&& f) {
  for (;;) {
    auto r = f();
    if (!(r == -1 && errno == EINTR)) return r;
  }
}

// Files.
Result<std::string> readFile(const std::string& path, size_t max_bytes = 16 << 20);
// Writes `data` to `path` atomically (temp file in the same directory, fsync, rename) with
// the given mode. The file is never observed half-written.
Result<void> writeFileAtomic(const std::string& path, std::string_view data, unsigned mode);
// Creates `path` (and parents) with `mode` if missing; an existing directory keeps its
// contents but has its mode set to `mode`.
Result<void> ensureDir(const std::string& path, unsigned mode);

// Encodings.
std::string base64Encode(std::span<const uint8_t> data);
std::string base64Encode(std::string_view data);
// Accepts standard and URL-safe alphabets, with or without padding; surrounding white
// space is ignored. Returns an error naming the first bad character.
Result<std::string> base64Decode(std::string_view text);
std::string hexEncode(std::span<const uint8_t> data);
std::string hexEncode(std::string_view data);
Result<std::string> hexDecode(std::string_view text);
std::string_view trim(std::string_view s);
// & < > " ' as HTML character references: safe in text and in quoted attributes.
std::string htmlEscape(std::string_view s);
std::string toLower(std::string_view s);
// Percent-encoding (RFC 3986: all but unreserved characters) and its inverse; `plus_is_space`
// for application/x-www-form-urlencoded. Nothing for a bad escape.
std::string urlEncode(std::string_view s);
std::optional<std::string> urlDecode(std::string_view s, bool plus_is_space);
// application/x-www-form-urlencoded, or a query string: name → first value (32 names at most).
std::map<std::string, std::string> parseForm(std::string_view body);

// Randomness from getrandom(2); never fails short.
std::string randomBytes(size_t n);
// A random id of 16 bytes formatted as a UUID (version 4).
std::string randomUuid();

// Unix seconds as "2026-12-05T06:15:05Z" (UTC); "-" for a time gmtime cannot show.
std::string formatUtc(int64_t unix_time);
// burrow's version ("0.1.0"), the project's in CMakeLists.txt.
std::string_view version();

// True while `pid` runs; a process that has ended but is not reaped yet (a zombie) does not.
bool processRunning(pid_t pid);

// host:port. "host:port" or "[ipv6]:port"; the host may be empty (a listener's ":7844"), else
// a DNS name, a dotted IPv4 address or a bracketed IPv6 one. Port 0 ("any free port") only
// when `port_zero_ok` (listeners). Errors quote TEXT and say what is wrong.
struct HostPort {
  std::string host;  // without brackets for IPv6
  uint16_t port = 0;
};
Result<HostPort> splitHostPort(std::string_view text, bool port_zero_ok = false);
// "", "0.0.0.0", "::" (any spelling): every address to a listener, so never dialable.
bool isWildcardHost(std::string_view host);
// "localhost", 127.0.0.0/8, ::1.
bool isLoopbackHost(std::string_view host);

// Go-style durations: "300ms", "30s", "1m30s", "2h". A bare integer is seconds.
Result<std::chrono::milliseconds> parseDuration(std::string_view text);

}  // namespace base
