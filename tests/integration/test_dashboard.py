#!/usr/bin/env python3
"""The edge's dashboard (`burrow edge --admin ADDR`) in a real browser: headless Chromium
(Debian's, driven by chromedriver) against a real edge, connector and origin.

The page shows the tunnel with its live connector and hostnames, a 502 answered through it
appears among the recent errors and a deleted tunnel disappears, both without a reload (server-
sent events); with JavaScript disabled the page refreshes itself and shows the same. /api/edge
carries the same data as JSON. The admin listener refuses an address that is not loopback, a
Host that is not an address or localhost, and anything but GET/HEAD, unless a login guards it:
basic auth by an htpasswd file (--admin-users) or a real `burrow auth` portal (--admin-access),
which then answers for any Host. Screenshots are saved in
$BURROW_SCREENSHOTS (default: screenshots/ in the working directory: build/tests/ under ctest),
and the sizes of the page and its assets are printed."""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import urllib.request

import harness

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

SHOTS = os.environ.get("BURROW_SCREENSHOTS") or os.path.join(os.getcwd(), "screenshots")

CONFIG = """\
ingress:
  - hostname: app.example.test
    service: http://127.0.0.1:{origin}
  - hostname: down.example.test
    service: http://127.0.0.1:{dead}
  - service: http_status:404
"""


