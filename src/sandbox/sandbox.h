// sandbox: systemd's exec sandbox without systemd. This header holds the exec model (Config:
// what a unit's [Service] section says, parsed with systemd's value syntax and meaning), the
// system-call groups of systemd 252, and `audit`, which scores a Config the way
// `systemd-analyze security` does. Configs are immutable values, safe to share read-only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "config/config.h"
#include "supervise/supervise.h"

namespace sandbox {

// One unit's directives. Unset options keep systemd's defaults for a system service.
struct Config {
  std::string unit_name;  // "cloudflared.service"
  std::string source;     // the unit file's path, for messages

  // [Unit]
  bool default_dependencies = true;

  // [Service]: identity and process
  std::string type = "simple";
  std::vector<std::string> exec_start;  // each ExecStart= line as written
  // The other command lines, as written (prefixes included), in file order; an empty
  // assignment resets the list. See exec() for when each runs.
  std::vector<std::string> exec_start_pre, exec_start_post, exec_reload, exec_stop, exec_stop_post;
  std::string user;  // empty: root (or the unit name with DynamicUser)
  std::string group;
  bool dynamic_user = false;
  std::vector<std::string> supplementary_groups;
  mode_t umask = 0022;
  std::string keyring_mode = "private";  // inherit | private | shared
  std::string notify_access;             // none | main | exec | all; empty: by Type
  bool no_new_privileges = false;
  bool lock_personality = false;
  bool restrict_realtime = false;
  bool restrict_suid_sgid = false;
  bool remove_ipc = false;
  bool private_users = false;
  // A user namespace of the service's own in which ids 0..count-1 are base..base+count-1 of the
  // host (systemd-nspawn's --private-users=BASE:COUNT; count 0: none), so that root inside is
  // an unprivileged id outside. User=, Group= and SupplementaryGroups= name ids inside it (below
  // `count`); StateDirectory= and friends are owned by their ids outside; BindPaths= and
  // BindReadOnlyPaths= are id-mapped mounts (a file owned by uid 0 on the host is root's
  // inside, and back), an error where the kernel or the file system cannot id-map them. The
  // service's other namespaces belong to the host's user namespace, as with PrivateUsers=
  // (which a range supersedes): root inside cannot mount, configure its network or bind a
  // port below net.ipv4.ip_unprivileged_port_start.
  struct UserRange {
    uint32_t base = 0, count = 0;
  };
  UserRange user_range;
  // The service's root is an overlay over the host's /, its changes kept on a tmpfs of the
  // service's own and gone when it ends (systemd-nspawn's --ephemeral). /proc, /dev, /sys and
  // /run are the host's, bound in; every other mount of the host (a /home or /boot of its own
  // …) is bound in read-only. The other directives apply on top, inside that root: BindPaths=
  // and StateDirectory= and friends still reach the host, ReadWritePaths= open paths of the
  // ephemeral view (their writes vanish too). With a user range the overlay is not id-mapped:
  // the host's files keep their owners, so root inside writes only where anyone may. Not with
  // RootDirectory= or RootImage=.
  bool ephemeral_root = false;
  bool private_pids = false;  // systemd 257's PrivatePIDs=
  bool delegate = false;

  // filesystem
  std::string protect_system = "no";  // no | yes | full | strict
  std::string protect_home = "no";    // no | yes | read-only | tmpfs
  bool private_tmp = false;
  bool private_mounts = false;
  bool private_devices = false;
  std::string proc_subset = "all";       // all | pid
  std::string protect_proc = "default";  // default | noaccess | invisible | ptraceable
  std::string root_directory;
  std::string root_image;

  // kernel
  bool protect_kernel_tunables = false;
  bool protect_kernel_modules = false;
  bool protect_kernel_logs = false;
  bool protect_control_groups = false;
  bool protect_hostname = false;
  bool protect_clock = false;

  // capabilities: bit N = capability N (see capabilities(7))
  uint64_t capability_bounding_set = ~uint64_t{0};
  uint64_t ambient_capabilities = 0;

