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

namespace {
bool walk(std::string_view group, const std::function<bool(std::string_view)>& fn, int depth) {
  const SyscallGroup* g = findSyscallGroup(group);
  if (!g || depth > 8) return true;
  std::string_view m = g->members;
  while (!m.empty()) {
    size_t sp = m.find(' ');
    std::string_view name = m.substr(0, sp);
    m = sp == std::string_view::npos ? std::string_view() : m.substr(sp + 1);
    if (name.empty()) continue;
    if (name.front() == '@') {
      if (!walk(name, fn, depth + 1)) return false;
    } else if (syscallKnown(name) && !fn(name)) {
      return false;
    }
  }
  return true;
}
}  // namespace

bool forEachSyscall(std::string_view group, const std::function<bool(std::string_view)>& fn) {
  return walk(group, fn, 0);
}

}  // namespace sandbox