class DashboardTest(harness.BurrowTestCase):
    def setUp(self):
        super().setUp()
        missing = [t for t in ("chromium", "chromedriver") if shutil.which(t) is None]
        self.assertEqual(missing, [], "scripts/deps test installs them")
        os.makedirs(SHOTS, exist_ok=True)
        _, origin = self.start_origin("A")
        self.edge = self.start_edge(extra=["--admin", "127.0.0.1:0"])
        m = self.edge.proc.wait_for(r"edge ready .*admin=127\.0\.0\.1:(\d+)")
        self.admin = int(m.group(1))
        token = self.create_tunnel(self.edge, "app", ["app.example.test", "down.example.test"])
        self.reload_edge(self.edge, "app.example.test")
        config = self.write_file("config.yml", CONFIG.format(origin=origin,
                                                             dead=harness.free_port()))
        self.connector = self.start_connector(self.write_token(token), config=config, ha=1)

    def start_browser(self, javascript=True):
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-proxy-server", "--window-size=1200,900",
                    "--user-data-dir=" + self.path("chromium-%s" % javascript)):
            options.add_argument(arg)
        if not javascript:
            options.add_experimental_option(
                "prefs", {"profile.managed_default_content_settings.javascript": 2})
        service = Service(shutil.which("chromedriver"),
                          log_output=self.path("chromedriver-%s.log" % javascript))
        browser = webdriver.Chrome(service=service, options=options)
        self.addCleanup(browser.quit)
        browser.set_page_load_timeout(30 * harness.TIME_FACTOR)
        return browser

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.admin, path)

    def shot(self, browser, name):
        path = os.path.join(SHOTS, "dashboard-%s.png" % name)
        self.assertTrue(browser.save_screenshot(path), path)
        self.assertGreater(os.path.getsize(path), 1000, path)

    def wait(self, browser, cond, what, timeout=15):
        WebDriverWait(browser, timeout * harness.TIME_FACTOR).until(cond, what)

    # Read in one script: the live page swaps <main> whole, so an element found in one call
    # may be gone (stale) by the next.
    def text_of(self, browser, selector):
        text = browser.execute_script(
            "var e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
            selector)
        return None if text is None else text.replace("\t", " ")

    def row_text(self, browser, tunnel):
        return self.text_of(browser, "tr[data-tunnel='%s']" % tunnel)

    def test_live_page_in_a_browser(self):
        b = self.start_browser()
        b.get(self.url())
        self.assertEqual(b.title, "burrow edge")
        # The tunnel, its connector (the edge saw it from loopback) and its hostnames.
        self.wait(b, lambda b: "127.0.0.1:" in (self.row_text(b, "app") or ""),
                  "the connector shows on the page")
        row = self.row_text(b, "app")
        self.assertIn("app.example.test", row)
        self.assertIn("down.example.test", row)
        self.assertIn("#0", row)
        version = self.burrow("--version", check=True).stdout.split(" (")[0]
        self.assertRegex(version, r"^burrow \d+\.\d+\.\d+$")
        self.assertIn(version, row)  # the connector's, as it registered
        routes = self.text_of(b, "#routes")
        self.assertIn("app.example.test app http", routes)
        self.shot(b, "1-edge")
        # A mark the page keeps only as long as it is not reloaded.
        b.execute_script("window.burrowMark = 42;")
        # A 502 (the origin of down.example.test is not there) and a good answer.
        r = harness.http_request(self.edge.http_port, "/x?y=1", host="down.example.test")
        self.assertEqual(r.status, 502)
        r = harness.http_request(self.edge.http_port, "/hello", host="app.example.test")
        self.assertEqual(r.status, 200)
        self.wait(b, lambda b: "down.example.test/x?y=1" in (self.text_of(b, "#errors") or ""),
                  "the 502 shows among the recent errors")
        line = [l for l in (self.text_of(b, "#errors") or "").splitlines()
                if "down.example.test/x?y=1" in l][0]
        self.assertRegex(line, r" app 502 GET down\.example\.test/x\?y=1 127\.0\.0\.1$")
        self.assertEqual(b.execute_script("return window.burrowMark;"), 42, "the page reloaded")
        self.assertIn("live", self.text_of(b, "#live"))
        # Counted for the tunnel: two 502s so far (the probe before the connector came, and
        # this one) in the last hour.
        self.wait(b, lambda b: self.text_of(b, "tr[data-tunnel='app'] td.n.bad") == "2",
                  "the tunnel's errors in the last hour")
        self.shot(b, "2-error")
        # The tunnel deleted: its row goes, live.
        self.burrow("edge", "tunnel", "delete", "app", "--state-dir", self.edge.state_dir,
                    check=True)
        self.wait(b, lambda b: self.row_text(b, "app") is None, "the deleted tunnel disappears")
        self.assertEqual(b.execute_script("return window.burrowMark;"), 42, "the page reloaded")
        self.assertIn("No tunnels", self.text_of(b, "#tunnels"))
        self.shot(b, "3-deleted")

    def test_without_javascript_the_page_refreshes_itself(self):
        b = self.start_browser(javascript=False)
        b.get(self.url())
        self.wait(b, lambda b: "127.0.0.1:" in (self.row_text(b, "app") or ""),
                  "the connector shows on the page")
        self.assertIn("refreshes every 5 s", b.find_element(By.ID, "live").text)
        self.burrow("edge", "tunnel", "delete", "app", "--state-dir", self.edge.state_dir,
                    check=True)
        self.wait(b, lambda b: self.row_text(b, "app") is None,
                  "the deleted tunnel disappears after a refresh", timeout=20)
        self.shot(b, "4-no-javascript")

    def get(self, path, host=None, method="GET"):
        req = urllib.request.Request(self.url(path), method=method)
        if host:
            req.add_header("Host", host)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def test_api_assets_and_refusals(self):
        self.connector.wait_for(r"registered", timeout=15)
        harness.poll(lambda: json.loads(self.get("/api/edge")[2])["tunnels"][0]["connections"],
                     10, what="the connection in /api/edge")
        status, headers, body = self.get("/api/edge")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/json")
        snap = json.loads(body)
        [t] = snap["tunnels"]
        self.assertEqual(t["name"], "app")
        self.assertEqual(sorted(t["hostnames"]), ["app.example.test", "down.example.test"])
        self.assertEqual(t["connections"][0]["index"], 0)
        self.assertRegex(t["connections"][0]["version"], r"^burrow \d+\.\d+\.\d+$")
        self.assertEqual(snap["listeners"]["admin"], "127.0.0.1:%d" % self.admin)
        # What `edge tunnel list` says agrees.
        listed = self.burrow("edge", "tunnel", "list", "--state-dir", self.edge.state_dir,
                             check=True).stdout
        self.assertIn(t["id"], listed)
        # The page and its assets: served from the binary, nothing from elsewhere.
        sizes = {}
        for path in ("/", "/assets/dashboard.css", "/assets/dashboard.js"):
            status, headers, body = self.get(path)
            self.assertEqual(status, 200, path)
            self.assertIn("default-src 'none'", headers["Content-Security-Policy"])
            self.assertNotIn(b"http://", body.replace(b"http://127.0.0.1", b""))
            self.assertNotIn(b"https://", body)
            sizes[path] = len(body)
        print("dashboard sizes (bytes): page %d, css %d, js %d; total %d"
              % (sizes["/"], sizes["/assets/dashboard.css"], sizes["/assets/dashboard.js"],
                 sum(sizes.values())))
        # Read-only, and only for loopback names (DNS rebinding).
        self.assertEqual(self.get("/", method="POST")[0], 405)
        self.assertEqual(self.get("/", host="evil.example:%d" % self.admin)[0], 421)
        self.assertEqual(self.get("/", host="localhost:%d" % self.admin)[0], 200)
        self.assertEqual(self.get("/nothing")[0], 404)

    def test_admin_address_must_be_loopback(self):
        for addr in ("0.0.0.0:0", "[::]:0", "192.0.2.1:9000"):
            r = self.burrow("edge", "--state-dir", self.path("other"), "--tunnel", "127.0.0.1:0",
                            "--http", "127.0.0.1:0", "--admin", addr)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("--admin %s: not a loopback address, and the dashboard has no login of "
                          "its own: give --admin-users FILE" % addr, r.stderr)
            self.assertNotIn("edge ready", r.stderr)


