// Private to src/stack/: the pieces up, down, ps and exec share.
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "config/config.h"
#include "netns/netns.h"
#include "sandbox/sandbox.h"
#include "stack/users.h"
#include "supervise/supervise.h"

namespace stack {

// Confines `cfg` to VPN namespace `ns` (burrow netns): its path, its resolver files, root
// refused when the namespace is highAssurance (unless `allow_root`), and BindsTo= through
// `watch`, which must outlive the run.
base::Result<void> confine(sandbox::Config& cfg, sandbox::Invocation& inv, const std::string& ns,
                           const std::string& state_dir, bool allow_root,
                           std::optional<netns::Watch>& watch);

// STATE/stack, and the files in it.
std::string stackDir(const std::string& state_dir);
std::string recordPath(const std::string& state_dir);  // state.json
std::string logPath(const std::string& state_dir, const std::string& service);
// tunnel.login: the token of tunnel NAME made on the login's edge (until `down --purge`).
std::string remoteTokenPath(const std::string& state_dir, const std::string& name);
// The file's absolute path, as the record names the stack (`path` as given when it has none).
std::string absolutePath(const std::string& path);
// An error when a stack on `state_dir` runs another file than `file` ("": any file will do).
base::Result<void> sameFile(const std::string& state_dir, const std::string& recorded,
                            const std::string& file);

// One process the supervisor runs: a service's monitor, or the connector.
struct Member {
  std::string name;
  const config::StackService* spec = nullptr;  // null for the connector; points into a Plan's stack
  sandbox::Config cfg;
  supervise::Restart restart = supervise::Restart::No;
  supervise::Backoff backoff{std::chrono::milliseconds(100)};
  std::string fingerprint;  // what the process is made of: a change restarts it
  // network
  std::string netns, host_link, host_address, address;
  // run
  pid_t pid = 0;
  int restarts = 0;
  int64_t started_unix = 0;
  std::chrono::steady_clock::time_point started;
  std::optional<std::chrono::steady_clock::time_point> restart_at;
  std::string state = "starting";
  std::string last_exit;
  bool stop_requested = false;  // told to stop: not restarted
  // bindsTo: the service it binds to that is not running (it is stopped, or held, until that
  // one runs again); "" otherwise. A process still running then gets SIGKILL at kill_at.
  std::string held_by;
  std::chrono::steady_clock::time_point kill_at;
  base::UniqueFd out;                  // read end of its stdout/stderr
  base::UniqueFd log;                  // its log file
  std::optional<UserRangeLock> range;  // users: pick, held while the service is the stack's

  // Takes over the run of `old` (the same process, under a new plan).
  void adopt(Member& old) {
    pid = old.pid;
    restarts = old.restarts;
    started_unix = old.started_unix;
    started = old.started;
    restart_at = old.restart_at;
    state = old.state;
    last_exit = old.last_exit;
    backoff = old.backoff;
    out = std::move(old.out);
    log = std::move(old.log);
    range = std::move(old.range);
    held_by = old.held_by;
    kill_at = old.kill_at;
    old.pid = 0;
  }
};

// What a file asks for, checked, with addresses given: nothing is made to get it.
struct Plan {
  std::shared_ptr<const config::Stack> stack;
  std::vector<Member> members;  // services in start order
  std::optional<Member> connector;
  nlohmann::json addresses;  // service -> index of its /30 in the pool, to write to addresses.json
};

// Reads and checks `stack` (each service's sandbox, the routes' [NAME]s, the token) and gives
// each service its address, the /30s kept from STATE/stack/addresses.json. Writes nothing.
// A service's `exec: [burrow, ...]` runs `burrow` (the default: the one on PATH, as any bare
// name), so `up` passes its own binary: the portal runs the same burrow as the stack.
base::Result<Plan> makePlan(std::shared_ptr<const config::Stack> stack,
                            const std::string& state_dir, const std::string& burrow = "burrow");
// `audit`'s score of a service as the stack runs it: its network and user namespace counted (a
// namespace of its own scores as PrivateNetwork=, a user range as PrivateUsers=), what the
// stack adds listed first among the findings.
sandbox::Audit auditMember(const Member& m);
// Its `n` most exposed checks, most first: "PrivateNetwork= Service has access to the host's
// network".
std::vector<std::string> worstChecks(const sandbox::Audit& a, size_t n);
// The connector's rules: the routes, each [NAME] given that service's address.
std::string connectorConfig(const config::Stack& st, const std::vector<Member>& members);

}  // namespace stack
