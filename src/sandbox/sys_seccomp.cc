// Seccomp programs for a Config, built with libseccomp in the parent and exported as BPF, so
// that the child only has to hand them to prctl(PR_SET_SECCOMP). Like systemd, the features
// are separate programs: the kernel applies the strictest answer of all of them, so an allow
// list and an argument check on the same call cannot undo each other. See seccomp(2),
// seccomp_rule_add(3), seccomp_export_bpf(3).
#include <fcntl.h>
#include <linux/filter.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "base/base.h"
#include "base/unique_fd.h"
#include "sandbox/launch.h"

namespace sandbox {
namespace {

struct CtxFree {
  void operator()(scmp_filter_ctx c) const { seccomp_release(c); }
};
using Ctx = std::unique_ptr<void, CtxFree>;

base::Result<Ctx> newCtx(uint32_t default_action, bool native_only) {
  Ctx ctx(seccomp_init(default_action));
  if (!ctx) return base::makeError(std::errc::not_enough_memory, "seccomp_init");
  if (native_only) {
    // Another ABI's system call is not answered: the process is killed.
    if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
        rc < 0)
      return base::makeError(static_cast<std::errc>(-rc), "seccomp: bad-architecture action");
  } else {
    // Also filter the 32-bit ABIs the kernel accepts, as systemd does by default.
    (void)seccomp_arch_add(ctx.get(), SCMP_ARCH_X86);
    (void)seccomp_arch_add(ctx.get(), SCMP_ARCH_X32);
  }
  return ctx;
}

// One argument comparison, spelled out (libseccomp's SCMP_A* macros leave fields unset).
scmp_arg_cmp arg(unsigned n, scmp_compare op, scmp_datum_t a, scmp_datum_t b = 0) {
  return scmp_arg_cmp{n, op, a, b};
}

int nr(std::string_view name) {
  std::string n(name);
  return seccomp_syscall_resolve_name(n.c_str());
}

base::Result<std::vector<sock_filter>> exportBpf(scmp_filter_ctx ctx) {
  base::UniqueFd fd(::memfd_create("burrow-seccomp", MFD_CLOEXEC));
  if (!fd) return base::sysError("memfd_create");
  if (int rc = seccomp_export_bpf(ctx, fd.get()); rc < 0)
    return base::makeError(static_cast<std::errc>(-rc), "seccomp_export_bpf");
  off_t size = ::lseek(fd.get(), 0, SEEK_END);
  if (size < 0 || size % sizeof(sock_filter) != 0) return base::sysError("seccomp program size");
  std::vector<sock_filter> prog(static_cast<size_t>(size) / sizeof(sock_filter));
  if (::pread(fd.get(), prog.data(), static_cast<size_t>(size), 0) != size)
    return base::sysError("read the seccomp program");
  return prog;
}

// Adds `action` for every call of `group` (nested groups included).
void addGroup(scmp_filter_ctx ctx, std::string_view group, uint32_t action) {
  forEachSyscall(group, [&](std::string_view name) {
    (void)seccomp_rule_add(ctx, action, nr(name), 0);
    return true;
  });
}

// SystemCallFilter= and SystemCallArchitectures=.
base::Result<std::optional<std::vector<sock_filter>>> listFilter(const Config& c,
                                                                 bool native_only) {
  bool filtering = c.syscall_allow_list || !c.syscall_filter.empty();
  if (!filtering && !native_only) return std::optional<std::vector<sock_filter>>();
  uint32_t deny = c.syscall_error_number
                      ? SCMP_ACT_ERRNO(static_cast<uint16_t>(c.syscall_error_number))
                      : SCMP_ACT_KILL_PROCESS;
  uint32_t def = c.syscall_allow_list ? deny : SCMP_ACT_ALLOW;
  ASSIGN_OR_RETURN(Ctx ctx, newCtx(def, native_only));
  for (const auto& name : c.syscall_filter) {
    int n = nr(name);
    if (n == __NR_SCMP_ERROR) continue;
    uint32_t action = SCMP_ACT_ALLOW;
    if (!c.syscall_allow_list) {
      auto it = c.syscall_errno.find(name);
      action =
          it != c.syscall_errno.end() ? SCMP_ACT_ERRNO(static_cast<uint16_t>(it->second)) : deny;
    }
    if (action == def) continue;
    if (int rc = seccomp_rule_add(ctx.get(), action, n, 0); rc < 0)
      return base::makeError(static_cast<std::errc>(-rc), "seccomp rule for {}", name);
  }
  // clone3() hides its flags from seccomp; answering ENOSYS makes libc fall back to clone().
  if (c.syscall_allow_list && !c.syscall_filter.contains("clone3"))
    (void)seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), nr("clone3"), 0);
  ASSIGN_OR_RETURN(auto prog, exportBpf(ctx.get()));
  return std::optional<std::vector<sock_filter>>(std::move(prog));
}

