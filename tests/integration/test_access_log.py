#!/usr/bin/env python3
"""The access log of the edge and the connector: one line per request with what the issue
names (time, client, host, method, path, status, bytes, duration, tunnel, upstream time), as
JSON or in the combined format; SIGUSR1 reopens the file after logrotate moved it; a client
that leaves before its answer is 499; bad flags are refused before anything starts."""

import json
import os
import re
import signal
import socket
import time

import harness

COMBINED = re.compile(
    r'^(?P<client>\S+) - - \[(?P<time>\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000)\] '
    r'"(?P<method>\S+) (?P<path>\S+) (?P<proto>HTTP/[\d.]+)" (?P<status>\d{3}) (?P<bytes>\d+) '
    r'"(?P<referer>[^"]*)" "(?P<ua>[^"]*)" "(?P<host>[^"]*)" "(?P<tunnel>[^"]*)" '
    r'(?P<duration>[\d.]+)ms (?P<upstream>[\d.]+ms|-)$')


class AccessLogTest(harness.BurrowTestCase):
    def json_lines(self, path, want, what):
        """Waits until PATH holds lines for which want(lines) holds; returns the parsed lines."""
        got = {}

        def check():
            try:
                with open(path) as f:
                    got["lines"] = [json.loads(l) for l in f.read().splitlines()]
            except FileNotFoundError:
                return False
            return want(got["lines"])

        harness.poll(check, 10, what=what)
        return got["lines"]

    def test_edge_json_lines_and_reopen_on_sigusr1(self):
        origin, origin_port = self.start_origin()
        log = self.path("access.log")
        edge = self.start_edge(extra=["--access-log", log, "--access-log-format", "json"])
        token = self.create_tunnel(edge, "app", ["app.test"])
        self.reload_edge(edge, "app.test")
        self.start_connector(self.write_token(token), url="http://127.0.0.1:%d" % origin_port,
                             ha=2)
        self.assertEqual(os.stat(log).st_mode & 0o777, 0o640)
        before = time.time()
        r = self.get(edge, "/hello?x=1", "app.test",
                     headers={"User-Agent": "probe/1.0", "Referer": "https://ref.test/"})
        self.assertBody(r, 200)
        self.assertBody(self.get(edge, "/status/418", "app.test"), 418)
        self.assertBody(self.get(edge, "/nothing", "unrouted.test"), 404)
        lines = self.json_lines(log, lambda ls: any(l["host"] == "unrouted.test" for l in ls),
                                "three request lines")
        hello = [l for l in lines if l["path"] == "/hello?x=1"]
        self.assertEqual(len(hello), 1, lines)
        h = hello[0]
        self.assertEqual(list(h), ["time", "client", "host", "method", "path", "protocol",
                                   "status", "bytes", "duration_ms", "tunnel", "upstream_ms",
                                   "user_agent", "referer"])
        self.assertEqual((h["client"], h["host"], h["method"], h["protocol"], h["status"]),
                         ("127.0.0.1", "app.test", "GET", "HTTP/1.1", 200))
        self.assertEqual(h["bytes"], len(r.body))
        self.assertEqual((h["tunnel"], h["user_agent"], h["referer"]),
                         ("app", "probe/1.0", "https://ref.test/"))
        self.assertGreater(h["upstream_ms"], 0)
        self.assertGreaterEqual(h["duration_ms"], h["upstream_ms"])
        stamp = time.mktime(time.strptime(h["time"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        self.assertLess(abs(stamp - before), 5, h["time"])
        self.assertTrue(h["time"].endswith("Z"), h["time"])
        teapot = [l for l in lines if l["path"] == "/status/418"][0]
        self.assertEqual(teapot["status"], 418)
        miss = [l for l in lines if l["host"] == "unrouted.test"][0]
        self.assertEqual(miss["status"], 404)
        self.assertIsNone(miss["tunnel"])
        self.assertIsNone(miss["upstream_ms"])

        # logrotate: move the file, SIGUSR1, and new lines go to a new file at the same path.
        os.rename(log, log + ".1")
        self.assertBody(self.get(edge, "/hello?before-reopen", "app.test"), 200)
        # The line is written once the answer is out, so the client can see its 200 first:
        # wait for it in the moved file before reopening (an ASan CI run saw it in the new one).
        self.json_lines(log + ".1", lambda ls: ls[-1]["path"] == "/hello?before-reopen",
                        "the line before the reopen")
        edge.proc.send(signal.SIGUSR1)
        edge.proc.wait_for(r"SIGUSR1: access log reopened")
        self.assertBody(self.get(edge, "/hello?after-reopen", "app.test"), 200)
        new = self.json_lines(log, lambda ls: len(ls) >= 1, "a line in the new file")
        self.assertEqual([l["path"] for l in new], ["/hello?after-reopen"])
        old = self.json_lines(log + ".1", lambda ls: len(ls) >= 4, "the old file")
        self.assertEqual(old[-1]["path"], "/hello?before-reopen")

    def test_edge_combined_to_stdout_and_a_client_that_left(self):
        origin, origin_port = self.start_origin()
        edge = self.start_edge(extra=["--access-log", "-"])
        token = self.create_tunnel(edge, "app", ["app.test"])
        self.reload_edge(edge, "app.test")
        self.start_connector(self.write_token(token), url="http://127.0.0.1:%d" % origin_port,
                             ha=1)
        self.assertBody(self.get(edge, '/hello?q="x"', "app.test",
                                 headers={"User-Agent": 'ua "quoted"'}), 200)
        # A client that sends a request and leaves before the answer's head: 499.
        s = socket.create_connection(("127.0.0.1", edge.http_port))
        s.sendall(b"GET /slow?ms=1500 HTTP/1.1\r\nHost: app.test\r\n\r\n")
        time.sleep(0.3)
        s.close()
        # Beside it, a well-behaved client is served and logged.
        self.assertBody(self.get(edge, "/hello?beside", "app.test"), 200)
        m = edge.proc.wait_for(r'(?m)^.*"GET /slow\?ms=1500 HTTP/1.1" 499 .*$', stream="stdout")
        lines = [l for l in edge.proc.read("stdout").splitlines() if l]
        for l in lines:
            self.assertRegex(l, COMBINED)
        hello = [COMBINED.match(l) for l in lines if "/hello?q=" in l]
        self.assertEqual(len(hello), 1, lines)
        h = hello[0]
        self.assertEqual(h["path"], "/hello?q=\\x22x\\x22")
        self.assertEqual(h["ua"], "ua \\x22quoted\\x22")
        self.assertEqual((h["client"], h["method"], h["status"], h["host"], h["tunnel"]),
                         ("127.0.0.1", "GET", "200", "app.test", "app"))
        self.assertNotEqual(h["upstream"], "-")
        self.assertTrue(any("/hello?beside" in l for l in lines))
        slow = COMBINED.match(m.group(0))
        self.assertEqual(slow["bytes"], "0")

        # Heads refused before routing are logged too, with no method or path: malformed
        # (400), too large (431), a bad Host (400, with its page).
        for raw in (b"GARBAGE\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost: app.test\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost: bad host\r\n\r\n"):
            with socket.create_connection(("127.0.0.1", edge.http_port), timeout=10) as c:
                c.sendall(raw)
                c.recv(4096)
        edge.proc.wait_for(r'(?m)^.*"- - HTTP/1.1" 431 ', stream="stdout")
        refused = [COMBINED.match(l) for l in edge.proc.read("stdout").splitlines()
                   if '"- - HTTP/1.1"' in l]
        self.assertEqual(sorted(r["status"] for r in refused), ["400", "400", "431"], refused)
        for r in refused:
            self.assertEqual((r["client"], r["tunnel"], r["upstream"]), ("127.0.0.1", "-", "-"))
        self.assertBody(self.get(edge, "/hello?after-refusals", "app.test"), 200)

    def test_connector_json_lines(self):
        origin, origin_port = self.start_origin()
        edge = self.start_edge()
        token = self.create_tunnel(edge, "app", ["app.test", "other.test"])
        self.reload_edge(edge, "app.test")
        config = self.write_file("config.yml", "ingress:\n"
                                 "  - hostname: app.test\n    service: http://127.0.0.1:%d\n"
                                 "  - service: http_status:404\n" % origin_port)
        log = self.path("connector-access.log")
        conn = self.start_connector(self.write_token(token), config=config, ha=1,
                                    extra=["--access-log", log, "--access-log-format", "json"])
        r = self.get(edge, "/bytes/3000", "app.test", headers={"User-Agent": "probe/2"})
        self.assertBody(r, 200)
        self.assertBody(self.get(edge, "/x", "other.test"), 404)
        lines = self.json_lines(log, lambda ls: len(ls) >= 2, "two lines from the connector")
        app = [l for l in lines if l["host"] == "app.test"][0]
        # The client's address as the edge saw it, not the edge's own connection.
        self.assertEqual((app["client"], app["method"], app["path"], app["status"],
                          app["bytes"], app["user_agent"], app["protocol"]),
                         ("127.0.0.1", "GET", "/bytes/3000", 200, 3000, "probe/2", "HTTP/2.0"))
        self.assertRegex(app["tunnel"], r"^[0-9a-f-]{36}$")
        self.assertGreater(app["upstream_ms"], 0)
        other = [l for l in lines if l["host"] == "other.test"][0]
        self.assertEqual(other["status"], 404)
        conn.send(signal.SIGUSR1)
        conn.wait_for(r"SIGUSR1: access log reopened")

    def test_bad_flags_are_refused(self):
        state = self.path("state")
        for args, message in [
            (["--access-log", "-", "--access-log-format", "common"],
             "unknown access log format 'common' (json or combined)"),
            (["--access-log-format", "json"], "--access-log-format needs --access-log"),
            (["--access-log", self.path("missing", "access.log")],
             "cannot open the access log %s" % self.path("missing", "access.log")),
        ]:
            r = self.burrow("edge", "--state-dir", state, "--http", "127.0.0.1:0", "--tunnel",
                            "127.0.0.1:0", *args, timeout=10)
            self.assertNotEqual(r.returncode, 0, args)
            self.assertIn(message, r.stderr, args)
            self.assertNotIn("edge ready", r.stderr)
        made = self.burrow("edge", "tunnel", "create", "app", "--state-dir", state, "--endpoint",
                           "127.0.0.1:9", check=True)
        token = self.write_token(made.stdout.strip())
        for args, message in [
            (["--access-log", "-", "--access-log-format", "xml"],
             "unknown access log format 'xml' (json or combined)"),
            (["--access-log-format", "json"], "--access-log-format needs --access-log"),
        ]:
            r = self.burrow("tunnel", "run", "--token-file", token, "--url", "http://127.0.0.1:9",
                            *args, timeout=10)
            self.assertNotEqual(r.returncode, 0, args)
            self.assertIn(message, r.stderr, args)
            self.assertNotIn("connector starting", r.stderr)


if __name__ == "__main__":
    harness.main()
