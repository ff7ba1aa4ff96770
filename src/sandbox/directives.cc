// [Unit] and [Service] directives into a Config, with systemd's value syntax: booleans as
// parse_boolean() takes them, lists that an empty assignment resets, `~` for deny lists, and
// the merging rules systemd applies when a list directive repeats.
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"
#include "base/log.h"
#include "sandbox/sandbox.h"
#include "sandbox/unit_values.h"

namespace sandbox {
namespace {

std::vector<std::string_view> words(std::string_view v) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < v.size()) {
    while (i < v.size() && std::isspace(static_cast<unsigned char>(v[i]))) ++i;
    size_t j = i;
    while (j < v.size() && !std::isspace(static_cast<unsigned char>(v[j]))) ++j;
    if (j > i) out.push_back(v.substr(i, j - i));
    i = j;
  }
  return out;
}

std::optional<bool> parseBool(std::string_view v) {
  std::string s = base::toLower(v);
  if (s == "1" || s == "yes" || s == "y" || s == "true" || s == "t" || s == "on") return true;
  if (s == "0" || s == "no" || s == "n" || s == "false" || s == "f" || s == "off") return false;
  return std::nullopt;
}

// capabilities(7) numbering.
constexpr std::array<std::string_view, 41> kCapabilities = {"cap_chown",
                                                            "cap_dac_override",
                                                            "cap_dac_read_search",
                                                            "cap_fowner",
                                                            "cap_fsetid",
                                                            "cap_kill",
                                                            "cap_setgid",
                                                            "cap_setuid",
                                                            "cap_setpcap",
                                                            "cap_linux_immutable",
                                                            "cap_net_bind_service",
                                                            "cap_net_broadcast",
                                                            "cap_net_admin",
                                                            "cap_net_raw",
                                                            "cap_ipc_lock",
                                                            "cap_ipc_owner",
                                                            "cap_sys_module",
                                                            "cap_sys_rawio",
                                                            "cap_sys_chroot",
                                                            "cap_sys_ptrace",
                                                            "cap_sys_pacct",
                                                            "cap_sys_admin",
                                                            "cap_sys_boot",
                                                            "cap_sys_nice",
                                                            "cap_sys_resource",
                                                            "cap_sys_time",
                                                            "cap_sys_tty_config",
                                                            "cap_mknod",
                                                            "cap_lease",
                                                            "cap_audit_write",
                                                            "cap_audit_control",
                                                            "cap_setfcap",
                                                            "cap_mac_override",
                                                            "cap_mac_admin",
                                                            "cap_syslog",
                                                            "cap_wake_alarm",
                                                            "cap_block_suspend",
                                                            "cap_audit_read",
                                                            "cap_perfmon",
                                                            "cap_bpf",
                                                            "cap_checkpoint_restore"};

std::optional<int> capabilityNumber(std::string_view name) {
  std::string n = base::toLower(name);
  for (size_t i = 0; i < kCapabilities.size(); ++i)
    if (kCapabilities[i] == n) return static_cast<int>(i);
  int v = 0;
  auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), v);
  if (ec == std::errc() && p == n.data() + n.size() && v >= 0 && v < 64) return v;
  return std::nullopt;
}

// Address families by name, as af_from_name() knows them (see address_families(7)).
struct Family {
  std::string_view name;
  int number;
};
constexpr Family kFamilies[] = {
    {"AF_UNIX", AF_UNIX},
    {"AF_LOCAL", AF_LOCAL},
    {"AF_INET", AF_INET},
    {"AF_AX25", AF_AX25},
    {"AF_IPX", AF_IPX},
    {"AF_APPLETALK", AF_APPLETALK},
    {"AF_NETROM", AF_NETROM},
    {"AF_BRIDGE", AF_BRIDGE},
    {"AF_ATMPVC", AF_ATMPVC},
    {"AF_X25", AF_X25},
    {"AF_INET6", AF_INET6},
    {"AF_ROSE", AF_ROSE},
    {"AF_DECnet", AF_DECnet},
    {"AF_NETBEUI", AF_NETBEUI},
    {"AF_SECURITY", AF_SECURITY},
    {"AF_KEY", AF_KEY},
    {"AF_NETLINK", AF_NETLINK},
    {"AF_PACKET", AF_PACKET},
    {"AF_ASH", AF_ASH},
    {"AF_ECONET", AF_ECONET},
    {"AF_ATMSVC", AF_ATMSVC},
    {"AF_RDS", AF_RDS},
    {"AF_SNA", AF_SNA},
    {"AF_IRDA", AF_IRDA},
    {"AF_PPPOX", AF_PPPOX},
    {"AF_WANPIPE", AF_WANPIPE},
    {"AF_LLC", AF_LLC},
    {"AF_IB", AF_IB},
    {"AF_MPLS", AF_MPLS},
    {"AF_CAN", AF_CAN},
    {"AF_TIPC", AF_TIPC},
    {"AF_BLUETOOTH", AF_BLUETOOTH},
    {"AF_IUCV", AF_IUCV},
    {"AF_RXRPC", AF_RXRPC},
    {"AF_ISDN", AF_ISDN},
    {"AF_PHONET", AF_PHONET},
    {"AF_IEEE802154", AF_IEEE802154},
    {"AF_CAIF", AF_CAIF},
    {"AF_ALG", AF_ALG},
    {"AF_NFC", AF_NFC},
    {"AF_VSOCK", AF_VSOCK},
    {"AF_KCM", AF_KCM},
    {"AF_QIPCRTR", AF_QIPCRTR},
    {"AF_SMC", AF_SMC},
    {"AF_XDP", AF_XDP},
    {"AF_MCTP", 45},
};

