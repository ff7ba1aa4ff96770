// `burrow dashboard`: the stack's page (admin::Kind::Stack) over what `burrow ps --json` says,
// and with --admin-actions what `burrow restart` and `burrow up` do to a running stack.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "admin/admin.h"
#include "stack/stack.h"

namespace stack {
namespace {

class StackSource : public admin::Source {
 public:
  explicit StackSource(std::string state_dir) : state_dir_(std::move(state_dir)) {}
  std::string snapshotJson() override {
    auto st = status(state_dir_);
    if (st) return formatStatusJson(*st);
    // The record could not be read: the page says so rather than show an empty stack.
    return nlohmann::json{{"now", static_cast<int64_t>(::time(nullptr))},
                          {"error", st.error().message()}}
        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

 private:
  const std::string state_dir_;
};

// The page's buttons: restart a service, drain the connector, reload the stack. Each returns
// once the supervisor has the request; the page shows what follows.
class StackActions : public admin::Actions {
 public:
  explicit StackActions(std::string state_dir) : state_dir_(std::move(state_dir)) {}
  base::Result<std::string> run(const std::string& action, const std::string& target) override {
    if (action == "reload") return requestReload(state_dir_);
    if (action == "restart" || action == "drain") {
      if ((action == "drain") != (target == "connector"))
        return base::invalid("'{}' {}: restart is for a service, drain for the connector", action,
                             target);
      ASSIGN_OR_RETURN(pid_t pid, requestRestart(state_dir_, target));
      if (action == "drain")
        return fmt::format(
            "draining the connector (pid {}): it ends once its requests in "
            "flight do, and a new one starts",
            pid);
      return pid ? fmt::format("stopping {} (pid {}), then starting it again", target, pid)
                 : fmt::format("starting {}", target);
    }
    return base::invalid("no action '{}': restart, drain and reload are", action);
  }

 private:
  const std::string state_dir_;
};

}  // namespace

base::Result<int> dashboard(const Options& o) {
  ASSIGN_OR_RETURN(admin::Login login, admin::loadLogin(o.admin, o.admin_users, o.admin_access));
  StackSource source(o.state_dir);
  StackActions act(o.state_dir);
  return admin::serve(o.admin, admin::Kind::Stack, source, o.admin_actions ? &act : nullptr,
                      std::move(login));
}

}  // namespace stack
