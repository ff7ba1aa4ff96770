// RemoveIPC=: when the service stops, the System V IPC objects and the POSIX shared memory,
// semaphores and message queues its user left behind are removed (see sysvipc(7),
// shm_overview(7), mq_overview(7)). Only for services that run as a user other than root.
#include <dirent.h>
#include <fcntl.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sstream>
#include <string>
#include <vector>

#include "base/base.h"
#include "base/log.h"
#include "sandbox/launch.h"

namespace sandbox {
namespace {

// Ids of the objects in /proc/sysvipc/KIND whose owner (column `uid_col`) is `uid`.
std::vector<int> sysvIdsOf(const char* kind, size_t uid_col, uid_t uid) {
  std::vector<int> ids;
  auto text = base::readFile(std::string("/proc/sysvipc/") + kind, 16 << 20);
  if (!text) return ids;
  std::istringstream in(*text);
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    std::istringstream cols(line);
    std::vector<std::string> f;
    for (std::string w; cols >> w;) f.push_back(w);
    if (f.size() > uid_col && f[uid_col] == std::to_string(uid))
      ids.push_back(std::atoi(f[1].c_str()));
  }
  return ids;
}

int unlinkOwnedBy(const char* dir, uid_t uid) {
  int removed = 0;
  DIR* d = ::opendir(dir);
  if (!d) return 0;
  while (struct dirent* e = ::readdir(d)) {
    struct stat st {};
    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISREG(st.st_mode) || st.st_uid != uid) continue;
    if (::unlinkat(::dirfd(d), e->d_name, 0) == 0) ++removed;
  }
  ::closedir(d);
  return removed;
}

}  // namespace

void removeIpcOf(uid_t uid) {
  int removed = 0;
  for (int id : sysvIdsOf("shm", 7, uid)) removed += ::shmctl(id, IPC_RMID, nullptr) == 0;
  for (int id : sysvIdsOf("sem", 4, uid)) removed += ::semctl(id, 0, IPC_RMID) == 0;
  for (int id : sysvIdsOf("msg", 7, uid)) removed += ::msgctl(id, IPC_RMID, nullptr) == 0;
  removed += unlinkOwnedBy("/dev/shm", uid);
  removed += unlinkOwnedBy("/dev/mqueue", uid);
  if (removed) LOG_INFO("removed IPC objects uid={} count={}", uid, removed);
}

}  // namespace sandbox