std::optional<int> familyNumber(std::string_view name) {
  for (const auto& f : kFamilies)
    if (f.name == name) return f.number;
  return std::nullopt;
}

// The errno names SystemCallFilter=name:ERRNO and SystemCallErrorNumber= take (errno(3)).
std::optional<int> errnoNumber(std::string_view v) {
  static constexpr std::pair<std::string_view, int> kNames[] = {
      {"EPERM", EPERM},
      {"ENOENT", ENOENT},
      {"EIO", EIO},
      {"EACCES", EACCES},
      {"EBUSY", EBUSY},
      {"EEXIST", EEXIST},
      {"EINVAL", EINVAL},
      {"ENOSPC", ENOSPC},
      {"EROFS", EROFS},
      {"ENOSYS", ENOSYS},
      {"ENOTSUP", ENOTSUP},
      {"EOPNOTSUPP", EOPNOTSUPP},
      {"EAFNOSUPPORT", EAFNOSUPPORT},
      {"ENOTTY", ENOTTY},
      {"EAGAIN", EAGAIN},
      {"ENODEV", ENODEV},
  };
  for (auto [name, n] : kNames)
    if (name == v) return n;
  int n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec == std::errc() && p == v.data() + v.size() && n > 0 && n < 4096) return n;
  return std::nullopt;
}

std::optional<int> limitResource(std::string_view key) {
  static constexpr std::pair<std::string_view, int> kLimits[] = {
      {"LimitCPU", RLIMIT_CPU},           {"LimitFSIZE", RLIMIT_FSIZE},
      {"LimitDATA", RLIMIT_DATA},         {"LimitSTACK", RLIMIT_STACK},
      {"LimitCORE", RLIMIT_CORE},         {"LimitRSS", RLIMIT_RSS},
      {"LimitNOFILE", RLIMIT_NOFILE},     {"LimitAS", RLIMIT_AS},
      {"LimitNPROC", RLIMIT_NPROC},       {"LimitMEMLOCK", RLIMIT_MEMLOCK},
      {"LimitLOCKS", RLIMIT_LOCKS},       {"LimitSIGPENDING", RLIMIT_SIGPENDING},
      {"LimitMSGQUEUE", RLIMIT_MSGQUEUE}, {"LimitNICE", RLIMIT_NICE},
      {"LimitRTPRIO", RLIMIT_RTPRIO},     {"LimitRTTIME", RLIMIT_RTTIME},
  };
  for (auto [name, r] : kLimits)
    if (name == key) return r;
  return std::nullopt;
}

struct Namespace {
  std::string_view name;
  uint64_t flag;
};
constexpr Namespace kNamespaces[] = {
    {"cgroup", CLONE_NEWCGROUP}, {"ipc", CLONE_NEWIPC}, {"net", CLONE_NEWNET},
    {"mnt", CLONE_NEWNS},        {"pid", CLONE_NEWPID}, {"user", CLONE_NEWUSER},
    {"uts", CLONE_NEWUTS},
};
constexpr uint64_t kAllNamespaces = CLONE_NEWCGROUP | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWNS |
                                    CLONE_NEWPID | CLONE_NEWUSER | CLONE_NEWUTS;
constexpr uint64_t kNamespacesInitial = ~uint64_t{0};

