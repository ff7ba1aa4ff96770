// `burrow exec`: prepareInParent() turns a Config into a Plan (every path, id, environment
// string and seccomp program worked out here), launch() runs it, and the parent supervises:
// it forwards signals, waits, and restarts as Restart= says.
#include <fcntl.h>
#include <grp.h>
#include <linux/loop.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/base.h"
#include "base/log.h"
#include "sandbox/launch.h"
#include "sandbox/unit_values.h"
#include "supervise/supervise.h"

namespace sandbox {
namespace {

constexpr const char* kInaccessibleDir = "/run/burrow/inaccessible";
constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Splits an ExecStart= or Environment= value into words: whitespace separates, double and
// single quotes group, backslash escapes the next character.
base::Result<std::vector<std::string>> splitWords(std::string_view v) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < v.size()) {
    while (i < v.size() && std::isspace(static_cast<unsigned char>(v[i]))) ++i;
    if (i >= v.size()) break;
    std::string w;
    char quote = 0;
    for (; i < v.size(); ++i) {
      char ch = v[i];
      if (quote) {
        if (ch == quote)
          quote = 0;
        else if (ch == '\\' && i + 1 < v.size())
          w += v[++i];
        else
          w += ch;
      } else if (ch == '"' || ch == '\'') {
        quote = ch;
      } else if (ch == '\\' && i + 1 < v.size()) {
        w += v[++i];
      } else if (std::isspace(static_cast<unsigned char>(ch))) {
        break;
      } else {
        w += ch;
      }
    }
    if (quote) return base::invalid("unterminated quote in '{}'", v.substr(0, 80));
    out.push_back(std::move(w));
  }
  return out;
}

// ${VAR} anywhere and $VAR as a whole word, from the service's environment.
std::string expand(const std::string& word, const std::map<std::string, std::string>& env) {
  if (word.size() > 1 && word[0] == '$' && word[1] != '{') {
    auto it = env.find(word.substr(1));
    return it == env.end() ? "" : it->second;
  }
  std::string out;
  for (size_t i = 0; i < word.size(); ++i) {
    if (word[i] == '$' && i + 1 < word.size() && word[i + 1] == '{') {
      size_t close = word.find('}', i + 2);
      if (close != std::string::npos) {
        auto it = env.find(word.substr(i + 2, close - i - 2));
        if (it != env.end()) out += it->second;
        i = close;
        continue;
      }
    }
    out += word[i];
  }
  return out;
}

base::Result<std::string> findExecutable(const std::string& name, std::string_view directive) {
  auto usable = [](const std::string& p) { return ::access(p.c_str(), X_OK) == 0; };
  if (name.find('/') != std::string::npos) {
    if (name.front() != '/') return base::invalid("'{}' is neither absolute nor a bare name", name);
    if (!usable(name)) return base::sysError("{}= binary {}", directive, name);
    return name;
  }
  std::string_view path = kDefaultPath;
  while (!path.empty()) {
    auto colon = path.find(':');
    std::string dir(path.substr(0, colon));
    if (usable(dir + "/" + name)) return dir + "/" + name;
    if (colon == std::string_view::npos) break;
    path.remove_prefix(colon + 1);
  }
  return base::makeError(std::errc::no_such_file_or_directory, "{}= binary '{}' not found in {}",
                         directive, name, kDefaultPath);
}

// The empty, mode-0000 nodes that InaccessiblePaths= and friends mount over their targets
// (systemd keeps its own in /run/systemd/inaccessible).
base::Result<void> ensureInaccessibleNodes() {
  RETURN_IF_ERROR(base::ensureDir("/run/burrow", 0755));
  RETURN_IF_ERROR(base::ensureDir(kInaccessibleDir, 0755));
  std::string dir = std::string(kInaccessibleDir) + "/dir";
  if (::mkdir(dir.c_str(), 0) != 0 && errno != EEXIST) return base::sysError("mkdir {}", dir);
  ::chmod(dir.c_str(), 0);
  std::string reg = std::string(kInaccessibleDir) + "/reg";
  int fd = ::open(reg.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0);
  if (fd < 0) return base::sysError("create {}", reg);
  ::close(fd);
  ::chmod(reg.c_str(), 0);
  std::string chr = std::string(kInaccessibleDir) + "/chr";
  if (::mknod(chr.c_str(), S_IFCHR, makedev(0, 0)) != 0 && errno != EEXIST)
    return base::sysError("mknod {}", chr);
  ::chmod(chr.c_str(), 0);
  return {};
}

std::string inaccessibleFor(const std::string& target) {
  struct stat st {};
  if (::lstat(target.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return std::string(kInaccessibleDir) + "/dir";
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) return std::string(kInaccessibleDir) + "/chr";
  }
  return std::string(kInaccessibleDir) + "/reg";
}

struct Identity {
  bool set = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name = "root", home = "/root", shell = "/bin/sh";
  std::vector<gid_t> groups;
};

base::Result<Identity> resolveIdentity(const Config& c) {
  Identity id;
  if (c.user.empty() || c.user == "root" || c.user == "0") return id;
  id.set = true;
  id.name = c.user;
  if (struct passwd* pw = ::getpwnam(c.user.c_str())) {
    id.uid = pw->pw_uid;
    id.gid = pw->pw_gid;
    id.home = pw->pw_dir;
    id.shell = pw->pw_shell;
  } else if (c.dynamic_user) {
    // A transient identity in systemd's dynamic range, stable for the unit's name.
    uint32_t h = 2166136261u;
    for (char ch : c.unit_name) h = (h ^ static_cast<unsigned char>(ch)) * 16777619u;
    uid_t uid = 61184 + h % (65519 - 61184);
    while (::getpwuid(uid) && uid < 65519) ++uid;
    id.uid = uid;
    id.gid = static_cast<gid_t>(uid);
    id.home = "/";
    id.shell = "/usr/sbin/nologin";
  } else {
    return base::invalid("{}: User={}: no such user", c.source, c.user);
  }
  if (!c.group.empty()) {
    struct group* gr = ::getgrnam(c.group.c_str());
    if (!gr) return base::invalid("{}: Group={}: no such group", c.source, c.group);
    id.gid = gr->gr_gid;
  }
  for (const auto& g : c.supplementary_groups) {
    struct group* gr = ::getgrnam(g.c_str());
    if (!gr) return base::invalid("{}: SupplementaryGroups={}: no such group", c.source, g);
    id.groups.push_back(gr->gr_gid);
  }
  return id;
}

