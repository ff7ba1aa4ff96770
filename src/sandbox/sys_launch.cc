// The child side of `burrow exec`: clone() into new namespaces, then the plan's steps in
// systemd's order, then execve(). The child shares the parent's memory and the parent waits
// meanwhile (CLONE_VM | CLONE_VFORK, as posix_spawn does): nothing here allocates between
// clone() and execve(). A failing step is reported to the parent as {step, errno, detail} over
// a socketpair and the child exits. With PrivatePIDs= the service is PID 1 of its namespace, as
// under systemd 257. See clone(2), mount_setattr(2), capabilities(7), seccomp(2), prctl(2).
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/mount.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#include "base/base.h"
#include "base/unique_fd.h"
#include "sandbox/launch.h"

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif

namespace sandbox {
namespace {

[[noreturn]] void fail(int report_fd, Step step, int err, int detail = 0) {
  ChildReport r{};
  r.step = step;
  r.err = err;
  r.detail = detail;
  (void)!::write(report_fd, &r, sizeof r);
  ::_exit(127);
}

int setattr(const char* path, uint64_t set, uint64_t clr, bool recursive) {
  struct mount_attr attr {};
  attr.attr_set = set;
  attr.attr_clr = clr;
  return static_cast<int>(::syscall(SYS_mount_setattr, AT_FDCWD, path, recursive ? AT_RECURSIVE : 0,
                                    &attr, sizeof attr));
}

// A detached copy of the bind's source (open_tree(2)): of `held`, the source opened before any
// mount of the plan could hide it, when there is one.
int cloneTree(const MountOp& m, int held) {
  const unsigned rec = m.data != "norbind" ? AT_RECURSIVE : 0;
  if (held >= 0)
    return static_cast<int>(::syscall(SYS_open_tree, held, "",
                                      OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | rec));
  return static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, m.source.c_str(),
                                    OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec));
}

// A bind: the detached copy of the source, id-mapped through `userns` when `userns` >= 0 (only
// a detached mount can be id-mapped), then attached on `target` (move_mount(2)).
int bindTree(const MountOp& m, int held, int userns) {
  int tree = cloneTree(m, held);
  if (tree < 0) return -1;
  int rc = 0;
  if (userns >= 0) {
    struct mount_attr attr {};
    attr.attr_set = MOUNT_ATTR_IDMAP;
    attr.userns_fd = static_cast<uint64_t>(userns);
    rc = static_cast<int>(::syscall(SYS_mount_setattr, tree, "",
                                    AT_EMPTY_PATH | (m.data != "norbind" ? AT_RECURSIVE : 0), &attr,
                                    sizeof attr));
  }
  if (rc == 0)
    rc = static_cast<int>(
        ::syscall(SYS_move_mount, tree, "", AT_FDCWD, m.target.c_str(), MOVE_MOUNT_F_EMPTY_PATH));
  int saved = errno;
  ::close(tree);
  errno = saved;
  return rc;
}

