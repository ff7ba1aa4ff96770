// `burrow audit`: the exposure score of `systemd-analyze security` (systemd 252), computed
// from a Config. The checks, their weights and ranges, the per-check badness and the integer
// arithmetic of the overall figure follow systemd's, so that both tools agree on every unit;
// the descriptions are burrow's own. burrow's own findings come after systemd's checks and do
// not change the score.
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/base.h"
#include "sandbox/sandbox.h"
#include "sandbox/unit_values.h"

namespace sandbox {
namespace {

constexpr uint64_t cap(int n) { return uint64_t{1} << n; }
// capabilities(7) numbers used by the checks.
enum : int {
  kChown = 0,
  kDacOverride = 1,
  kDacReadSearch = 2,
  kFowner = 3,
  kFsetid = 4,
  kKill = 5,
  kSetgid = 6,
  kSetuid = 7,
  kSetpcap = 8,
  kLinuxImmutable = 9,
  kNetBindService = 10,
  kNetBroadcast = 11,
  kNetAdmin = 12,
  kNetRaw = 13,
  kIpcLock = 14,
  kIpcOwner = 15,
  kSysModule = 16,
  kSysRawio = 17,
  kSysChroot = 18,
  kSysPtrace = 19,
  kSysPacct = 20,
  kSysAdmin = 21,
  kSysBoot = 22,
  kSysNice = 23,
  kSysResource = 24,
  kSysTime = 25,
  kSysTtyConfig = 26,
  kMknod = 27,
  kLease = 28,
  kAuditWrite = 29,
  kAuditControl = 30,
  kSetfcap = 31,
  kMacOverride = 32,
  kMacAdmin = 33,
  kSyslog = 34,
  kWakeAlarm = 35,
  kBlockSuspend = 36,
  kAuditRead = 37,
  kBpf = 39,
};

// How bad one aspect of a unit is: 0 (fine) .. range (as bad as it gets), or nullopt when
// the check does not apply. `what` describes the unit's state in a few words.
struct Verdict {
  std::optional<uint64_t> badness;
  std::string what;
};

struct Check {
  std::string name;
  std::string json_field;
  uint64_t weight;
  uint64_t range;
  bool default_dependencies_only;
  std::function<Verdict(const Config&)> assess;
};

Check flag(std::string name, std::string field, uint64_t weight, bool Config::*member,
           std::string_view good, std::string_view bad, bool invert = false) {
  return {name, field, weight, 1, false, [=](const Config& c) {
            bool on = c.*member;
            bool is_bad = invert ? on : !on;
            return Verdict{is_bad ? 1u : 0u, std::string(is_bad ? bad : good)};
          }};
}

Check capability(std::string name, std::string field, uint64_t weight, uint64_t mask,
                 std::string_view what) {
  return {name, field, weight, 1, false, [=](const Config& c) {
            bool kept = (c.capability_bounding_set & mask) != 0;
            return Verdict{kept ? 1u : 0u, fmt::format("{} {}", kept ? "keeps" : "drops", what)};
          }};
}

Check nsCheck(std::string name, std::string field, uint64_t weight, uint64_t flag,
              std::string_view what) {
  return {name, field, weight, 1, false, [=](const Config& c) {
            bool may = (c.restrict_namespaces & flag) != 0;
            return Verdict{may ? 1u : 0u,
                           fmt::format("{} create {} namespaces", may ? "may" : "cannot", what)};
          }};
}

enum class FamilyKind { Inet, Unix, Netlink, Packet, Other };
FamilyKind kindOf(int af) {
  if (af == AF_INET || af == AF_INET6) return FamilyKind::Inet;
  if (af == AF_UNIX) return FamilyKind::Unix;
  if (af == AF_NETLINK) return FamilyKind::Netlink;
  if (af == AF_PACKET) return FamilyKind::Packet;
  return FamilyKind::Other;
}
// True when the unit cannot open sockets of this kind, as systemd works it out.
bool familyRestricted(const Config& c, FamilyKind kind) {
  bool restricted = c.address_families_allow_list;
  for (int af : c.address_families)
    if (kindOf(af) == kind) restricted = !c.address_families_allow_list;
  return restricted;
}
Check family(std::string name, std::string field, uint64_t weight, FamilyKind kind,
             std::string_view what) {
  return {name, field, weight, 1, false, [=](const Config& c) {
            bool ok = familyRestricted(c, kind);
            return Verdict{ok ? 0u : 1u,
                           fmt::format("{} open {} sockets", ok ? "cannot" : "may", what)};
          }};
}

// Whether the filter lets through some system call of `group` (nested groups included;
// names this architecture lacks do not count). Sets `example` to the first such call.
bool groupGetsThrough(const Config& c, std::string_view group, std::string* example) {
  return !forEachSyscall(group, [&](std::string_view name) {
    if (c.syscall_filter.contains(std::string(name)) != c.syscall_allow_list) return true;
    *example = std::string(name);
    return false;
  });
}
// "SystemCallFilter=~@raw-io", field "SystemCallFilter_raw_io", as systemd names them.
Check syscallGroup(std::string_view group, uint64_t weight) {
  std::string field = "SystemCallFilter_" + std::string(group.substr(1));
  std::replace(field.begin(), field.end(), '-', '_');
  return {fmt::format("SystemCallFilter=~{}", group),
          field,
          weight,
          10,
          false,
          [group](const Config& c) {
            if (!c.syscall_allow_list && c.syscall_filter.empty())
              return Verdict{10u, "no system call filter"};
            std::string example;
            bool through = groupGetsThrough(c, group, &example);
            if (c.syscall_allow_list)
              return through ? Verdict{9u, fmt::format("allow list lets {} through ({})", group,
                                                       example)}
                             : Verdict{0u, fmt::format("allow list keeps {} out", group)};
            return through ? Verdict{10u, fmt::format("deny list misses {} ({})", group, example)}
                           : Verdict{0u, fmt::format("deny list blocks {}", group)};
          }};
}

std::vector<Check> buildChecks() {
  std::vector<Check> v;
  v.push_back({"User=/DynamicUser=", "UserOrDynamicUser", 2000, 10, false, [](const Config& c) {
                 if (c.user == "nobody")
                   return Verdict{9u, "runs as 'nobody', shared by unrelated software"};
                 if (!runsAsRoot(c) && c.dynamic_user)
                   return Verdict{0u, "runs as a transient user of its own"};
                 if (!runsAsRoot(c)) return Verdict{0u, fmt::format("runs as user '{}'", c.user)};
                 return Verdict{10u, "runs as root"};
               }});
  v.push_back({"SupplementaryGroups=", "SupplementaryGroups", 200, 1, false, [](const Config& c) {
                 if (runsAsRoot(c)) return Verdict{std::nullopt, "runs as root, does not apply"};
                 bool any = !c.supplementary_groups.empty();
                 return Verdict{any ? 1u : 0u,
                                any ? "has supplementary groups" : "no supplementary groups"};
               }});
  v.push_back(flag("PrivateDevices=", "PrivateDevices", 1000, &Config::private_devices,
                   "sees pseudo-devices only", "may reach hardware devices"));
  v.push_back(flag("PrivateMounts=", "PrivateMounts", 1000, &Config::private_mounts,
                   "cannot add mounts to the host", "may add mounts to the host"));
  v.push_back(flag("PrivateNetwork=", "PrivateNetwork", 2500, &Config::private_network,
                   "has no network of the host", "uses the host's network"));
  Check tmp = flag("PrivateTmp=", "PrivateTmp", 1000, &Config::private_tmp, "has a /tmp of its own",
                   "shares /tmp with other software");
  tmp.default_dependencies_only = true;
  v.push_back(tmp);
  v.push_back(flag("PrivateUsers=", "PrivateUsers", 1000, &Config::private_users,
                   "sees no other users", "sees the host's users"));
  v.push_back(flag("ProtectControlGroups=", "ProtectControlGroups", 1000,
                   &Config::protect_control_groups, "cgroup tree read-only",
                   "may write the cgroup tree"));
  v.push_back(flag("ProtectKernelModules=", "ProtectKernelModules", 1000,
                   &Config::protect_kernel_modules, "cannot load kernel modules",
                   "may load or read kernel modules"));
  v.push_back(flag("ProtectKernelTunables=", "ProtectKernelTunables", 1000,
                   &Config::protect_kernel_tunables, "kernel tunables read-only",
                   "may change kernel tunables"));
  v.push_back(flag("ProtectKernelLogs=", "ProtectKernelLogs", 1000, &Config::protect_kernel_logs,
                   "no access to the kernel log", "may read or write the kernel log"));
  v.push_back(flag("ProtectClock=", "ProtectClock", 1000, &Config::protect_clock,
                   "cannot set the clocks", "may set the system or hardware clock"));
  v.push_back({"ProtectHome=", "ProtectHome", 1000, 10, true, [](const Config& c) {
                 if (c.protect_home == "yes") return Verdict{0u, "no access to home directories"};
                 if (c.protect_home == "read-only")
                   return Verdict{5u, "home directories read-only"};
                 if (c.protect_home == "tmpfs")
                   return Verdict{1u, "empty stand-ins for home directories"};
                 return Verdict{10u, "full access to home directories"};
               }});
  v.push_back(flag("ProtectHostname=", "ProtectHostname", 50, &Config::protect_hostname,
                   "cannot change the host name", "may change the host name"));
  v.push_back({"ProtectSystem=", "ProtectSystem", 1000, 10, true, [](const Config& c) {
                 if (c.protect_system == "strict")
                   return Verdict{0u, "whole file system read-only"};
                 if (c.protect_system == "full")
                   return Verdict{3u, "/usr, /boot and /etc read-only"};
                 if (c.protect_system == "yes") return Verdict{5u, "/usr and /boot read-only"};
                 return Verdict{10u, "may write the operating system's files"};
               }});
  v.push_back(
      {"RootDirectory=/RootImage=", "RootDirectoryOrRootImage", 200, 1, true, [](const Config& c) {
         auto host = [](const std::string& p) { return p.empty() || p == "/"; };
         bool shared = host(c.root_directory) && host(c.root_image);
         return Verdict{shared ? 1u : 0u,
                        shared ? "runs in the host's root" : "has a root of its own"};
       }});
  v.push_back(flag("LockPersonality=", "LockPersonality", 100, &Config::lock_personality,
                   "personality locked", "may change its execution domain"));
  v.push_back(flag("MemoryDenyWriteExecute=", "MemoryDenyWriteExecute", 100,
                   &Config::memory_deny_write_execute, "no writable and executable memory",
                   "may map memory writable and executable"));
  v.push_back(flag("NoNewPrivileges=", "NoNewPrivileges", 1000, &Config::no_new_privileges,
                   "cannot gain privileges", "may gain privileges (setuid programs)"));
  v.push_back(capability("CapabilityBoundingSet=~CAP_SYS_ADMIN",
                         "CapabilityBoundingSet_CAP_SYS_ADMIN", 1500, cap(kSysAdmin),
                         "CAP_SYS_ADMIN"));
  v.push_back(capability("CapabilityBoundingSet=~CAP_SET(UID|GID|PCAP)",
                         "CapabilityBoundingSet_CAP_SET_UID_GID_PCAP", 1500,
                         cap(kSetuid) | cap(kSetgid) | cap(kSetpcap), "CAP_SETUID/SETGID/SETPCAP"));
  v.push_back(capability("CapabilityBoundingSet=~CAP_SYS_PTRACE",
                         "CapabilityBoundingSet_CAP_SYS_PTRACE", 1500, cap(kSysPtrace),
                         "CAP_SYS_PTRACE"));
  v.push_back(capability("CapabilityBoundingSet=~CAP_SYS_TIME",
                         "CapabilityBoundingSet_CAP_SYS_TIME", 1000, cap(kSysTime),
                         "CAP_SYS_TIME"));
  v.push_back(capability("CapabilityBoundingSet=~CAP_NET_ADMIN",
                         "CapabilityBoundingSet_CAP_NET_ADMIN", 1000, cap(kNetAdmin),
                         "CAP_NET_ADMIN"));
  v.push_back(capability("CapabilityBoundingSet=~CAP_SYS_RAWIO",
                         "CapabilityBoundingSet_CAP_SYS_RAWIO", 1000, cap(kSysRawio),
                         "CAP_SYS_RAWIO"));
  v.push_back(capability("CapabilityBoundingSet=~CAP_SYS_MODULE",
                         "CapabilityBoundingSet_CAP_SYS_MODULE", 1000, cap(kSysModule),
                         "CAP_SYS_MODULE"));
  v.push_back(capability("CapabilityBoundingSet=~CAP_AUDIT_*", "CapabilityBoundingSet_CAP_AUDIT",
                         500, cap(kAuditControl) | cap(kAuditRead) | cap(kAuditWrite),
                         "CAP_AUDIT_*"));
  v.push_back(capability("CapabilityBoundingSet=~CAP_SYSLOG", "CapabilityBoundingSet_CAP_SYSLOG",
                         500, cap(kSyslog), "CAP_SYSLOG"));
  v.push_back(capability("CapabilityBoundingSet=~CAP_SYS_(NICE|RESOURCE)",
                         "CapabilityBoundingSet_CAP_SYS_NICE_RESOURCE", 500,
                         cap(kSysNice) | cap(kSysResource), "CAP_SYS_NICE/RESOURCE"));
  v.push_back(capability("CapabilityBoundingSet=~CAP_MKNOD", "CapabilityBoundingSet_CAP_MKNOD", 500,
                         cap(kMknod), "CAP_MKNOD"));
  v.push_back(capability("CapabilityBoundingSet=~CAP_(CHOWN|FSETID|SETFCAP)",
                         "CapabilityBoundingSet_CAP_CHOWN_FSETID_SETFCAP", 1000,
                         cap(kChown) | cap(kFsetid) | cap(kSetfcap), "CAP_CHOWN/FSETID/SETFCAP"));
  v.push_back(capability("CapabilityBoundingSet=~CAP_(DAC_*|FOWNER|IPC_OWNER)",
                         "CapabilityBoundingSet_CAP_DAC_FOWNER_IPC_OWNER", 1000,
                         cap(kDacOverride) | cap(kDacReadSearch) | cap(kFowner) | cap(kIpcOwner),
                         "CAP_DAC_*/FOWNER/IPC_OWNER"));
  v.push_back(capability("CapabilityBoundingSet=~CAP_KILL", "CapabilityBoundingSet_CAP_KILL", 500,
                         cap(kKill), "CAP_KILL"));
  // The stray ')' is in systemd 252's field name too; kept so that JSON consumers match.
  v.push_back(capability("CapabilityBoundingSet=~CAP_NET_(BIND_SERVICE|BROADCAST|RAW)",
                         "CapabilityBoundingSet_CAP_NET_BIND_SERVICE_BROADCAST_RAW)", 500,
                         cap(kNetBindService) | cap(kNetBroadcast) | cap(kNetRaw),
                         "CAP_NET_BIND_SERVICE/BROADCAST/RAW"));
  v.push_back(capability("CapabilityBoundingSet=~CAP_SYS_BOOT",
                         "CapabilityBoundingSet_CAP_SYS_BOOT", 100, cap(kSysBoot), "CAP_SYS_BOOT"));
  v.push_back(capability("CapabilityBoundingSet=~CAP_MAC_*", "CapabilityBoundingSet_CAP_MAC", 100,
                         cap(kMacAdmin) | cap(kMacOverride), "CAP_MAC_*"));
  v.push_back(capability("CapabilityBoundingSet=~CAP_LINUX_IMMUTABLE",
                         "CapabilityBoundingSet_CAP_LINUX_IMMUTABLE", 75, cap(kLinuxImmutable),
                         "CAP_LINUX_IMMUTABLE"));
  v.push_back(capability("CapabilityBoundingSet=~CAP_IPC_LOCK",
                         "CapabilityBoundingSet_CAP_IPC_LOCK", 50, cap(kIpcLock), "CAP_IPC_LOCK"));
  v.push_back(capability("CapabilityBoundingSet=~CAP_SYS_CHROOT",
                         "CapabilityBoundingSet_CAP_SYS_CHROOT", 50, cap(kSysChroot),
                         "CAP_SYS_CHROOT"));
  v.push_back(capability("CapabilityBoundingSet=~CAP_BLOCK_SUSPEND",
                         "CapabilityBoundingSet_CAP_BLOCK_SUSPEND", 25, cap(kBlockSuspend),
                         "CAP_BLOCK_SUSPEND"));
  v.push_back(capability("CapabilityBoundingSet=~CAP_WAKE_ALARM",
                         "CapabilityBoundingSet_CAP_WAKE_ALARM", 25, cap(kWakeAlarm),
                         "CAP_WAKE_ALARM"));
  v.push_back(capability("CapabilityBoundingSet=~CAP_LEASE", "CapabilityBoundingSet_CAP_LEASE", 25,
                         cap(kLease), "CAP_LEASE"));
  v.push_back(capability("CapabilityBoundingSet=~CAP_SYS_TTY_CONFIG",
                         "CapabilityBoundingSet_CAP_SYS_TTY_CONFIG", 25, cap(kSysTtyConfig),
                         "CAP_SYS_TTY_CONFIG"));
  v.push_back(capability("CapabilityBoundingSet=~CAP_SYS_PACCT",
                         "CapabilityBoundingSet_CAP_SYS_PACCT", 25, cap(kSysPacct),
                         "CAP_SYS_PACCT"));
  // Debian's systemd 252 carries this check from later releases.
  v.push_back(capability("CapabilityBoundingSet=~CAP_BPF", "CapabilityBoundingSet_CAP_BPF", 25,
                         cap(kBpf), "CAP_BPF"));
  v.push_back({"UMask=", "UMask", 100, 10, false, [](const Config& c) {
                 if (!(c.umask & 0002)) return Verdict{10u, "new files world-writable"};
                 if (!(c.umask & 0004)) return Verdict{5u, "new files world-readable"};
                 if (!(c.umask & 0020)) return Verdict{2u, "new files group-writable"};
                 if (!(c.umask & 0040)) return Verdict{1u, "new files group-readable"};
                 return Verdict{0u, "new files private to the user"};
               }});
  v.push_back(
      {"KeyringMode=", "KeyringMode", 1000, 1, false, [](const Config& c) {
         bool own = c.keyring_mode == "private";
         return Verdict{own ? 0u : 1u, own ? "keyring of its own" : "shares a kernel keyring"};
       }});
  v.push_back({"ProtectProc=", "ProtectProc", 1000, 3, false, [](const Config& c) {
                 if (c.protect_proc == "noaccess")
                   return Verdict{1u, "/proc of others hidden (noaccess)"};
                 if (c.protect_proc == "invisible" || c.protect_proc == "ptraceable")
                   return Verdict{0u, "other processes invisible in /proc"};
                 return Verdict{3u, "sees every process in /proc"};
               }});
  v.push_back(
      {"ProcSubset=", "ProcSubset", 10, 1, false, [](const Config& c) {
         bool pid = c.proc_subset == "pid";
         return Verdict{pid ? 0u : 1u, pid ? "/proc holds processes only" : "sees all of /proc"};
       }});
  v.push_back({"NotifyAccess=", "NotifyAccess", 1000, 1, false, [](const Config& c) {
                 bool all = c.notify_access == "all";
                 return Verdict{all ? 1u : 0u, all ? "any child may report service state"
                                                   : "children cannot report service state"};
               }});
  v.push_back({"RemoveIPC=", "RemoveIPC", 100, 1, false, [](const Config& c) {
                 if (runsAsRoot(c)) return Verdict{std::nullopt, "runs as root, does not apply"};
                 return Verdict{c.remove_ipc ? 0u : 1u, c.remove_ipc
                                                            ? "IPC objects removed at stop"
                                                            : "may leave IPC objects behind"};
               }});
  v.push_back(flag("Delegate=", "Delegate", 100, &Config::delegate, "no delegated cgroup subtree",
                   "manages a delegated cgroup subtree", true));
  v.push_back(flag("RestrictRealtime=", "RestrictRealtime", 500, &Config::restrict_realtime,
                   "no realtime scheduling", "may take realtime scheduling"));
  v.push_back(flag("RestrictSUIDSGID=", "RestrictSUIDSGID", 1000, &Config::restrict_suid_sgid,
                   "cannot create setuid/setgid files", "may create setuid/setgid files"));
  v.push_back(
      nsCheck("RestrictNamespaces=~user", "RestrictNamespaces_user", 1500, CLONE_NEWUSER, "user"));
  v.push_back(
      nsCheck("RestrictNamespaces=~mnt", "RestrictNamespaces_mnt", 500, CLONE_NEWNS, "mount"));
  v.push_back(
      nsCheck("RestrictNamespaces=~ipc", "RestrictNamespaces_ipc", 500, CLONE_NEWIPC, "IPC"));
  v.push_back(
      nsCheck("RestrictNamespaces=~pid", "RestrictNamespaces_pid", 500, CLONE_NEWPID, "PID"));
  v.push_back(nsCheck("RestrictNamespaces=~cgroup", "RestrictNamespaces_cgroup", 500,
                      CLONE_NEWCGROUP, "cgroup"));
  v.push_back(
      nsCheck("RestrictNamespaces=~net", "RestrictNamespaces_net", 500, CLONE_NEWNET, "network"));
  v.push_back(
      nsCheck("RestrictNamespaces=~uts", "RestrictNamespaces_uts", 100, CLONE_NEWUTS, "UTS"));
  v.push_back(family("RestrictAddressFamilies=~AF_(INET|INET6)",
                     "RestrictAddressFamilies_AF_INET_INET6", 1500, FamilyKind::Inet, "IPv4/IPv6"));
  v.push_back(family("RestrictAddressFamilies=~AF_UNIX", "RestrictAddressFamilies_AF_UNIX", 25,
                     FamilyKind::Unix, "Unix"));
  v.push_back(family("RestrictAddressFamilies=~AF_NETLINK", "RestrictAddressFamilies_AF_NETLINK",
                     200, FamilyKind::Netlink, "netlink"));
  v.push_back(family("RestrictAddressFamilies=~AF_PACKET", "RestrictAddressFamilies_AF_PACKET",
                     1000, FamilyKind::Packet, "packet"));
  v.push_back(family("RestrictAddressFamilies=~…", "RestrictAddressFamilies_OTHER", 1250,
                     FamilyKind::Other, "other (exotic)"));
  v.push_back(
      {"SystemCallArchitectures=", "SystemCallArchitectures", 1000, 10, false, [](const Config& c) {
         if (c.syscall_archs.empty()) return Verdict{10u, "any system call ABI"};
         if (c.syscall_archs.size() == 1 && c.syscall_archs.contains("native"))
           return Verdict{0u, "native system call ABI only"};
         return Verdict{8u, "several system call ABIs"};
       }});
  for (auto [group, weight] :
       std::initializer_list<std::pair<std::string_view, uint64_t>>{{"@swap", 1000},
                                                                    {"@obsolete", 250},
                                                                    {"@clock", 1000},
                                                                    {"@cpu-emulation", 250},
                                                                    {"@debug", 1000},
                                                                    {"@mount", 1000},
                                                                    {"@module", 1000},
                                                                    {"@raw-io", 1000},
                                                                    {"@reboot", 1000},
                                                                    {"@privileged", 700},
                                                                    {"@resources", 700}})
    v.push_back(syscallGroup(group, weight));
  v.push_back({"IPAddressDeny=", "IPAddressDeny", 1000, 10, false, [](const Config& c) {
                 if (c.ip_custom_filters) return Verdict{0u, "custom IP filter programs"};
                 if (!c.ip_deny_all) return Verdict{10u, "no IP address allow list"};
                 if (c.ip_allow_other) return Verdict{5u, "IP allow list beyond localhost"};
                 if (c.ip_allow_localhost) return Verdict{2u, "IP allow list of localhost only"};
                 return Verdict{0u, "every IP address blocked"};
               }});
  v.push_back({"DeviceAllow=", "DeviceAllow", 1000, 10, false, [](const Config& c) {
                 if (c.device_policy == "strict" || c.device_policy == "closed")
                   return c.device_allow_non_empty ? Verdict{5u, "device list with some devices"}
                                                   : Verdict{0u, "minimal device list"};
                 return Verdict{10u, "no device access list"};
               }});
  v.push_back({"AmbientCapabilities=", "AmbientCapabilities", 500, 1, false, [](const Config& c) {
                 bool any = c.ambient_capabilities != 0;
                 return Verdict{any ? 1u : 0u,
                                any ? "receives ambient capabilities" : "no ambient capabilities"};
               }});
  return v;
}

const std::vector<Check>& checks() {
  static const std::vector<Check> kChecks = buildChecks();
  return kChecks;
}

uint64_t divUp(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

std::string tenths(uint64_t x) { return fmt::format("{}.{}", x / 10, x % 10); }

std::string bandOf(uint64_t exposure) {
  if (exposure >= 100) return "DANGEROUS";
  if (exposure >= 90) return "UNSAFE";
  if (exposure >= 75) return "EXPOSED";
  if (exposure >= 50) return "MEDIUM";
  if (exposure >= 10) return "OK";
  if (exposure >= 1) return "SAFE";
  return "PERFECT";
}

// burrow's own findings: secrets the unit names that others can read.
std::vector<std::string> ownFindings(const Config& c) {
  std::vector<std::string> out;
  auto who = [](mode_t m, mode_t other, mode_t group) {
    return (m & other) ? "everyone" : (m & group) ? "its group" : "";
  };
  // Secrets (ReadOnlyPaths=, LoadCredential=, EnvironmentFile=) only the service should read.
  for (const auto& p : c.secret_paths) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    const unsigned mode = st.st_mode & 07777;
    if (st.st_mode & 0044)
      out.push_back(fmt::format("secret file {} is readable by {} (mode {:04o}): chmod 600 it", p,
                                who(st.st_mode, 0004, 0040), mode));
    else if (st.st_mode & 0022)
      out.push_back(fmt::format("secret file {} is writable by {} (mode {:04o}): chmod 600 it", p,
                                who(st.st_mode, 0002, 0020), mode));
  }
  // The program itself: whoever can rewrite it runs code as the service.
  if (!c.exec_start.empty()) {
    std::string_view line = execLine(c.exec_start.front());
    std::string exe(line.substr(0, line.find_first_of(" \t")));
    struct stat st {};
    if (!exe.empty() && exe.front() == '/' && ::stat(exe.c_str(), &st) == 0 && (st.st_mode & 0022))
      out.push_back(
          fmt::format("program {} is writable by {} (mode {:04o}): they could replace "
                      "what runs as the service",
                      exe, who(st.st_mode, 0002, 0020), static_cast<unsigned>(st.st_mode & 07777)));
  }
  return out;
}

}  // namespace

Audit audit(const Config& c) {
  Audit a;
  a.unit_name = c.unit_name;
  uint64_t badness_sum = 0, weight_sum = 0;
  for (const auto& ch : checks()) {
    AuditRow row;
    row.name = std::string(ch.name);
    row.json_field = std::string(ch.json_field);
    row.weight = ch.weight;
    row.range = ch.range;
    if (ch.default_dependencies_only && !c.default_dependencies) {
      row.description = "early-boot unit (DefaultDependencies=no), does not apply";
    } else {
      Verdict v = ch.assess(c);
      row.badness = v.badness;
      row.description = std::move(v.what);
    }
    if (row.badness) {
      badness_sum += divUp(*row.badness * ch.weight, ch.range);
      weight_sum += ch.weight;
    }
    a.rows.push_back(std::move(row));
  }
  for (auto& row : a.rows)
    if (row.badness && *row.badness > 0)
      row.exposure_tenths = divUp(divUp(*row.badness * row.weight * 100, row.range), weight_sum);
  a.exposure = weight_sum ? divUp(badness_sum * 100, weight_sum) : 0;
  a.band = bandOf(a.exposure);
  a.findings = ownFindings(c);
  return a;
}

AuditBatch auditUnits(const std::vector<std::string>& names_or_paths) {
  AuditBatch batch;
  for (const auto& unit : names_or_paths) {
    auto c = loadConfig(unit);
    if (c)
      batch.audits.push_back(audit(*c));
    else
      batch.failures.push_back(c.error());
  }
  return batch;
}

std::string formatAudit(const Audit& a) {
  std::vector<const AuditRow*> rows;
  for (const auto& r : a.rows) rows.push_back(&r);
  std::stable_sort(rows.begin(), rows.end(), [](const AuditRow* x, const AuditRow* y) {
    return x->exposure_tenths.value_or(0) > y->exposure_tenths.value_or(0);
  });
  std::string out = fmt::format("  {:<62} {:<56} {}\n", "NAME", "DESCRIPTION", "EXPOSURE");
  for (const auto* r : rows) {
    const char* mark = !r->badness ? " " : (*r->badness == 0 ? "✓" : "✗");
    out += fmt::format("{} {:<62} {:<56} {}\n", mark, r->name, r->description,
                       r->exposure_tenths ? tenths(*r->exposure_tenths) : "");
  }
  for (const auto& f : a.findings) out += fmt::format("! burrow: {}\n", f);
  out += fmt::format("\n→ Overall exposure level for {}: {} {}\n", a.unit_name, tenths(a.exposure),
                     a.band);
  return out;
}

std::string formatAuditJson(const std::vector<Audit>& audits) {
  nlohmann::json all = nlohmann::json::array();
  for (const auto& a : audits) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& r : a.rows) {
      nlohmann::json row;
      if (!r.badness)
        row["set"] = nullptr;
      else
        row["set"] = *r.badness == 0;
      row["name"] = r.name;
      row["json_field"] = r.json_field;
      row["description"] = r.description;
      if (r.exposure_tenths)
        row["exposure"] = tenths(*r.exposure_tenths);
      else
        row["exposure"] = nullptr;
      rows.push_back(std::move(row));
    }
    all.push_back({{"unit", a.unit_name},
                   {"exposure", tenths(a.exposure)},
                   {"band", a.band},
                   {"rows", std::move(rows)},
                   {"findings", a.findings}});
  }
  return all.dump() + "\n";
}

}  // namespace sandbox