base::Result<std::map<std::string, std::string>> environmentFor(const Config& c,
                                                                const Identity& id) {
  std::map<std::string, std::string> env{{"PATH", kDefaultPath}};
  if (id.set) {
    env["USER"] = env["LOGNAME"] = id.name;
    env["HOME"] = id.home;
    env["SHELL"] = id.shell;
  }
  for (const auto& f : c.environment_files) {
    auto [path_view, optional] = pathValue(f);
    std::string path(path_view);
    auto text = base::readFile(path, 1 << 20);
    if (!text) {
      if (optional) continue;
      return base::Unexpected(text.error());
    }
    std::string_view t = *text;
    while (!t.empty()) {
      auto nl = t.find('\n');
      std::string_view line = base::trim(t.substr(0, nl));
      t = nl == std::string_view::npos ? std::string_view() : t.substr(nl + 1);
      if (line.empty() || line.front() == '#' || line.front() == ';') continue;
      auto eq = line.find('=');
      if (eq == std::string_view::npos) continue;
      std::string value(base::trim(line.substr(eq + 1)));
      if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
          value.back() == value.front())
        value = value.substr(1, value.size() - 2);
      env[std::string(base::trim(line.substr(0, eq)))] = value;
    }
  }
  for (const auto& line : c.environment) {
    ASSIGN_OR_RETURN(auto words, splitWords(line));
    for (const auto& w : words) {
      auto eq = w.find('=');
      if (eq == std::string::npos || eq == 0)
        return base::invalid("{}: Environment={}: expected VAR=VALUE", c.source, w);
      env[w.substr(0, eq)] = w.substr(eq + 1);
    }
  }
  return env;
}

void addReadOnly(std::vector<MountOp>& m, const std::string& path, bool optional) {
  m.push_back({MountOp::Kind::BindSelf, optional, path, "", "", 0, 0});
  m.push_back({MountOp::Kind::ReadOnly, optional, path, "", "", 0, 0});
}
void addInaccessible(std::vector<MountOp>& m, const std::string& path, bool optional) {
  m.push_back({MountOp::Kind::Inaccessible, optional, path, inaccessibleFor(path), "", 0, 0});
}

// The mount steps, in an order where each later step refines the earlier ones: writable
// paths are made mounts of their own first, the read-only layers follow, then fresh file
// systems, then the writable paths are opened again.
// RootImage=: the image's file system is mounted here, in the service's mount namespace only.
constexpr const char* kImageRoot = "/run/burrow/root-image";

// The ephemeral root: a tmpfs of the service's own here holds the overlay's upper and work
// directories and, on `root`, the overlay the service pivots into.
constexpr const char* kEphemeralDir = "/run/burrow/ephemeral";
constexpr const char* kEphemeralRoot = "/run/burrow/ephemeral/root";

// RootDirectory=, RootImage= or the ephemeral root names a root other than the host's own.
bool hasOwnRoot(const Config& c) {
  return !c.root_image.empty() || (!c.root_directory.empty() && c.root_directory != "/") ||
         c.ephemeral_root;
}
// That root, as the service's mount namespace sees it.
std::string rootOf(const Config& c) {
  if (c.ephemeral_root) return kEphemeralRoot;
  return c.root_image.empty() ? c.root_directory : kImageRoot;
}

// The host's mount points (from /proc/self/mountinfo, octal escapes decoded), in mount order.
base::Result<std::vector<std::string>> hostMountPoints() {
  ASSIGN_OR_RETURN(std::string text, base::readFile("/proc/self/mountinfo", 4 << 20));
  std::vector<std::string> out;
  std::string_view t = text;
  while (!t.empty()) {
    auto nl = t.find('\n');
    std::string_view line = t.substr(0, nl);
    t = nl == std::string_view::npos ? std::string_view() : t.substr(nl + 1);
    // ID PARENT MAJ:MIN ROOT MOUNT-POINT ...
    for (int field = 0; field < 4 && !line.empty(); ++field) {
      auto sp = line.find(' ');
      line = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
    }
    std::string_view raw = line.substr(0, line.find(' '));
    if (raw.empty()) continue;
    std::string mp;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\\' && i + 3 < raw.size()) {
        mp += static_cast<char>((raw[i + 1] - '0') * 64 + (raw[i + 2] - '0') * 8 +
                                (raw[i + 3] - '0'));
        i += 3;
      } else {
        mp += raw[i];
      }
    }
    out.push_back(std::move(mp));
  }
  return out;
}

bool isUnder(std::string_view path, std::string_view dir) {
  return path == dir || (path.size() > dir.size() && path.starts_with(dir) &&
                         (dir == "/" || path[dir.size()] == '/'));
}

// The first steps of the ephemeral root: a tmpfs, an overlay of the host's root file system
// on it, the host's API file systems bound in, and every other mount of the host bound in
// read-only (an overlay's lower layer holds no mounts, and a host's /usr or /home of its own
// must not vanish). The mount points under `kEphemeralRoot` are the host's own directories,
// seen through the overlay.
base::Result<std::vector<MountOp>> ephemeralRootPlan() {
  const std::string dir = kEphemeralDir, root = kEphemeralRoot;
  std::vector<MountOp> m;
  m.push_back({MountOp::Kind::Tmpfs, false, dir, "", "mode=0755", 0, 0});
  for (const char* sub : {"/upper", "/work", "/root"})
    m.push_back({MountOp::Kind::Dir, false, dir + sub, "", "", 0, 0755});
  m.push_back({MountOp::Kind::Overlay, false, root, "",
               fmt::format("lowerdir=/,upperdir={0}/upper,workdir={0}/work", dir), 0, 0});
  const char* api[] = {"/proc", "/dev", "/sys", "/run"};
  for (const char* a : api) m.push_back({MountOp::Kind::Bind, false, root + a, a, "", 0, 0});
  // The recursive bind of /run brought a copy of this very tmpfs along.
  m.push_back({MountOp::Kind::Detach, true, root + dir, "", "", 0, 0});
  ASSIGN_OR_RETURN(auto points, hostMountPoints());
  std::sort(points.begin(), points.end());
  std::vector<std::string> bound;
  for (const auto& p : points) {
    if (p == "/" ||
        std::any_of(std::begin(api), std::end(api), [&](const char* a) { return isUnder(p, a); }))
      continue;
    if (std::any_of(bound.begin(), bound.end(), [&](const auto& b) { return isUnder(p, b); }))
      continue;  // came along with a recursive bind already
    bound.push_back(p);
    m.push_back({MountOp::Kind::Bind, true, root + p, p, "", 0, 0});
    m.push_back({MountOp::Kind::ReadOnly, true, root + p, "", "", 0, 0});
  }
  return m;
}