int applyMount(const MountOp& m, int held, int userns) {
  const char* t = m.target.c_str();
  switch (m.kind) {
    case MountOp::Kind::BindSelf:
      return ::mount(t, t, nullptr, MS_BIND | MS_REC, nullptr);
    case MountOp::Kind::ReadOnly:
      return setattr(t, MOUNT_ATTR_RDONLY, 0, true);
    case MountOp::Kind::ReadWrite:
      return setattr(t, 0, MOUNT_ATTR_RDONLY, true);
    case MountOp::Kind::Tmpfs: {
      unsigned long flags = MS_NOSUID | (m.target == "/dev" ? MS_NOEXEC : MS_NODEV);
      return ::mount("tmpfs", t, "tmpfs", flags, m.data.c_str());
    }
    case MountOp::Kind::Inaccessible:
      if (::mount(m.source.c_str(), t, nullptr, MS_BIND, nullptr) != 0) return -1;
      return setattr(t,
                     MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
                     0, false);
    case MountOp::Kind::Proc:
      return ::mount("proc", t, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, m.data.c_str());
    case MountOp::Kind::CharDev:
      return ::mknod(t, S_IFCHR | 0666, m.dev) == 0 ? ::chmod(t, 0666) : -1;
    case MountOp::Kind::Dir:
      return ::mkdir(t, m.mode) == 0 || errno == EEXIST ? ::chmod(t, m.mode) : -1;
    case MountOp::Kind::Symlink:
      return ::symlink(m.source.c_str(), t);
    case MountOp::Kind::File: {
      int fd = ::open(t, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOCTTY, m.mode);
      return fd < 0 ? -1 : ::close(fd);
    }
    case MountOp::Kind::Bind:
      if (held >= 0) return bindTree(m, held, -1);
      return ::mount(m.source.c_str(), t, nullptr, MS_BIND | (m.data == "norbind" ? 0 : MS_REC),
                     nullptr);
    case MountOp::Kind::Image:
      return ::mount(m.source.c_str(), t, m.data.c_str(), MS_RDONLY | MS_NODEV, nullptr);
    case MountOp::Kind::IdmapBind:
      return bindTree(m, held, userns);
    case MountOp::Kind::Overlay:
      return ::mount("overlay", t, "overlay", 0, m.data.c_str());
    case MountOp::Kind::Detach:
      return ::umount2(t, MNT_DETACH);
  }
  errno = EINVAL;
  return -1;
}

