// Private to src/sandbox: one run of a unit, worked out in the parent (Plan) so that the child
// allocates nothing between clone() and execve(), and the child's ordered steps. The order of
// applyInChild()'s steps is systemd's: namespaces and mounts, credentials, capabilities,
// no_new_privs, seccomp last.
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "sandbox/sandbox.h"

namespace sandbox {

// What the child reports when a step fails: the step and errno, then it exits.
enum class Step : uint8_t {
  Namespaces = 1,  // clone() flags, setns() into NetworkNamespacePath=
  MountPropagation,
  Mounts,    // MountOp number in `detail`
  Loopback,  // PrivateNetwork=: bring lo up
  Users,     // PrivateUsers=: setns() into the user namespace the parent made
  Root,      // RootDirectory=: chroot() and chdir("/")
  Groups,
  Gid,
  Uid,
  BoundingSet,
  Capabilities,  // capset()/ambient raise for AmbientCapabilities=
  Umask,
  Limits,   // setrlimit(); the resource in `detail`
  Keyring,  // KEYCTL_JOIN_SESSION_KEYRING
  WorkingDirectory,
  NoNewPrivileges,
  Mdwe,  // PR_SET_MDWE for MemoryDenyWriteExecute=
  Seccomp,
  Exec,
};
const char* stepName(Step s);

struct ChildReport {
  Step step;
  uint8_t pad[3];
  int32_t err;     // errno
  int32_t detail;  // e.g. which mount
};

struct MountOp {
  enum class Kind : uint8_t {
    BindSelf,      // bind `target` onto itself (so it is a mount of its own)
    ReadOnly,      // mount_setattr(RDONLY, recursive)
    ReadWrite,     // mount_setattr(clear RDONLY, recursive)
    Tmpfs,         // new tmpfs on `target` with `data`
    Inaccessible,  // bind `source` (an empty, mode-0000 node of the same type) on `target`
    Proc,          // a new procfs instance on /proc with `data` (hidepid=, subset=)
    CharDev,       // mknod `target` as a character device `dev`, mode 0666
    Dir,           // mkdir `target` with `mode`
    Symlink,       // symlink `target` -> `source`
    File,          // create `target` as an empty file with `mode` (a mount point for a file)
    Bind,          // bind `source` on `target` (recursive unless data == "norbind")
    Image,         // mount the block device `source` (file system type `data`) on `target`
    // bind `source` on `target` as an id-mapped mount through the user namespace of the plan's
    // user range (recursive unless data == "norbind"); see mount_setattr(2) MOUNT_ATTR_IDMAP
    IdmapBind,
    Overlay,  // a new overlayfs on `target` with `data` (lowerdir=, upperdir=, workdir=)
    Detach,   // umount2(`target`, MNT_DETACH): drop a copy a recursive bind brought along
  };
  Kind kind;
  bool optional;  // a missing target is skipped (ENOENT), like systemd's '-' prefix
  std::string target;
  std::string source;
  std::string data;
  dev_t dev = 0;
  mode_t mode = 0755;
  const char* directive = nullptr;  // the directive behind the step, for messages ("BindPaths")
  // Bind, IdmapBind: `source` is opened before the first step, so that a tmpfs mounted by an
  // earlier step over where it is does not hide it (BindPaths= into PrivateTmp=).
  bool hold_source = false;
};

struct Plan {
  std::string exe;  // absolute path of the binary
  std::vector<std::string> argv_storage, env_storage;
  std::vector<char*> argv, envp;  // null-terminated views of the storage

  int clone_flags = 0;  // CLONE_NEW* beyond CLONE_NEWNS
  // A "+" command line: the host's mount namespace (no CLONE_NEWNS); `mounts` is empty then.
  bool host_mounts = false;
  base::UniqueFd netns_fd;  // NetworkNamespacePath=, joined with setns()
  // RootImage=: the loop device the image is attached to (read-only, cleared on last close),
  // held until the service ends.
  base::UniqueFd loop_fd;
  // PrivateUsers=: a user namespace entered after the mounts, mapping root and the service's
  // own ids to themselves and everyone else to nobody (uid_map/gid_map contents). With a user
  // range, the range's map instead; IdmapBind mounts are id-mapped through this namespace.
  bool private_users = false;
  std::string uid_map, gid_map;
  std::vector<MountOp> mounts;
  std::string root;  // RootDirectory=: chroot() here after the mounts
  // The ephemeral root: pivot_root(2) into `root` and detach the old root, instead of chroot().
  bool pivot_root = false;

  bool set_ids = false;  // User= names someone other than root
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;

  int cap_last = 40;  // /proc/sys/kernel/cap_last_cap
  uint64_t bounding = ~uint64_t{0};
  uint64_t ambient = 0;
  mode_t umask = 0022;
  std::vector<Config::Limit> limits;
  bool private_keyring = false;  // KeyringMode=private: a session keyring of its own
  std::string workdir;
  bool no_new_privs = false;
  bool mdwe = false;
  // Seccomp programs, loaded in order; the kernel applies the strictest answer of all.
  std::vector<std::vector<sock_filter>> seccomp;
};

// Builds the seccomp program for `c` (empty when nothing is filtered). `use_mdwe`: the kernel
// has PR_SET_MDWE, so MemoryDenyWriteExecute= needs no seccomp rules.
base::Result<std::vector<std::vector<sock_filter>>> buildSeccomp(const Config& c, bool use_mdwe);
// RemoveIPC=: removes the IPC objects `uid` owns (System V, POSIX shm and mqueue).
void removeIpcOf(uid_t uid);

// True when this kernel knows PR_SET_MDWE (Linux 6.3 and later).
bool kernelHasMdwe();

// clone()s the child, which runs the plan's steps and execs. Returns its pid, or the failing
// step as an error ("mount /usr read-only: Permission denied"), with nothing left running.
base::Result<pid_t> launch(const Plan& plan);

}  // namespace sandbox
