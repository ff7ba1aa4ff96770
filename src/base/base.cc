#include "base/base.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace base {

std::string Error::message() const {
  // Errors made by burrow (generic category) say everything in their context; errno-style
  // errors (system category, incl. Asio's) add the system's text.
  if (!code || code.category() != std::system_category()) return context;
  return fmt::format("{}: {}", context, code.message());
}

void checkFailed(const char* file, int line, const char* cond) {
  std::fprintf(stderr, "burrow: CHECK failed at %s:%d: %s\n", file, line, cond);
  std::abort();
}

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);  // see close(2): never retried, the fd is gone either way
  fd_ = fd;
}

bool processRunning(pid_t pid) {
  auto stat = readFile(fmt::format("/proc/{}/stat", pid), 4096);
  if (!stat) return false;
  // "PID (COMM) STATE ...": COMM may hold spaces and parentheses, so look after the last ')'.
  auto paren = stat->rfind(')');
  return paren == std::string::npos || paren + 2 >= stat->size() || (*stat)[paren + 2] != 'Z';
}

Result<std::string> readFile(const std::string& path, size_t max_bytes) {
  UniqueFd fd(retryEintr([&] { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC); }));
  if (!fd) return sysError("open({})", path);
  std::string out;
  std::array<char, 8192> buf;
  for (;;) {
    ssize_t n = retryEintr([&] { return ::read(fd.get(), buf.data(), buf.size()); });
    if (n < 0) return sysError("read({})", path);
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes)
      return makeError(std::errc::file_too_large, "{} is larger than {} bytes", path, max_bytes);
    out.append(buf.data(), static_cast<size_t>(n));
  }
  return out;
}

Result<void> writeFileAtomic(const std::string& path, std::string_view data, unsigned mode) {
  std::string tmp = path + ".tmp." + hexEncode(randomBytes(4));
  UniqueFd fd(retryEintr([&] {
    return ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, static_cast<mode_t>(mode));
  }));
  if (!fd) return sysError("create {}", tmp);
  auto fail = [&](Unexpected e) {
    ::unlink(tmp.c_str());
    return e;
  };
  if (::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0) return fail(sysError("chmod {}", tmp));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = retryEintr([&] { return ::write(fd.get(), data.data() + off, data.size() - off); });
    if (n < 0) return fail(sysError("write {}", tmp));
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail(sysError("fsync {}", tmp));
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(sysError("rename {} to {}", tmp, path));
  return {};
}

Result<void> ensureDir(const std::string& path, unsigned mode) {
  if (path.empty()) return invalid("empty directory path");
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    std::string part = path.substr(0, pos);
    if (::mkdir(part.c_str(), pos == path.size() ? static_cast<mode_t>(mode) : 0755) != 0 &&
        errno != EEXIST)
      return sysError("mkdir {}", part);
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return sysError("stat {}", path);
  if (!S_ISDIR(st.st_mode))
    return makeError(std::errc::not_a_directory, "{} is not a directory", path);
  if ((st.st_mode & 07777) != mode && ::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0)
    return sysError("chmod {}", path);
  return {};
}

namespace {
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}
}  // namespace

std::string base64Encode(std::span<const uint8_t> d) {
  std::string out;
  out.reserve((d.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < d.size(); i += 3) {
    uint32_t v = (d[i] << 16) | (d[i + 1] << 8) | d[i + 2];
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i < d.size()) {
    uint32_t v = d[i] << 16;
    if (i + 1 < d.size()) v |= d[i + 1] << 8;
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += i + 1 < d.size() ? kB64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string base64Encode(std::string_view data) {
  return base64Encode(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

Result<std::string> base64Decode(std::string_view text) {
  text = trim(text);
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    int v = b64Value(text[i]);
    if (v < 0) return invalid("invalid base64 character at offset {}", i);
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (bits >= 6) return invalid("truncated base64 input");
  return out;
}

std::string hexEncode(std::span<const uint8_t> d) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(d.size() * 2);
  for (uint8_t b : d) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::string hexEncode(std::string_view data) {
  return hexEncode(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

Result<std::string> hexDecode(std::string_view text) {
  if (text.size() % 2) return invalid("hex string has odd length {}", text.size());
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < text.size(); i += 2) {
    int hi = nib(text[i]), lo = nib(text[i + 1]);
    if (hi < 0 || lo < 0) return invalid("invalid hex character at offset {}", i);
    out += static_cast<char>(hi << 4 | lo);
  }
  return out;
}

std::string urlEncode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::optional<std::string> urlDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      auto hex = hexDecode(s.substr(i + 1, 2));
      if (!hex) return std::nullopt;
      out += *hex;
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::map<std::string, std::string> parseForm(std::string_view body) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start < body.size() && out.size() < 32) {
    size_t amp = body.find('&', start);
    if (amp == std::string_view::npos) amp = body.size();
    const std::string_view pair = body.substr(start, amp - start);
    start = amp + 1;
    const size_t eq = pair.find('=');
    auto k = urlDecode(pair.substr(0, eq), true);
    auto v = urlDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
    if (k && v) out.emplace(std::move(*k), std::move(*v));
  }
  return out;
}

std::string htmlEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string toLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string randomBytes(size_t n) {
  std::string out(n, '\0');
  size_t off = 0;
  while (off < n) {
    ssize_t r = ::getrandom(out.data() + off, n - off, 0);  // see getrandom(2)
    if (r < 0) {
      CHECK(errno == EINTR);
      continue;
    }
    off += static_cast<size_t>(r);
  }
  return out;
}

std::string_view version() { return BURROW_VERSION; }

std::string formatUtc(int64_t unix_time) {
  char when[32] = "-";
  time_t ts = static_cast<time_t>(unix_time);
  struct tm tm {};
  if (gmtime_r(&ts, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return when;
}

std::string randomUuid() {
  std::string b = randomBytes(16);
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);
  std::string h = hexEncode(b);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

Result<std::chrono::milliseconds> parseDuration(std::string_view text) {
  std::string_view s = trim(text);
  if (s.empty()) return invalid("empty duration");
  bool all_digits = s.find_first_not_of("0123456789") == std::string_view::npos;
  if (all_digits) {
    if (s.size() > 9) return invalid("duration '{}' is too large", text);
    return std::chrono::milliseconds(std::stoll(std::string(s)) * 1000);
  }
  double total_ms = 0;
  size_t i = 0;
  while (i < s.size()) {
    while (s[i] == ' ') ++i;  // "1min 30s", as systemd.time(7) writes spans
    size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (start == i) return invalid("duration '{}': expected a number at offset {}", text, start);
    double num = std::strtod(std::string(s.substr(start, i - start)).c_str(), nullptr);
    size_t ustart = i;
    while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
    std::string_view unit = s.substr(ustart, i - ustart);
    double mult;
    if (unit == "ms" || unit == "msec")
      mult = 1;
    else if (unit == "s" || unit == "sec")
      mult = 1000;
    else if (unit == "m" || unit == "min")
      mult = 60'000;
    else if (unit == "h")
      mult = 3'600'000;
    else if (unit == "us" || unit == "usec" || unit == "µs")
      mult = 0.001;
    else if (unit == "ns")
      mult = 0.000001;
    else
      return invalid("duration '{}': unknown unit '{}' (use ms, s, min or h)", text, unit);
    total_ms += num * mult;
    if (total_ms > 1e12) return invalid("duration '{}' is too large", text);
  }
  return std::chrono::milliseconds(static_cast<int64_t>(total_ms));
}

}  // namespace base
