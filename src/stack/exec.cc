// `burrow exec`: one unit in its sandbox, confined to a VPN namespace when asked (see stack.h).
#include <fmt/format.h>

#include "netns/netns.h"
#include "sandbox/sandbox.h"
#include "stack/internal.h"
#include "stack/stack.h"
#include "stack/users.h"
#include "supervise/supervise.h"

namespace stack {

base::Result<void> confine(sandbox::Config& cfg, sandbox::Invocation& inv, const std::string& ns,
                           const std::string& state_dir, bool allow_root,
                           std::optional<netns::Watch>& watch) {
  ASSIGN_OR_RETURN(netns::Confinement conf, netns::confinement(ns, state_dir));
  if (conf.refuse_root && sandbox::runsAsRoot(cfg) && !allow_root)
    return base::Unexpected(
        base::Error{{},
                    fmt::format("{}: namespace {} is highAssurance and refuses services that "
                                "run as root: set User= or DynamicUser=yes, or pass "
                                "--allow-root",
                                cfg.source, ns)});
  cfg.network_namespace_path = conf.namespace_path;
  for (const auto& [src, dst] : conf.read_only_binds)
    cfg.binds.push_back({src, dst, /*read_only=*/true, /*optional=*/false, /*recursive=*/false});
  for (const auto& p : conf.hidden_paths) cfg.inaccessible_paths.push_back("-" + p);
  ASSIGN_OR_RETURN(watch, netns::Watch::open(ns, state_dir));
  inv.bound_fd = watch->fd();
  inv.bound = [&w = *watch]() -> base::Result<void> {
    auto r = w.check();
    if (!r) w.killMembers();
    return r;
  };
  return {};
}

base::Result<int> exec(const ExecRequest& r, bool* unit_error) {
  *unit_error = true;
  ASSIGN_OR_RETURN(sandbox::Config cfg, sandbox::loadConfig(r.unit));
  if (r.strict && !cfg.warnings.empty())
    return base::invalid("--strict: {} unknown directive(s), not starting", cfg.warnings.size());
  *unit_error = false;
  // Namespaces and mounts need root: the whole command runs again through sudo when allowed.
  RETURN_IF_ERROR(supervise::reexecAsRoot("run " + cfg.unit_name + " in its sandbox", r.argv));
  // --private-users=pick: a range of the unit's own, held until exec returns.
  std::optional<UserRangeLock> range;
  if (r.pick_users) {
    ASSIGN_OR_RETURN(range, pickUserRange(cfg.unit_name, stackDir(r.state_dir) + "/userns-locks"));
    cfg.user_range = {range->base(), range->count()};
  }
  cfg.ephemeral_root = r.ephemeral;
  sandbox::Invocation inv;
  inv.extra_args = r.args;
  inv.restart = r.restart;
  // --netns NAME, or NetworkNamespacePath= naming a namespace burrow made: confined, fail-closed.
  std::string ns = r.netns;
  const std::string prefix = netns::namespacePath("");
  if (ns.empty() && cfg.network_namespace_path.starts_with(prefix) &&
      netns::status(r.state_dir, cfg.network_namespace_path.substr(prefix.size())))
    ns = cfg.network_namespace_path.substr(prefix.size());
  std::optional<netns::Watch> watch;
  if (!ns.empty()) RETURN_IF_ERROR(confine(cfg, inv, ns, r.state_dir, r.allow_root, watch));
  return sandbox::exec(cfg, inv);
}

}  // namespace stack