// Every directive systemd 252 knows in a service unit: {section, name}.
struct Directive {
  std::string_view section, name;
};
constexpr Directive kSystemdDirectives[] = {
#include "sandbox/unit_directives.inc"
};
// Older names systemd 252 still reads, although its manual no longer lists them.
constexpr Directive kLegacyDirectives[] = {
    {"Unit", "StartLimitInterval"},       {"Service", "StartLimitInterval"},
    {"Service", "StartLimitBurst"},       {"Service", "StartLimitAction"},
    {"Service", "FailureAction"},         {"Service", "RebootArgument"},
    {"Service", "MemoryLimit"},           {"Service", "CPUShares"},
    {"Service", "StartupCPUShares"},      {"Service", "BlockIOAccounting"},
    {"Service", "BlockIOWeight"},         {"Service", "StartupBlockIOWeight"},
    {"Service", "BlockIODeviceWeight"},   {"Service", "BlockIOReadBandwidth"},
    {"Service", "BlockIOWriteBandwidth"}, {"Service", "PermissionsStartOnly"},
};
// What `exec` applies (see README.md, "Sandbox directives"); Type= only for the types that
// run as burrow runs every service (see Builder::note).
constexpr std::string_view kApplied[] = {
    "ExecStart",
    "ExecStartPre",
    "ExecStartPost",
    "ExecStop",
    "ExecStopPost",
    "ExecReload",
    "Type",
    "Restart",
    "RestartSec",
    "TimeoutStopSec",
    "TimeoutSec",
    "User",
    "Group",
    "DynamicUser",
    "SupplementaryGroups",
    "UMask",
    "Environment",
    "EnvironmentFile",
    "WorkingDirectory",
    "KeyringMode",
    "NoNewPrivileges",
    "LockPersonality",
    "RestrictRealtime",
    "RestrictSUIDSGID",
    "RemoveIPC",
    "PrivateUsers",
    "PrivatePIDs",
    "StateDirectory",
    "RuntimeDirectory",
    "CacheDirectory",
    "LogsDirectory",
    "ProtectSystem",
    "ProtectHome",
    "PrivateTmp",
    "PrivateMounts",
    "PrivateDevices",
    "ProcSubset",
    "ProtectProc",
    "ReadOnlyPaths",
    "ReadWritePaths",
    "InaccessiblePaths",
    "BindPaths",
    "BindReadOnlyPaths",
    "TemporaryFileSystem",
    "RootDirectory",
    "RootImage",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectControlGroups",
    "ProtectHostname",
    "ProtectClock",
    "CapabilityBoundingSet",
    "AmbientCapabilities",
    "RestrictAddressFamilies",
    "PrivateNetwork",
    "NetworkNamespacePath",
    "SystemCallFilter",
    "SystemCallErrorNumber",
    "SystemCallArchitectures",
    "MemoryDenyWriteExecute",
    "RestrictNamespaces",
    "LimitCPU",
    "LimitFSIZE",
    "LimitDATA",
    "LimitSTACK",
    "LimitCORE",
    "LimitRSS",
    "LimitNOFILE",
    "LimitAS",
    "LimitNPROC",
    "LimitMEMLOCK",
    "LimitLOCKS",
    "LimitSIGPENDING",
    "LimitMSGQUEUE",
    "LimitNICE",
    "LimitRTPRIO",
    "LimitRTTIME",
};
// Words about the unit, with nothing to apply.
constexpr std::string_view kDescriptive[] = {"Description", "Documentation", "SourcePath"};

