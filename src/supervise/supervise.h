// supervise: burrow as a service of the init system that runs here (systemd or OpenRC), and
// the one place where burrow gains root for a step (runPrivileged). Nothing else in burrow
// looks at the effective uid. Every install is recorded in /var/lib/burrow/services/NAME with
// what it made, so that the name alone finds it and uninstall removes exactly that.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace supervise {

// ---- privileged steps ----

struct Step {
  std::string what;               // "create the service user burrow-tunnel"
  std::vector<std::string> argv;  // the command to run as root
  std::string input;              // its stdin
};

// Runs the step directly when burrow runs as root, through `sudo -n` when it does not, and
// otherwise fails naming the step, the command and why it could not be elevated. Returns the
// command's stdout.
base::Result<std::string> runPrivileged(const Step& step);

// For commands that need root as a whole (`netns up`): returns at once when burrow runs as
// root; otherwise runs `argv` (the command line burrow was given) again through `sudo -n`,
// replacing this process, or fails naming the step when sudo would refuse it.
base::Result<void> reexecAsRoot(const std::string& what, const std::vector<std::string>& argv);

// The edge's default --state-dir: /var/lib/burrow when burrow runs as root (a system
// install), otherwise $XDG_STATE_HOME/burrow, or ~/.local/state/burrow when that is unset.
// Commands that act on the whole system (netns, exec, service) default to /var/lib/burrow.
std::string defaultStateDir();

// ---- one restart policy, for everything that runs a process ----

// Restart= of systemd.service(5).
enum class Restart {
  No,          // never
  OnSuccess,   // after a clean exit (code 0, or SIGHUP, SIGINT, SIGTERM, SIGPIPE)
  OnFailure,   // after an unclean exit code or an unclean signal
  OnAbnormal,  // after an unclean signal (burrow has no watchdog or timeouts)
  OnAbort,     // after an unclean signal
  OnWatchdog,  // never: burrow has no watchdog
  Always,      // whatever the exit
};
base::Result<Restart> parseRestart(std::string_view text);

// How a process ended.
struct Exit {
  bool clean = false;  // exit code 0
  int signal = 0;      // the signal that ended it; 0 when it exited
  static Exit fromWaitStatus(int status);
  // From a shell-style code: 128+N for signal N.
  static Exit fromCode(int code);
};
bool shouldRestart(Restart policy, const Exit& e);

// RestartSec=, doubled after each run shorter than kSettled, up to kMax (and never below
// RestartSec=); a run that lasted kSettled starts again from RestartSec=.
class Backoff {
 public:
  static constexpr std::chrono::milliseconds kSettled{60'000}, kMax{60'000};
  explicit Backoff(std::chrono::milliseconds base) : base_(base) {}
  // The delay before the next start, given how long the run that just ended lasted.
  std::chrono::milliseconds next(std::chrono::milliseconds ran_for);

 private:
  std::chrono::milliseconds base_;
  int failures_ = 0;  // runs in a row shorter than kSettled
};

// ---- the hardening every burrow service runs with ----

struct Hardening {
  bool bind_low_ports = false;  // keep CAP_NET_BIND_SERVICE (and no user namespace)
  bool private_users = true;
};
// The [Service] directives, one per line: seed 001's profile (systemd unit files and the
// stack's connector alike).
std::string hardening(const Hardening& h);

// ---- init systems ----

enum class Init { Auto, Systemd, OpenRC, None };
base::Result<Init> parseInit(std::string_view text);  // auto | systemd | openrc | none
const char* initName(Init init);
// The init `auto` picks: what runs as PID 1 (and has its tools here), with the reason.
std::pair<Init, std::string> detectInit();

// ---- services ----

struct Service {
  std::string name;       // "": burrow-tunnel, burrow-edge or burrow-stack, after the command
  std::string user;       // the service identity, made if missing; "": its name (root for up)
  std::string state_dir;  // owned by `user`, 0700; empty: /var/lib/burrow/NAME
  // burrow subcommand and flags: {"tunnel", "run", ...}, {"edge", ...} or {"up", "-f", FILE}
  // (the stack: run as root, outside a sandbox, since it sandboxes each of its services).
  std::vector<std::string> command;
  std::string burrow;  // absolute path of the burrow binary
};

// The files install writes, exposed for tests. `created` lists what install made besides the
// file (e.g. "user=burrow-tunnel"), recorded in its header for uninstall.
std::string systemdUnit(const Service& s, const std::vector<std::string>& created);
std::string openrcScript(const Service& s, const std::vector<std::string>& created);
// Where install records a service, whatever its init: /var/lib/burrow/services/NAME, root's
// own (0644), so that the name alone finds it. For --init none it is the service's only file.
std::string recordPath(const std::string& name);
// Where install writes the service's file for `init`.
std::string unitPath(Init init, const std::string& name);

// Writes the service's files (idempotent: a reinstall rewrites them), makes its user and state
// directory when missing, copies the token of a connector into the state directory (0600, the
// service user's), and starts the service when `init` is what runs here; otherwise says that
// it was not started, and why. A service that does not stay up for a short settle time is an
// error carrying its last log lines; a first install is then taken back. Returns the lines to
// print.
base::Result<std::vector<std::string>> install(const Service& s, Init init);
// Stops and removes what install recorded for `name`: its file, the user it made, and the
// state directory with all it holds, unless `keep_state` (then a directory whose user is
// removed is handed to root, so that no file keeps a freed uid).
base::Result<std::vector<std::string>> uninstall(const std::string& name, bool keep_state);
// `status`, `restart` or `reload` through the init that runs the service. The status of a
// service burrow supervises says whether it runs, restarts or keeps failing, how often it was
// restarted, how it last ended, and the last lines of its log.
base::Result<std::vector<std::string>> control(const std::string& name, const std::string& action);

// --init none: burrow's own supervisor (`burrow service supervise`), run detached as the
// service user. It runs `burrow COMMAND` with its output in <state-dir>/NAME.log (rotated at
// 10 MiB to NAME.log.1), keeps the service's pid in <state-dir>/NAME.pid and its own in
// NAME.supervisor.pid, what `status` reports in NAME.status (runs, failures in a row, the last
// exit), and restarts the service when it fails (Restart=on-failure: an exit status other than
// 0 or a signal other than SIGHUP, SIGINT, SIGTERM and SIGPIPE), after a Backoff from 1 s: 1 s
// doubling to 60 s, back to 1 s after a minute up. SIGTERM stops both; SIGHUP is passed on; SIGUSR1
// restarts the service. Returns the exit status for the process.
int runSupervisor(const std::string& name, const std::string& state_dir,
                  const std::vector<std::string>& command, const std::string& burrow);

}  // namespace supervise
