#!/usr/bin/env python3
"""`burrow host audit` and `burrow host harden` on a root directory the test makes from this
machine's own unit files (as `systemctl --root` would read a system image): harden then audit
says every item is ok but the kernel command line, whose step harden prints and the test then
takes; systemd-analyze judges journald better after than before; a second harden changes
nothing; --undo leaves the root as it was; --dry-run writes nothing; a file of the user's own
at a path burrow wants is left alone and reported. And `burrow host audit` on this machine."""

import json
import os
import re
import shutil
import subprocess

import harness

UNITS = ["systemd-journald.service", "emergency.service", "emergency.target",
         "systemd-rfkill.service", "systemd-rfkill.socket", "pre-sleep.service",
         "prepare-kexec.service", "systemd-hibernate-clear.service",
         "systemd-networkd-wait-online.service"]


def tree(root):
    """Every path under ROOT with its type and content (or link target)."""
    out = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(d, name)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = "-> " + os.readlink(p)
            elif os.path.isdir(p):
                out[rel] = "dir %o" % (os.stat(p).st_mode & 0o7777)
            else:
                with open(p, "rb") as f:
                    out[rel] = "%o %s" % (os.stat(p).st_mode & 0o7777, f.read())
    return out


def exposure(root):
    """systemd-analyze's overall exposure of journald in ROOT, as a float."""
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                        "--root=" + root, "systemd-journald.service"],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for systemd-journald.service: ([0-9.]+)", r.stdout)
    if not m:
        raise AssertionError("systemd-analyze said: %s %s" % (r.stdout[-500:], r.stderr))
    return float(m.group(1))