int loopbackUp() {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  struct ifreq ifr {};
  std::memcpy(ifr.ifr_name, "lo", 3);
  int rc = ::ioctl(s, SIOCGIFFLAGS, &ifr);
  if (rc == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    rc = ::ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  int saved = errno;
  ::close(s);
  errno = saved;
  return rc;
}

int capsetAll(uint64_t set) {
  struct __user_cap_header_struct hdr {};
  hdr.version = _LINUX_CAPABILITY_VERSION_3;
  struct __user_cap_data_struct data[2]{};
  for (int i = 0; i < 2; ++i) {
    uint32_t v = static_cast<uint32_t>(set >> (32 * i));
    data[i].effective = data[i].permitted = data[i].inheritable = v;
  }
  return static_cast<int>(::syscall(SYS_capset, &hdr, data));
}

struct ChildArgs {
  const Plan* plan;
  int report;
  int userns;  // PrivateUsers=: the namespace to enter after the mounts, or -1
  int* held;   // per mount step: its source opened before the first mount, or -1
};

// The child: it shares the parent's memory (CLONE_VM), and the parent waits until it has
// called execve() or exited (CLONE_VFORK), so it only reads the plan and allocates nothing.
int applyInChild(void* arg) {
  const auto& a = *static_cast<const ChildArgs*>(arg);
  const Plan& p = *a.plan;
  const int report = a.report;
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // 1. Namespaces: the mount namespace (and any other) came with clone(); join a named
  //    network namespace now, before anything can open a socket.
  if (p.netns_fd && ::setns(p.netns_fd.get(), CLONE_NEWNET) != 0)
    fail(report, Step::Namespaces, errno);
  if (!p.host_mounts && ::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0)
    fail(report, Step::MountPropagation, errno);
  // 2. Mounts, in the plan's order. The sources of BindPaths= are opened first: a tmpfs the
  //    plan mounts before them (PrivateTmp=, TemporaryFileSystem=) may cover where they are.
  for (size_t i = 0; i < p.mounts.size(); ++i) {
    const MountOp& m = p.mounts[i];
    if (!m.hold_source) continue;
    a.held[i] = ::open(m.source.c_str(), O_PATH | O_CLOEXEC);
    if (a.held[i] < 0 && !(m.optional && errno == ENOENT))
      fail(report, Step::Mounts, errno, static_cast<int>(i));
  }
  for (size_t i = 0; i < p.mounts.size(); ++i) {
    const MountOp& m = p.mounts[i];
    // An optional step is skipped when its target is missing, or for ReadWrite, when the
    // target is no mount of its own (nothing was made read-only there).
    if (applyMount(m, a.held[i], a.userns) != 0 &&
        !(m.optional && (errno == ENOENT || errno == ENOTDIR ||
                         (m.kind == MountOp::Kind::ReadWrite && errno == EINVAL))))
      fail(report, Step::Mounts, errno, static_cast<int>(i));
  }
  if ((p.clone_flags & CLONE_NEWNET) && loopbackUp() != 0) fail(report, Step::Loopback, errno);
  // The ephemeral root: pivot_root(".", ".") stacks the old root on the new one, and detaching
  // it leaves the service no way back to the host's root (see pivot_root(2)).
  if (p.pivot_root && (::chdir(p.root.c_str()) != 0 || ::syscall(SYS_pivot_root, ".", ".") != 0 ||
                       ::umount2(".", MNT_DETACH) != 0 || ::chdir("/") != 0))
    fail(report, Step::Root, errno);
  if (!p.pivot_root && !p.root.empty() && (::chroot(p.root.c_str()) != 0 || ::chdir("/") != 0))
    fail(report, Step::Root, errno);
  // 3. PrivateUsers= or the user range: the user namespace the parent made, entered once the
  //    mounts are done, so that every other namespace (a NetworkNamespacePath= too, which could
  //    not be joined from inside it) belongs to the host's user namespace.
  if (a.userns >= 0 && ::setns(a.userns, CLONE_NEWUSER) != 0) fail(report, Step::Users, errno);
  // 4. Credentials. The bounding set goes first: dropping needs CAP_SETPCAP, which a
  //    non-root user no longer has.
  for (int cap = 0; cap <= p.cap_last; ++cap)
    if (!(p.bounding & (uint64_t{1} << cap)) && ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 &&
        errno != EINVAL)
      fail(report, Step::BoundingSet, errno, cap);
  if (p.set_ids) {
    if (p.ambient && ::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
      fail(report, Step::Capabilities, errno);
    if (::setgroups(p.groups.size(), p.groups.data()) != 0) fail(report, Step::Groups, errno);
    if (::setresgid(p.gid, p.gid, p.gid) != 0) fail(report, Step::Gid, errno);
    if (::setresuid(p.uid, p.uid, p.uid) != 0) fail(report, Step::Uid, errno);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // cleared by the uid change
  }
  // 5. Capabilities kept across execve(): AmbientCapabilities=.
  if (p.ambient) {
    if (capsetAll(p.ambient & p.bounding) != 0) fail(report, Step::Capabilities, errno);
    for (int cap = 0; cap <= p.cap_last; ++cap)
      if ((p.ambient & p.bounding & (uint64_t{1} << cap)) &&
          ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0)
        fail(report, Step::Capabilities, errno, cap);
  }
  ::umask(p.umask);
  for (const auto& l : p.limits) {
    struct rlimit rl {};
    rl.rlim_cur = l.soft;
    rl.rlim_max = l.hard;
    if (::setrlimit(l.resource, &rl) != 0) fail(report, Step::Limits, errno, l.resource);
  }
  // A session keyring of its own (see keyrings(7)); the name is the kernel's default.
  // Where keyrings are unsupported or refused (a container's seccomp policy), the service
  // runs on without one, as under systemd.
  if (p.private_keyring && ::syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, 0) < 0 &&
      errno != ENOSYS && errno != EPERM && errno != EACCES)
    fail(report, Step::Keyring, errno);
  if (!p.workdir.empty() && ::chdir(p.workdir.c_str()) != 0)
    fail(report, Step::WorkingDirectory, errno);
  // 6. no_new_privs, then W^X, then seccomp, last of all.
  if (p.no_new_privs && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    fail(report, Step::NoNewPrivileges, errno);
  if (p.mdwe && ::prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0)
    fail(report, Step::Mdwe, errno);
  for (size_t i = 0; i < p.seccomp.size(); ++i) {
    struct sock_fprog prog {};
    prog.len = static_cast<unsigned short>(p.seccomp[i].size());
    prog.filter = const_cast<sock_filter*>(p.seccomp[i].data());
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0)
      fail(report, Step::Seccomp, errno, static_cast<int>(i));
  }
  ::execve(p.exe.c_str(), p.argv.data(), p.envp.data());
  fail(report, Step::Exec, errno);
}

}  // namespace

