#include "tunnel/live.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <nlohmann/json.hpp>

#include "base/base.h"

namespace tunnel {
namespace {

std::string lockPath(const std::string& dir) { return dir + "/edge.lock"; }
std::string livePath(const std::string& dir) { return dir + "/connections.json"; }

// The file is small and written only when a connection registers or ends.
constexpr size_t kMaxLiveFile = 8 << 20;

}  // namespace

base::Result<std::unique_ptr<LiveRegistry>> LiveRegistry::open(const std::string& dir) {
  const std::string path = lockPath(dir);
  base::UniqueFd fd(base::retryEintr(
      [&] { return ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600); }));
  if (!fd) return base::sysError("open {}", path);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return base::sysError("lock {}", path);
    char pid[32] = {};
    ssize_t n = ::pread(fd.get(), pid, sizeof pid - 1, 0);
    return base::invalid("another edge{} runs with state directory {}: stop it first",
                         n > 0 ? fmt::format(" (pid {})", base::trim(std::string(pid, n))) : "",
                         dir);
  }
  std::string me = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0 || ::pwrite(fd.get(), me.data(), me.size(), 0) < 0)
    return base::sysError("write {}", path);
  std::unique_ptr<LiveRegistry> r(new LiveRegistry());
  r->dir_ = dir;
  r->lock_ = std::move(fd);
  std::lock_guard lock(r->mu_);
  r->writeLocked();
  return r;
}

LiveRegistry::~LiveRegistry() {
  if (!dir_.empty()) ::unlink(livePath(dir_).c_str());
}

void LiveRegistry::add(LiveConnection c) {
  std::lock_guard lock(mu_);
  conns_.push_back(std::move(c));
  writeLocked();
}

std::vector<LiveConnection> LiveRegistry::snapshot() {
  std::lock_guard lock(mu_);
  return conns_;
}

void LiveRegistry::remove(const std::string& connection_id) {
  std::lock_guard lock(mu_);
  std::erase_if(conns_, [&](const LiveConnection& c) { return c.connection_id == connection_id; });
  writeLocked();
}

void LiveRegistry::writeLocked() {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& c : conns_)
    list.push_back({{"tunnel_id", c.tunnel_id},
                    {"connection_id", c.connection_id},
                    {"connector_id", c.connector_id},
                    {"index", c.index},
                    {"peer", c.peer},
                    {"since", c.since_unix},
                    {"version", c.version}});
  nlohmann::json doc = {{"pid", ::getpid()}, {"connections", std::move(list)}};
  if (auto r = base::writeFileAtomic(livePath(dir_), doc.dump(1) + "\n", 0600); !r)
    LOG_WARN("cannot record live connections error={}", r.error().message());
}

base::Result<std::optional<std::vector<LiveConnection>>> readLive(const std::string& dir) {
  using Out = std::optional<std::vector<LiveConnection>>;
  const std::string path = lockPath(dir);
  base::UniqueFd fd(
      base::retryEintr([&] { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW); }));
  if (!fd) {
    if (errno == ENOENT) return Out();  // no edge ever ran here
    return base::sysError("open {}", path);
  }
  if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return Out();  // nobody holds it
  if (errno != EWOULDBLOCK) return base::sysError("lock {}", path);
  auto text = base::readFile(livePath(dir), kMaxLiveFile);
  if (!text) {
    // The edge is between taking its lock and writing its first list.
    if (text.error().code == std::errc::no_such_file_or_directory)
      return Out(std::vector<LiveConnection>{});
    return base::Unexpected(text.error());
  }
  std::vector<LiveConnection> out;
  try {
    auto doc = nlohmann::json::parse(*text);
    for (const auto& c : doc.at("connections"))
      out.push_back({c.at("tunnel_id").get<std::string>(), c.at("connection_id").get<std::string>(),
                     c.at("connector_id").get<std::string>(), c.at("index").get<uint32_t>(),
                     c.at("peer").get<std::string>(), c.at("since").get<int64_t>(),
                     c.value("version", std::string())});
  } catch (const nlohmann::json::exception& e) {
    return base::invalid("{}: {}", livePath(dir), e.what());
  }
  return Out(std::move(out));
}

}  // namespace tunnel
