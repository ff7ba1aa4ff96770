#!/usr/bin/env python3
"""The stack file read without running it: `burrow audit -f burrow.yaml` scores each service as
it will run (its network and user namespace counted), and `burrow tunnel ingress rule URL -f
burrow.yaml` names the route, the service and the address a URL reaches."""

import json
import os
import unittest

import harness

UNIT = """[Service]
ExecStart=/bin/sleep infinity
ProtectSystem=strict
NoNewPrivileges=yes
"""

STACK = """tunnel: { tokenFile: token }
services:
  web:
    unit: web.service
    users: pick
    connects: [db]
  db:
    exec: [/bin/sleep, infinity]
    network: none
  tool:
    unit: web.service
    network: host
middlewares:
  office: {ipAllowList: {sourceRange: [192.168.1.0/24]}}
  sec: {headers: {frameDeny: true}}
  admin: {chain: {middlewares: [office, sec]}}
routes:
  - hostname: web.example.net
    path: ^/api/
    service: http://[web]:8080
  - hostname: tool.example.net
    service: http://[tool]:9000
    middlewares: [admin@file]
  - service: http_status:404
"""


class StackInspectTest(harness.BurrowTestCase):
    def setUp(self):
        super().setUp()
        self.write_file("web.service", UNIT)
        self.write_token("x" * 40)
        self.stack = self.write_file("burrow.yaml", STACK)
        self.state = self.path("state")

    def audit(self, *args):
        r = self.burrow("audit", "--json", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return {a["unit"]: a for a in json.loads(r.stdout)}

    def row(self, audit, name):
        return next(r for r in audit["rows"] if r["name"] == name)

    def test_audit_scores_each_service_as_it_will_run(self):
        alone = self.audit(self.path("web.service"))["web.service"]
        stack = self.audit("-f", self.stack, "--state-dir", self.state)
        path = self.stack
        web, db, tool = (stack["%s (%s)" % (n, path)] for n in ("web", "db", "tool"))
        # As written the unit shares the host's network and users; in the stack it does not.
        self.assertFalse(self.row(alone, "PrivateNetwork=")["set"])
        self.assertTrue(self.row(web, "PrivateNetwork=")["set"])
        self.assertTrue(self.row(web, "PrivateUsers=")["set"])
        self.assertLess(float(web["exposure"]), float(alone["exposure"]))
        self.assertIn("stack: network: private (a namespace of its own; it reaches db",
                      " ".join(web["findings"]))
        self.assertTrue(self.row(db, "PrivateNetwork=")["set"])
        # network: host adds nothing: the unit's own score.
        self.assertEqual(tool["exposure"], alone["exposure"])
        self.assertFalse(self.row(tool, "PrivateNetwork=")["set"])
        # Nothing was made.
        self.assertFalse(os.path.exists(self.state))

    def test_ingress_rule_names_the_service_and_its_address(self):
        r = self.burrow("tunnel", "ingress", "rule", "https://web.example.net/api/x", "-f",
                        self.stack, "--state-dir", self.state)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Matched rule #1", r.stdout)
        self.assertIn("stack service: web (network: private), reached at 10.77.0.2:8080",
                      r.stdout)
        r = self.burrow("tunnel", "ingress", "rule", "https://tool.example.net/", "-f",
                        self.stack, "--state-dir", self.state)
        self.assertIn("stack service: tool (network: host), reached at 127.0.0.1:9000", r.stdout)
        self.assertIn("\tmiddlewares: admin\n\truns: office (ipAllowList), sec (headers)\n",
                      r.stdout)
        r = self.burrow("tunnel", "ingress", "rule", "https://web.example.net/other", "-f",
                        self.stack, "--state-dir", self.state)
        self.assertIn("Matched rule #3", r.stdout)
        self.assertNotIn("stack service", r.stdout)

    def test_bad_usage(self):
        r = self.burrow("audit")
        self.assertEqual(r.returncode, 2)
        self.assertIn("give UNIT... or -f FILE (a stack), not both", r.stderr)
        r = self.burrow("audit", "x.service", "-f", self.stack)
        self.assertEqual(r.returncode, 2)
        bad = self.write_file("bad.yaml", "services:\n  a: { exec: [/bin/true], network: vpm }\n")
        r = self.burrow("audit", "-f", bad)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("bad.yaml:2:", r.stderr)
        r = self.burrow("tunnel", "ingress", "rule", "https://x/", "-f", self.stack, "--config",
                        self.stack)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not both", r.stderr)


if __name__ == "__main__":
    harness.main()
