// WireGuard for a confinement namespace, through wireguard-go: it runs in the host's network
// namespace (its UDP socket stays there) and is configured over its UAPI socket; the caller
// then moves its TUN link into the namespace.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

#include "base/result.h"
#include "config/config.h"

namespace netns {

// wireguard-go keeps its UAPI socket here, named after the interface: interface names must
// be unique host-wide.
std::string uapiSocketPath(const std::string& ifname);

// True when a wireguard-go answers on the UAPI socket of `ifname`, wherever its link lives.
bool wireguardGoRunning(const std::string& ifname);

// Starts wireguard-go for `ifname` in the calling thread's network namespace and waits until
// its link and UAPI socket exist. Its output goes to `log_path` (the daemon keeps it open, so
// it must not be the caller's). Returns the daemon's pid.
base::Result<pid_t> startWireguardGo(const std::string& ifname, const std::string& log_path);

// Sets the private key (base64), listen port and peers. A hostname endpoint is resolved here,
// in the host's namespace (the config only allows one with wireguard.allowHostnameEndpoints).
base::Result<void> configureWireguard(const config::WireguardSettings& wg,
                                      const std::string& private_key_b64);

// True when a peer's endpoint is a host name, to be resolved again (refreshEndpoints).
bool hasHostnameEndpoint(const config::WireguardSettings& wg);

// Resolves the host name endpoints of `wg` again, in the calling thread's namespace, and
// points wireguard-go at every one whose address is not the one in `known` (public key ->
// "address:port", which this updates). Returns how many peers were pointed elsewhere.
base::Result<int> refreshEndpoints(const config::WireguardSettings& wg,
                                   std::map<std::string, std::string>& known);

struct WireguardState {
  int64_t last_handshake = 0;  // seconds since the epoch; 0: never
  uint64_t rx_bytes = 0, tx_bytes = 0;
};
base::Result<WireguardState> wireguardState(const std::string& ifname);

}  // namespace netns
