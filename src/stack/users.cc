// The user-range picker: systemd-nspawn's --private-users=pick with a fixed hash (FNV-1a)
// and a lock directory passed in. See flock(2), user_namespaces(7).
#include "stack/users.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

#include "base/base.h"

namespace stack {
namespace {

constexpr uint32_t kSlots = (kUserRangeMax - kUserRangeMin) / kUserRangeSize + 1;

bool overlaps(uint32_t base, const IdSpan& s) {
  uint64_t end = uint64_t{base} + kUserRangeSize, s_end = uint64_t{s.first} + s.count;
  return s.count > 0 && s.first < end && base < s_end;
}

// A user or group of this system has the range's first or last id (nspawn checks the same).
bool namedOnSystem(uint32_t base) {
  for (uint32_t id : {base, base + kUserRangeSize - 1})
    if (::getpwuid(id) || ::getgrgid(id)) return true;
  return false;
}

}  // namespace

uint32_t userRangeCandidate(std::string_view name) {
  uint64_t h = 14695981039346656037ull;
  for (char ch : name) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
  return kUserRangeMin + static_cast<uint32_t>(h % kSlots) * kUserRangeSize;
}

uint32_t nextUserRangeCandidate(uint32_t base) {
  return base >= kUserRangeMax ? kUserRangeMin : base + kUserRangeSize;
}

std::vector<IdSpan> parseSubIds(std::string_view text) {
  std::vector<IdSpan> out;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = base::trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    auto c1 = line.find(':');
    auto c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    std::string_view first = line.substr(c1 + 1, c2 - c1 - 1), count = line.substr(c2 + 1);
    IdSpan s;
    auto r1 = std::from_chars(first.data(), first.data() + first.size(), s.first);
    auto r2 = std::from_chars(count.data(), count.data() + count.size(), s.count);
    if (r1.ec != std::errc() || r2.ec != std::errc() || r1.ptr != first.data() + first.size() ||
        r2.ptr != count.data() + count.size())
      continue;
    out.push_back(s);
  }
  return out;
}

base::Result<UserRangeLock> pickUserRange(const std::string& name, const std::string& lock_dir,
                                          const std::vector<IdSpan>& reserved) {
  if (name.empty()) return base::invalid("a user range needs a name to pick it by");
  RETURN_IF_ERROR(base::ensureDir(lock_dir, 0700));
  uint32_t base = userRangeCandidate(name);
  for (uint32_t tried = 0; tried < kSlots; ++tried, base = nextUserRangeCandidate(base)) {
    bool taken = false;
    for (const auto& s : reserved) taken = taken || overlaps(base, s);
    if (taken || namedOnSystem(base)) continue;
    std::string path = fmt::format("{}/{}", lock_dir, base);
    base::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) return base::sysError("open {}", path);
    if (base::retryEintr([&] { return ::flock(fd.get(), LOCK_EX | LOCK_NB); }) != 0) {
      if (errno == EWOULDBLOCK) continue;  // another holder's
      return base::sysError("flock {}", path);
    }
    // The holder's name, for whoever wonders who has the range; the lock is what counts.
    std::string who = name + "\n";
    if (::ftruncate(fd.get(), 0) != 0 ||
        ::pwrite(fd.get(), who.data(), who.size(), 0) != static_cast<ssize_t>(who.size()))
      return base::sysError("write {}", path);
    return UserRangeLock(base, std::move(path), std::move(fd));
  }
  return base::makeError(std::errc::resource_unavailable_try_again,
                         "no free user range for {}: all {} ranges under {} are taken", name,
                         kSlots, lock_dir);
}

base::Result<UserRangeLock> pickUserRange(const std::string& name, const std::string& lock_dir) {
  std::vector<IdSpan> reserved;
  for (const char* file : {"/etc/subuid", "/etc/subgid"}) {
    auto text = base::readFile(file, 1 << 20);
    if (!text) continue;  // no such file: nothing given out
    auto spans = parseSubIds(*text);
    reserved.insert(reserved.end(), spans.begin(), spans.end());
  }
  return pickUserRange(name, lock_dir, reserved);
}

}  // namespace stack