const char* stepName(Step s) {
  switch (s) {
    case Step::Namespaces:
      return "enter namespaces";
    case Step::MountPropagation:
      return "make mounts private";
    case Step::Mounts:
      return "mount";
    case Step::Loopback:
      return "bring up lo";
    case Step::Root:
      return "change root to RootDirectory= (or the ephemeral root)";
    case Step::Users:
      return "enter the service's user namespace";
    case Step::Groups:
      return "setgroups";
    case Step::Gid:
      return "setresgid";
    case Step::Uid:
      return "setresuid";
    case Step::BoundingSet:
      return "drop from the capability bounding set";
    case Step::Capabilities:
      return "raise ambient capabilities";
    case Step::Umask:
      return "umask";
    case Step::Limits:
      return "setrlimit";
    case Step::Keyring:
      return "join a session keyring of its own";
    case Step::WorkingDirectory:
      return "chdir to WorkingDirectory=";
    case Step::NoNewPrivileges:
      return "set no_new_privs";
    case Step::Mdwe:
      return "PR_SET_MDWE";
    case Step::Seccomp:
      return "load the seccomp filter";
    case Step::Exec:
      return "execve";
  }
  return "?";
}

bool kernelHasMdwe() {
  // PR_GET_MDWE answers on kernels that know it; EINVAL elsewhere.
  return ::prctl(66 /* PR_GET_MDWE */, 0, 0, 0, 0) >= 0;
}

namespace {

// Memory for a CLONE_VM child's stack, unmapped when it goes out of scope.
class ChildStack {
 public:
  static constexpr size_t kSize = 256 << 10;
  ChildStack()
      : base_(::mmap(nullptr, kSize, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0)) {}
  ~ChildStack() {
    if (!ok()) return;
#if defined(__SANITIZE_ADDRESS__)
    // The child's frames never returned (it called execve() or _exit()): clear their poison
    // before the memory can be handed out again.
    __asan_unpoison_memory_region(base_, kSize);
#endif
    ::munmap(base_, kSize);
  }
  ChildStack(const ChildStack&) = delete;
  ChildStack& operator=(const ChildStack&) = delete;
  bool ok() const { return base_ != MAP_FAILED; }
  void* top() const { return static_cast<char*>(base_) + kSize; }

