// The host profile against roots made here: a systemd image, an OpenRC one, files of the
// user's own, and harden / undo by their record.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "base/check.h"
#include "host/host.h"

namespace host {
namespace {

namespace fs = std::filesystem;

class Root {
 public:
  Root() {
    char tmpl[] = "/tmp/burrow-host-test.XXXXXX";
    CHECK(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
  }
  ~Root() { fs::remove_all(dir_); }
  const std::string& dir() const { return dir_; }
  void write(const std::string& rel, const std::string& text) {
    fs::create_directories(fs::path(dir_ + rel).parent_path());
    std::ofstream(dir_ + rel) << text;
  }
  std::string read(const std::string& rel) const {
    std::ifstream in(dir_ + rel);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  bool exists(const std::string& rel) const { return fs::exists(fs::symlink_status(dir_ + rel)); }
  // Every path and its content (or link target), for comparing trees.
  std::map<std::string, std::string> tree() const {
    std::map<std::string, std::string> out;
    for (auto& e : fs::recursive_directory_iterator(dir_)) {
      std::string rel = e.path().string().substr(dir_.size());
      if (e.is_symlink())
        out[rel] = "-> " + fs::read_symlink(e.path()).string();
      else if (e.is_directory())
        out[rel] = "dir";
      else
        out[rel] = read(rel);
    }
    return out;
  }

  // A Debian-like systemd image: the units of the profile that Debian 12 ships.
  void systemdImage() {
    write("/usr/lib/systemd/systemd", "");
    write("/usr/lib/systemd/system/systemd-journald.service",
          "[Unit]\nDescription=Journal Service\n[Service]\nType=notify\nProtectClock=yes\n");
    for (const char* u : {"emergency.service", "emergency.target", "systemd-rfkill.service",
                          "systemd-rfkill.socket", "systemd-networkd-wait-online.service"})
      write(std::string("/usr/lib/systemd/system/") + u, "[Unit]\nDescription=x\n");
    write("/etc/systemd/system.conf", "[Manager]\n#RuntimeWatchdogSec=off\n");
  }

 private:
  std::string dir_;
};

const Row& row(const Audit& a, const std::string& id) {
  for (const Row& r : a.rows)
    if (r.id == id) return r;
  ADD_FAILURE() << "no row " << id;
  return a.rows.front();
}

TEST(HostAudit, FreshSystemdImageMissesEverythingApplicable) {
  Root r;
  r.systemdImage();
  auto a = audit(r.dir());
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->init, "systemd");
  EXPECT_FALSE(a->allOk());
  EXPECT_EQ(row(*a, "journald-umask").state, State::Missing);
  EXPECT_EQ(row(*a, "journald-umask").file,
            "/etc/systemd/system/systemd-journald.service.d/90-burrow-host.conf");
  EXPECT_EQ(row(*a, "no-emergency-service").state, State::Missing);
  EXPECT_EQ(row(*a, "no-pre-sleep").state, State::NotApplicable);  // NixOS's unit
  EXPECT_EQ(row(*a, "no-pre-sleep").detail, "no such unit here");
  EXPECT_EQ(row(*a, "no-kexec").state, State::Missing);
  EXPECT_EQ(row(*a, "watchdog-runtime").state, State::Missing);    // commented out
  EXPECT_EQ(row(*a, "panic-reboot").state, State::NotApplicable);  // no boot loader file
}

TEST(HostAudit, ReadsSettingsAsTheirOwnersMergeThem) {
  Root r;
  r.systemdImage();
  // A vendor drop-in sets one value; a later one of the user's changes another.
  r.write("/usr/lib/systemd/system/systemd-journald.service.d/10-vendor.conf",
          "[Service]\nUMask=077\nPrivateNetwork=yes\n");
  r.write("/etc/systemd/system/systemd-journald.service.d/99-mine.conf",
          "[Service]\nPrivateNetwork=no\n");
  r.write("/etc/systemd/system.conf.d/50-x.conf",
          "[Manager]\nRuntimeWatchdogSec=15\nShutdownWatchdogSec=30 sec\nKExecWatchdogSec=2min\n");
  r.write("/usr/lib/sysctl.d/50-kexec.conf", "kernel/kexec_load_disabled = 1\n");
  r.write("/etc/sysctl.conf", "; nothing\n");
  r.write("/etc/default/grub",
          "GRUB_CMDLINE_LINUX=\"quiet\"\nGRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX panic=1\"\n");
  auto a = audit(r.dir());
  ASSERT_TRUE(a);
  EXPECT_EQ(row(*a, "journald-umask").state, State::Ok);  // 077 is 0077
  EXPECT_EQ(row(*a, "journald-private-network").state, State::Differs);
  EXPECT_EQ(row(*a, "journald-private-network").detail,
            "PrivateNetwork=no in /etc/systemd/system/systemd-journald.service.d/99-mine.conf");
  EXPECT_EQ(row(*a, "watchdog-runtime").state, State::Ok);  // 15 is 15s
  EXPECT_EQ(row(*a, "watchdog-reboot").state, State::Ok);   // by its old name
  EXPECT_EQ(row(*a, "watchdog-kexec").state, State::Differs);
  EXPECT_EQ(row(*a, "watchdog-kexec").detail,
            "KExecWatchdogSec=2min in /etc/systemd/system.conf.d/50-x.conf");
  EXPECT_EQ(row(*a, "no-kexec").state, State::Ok);
  EXPECT_EQ(row(*a, "no-kexec").file, "/usr/lib/sysctl.d/50-kexec.conf");
  EXPECT_EQ(row(*a, "panic-reboot").state, State::Ok);  // through $GRUB_CMDLINE_LINUX
  EXPECT_EQ(row(*a, "panic-reboot").file, "/etc/default/grub");
  // /etc/sysctl.conf is read last and wins.
  r.write("/etc/sysctl.conf", "kernel.kexec_load_disabled=0\n");
  a = audit(r.dir());
  EXPECT_EQ(row(*a, "no-kexec").state, State::Differs);
  EXPECT_EQ(row(*a, "no-kexec").detail, "kernel.kexec_load_disabled = 0 in /etc/sysctl.conf");
}

TEST(HostAudit, JsonOfAFileWithInvalidUtf8) {
  Root r;
  r.systemdImage();
  r.write("/etc/sysctl.d/50-x.conf", "kernel.kexec_load_disabled = \x9d\n");
  auto a = audit(r.dir());
  ASSERT_TRUE(a);
  EXPECT_EQ(row(*a, "no-kexec").state, State::Differs);
  EXPECT_NE(formatAuditJson(*a).find("kernel.kexec_load_disabled = \xef\xbf\xbd in"),
            std::string::npos);
}

TEST(HostAudit, OpenRcImageKeepsTheKernelItemsOnly) {
  Root r;
  r.write("/sbin/openrc-run", "");
  r.write("/etc/init.d/sshd", "");
  auto a = audit(r.dir());
  ASSERT_TRUE(a);
  EXPECT_EQ(a->init, "OpenRC");
  EXPECT_EQ(row(*a, "journald-umask").state, State::NotApplicable);
  EXPECT_EQ(row(*a, "watchdog-runtime").state, State::NotApplicable);
  EXPECT_NE(row(*a, "watchdog-runtime").detail.find("rc-update add watchdog"), std::string::npos);
  EXPECT_EQ(row(*a, "no-kexec").state, State::Missing);
  auto h = harden({r.dir(), false, {}});
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(r.read("/etc/sysctl.d/90-burrow-host.conf").find("kernel.kexec_load_disabled = 1\n") !=
                std::string::npos,
            true);
  EXPECT_FALSE(r.exists("/etc/systemd"));
  EXPECT_TRUE(audit(r.dir())->allOk());
}

TEST(HostHarden, ThenAuditIsOkAndASecondRunChangesNothing) {
  Root r;
  r.systemdImage();
  r.write("/etc/default/grub", "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet panic=1\"\n");
  auto h = harden({r.dir(), false, {}});
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_FALSE(h->left_alone);
  EXPECT_EQ(fs::read_symlink(r.dir() + "/etc/systemd/system/emergency.service"), "/dev/null");
  EXPECT_EQ(fs::read_symlink(r.dir() + "/etc/systemd/system/systemd-rfkill.socket"), "/dev/null");
  EXPECT_FALSE(r.exists("/etc/systemd/system/pre-sleep.service"));  // not installed: no mask
  std::string dropin = r.read("/etc/systemd/system/systemd-journald.service.d/90-burrow-host.conf");
  EXPECT_NE(dropin.find("[Service]\nUMask=0077\nPrivateNetwork=yes\nProtectHostname=yes\n"
                        "ProtectKernelModules=yes\n"),
            std::string::npos)
      << dropin;
  EXPECT_NE(
      r.read("/etc/systemd/system.conf.d/90-burrow-host.conf")
          .find(
              "[Manager]\nRuntimeWatchdogSec=15s\nRebootWatchdogSec=30s\nKExecWatchdogSec=1min\n"),
      std::string::npos);
  auto a = audit(r.dir());
  ASSERT_TRUE(a);
  for (const Row& row : a->rows) EXPECT_NE(row.state, State::Missing) << row.id;
  EXPECT_TRUE(a->allOk()) << formatAudit(*a);

  auto before = r.tree();
  auto again = harden({r.dir(), false, {}});
  ASSERT_TRUE(again);
  EXPECT_EQ(r.tree(), before);
  ASSERT_EQ(again->lines.size(), 1u);
  EXPECT_EQ(again->lines[0].rfind("nothing to change", 0), 0u) << again->lines[0];
}

TEST(HostHarden, UndoLeavesTheRootAsItWas) {
  Root r;
  r.systemdImage();
  auto before = r.tree();
  ASSERT_TRUE(harden({r.dir(), false, {}}));
  EXPECT_NE(r.tree(), before);
  auto u = undo({r.dir(), false, {}});
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_FALSE(u->left_alone);
  EXPECT_EQ(r.tree(), before);
  auto nothing = undo({r.dir(), false, {}});
  ASSERT_TRUE(nothing);
  EXPECT_EQ(nothing->lines.at(0).rfind("nothing to undo", 0), 0u);
}

TEST(HostHarden, DryRunWritesNothingAndSaysTheSamePlan) {
  Root r;
  r.systemdImage();
  auto before = r.tree();
  auto dry = harden({r.dir(), true, {}});
  ASSERT_TRUE(dry);
  EXPECT_EQ(r.tree(), before);
  auto real = harden({r.dir(), false, {}});
  ASSERT_TRUE(real);
  ASSERT_EQ(dry->lines.size(), real->lines.size());
  for (size_t i = 0; i < dry->lines.size(); ++i)
    EXPECT_EQ(dry->lines[i], "would " + real->lines[i]);
}

TEST(HostHarden, FilesOfTheUsersOwnAreLeftAloneAndReported) {
  Root r;
  r.systemdImage();
  // At burrow's own path, and at a unit's mask path.
  r.write("/etc/sysctl.d/90-burrow-host.conf", "# mine\nvm.swappiness = 10\n");
  r.write("/etc/systemd/system/emergency.service", "[Service]\nExecStart=/bin/true\n");
  // A drop-in after burrow's that undoes one of its settings.
  r.write("/etc/systemd/system/systemd-journald.service.d/99-mine.conf",
          "[Service]\nProtectHostname=no\n");
  auto h = harden({r.dir(), false, {}});
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_TRUE(h->left_alone);
  std::string all;
  for (const auto& l : h->lines) all += l + "\n";
  EXPECT_NE(all.find("left alone: sysctl kernel.kexec_load_disabled = 1 (no-kexec): " + r.dir() +
                     "/etc/sysctl.d/90-burrow-host.conf is not burrow's"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("left alone: masked: emergency.service (no-emergency-service): " + r.dir() +
                     "/etc/systemd/system/emergency.service is a unit file of yours"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("left alone: ProtectHostname=yes for systemd-journald.service "
                     "(journald-protect-hostname): ProtectHostname=no in "
                     "/etc/systemd/system/systemd-journald.service.d/99-mine.conf"),
            std::string::npos)
      << all;
  EXPECT_EQ(r.read("/etc/sysctl.d/90-burrow-host.conf"), "# mine\nvm.swappiness = 10\n");
  EXPECT_EQ(r.read("/etc/systemd/system/emergency.service"), "[Service]\nExecStart=/bin/true\n");
  // The rest was done, and undo takes back only that.
  EXPECT_EQ(fs::read_symlink(r.dir() + "/etc/systemd/system/emergency.target"), "/dev/null");
  ASSERT_TRUE(undo({r.dir(), false, {}}));
  EXPECT_EQ(r.read("/etc/sysctl.d/90-burrow-host.conf"), "# mine\nvm.swappiness = 10\n");
  EXPECT_TRUE(r.exists("/etc/systemd/system/emergency.service"));
  EXPECT_FALSE(r.exists("/etc/systemd/system/emergency.target"));
}

TEST(HostHarden, OnlyTheChosenItemsAndTheirFileGrows) {
  Root r;
  r.systemdImage();
  ASSERT_TRUE(harden({r.dir(), false, {"journald-umask"}}));
  const std::string f = "/etc/systemd/system/systemd-journald.service.d/90-burrow-host.conf";
  EXPECT_NE(r.read(f).find("[Service]\nUMask=0077\n"), std::string::npos);
  EXPECT_EQ(r.read(f).find("PrivateNetwork"), std::string::npos);
  EXPECT_FALSE(r.exists("/etc/systemd/system/emergency.service"));
  ASSERT_TRUE(harden({r.dir(), false, {"journald-private-network"}}));
  EXPECT_NE(r.read(f).find("[Service]\nUMask=0077\nPrivateNetwork=yes\n"), std::string::npos);
  auto bad = harden({r.dir(), false, {"journald-umaks"}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("--only journald-umaks: no such item (items: "
                                       "journald-umask,"),
            std::string::npos)
      << bad.error().message();
}

TEST(HostHarden, AChangedFileIsNotBurrowsAnyMore) {
  Root r;
  r.systemdImage();
  ASSERT_TRUE(harden({r.dir(), false, {}}));
  const std::string f = "/etc/systemd/system.conf.d/90-burrow-host.conf";
  r.write(f, r.read(f) + "# my note\n");
  auto u = undo({r.dir(), false, {}});
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->left_alone);
  EXPECT_TRUE(r.exists(f));
  EXPECT_FALSE(r.exists("/etc/sysctl.d/90-burrow-host.conf"));
  // The record keeps what is left, so a later undo still knows it.
  EXPECT_NE(r.read("/var/lib/burrow/host-harden").find("file " + f), std::string::npos);
}

TEST(HostHarden, ABrokenRecordIsAnErrorThatNamesTheLine) {
  Root r;
  r.systemdImage();
  r.write("/var/lib/burrow/host-harden", "# x\nfile /etc/a\n");
  auto u = undo({r.dir(), false, {}});
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().message(), r.dir() +
                                     "/var/lib/burrow/host-harden:2: expected `dir PATH`, "
                                     "`file PATH SHA256` or `mask PATH`");
}

TEST(HostHarden, AFailedWriteLeavesNothingHalfMade) {
  Root r;
  r.systemdImage();
  // Where the manager's drop-in directory goes, a file: journald's drop-in and the sysctl file
  // are written first, then the manager's fails.
  r.write("/etc/systemd/system.conf.d", "not a directory\n");
  auto before = r.tree();
  auto h = harden({r.dir(), false, {}});
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().message(), r.dir() + "/etc/systemd/system.conf.d is not a directory");
  EXPECT_EQ(r.tree(), before);
}

}  // namespace
}  // namespace host
