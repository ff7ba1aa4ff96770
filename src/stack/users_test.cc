#include "stack/users.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace stack {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "users_test.XXXXXX").string();
    EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(UserRange, CandidateIsStableAlignedAndInBounds) {
  // Fixed values: the hash must not change between builds, or services would change ranges.
  EXPECT_EQ(userRangeCandidate("web"), userRangeCandidate("web"));
  EXPECT_EQ(userRangeCandidate(""), kUserRangeMin + (14695981039346656037ull % 28664) * 0x10000);
  for (std::string name : {"", "web", "db", "a-much-longer-service-name.service", "x"}) {
    uint32_t b = userRangeCandidate(name);
    EXPECT_EQ(b % kUserRangeSize, 0u) << name;
    EXPECT_GE(b, kUserRangeMin) << name;
    EXPECT_LE(b, kUserRangeMax) << name;
  }
  EXPECT_NE(userRangeCandidate("web"), userRangeCandidate("db"));
}

TEST(UserRange, NextCandidateWrapsToTheFirst) {
  EXPECT_EQ(nextUserRangeCandidate(kUserRangeMin), kUserRangeMin + kUserRangeSize);
  EXPECT_EQ(nextUserRangeCandidate(kUserRangeMax), kUserRangeMin);
}

TEST(UserRange, ParsesSubIds) {
  auto spans = parseSubIds("alice:100000:65536\n# comment\n\nbad line\nbob:165536:65536\nx:y:z\n");
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].first, 100000u);
  EXPECT_EQ(spans[0].count, 65536u);
  EXPECT_EQ(spans[1].first, 165536u);
}

TEST(UserRange, PicksTheCandidateAndLocksIt) {
  TempDir dir;
  auto lock = pickUserRange("web", dir.path(), {});
  ASSERT_TRUE(lock) << lock.error().message();
  EXPECT_EQ(lock->base(), userRangeCandidate("web"));
  EXPECT_EQ(lock->count(), 65536u);
  EXPECT_EQ(lock->path(), dir.path() + "/" + std::to_string(lock->base()));
  // Another open file description cannot take the lock while the range is held.
  int fd = ::open(lock->path().c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_NE(::flock(fd, LOCK_EX | LOCK_NB), 0);
  ::close(fd);
}

TEST(UserRange, AHeldRangeMakesTheNextPickDiffer) {
  TempDir dir;
  auto first = pickUserRange("web", dir.path(), {});
  ASSERT_TRUE(first);
  auto second = pickUserRange("web", dir.path(), {});
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(second->base(), nextUserRangeCandidate(first->base()));
}

TEST(UserRange, ReleaseFreesTheRange) {
  TempDir dir;
  uint32_t base = 0;
  {
    auto lock = pickUserRange("web", dir.path(), {});
    ASSERT_TRUE(lock);
    base = lock->base();
  }
  auto again = pickUserRange("web", dir.path(), {});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->base(), base);
  // A moved-from lock does not release the range; the moved-to one holds it.
  UserRangeLock moved = std::move(*again);
  auto other = pickUserRange("web", dir.path(), {});
  ASSERT_TRUE(other);
  EXPECT_NE(other->base(), moved.base());
}

TEST(UserRange, SkipsReservedRanges) {
  TempDir dir;
  uint32_t c = userRangeCandidate("web");
  auto lock = pickUserRange("web", dir.path(), {{c + 100, 1}});
  ASSERT_TRUE(lock);
  EXPECT_EQ(lock->base(), nextUserRangeCandidate(c));
  // A span ending right before the candidate does not overlap it.
  auto other = pickUserRange("web2", dir.path(), {{userRangeCandidate("web2") - 10, 10}});
  ASSERT_TRUE(other);
  EXPECT_EQ(other->base(), userRangeCandidate("web2"));
}

TEST(UserRange, UnusableLockDirIsAnError) {
  auto lock = pickUserRange("web", "/proc/self/no-such-dir/locks", {});
  EXPECT_FALSE(lock);
}

}  // namespace
}  // namespace stack