template <class List>
bool listed(const List& list, std::string_view section, std::string_view name) {
  return std::any_of(std::begin(list), std::end(list),
                     [&](const Directive& d) { return d.section == section && d.name == name; });
}
bool among(std::initializer_list<std::string_view> names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}
template <size_t N>
bool among(const std::string_view (&names)[N], std::string_view name) {
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

class Builder {
 public:
  Builder(const config::UnitFile& unit, Config& c) : unit_(unit), c_(c) {}

  base::Result<void> service(const config::UnitEntry& e);
  base::Result<void> unitSection(const config::UnitEntry& e);
  // Files the entry of [section] as applied, not applied by burrow, or unknown to systemd.
  void note(std::string_view section, const config::UnitEntry& e);
  void finish();

 private:
  const std::string& fileOf(const config::UnitEntry& e) const {
    return e.file.empty() ? unit_.source : e.file;
  }
  template <class... Args>
  base::Unexpected bad(const config::UnitEntry& e, fmt::format_string<Args...> f, Args&&... a) {
    return base::invalid("{}:{}: {}={}: {}", fileOf(e), e.line, e.key, e.value.substr(0, 80),
                         fmt::format(f, std::forward<Args>(a)...));
  }
  base::Result<bool> boolean(const config::UnitEntry& e) {
    auto b = parseBool(e.value);
    if (!b) return bad(e, "expected a boolean (yes/no, true/false, on/off, 1/0)");
    return *b;
  }
  base::Result<std::string> oneOf(const config::UnitEntry& e,
                                  std::initializer_list<std::string_view> allowed) {
    for (auto a : allowed)
      if (e.value == a) return std::string(a);
    std::string list;
    for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    return bad(e, "expected one of: {}", list);
  }
  base::Result<void> capabilities(const config::UnitEntry& e, uint64_t* set, bool bounding);
  base::Result<void> families(const config::UnitEntry& e);
  base::Result<void> namespaces(const config::UnitEntry& e);
  base::Result<void> syscalls(const config::UnitEntry& e);
  base::Result<void> addSyscall(const config::UnitEntry& e, std::string_view name, bool add,
                                int err);
  base::Result<void> ipAddresses(const config::UnitEntry& e, bool deny);

  const config::UnitFile& unit_;
  Config& c_;
  bool families_set_ = false;  // RestrictAddressFamilies= seen since the last reset
  bool syscalls_set_ = false;  // SystemCallFilter= likewise
  bool ip_deny_v4_ = false, ip_deny_v6_ = false;
};

base::Result<void> Builder::capabilities(const config::UnitEntry& e, uint64_t* set, bool bounding) {
  std::string_view v = e.value;
  const bool invert = stripInvert(v);
  uint64_t sum = 0;
  for (auto w : words(v)) {
    auto n = capabilityNumber(w);
    if (!n) return bad(e, "unknown capability '{}'", w);
    sum |= uint64_t{1} << *n;
  }
  const uint64_t initial = bounding ? ~uint64_t{0} : 0;
  if (sum == 0 || *set == initial)
    *set = invert ? ~sum : sum;  // "", "~" or the first assignment replace
  else if (invert)
    *set &= ~sum;
  else
    *set |= sum;
  return {};
}

base::Result<void> Builder::families(const config::UnitEntry& e) {
  std::string_view v = e.value;
  if (v.empty() || v == "none") {
    c_.address_families.clear();
    c_.address_families_allow_list = v == "none";
    families_set_ = false;
    return {};
  }
  const bool invert = stripInvert(v);
  if (!families_set_) {
    families_set_ = true;
    c_.address_families_allow_list = !invert;
  }
  for (auto w : words(v)) {
    auto af = familyNumber(w);
    if (!af) return bad(e, "unknown address family '{}'", w);
    if (!invert == c_.address_families_allow_list)
      c_.address_families.insert(*af);
    else
      c_.address_families.erase(*af);
  }
  return {};
}

base::Result<void> Builder::namespaces(const config::UnitEntry& e) {
  std::string_view v = e.value;
  if (v.empty()) {
    c_.restrict_namespaces = kNamespacesInitial;
    return {};
  }
  if (auto b = parseBool(v)) {  // a boolean overrides whatever came before
    c_.restrict_namespaces = *b ? 0 : kAllNamespaces;
    return {};
  }
  const bool invert = stripInvert(v);
  uint64_t flags = 0;
  for (auto w : words(v)) {
    auto it = std::find_if(std::begin(kNamespaces), std::end(kNamespaces),
                           [&](const Namespace& n) { return n.name == w; });
    if (it == std::end(kNamespaces))
      return bad(e, "unknown namespace type '{}' (cgroup, ipc, net, mnt, pid, user, uts)", w);
    flags |= it->flag;
  }
  if (c_.restrict_namespaces == kNamespacesInitial)
    c_.restrict_namespaces = invert ? (~flags & kAllNamespaces) : flags;
  else if (invert)
    c_.restrict_namespaces &= ~flags;
  else
    c_.restrict_namespaces |= flags;
  return {};
}

// Adds `name` (a call or an @group) to the filter or takes it out; `err` is the errno a deny
// list answers with instead of killing (0: kill).
base::Result<void> Builder::addSyscall(const config::UnitEntry& e, std::string_view name, bool add,
                                       int err) {
  auto apply = [&](std::string_view call) {
    std::string n(call);
    if (!add) {
      c_.syscall_filter.erase(n);
    } else {
      if (err && !c_.syscall_allow_list) c_.syscall_errno[n] = err;
      c_.syscall_filter.insert(std::move(n));
    }
    return true;
  };
  if (!name.empty() && name.front() == '@') {
    if (!findSyscallGroup(name))
      return bad(e, "unknown system call group '{}' (see systemd-analyze syscall-filter)", name);
    forEachSyscall(name, apply);
  } else if (syscallKnown(name)) {
    apply(name);
  } else {
    // Like systemd: a name this kernel's architecture lacks is skipped, not an error.
    LOG_DEBUG("unknown system call skipped unit={} line={} name={}", unit_.name, e.line, name);
  }
  return {};
}

base::Result<void> Builder::syscalls(const config::UnitEntry& e) {
  std::string_view v = e.value;
  if (v.empty()) {
    c_.syscall_filter.clear();
    c_.syscall_allow_list = false;
    syscalls_set_ = false;
    return {};
  }
  const bool invert = stripInvert(v);
  if (!syscalls_set_) {
    syscalls_set_ = true;
    c_.syscall_allow_list = !invert;
    if (c_.syscall_allow_list) RETURN_IF_ERROR(addSyscall(e, "@default", true, 0));
  }
  for (auto w : words(v)) {
    auto colon = w.find(':');  // name:errno
    std::string_view name = w.substr(0, colon);
    int err = 0;
    if (colon != std::string_view::npos) {
      auto n = errnoNumber(w.substr(colon + 1));
      if (!n) return bad(e, "'{}': unknown errno after ':'", w);
      err = *n;
    }
    bool add = !invert == c_.syscall_allow_list;
    RETURN_IF_ERROR(addSyscall(e, name, add, err));
  }
  return {};
}

bool isLocalhost(std::string_view addr) {
  auto slash = addr.find('/');
  std::string_view ip = addr.substr(0, slash);
  return ip.starts_with("127.") || ip == "::1";
}

base::Result<void> Builder::ipAddresses(const config::UnitEntry& e, bool deny) {
  if (e.value.empty()) {
    if (deny)
      ip_deny_v4_ = ip_deny_v6_ = false;
    else
      c_.ip_allow_localhost = c_.ip_allow_other = false;
    return {};
  }
  for (auto w : words(e.value)) {
    if (w == "any") {
      if (deny)
        ip_deny_v4_ = ip_deny_v6_ = true;
      else
        c_.ip_allow_other = true;
    } else if (w == "localhost") {
      if (!deny) c_.ip_allow_localhost = true;
    } else if (w == "link-local" || w == "multicast") {
      if (!deny) c_.ip_allow_other = true;
    } else {
      auto slash = w.find('/');
      std::string_view ip = w.substr(0, slash);
      bool v6 = ip.find(':') != std::string_view::npos;
      bool v4 = !v6 && std::count(ip.begin(), ip.end(), '.') == 3;
      if (!v4 && !v6)
        return bad(e, "'{}' is not an address, a prefix, any, localhost, link-local or multicast",
                   w);
      std::string_view len = slash == std::string_view::npos ? "" : w.substr(slash + 1);
      bool zero = len == "0";
      if (deny) {
        if (zero && v4) ip_deny_v4_ = true;
        if (zero && v6) ip_deny_v6_ = true;
      } else if (isLocalhost(w)) {
        c_.ip_allow_localhost = true;
      } else {
        c_.ip_allow_other = true;
      }
    }
  }
  c_.ip_deny_all = ip_deny_v4_ && ip_deny_v6_;
  return {};
}

base::Result<void> Builder::unitSection(const config::UnitEntry& e) {
  if (e.key == "DefaultDependencies") {
    ASSIGN_OR_RETURN(c_.default_dependencies, boolean(e));
  }
  return {};
}

base::Result<void> Builder::service(const config::UnitEntry& e) {
  const std::string& k = e.key;
  auto flag = [&](bool* field) -> base::Result<void> {
    ASSIGN_OR_RETURN(*field, boolean(e));
    return {};
  };
  if (k == "Type") {
    ASSIGN_OR_RETURN(c_.type, oneOf(e, {"simple", "exec", "forking", "oneshot", "dbus", "notify",
                                        "notify-reload", "idle"}));
  } else if (auto* cmds = k == "ExecStart"       ? &c_.exec_start
                          : k == "ExecStartPre"  ? &c_.exec_start_pre
                          : k == "ExecStartPost" ? &c_.exec_start_post
                          : k == "ExecReload"    ? &c_.exec_reload
                          : k == "ExecStop"      ? &c_.exec_stop
                          : k == "ExecStopPost"  ? &c_.exec_stop_post
                                                 : nullptr) {
    if (e.value.empty())
      cmds->clear();
    else if (execLine(e.value).empty())
      return bad(e, "no command after the prefixes");
    else
      cmds->push_back(e.value);
  } else if (k == "User") {
    c_.user = e.value;
  } else if (k == "Group") {
    c_.group = e.value;
  } else if (k == "DynamicUser") {
    return flag(&c_.dynamic_user);
  } else if (k == "SupplementaryGroups") {
    if (e.value.empty()) c_.supplementary_groups.clear();
    for (auto w : words(e.value)) c_.supplementary_groups.emplace_back(w);
  } else if (k == "UMask") {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(e.value.data(), e.value.data() + e.value.size(), v, 8);
    if (ec != std::errc() || p != e.value.data() + e.value.size() || v > 0777)
      return bad(e, "expected an octal mode such as 0077");
    c_.umask = static_cast<mode_t>(v);
  } else if (k == "KeyringMode") {
    ASSIGN_OR_RETURN(c_.keyring_mode, oneOf(e, {"inherit", "private", "shared"}));
  } else if (k == "NotifyAccess") {
    ASSIGN_OR_RETURN(c_.notify_access, oneOf(e, {"none", "main", "exec", "all"}));
  } else if (k == "NoNewPrivileges") {
    return flag(&c_.no_new_privileges);
  } else if (k == "LockPersonality") {
    return flag(&c_.lock_personality);
  } else if (k == "RestrictRealtime") {
    return flag(&c_.restrict_realtime);
  } else if (k == "RestrictSUIDSGID") {
    return flag(&c_.restrict_suid_sgid);
  } else if (k == "RemoveIPC") {
    return flag(&c_.remove_ipc);
  } else if (k == "PrivateUsers") {
    return flag(&c_.private_users);
  } else if (k == "PrivatePIDs") {
    return flag(&c_.private_pids);
  } else if (k == "Delegate") {
    if (auto b = parseBool(e.value))
      c_.delegate = *b;
    else
      c_.delegate = true;  // a list of controllers
  } else if (k == "ProtectSystem") {
    if (auto b = parseBool(e.value)) {
      c_.protect_system = *b ? "yes" : "no";
    } else {
      ASSIGN_OR_RETURN(c_.protect_system, oneOf(e, {"full", "strict"}));
    }
  } else if (k == "ProtectHome") {
    if (auto b = parseBool(e.value)) {
      c_.protect_home = *b ? "yes" : "no";
    } else {
      ASSIGN_OR_RETURN(c_.protect_home, oneOf(e, {"read-only", "tmpfs"}));
    }
  } else if (k == "PrivateTmp") {
    return flag(&c_.private_tmp);
  } else if (k == "PrivateMounts") {
    return flag(&c_.private_mounts);
  } else if (k == "PrivateDevices") {
    return flag(&c_.private_devices);
  } else if (k == "ProcSubset") {
    ASSIGN_OR_RETURN(c_.proc_subset, oneOf(e, {"all", "pid"}));
  } else if (k == "ProtectProc") {
    ASSIGN_OR_RETURN(c_.protect_proc, oneOf(e, {"default", "noaccess", "invisible", "ptraceable"}));
  } else if (k == "RootDirectory") {
    c_.root_directory = e.value;
  } else if (k == "RootImage") {
    c_.root_image = e.value;
  } else if (k == "ProtectKernelTunables") {
    return flag(&c_.protect_kernel_tunables);
  } else if (k == "ProtectKernelModules") {
    return flag(&c_.protect_kernel_modules);
  } else if (k == "ProtectKernelLogs") {
    return flag(&c_.protect_kernel_logs);
  } else if (k == "ProtectControlGroups") {
    return flag(&c_.protect_control_groups);
  } else if (k == "ProtectHostname") {
    return flag(&c_.protect_hostname);
  } else if (k == "ProtectClock") {
    return flag(&c_.protect_clock);
  } else if (k == "CapabilityBoundingSet") {
    return capabilities(e, &c_.capability_bounding_set, true);
  } else if (k == "AmbientCapabilities") {
    return capabilities(e, &c_.ambient_capabilities, false);
  } else if (k == "RestrictAddressFamilies") {
    return families(e);
  } else if (k == "PrivateNetwork") {
    return flag(&c_.private_network);
  } else if (k == "SystemCallFilter") {
    return syscalls(e);
  } else if (k == "SystemCallArchitectures") {
    if (e.value.empty()) c_.syscall_archs.clear();
    for (auto w : words(e.value)) c_.syscall_archs.emplace(w);
  } else if (k == "SystemCallErrorNumber") {
    if (e.value.empty()) {
      c_.syscall_error_number = 0;
    } else {
      auto n = errnoNumber(e.value);
      if (!n) return bad(e, "expected an errno name such as EPERM, or a number");
      c_.syscall_error_number = *n;
    }
  } else if (k == "MemoryDenyWriteExecute") {
    return flag(&c_.memory_deny_write_execute);
  } else if (k == "RestrictNamespaces") {
    return namespaces(e);
  } else if (k == "IPAddressDeny") {
    return ipAddresses(e, true);
  } else if (k == "IPAddressAllow") {
    return ipAddresses(e, false);
  } else if (k == "IPIngressFilterPath" || k == "IPEgressFilterPath") {
    if (!e.value.empty()) c_.ip_custom_filters = true;
  } else if (k == "DevicePolicy") {
    ASSIGN_OR_RETURN(c_.device_policy, oneOf(e, {"auto", "closed", "strict"}));
  } else if (k == "DeviceAllow") {
    c_.device_allow_non_empty = !e.value.empty();
  } else if (k == "Environment") {
    if (e.value.empty())
      c_.environment.clear();
    else
      c_.environment.push_back(e.value);
  } else if (k == "EnvironmentFile") {
    if (e.value.empty()) {
      c_.environment_files.clear();
    } else {
      c_.environment_files.push_back(e.value);
      // Secrets often live there: audit checks who may read the file.
      if (auto pv = pathValue(e.value); pv.path.starts_with('/'))
        c_.secret_paths.emplace_back(pv.path);
    }
  } else if (k == "WorkingDirectory") {
    c_.working_directory = e.value;
  } else if (k == "ReadWritePaths" || k == "InaccessiblePaths") {
    auto& list = k == "ReadWritePaths" ? c_.read_write_paths : c_.inaccessible_paths;
    if (e.value.empty()) list.clear();
    for (auto w : words(e.value)) {
      if (!pathValue(w).path.starts_with('/')) return bad(e, "'{}' is not an absolute path", w);
      list.emplace_back(w);
    }
  } else if (k == "StateDirectory" || k == "RuntimeDirectory" || k == "CacheDirectory" ||
             k == "LogsDirectory") {
    auto& list = k == "StateDirectory"     ? c_.state_directories
                 : k == "RuntimeDirectory" ? c_.runtime_directories
                 : k == "CacheDirectory"   ? c_.cache_directories
                                           : c_.logs_directories;
    if (e.value.empty()) list.clear();
    for (auto w : words(e.value)) {
      if (w.front() == '/' || w.find("..") != std::string_view::npos)
        return bad(e, "'{}' must be a relative path without '..'", w);
      list.emplace_back(w);
    }
  } else if (k == "BindPaths" || k == "BindReadOnlyPaths") {
    if (e.value.empty()) {
      std::erase_if(c_.binds, [&](const Config::Bind& b) {
        return b.read_only == (k == "BindReadOnlyPaths");
      });
    }
    for (auto w : words(e.value)) {
      Config::Bind b;
      b.read_only = k == "BindReadOnlyPaths";
      std::string_view rest = w;
      if (!rest.empty() && rest.front() == '-') {
        b.optional = true;
        rest.remove_prefix(1);
      }
      auto c1 = rest.find(':');
      b.source = std::string(rest.substr(0, c1));
      b.target = b.source;
      if (c1 != std::string_view::npos) {
        std::string_view tail = rest.substr(c1 + 1);
        auto c2 = tail.find(':');
        b.target = std::string(tail.substr(0, c2));
        if (c2 != std::string_view::npos) {
          std::string_view opt = tail.substr(c2 + 1);
          if (opt == "norbind")
            b.recursive = false;
          else if (opt != "rbind")
            return bad(e, "'{}': the option after the second ':' is rbind or norbind", w);
        }
      }
      if (b.source.empty() || b.source.front() != '/' || b.target.empty() ||
          b.target.front() != '/')
        return bad(e, "'{}' is not SOURCE[:DESTINATION[:OPTIONS]] with absolute paths", w);
      c_.binds.push_back(std::move(b));
    }
  } else if (k == "TemporaryFileSystem") {
    if (e.value.empty()) c_.temporary_file_systems.clear();
    for (auto w : words(e.value)) {
      auto colon = w.find(':');
      std::string path(w.substr(0, colon));
      if (path.empty() || path.front() != '/') return bad(e, "'{}' is not an absolute path", w);
      c_.temporary_file_systems.push_back(
          {path, colon == std::string_view::npos ? "" : std::string(w.substr(colon + 1))});
    }
  } else if (k.starts_with("Limit")) {
    auto res = limitResource(k);
    if (!res) return bad(e, "unknown resource limit");
    auto parseOne = [&](std::string_view v) -> std::optional<uint64_t> {
      if (v == "infinity") return RLIM_INFINITY;
      uint64_t mult = 1;
      if (!v.empty() && std::string_view("KMGT").find(v.back()) != std::string_view::npos) {
        mult = uint64_t{1} << (10 * (1 + std::string_view("KMGT").find(v.back())));
        v.remove_suffix(1);
      }
      uint64_t n = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || p != v.data() + v.size()) return std::nullopt;
      return n * mult;
    };
    std::string_view v = e.value;
    auto colon = v.find(':');
    auto soft = parseOne(v.substr(0, colon));
    auto hard = colon == std::string_view::npos ? soft : parseOne(v.substr(colon + 1));
    if (!soft || !hard) return bad(e, "expected a number, infinity, or SOFT:HARD");
    std::erase_if(c_.limits, [&](const Config::Limit& l) { return l.resource == *res; });
    c_.limits.push_back({*res, *soft, *hard});
  } else if (k == "NetworkNamespacePath") {
    if (!e.value.empty() && e.value.front() != '/') return bad(e, "expected an absolute path");
    c_.network_namespace_path = e.value;
  } else if (k == "Restart") {
    auto restart = supervise::parseRestart(e.value);
    // Its message names the directive, the value and what is allowed: add where it was written.
    if (!restart) return base::invalid("{}:{}: {}", fileOf(e), e.line, restart.error().message());
    c_.restart = *restart;
  } else if (k == "RestartSec") {
    auto d = base::parseDuration(e.value);
    if (!d) return bad(e, "expected a time span such as 5, 5s or 500ms");
    c_.restart_sec = *d;
  } else if (k == "TimeoutStopSec" || k == "TimeoutSec") {
    auto d = e.value == "infinity" ? base::Result<std::chrono::milliseconds>(0)
                                   : base::parseDuration(e.value);
    if (!d) return bad(e, "expected a time span such as 90, 1min 30s or 500ms, or infinity");
    c_.timeout_stop = *d;
  } else if (k == "ReadOnlyPaths" || k == "LoadCredential") {
    if (k == "ReadOnlyPaths") {
      if (e.value.empty()) c_.read_only_paths.clear();
      for (auto w : words(e.value)) c_.read_only_paths.emplace_back(w);
    }
    for (auto w : words(e.value)) {
      std::string_view p = w;
      if (k == "LoadCredential") {
        auto colon = p.find(':');
        if (colon == std::string_view::npos) continue;
        p = p.substr(colon + 1);
      }
      if (auto pv = pathValue(p); pv.path.starts_with('/')) c_.secret_paths.emplace_back(pv.path);
    }
  }
  return {};
}