// `path` lies below `dir`.
bool below(std::string_view path, std::string_view dir) {
  return path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/';
}

// The tmpfs of the sandbox that `path` lies under: its directory ("" when none does) and the
// directive that mounts it ("PrivateTmp=yes", "ProtectHome=tmpfs", "TemporaryFileSystem=D").
struct TmpfsCover {
  std::string dir, directive;
};
TmpfsCover tmpfsOver(const Config& c, std::string_view path) {
  for (const char* tmp : {"/tmp", "/var/tmp"})
    if (c.private_tmp && below(path, tmp)) return {tmp, "PrivateTmp=yes"};
  for (const char* home : {"/home", "/root", "/run/user"})
    if (c.protect_home == "tmpfs" && below(path, home)) return {home, "ProtectHome=tmpfs"};
  for (const auto& t : c.temporary_file_systems)
    if (below(path, t.path)) return {t.path, "TemporaryFileSystem=" + t.path};
  return {};
}

// A RootImage= attached to a loop device: its node and file system type.
struct Image {
  std::string device, fs_type;
};

// `dirs`: StateDirectory= and friends, made on the host. Under a root of the service's own they
// are bound in at the same path (systemd does the same); otherwise they are writable paths.
base::Result<std::vector<MountOp>> mountPlan(const Config& c, std::vector<std::string>* writable,
                                             const std::vector<std::string>& dirs,
                                             const Image& image) {
  if (!hasOwnRoot(c)) writable->insert(writable->end(), dirs.begin(), dirs.end());
  std::vector<MountOp> m;
  // Read-only tmpfs mounts become read-only after the binds: mount points are made in them.
  std::vector<MountOp> sealed;
  for (const auto& w : c.read_write_paths) {
    auto [path_view, optional] = pathValue(w);
    std::string path(path_view);
    if (!optional && ::access(path.c_str(), F_OK) != 0)
      return base::sysError("{}: ReadWritePaths={}", c.source, path);
    writable->push_back(path);
  }
  for (const auto& p : *writable) m.push_back({MountOp::Kind::BindSelf, true, p, "", "", 0, 0});

  if (c.protect_system == "strict") {
    m.push_back({MountOp::Kind::ReadOnly, false, "/", "", "", 0, 0});
    for (const char* api : {"/dev", "/proc", "/sys"})
      m.push_back({MountOp::Kind::ReadWrite, true, api, "", "", 0, 0});
  } else if (c.protect_system == "full" || c.protect_system == "yes") {
    for (const char* d : {"/usr", "/boot", "/efi"}) addReadOnly(m, d, true);
    if (c.protect_system == "full") addReadOnly(m, "/etc", false);
  }
  for (const char* home : {"/home", "/root", "/run/user"}) {
    if (c.protect_home == "yes") {
      addInaccessible(m, home, true);
    } else if (c.protect_home == "read-only") {
      addReadOnly(m, home, true);
    } else if (c.protect_home == "tmpfs") {
      m.push_back({MountOp::Kind::Tmpfs, true, home, "", "mode=0755", 0, 0});
      sealed.push_back({MountOp::Kind::ReadOnly, true, home, "", "", 0, 0});
    }
  }
  for (const auto& r : c.read_only_paths) {
    auto [path_view, optional] = pathValue(r);
    std::string path(path_view);
    addReadOnly(m, path, optional);
  }
  // The sandbox's own tmpfs mounts go before the binds, as systemd orders mounts by path: a
  // bind into one of them (BindReadOnlyPaths= of a program under /tmp) is seen by the service.
  for (const auto& t : c.temporary_file_systems) {
    // "ro" among the options means a read-only tmpfs; the rest go to the mount.
    std::string opts;
    bool ro = false;
    for (std::string_view rest = t.options; !rest.empty();) {
      auto comma = rest.find(',');
      std::string_view o = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (o == "ro")
        ro = true;
      else if (!o.empty())
        opts += (opts.empty() ? "" : ",") + std::string(o);
    }
    m.push_back({MountOp::Kind::Tmpfs, false, t.path, "", opts.empty() ? "mode=0755" : opts, 0, 0});
    if (ro) sealed.push_back({MountOp::Kind::ReadOnly, false, t.path, "", "", 0, 0});
  }
  if (c.private_tmp) {
    m.push_back({MountOp::Kind::Tmpfs, false, "/tmp", "", "mode=1777", 0, 0});
    m.push_back({MountOp::Kind::Tmpfs, true, "/var/tmp", "", "mode=1777", 0, 0});
  }
  for (const auto& b : c.binds) {
    if (!b.optional && ::access(b.source.c_str(), F_OK) != 0)
      return base::sysError("{}: {}={}", c.source, b.read_only ? "BindReadOnlyPaths" : "BindPaths",
                            b.source);
    // A missing target directory is made, parents included, as systemd makes it.
    struct stat st {};
    const bool is_dir = ::stat(b.source.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    if (std::string over = tmpfsOver(c, b.target).dir; !over.empty()) {
      // Under a tmpfs of the sandbox (mounted above): its mount point is made in there.
      std::vector<std::string> parts;
      for (std::string p = b.target; p.size() > over.size(); p = p.substr(0, p.rfind('/')))
        parts.push_back(p);
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        const bool last = std::next(it) == parts.rend();
        m.push_back({!last || is_dir ? MountOp::Kind::Dir : MountOp::Kind::File, b.optional, *it,
                     "", "", 0, static_cast<mode_t>(!last || is_dir ? 0755 : 0644)});
      }
    } else if (c.root_directory.empty() && !c.ephemeral_root &&
               ::stat(b.target.c_str(), &st) != 0 && errno == ENOENT && is_dir) {
      std::vector<std::string> missing;
      for (std::string p = b.target; p.size() > 1 && ::access(p.c_str(), F_OK) != 0;
           p = p.substr(0, std::max<size_t>(1, p.rfind('/'))))
        missing.push_back(p);
      // First of all the steps: before ProtectSystem= makes the tree read-only.
      for (const auto& dir : missing)
        m.insert(m.begin(), MountOp{MountOp::Kind::Dir, false, dir, "", "", 0, 0755});
    }
    // In a user range, id-mapped: the range's root is the host's root on the bound files.
    m.push_back({c.user_range.count ? MountOp::Kind::IdmapBind : MountOp::Kind::Bind, b.optional,
                 b.target, b.source, b.recursive ? "" : "norbind", 0, 0,
                 b.read_only ? "BindReadOnlyPaths" : "BindPaths", /*hold_source=*/true});
    if (b.read_only)
      m.push_back({MountOp::Kind::ReadOnly, b.optional, b.target, "", "", 0, 0});
    else
      writable->push_back(b.target);
  }
  m.insert(m.end(), sealed.begin(), sealed.end());
  for (const auto& r : c.inaccessible_paths) {
    auto [path_view, optional] = pathValue(r);
    std::string path(path_view);
    addInaccessible(m, path, optional);
  }
  if (c.private_devices) {
    m.push_back({MountOp::Kind::Tmpfs, false, "/dev", "", "mode=0755", 0, 0});
    const std::pair<const char*, dev_t> nodes[] = {
        {"/dev/null", makedev(1, 3)},    {"/dev/zero", makedev(1, 5)},
        {"/dev/full", makedev(1, 7)},    {"/dev/random", makedev(1, 8)},
        {"/dev/urandom", makedev(1, 9)}, {"/dev/tty", makedev(5, 0)}};
    for (auto [name, dev] : nodes)
      m.push_back({MountOp::Kind::CharDev, false, name, "", "", dev, 0});
    m.push_back({MountOp::Kind::Dir, false, "/dev/shm", "", "", 0, 01777});
    m.push_back({MountOp::Kind::Tmpfs, false, "/dev/shm", "", "mode=1777", 0, 0});
    m.push_back({MountOp::Kind::Symlink, false, "/dev/fd", "/proc/self/fd", "", 0, 0});
    m.push_back({MountOp::Kind::Symlink, false, "/dev/stdin", "/proc/self/fd/0", "", 0, 0});
    m.push_back({MountOp::Kind::Symlink, false, "/dev/stdout", "/proc/self/fd/1", "", 0, 0});
    m.push_back({MountOp::Kind::Symlink, false, "/dev/stderr", "/proc/self/fd/2", "", 0, 0});
  }
  // A fresh /proc: the PID namespace's own, and where ProtectProc=/ProcSubset= apply.
  if (c.private_pids || c.protect_proc != "default" || c.proc_subset == "pid") {
    std::string opts;
    if (c.protect_proc != "default") opts = "hidepid=" + c.protect_proc;
    if (c.proc_subset == "pid") opts += std::string(opts.empty() ? "" : ",") + "subset=pid";
    m.push_back({MountOp::Kind::Proc, false, "/proc", "", opts, 0, 0});
  }
  if (c.protect_kernel_tunables) {
    for (const char* p : {"/proc/sys", "/proc/sysrq-trigger", "/proc/latency_stats", "/proc/mtrr",
                          "/proc/apm", "/proc/acpi", "/proc/timer_stats", "/proc/asound",
                          "/proc/bus", "/proc/fs", "/proc/irq", "/sys"})
      addReadOnly(m, p, true);
  }
  if (c.protect_kernel_modules)
    for (const char* p : {"/usr/lib/modules", "/lib/modules"}) addInaccessible(m, p, true);
  if (c.protect_kernel_logs)
    for (const char* p : {"/proc/kmsg", "/dev/kmsg"}) addInaccessible(m, p, true);
  if (c.protect_control_groups)
    m.push_back({MountOp::Kind::ReadOnly, true, "/sys/fs/cgroup", "", "", 0, 0});
  for (const auto& p : *writable) m.push_back({MountOp::Kind::ReadWrite, true, p, "", "", 0, 0});
  // RootDirectory=: the same steps inside the new root, which becomes a mount of its own;
  // the child chroot()s into it after the last step.
  if (hasOwnRoot(c)) {
    const std::string root = rootOf(c);
    for (auto& op : m) {
      op.target = op.target == "/" ? root : root + op.target;
      if (op.kind == MountOp::Kind::Inaccessible) op.source = inaccessibleFor(op.target);
    }
    if (c.ephemeral_root) {
      ASSIGN_OR_RETURN(auto first, ephemeralRootPlan());
      m.insert(m.begin(), first.begin(), first.end());
    } else if (image.device.empty())
      m.insert(m.begin(), {MountOp::Kind::BindSelf, false, root, "", "", 0, 0});
    else
      m.insert(m.begin(), {MountOp::Kind::Image, false, root, image.device, image.fs_type, 0, 0});
    // The mount points: made in a RootDirectory= beforehand, held by a (read-only) image.
    for (const auto& d : dirs) m.push_back({MountOp::Kind::Bind, false, root + d, d, "", 0, 0});
  }
  return m;
}

