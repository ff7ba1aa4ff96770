// Private to src/tunnel: what a running edge tells the `edge tunnel info|list` commands, which
// run in other processes. The edge holds an exclusive flock(2) on <state-dir>/edge.lock for as
// long as it runs, and keeps <state-dir>/connections.json (0600) listing the connector
// connections registered right now. A reader that can take the lock knows no edge runs, so a
// file left by an edge that was killed is never taken for live connections.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "tunnel/tunnel.h"

namespace tunnel {

// The running edge's side. Thread-safe: shards register and end connections concurrently.
class LiveRegistry {
 public:
  // Takes the lock on DIR/edge.lock; an error names the edge that holds it.
  static base::Result<std::unique_ptr<LiveRegistry>> open(const std::string& dir);
  ~LiveRegistry();  // removes connections.json; the lock goes with the descriptor

  void add(LiveConnection c);
  void remove(const std::string& connection_id);
  std::vector<LiveConnection> snapshot();

 private:
  LiveRegistry() = default;
  void writeLocked();

  std::string dir_;
  base::UniqueFd lock_;
  std::mutex mu_;
  std::vector<LiveConnection> conns_;
};

// The reader's side: the connections of the edge running on DIR, or nullopt when none runs.
base::Result<std::optional<std::vector<LiveConnection>>> readLive(const std::string& dir);

}  // namespace tunnel
