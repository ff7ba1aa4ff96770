// Private to src/tunnel: the management API a login uses from home (`burrow tunnel login|
// create|route|list|info|delete`), carried over the edge's tunnel listener with the ALPN
// protocol kManageAlpn (no new port; the client trusts the edge by the pin in its login
// token). HTTP/1.1 with JSON bodies; every request carries `Authorization: Bearer TOKEN`, the
// whole login token:
//
//   GET    /v1/login              {"name", "zones"}
//   GET    /v1/tunnels            {"tunnels": [TUNNEL]}          the tunnels the login may manage
//   POST   /v1/tunnels            {"name", "endpoint"} -> 201 {"id", "name", "token"}
//   GET    /v1/tunnels/NAME       TUNNEL
//   DELETE /v1/tunnels/NAME       {}
//   GET    /v1/routes             {"routes": [{"hostname", "tunnel_id", "tunnel_name"}]}
//   POST   /v1/routes             {"tunnel", "hostname"} -> {}
//   DELETE /v1/routes/HOSTNAME    {}
//
// TUNNEL is {"id", "name", "created", "hostnames", "connections": [{"connection_id",
// "connector_id", "index", "peer", "since"}]}. Refusals are 4xx with {"error": TEXT}.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "tunnel/tls.h"
#include "tunnel/tunnel.h"

namespace tunnel {

inline constexpr size_t kMaxManageBody = 16 * 1024;

struct ManageReply {
  int status = 500;
  std::string body;      // JSON
  bool changed = false;  // state.json was written: the edge reloads
};

// The edge's side. Not thread-safe: the edge calls it from one thread of its own (it takes the
// state directory's lock and does file I/O, never on a serving thread).
class ManageApi {
 public:
  using Clock = std::chrono::steady_clock;
  // `live`: the connections registered with this edge right now.
  ManageApi(std::string state_dir, std::function<std::vector<LiveConnection>()> live);

  // One request. `client_ip` is the peer's address: failed logins from it are limited to a
  // burst of kFailBurst, then one per kFailRefill (429 until then).
  ManageReply handle(std::string_view method, std::string_view target,
                     std::string_view authorization, std::string_view body,
                     const std::string& client_ip, Clock::time_point now = Clock::now());

  static constexpr int kFailBurst = 5;
  static constexpr std::chrono::seconds kFailRefill{10};

 private:
  struct Bucket {
    double tokens = kFailBurst;
    Clock::time_point at;
  };
  // Seconds until CLIENT_IP may try again; 0 = now.
  int64_t throttled(const std::string& client_ip, Clock::time_point now);
  void failed(const std::string& client_ip, Clock::time_point now);

  std::string state_dir_;
  std::function<std::vector<LiveConnection>()> live_;
  std::map<std::string, Bucket> buckets_;
};

// ---- the home's side (blocking; one connection per call) ----

// Writes TOKEN to a new FILE of mode 0600; an existing FILE is refused, not replaced (the error
// names --output as the way out).
base::Result<void> writeNewTokenFile(const std::string& path, const std::string& token);

}  // namespace tunnel
