#!/usr/bin/env python3
"""Connecting a domain from home (cloudflared's `tunnel login / create / route dns / run`)
against burrow's own edge: a login token made on the edge for zones, used from a "home" with
its own state directory and, when the test runs as root, an unprivileged user (nobody). The
home creates a tunnel, routes a hostname in its zone, runs it by name and is reached through
the edge; a hostname outside the zone is refused; a revoked login is refused at its next call
while its running tunnel keeps serving; two logins without a common zone cannot touch each
other's tunnels, and a login sharing a zone can; wrong tokens and loose token files are
refused with what is wrong, and nothing on the edge changes when a call is refused."""

import base64
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile

import harness

NOBODY = 65534


class LoginTest(harness.BurrowTestCase):
    def setUp(self):
        super().setUp()
        self.origin, self.origin_port = self.start_origin("home")
        self.edge = self.start_edge()
        self.as_root = os.geteuid() == 0

    # ---- the home: its own state directory, its own user ----

    def make_home(self):
        """A state directory for a home, owned by nobody when the test runs as root."""
        d = tempfile.mkdtemp(prefix="burrow-home-")
        self.addCleanup(shutil.rmtree, d, True)
        if self.as_root:
            os.chmod(d, 0o700)
            os.chown(d, NOBODY, NOBODY)
        return d

    def prefix(self):
        """What runs a command as the home's user."""
        if not self.as_root:
            return []
        return [shutil.which("setpriv") or "/usr/bin/setpriv", "--reuid=%d" % NOBODY,
                "--regid=%d" % NOBODY, "--clear-groups", "--reset-env"]

    def home(self, home, *args, check=False, expect_fail=None):
        """Runs `burrow ARGS --state-dir HOME` as the home's user."""
        argv = self.prefix() + [harness.BURROW, *args, "--state-dir", home]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                           env=harness.clean_env({"HOME": home}), stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            self.fail("burrow %s exited %d\nstdout: %s\nstderr: %s"
                      % (" ".join(args), r.returncode, r.stdout, r.stderr))
        if expect_fail is not None:
            self.assertNotEqual(r.returncode, 0, "burrow %s must fail\n%s" % (" ".join(args),
                                                                              r.stdout))
            self.assertIn(expect_fail, r.stderr, " ".join(args))
        return r

    def give(self, home, name, text, mode=0o600):
        """Writes TEXT to HOME/NAME with MODE, owned by the home's user."""
        path = os.path.join(home, name)
        with open(path, "w") as f:
            f.write(text + "\n")
        os.chmod(path, mode)
        if self.as_root:
            os.chown(path, NOBODY, NOBODY)
        return path

    def login_token(self, name, *zones):
        args = ["edge", "login-token", "create", "--state-dir", self.edge.state_dir, "--name",
                name, "--endpoint", self.edge.endpoint]
        for z in zones:
            args += ["--zone", z]
        return self.burrow(*args, check=True).stdout.strip()

    def logged_in_home(self, name, *zones):
        home = self.make_home()
        token_file = self.give(home, "given.token", self.login_token(name, *zones))
        self.home(home, "tunnel", "login", "--token-file", token_file, check=True)
        return home

    def state(self):
        with open(os.path.join(self.edge.state_dir, "state.json")) as f:
            return f.read()

    # ---- tests ----

    def test_login_create_route_run_reach_and_revoke(self):
        home = self.make_home()
        token_file = self.give(home, "given.token", self.login_token("home", "example.net"))
        r = self.home(home, "tunnel", "login", "--token-file", token_file, check=True)
        self.assertIn("as login home (zones: example.net)", r.stderr)
        st = os.stat(os.path.join(home, "login.token"))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        if self.as_root:
            self.assertEqual(st.st_uid, NOBODY)

        r = self.home(home, "tunnel", "create", "app", check=True)
        m = re.fullmatch(r"Created tunnel app with id ([0-9a-f-]{36})\n", r.stdout)
        self.assertTrue(m, r.stdout)
        tunnel_id = m.group(1)
        token_path = os.path.join(home, "app.token")
        self.assertEqual(stat.S_IMODE(os.stat(token_path).st_mode), 0o600)
        # A second create of the same name is refused by the existing file, before the edge.
        self.home(home, "tunnel", "create", "app",
                  expect_fail="app.token exists: remove it or name another file with --output")

        self.home(home, "tunnel", "route", "dns", "app", "app.example.net", check=True)
        before = self.state()
        self.home(home, "tunnel", "route", "dns", "app", "app.other.org",
                  expect_fail="hostname app.other.org is outside the zones of login 'home' "
                              "(example.net)")
        self.assertEqual(self.state(), before)

        # `tunnel run NAME` finds NAME.token in the state directory.
        conn = self.spawn("home-connector", self.prefix() + [
            harness.BURROW, "tunnel", "run", "app", "--state-dir", home, "--url",
            "http://127.0.0.1:%d" % self.origin_port, "--ha-connections", "2"])
        self.wait_registered(conn, 2)
        self.assertBody(self.get(self.edge, "/hello", "app.example.net"), 200,
                        b"hello from home path=/hello\n")

        listing = self.home(home, "tunnel", "list", check=True).stdout
        row = [l for l in listing.splitlines() if l.startswith(tunnel_id)]
        self.assertEqual(len(row), 1, listing)
        self.assertRegex(row[0], r"\bapp\s+\S+\s+2\s+app\.example\.net$")
        info = self.home(home, "tunnel", "info", "app", check=True).stdout
        self.assertIn("ROUTES:   app.example.net", info)
        self.assertEqual(len(re.findall(r"^[0-9a-f-]{36}  [0-9a-f-]{36}  ", info, re.M)), 2, info)
        routes = self.home(home, "tunnel", "route", "list", check=True).stdout
        self.assertRegex(routes, r"(?m)^app\.example\.net\s+app\s+%s$" % tunnel_id)
        self.edge.proc.wait_for(r"login created tunnel login=home name=app id=%s" % tunnel_id)
        self.edge.proc.wait_for(r"login added route login=home hostname=app\.example\.net")

        # Revoked: the next call is refused, the tunnel running keeps serving.
        self.burrow("edge", "login-token", "revoke", "home", "--state-dir", self.edge.state_dir,
                    check=True)
        self.home(home, "tunnel", "list", expect_fail="login token 'home' was revoked on ")
        self.assertBody(self.get(self.edge, "/hello", "app.example.net"), 200,
                        b"hello from home path=/hello\n")
        listed = self.burrow("edge", "login-token", "list", "--state-dir", self.edge.state_dir,
                             check=True).stdout
        self.assertRegex(listed, r"(?m)^home\s+[0-9a-f-]{36}\s+\S+Z\s+\S+Z\s+example\.net$")

    def test_logins_touch_only_tunnels_of_a_shared_zone(self):
        """The rule (README): a login manages the tunnels made by logins sharing a zone with
        it, itself included; tunnels made on the edge are the edge's."""
        a = self.logged_in_home("a", "a.net", "shared.org")
        b = self.logged_in_home("b", "b.net")
        c = self.logged_in_home("c", "shared.org")
        self.home(a, "tunnel", "create", "ta", check=True)
        self.home(a, "tunnel", "route", "dns", "ta", "www.a.net", check=True)
        before = self.state()
        self.assertNotIn("ta", self.home(b, "tunnel", "list", check=True).stdout)
        self.home(b, "tunnel", "info", "ta", expect_fail="no tunnel 'ta' that login 'b' may manage")
        self.home(b, "tunnel", "delete", "ta", expect_fail="no tunnel 'ta' that login 'b' may")
        self.home(b, "tunnel", "route", "dns", "ta", "x.b.net",
                  expect_fail="no tunnel 'ta' that login 'b' may manage")
        self.home(b, "tunnel", "route", "delete", "www.a.net",
                  expect_fail="no route for www.a.net that login 'b' may manage")
        self.home(b, "tunnel", "create", "ta", expect_fail="the name 'ta' is taken on this edge")
        self.assertEqual(self.state(), before)
        # c shares shared.org with a: it sees and manages a's tunnel.
        self.assertIn("ta", self.home(c, "tunnel", "list", check=True).stdout)
        self.home(c, "tunnel", "route", "dns", "ta", "ta.shared.org", check=True)
        self.home(c, "tunnel", "delete", "ta", check=True)
        self.assertEqual(self.burrow("edge", "tunnel", "list", "--state-dir",
                                     self.edge.state_dir, check=True).stdout.count("\n"), 1)

    def test_bad_tokens_are_refused_with_what_is_wrong(self):
        home = self.make_home()
        good = self.login_token("home", "example.net")
        loose = self.give(home, "loose.token", good, mode=0o644)
        self.home(home, "tunnel", "login", "--token-file", loose,
                  expect_fail="is readable by group or others (mode 0644)")
        tunnel_token = self.create_tunnel(self.edge, "edge-own")
        self.home(home, "tunnel", "login", "--token-file", self.give(home, "t.token",
                                                                      tunnel_token),
                  expect_fail="this is a tunnel token (for burrow tunnel run), not a login token")
        self.home(home, "tunnel", "list", expect_fail="not logged in: no %s/login.token" % home)
        self.home(home, "tunnel", "run", "nope", "--url", "http://127.0.0.1:1",
                  expect_fail="no token for tunnel nope: %s/nope.token does not exist" % home)
        # A wrong secret: the edge names the login; after the burst, the address waits.
        t = json.loads(base64.b64decode(good))
        t["s"] = base64.b64encode(os.urandom(32)).decode()
        wrong = self.give(home, "wrong.token", base64.b64encode(
            json.dumps(t, separators=(",", ":")).encode()).decode())
        for _ in range(5):
            self.home(home, "tunnel", "login", "--token-file", wrong,
                      expect_fail="wrong secret for login 'home'")
        self.assertFalse(os.path.exists(os.path.join(home, "login.token")))
        self.home(home, "tunnel", "login", "--token-file", self.give(home, "g.token", good),
                  expect_fail="too many failed logins from 127.0.0.1; try again in ")
        self.edge.proc.wait_for(r"login refused peer=127\.0\.0\.1 error=wrong secret")
        # Everyone else is still served: a connector of the edge's own tunnel registers.
        self.route(self.edge, "edge-own", "own.test")
        self.start_connector(self.write_token(tunnel_token),
                             url="http://127.0.0.1:%d" % self.origin_port, ha=1)
        self.assertBody(self.get(self.edge, "/hello", "own.test"), 200,
                        b"hello from home path=/hello\n")


if __name__ == "__main__":
    harness.main()
