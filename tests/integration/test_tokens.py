#!/usr/bin/env python3
"""Tunnel administration and the connector's credentials: create/list/delete, the token's
contents, token files and their modes, and the permanent refusals (unknown tunnel, bad
secret, pin mismatch) that must end the connector at once with a message naming them."""

import base64
import hashlib
import json
import os
import stat
import re
import time
import uuid

import harness

REFUSAL_TIMEOUT = 10  # "at once": well below the first backoff steps adding up


def decode(token):
    return json.loads(base64.b64decode(token))


def encode(obj):
    return base64.b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode()


class TokenTest(harness.BurrowTestCase):
    def setUp(self):
        super().setUp()
        _, self.origin_port = self.start_origin("A")
        self.edge = self.start_edge()
        self.token = self.create_tunnel(self.edge, "app", ["app.test"])
        self.reload_edge(self.edge, "app.test")
        self.url = "http://127.0.0.1:%d" % self.origin_port

    def run_refused(self, token_file, *words):
        """Runs a connector that must be refused: non-zero exit, quickly, naming the cause."""
        p = self.start_connector(token_file, url=self.url, ha=2, wait=False)
        code = p.wait(timeout=REFUSAL_TIMEOUT)
        out = (p.read("stdout") + p.read("stderr")).lower()
        self.assertNotEqual(code, 0, "connector must exit non-zero\n" + p.tail())
        self.assertTrue(any(w in out for w in words),
                        "the message must say %s:\n%s" % (" or ".join(words), p.tail()))
        return out

    def assert_edge_still_serves(self):
        self.assertTrue(self.edge.proc.alive(), self.edge.proc.tail())
        r = self.get(self.edge, "/hello", "app.test")
        self.assertEqual(r.status, 502, "no connector is registered, so 502: %r" % r)

    def test_token_contents(self):
        t = decode(self.token)
        self.assertEqual(t["e"], self.edge.endpoint)
        uuid.UUID(t["t"])
        self.assertEqual(len(base64.b64decode(t["s"])), 32)
        self.assertRegex(t["p"], r"^[0-9a-f]{64}$")
        # Only a hash of the secret is stored.
        secret = base64.b64decode(t["s"])
        for root, _, files in os.walk(self.edge.state_dir):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    data = f.read()
                self.assertNotIn(secret, data, "secret stored in %s" % name)
                self.assertNotIn(t["s"].encode(), data, "secret stored in %s" % name)

    def test_state_dir_is_private(self):
        mode = stat.S_IMODE(os.stat(self.edge.state_dir).st_mode)
        self.assertEqual(mode, 0o700, "state dir mode %o" % mode)

    def test_create_without_endpoint_uses_last_tunnel_address(self):
        r = self.burrow("edge", "tunnel", "create", "second", "--state-dir", self.edge.state_dir,
                        check=True)
        self.assertEqual(decode(r.stdout.strip())["e"], self.edge.endpoint)

    def test_list_and_delete(self):
        r = self.burrow("edge", "tunnel", "list", "--state-dir", self.edge.state_dir, check=True)
        self.assertIn("app", r.stdout)
        self.assertIn("app.test", r.stdout)
        self.burrow("edge", "tunnel", "delete", "app", "--state-dir", self.edge.state_dir,
                    check=True)
        r = self.burrow("edge", "tunnel", "list", "--state-dir", self.edge.state_dir, check=True)
        self.assertNotIn("app.test", r.stdout)
        r = self.burrow("edge", "tunnel", "delete", "app", "--state-dir", self.edge.state_dir)
        self.assertNotEqual(r.returncode, 0, "deleting a missing tunnel is an error")

    def test_route_to_another_tunnel_is_refused(self):
        self.create_tunnel(self.edge, "other")
        r = self.burrow("edge", "route", "dns", "other", "app.test", "--state-dir",
                        self.edge.state_dir)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("app", r.stdout + r.stderr)

    def test_good_token_connects(self):
        conn = self.start_connector(self.write_token(self.token), url=self.url, ha=2)
        self.assertBody(self.get(self.edge, "/hello", "app.test"), 200,
                        b"hello from A path=/hello\n")
        with open("/proc/%d/cmdline" % conn.pid, "rb") as f:
            self.assertNotIn(self.token.encode(), f.read())

    def test_token_from_environment(self):
        env = harness.clean_env({"BURROW_TUNNEL_TOKEN": self.token})
        p = self.spawn("connector-env", [harness.BURROW, "tunnel", "run", "--url", self.url,
                                         "--ha-connections", "1"], env=env)
        self.wait_registered(p, 1)
        self.assertBody(self.get(self.edge, "/hello", "app.test"), 200,
                        b"hello from A path=/hello\n")

    def test_garbage_token(self):
        self.run_refused(self.write_token("this is not a token"), "token")
        self.assert_edge_still_serves()

    def test_bad_secret(self):
        t = decode(self.token)
        t["s"] = base64.b64encode(os.urandom(32)).decode()
        self.run_refused(self.write_token(encode(t)), "bad secret")
        self.assert_edge_still_serves()

    def test_unknown_tunnel(self):
        t = decode(self.token)
        t["t"] = str(uuid.uuid4())
        self.run_refused(self.write_token(encode(t)), "unknown tunnel")
        self.assert_edge_still_serves()

    def test_deleted_tunnel(self):
        self.burrow("edge", "tunnel", "delete", "app", "--state-dir", self.edge.state_dir,
                    check=True)
        self.reload_edge(self.edge, "app.test", want=lambda status: status == 404)
        self.run_refused(self.write_token(self.token), "unknown tunnel")
        self.assertTrue(self.edge.proc.alive())

    def test_pin_mismatch(self):
        t = decode(self.token)
        t["p"] = hashlib.sha256(b"some other key").hexdigest()
        self.run_refused(self.write_token(encode(t)), "pin mismatch")
        self.assert_edge_still_serves()

    def test_readable_token_file_is_refused(self):
        for mode in (0o640, 0o604, 0o644):
            with self.subTest(mode=oct(mode)):
                path = self.write_token(self.token, mode=mode, name="token-%o" % mode)
                p = self.start_connector(path, url=self.url, ha=1, wait=False,
                                         name="connector-%o" % mode)
                code = p.wait(timeout=REFUSAL_TIMEOUT)
                msg = p.read("stdout") + p.read("stderr")
                self.assertNotEqual(code, 0, p.tail())
                self.assertIn(path, msg, "the message names the file")
                self.assertTrue("%o" % mode in msg or stat.filemode(0o100000 | mode)[1:] in msg,
                                "the message gives the mode %o: %r" % (mode, msg))
                self.assertEqual(p.count("connection registered"), 0, p.tail())



