// stack: burrow.yaml as a running system, and the one place that calls netns, sandbox,
// supervise and tunnel together. `up` runs a supervisor process that owns everything the file
// asks for (VPN namespaces, private networks and the host's filter between them, sandboxed
// services, the connector) and records it in <state-dir>/stack/, so that `ps`, `logs` and
// `down` find a running stack from the state directory alone, and `down` removes what a
// supervisor that was killed left behind. Not thread-safe: one call at a time per process.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "sandbox/sandbox.h"

namespace stack {

struct Options {
  // The stack file. "": ./burrow.yaml for `up`; for `down`, whatever stack runs on state_dir.
  std::string file;
  std::string state_dir;       // the stack keeps its records in STATE/stack/
  std::string burrow;          // this binary's path, to run the connector
  bool detach = false;         // run the supervisor in the background once everything is up
  std::string log_level;       // passed to the connector; "" for its default
  bool strict = false;         // up: unknown keys and unit directives are errors, not warnings
  std::string admin;           // up: the dashboard's address, served by a child; "": none
  bool admin_actions = false;  // up --admin-actions: its page may restart, reload and drain
  // --admin-users FILE (basic auth, htpasswd) and --admin-access URL (burrow auth): the login
  // that lets --admin be an address other than loopback (admin::loadLogin).
  std::string admin_users;
  std::string admin_access;
  // down: also delete what `up` made on the edge with tunnel.login (the tunnel, its routes and
  // its token).
  bool purge = false;
};

// Validates the whole file first (nothing is made when any of it is wrong), then brings up, in
// order: VPN namespaces, private networks and the host's filter, the services (each after
// those in its `after:`), the connector with the routes, each `[NAME]` given that service's
// address. Prints one progress line per step on stderr, then the table of `ps` on stdout.
// Without `detach`, supervises in the foreground until SIGTERM or SIGINT, then takes it all
// down; returns 0 then. With `detach`, returns once the stack is up (or failed: then nothing
// is left). A step that fails takes back everything made before it.
base::Result<int> up(const Options& o);

// Stops the stack's supervisor (SIGTERM; it stops the connector, then the services in reverse
// order) and waits for it; when no supervisor runs, removes what the record says is left.
// Leaves no namespace, link, nftables table, process or record behind. With `purge`, then
// deletes the tunnel tunnel.login made on the edge (the file is read before anything stops).
base::Result<void> down(const Options& o);

struct ServiceState {
  std::string name;
  std::string network;  // private | host | none | vpn:NAME | - (the connector)
  std::string address;  // its address for routes; "" when it has none
  std::string state;    // starting | running | restarting | failed | stopped
  pid_t pid = 0;
  int restarts = 0;
  int64_t started_unix = 0;  // of the current run; 0 when not running
  std::string last_exit;     // "exit code 3", "signal KILL"; "" before any exit
  uint32_t user_base = 0;    // users: pick: uid 0 inside is this id outside; 0 without
  // Services: `audit`'s exposure of its sandbox as it runs (0.0 .. 10.0; -1 for the connector
  // and the dashboard), its band, and the worst checks ("PrivateNetwork=: ...", most exposed
  // first, at most 3) after what the stack adds.
  double exposure = -1;
  std::string band;
  std::vector<std::string> worst;
  std::vector<std::string> log;  // the last lines of its log (at most 5), oldest first
};

struct Status {
  bool running = false;  // a supervisor holds the stack
  pid_t supervisor = 0;
  int generation = 0;  // the reloads the supervisor has done (a restart request names it)
  std::string file;
  std::vector<ServiceState> services;     // in start order
  std::optional<ServiceState> connector;  // when the file has a tunnel and routes
  std::optional<ServiceState> dashboard;  // up --admin: the page's server
  std::string admin;                      // up --admin: its address
  bool admin_actions = false;             // up --admin-actions
  std::string admin_users;                // up --admin-users: the file, absolute
  std::string admin_access;               // up --admin-access: the portal's address
  struct Namespace {
    std::string name;
    std::string state;           // netns::stateOf: up, up (no handshake yet), degraded, down
    int64_t last_handshake = 0;  // seconds since the epoch; 0: never
    uint64_t rx_bytes = 0, tx_bytes = 0;  // through its WireGuard tunnel
  };
  std::vector<Namespace> namespaces;  // VPN namespaces the stack brought up
  struct Route {
    std::string hostname, path, rule;  // as written ("" when not)
    std::string service;               // the stack's service it reaches; "" for another origin
    std::string target;                // where the connector sends it ("http://10.77.0.2:80")
    std::vector<std::string> middlewares;
  };
  std::vector<Route> routes;  // in the connector's order
};
// What the record in STATE/stack/ says, checked against the running system. With `file`, an
// error when the stack there runs another file.
base::Result<Status> status(const std::string& state_dir, const std::string& file = "");
// A table: NAME STATE PID ADDRESS NETWORK RESTARTS UPTIME, one row per service and one each for
// the connector and the dashboard; or "no stack is up" when there is none.
std::string formatStatus(const Status& s);
// `burrow ps --json` and the dashboard's /api/stack: every field of Status, and `now`.
std::string formatStatusJson(const Status& s);

// `burrow dashboard --admin ADDR` (and `up --admin ADDR`, which runs it): the stack's page,
// from `status(o.state_dir)` at each request, until SIGTERM or SIGINT. ADDR (o.admin) must be
// loopback unless o.admin_users or o.admin_access give a login. With o.admin_actions, the page
// restarts services, reloads the stack and drains the connector (requestRestart,
// requestReload).
base::Result<int> dashboard(const Options& o);

// Asks the supervisor to stop service NAME (SIGTERM, its TimeoutStopSec=, then SIGKILL) and
// start it again, whatever its Restart=; "connector" drains the connector (it finishes the
// requests in flight) and starts a new one. Returns its pid before (0: it was not running)
// once the supervisor has the request. An error names the services there are.
base::Result<pid_t> requestRestart(const std::string& state_dir, const std::string& name);
// `burrow restart NAME`: requestRestart, then waits until it runs again (progress on stderr),
// or says why it did not.
base::Result<std::string> restart(const std::string& state_dir, const std::string& name);
// The dashboard's "reload the stack": the supervisor applies its file again, as `burrow up`
// does; returns at once (what the reload did shows in the record and `burrow up`'s output).
base::Result<std::string> requestReload(const std::string& state_dir);

// Writes the service's log (stdout and stderr, the rotated part first) to stdout; with
// `follow`, then waits for more until interrupted. "connector" names the connector's.
base::Result<void> logs(const std::string& state_dir, const std::string& file,
                        const std::string& service, bool follow);

// `burrow audit -f FILE`: each service scored as it will run, its network and user namespace
// counted (a namespace of its own scores as PrivateNetwork=, a user range as PrivateUsers=),
// what the stack adds listed first among the findings. Makes nothing. A file that cannot be
// read or planned is the batch's one failure.
sandbox::AuditBatch audit(const std::string& file, const std::string& state_dir);

// `burrow tunnel ingress rule URL -f FILE`: the route URL meets, and the service and address
// it reaches (the addresses `up` gives, or gave).
base::Result<std::string> describeRoute(const std::string& file, const std::string& state_dir,
                                        const std::string& url);

// `burrow exec UNIT`: the unit in its sandbox, in the foreground. With `netns` (or a unit whose
// NetworkNamespacePath= names a namespace burrow made), confined to that VPN namespace,
// fail-closed: refused when the namespace or its tunnel is not up, killed when either goes.
struct ExecRequest {
  std::string unit;
  std::vector<std::string> args;
  bool restart = true;
  bool strict = false;
  bool allow_root = false;
  std::string netns;
  std::string state_dir;
  // The command line as given, run again through sudo when burrow is not root (see
  // supervise::reexecAsRoot), once the unit has been read.
  std::vector<std::string> argv;
  // nspawn's --private-users=pick: a 65536-id range of the unit's own, picked and locked under
  // STATE/stack/userns-locks while the service runs.
  bool pick_users = false;
  bool ephemeral = false;  // nspawn's --ephemeral: the root's writes go to a tmpfs, discarded
};
// The service's exit status, or an error; `*unit_error` tells whether the error is the unit's
// own (it does not parse, or has unknown directives under `strict`) rather than the run's.
base::Result<int> exec(const ExecRequest& r, bool* unit_error);

}  // namespace stack