// StateDirectory= and friends: created (owned by the service) before the start and kept
// writable under ProtectSystem=.
base::Result<void> makeDirectories(const Config& c, const Identity& id,
                                   std::map<std::string, std::string>& env,
                                   std::vector<std::string>* dirs) {
  const std::tuple<const std::vector<std::string>*, const char*, const char*> kinds[] = {
      {&c.state_directories, "/var/lib", "STATE_DIRECTORY"},
      {&c.runtime_directories, "/run", "RUNTIME_DIRECTORY"},
      {&c.cache_directories, "/var/cache", "CACHE_DIRECTORY"},
      {&c.logs_directories, "/var/log", "LOGS_DIRECTORY"}};
  for (auto [list, base_dir, var] : kinds) {
    std::string joined;
    for (const auto& d : *list) {
      std::string path = std::string(base_dir) + "/" + d;
      RETURN_IF_ERROR(base::ensureDir(path, 0755));
      // In a user range, by the service's ids as the host sees them.
      const uint32_t shift = c.user_range.count ? c.user_range.base : 0;
      if (::chown(path.c_str(), shift + id.uid, shift + id.gid) != 0)
        return base::sysError("chown {}", path);
      dirs->push_back(path);
      joined += (joined.empty() ? "" : ":") + path;
    }
    if (!joined.empty()) env[var] = joined;
  }
  return {};
}

