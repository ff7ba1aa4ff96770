// `burrow audit -f burrow.yaml` and `burrow tunnel ingress rule URL -f burrow.yaml`: the stack
// as it will run, without running it (see stack.h).
#include <fmt/format.h>

#include <algorithm>

#include "config/config.h"
#include "sandbox/sandbox.h"
#include "stack/internal.h"
#include "stack/stack.h"

namespace stack {

sandbox::Audit auditMember(const Member& m) {
  sandbox::Config c = m.cfg;
  // What the stack adds to the unit's own sandbox counts: a network namespace of its own is
  // not the host's network, and a user range is a user namespace.
  std::string network;
  switch (m.spec->network) {
    case config::StackNetwork::Host:
      break;
    case config::StackNetwork::None:
      c.private_network = true;
      network = "network: none (a namespace with loopback only)";
      break;
    case config::StackNetwork::Private:
      c.private_network = true;
      network = fmt::format(
          "network: private (a namespace of its own; it reaches {} and beyond the host "
          "through NAT, never the host's listeners)",
          m.spec->connects.empty() ? "no other service"
                                   : fmt::format("{}", fmt::join(m.spec->connects, ", ")));
      break;
    case config::StackNetwork::Vpn:
      c.private_network = true;
      network = fmt::format("network: vpn:{} (only through its WireGuard tunnel, fail-closed)",
                            m.spec->vpn);
      break;
  }
  if (m.spec->pick_users) c.private_users = true;
  sandbox::Audit a = sandbox::audit(c);
  a.unit_name = m.name;
  if (!network.empty()) a.findings.insert(a.findings.begin(), "stack: " + network);
  if (m.spec->pick_users)
    a.findings.insert(a.findings.begin(),
                      "stack: users: pick (root inside is an unprivileged id outside)");
  if (m.spec->ephemeral)
    a.findings.insert(a.findings.begin(),
                      "stack: ephemeral (its writes to / vanish when it stops)");
  return a;
}

std::vector<std::string> worstChecks(const sandbox::Audit& a, size_t n) {
  std::vector<const sandbox::AuditRow*> rows;
  for (const auto& r : a.rows)
    if (r.exposure_tenths.value_or(0) > 0) rows.push_back(&r);
  std::stable_sort(rows.begin(), rows.end(), [](const auto* x, const auto* y) {
    return *x->exposure_tenths > *y->exposure_tenths;
  });
  std::vector<std::string> out;
  for (size_t i = 0; i < rows.size() && i < n; ++i)
    out.push_back(fmt::format("{} {}", rows[i]->name, rows[i]->description));
  return out;
}

namespace {

base::Result<std::vector<sandbox::Audit>> auditPlan(const std::string& file,
                                                    const std::string& state_dir) {
  ASSIGN_OR_RETURN(config::Stack st, config::loadStack(file));
  ASSIGN_OR_RETURN(Plan plan,
                   makePlan(std::make_shared<const config::Stack>(std::move(st)), state_dir));
  std::vector<sandbox::Audit> out;
  for (const auto& m : plan.members) {
    sandbox::Audit a = auditMember(m);
    a.unit_name = fmt::format("{} ({})", m.name, plan.stack->source);
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace

sandbox::AuditBatch audit(const std::string& file, const std::string& state_dir) {
  auto audits = auditPlan(file, state_dir);
  if (!audits) return {{}, {audits.error()}};
  return {std::move(*audits), {}};
}

base::Result<std::string> describeRoute(const std::string& file, const std::string& state_dir,
                                        const std::string& url) {
  ASSIGN_OR_RETURN(config::Stack st, config::loadStack(file));
  auto shared = std::make_shared<const config::Stack>(std::move(st));
  ASSIGN_OR_RETURN(Plan plan, makePlan(shared, state_dir));
  // A vpn:NAME service has an address once its namespace is up.
  for (auto& m : plan.members)
    if (m.spec->network == config::StackNetwork::Vpn)
      if (auto all = netns::status(state_dir, m.spec->vpn); all && !all->empty())
        m.address = all->front().namespace_address;
  if (shared->routes.empty()) return base::invalid("{}: no routes", shared->source);
  config::TunnelConfig cfg;
  cfg.ingress = shared->routes;
  cfg.middlewares = shared->middlewares;
  ASSIGN_OR_RETURN(std::string out, config::describeMatch(cfg, url));
  // Which rule: describeMatch names it "Matched rule #N".
  const size_t n = std::stoul(out.substr(out.find('#') + 1)) - 1;
  const config::Service& svc = cfg.ingress[n].service;
  if (svc.name.empty()) return out;
  auto m = std::find_if(plan.members.begin(), plan.members.end(),
                        [&](const Member& x) { return x.name == svc.name; });
  if (m == plan.members.end()) return out;
  return out + fmt::format("\tstack service: {} (network: {}), reached at {}\n", m->name,
                           m->spec->network == config::StackNetwork::Vpn    ? "vpn:" + m->spec->vpn
                           : m->spec->network == config::StackNetwork::Host ? "host"
                                                                            : "private",
                           m->address.empty() ? "an address given when the stack is up"
                                              : fmt::format("{}:{}", m->address, svc.port));
}

}  // namespace stack
