#!/usr/bin/env python3
"""`burrow audit` from the command line: the report's last line is systemd-analyze's, --json
carries its rows for every unit, burrow's own findings follow, and a malformed unit is a
usage error (exit 2) naming file and line."""

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