 private:
  void* base_;
};

[[noreturn]] int waitForever(void*) {
  for (;;) ::pause();
}

// PrivateUsers=: a user namespace holding the plan's id maps, made before the service starts so
// that the service can enter it after its mounts. A helper sharing this process's memory
// enters it and waits while the maps are written from outside (see user_namespaces(7));
// the returned fd keeps the namespace once the helper is gone.
base::Result<base::UniqueFd> makeUserNamespace(const Plan& plan) {
  ChildStack stack;
  if (!stack.ok()) return base::sysError("mmap a stack for the user-namespace helper");
  pid_t helper = ::clone(waitForever, stack.top(), CLONE_VM | CLONE_NEWUSER | SIGCHLD, nullptr);
  if (helper < 0) return base::sysError("clone (a user namespace for PrivateUsers=)");
  auto reap = [&] {
    ::kill(helper, SIGKILL);
    base::retryEintr([&] { return ::waitpid(helper, nullptr, 0); });
  };
  std::string dir = fmt::format("/proc/{}/", helper);
  for (const auto& [file, map] :
       {std::pair{"uid_map", &plan.uid_map}, {"gid_map", &plan.gid_map}}) {
    base::UniqueFd fd(::open((dir + file).c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd || ::write(fd.get(), map->data(), map->size()) != static_cast<ssize_t>(map->size())) {
      auto e = base::sysError("PrivateUsers=: write {}{}", dir, file);
      reap();
      return e;
    }
  }
  base::UniqueFd ns(::open((dir + "ns/user").c_str(), O_RDONLY | O_CLOEXEC));
  int err = errno;
  reap();
  if (!ns) {
    errno = err;
    return base::sysError("PrivateUsers=: open {}ns/user", dir);
  }
  return ns;
}

// The name of the file system `path` is on, for messages (see statfs(2)).
std::string fileSystemName(const std::string& path) {
  struct statfs st {};
  if (::statfs(path.c_str(), &st) != 0) return "its file system";
  switch (static_cast<uint32_t>(st.f_type)) {
    case 0xEF53:
      return "ext4";
    case 0x58465342:
      return "xfs";
    case 0x9123683E:
      return "btrfs";
    case 0x01021994:
      return "tmpfs";
    case 0x858458F6:
      return "ramfs";
    case 0x794C7630:
      return "overlayfs";
    case 0x6969:
      return "nfs";
    case 0x65735546:
      return "fuse";
    case 0x01021997:
      return "9p";
    case 0x73717368:
      return "squashfs";
  }
  return fmt::format("a file system of type {:#x}", static_cast<uint32_t>(st.f_type));
}

}  // namespace

base::Result<pid_t> launch(const Plan& plan) {
  base::UniqueFd userns;
  if (plan.private_users) {
    ASSIGN_OR_RETURN(userns, makeUserNamespace(plan));
  }
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return base::sysError("socketpair");
  base::UniqueFd mine(sv[0]), theirs(sv[1]);
  ChildStack stack;
  if (!stack.ok()) return base::sysError("mmap a stack for the service");
  std::vector<int> held(plan.mounts.size(), -1);
  ChildArgs args{&plan, sv[1], userns ? userns.get() : -1, held.data()};
  // Returns once the child has called execve() or exited (CLONE_VFORK). Sharing this
  // process's memory (CLONE_VM) costs no page-table copy and no copy-on-write faults.
  pid_t pid = ::clone(
      applyInChild, stack.top(),
      CLONE_VM | CLONE_VFORK | (plan.host_mounts ? 0 : CLONE_NEWNS) | plan.clone_flags | SIGCHLD,
      &args);
  if (pid < 0) return base::sysError("clone (new namespaces)");
  theirs.reset();
  ChildReport r{};
  ssize_t n = base::retryEintr([&] { return ::read(mine.get(), &r, sizeof r); });
  if (n == 0) return pid;  // the report socket closed on execve(): the service runs
  int status = 0;
  base::retryEintr([&] { return ::waitpid(pid, &status, 0); });
  if (n != static_cast<ssize_t>(sizeof r)) return base::sysError("read the child's report");
  std::string what = stepName(r.step);
  if (r.step == Step::Mounts && r.detail >= 0 &&
      static_cast<size_t>(r.detail) < plan.mounts.size()) {
    const MountOp& m = plan.mounts[r.detail];
    if (m.kind == MountOp::Kind::IdmapBind &&
        (r.err == EINVAL || r.err == EPERM || r.err == EOPNOTSUPP || r.err == ENOSYS))
      return base::makeError(
          static_cast<std::errc>(r.err),
          "{}={}: {} cannot be id-mapped on this kernel ({}): the service's user range needs "
          "an id-mapped mount (Linux 5.12 and later; ext4, xfs, btrfs; tmpfs from 6.3)",
          m.directive ? m.directive : "BindPaths", m.source, fileSystemName(m.source),
          std::strerror(r.err));
    what += " " + m.target;
  }
  if (r.step == Step::Exec) what += " " + plan.exe;
  return base::makeError(static_cast<std::errc>(r.err), "{}: {}", what, std::strerror(r.err));
}

}  // namespace sandbox
