#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstring>
#include <thread>

#include "base/base.h"
#include "base/undo.h"
#include "netns/internal.h"
#include "netns/netlink.h"
#include "netns/netns.h"
#include "netns/nft.h"

namespace netns::internal {

base::Result<void> inNamespace(int ns_fd, const std::function<base::Result<void>()>& fn) {
  base::Result<void> r;
  std::thread t([&] {
    if (ns_fd < 0 ? ::unshare(CLONE_NEWNET) : ::setns(ns_fd, CLONE_NEWNET)) {
      r = base::sysError("{}", ns_fd < 0 ? "unshare(CLONE_NEWNET)" : "setns");
      return;
    }
    r = fn();
  });
  t.join();
  return r;
}

base::Result<void> writeSysctl(const std::string& key, const char* value) {
  std::string path = "/proc/sys/" + key;
  base::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd || ::write(fd.get(), value, std::strlen(value)) < 0)
    return base::sysError("sysctl {}", key);
  return {};
}

base::Result<void> prepareRunDir() {
  if (::mkdir(kRunDir, 0755) < 0 && errno != EEXIST) return base::sysError("mkdir {}", kRunDir);
  if (::mount("", kRunDir, "none", MS_SHARED | MS_REC, nullptr) == 0) return {};
  if (errno != EINVAL) return base::sysError("make {} shared", kRunDir);
  if (::mount(kRunDir, kRunDir, "none", MS_BIND | MS_REC, nullptr) < 0)
    return base::sysError("bind {}", kRunDir);
  if (::mount("", kRunDir, "none", MS_SHARED | MS_REC, nullptr) < 0)
    return base::sysError("make {} shared", kRunDir);
  return {};
}

base::Result<void> deleteHostTable(const std::string& table, const char* family) {
  return applyPolicy(fmt::format("add table {1} {0}\ndelete table {1} {0}\n", table, family));
}

base::Result<std::pair<dev_t, ino_t>> nsIdentity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) < 0) return base::sysError("{}", path);
  return std::pair{st.st_dev, st.st_ino};
}

std::vector<pid_t> membersOf(std::pair<dev_t, ino_t> id) {
  std::vector<pid_t> pids;
  DIR* d = ::opendir("/proc");
  if (!d) return pids;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end) continue;
    struct stat st {};
    if (::stat(fmt::format("/proc/{}/ns/net", pid).c_str(), &st) == 0 && st.st_dev == id.first &&
        st.st_ino == id.second)
      pids.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  return pids;
}

bool alive(pid_t pid) {
  if (::waitpid(pid, nullptr, WNOHANG) == pid) return false;
  return base::processRunning(pid);
}

void stopAll(const std::vector<pid_t>& pids, std::chrono::milliseconds grace) {
  using clock = std::chrono::steady_clock;
  for (pid_t p : pids) ::kill(p, SIGTERM);
  auto until = clock::now() + grace;
  auto any_alive = [&] {
    for (pid_t p : pids)
      if (alive(p)) return true;
    return false;
  };
  while (any_alive() && clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  for (pid_t p : pids)
    if (alive(p)) ::kill(p, SIGKILL);
  until = clock::now() + std::chrono::seconds(1);
  while (any_alive() && clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

base::Result<base::UniqueFd> createNamespace(const std::string& name) {
  const std::string path = namespacePath(name);
  RETURN_IF_ERROR(prepareRunDir());
  {
    base::UniqueFd f(::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
    if (!f) {
      if (errno == EEXIST)
        return base::makeError(std::errc::file_exists, "namespace {} already exists ({})", name,
                               path);
      return base::sysError("create {}", path);
    }
  }
  base::Undo undo;
  undo.add([name] { (void)removeNamespace(name); });
  auto make = [&]() -> base::Result<void> {
    if (::mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) < 0)
      return base::sysError("bind the namespace at {}", path);
    for (const char* k : {"net/ipv6/conf/all/disable_ipv6", "net/ipv6/conf/default/disable_ipv6"})
      RETURN_IF_ERROR(writeSysctl(k, "1"));
    ASSIGN_OR_RETURN(nl::Socket s, nl::Socket::open());
    return nl::linkUp(s, nl::linkIndex("lo"), 0, "lo");
  };
  RETURN_IF_ERROR(inNamespace(-1, make));
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return base::sysError("open {}", path);
  undo.keep();
  return fd;
}

base::Result<void> removeNamespace(const std::string& name) {
  const std::string path = namespacePath(name);
  if (::umount2(path.c_str(), MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
    return base::sysError("unmount {}", path);
  if (::unlink(path.c_str()) < 0 && errno != ENOENT) return base::sysError("remove {}", path);
  return {};
}

}  // namespace netns::internal