  // network
  bool private_network = false;
  bool address_families_allow_list = false;  // with an empty set: no restriction
  std::set<int> address_families;            // AF_* numbers
  bool ip_deny_all = false;                  // IPAddressDeny= covers 0.0.0.0/0 and ::/0
  bool ip_allow_localhost = false;
  bool ip_allow_other = false;
  bool ip_custom_filters = false;      // IPIngressFilterPath= / IPEgressFilterPath=
  std::string device_policy = "auto";  // auto | closed | strict
  bool device_allow_non_empty = false;

  // system calls
  bool syscall_allow_list = false;           // with an empty set: no filter
  std::set<std::string> syscall_filter;      // names resolvable on this machine
  std::map<std::string, int> syscall_errno;  // deny list: `name:ERRNO` answers instead of killing
  int syscall_error_number = 0;              // SystemCallErrorNumber=; 0: kill the process
  std::set<std::string> syscall_archs;       // "native", "x86-64", ...
  bool memory_deny_write_execute = false;
  uint64_t restrict_namespaces = ~uint64_t{0};  // CLONE_NEW* flags allowed; all by default

  // process environment and files
  std::vector<std::string> environment;        // Environment= lines, in order
  std::vector<std::string> environment_files;  // EnvironmentFile= ('-' prefix: optional)
  std::string working_directory;
  std::vector<std::string> read_write_paths, read_only_paths, inaccessible_paths;
  std::vector<std::string> state_directories, runtime_directories, cache_directories,
      logs_directories;
  std::string network_namespace_path;
  struct Bind {
    std::string source, target;
    bool read_only = false, optional = false, recursive = true;
  };
  std::vector<Bind> binds;  // BindPaths= / BindReadOnlyPaths=
  struct Tmpfs {
    std::string path, options;  // "ro" among the options makes it read-only
  };
  std::vector<Tmpfs> temporary_file_systems;  // TemporaryFileSystem=
  // Limit*= as setrlimit(2) resources: {resource, soft, hard}; RLIM_INFINITY for infinity.
  struct Limit {
    int resource;
    uint64_t soft, hard;
  };
  std::vector<Limit> limits;
  supervise::Restart restart = supervise::Restart::No;
  std::chrono::milliseconds restart_sec{100};
  // TimeoutStopSec= (or TimeoutSec=): how long a service told to stop has before SIGKILL;
  // zero for infinity.
  std::chrono::milliseconds timeout_stop{90'000};

  // Files named by the unit that may hold secrets (ReadOnlyPaths=, LoadCredential= …).
  std::vector<std::string> secret_paths;

  // "FILE:LINE: ..." for each directive systemd 252 does not know either (already warned
  // about): `exec --strict` refuses to run the unit then.
  std::vector<std::string> warnings;
  // "FILE:LINE: Directive=" for each directive systemd knows and burrow's exec does not apply
  // (dependencies, conditions, resource control, logging …), and "FILE:LINE: Type=forking" for
  // a type that exec runs as Type=simple; exec says so when it starts.
  std::vector<std::string> not_applied;
};

// Builds the Config of `unit` ([Unit] and [Service] sections). A value systemd would not
// accept is an error naming file, line, directive and what was expected.
base::Result<Config> configFromUnit(const config::UnitFile& unit);
// The Config of a unit named as `systemctl` names it ("ssh.service") or by its file's path,
// drop-ins merged (see config::loadUnit).
base::Result<Config> loadConfig(std::string_view name_or_path);
// Whether the service runs as root: User=root or 0, or neither User= nor DynamicUser= set.
bool runsAsRoot(const Config& c);

// ---- system-call groups (systemd 252's, see `systemd-analyze syscall-filter`) ----

struct SyscallGroup {
  std::string_view name;     // "@clock"
  std::string_view members;  // space-separated names and nested "@groups"
};
const std::vector<SyscallGroup>& syscallGroups();
const SyscallGroup* findSyscallGroup(std::string_view name);
// True when libseccomp knows the name on this machine's native architecture.
bool syscallKnown(std::string_view name);
// Calls `fn` for each system call of `group`, nested groups expanded, that this machine's
// architecture knows. Stops, and returns false, as soon as `fn` returns false.
bool forEachSyscall(std::string_view group, const std::function<bool(std::string_view)>& fn);

// ---- audit ----

struct AuditRow {
  std::string name;         // "PrivateNetwork=", as systemd-analyze names the check
  std::string json_field;   // "PrivateNetwork"
  std::string description;  // what holds for this unit
  uint64_t weight = 0;
  uint64_t range = 1;
  std::optional<uint64_t> badness;  // nullopt: does not apply to this unit
  // systemd-analyze's per-row exposure in tenths ("0.2" = 2); nullopt when nothing is exposed.
  std::optional<uint64_t> exposure_tenths;
};

struct Audit {
  std::string unit_name;
  std::vector<AuditRow> rows;         // systemd-analyze's order of checks
  uint64_t exposure = 0;              // overall, in tenths: 0..100
  std::string band;                   // PERFECT SAFE OK MEDIUM EXPOSED UNSAFE DANGEROUS
  std::vector<std::string> findings;  // burrow's own, beyond systemd's checks
};

Audit audit(const Config& c);

// `burrow audit UNIT...`: every unit that can be read is scored; each one that cannot (not
// found, masked, unreadable, malformed) is an error naming it, in the order given.
struct AuditBatch {
  std::vector<Audit> audits;
  std::vector<base::Error> failures;
};
AuditBatch auditUnits(const std::vector<std::string>& names_or_paths);
// The text report: one line per row (✓/✗, name, description, exposure), sorted as
// systemd-analyze sorts them, then burrow's findings, then
// "→ Overall exposure level for NAME: N.N BAND".
std::string formatAudit(const Audit& a);
// JSON: an array with one object per unit: {"unit", "exposure", "band", "rows": [...
// {"set", "name", "json_field", "description", "exposure"} ...], "findings": [...]}.
std::string formatAuditJson(const std::vector<Audit>& audits);

// ---- exec ----

// One run of a unit, beyond what its file says.
struct Invocation {
  std::vector<std::string> extra_args;  // appended to ExecStart's arguments
  bool restart = true;                  // false: --no-restart
  // BindsTo=: when set, the service starts only while `bound` returns no error, and is killed
  // (its whole process group, SIGKILL) as soon as it returns one; exec then fails with that
  // error and does not restart. `bound` is asked whenever `bound_fd` turns readable, and
  // every 250 ms in any case.
  std::function<base::Result<void>()> bound;
  int bound_fd = -1;
};

// Runs the unit's ExecStart in the foreground with every directive applied, as root (the
// namespaces and mounts need it). Forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and
// SIGUSR2, and kills the service with SIGKILL when it outlives TimeoutStopSec= after a stop
// signal; honours Restart=/RestartSec= unless inv.restart is false. Returns the service's
// exit status (128+N when signal N ended it). Problems found before the start (no such
// user, missing binary, missing ReadWritePaths=) and a step that fails in the child are
// errors naming the step; nothing is left running or mounted then.
//
// Type=oneshot runs each ExecStart= in turn, to its end, before ExecStartPost=; any other
// Type= runs as Type=simple (burrow has no readiness protocol yet).
// The other command lines run in systemd's order, each to its end, in the same sandbox:
// ExecStartPre= in turn (one that fails aborts the start), ExecStart=, ExecStartPost= in turn
// (one that fails stops the service); ExecReload= on SIGHUP instead of forwarding it; on a
// stop signal ExecStop= instead of SIGTERM (and once the service has ended on its own too,
// when it had started), then ExecStopPost= always, even when the start failed. $MAINPID is
// set for ExecStartPost=, ExecReload= and ExecStop= while the main process lives;
// $SERVICE_RESULT, $EXIT_CODE and $EXIT_STATUS for ExecStop= and ExecStopPost=. Prefixes, as in
// systemd.service(5): "-" a failure is ignored, "@" the second word is argv[0], "+" runs
// without any sandbox, as root, "!" (and "!!") without the User=/Group= change only.
base::Result<int> exec(const Config& c, const Invocation& inv);

}  // namespace sandbox