void Builder::note(std::string_view section, const config::UnitEntry& e) {
  const std::string& k = e.key;
  if (k.starts_with("X-") || among(kDescriptive, k)) return;  // systemd ignores X- keys too
  const bool runs_as_simple =
      !(k == "Type" && !among({"simple", "exec", "idle", "oneshot"}, e.value));
  if (section == "Service" && among(kApplied, k) && runs_as_simple) return;
  if (listed(kSystemdDirectives, section, k) || listed(kLegacyDirectives, section, k) ||
      (section == "Service" && among(kApplied, k))) {
    c_.not_applied.push_back(
        fmt::format("{}:{}: {}={}", fileOf(e), e.line, k, runs_as_simple ? "" : e.value));
    return;
  }
  std::string w =
      fmt::format("{}:{}: unknown directive {}= in [{}], ignored", fileOf(e), e.line, k, section);
  LOG_WARN("{}", w);
  c_.warnings.push_back(std::move(w));
}

// What systemd derives when it loads a unit (unit_patch_contexts()).
void Builder::finish() {
  if (c_.dynamic_user) {
    if (c_.user.empty()) {
      auto dot = c_.unit_name.rfind('.');
      c_.user = c_.unit_name.substr(0, dot);
    }
    c_.private_tmp = true;
    c_.remove_ipc = true;
    c_.protect_system = "strict";
    if (c_.protect_home == "no") c_.protect_home = "read-only";
    c_.no_new_privileges = true;
    c_.restrict_suid_sgid = true;
  }
  auto drop = [&](std::initializer_list<std::string_view> caps) {
    for (auto cap : caps) c_.capability_bounding_set &= ~(uint64_t{1} << *capabilityNumber(cap));
  };
  if (c_.private_devices) drop({"cap_mknod", "cap_sys_rawio"});
  if (c_.protect_kernel_modules) drop({"cap_sys_module"});
  if (c_.protect_kernel_logs) drop({"cap_syslog"});
  if (c_.protect_clock) drop({"cap_sys_time", "cap_wake_alarm"});
  // The device access list systemd derives (see DevicePolicy= in systemd.resource-control(5)).
  if (c_.private_devices && c_.device_policy == "auto") c_.device_policy = "closed";
  if (!c_.root_image.empty() && (c_.device_policy != "auto" || c_.device_allow_non_empty))
    c_.device_allow_non_empty = true;                      // loop devices
  if (c_.protect_clock) c_.device_allow_non_empty = true;  // the RTC, read-only
  if (c_.notify_access.empty())
    c_.notify_access = (c_.type == "notify" || c_.type == "notify-reload") ? "main" : "none";
}

}  // namespace