// The file system inside a RootImage=, from its superblock's magic number.
base::Result<std::string> imageFsType(const Config& c) {
  base::UniqueFd fd(::open(c.root_image.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return base::sysError("{}: RootImage={}", c.source, c.root_image);
  std::vector<unsigned char> buf(0x10048);
  ssize_t n = ::pread(fd.get(), buf.data(), buf.size(), 0);
  auto at = [&](size_t off, std::string_view magic) {
    return n >= 0 && static_cast<size_t>(n) >= off + magic.size() &&
           std::memcmp(buf.data() + off, magic.data(), magic.size()) == 0;
  };
  if (at(0, "hsqs")) return std::string("squashfs");
  if (at(1080, "\x53\xef")) return std::string("ext4");
  if (at(1024, "\xe2\xe1\xf5\xe0")) return std::string("erofs");
  if (at(0, "XFSB")) return std::string("xfs");
  if (at(0x10040, "_BHRfS_M")) return std::string("btrfs");
  return base::invalid(
      "{}: RootImage={}: not an ext4, squashfs, erofs, xfs or btrfs file system image "
      "(partitioned disk images are not supported)",
      c.source, c.root_image);
}

// Attaches the image to a free loop device, read-only and cleared on its last close.
base::Result<base::UniqueFd> attachLoop(const Config& c, std::string* device) {
  base::UniqueFd image(::open(c.root_image.c_str(), O_RDONLY | O_CLOEXEC));
  if (!image) return base::sysError("{}: RootImage={}", c.source, c.root_image);
  base::UniqueFd ctl(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
  if (!ctl) return base::sysError("{}: RootImage= needs /dev/loop-control", c.source);
  for (int attempt = 0; attempt < 8; ++attempt) {
    int n = ::ioctl(ctl.get(), LOOP_CTL_GET_FREE);
    if (n < 0) return base::sysError("{}: RootImage=: no free loop device", c.source);
    *device = fmt::format("/dev/loop{}", n);
    base::UniqueFd loop(::open(device->c_str(), O_RDONLY | O_CLOEXEC));
    if (!loop) return base::sysError("{}: RootImage=: {}", c.source, *device);
    loop_config cfg{};
    cfg.fd = static_cast<uint32_t>(image.get());
    cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
    if (::ioctl(loop.get(), LOOP_CONFIGURE, &cfg) == 0) return loop;
    if (errno != EBUSY) return base::sysError("{}: RootImage=: attach to {}", c.source, *device);
  }
  return base::makeError(std::errc::device_or_resource_busy,
                         "{}: RootImage=: every free loop device was taken first", c.source);
}

int capLast() {
  auto t = base::readFile("/proc/sys/kernel/cap_last_cap", 64);
  if (!t) return 40;
  return std::atoi(t->c_str());
}

// Where the sandbox puts something else over `exe` (so that the service would not find it
// there), as "PrivateTmp=yes, which gives the service an empty /tmp"; empty when nothing does.
std::string hiddenBy(const Config& c, const std::string& exe) {
  // A bind puts it (or a directory holding it) back.
  for (const auto& b : c.binds)
    if (exe == b.target || below(exe, b.target)) return {};
  if (TmpfsCover t = tmpfsOver(c, exe); !t.dir.empty())
    return fmt::format("{}, which gives the service an empty {}", t.directive, t.dir);
  for (const char* home : {"/home", "/root", "/run/user"})
    if (c.protect_home == "yes" && below(exe, home))
      return fmt::format("ProtectHome=yes, which makes {} inaccessible", home);
  for (const auto& i : c.inaccessible_paths) {
    std::string p(pathValue(i).path);
    if (below(exe, p) || exe == p) return fmt::format("InaccessiblePaths={}", p);
  }
  return {};
}

// The Plan of one command line of the unit (`directive` names it in messages): its prefixes
// decide how much of the sandbox applies. `extra_env` ($MAINPID …) is set and expanded too.
base::Result<Plan> prepareInParent(const Config& c, std::string_view directive,
                                   const std::string& line,
                                   const std::vector<std::string>& extra_args,
                                   const std::map<std::string, std::string>& extra_env) {
  Plan p;
  const CommandPrefixes prefixes = commandPrefixes(line);
  ASSIGN_OR_RETURN(Identity id, resolveIdentity(c));
  ASSIGN_OR_RETURN(auto env, environmentFor(c, id));
  for (const auto& [k, v] : extra_env) env[k] = v;
  std::vector<std::string> writable, dirs;
  RETURN_IF_ERROR(makeDirectories(c, id, env, &dirs));

  auto parsed = splitWords(execLine(line));
  if (!parsed) return base::invalid("{}: {}=: {}", c.source, directive, parsed.error().message());
  std::vector<std::string> words;
  for (const auto& w : *parsed) words.push_back(expand(w, env));
  if (words.empty() || (prefixes.argv0 && words.size() < 2))
    return base::invalid("{}: {}= is empty", c.source, directive);
  // argv (without the "@" word), the environment and the working directory, once the program
  // is found: the same with and without the sandbox.
  auto setCommand = [&] {
    if (prefixes.argv0) words.erase(words.begin());
    for (const auto& a : extra_args) words.push_back(a);
    p.argv_storage = std::move(words);
    for (const auto& [k, v] : env) p.env_storage.push_back(k + "=" + v);
    if (!c.working_directory.empty()) {
      std::string_view dir = pathValue(c.working_directory).path;
      p.workdir = dir == "~" ? id.home : std::string(dir);
    }
  };
  if (prefixes.full_privileges) {
    // "+": none of the sandbox, as root; the working directory, umask and limits still apply.
    ASSIGN_OR_RETURN(p.exe, findExecutable(words[0], directive));
    setCommand();
    p.host_mounts = true;
    p.cap_last = capLast();
    p.umask = c.umask;
    p.limits = c.limits;
    return p;
  }
  if (prefixes.keep_ids) id = Identity{};
  if (c.ephemeral_root && (!c.root_image.empty() || !c.root_directory.empty()))
    return base::invalid(
        "{}: an ephemeral root cannot be combined with RootDirectory= or RootImage=", c.source);
  // The ephemeral root is the host's, seen through an overlay: programs are found as on the host.
  const bool rooted = hasOwnRoot(c) && !c.ephemeral_root;
  if (!c.root_image.empty() && !c.root_directory.empty())
    return base::invalid("{}: RootDirectory= and RootImage= cannot both be set", c.source);
  if (!c.root_directory.empty() && rooted && ::access(c.root_directory.c_str(), X_OK) != 0)
    return base::sysError("{}: RootDirectory={}", c.source, c.root_directory);
  if (rooted && c.root_image.empty())
    for (const auto& d : dirs) RETURN_IF_ERROR(base::ensureDir(c.root_directory + d, 0755));
  Image image;
  if (!c.root_image.empty()) {
    ASSIGN_OR_RETURN(image.fs_type, imageFsType(c));
    ASSIGN_OR_RETURN(p.loop_fd, attachLoop(c, &image.device));
    RETURN_IF_ERROR(base::ensureDir(kImageRoot, 0755));
  }
  if (rooted) {
    // The binary is run by its path inside the new root (and looked up there beforehand when
    // the root is a directory the parent can see).
    if (words[0].empty() || words[0].front() != '/')
      return base::invalid("{}: with RootDirectory= or RootImage=, {}= needs an absolute path",
                           c.source, directive);
    if (c.root_image.empty())
      RETURN_IF_ERROR(findExecutable(c.root_directory + words[0], directive));
    p.exe = words[0];
    p.root = rootOf(c);
  } else {
    ASSIGN_OR_RETURN(p.exe, findExecutable(words[0], directive));
    if (std::string why = hiddenBy(c, p.exe); !why.empty())
      return base::invalid("{}: {}={} is hidden from the service by {}: move the program out",
                           c.source, directive, p.exe, why);
  }
  if (c.ephemeral_root) {
    RETURN_IF_ERROR(base::ensureDir(kEphemeralDir, 0755));
    p.root = kEphemeralRoot;
    p.pivot_root = true;
  }
  setCommand();
  if (c.private_network) p.clone_flags |= CLONE_NEWNET;
  if (c.private_pids) p.clone_flags |= CLONE_NEWPID;
  if (c.protect_hostname) p.clone_flags |= CLONE_NEWUTS;
  if (!c.network_namespace_path.empty()) {
    p.netns_fd = base::UniqueFd(::open(c.network_namespace_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!p.netns_fd)
      return base::sysError("{}: NetworkNamespacePath={}", c.source, c.network_namespace_path);
  }
  ASSIGN_OR_RETURN(p.mounts, mountPlan(c, &writable, dirs, image));
  if (std::any_of(p.mounts.begin(), p.mounts.end(),
                  [](const MountOp& m) { return m.kind == MountOp::Kind::Inaccessible; }))
    RETURN_IF_ERROR(ensureInaccessibleNodes());

  if (c.user_range.count) {
    // The ids User= and friends name are ids inside the range.
    const uint32_t count = c.user_range.count;
    if (id.uid >= count || id.gid >= count)
      return base::invalid(
          "{}: User=/Group= {} (uid {}, gid {}) is outside the service's user "
          "range (ids 0 to {})",
          c.source, id.name, id.uid, id.gid, count - 1);
    for (gid_t g : id.groups)
      if (g >= count)
        return base::invalid(
            "{}: SupplementaryGroups=: gid {} is outside the service's user "
            "range (ids 0 to {})",
            c.source, g, count - 1);
    p.private_users = true;
    p.uid_map = fmt::format("0 {} {}\n", c.user_range.base, count);
    p.gid_map = p.uid_map;
    // Entering the namespace leaves the host's root ids behind, unmapped inside: the child
    // takes the service's ids (root's too) and groups inside the range.
    id.set = true;
  } else if (c.private_users) {
    p.private_users = true;
    p.uid_map = "0 0 1\n";
    p.gid_map = "0 0 1\n";
    if (id.uid != 0) p.uid_map += fmt::format("{} {} 1\n", id.uid, id.uid);
    std::vector<gid_t> gids = id.groups;
    gids.push_back(id.gid);
    std::sort(gids.begin(), gids.end());
    gids.erase(std::unique(gids.begin(), gids.end()), gids.end());
    for (gid_t g : gids)
      if (g != 0) p.gid_map += fmt::format("{} {} 1\n", g, g);
  }
  p.set_ids = id.set;
  p.uid = id.uid;
  p.gid = id.gid;
  p.groups = id.groups;
  p.cap_last = capLast();
  p.bounding = c.capability_bounding_set;
  p.ambient = c.ambient_capabilities;
  p.umask = c.umask;
  p.limits = c.limits;
  p.private_keyring = c.keyring_mode == "private";
  bool mdwe = c.memory_deny_write_execute && kernelHasMdwe();
  p.mdwe = mdwe;
  ASSIGN_OR_RETURN(p.seccomp, buildSeccomp(c, mdwe));
  // Loading seccomp without CAP_SYS_ADMIN needs no_new_privs, as systemd sets it then too.
  bool keeps_admin = !id.set && (c.capability_bounding_set & (uint64_t{1} << 21));
  p.no_new_privs = c.no_new_privileges || (!p.seccomp.empty() && !keeps_admin);
  return p;
}

std::atomic<pid_t> g_child{-1};
// The main process while it runs: signals go to it, never to an ExecReload= or ExecStartPost=
// command that runs beside it (a SIGTERM during a reload would otherwise miss the service).
std::atomic<pid_t> g_main{-1};
std::atomic<bool> g_stopping{false};
// While the main process runs with ExecStop= (or ExecReload=) set, a stop signal (or SIGHUP)
// is noted for the wait loop, which runs those commands, instead of being forwarded.
std::atomic<bool> g_hold_stop{false}, g_hold_reload{false};
std::atomic<bool> g_reload{false};
int g_wake_fd = -1;  // written by the handler so that the wait loop looks again

void forwardSignal(int sig) {
  int saved = errno;
  const bool stop = sig == SIGTERM || sig == SIGINT || sig == SIGQUIT;
  if (stop) g_stopping = true;
  if (sig == SIGHUP && g_hold_reload) g_reload = true;
  pid_t pid = g_main.load();
  if (pid <= 0) pid = g_child.load();
  bool held = (stop && g_hold_stop) || (sig == SIGHUP && g_hold_reload);
  if (pid > 0 && !held) ::kill(pid, sig);
  if (g_wake_fd >= 0) (void)!::write(g_wake_fd, "", 1);
  errno = saved;
}

// What the wait loop does, beyond waiting, while the main process runs.
struct MainHooks {
  std::function<void()> stop;    // once, when told to stop (instead of SIGTERM)
  std::function<void()> reload;  // on each SIGHUP
  bool stopping = false;         // sent SIGTERM already: kill it after TimeoutStopSec=
};

// Waits for `pid` to end, into *status. Once burrow is told to stop, the process gets
// TimeoutStopSec= to end before SIGKILL (a PrivatePIDs= service is PID 1 of its namespace, and
// the kernel gives PID 1 no signal it has no handler for, SIGKILL aside). With inv.bound set,
// kills the process as soon as `bound` reports an error and returns that error (after
// reaping it). `hooks` (for the main process only) run ExecStop= and ExecReload=.
base::Result<void> waitService(pid_t pid, const Config& c, const Invocation& inv, int wake,
                               int* status, const MainHooks* hooks = nullptr) {
  using Clock = std::chrono::steady_clock;
  // (Without pidfd_open, before Linux 5.3: a plain wait, with no stop timeout.)
  base::UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  base::Result<void> verdict;
  std::optional<Clock::time_point> kill_at;
  bool killed = false, stop_ran = false;
  while (pidfd && verdict) {
    if (g_stopping && hooks && hooks->stop && !stop_ran) {
      stop_ran = true;
      hooks->stop();
      ::kill(pid, SIGTERM);
    }
    if (hooks && hooks->reload && g_reload.exchange(false)) hooks->reload();
    if ((g_stopping || (hooks && hooks->stopping)) && !kill_at && c.timeout_stop.count() > 0)
      kill_at = Clock::now() + c.timeout_stop;
    int timeout = inv.bound ? 250 : -1;
    if (kill_at && !killed) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(*kill_at - Clock::now()).count();
      timeout = static_cast<int>(std::clamp<int64_t>(left, 0, timeout < 0 ? INT32_MAX : timeout));
    }
    pollfd fds[3] = {{pidfd.get(), POLLIN, 0}, {wake, POLLIN, 0}, {inv.bound_fd, POLLIN, 0}};
    int n = ::poll(fds, inv.bound_fd >= 0 ? 3 : 2, timeout);
    if (n < 0 && errno != EINTR) return base::sysError("poll");
    if (n > 0 && (fds[0].revents & POLLIN)) break;
    char drain[64];
    while (n > 0 && (fds[1].revents & POLLIN) && ::read(wake, drain, sizeof drain) > 0) {
    }
    if (kill_at && !killed && Clock::now() >= *kill_at) {
      LOG_WARN("process did not stop in time unit={} pid={} timeout_ms={}; sending SIGKILL",
               c.unit_name, pid, c.timeout_stop.count());
      ::kill(pid, SIGKILL);
      killed = true;
    }
    if (inv.bound) {
      verdict = inv.bound();
      if (!verdict) ::kill(pid, SIGKILL);
    }
  }
  while (::waitpid(pid, status, 0) < 0)
    if (errno != EINTR) return base::sysError("waitpid {}", pid);
  return verdict;
}

int exitCode(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// $SERVICE_RESULT, $EXIT_CODE and $EXIT_STATUS of a main process that ended with `status`
// (see systemd.exec(5)); `started` is false when it never ran.
std::map<std::string, std::string> resultEnv(bool started, int status, bool success) {
  std::map<std::string, std::string> env;
  if (!started) {
    env["SERVICE_RESULT"] = success ? "success" : "exit-code";
    return env;
  }
  if (WIFEXITED(status)) {
    env["EXIT_CODE"] = "exited";
    env["EXIT_STATUS"] = std::to_string(WEXITSTATUS(status));
    env["SERVICE_RESULT"] = success ? "success" : "exit-code";
  } else {
    const char* name = ::sigabbrev_np(WTERMSIG(status));
    env["EXIT_CODE"] = WCOREDUMP(status) ? "dumped" : "killed";
    env["EXIT_STATUS"] = name ? name : std::to_string(WTERMSIG(status));
    env["SERVICE_RESULT"] = success ? "success" : WCOREDUMP(status) ? "core-dump" : "signal";
  }
  return env;
}

// Launches the plan's null-terminated views of its storage.
base::Result<pid_t> start(Plan& plan) {
  plan.argv.clear();
  plan.envp.clear();
  for (auto& a : plan.argv_storage) plan.argv.push_back(a.data());
  plan.argv.push_back(nullptr);
  for (auto& e : plan.env_storage) plan.envp.push_back(e.data());
  plan.envp.push_back(nullptr);
  return launch(plan);
}

// One run of the unit: ExecStartPre=, ExecStart=, ExecStartPost=, then (once the main process
// has ended or was told to stop) ExecStop= and ExecStopPost=. Returns the run's wait status.
class Run {
 public:
  Run(const Config& c, const Invocation& inv, Plan& main, int wake)
      : c_(c), inv_(inv), main_(main), wake_(wake) {}

  base::Result<int> go() {
    base::Result<int> r = startAndWait();
    // ExecStop= only once the service has started, ExecStopPost= always.
    auto env = resultEnv(main_pid_ != 0, status_, success_);
    if (started_ && !stop_ran_) runAll("ExecStop", c_.exec_stop, env);
    runAll("ExecStopPost", c_.exec_stop_post, env);
    return r;
  }

  // How the run ended, for Restart=: as the main process (or the failing command) ended,
  // except that a failed ExecStartPost= fails the run however the main process then ended
  // (systemd's result "exit-code"), and that a run that succeeded ("-" in ExecStart=, or a
  // clean signal) ended cleanly.
  supervise::Exit ending() const {
    if (success_) return {true, 0};
    if (main_pid_ != 0 && !started_) return {false, 0};
    return supervise::Exit::fromWaitStatus(status_);
  }

 private:
  // Runs `lines` of `directive` in turn, each to its end. True when all succeeded (or their
  // failures are ignored), false (the failing status in status_) when one failed.
  base::Result<bool> runInTurn(std::string_view directive, const std::vector<std::string>& lines,
                               const std::vector<std::string>& first_args = {}) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (g_stopping) break;
      ASSIGN_OR_RETURN(bool ok, runOne(directive, lines[i], {}, i == 0 ? first_args : kNoArgs));
      if (!ok) {
        fail(status_);
        return false;
      }
    }
    if (g_stopping) {
      fail(kStopped);  // told to stop while starting: as if SIGTERM had ended it
      return false;
    }
    return true;
  }

  // Type=oneshot: each ExecStart= in turn to its end, then ExecStartPost=; no main process.
  base::Result<int> oneshot() {
    ASSIGN_OR_RETURN(bool ran, runInTurn("ExecStart", c_.exec_start, inv_.extra_args));
    if (!ran) return status_;
    ASSIGN_OR_RETURN(bool posted, runInTurn("ExecStartPost", c_.exec_start_post));
    if (!posted) return status_;
    started_ = success_ = true;
    return status_ = 0;
  }

  base::Result<int> startAndWait() {
    ASSIGN_OR_RETURN(bool prepared, runInTurn("ExecStartPre", c_.exec_start_pre));
    if (!prepared) return status_;
    if (c_.type == "oneshot") return oneshot();
    // Signals that ExecStop= or ExecReload= will answer are held from the start: a SIGHUP
    // while ExecStartPost= runs is a reload once it is done, not a signal to the service.
    g_hold_stop = !c_.exec_stop.empty();
    g_hold_reload = !c_.exec_reload.empty();
    auto pid = start(main_);
    if (!pid) {
      g_hold_stop = g_hold_reload = false;
      return base::Unexpected(pid.error());
    }
    main_pid_ = *pid;
    g_child = main_pid_;
    g_main = main_pid_;
    LOG_INFO("service started unit={} pid={}", c_.unit_name, main_pid_);
    const std::map<std::string, std::string> mainpid = {{"MAINPID", std::to_string(main_pid_)}};
    bool up = true;
    for (const auto& line : c_.exec_start_post) {
      if (g_stopping) break;
      auto ok = runOne("ExecStartPost", line, mainpid);
      g_child = main_pid_;
      if (!ok || !*ok) {
        if (!ok) LOG_WARN("unit={} ExecStartPost= failed: {}", c_.unit_name, ok.error().message());
        up = false;
        ::kill(main_pid_, SIGTERM);
        break;
      }
    }
    started_ = up;
    MainHooks hooks;
    hooks.stopping = !up;
    if (up && !c_.exec_stop.empty())
      hooks.stop = [&] {
        stop_ran_ = true;
        runAll("ExecStop", c_.exec_stop, withMainPid(resultEnv(false, 0, true)));
        g_child = main_pid_;
      };
    if (up && !c_.exec_reload.empty())
      hooks.reload = [&] {
        runAll("ExecReload", c_.exec_reload, withMainPid({}));
        g_child = main_pid_;
      };
    g_hold_stop = static_cast<bool>(hooks.stop);
    g_hold_reload = static_cast<bool>(hooks.reload);
    if (g_stopping && !hooks.stop) ::kill(main_pid_, SIGTERM);  // told to stop while starting
    int status = 0;
    base::Result<void> lost = waitService(main_pid_, c_, inv_, wake_, &status, &hooks);
    g_hold_stop = g_hold_reload = false;
    g_child = -1;
    g_main = -1;
    status_ = status;
    main_pid_ = -main_pid_;  // ended: no $MAINPID from now on
    if (!lost) {
      LOG_WARN("service stopped unit={} reason={}", c_.unit_name, lost.error().message());
      return base::Unexpected(lost.error());
    }
    // As systemd: SIGTERM, SIGINT, SIGHUP and SIGPIPE end a service cleanly.
    const bool clean_signal =
        WIFSIGNALED(status) && (WTERMSIG(status) == SIGTERM || WTERMSIG(status) == SIGINT ||
                                WTERMSIG(status) == SIGHUP || WTERMSIG(status) == SIGPIPE);
    success_ = up && (exitCode(status) == 0 || clean_signal ||
                      commandPrefixes(c_.exec_start.front()).ignore_failure);
    LOG_INFO("service ended unit={} status={}", c_.unit_name, exitCode(status));
    if (!up) return fail(status);
    return status;
  }

  int fail(int status) {
    status_ = status;
    success_ = false;
    return status;
  }

  std::map<std::string, std::string> withMainPid(std::map<std::string, std::string> env) const {
    if (main_pid_ > 0) env["MAINPID"] = std::to_string(main_pid_);
    return env;
  }

  // Runs one command line to its end. True when it succeeded or its failure is ignored ("-");
  // false when it failed (its wait status in status_); an error when it could not start (and
  // its failure is not ignored).
  base::Result<bool> runOne(std::string_view directive, const std::string& line,
                            const std::map<std::string, std::string>& env,
                            const std::vector<std::string>& args = kNoArgs) {
    const bool ignore = commandPrefixes(line).ignore_failure;
    auto plan = prepareInParent(c_, directive, line, args, env);
    base::Result<pid_t> pid =
        plan ? start(*plan) : base::Result<pid_t>(base::Unexpected(plan.error()));
    if (!pid) {
      if (!ignore) return base::Unexpected(pid.error());
      LOG_WARN("unit={} {}= failed, ignored: {}", c_.unit_name, directive, pid.error().message());
      return true;
    }
    g_child = *pid;
    int status = 0;
    auto r = waitService(*pid, c_, inv_, wake_, &status);
    g_child = -1;
    if (!r) return base::Unexpected(r.error());
    const int code = exitCode(status);
    LOG_INFO("unit={} {}= ended status={}{}", c_.unit_name, directive, code,
             code && ignore ? " (ignored)" : "");
    if (code == 0 || ignore) return true;
    status_ = status;
    return false;
  }

  // The commands of a stop-side directive, each in turn; failures are logged, not fatal.
  void runAll(std::string_view directive, const std::vector<std::string>& lines,
              const std::map<std::string, std::string>& env) {
    for (const auto& line : lines) {
      auto ok = runOne(directive, line, env);
      if (!ok) LOG_WARN("unit={} {}= failed: {}", c_.unit_name, directive, ok.error().message());
    }
  }

  static inline const std::vector<std::string> kNoArgs;
  static constexpr int kStopped = SIGTERM;  // the wait status of a process SIGTERM ended
  const Config& c_;
  const Invocation& inv_;
  Plan& main_;
  const int wake_;
  pid_t main_pid_ = 0;  // > 0 while the main process runs; negated once it has ended
  int status_ = 0;      // the run's wait status
  bool started_ = false, stop_ran_ = false, success_ = false;
};

}  // namespace

base::Result<int> exec(const Config& c, const Invocation& inv) {
  if (c.exec_start.empty()) return base::invalid("{}: no ExecStart=", c.source);
  if (!c.not_applied.empty()) {
    std::string list;
    for (const auto& n : c.not_applied) list += (list.empty() ? "" : ", ") + n;
    LOG_WARN("unit={} accepted but not applied by burrow: {}", c.unit_name, list);
  }
  ASSIGN_OR_RETURN(Plan plan,
                   prepareInParent(c, "ExecStart", c.exec_start.front(), inv.extra_args, {}));

  // The handler's wake-up pipe lives as long as the process, as the handler does.
  static const int wake_read = [] {
    int wake[2];
    if (::pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) return -1;
    g_wake_fd = wake[1];
    return wake[0];
  }();
  if (wake_read < 0) return base::sysError("pipe");
  struct sigaction sa {};
  sa.sa_handler = forwardSignal;
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2})
    ::sigaction(sig, &sa, nullptr);
  for (int run = 1;; ++run) {
    if (inv.bound) RETURN_IF_ERROR(inv.bound());
    LOG_DEBUG("run unit={} run={}", c.unit_name, run);
    Run r(c, inv, plan, wake_read);
    ASSIGN_OR_RETURN(int status, r.go());
    int code = exitCode(status);
    if (c.remove_ipc && plan.set_ids) removeIpcOf(c.user_range.base + plan.uid);
    // RestartSec= as written after every run: systemd backs off only with RestartSteps=.
    if (!inv.restart || g_stopping || !supervise::shouldRestart(c.restart, r.ending())) return code;
    LOG_INFO("restarting unit={} in_ms={}", c.unit_name, c.restart_sec.count());
    std::this_thread::sleep_for(c.restart_sec);
    if (g_stopping) return code;
  }
}

}  // namespace sandbox
