// Private to src/stack/: the pieces up, down, ps and exec share.
#pragma once

#include <optional>
#include <string>

#include "base/result.h"
#include "netns/netns.h"
#include "sandbox/sandbox.h"

namespace stack {

// Confines `cfg` to VPN namespace `ns` (burrow netns): its path, its resolver files, root
// refused when the namespace is highAssurance (unless `allow_root`), and BindsTo= through
// `watch`, which must outlive the run.
base::Result<void> confine(sandbox::Config& cfg, sandbox::Invocation& inv, const std::string& ns,
                           const std::string& state_dir, bool allow_root,
                           std::optional<netns::Watch>& watch);

// STATE/stack, and the files in it.
std::string stackDir(const std::string& state_dir);
std::string recordPath(const std::string& state_dir);  // state.json
std::string logPath(const std::string& state_dir, const std::string& service);
// The file's absolute path, as the record names the stack (`path` as given when it has none).
std::string absolutePath(const std::string& path);
// An error when a stack on `state_dir` runs another file than `file` ("": any file will do).
base::Result<void> sameFile(const std::string& state_dir, const std::string& recorded,
                            const std::string& file);

}  // namespace stack
