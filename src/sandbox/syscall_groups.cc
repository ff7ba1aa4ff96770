// systemd 252's system-call groups, from the generated table, and name resolution through
// libseccomp for this machine's native architecture (see seccomp_syscall_resolve_name(3)).
#include <seccomp.h>

#include <string>
#include <vector>

#include "sandbox/sandbox.h"

namespace sandbox {

const std::vector<SyscallGroup>& syscallGroups() {
  static const std::vector<SyscallGroup> kGroups = {
#include "sandbox/syscall_groups.inc"
  };
  return kGroups;
}

const SyscallGroup* findSyscallGroup(std::string_view name) {
  for (const auto& g : syscallGroups())
    if (g.name == name) return &g;
  return nullptr;
}

bool syscallKnown(std::string_view name) {
  std::string n(name);
  return seccomp_syscall_resolve_name(n.c_str()) != __NR_SCMP_ERROR;
}

}  // namespace sandbox
