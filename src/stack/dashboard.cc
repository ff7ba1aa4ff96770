// `burrow dashboard`: the stack's page (admin::Kind::Stack) over what `burrow ps --json` says.
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

}  // namespace

base::Result<int> dashboard(const std::string& state_dir, const std::string& addr) {
  StackSource source(state_dir);
  return admin::serve(addr, admin::Kind::Stack, source);
}

}  // namespace stack
