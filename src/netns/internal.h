// Helpers shared by the confinement namespaces (netns.cc) and the stack's private networks
// (private.cc): private to src/netns/.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace netns::internal {

constexpr const char* kRunDir = "/run/netns";

// Runs `fn` in a thread that has joined the namespace of `ns_fd` (or a new one when ns_fd is
// -1): network namespaces belong to threads, and netlink and libnftables act on the caller's.
base::Result<void> inNamespace(int ns_fd, const std::function<base::Result<void>()>& fn);
// Writes /proc/sys/KEY.
base::Result<void> writeSysctl(const std::string& key, const char* value);
// /run/netns as iproute2 keeps it: a shared mount point, so that namespaces bound under it
// appear in every mount namespace.
base::Result<void> prepareRunDir();
// Makes /run/netns/NAME a new network namespace with IPv6 off and lo up, and returns an fd of
// it. On failure nothing is left at the path.
base::Result<base::UniqueFd> createNamespace(const std::string& name);
// Unmounts and removes /run/netns/NAME; gone already is fine.
base::Result<void> removeNamespace(const std::string& name);
// Removes nftables table `ip TABLE` (or `FAMILY TABLE`); gone already is fine.
base::Result<void> deleteHostTable(const std::string& table, const char* family = "ip");
// Identity of a namespace file: the same (dev, ino) as /proc/PID/ns/net of its members.
base::Result<std::pair<dev_t, ino_t>> nsIdentity(const std::string& path);
// Pids of the processes whose network namespace is `id`.
std::vector<pid_t> membersOf(std::pair<dev_t, ino_t> id);
// Whether `pid` still runs. A child of ours is reaped here; one that ended but waits for
// another parent to reap it (a zombie) counts as gone.
bool alive(pid_t pid);
// SIGTERM to every pid, SIGKILL to those still there after `grace`; returns when all are gone
// or after a further second.
void stopAll(const std::vector<pid_t>& pids, std::chrono::milliseconds grace);

}  // namespace netns::internal