def poll(pred, timeout):
    """Polls pred every 50 ms until it holds or timeout seconds pass; returns the time taken or
    None."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pred():
            return time.monotonic() - start
        time.sleep(0.05)
    return None


class LiveAdminTest(harness.BurrowTestCase):
    """What `edge tunnel|route` change reaches a running edge without a SIGHUP, and what it
    tells them about its live connections."""

    def setUp(self):
        super().setUp()
        _, self.origin_port = self.start_origin("A")
        self.edge = self.start_edge()
        self.url = "http://127.0.0.1:%d" % self.origin_port
        self.state = self.edge.state_dir

    def admin(self, *args, check=True):
        return self.burrow("edge", *args, "--state-dir", self.state, check=check)

    def status(self, host):
        try:
            return self.get(self.edge, "/hello", host).status
        except OSError:
            return None

    def test_create_output_writes_a_private_file_the_connector_accepts(self):
        out = self.path("home.token")
        r = self.admin("tunnel", "create", "home", "--endpoint", self.edge.endpoint,
                       "--output", out)
        self.assertEqual(r.stdout, "", "the token goes to the file, not stdout")
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o600)
        self.admin("route", "dns", "home", "home.test")
        conn = self.start_connector(out, url=self.url, ha=1)
        self.wait_registered(conn, 1)
        self.assertBody(self.get(self.edge, "/hello", "home.test"), 200,
                        b"hello from A path=/hello\n")
        # An existing file is neither replaced nor left with a tunnel that has no token.
        r = self.admin("tunnel", "create", "again", "--output", out, check=False)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("exists", r.stderr)
        self.assertNotIn("again", self.admin("tunnel", "list").stdout)

    def test_info_and_list_show_live_connections(self):
        token = self.create_tunnel(self.edge, "app", ["app.test"])
        conn = self.start_connector(self.write_token(token), url=self.url, ha=2)
        self.wait_registered(conn, 2)
        ids = set(re.findall(r"connection_id=([0-9a-f-]{36})", conn.read()))
        self.assertEqual(len(ids), 2, conn.tail())
        # The edge records a connection just after it answers the registration.
        took = poll(lambda: all(i in self.admin("tunnel", "info", "app").stdout for i in ids), 5)
        info = self.admin("tunnel", "info", "app").stdout
        self.assertIsNotNone(took, "tunnel info lists every live connection:\n" + info)
        self.assertIn("app.test", info)
        self.assertRegex(info, r"127\.0\.0\.1:\d+")
        self.assertIn("VERSION", info)
        self.assertRegex(info, r"Z\s+burrow \d+\.\d+\.\d+\n")  # as the connector registered
        rows = [l for l in self.admin("tunnel", "list").stdout.splitlines() if " app " in l]
        self.assertEqual(len(rows), 1)
        self.assertRegex(rows[0], r"\s2\s+app\.test$")
        conn.stop()
        took = poll(lambda: "no connector is connected" in self.admin("tunnel", "info",
                                                                        "app").stdout, 5)
        self.assertIsNotNone(took, self.admin("tunnel", "info", "app").stdout)
        self.edge.proc.stop()
        info = self.admin("tunnel", "info", "app").stdout
        self.assertIn("no edge runs", info, "a stopped edge's connections are not reported")

    def test_second_edge_on_one_state_directory_is_refused(self):
        r = self.burrow("edge", "--state-dir", self.state, "--http", "127.0.0.1:0",
                        "--tunnel", "127.0.0.1:0")
        self.assertEqual(r.returncode, 1)
        self.assertIn("another edge (pid %d)" % self.edge.proc.pid, r.stderr)
        self.assertEqual(self.status("nothing.test"), 404, "the first edge still serves")

    def test_route_changes_apply_within_a_second_without_sighup(self):
        token = self.create_tunnel(self.edge, "app", ["app.test"])
        conn = self.start_connector(self.write_token(token), url=self.url, ha=1)
        self.wait_registered(conn, 1)
        self.assertEqual(self.status("app.test"), 200)
        self.admin("route", "dns", "app", "late.test")
        self.assertIsNotNone(poll(lambda: self.status("late.test") == 200, 1.0))
        rows = self.admin("route", "list").stdout
        self.assertRegex(rows, r"late\.test\s+app\s")
        self.admin("route", "delete", "APP.test")
        self.assertIsNotNone(poll(lambda: self.status("app.test") == 404, 1.0),
                             "a deleted route stops being served within a second")
        self.assertEqual(self.status("late.test"), 200)
        r = self.admin("route", "delete", "app.test", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no route for hostname 'app.test'", r.stderr)

    def test_deleted_tunnel_loses_its_connectors_within_a_second(self):
        token = self.create_tunnel(self.edge, "app", ["app.test"])
        conn = self.start_connector(self.write_token(token), url=self.url, ha=2)
        self.wait_registered(conn, 2)
        r = self.admin("tunnel", "delete", "app")
        self.assertIn("within a second", r.stderr)
        start = time.monotonic()
        conn.wait_for(r"connection lost", count=2, timeout=5)
        self.assertLess(time.monotonic() - start, 1.0 * harness.TIME_FACTOR + 0.5)
        code = conn.wait(timeout=10)
        self.assertNotEqual(code, 0)
        self.assertIn("unknown tunnel", conn.read())


if __name__ == "__main__":
    harness.main()
