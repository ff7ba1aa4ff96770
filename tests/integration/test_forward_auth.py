#!/usr/bin/env python3
"""Traefik's forwardAuth middleware through a real edge and connector, with curl.

One edge, one connector, one test origin (which echoes the headers it received), and an
authentication server of the test's own (http.server in a thread) that records every request
it gets and answers by its path: 200 with identity headers, 401, 302 or 403 with a body. Checks
Traefik's header semantics as the server received them (X-Forwarded-*, hop-by-hop headers
stripped, a forged X-Forwarded-For replaced unless trustForwardHeader, authRequestHeaders),
authResponseHeaders copied onto the request with the client's forged copies removed, the
server's refusals returned as they are, a server that is down or never answers refused with 500
(after the timeout, while another route is still served), and `burrow auth` as the server:
302 to the portal without a session, the origin with Remote-User after logging in.
"""

import http.server
import json
import socket
import subprocess
import threading
import time
import unittest
import urllib.parse

import harness

BCRYPT_ALICE = "$2y$05$TD6zXnPpDgmGr2nkRE1aOukIgBQ.L72MNxHXiaWFNFlv6va2ZNL9e"  # battery staple
DOMAIN = "example.test"
PORTAL = "http://auth.example.test"
TIMEOUT = 10  # config::kForwardAuthTimeout

CONFIG = """\
middlewares:
  plain: {{forwardAuth: {{address: 'http://127.0.0.1:{auth}/allow?k=v',
                          authResponseHeaders: [Remote-User, Remote-Groups],
                          authResponseHeadersRegex: '^X-Auth-'}}}}
  trusting: {{forwardAuth: {{address: 'http://127.0.0.1:{auth}/allow', trustForwardHeader: true}}}}
  picky: {{forwardAuth: {{address: 'http://127.0.0.1:{auth}/allow',
                          authRequestHeaders: [Cookie, X-Keep]}}}}
  refuse401: {{forwardAuth: {{address: 'http://127.0.0.1:{auth}/401'}}}}
  refuse403: {{forwardAuth: {{address: 'http://127.0.0.1:{auth}/403'}}}}
  login: {{forwardAuth: {{address: 'http://127.0.0.1:{auth}/login/302'}}}}
  keep-location: {{forwardAuth: {{address: 'http://127.0.0.1:{auth}/login/302',
                                  preserveLocationHeader: true}}}}
  down: {{forwardAuth: {{address: 'http://127.0.0.1:{down}/'}}}}
  silent: {{forwardAuth: {{address: 'http://127.0.0.1:{silent}/'}}}}
  sec: {{headers: {{frameDeny: true}}}}
  strip: {{stripPrefix: {{prefixes: [/api]}}}}
  portal:
    forwardAuth:
      address: 'http://127.0.0.1:{portal}/api/authz/forward-auth'
      trustForwardHeader: true
      authResponseHeaders: [Remote-User, Remote-Groups, Remote-Name, Remote-Email]
ingress:
  - hostname: plain.test
    service: http://127.0.0.1:{origin}
    middlewares: [strip, plain]
  - hostname: trusting.test
    service: http://127.0.0.1:{origin}
    middlewares: [trusting]
  - hostname: picky.test
    service: http://127.0.0.1:{origin}
    middlewares: [picky]
  - hostname: r401.test
    service: http://127.0.0.1:{origin}
    middlewares: [sec, refuse401]
  - hostname: r403.test
    service: http://127.0.0.1:{origin}
    middlewares: [refuse403]
  - hostname: login.test
    service: http://127.0.0.1:{origin}
    middlewares: [login]
  - hostname: keep.test
    service: http://127.0.0.1:{origin}
    middlewares: [keep-location]
  - hostname: down.test
    service: http://127.0.0.1:{origin}
    middlewares: [down]
  - hostname: silent.test
    service: http://127.0.0.1:{origin}
    middlewares: [silent]
  - hostname: open.test
    service: http://127.0.0.1:{origin}
  - hostname: app.{domain}
    service: http://127.0.0.1:{origin}
    middlewares: [portal]
  - hostname: guarded.{domain}
    service: http://127.0.0.1:{origin}
    originRequest:
      access: {{required: true, portal: 'http://127.0.0.1:{portal}'}}
  - service: http_status:404
"""

HOSTS = ["plain.test", "trusting.test", "picky.test", "r401.test", "r403.test", "login.test",
         "keep.test", "down.test", "silent.test", "open.test", "app." + DOMAIN,
         "guarded." + DOMAIN]