class HostTest(harness.BurrowTestCase):
    def make_root(self):
        """A system image holding this machine's units of the profile and its system.conf,
        and a /etc/default/grub without panic=."""
        root = self.path("image")
        units = os.path.join(root, "usr/lib/systemd/system")
        os.makedirs(units)
        copied = []
        for u in UNITS:
            src = os.path.join("/lib/systemd/system", u)
            if os.path.isfile(src):
                shutil.copy(src, units)
                copied.append(u)
        self.assertIn("systemd-journald.service", copied,
                      "this machine has no systemd-journald.service (scripts/deps test installs "
                      "systemd)")
        os.makedirs(os.path.join(root, "etc/systemd"))
        os.makedirs(os.path.join(root, "etc/default"))
        if os.path.isfile("/etc/systemd/system.conf"):
            shutil.copy("/etc/systemd/system.conf", os.path.join(root, "etc/systemd"))
        with open(os.path.join(root, "etc/default/grub"), "w") as f:
            f.write('GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n')
        return root, copied

    def audit(self, root):
        r = self.burrow("host", "audit", "--root", root, "--json")
        self.assertIn(r.returncode, (0, 1), r.stderr)
        a = json.loads(r.stdout)
        self.assertEqual(a["ok"], r.returncode == 0)
        return {i["id"]: i for i in a["items"]}, r.returncode

    def test_harden_then_audit_undo_and_systemd_analyze(self):
        root, copied = self.make_root()
        pristine = tree(root)
        before = exposure(root)
        items, code = self.audit(root)
        self.assertEqual(code, 1)
        self.assertEqual(items["journald-umask"]["state"], "missing")
        self.assertEqual(items["panic-reboot"]["state"], "missing")
        self.assertEqual(items["panic-reboot"]["file"], "/etc/default/grub")

        dry = self.burrow("host", "harden", "--root", root, "--dry-run", check=True)
        self.assertEqual(tree(root), pristine, "--dry-run wrote something")
        r = self.burrow("host", "harden", "--root", root, check=True)
        # The same plan, each change on its line, and the kernel item as a step.
        self.assertEqual(dry.stdout.replace("would ", ""), r.stdout)
        self.assertIn("step for you: add panic=1 to GRUB_CMDLINE_LINUX in /etc/default/grub, "
                      "then run update-grub", r.stdout)
        self.assertIn("mask emergency.service: %s/etc/systemd/system/emergency.service -> "
                      "/dev/null (when the system boots)" % root, r.stdout)
        self.assertEqual(os.readlink(os.path.join(root, "etc/systemd/system/emergency.target")),
                         "/dev/null")
        dropin = os.path.join(root, "etc/systemd/system/systemd-journald.service.d/"
                              "90-burrow-host.conf")
        with open(dropin) as f:
            self.assertIn("UMask=0077\nPrivateNetwork=yes\nProtectHostname=yes\n"
                          "ProtectKernelModules=yes\n", f.read())
        after = exposure(root)
        print("systemd-analyze security systemd-journald.service: %.1f before, %.1f after"
              % (before, after))
        self.assertLess(after, before)

        items, code = self.audit(root)
        self.assertEqual(code, 1)
        not_ok = {k: v["state"] for k, v in items.items()
                  if v["state"] not in ("ok", "not applicable")}
        self.assertEqual(not_ok, {"panic-reboot": "missing"})
        for u in ("pre-sleep", "prepare-kexec", "systemd-hibernate-clear"):
            if u + ".service" not in copied:
                self.assertEqual(items["no-" + u]["state"], "not applicable")
                self.assertEqual(items["no-" + u]["detail"], "no such unit here")
        # The step as printed, then every item is ok.
        grub = os.path.join(root, "etc/default/grub")
        with open(grub) as f:
            text = f.read()
        with open(grub, "w") as f:
            f.write(text.replace('GRUB_CMDLINE_LINUX=""', 'GRUB_CMDLINE_LINUX="panic=1"'))
        items, code = self.audit(root)
        self.assertEqual(code, 0, items)
        table = self.burrow("host", "audit", "--root", root)
        self.assertEqual(table.returncode, 0)
        self.assertRegex(table.stdout, r"^ITEM +SETTING +STATE +FILE +WHY\n")
        self.assertRegex(table.stdout, r"(?m)^journald-umask +UMask=0077 for "
                         r"systemd-journald.service +ok +/etc/systemd/system/"
                         r"systemd-journald.service.d/90-burrow-host.conf +journal files")
        self.assertRegex(table.stdout, r"\n(\d+) of \1 applicable items ok on ")

        # A second run changes nothing.
        hardened = tree(root)
        again = self.burrow("host", "harden", "--root", root, check=True)
        self.assertEqual(tree(root), hardened)
        self.assertEqual(again.stdout, "nothing to change: every item is ok on %s\n" % root)

        # --undo takes back exactly what harden wrote: the tree is as it was but for the
        # user's own edit of /etc/default/grub.
        u = self.burrow("host", "harden", "--root", root, "--undo", check=True)
        self.assertIn("remove %s" % dropin, u.stdout)
        now = tree(root)
        grub_rel = "etc/default/grub"
        self.assertIn("panic=1", now.pop(grub_rel))
        expected = dict(pristine)
        expected.pop(grub_rel)
        self.assertEqual(now, expected)
        self.assertAlmostEqual(exposure(root), before)

    def test_a_file_of_the_users_own_is_left_alone_and_reported(self):
        root, _ = self.make_root()
        mine = os.path.join(root, "etc/sysctl.d/90-burrow-host.conf")
        os.makedirs(os.path.dirname(mine))
        with open(mine, "w") as f:
            f.write("vm.swappiness = 10\n")
        unit = os.path.join(root, "etc/systemd/system/emergency.target")
        os.makedirs(os.path.dirname(unit))
        with open(unit, "w") as f:
            f.write("[Unit]\nDescription=mine\n")
        r = self.burrow("host", "harden", "--root", root)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("left alone: sysctl kernel.kexec_load_disabled = 1 (no-kexec): %s is not "
                      "burrow's" % mine, r.stdout)
        self.assertIn("left alone: masked: emergency.target (no-emergency-target): %s is a unit "
                      "file of yours" % unit, r.stdout)
        self.assertIn("some items were left alone", r.stderr)
        with open(mine) as f:
            self.assertEqual(f.read(), "vm.swappiness = 10\n")
        with open(unit) as f:
            self.assertEqual(f.read(), "[Unit]\nDescription=mine\n")
        # The rest was done.
        self.assertEqual(os.readlink(os.path.join(root, "etc/systemd/system/emergency.service")),
                         "/dev/null")
        items, _ = self.audit(root)
        self.assertEqual(items["no-emergency-service"]["state"], "ok")
        self.assertEqual(items["no-kexec"]["state"], "missing")
        # Undo leaves the user's files.
        self.burrow("host", "harden", "--root", root, "--undo", check=True)
        self.assertTrue(os.path.isfile(mine))
        self.assertTrue(os.path.isfile(unit))
        self.assertFalse(os.path.lexists(os.path.join(root,
                                                      "etc/systemd/system/emergency.service")))

    def test_bad_input(self):
        root, _ = self.make_root()
        pristine = tree(root)
        r = self.burrow("host", "harden", "--root", root, "--only", "journald-umaks")
        self.assertEqual(r.returncode, 1)
        self.assertIn("--only journald-umaks: no such item (items: journald-umask, ", r.stderr)
        r = self.burrow("host", "audit", "--root", self.path("nowhere"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("root %s: No such file or directory" % self.path("nowhere"), r.stderr)
        r = self.burrow("host", "harden", "--root", root, "--undo", "--only", "no-kexec")
        self.assertEqual(r.returncode, 1)
        self.assertIn("--only is not taken with --undo", r.stderr)
        self.assertEqual(tree(root), pristine)

    def test_only_chosen_items(self):
        root, _ = self.make_root()
        self.burrow("host", "harden", "--root", root, "--only", "no-kexec",
                    "--only", "watchdog-runtime", check=True)
        items, _ = self.audit(root)
        self.assertEqual(items["no-kexec"]["state"], "ok")
        self.assertEqual(items["watchdog-runtime"]["state"], "ok")
        self.assertEqual(items["watchdog-reboot"]["state"], "missing")
        self.assertEqual(items["journald-umask"]["state"], "missing")

    def test_audit_of_this_machine(self):
        r = self.burrow("host", "audit")
        self.assertIn(r.returncode, (0, 1), r.stderr)
        self.assertRegex(r.stdout, r"^ITEM +SETTING +STATE +FILE +WHY\n")
        rows = [l.split()[0] for l in r.stdout.splitlines()[1:-1]]
        self.assertEqual(len(rows), 16)
        self.assertIn("no-kexec", rows)
        self.assertRegex(r.stdout.splitlines()[-1],
                         r"^\d+ of \d+ applicable items ok on this host \(init: ")
        j = json.loads(self.burrow("host", "audit", "--json").stdout)
        self.assertEqual(j["ok"], r.returncode == 0)
        # What the kernel says now is what the row says.
        kexec = [i for i in j["items"] if i["id"] == "no-kexec"][0]
        proc = "/proc/sys/kernel/kexec_load_disabled"
        if not os.path.exists(proc):
            self.assertEqual(kexec["state"], "not applicable")
            self.assertIn("%s does not exist" % proc, kexec["detail"])
        else:
            with open(proc) as f:
                if f.read().strip() != "1":
                    self.assertNotEqual(kexec["state"], "ok")


if __name__ == "__main__":
    harness.main()
