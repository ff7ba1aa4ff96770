// admin: the dashboard of a running edge or stack: one HTML page, its data as JSON
// under /api/KIND, and the page kept live by server-sent events (/api/events), over a Source
// that the role exports. It renders what the Source's JSON says and knows nothing of how
// tunnels or stacks work. The page needs no JavaScript (without it, it refreshes itself every
// 5 s) and loads nothing from elsewhere: everything is served from the binary. A Handler is
// used on the executor of the connections it serves; stop() may be called from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "config/config.h"
#include "http/http.h"

namespace admin {

enum class Kind {
  Edge,   // /api/edge: tunnels, connectors, routes, certificates, traffic, recent errors
  Stack,  // /api/stack: services, routes, VPN namespaces, the graph (burrow ps --json)
};

// What a role shows. snapshotJson() is called on the admin connection's executor, once per
// page or API request and at most once a second per live page; it returns a JSON object whose
// fields docs/dashboard.md lists.
class Source {
 public:
  virtual ~Source() = default;
  virtual std::string snapshotJson() = 0;
};

// What a person may do from the page, with --admin-actions. The page offers each as a form that
// POSTs ACTION and TARGET to /api/actions with the page's CSRF token; the Handler checks the
// token and the request's origin before it calls run(), and logs what was done.
class Actions {
 public:
  virtual ~Actions() = default;
  // ACTION on TARGET, as the form sent them: what was done, in a line, or why not.
  virtual base::Result<std::string> run(const std::string& action, const std::string& target) = 0;
};

// What the page shows with --admin-actions: forms carrying `csrf`, and what was done from it.
struct Controls {
  std::string csrf;
  std::vector<std::string> done;  // newest first: "2026-12-05T19:30:00Z restart photos: …"
};

// Who may open a dashboard on an address that is not loopback: the middlewares of
// config::adminLogin (basic auth by --admin-users, burrow auth by --admin-access), run on every
// request before anything else. Null: nobody asked, so loopback only.
using Login = std::shared_ptr<const config::IngressRule>;
// The login of --admin-users FILE and --admin-access PORTAL for a dashboard on ADDR (--admin;
// "" = none); null when both are "". An error when a login is given without ADDR, or ADDR may
// not serve (checkAddress).
base::Result<Login> loadLogin(const std::string& addr, const std::string& users_file,
                              const std::string& portal);

// Whether ADDR (host:port) may serve the dashboard: any address with a login, else a loopback
// address only. The error says so and names the address and the flags that would allow it.
base::Result<void> checkAddress(const std::string& addr, bool login = false);

class Handler : public http::Handler {
 public:
  // At most `max_live` pages kept live at once; more get 503 for /api/events (and refresh).
  // `actions`: what the page may do (nullptr: read-only). `login`: asked first on every
  // request; without one, only requests for a loopback Host are answered (DNS rebinding).
  Handler(Kind kind, Source& source, Actions* actions = nullptr, Login login = nullptr,
          int max_live = 16);
  http::Task<void> handle(http::RequestHead& req, http::BodyReader& body,
                          http::ResponseWriter& out) override;
  // Ends the live pages within a second (the role is shutting down).
  void stop() { state_->stopping = true; }

 private:
  http::Task<void> events(http::ResponseWriter& out);
  http::Task<void> act(http::RequestHead& req, http::BodyReader& body, http::ResponseWriter& out);
  std::string main();

  // Shared with the live pages' coroutines: their frames can outlive the Handler when the
  // role tears its executors down, and they leave the count on their way out.
  struct State {
    std::atomic<int> live{0};
    std::atomic<bool> stopping{false};
  };
  const Kind kind_;
  Source& source_;
  Actions* const actions_;
  const Login login_;
  Controls controls_;  // with actions_ only; used on the connections' executor
  const int max_live_;
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// Serves the dashboard of `source` on ADDR (see checkAddress) in this thread until SIGTERM or
// SIGINT, then returns 0. Logs "dashboard ready address=…" once it listens.
base::Result<int> serve(const std::string& addr, Kind kind, Source& source,
                        Actions* actions = nullptr, Login login = nullptr);

// The page for one snapshot (a JSON object), and its <main> alone (what /api/events sends).
// Every value from the snapshot is HTML-escaped. `controls`: the forms of --admin-actions.
std::string renderPage(Kind kind, const std::string& snapshot_json,
                       const Controls* controls = nullptr);
std::string renderMain(Kind kind, const std::string& snapshot_json,
                       const Controls* controls = nullptr);

}  // namespace admin