PORTAL_CONFIG = """
server:
  address: 'tcp://127.0.0.1:{port}/'
session:
  cookies:
    - domain: '{domain}'
      authelia_url: '{portal}'
authentication_backend:
  file:
    path: '{users}'
access_control:
  default_policy: deny
  rules:
    - domain: '*.{domain}'
      policy: one_factor
"""


class AuthServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__((harness.LOOPBACK, 0), AuthHandler)
        self.seen = []  # (path, [(name, value), ...] as received), in order
        self.lock = threading.Lock()

    def last(self):
        with self.lock:
            return self.seen[-1]


class AuthHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Traefik's client and burrow's pool use it

    def log_message(self, *args):
        pass

    def do_GET(self):
        with self.server.lock:
            self.server.seen.append((self.path, list(self.headers.items())))
        path = self.path.split("?")[0]
        if path == "/allow":
            self.answer(200, [("Remote-User", "alice"), ("Remote-Groups", "admins,dev"),
                              ("X-Auth-Id", "7"), ("X-Other", "not copied"),
                              ("Set-Cookie", "auth=1")], b"ok")
        elif path == "/401":
            self.answer(401, [("WWW-Authenticate", 'Basic realm="fwd"'),
                              ("Set-Cookie", "tried=1"), ("Content-Type", "text/plain")],
                        b"who are you?\n")
        elif path == "/403":
            self.answer(403, [("Content-Type", "application/json")], b'{"status":"KO"}')
        elif path == "/login/302":
            self.answer(302, [("Location", "signin?next=1"), ("Set-Cookie", "flow=abc")],
                        b"go log in")
        else:
            self.answer(404, [], b"")

    def answer(self, status, headers, body):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ForwardAuthTest(harness.BurrowTestCase):
    def setUp(self):
        super().setUp()
        self.server = AuthServer()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)
        # Accepts connections and never answers them.
        self.silent = socket.socket()
        self.silent.bind((harness.LOOPBACK, 0))
        self.silent.listen(16)
        self.addCleanup(self.silent.close)
        # The real portal, with one user.
        with open(self.path("users_database.yml"), "w") as f:
            f.write("users:\n  alice:\n    displayname: Alice\n    password: '%s'\n"
                    "    email: alice@example.test\n    groups: [admins]\n" % BCRYPT_ALICE)
        with open(self.path("session_secret"), "w") as f:
            f.write("a-long-random-session-secret-for-tests\n")
        self.portal_port = harness.free_port()
        self.write_file("configuration.yml", PORTAL_CONFIG.format(
            port=self.portal_port, domain=DOMAIN, portal=PORTAL,
            users=self.path("users_database.yml")))
        self.portal = self.spawn("auth", [harness.BURROW, "auth", "--config",
                                          self.path("configuration.yml")],
                                 env=harness.clean_env({
                                     "AUTHELIA_SESSION_SECRET_FILE": self.path("session_secret")}))
        self.portal.wait_for(r"auth listening address=127\.0\.0\.1:%d" % self.portal_port)
        _, origin = self.start_origin("A")
        config = CONFIG.format(auth=self.server.server_address[1], down=harness.free_port(),
                               silent=self.silent.getsockname()[1], portal=self.portal_port,
                               origin=origin, domain=DOMAIN)
        self.edge, self.conn = self.tunnel_to_origin(HOSTS, config_text=config)

    def fetch(self, host, path, *args, source="127.0.0.1"):
        """curl through the edge: (status, [(lowercase name, value)], body)."""
        url = "http://%s:%d%s" % (harness.LOOPBACK, self.edge.http_port, path)
        r = self.curl("-D", "-", "--interface", source, "-H", "Host: " + host, *args, url)
        self.assertEqual(r.returncode, 0, r.stderr)
        head, _, body = r.stdout.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip().lower(), value.strip()))
        return int(lines[0].split()[1]), headers, body

    def echoed(self, host, path, *args, **kw):
        status, _, body = self.fetch(host, path, *args, **kw)
        self.assertEqual(status, 200, body)
        return json.loads(body)

    @staticmethod
    def values(headers, name):
        return [v for n, v in headers if n == name]

    def test_request_to_the_server_as_traefik_sends_it(self):
        seen = self.echoed("plain.test", "/api/headers?x=1", "-H", "Cookie: s=1",
                           "-H", "X-Forwarded-For: 6.6.6.6", "-H", "X-Forwarded-Uri: /forged",
                           "-H", "X-Forwarded-Method: DELETE", "-H", "X-Forwarded-Port: 1",
                           "-H", "Connection: keep-alive, X-Hop", "-H", "X-Hop: 1",
                           "-H", "Keep-Alive: timeout=5", "-H", "TE: trailers",
                           "-H", "Proxy-Authorization: Basic eDp5",
                           "-H", "Accept: text/html")
        path, got = self.server.last()
        self.assertEqual(path, "/allow?k=v")
        auth_port = self.server.server_address[1]
        names = [n.lower() for n, _ in got]
        for hop in ("connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade",
                    "proxy-authorization", "x-hop", "content-length"):
            self.assertNotIn(hop, names)
        # The client's headers (burrow's view: lowercase names), then X-Forwarded-*.
        self.assertEqual(got, [
            ("host", "127.0.0.1:%d" % auth_port),
            ("user-agent", got[1][1]),
            ("cookie", "s=1"),
            ("accept", "text/html"),
            ("cf-connecting-ip", "127.0.0.1"),
            ("x-forwarded-prefix", "/api"),  # stripPrefix's, as Traefik passes it on
            ("x-forwarded-for", "127.0.0.1"),
            ("x-forwarded-method", "GET"),
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "plain.test"),
            # After stripPrefix, as Traefik's X-Forwarded-Uri is the request as it stands.
            ("x-forwarded-uri", "/headers?x=1"),
            ("x-forwarded-port", "80"),
        ])

    def test_trust_forward_header_keeps_the_clients_copies(self):
        self.echoed("trusting.test", "/headers", "-H", "X-Forwarded-For: 6.6.6.6",
                    "-H", "X-Forwarded-Uri: /claimed", "-H", "X-Forwarded-Method: PUT",
                    "-H", "X-Forwarded-Port: 8443")
        _, got = self.server.last()
        fwd = [(n, v) for n, v in got if n.startswith("x-forwarded-")]
        self.assertEqual(fwd, [
            ("x-forwarded-for", "6.6.6.6, 127.0.0.1"),
            ("x-forwarded-method", "PUT"),
            ("x-forwarded-proto", "http"),  # set by the edge: the client's copy never arrives
            ("x-forwarded-host", "trusting.test"),
            ("x-forwarded-uri", "/claimed"),
            ("x-forwarded-port", "8443"),
        ])
        # Without the client's copies, the request's own values.
        self.echoed("trusting.test", "/headers?a=b", "-X", "GET")
        _, got = self.server.last()
        fwd = dict((n, v) for n, v in got if n.startswith("x-forwarded-"))
        self.assertEqual(fwd["x-forwarded-for"], "127.0.0.1")
        self.assertEqual(fwd["x-forwarded-uri"], "/headers?a=b")

    def test_auth_request_headers_filter(self):
        self.echoed("picky.test", "/headers", "-H", "Cookie: s=1", "-H", "X-Keep: k",
                    "-H", "X-Drop: d", "-H", "Authorization: Bearer t")
        _, got = self.server.last()
        self.assertEqual([n for n, _ in got],
                         ["host", "cookie", "x-keep", "x-forwarded-for", "x-forwarded-method",
                          "x-forwarded-proto", "x-forwarded-host", "x-forwarded-uri",
                          "x-forwarded-port"])

    def test_2xx_passes_with_auth_response_headers(self):
        seen = self.echoed("plain.test", "/headers", "-H", "Remote-User: mallory",
                           "-H", "X-Auth-Role: admin", "-H", "Remote-Groups: root",
                           "-H", "X-Other: mine")
        self.assertEqual(seen.get("remote-user"), "alice")
        self.assertEqual(seen.get("remote-groups"), "admins,dev")
        self.assertEqual(seen.get("x-auth-id"), "7")
        self.assertNotIn("x-auth-role", seen)  # the client's forged copy matched the regex
        self.assertEqual(seen.get("x-other"), "mine")  # not named: the client's stays
        # The server's answer never reaches the client: the origin's does.
        status, headers, body = self.fetch("plain.test", "/hello")
        self.assertEqual((status, body), (200, b"hello from A path=/hello\n"))
        self.assertEqual(self.values(headers, "set-cookie"), [])

    def test_refusals_go_back_as_they_are(self):
        status, headers, body = self.fetch("r401.test", "/hello")
        self.assertEqual((status, body), (401, b"who are you?\n"))
        self.assertEqual(self.values(headers, "www-authenticate"), ['Basic realm="fwd"'])
        self.assertEqual(self.values(headers, "set-cookie"), ["tried=1"])
        self.assertEqual(self.values(headers, "content-type"), ["text/plain"])
        self.assertEqual(self.values(headers, "x-frame-options"), ["DENY"])  # sec ran before
        self.assertEqual(self.values(headers, "x-origin"), [])
        status, headers, body = self.fetch("r403.test", "/hello", "-X", "POST", "-d", "x=1")
        self.assertEqual((status, body), (403, b'{"status":"KO"}'))
        self.assertEqual(self.values(headers, "content-type"), ["application/json"])
        # A relative Location is made absolute against the server's address...
        status, headers, body = self.fetch("login.test", "/hello")
        self.assertEqual((status, body), (302, b"go log in"))
        self.assertEqual(self.values(headers, "location"), [
            "http://127.0.0.1:%d/login/signin?next=1" % self.server.server_address[1]])
        self.assertEqual(self.values(headers, "set-cookie"), ["flow=abc"])
        # ... unless preserveLocationHeader.
        _, headers, _ = self.fetch("keep.test", "/hello")
        self.assertEqual(self.values(headers, "location"), ["signin?next=1"])

    def test_server_down_or_silent_is_500_never_through(self):
        status, headers, _ = self.fetch("down.test", "/hello")
        self.assertEqual(status, 500)
        self.assertEqual(self.values(headers, "x-origin"), [])
        # A server that never answers: 500 after the timeout, and meanwhile others are served.
        got = {}

        def slow():
            start = time.monotonic()
            got["status"] = self.fetch("silent.test", "/hello")[0]
            got["took"] = time.monotonic() - start

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.5)
        for _ in range(5):
            status, _, body = self.fetch("open.test", "/hello")
            self.assertEqual((status, body), (200, b"hello from A path=/hello\n"))
            self.assertEqual(self.fetch("plain.test", "/hello")[0], 200)
        self.assertTrue(t.is_alive(), "the silent server's request ended early: %r" % got)
        t.join(TIMEOUT + 20)
        self.assertEqual(got.get("status"), 500)
        self.assertGreaterEqual(got["took"], TIMEOUT - 1)
        self.assertLess(got["took"], TIMEOUT + 10)

    def test_burrow_auth_portal(self):
        # Named as a forwardAuth middleware, and as cloudflared's access: {required: true}.
        cookie = None
        for host in ("app." + DOMAIN, "guarded." + DOMAIN):
            status, headers, _ = self.fetch(host, "/headers?x=1", "-H", "Accept: text/html")
            self.assertEqual(status, 302, host)
            target = urllib.parse.quote("http://%s/headers?x=1" % host, safe="")
            self.assertEqual(self.values(headers, "location"),
                             ["%s/?rd=%s&rm=GET" % (PORTAL, target)])
            if cookie is None:
                cookie = self.log_in()
            seen = self.echoed(host, "/headers", "-H", "Cookie: " + cookie,
                               "-H", "Remote-User: mallory")
            self.assertEqual(seen.get("remote-user"), "alice", host)
            self.assertEqual(seen.get("remote-groups"), "admins")
            self.assertEqual(seen.get("remote-email"), "alice@example.test")
            # Without the cookie again: refused, and a forged Remote-User does not help.
            status, _, _ = self.fetch(host, "/headers", "-H", "Remote-User: alice",
                                      "-H", "Accept: application/json")
            self.assertEqual(status, 401, host)

    def log_in(self):
        body = json.dumps({"username": "alice", "password": "battery staple",
                           "keepMeLoggedIn": False, "targetURL": ""})
        r = self.curl("-D", "-", "-H", "Host: auth." + DOMAIN, "-H",
                      "Content-Type: application/json", "--data-binary", body,
                      "http://127.0.0.1:%d/api/firstfactor" % self.portal_port)
        self.assertEqual(r.returncode, 0, r.stderr)
        for line in r.stdout.decode().split("\r\n"):
            if line.lower().startswith("set-cookie: authelia_session="):
                return line.split(":", 1)[1].strip().split(";", 1)[0]
        self.fail(r.stdout)

    def test_ingress_rule_shows_forward_auth(self):
        r = self.burrow("tunnel", "ingress", "rule", "http://plain.test/api/x", "--config",
                        self.path("config.yml"), check=True)
        self.assertIn("\truns: strip (stripPrefix), plain (forwardAuth to http://127.0.0.1:%d"
                      "/allow?k=v)\n" % self.server.server_address[1], r.stdout)
        r = self.burrow("tunnel", "ingress", "rule", "http://guarded.%s/" % DOMAIN, "--config",
                        self.path("config.yml"), check=True)
        self.assertIn("\truns: access (forwardAuth to http://127.0.0.1:%d/api/authz/forward-auth)"
                      "\n" % self.portal_port, r.stdout)


if __name__ == "__main__":
    unittest.main()
