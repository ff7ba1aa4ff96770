#!/usr/bin/env python3
"""`burrow audit` from the command line: the report's last line is systemd-analyze's, --json
carries its rows for every unit, burrow's own findings follow, and a malformed unit is a
usage error (exit 2) naming file and line. Units are found by name as systemd finds them
(drop-ins merged); over many units, every one that can be read is reported and the others
are listed at the end."""

import glob
import json
import os
import shutil
import subprocess
import unittest

import harness

UNITS = os.path.join(harness.SOURCE_ROOT, "tests", "data", "units")


class AuditTest(harness.BurrowTestCase):
    def unit(self, name):
        return os.path.join(UNITS, name)

    @unittest.skipIf(shutil.which("systemd-analyze") is None, "systemd-analyze not installed")
    def test_last_line_and_json_match_systemd_analyze(self):
        names = ["cloudflared-tunnel.service", "bare-root.service", "syscall-mixed.service"]
        for name in names:
            r = self.burrow("audit", self.unit(name), check=True)
            ours = r.stdout.strip().splitlines()[-1]
            sa = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                                 self.unit(name)], capture_output=True, text=True, timeout=60)
            theirs = [l for l in sa.stdout.splitlines() if "Overall exposure level" in l][0]
            # systemd ends the line with an emoji; everything before it is the same.
            self.assertTrue(theirs.startswith(ours), (ours, theirs))
        r = self.burrow("audit", "--json", *[self.unit(n) for n in names], check=True)
        audits = json.loads(r.stdout)
        self.assertEqual([a["unit"] for a in audits], names)
        self.assertEqual(audits[0]["exposure"], "1.1")
        self.assertEqual(audits[0]["band"], "OK")
        sa = json.loads(subprocess.run(
            ["systemd-analyze", "security", "--offline=true", "--json=short",
             self.unit("cloudflared-tunnel.service")], capture_output=True, text=True,
            timeout=60).stdout)
        want = {row["json_field"]: (row["set"], row["exposure"]) for row in sa}
        got = {row["json_field"]: (row["set"], row["exposure"]) for row in audits[0]["rows"]}
        self.assertEqual(got, want)

    @unittest.skipIf(shutil.which("systemd-analyze") is None, "systemd-analyze not installed")
    def test_every_stock_unit_agrees_with_systemd_analyze(self):
        units = sorted(glob.glob("/lib/systemd/system/*.service"))
        self.assertGreater(len(units), 0)
        masked = [u for u in units if os.path.realpath(u) == "/dev/null"
                  or os.path.getsize(u) == 0]
        r = self.burrow("audit", "--json", *units, timeout=120)
        # Every unit is reported; the masked ones are listed after, and only then exit 1.
        self.assertEqual(r.returncode, 1 if masked else 0, r.stderr)
        # systemd 252 knows every directive of its own units, and so does burrow.
        self.assertNotIn("unknown directive", r.stderr)
        for u in masked:
            self.assertIn("burrow: %s: masked" % os.path.basename(u), r.stderr)
        if masked:
            self.assertIn("%d of %d units not audited" % (len(masked), len(units)), r.stderr)
        audits = json.loads(r.stdout)
        readable = [u for u in units if u not in masked]
        self.assertEqual(len(audits), len(readable))
        compared = 0
        for unit, ours in zip(readable, audits):
            sa = subprocess.run(["systemd-analyze", "security", "--offline=true",
                                 "--json=short", unit], capture_output=True, text=True,
                                timeout=60)
            if sa.returncode != 0 or not sa.stdout.strip():
                continue  # systemd cannot read it either
            want = {row["json_field"]: (row["set"], row["exposure"])
                    for row in json.loads(sa.stdout)}
            got = {row["json_field"]: (row["set"], row["exposure"]) for row in ours["rows"]}
            self.assertEqual(got, want, unit)
            compared += 1
        self.assertEqual(compared, len(readable))

    @unittest.skipIf(shutil.which("systemd-analyze") is None, "systemd-analyze not installed")
    def test_units_by_name_with_drop_ins_masked_and_missing(self):
        high, low = self.path("etc"), self.path("lib")
        for d in ("etc/web.service.d", "lib/web.service.d"):
            os.makedirs(self.path(d))
        self.write_file("lib/web.service", "[Service]\nExecStart=/bin/true\nUser=www-data\n")
        self.write_file("lib/web.service.d/10-net.conf", "[Service]\nPrivateNetwork=yes\n")
        # Same file name in the directory that comes first: it hides the one in lib/.
        self.write_file("lib/web.service.d/20-tmp.conf", "[Service]\nPrivateTmp=no\n")
        self.write_file("etc/web.service.d/20-tmp.conf", "[Service]\nPrivateTmp=yes\n")
        self.write_file("lib/gone.service", "[Service]\nExecStart=/bin/true\n")
        os.symlink("/dev/null", os.path.join(high, "gone.service"))
        env = harness.clean_env({"SYSTEMD_UNIT_PATH": "%s:%s" % (high, low)})
        r = self.burrow("audit", "--json", "web.service", "gone.service", "nowhere.service",
                        env=env)
        self.assertEqual(r.returncode, 1, r.stderr)
        audits = json.loads(r.stdout)
        self.assertEqual([a["unit"] for a in audits], ["web.service"])
        rows = {row["json_field"]: row["set"] for row in audits[0]["rows"]}
        self.assertTrue(rows["PrivateNetwork"])
        self.assertTrue(rows["PrivateTmp"])
        self.assertIn("burrow: gone.service: masked (linked to /dev/null)", r.stderr)
        self.assertIn("burrow: nowhere.service: no such unit in %s, %s" % (high, low), r.stderr)
        self.assertIn("burrow: 2 of 3 units not audited", r.stderr)
        ours = self.burrow("audit", "web.service", env=env, check=True)
        sa = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                             "web.service"], capture_output=True, text=True, timeout=60, env=env)
        theirs = [l for l in sa.stdout.splitlines() if "Overall exposure level" in l][0]
        self.assertTrue(theirs.startswith(ours.stdout.strip().splitlines()[-1]), (ours, theirs))

    def test_secret_readable_by_others_is_a_finding(self):
        secret = self.write_file("token", "s3cret\n")
        os.chmod(secret, 0o640)
        unit = self.write_file("svc.service", "[Service]\nExecStart=/bin/true\nUser=app\n"
                               "LoadCredential=token:%s\n" % secret)
        r = self.burrow("audit", unit, check=True)
        self.assertIn("! burrow: secret file %s is readable by its group (mode 0640)" % secret,
                      r.stdout)
        os.chmod(secret, 0o600)
        r = self.burrow("audit", unit, check=True)
        self.assertNotIn("! burrow:", r.stdout)

    def test_bad_units_are_usage_errors_naming_file_and_line(self):
        bad = self.write_file("bad.service", "[Service]\nExecStart=/bin/true\nPrivateTmp=sometimes\n")
        r = self.burrow("audit", bad)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("bad.service:3: PrivateTmp=sometimes: expected a boolean", r.stderr)
        junk = self.write_file("junk.service", "[Service]\nnot an assignment\n")
        r = self.burrow("audit", junk)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("junk.service:2: expected Key=Value", r.stderr)
        r = self.burrow("audit", self.path("missing.service"))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("missing.service", r.stderr)
        unknown = self.write_file("odd.service", "[Service]\nExecStart=/bin/true\nFrobnicate=1\n")
        r = self.burrow("audit", unknown, check=True)
        self.assertIn("odd.service:3: unknown directive Frobnicate= in [Service], ignored", r.stderr)


if __name__ == "__main__":
    harness.main()
