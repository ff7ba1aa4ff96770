// burrow_probe: tries one thing a sandbox may forbid and prints what happened, so that a test
// can run it once without a directive (it works) and once with it (it fails with the errno
// the directive promises). Output: "ok" or "errno=NAME", one line; exit 0 when it worked,
// 1 when it did not, 2 for a bad command line.
//
//   burrow_probe write PATH        create PATH (and remove it again)
//   burrow_probe read PATH         read PATH
//   burrow_probe open-dev PATH     open a device node read-only
//   burrow_probe mount             mount a tmpfs on /mnt (and unmount it)
//   burrow_probe ptrace            PTRACE_TRACEME
//   burrow_probe socket-unix       socket(AF_UNIX)
//   burrow_probe socket-netlink    socket(AF_NETLINK)
//   burrow_probe mmap-wx           mmap() writable and executable
//   burrow_probe adjtime           adjtimex() that only reads the clock
//   burrow_probe unshare-user      unshare(CLONE_NEWUSER)
//   burrow_probe personality       switch to PER_LINUX32
//   burrow_probe setuid-file DIR   create DIR/probe-suid with mode 04755
//   burrow_probe realtime          SCHED_FIFO for itself
//   burrow_probe see-pid PID       whether /proc/PID exists
//   burrow_probe write-sys         open /proc/sys/kernel/domainname for writing
//   burrow_probe module            init_module() with an empty image
//   burrow_probe hostname          set the host name to what it already is
//   burrow_probe connect PORT      TCP connect to 127.0.0.1:PORT
//   burrow_probe nnp               ok when no_new_privs is off
//   burrow_probe cap N             ok when capability N is in the bounding set
//   burrow_probe uid               prints the uid (always ok)
//   burrow_probe keyring           prints the session keyring's id (always ok)
//   burrow_probe nofile            prints RLIMIT_NOFILE as soft:hard (always ok)
//   burrow_probe syscall32         getpid() through the 32-bit ABI (int $0x80)
//   burrow_probe bind-low PORT     bind 127.0.0.1:PORT (a port below 1024)
//   burrow_probe make-ipc          leave a System V shared memory segment behind; prints its id
//   burrow_probe clone3            clone3() a child that exits at once
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

int report(bool ok) {
  if (ok) {
    std::puts("ok");
    return 0;
  }
  const char* name = strerrorname_np(errno);
  std::printf("errno=%s\n", name ? name : std::to_string(errno).c_str());
  return 1;
}

// A TCP socket given to `op` (connect or bind) with 127.0.0.1:PORT; errno kept from `op`.
bool onLoopback(int port, int (*op)(int, const sockaddr*, socklen_t)) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(static_cast<uint16_t>(port));
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = op(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0;
  int saved = errno;
  ::close(fd);
  errno = saved;
  return ok;
}

int run(int argc, char** argv) {
  if (argc < 2) return 2;
  std::string a = argv[1];
  const char* arg = argc > 2 ? argv[2] : nullptr;
  if (a == "write" && arg) {
    int fd = ::open(arg, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) return report(false);
    ::close(fd);
    ::unlink(arg);
    return report(true);
  }
  if (a == "read" && arg) {
    int fd = ::open(arg, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return report(false);
    char buf[64];
    ssize_t n = ::read(fd, buf, sizeof buf);
    ::close(fd);
    return report(n >= 0);
  }
  if (a == "open-dev" && arg) {
    int fd = ::open(arg, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
    return report(fd >= 0);
  }
  if (a == "mount") {
    if (::mount("tmpfs", "/mnt", "tmpfs", 0, nullptr) != 0) return report(false);
    ::umount("/mnt");
    return report(true);
  }
  if (a == "ptrace") return report(::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) == 0);
  if (a == "socket-unix" || a == "socket-netlink") {
    int fd = ::socket(a == "socket-unix" ? AF_UNIX : AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) ::close(fd);
    return report(fd >= 0);
  }
  if (a == "mmap-wx") {
    void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    return report(p != MAP_FAILED);
  }
  if (a == "adjtime") {
    struct timex t {};
    return report(::adjtimex(&t) >= 0);
  }
  if (a == "unshare-user") return report(::unshare(CLONE_NEWUSER) == 0);
  if (a == "personality") return report(::personality(PER_LINUX32) != -1);
  if (a == "setuid-file" && arg) {
    std::string path = std::string(arg) + "/probe-suid";
    int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0755);
    if (fd < 0) return report(false);
    ::close(fd);
    bool ok = ::chmod(path.c_str(), 04755) == 0;
    int saved = errno;
    ::unlink(path.c_str());
    errno = saved;
    return report(ok);
  }
  if (a == "realtime") {
    struct sched_param sp {};
    sp.sched_priority = 1;
    return report(::sched_setscheduler(0, SCHED_FIFO, &sp) == 0);
  }
  if (a == "see-pid" && arg) {
    struct stat st {};
    return report(::stat((std::string("/proc/") + arg).c_str(), &st) == 0);
  }
  if (a == "write-sys") {
    int fd = ::open("/proc/sys/kernel/domainname", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) ::close(fd);
    return report(fd >= 0);
  }
  if (a == "module") {
    // An empty image: the kernel refuses it (ENOEXEC/EFAULT) unless seccomp refuses the call.
    long rc = ::syscall(SYS_init_module, nullptr, 0, "");
    // ENOSYS: the call reached a kernel built without module support.
    if (rc == 0 || errno == ENOEXEC || errno == EFAULT || errno == EINVAL || errno == ENOSYS)
      return report(true);
    return report(false);
  }
  if (a == "hostname") {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) != 0) return report(false);
    return report(::sethostname(name, std::strlen(name)) == 0);
  }
  if (a == "connect" && arg) {
    return report(onLoopback(std::atoi(arg), ::connect));
  }
  if (a == "nnp") {
    if (::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1) {
      errno = EPERM;
      return report(false);
    }
    return report(true);
  }
  if (a == "cap" && arg) {
    int r = ::prctl(PR_CAPBSET_READ, std::atoi(arg), 0, 0, 0);
    if (r == 0) errno = EPERM;
    return report(r == 1);
  }
  if (a == "keyring") {
    long id = ::syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0);
    std::printf("keyring=%ld\n", id);
    return 0;
  }
  if (a == "nofile") {
    struct rlimit rl {};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    std::printf("nofile=%llu:%llu\n", static_cast<unsigned long long>(rl.rlim_cur),
                static_cast<unsigned long long>(rl.rlim_max));
    return 0;
  }
  if (a == "syscall32") {
    long ret = 20;  // getpid in the i386 table
    asm volatile("int $0x80" : "+a"(ret) : : "memory");
    return report(ret > 0);
  }
  if (a == "bind-low" && arg) {
    return report(onLoopback(std::atoi(arg), ::bind));
  }
  if (a == "clone3") {
    struct clone_args args {};
    args.exit_signal = SIGCHLD;
    long pid = ::syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) ::_exit(0);
    if (pid < 0) return report(false);
    int status = 0;
    ::waitpid(static_cast<pid_t>(pid), &status, 0);
    return report(true);
  }
  if (a == "make-ipc") {
    int id = ::shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    if (id < 0) return report(false);
    std::printf("shmid=%d\n", id);
    return 0;
  }
  if (a == "uid") {
    std::printf("uid=%d\n", static_cast<int>(::getuid()));
    return 0;
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int rc = run(argc, argv);
  if (rc == 2) std::fprintf(stderr, "burrow_probe: unknown or incomplete action\n");
  std::fflush(stdout);
  return rc;
}