// The directives that restrict arguments or whole groups with EPERM, as one program.
base::Result<std::optional<std::vector<sock_filter>>> restrictionFilter(const Config& c,
                                                                        bool native_only,
                                                                        bool use_mdwe) {
  constexpr uint64_t kAll = CLONE_NEWCGROUP | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWNS |
                            CLONE_NEWPID | CLONE_NEWUSER | CLONE_NEWUTS;
  const uint64_t forbidden = kAll & ~c.restrict_namespaces;
  const bool families = c.address_families_allow_list || !c.address_families.empty();
  const bool wx = c.memory_deny_write_execute && !use_mdwe;
  if (!(c.protect_clock || c.protect_kernel_modules || c.private_devices || c.protect_kernel_logs ||
        c.protect_hostname || families || forbidden || wx || c.restrict_realtime ||
        c.lock_personality || c.restrict_suid_sgid))
    return std::optional<std::vector<sock_filter>>();
  ASSIGN_OR_RETURN(Ctx ctx, newCtx(SCMP_ACT_ALLOW, native_only));
  scmp_filter_ctx x = ctx.get();
  const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
  if (c.protect_clock) addGroup(x, "@clock", eperm);
  if (c.protect_kernel_modules) addGroup(x, "@module", eperm);
  if (c.private_devices) addGroup(x, "@raw-io", eperm);
  if (c.protect_kernel_logs) (void)seccomp_rule_add(x, eperm, nr("syslog"), 0);
  if (c.protect_hostname) {
    (void)seccomp_rule_add(x, eperm, nr("sethostname"), 0);
    (void)seccomp_rule_add(x, eperm, nr("setdomainname"), 0);
  }
  // RestrictAddressFamilies=: socket() with a family outside the list fails.
  if (families) {
    const uint32_t refuse = SCMP_ACT_ERRNO(EAFNOSUPPORT);
    for (int af = 0; af < AF_MAX; ++af) {
      bool listed = c.address_families.contains(af);
      bool blocked = c.address_families_allow_list ? !listed : listed;
      if (blocked)
        (void)seccomp_rule_add(x, refuse, SCMP_SYS(socket), 1,
                               arg(0, SCMP_CMP_EQ, static_cast<scmp_datum_t>(af)));
    }
    if (c.address_families_allow_list)
      (void)seccomp_rule_add(x, refuse, SCMP_SYS(socket), 1, arg(0, SCMP_CMP_GE, AF_MAX));
  }
  // RestrictNamespaces=: unshare(), clone() and setns() with a forbidden type fail.
  if (forbidden) {
    for (uint64_t bit = 1; bit; bit <<= 1) {
      if (!(forbidden & bit)) continue;
      (void)seccomp_rule_add(x, eperm, SCMP_SYS(unshare), 1, arg(0, SCMP_CMP_MASKED_EQ, bit, bit));
      (void)seccomp_rule_add(x, eperm, SCMP_SYS(clone), 1, arg(0, SCMP_CMP_MASKED_EQ, bit, bit));
      (void)seccomp_rule_add(x, eperm, SCMP_SYS(setns), 1, arg(1, SCMP_CMP_EQ, bit));
    }
    (void)seccomp_rule_add(x, eperm, SCMP_SYS(setns), 1, arg(1, SCMP_CMP_EQ, 0));  // any type
    (void)seccomp_rule_add(x, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  }
  if (wx) {
    const scmp_datum_t prot = PROT_WRITE | PROT_EXEC;
    (void)seccomp_rule_add(x, eperm, SCMP_SYS(mmap), 1, arg(2, SCMP_CMP_MASKED_EQ, prot, prot));
    (void)seccomp_rule_add(x, eperm, SCMP_SYS(mprotect), 1,
                           arg(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC));
    (void)seccomp_rule_add(x, eperm, SCMP_SYS(pkey_mprotect), 1,
                           arg(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC));
  }
  if (c.restrict_realtime) {
    for (scmp_datum_t policy : {SCHED_FIFO, SCHED_RR, SCHED_DEADLINE})
      (void)seccomp_rule_add(x, eperm, SCMP_SYS(sched_setscheduler), 1,
                             arg(1, SCMP_CMP_MASKED_EQ, 0x3fffffff, policy));
  }
  if (c.lock_personality) {
    (void)seccomp_rule_add(x, eperm, SCMP_SYS(personality), 1, arg(0, SCMP_CMP_NE, PER_LINUX));
  }
  if (c.restrict_suid_sgid) {
    for (scmp_datum_t b : {scmp_datum_t{S_ISUID}, scmp_datum_t{S_ISGID}}) {
      (void)seccomp_rule_add(x, eperm, SCMP_SYS(chmod), 1, arg(1, SCMP_CMP_MASKED_EQ, b, b));
      (void)seccomp_rule_add(x, eperm, SCMP_SYS(fchmod), 1, arg(1, SCMP_CMP_MASKED_EQ, b, b));
      (void)seccomp_rule_add(x, eperm, SCMP_SYS(fchmodat), 1, arg(2, SCMP_CMP_MASKED_EQ, b, b));
      (void)seccomp_rule_add(x, eperm, SCMP_SYS(mkdir), 1, arg(1, SCMP_CMP_MASKED_EQ, b, b));
      (void)seccomp_rule_add(x, eperm, SCMP_SYS(mkdirat), 1, arg(2, SCMP_CMP_MASKED_EQ, b, b));
      (void)seccomp_rule_add(x, eperm, SCMP_SYS(mknod), 1, arg(1, SCMP_CMP_MASKED_EQ, b, b));
      (void)seccomp_rule_add(x, eperm, SCMP_SYS(mknodat), 1, arg(2, SCMP_CMP_MASKED_EQ, b, b));
      (void)seccomp_rule_add(x, eperm, SCMP_SYS(creat), 1, arg(1, SCMP_CMP_MASKED_EQ, b, b));
      (void)seccomp_rule_add(x, eperm, SCMP_SYS(open), 2,
                             arg(1, SCMP_CMP_MASKED_EQ, O_CREAT, O_CREAT),
                             arg(2, SCMP_CMP_MASKED_EQ, b, b));
      (void)seccomp_rule_add(x, eperm, SCMP_SYS(openat), 2,
                             arg(2, SCMP_CMP_MASKED_EQ, O_CREAT, O_CREAT),
                             arg(3, SCMP_CMP_MASKED_EQ, b, b));
    }
  }
  ASSIGN_OR_RETURN(auto prog, exportBpf(x));
  return std::optional<std::vector<sock_filter>>(std::move(prog));
}

}  // namespace

base::Result<std::vector<std::vector<sock_filter>>> buildSeccomp(const Config& c, bool use_mdwe) {
  bool native_only = c.syscall_archs.size() == 1 && c.syscall_archs.contains("native");
  std::vector<std::vector<sock_filter>> out;
  ASSIGN_OR_RETURN(auto list, listFilter(c, native_only));
  if (list) out.push_back(std::move(*list));
  ASSIGN_OR_RETURN(auto restrictions, restrictionFilter(c, native_only, use_mdwe));
  if (restrictions) out.push_back(std::move(*restrictions));
  return out;
}

}  // namespace sandbox
