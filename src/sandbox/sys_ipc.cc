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

#include <algorithm>
#include <charconv>
#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"
#include "base/log.h"
#include "sandbox/launch.h"

namespace sandbox {
namespace {

// Ids of the objects in /proc/sysvipc/KIND whose owner (column `uid_col`) is `uid`. Columns
// are separated by runs of spaces; the first line is the header.
std::vector<int> sysvIdsOf(const char* kind, size_t uid_col, uid_t uid) {
  std::vector<int> ids;
  auto text = base::readFile(std::string("/proc/sysvipc/") + kind, 16 << 20);
  if (!text) return ids;
  std::string_view rest = *text;
  rest.remove_prefix(std::min(rest.size(), rest.find('\n') + 1));
  while (!rest.empty()) {
    size_t eol = std::min(rest.size(), rest.find('\n'));
    std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(std::min(rest.size(), eol + 1));
    long id = -1, owner = -1;
    for (size_t col = 0; !line.empty() && col <= uid_col; ++col) {
      line.remove_prefix(std::min(line.size(), line.find_first_not_of(' ')));
      std::string_view word = line.substr(0, line.find(' '));
      line.remove_prefix(word.size());
      long v = -1;
      std::from_chars(word.data(), word.data() + word.size(), v);
      if (col == 1) id = v;
      if (col == uid_col) owner = v;
    }
    if (id >= 0 && owner == static_cast<long>(uid)) ids.push_back(static_cast<int>(id));
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
