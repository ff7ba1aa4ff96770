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

#include "base/result.h"
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

// Whether ADDR (host:port) may serve the dashboard: a loopback address only, since the
// dashboard has no login of its own. The error says so and names the address.
base::Result<void> checkAddress(const std::string& addr);

class Handler : public http::Handler {
 public:
  // At most `max_live` pages kept live at once; more get 503 for /api/events (and refresh).
  Handler(Kind kind, Source& source, int max_live = 16);
  http::Task<void> handle(http::RequestHead& req, http::BodyReader& body,
                          http::ResponseWriter& out) override;
  // Ends the live pages within a second (the role is shutting down).
  void stop() { state_->stopping = true; }

 private:
  http::Task<void> events(http::ResponseWriter& out);

  // Shared with the live pages' coroutines: their frames can outlive the Handler when the
  // role tears its executors down, and they leave the count on their way out.
  struct State {
    std::atomic<int> live{0};
    std::atomic<bool> stopping{false};
  };
  const Kind kind_;
  Source& source_;
  const int max_live_;
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// Serves the dashboard of `source` on ADDR (loopback only, see checkAddress) in this thread
// until SIGTERM or SIGINT, then returns 0. Logs "dashboard ready address=…" once it listens.
base::Result<int> serve(const std::string& addr, Kind kind, Source& source);

// The page for one snapshot (a JSON object), and its <main> alone (what /api/events sends).
// Every value from the snapshot is HTML-escaped.
std::string renderPage(Kind kind, const std::string& snapshot_json);
std::string renderMain(Kind kind, const std::string& snapshot_json);

}  // namespace admin
