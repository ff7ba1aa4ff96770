// stack (internal): user ranges for services run "as containers", picked as systemd-nspawn's
// --private-users=pick picks them. Each service gets 65536 ids of its own, BASE..BASE+65535 on
// the host, held by an flock(2)ed file per range in a lock directory for as long as the
// UserRangeLock lives (and by nothing once its holder has ended, however it ended).
// pickUserRange() calls getpwuid(3)/getgrgid(3), so is not thread-safe; the rest is. A
// UserRangeLock is a value owned by one thread at a time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace stack {

// The range every service gets, and where bases are picked: systemd-nspawn's bounds, above
// the ids distributions hand out and below the ones systemd keeps for itself.
inline constexpr uint32_t kUserRangeSize = 0x10000;
inline constexpr uint32_t kUserRangeMin = 0x00080000;
inline constexpr uint32_t kUserRangeMax = 0x6FFF0000;  // the last base that may be picked

// Ids that are someone else's: [first, first + count).
struct IdSpan {
  uint32_t first = 0, count = 0;
};

// A range held by this process; the lock is released (and the range free again) when it is
// destroyed. Movable, not copyable.
class UserRangeLock {
 public:
  UserRangeLock(uint32_t base, std::string path, base::UniqueFd fd)
      : base_(base), path_(std::move(path)), fd_(std::move(fd)) {}
  uint32_t base() const { return base_; }
  uint32_t count() const { return kUserRangeSize; }
  const std::string& path() const { return path_; }  // the lock file

 private:
  uint32_t base_;
  std::string path_;
  base::UniqueFd fd_;  // holds the flock(2)
};

// The first base tried for `name`: FNV-1a of the name, so the same on every run and build,
// a multiple of 65536 in [kUserRangeMin, kUserRangeMax].
uint32_t userRangeCandidate(std::string_view name);
// The base tried after `base`: the next multiple of 65536, back to kUserRangeMin past the end.
uint32_t nextUserRangeCandidate(uint32_t base);

// The ranges /etc/subuid or /etc/subgid give out ("name:first:count" lines).
std::vector<IdSpan> parseSubIds(std::string_view text);

// Picks and locks a range for `name`: its candidate first, then the next ones, skipping a
// range another holder has locked, one that overlaps `reserved`, and one whose first or last
// id names a user or group of this system. Creates `lock_dir` if needed; the lock file is
// LOCK_DIR/BASE (decimal) and holds the name of the holder.
base::Result<UserRangeLock> pickUserRange(const std::string& name, const std::string& lock_dir,
                                          const std::vector<IdSpan>& reserved);
// The same, with the ranges of /etc/subuid and /etc/subgid reserved.
base::Result<UserRangeLock> pickUserRange(const std::string& name, const std::string& lock_dir);

}  // namespace stack
