#!/usr/bin/env python3
"""`burrow host harden` on the running host by a user who is not root: it elevates as one
named step (through `sudo -n`), and when sudo refuses, it says which step and why, exits 1
and writes nothing; --dry-run and audit need no root. Run as root, it switches to `nobody`
itself (sudo without a sudoers line for nobody refuses, as on a fresh machine)."""

import os
import shutil
import subprocess
import unittest

import harness

NOBODY = 65534
MISSING = harness.root_and_tools_missing("setpriv", "sudo")
OURS = ["/etc/sysctl.d/90-burrow-host.conf", "/etc/systemd/system.conf.d/90-burrow-host.conf",
        "/etc/systemd/system/systemd-journald.service.d/90-burrow-host.conf",
        "/var/lib/burrow/host-harden"]


@unittest.skipIf(MISSING, "needs %s" % ", ".join(MISSING))
class HostPrivilegedTest(harness.BurrowTestCase):
    def as_nobody(self, *args):
        argv = [shutil.which("setpriv"), "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY,
                "--clear-groups", "--reset-env", harness.BURROW, *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=self.tmp,
                              env=harness.clean_env(), stdin=subprocess.DEVNULL)

    def test_harden_elevates_as_one_named_step(self):
        for p in OURS:
            self.assertFalse(os.path.exists(p), "%s exists before the test" % p)
        r = self.as_nobody("host", "harden")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("burrow: harden the host needs root: burrow runs as uid %d and "
                      "`sudo -n " % NOBODY, r.stderr)
        self.assertIn("host harden` was refused", r.stderr)
        self.assertEqual(r.stdout, "")
        r = self.as_nobody("host", "harden", "--undo")
        self.assertEqual(r.returncode, 1)
        self.assertIn("burrow: undo the host's hardening needs root", r.stderr)
        for p in OURS:
            self.assertFalse(os.path.exists(p), "%s written without root" % p)
        # What needs no root runs as is.
        dry = self.as_nobody("host", "harden", "--dry-run")
        self.assertEqual(dry.returncode, 0, dry.stderr)
        audit = self.as_nobody("host", "audit")
        self.assertIn(audit.returncode, (0, 1), audit.stderr)
        self.assertIn("applicable items ok on this host", audit.stdout)


if __name__ == "__main__":
    harness.main()