base::Result<Config> configFromUnit(const config::UnitFile& unit) {
  Config c;
  c.unit_name = unit.name;
  c.source = unit.source;
  Builder b(unit, c);
  bool has_service = false;
  for (const auto& s : unit.sections) {
    if (s.name == "Unit") {
      for (const auto& e : s.entries) RETURN_IF_ERROR(b.unitSection(e));
    } else if (s.name == "Service") {
      has_service = true;
      for (const auto& e : s.entries) RETURN_IF_ERROR(b.service(e));
    } else if (s.name != "Install") {
      continue;  // [X-…] and the sections of other unit types: not burrow's
    }
    for (const auto& e : s.entries) b.note(s.name, e);
  }
  // A service unit without [Service] runs nothing but is scored with the defaults, as
  // systemd does (systemd-exit.service); any other kind of unit is not for burrow.
  if (!has_service && !unit.name.ends_with(".service"))
    return base::invalid("{}: no [Service] section", unit.source);
  if (c.exec_start.size() > 1 && c.type != "oneshot")
    return base::invalid("{}: {} ExecStart= lines: more than one is for Type=oneshot only",
                         unit.source, c.exec_start.size());
  b.finish();
  return c;
}

base::Result<Config> loadConfig(std::string_view name_or_path) {
  ASSIGN_OR_RETURN(config::UnitFile unit, config::loadUnit(name_or_path));
  return configFromUnit(unit);
}

bool runsAsRoot(const Config& c) {
  if (c.user == "0" || c.user == "root") return true;
  return c.user.empty() && !c.dynamic_user;
}

}  // namespace sandbox