def sha1_line(user, password):
    """An htpasswd line as `htpasswd -nbs` writes it."""
    digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
    return "%s:{SHA}%s\n" % (user, digest)


def curl(*args):
    """(status, headers with lower-case names, body) of one curl request."""
    r = subprocess.run(["curl", "-sS", "--noproxy", "*", "-D", "-", "--max-time", "10", *args],
                       capture_output=True, timeout=20, env=harness.clean_env())
    assert r.returncode == 0, r.stderr
    head, _, body = r.stdout.decode().partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


class DashboardLoginTest(harness.BurrowTestCase):
    """--admin-users and --admin-access: the login that lets --admin leave loopback."""

    def edge_with(self, *login):
        edge = self.start_edge(extra=["--admin", "127.0.0.1:0", *login])
        m = edge.proc.wait_for(r"edge ready .*admin=127\.0\.0\.1:(\d+)")
        return "http://127.0.0.1:%s" % m.group(1)

    def test_basic_auth_by_an_htpasswd_file(self):
        users = self.write_file("admins", "# who may look\n" + sha1_line("alice", "s3cret"))
        url = self.edge_with("--admin-users", users)
        status, headers, body = curl(url + "/")
        self.assertEqual(status, 401, body)
        self.assertEqual(headers["www-authenticate"], 'Basic realm="burrow"')
        self.assertNotIn("tunnels", body)
        self.assertEqual(curl("-u", "alice:wrong", url + "/api/edge")[0], 401)
        self.assertEqual(curl("-u", "mallory:s3cret", url + "/api/edge")[0], 401)
        status, headers, body = curl("-u", "alice:s3cret", url + "/api/edge")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["tunnels"], [])
        # Logged in, the page answers for any name the address is reached by (the loopback
        # Host check guards only a page without a login).
        status, _, body = curl("-u", "alice:s3cret", "-H", "Host: dash.example.test", url + "/")
        self.assertEqual(status, 200, body)
        self.assertIn("<title>", body)
        self.assertEqual(curl("-H", "Host: dash.example.test", url + "/")[0], 401)

    def test_burrow_auth_decides_by_its_session(self):
        bcrypt = "$2y$05$TD6zXnPpDgmGr2nkRE1aOukIgBQ.L72MNxHXiaWFNFlv6va2ZNL9e"  # battery staple
        users = self.write_file("users_database.yml", (
            "users:\n"
            "  alice: {displayname: Alice, password: '%s', groups: [admins]}\n"
            "  bob: {displayname: Bob, password: '%s', groups: [users]}\n") % (bcrypt, bcrypt))
        secret = self.write_file("session_secret", "a-long-random-session-secret-for-tests\n")
        port = harness.free_port()
        config = self.write_file("configuration.yml", """
server: {address: 'tcp://127.0.0.1:%d/'}
session:
  cookies:
    - {domain: example.test, authelia_url: 'http://auth.example.test'}
authentication_backend: {file: {path: '%s'}}
access_control:
  default_policy: deny
  rules:
    - {domain: dash.example.test, subject: 'group:admins', policy: one_factor}
storage: {encryption_key: a-storage-encryption-key-for-tests, local: {path: '%s'}}
""" % (port, users, self.path("db.sqlite3")))
        auth = self.spawn("auth", [harness.BURROW, "auth", "--config", config],
                          env=harness.clean_env({"AUTHELIA_SESSION_SECRET_FILE": secret}))
        auth.wait_for(r"auth listening address=127\.0\.0\.1:%d" % port)
        url = self.edge_with("--admin-access", "http://127.0.0.1:%d" % port)
        page = ["-H", "Host: dash.example.test", "-H", "Accept: text/html", url + "/"]
        # No session: the portal sends the browser to its login, back to the page after.
        status, headers, body = curl(*page)
        self.assertEqual(status, 302, body)
        self.assertTrue(headers["location"].startswith("http://auth.example.test/?rd=http"),
                        headers)
        self.assertNotIn("tunnels", body)

        def login(user):
            status, headers, body = curl(
                "-H", "Host: auth.example.test", "-H", "Content-Type: application/json",
                "--data-binary", json.dumps({"username": user, "password": "battery staple"}),
                "http://127.0.0.1:%d/api/firstfactor" % port)
            self.assertEqual(status, 200, body)
            return headers["set-cookie"].split(";", 1)[0]

        status, _, body = curl("-H", "Cookie: " + login("alice"), *page)
        self.assertEqual(status, 200, body)
        self.assertIn("<title>", body)
        # Logged in, but not one the rule lets in.
        self.assertEqual(curl("-H", "Cookie: " + login("bob"), *page)[0], 403)
        # The portal gone: nobody gets in, rather than everybody.
        auth.stop()
        self.assertEqual(curl(*page)[0], 500)

    def test_login_flags_and_their_errors(self):
        users = self.write_file("admins", sha1_line("alice", "s3cret") + "bob\n")
        for extra, says in (
                (["--admin-users", users], "--admin-users %s:2: expected user:hash" % users),
                (["--admin-users", self.path("none")], "--admin-users " + self.path("none")),
                (["--admin-access", "unix:/run/auth.sock"],
                 "--admin-access unix:/run/auth.sock: expected the http:// or https:// address"),
        ):
            r = self.burrow("edge", "--state-dir", self.path("other"), "--tunnel", "127.0.0.1:0",
                            "--http", "127.0.0.1:0", "--admin", "127.0.0.1:0", *extra)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(says, r.stderr)
            self.assertNotIn("edge ready", r.stderr)
        r = self.burrow("edge", "--state-dir", self.path("other"), "--tunnel", "127.0.0.1:0",
                        "--http", "127.0.0.1:0", "--admin-access", "http://127.0.0.1:9091")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("--admin-access: the dashboard's login needs --admin ADDR", r.stderr)


if __name__ == "__main__":
    harness.main()
