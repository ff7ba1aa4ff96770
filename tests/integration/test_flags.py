#!/usr/bin/env python3
"""Flags and config keys not exercised elsewhere: --log-level, --version, `quick --listen`,
the connector's `token-file:`, `ha-connections:` and `grace-period:` config keys (with
the command line winning over the file), and `originRequest.disableChunkedEncoding`."""

import hashlib
import os
import http.client
import json

import re
import signal
import threading
import time

import harness


class FlagsTest(harness.BurrowTestCase):
    def test_version_and_bad_log_level(self):
        r = self.burrow("--version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^burrow \d+\.\d+\.\d+ \(OpenSSL 3\.\d+\.\d+ ")
        r = self.burrow("--log-level", "loud", "tunnel", "ingress", "validate", "--url",
                        "http://127.0.0.1:9")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown level 'loud'", r.stderr)

    def test_log_level_debug_shows_route_misses_and_off_is_silent(self):
        edge = self.start_edge(extra=())
        # The default level (info) does not log route misses...
        self.get(edge, "/", "nobody.test")
        self.assertNotIn("route miss", edge.proc.read())
        edge.proc.stop()
        # ...debug does, and off prints nothing at all.
        dbg = self.spawn("edge-debug", [harness.BURROW, "--log-level", "debug", "edge",
                                        "--state-dir", self.path("s2"), "--http",
                                        "127.0.0.1:0", "--tunnel", "127.0.0.1:0"])
        line = dbg.wait_for(r"edge ready[^\n]*").group(0)
        port = int(re.search(r"http=[0-9.]+:(\d+)", line).group(1))
        resp = harness.http_request(port, "/", host="nobody.test")
        self.assertEqual(resp.status, 404)
        dbg.wait_for(r"route miss host=nobody\.test")
        r = self.burrow("--log-level", "off", "edge", "tunnel", "create", "t", "--state-dir",
                        self.path("s3"), "--endpoint", "127.0.0.1:7844")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")

    def test_quick_listen_address(self):
        port = harness.free_port()
        p = self.spawn("quick", [harness.BURROW, "quick", "--listen", "127.0.0.1:%d" % port])
        p.wait_for(r"http://127\.0\.0\.1:%d/" % port, stream="stdout")
        resp = harness.http_request(port, "/", host="anything.test")
        self.assertEqual(resp.status, 200)
        self.assertIn(b"burrow is working", resp.body)

    def test_config_keys_token_file_and_ha_connections(self):
        origin, origin_port = self.start_origin()
        edge = self.start_edge()
        token = self.create_tunnel(edge, "app", ["app.test"])
        self.reload_edge(edge, "app.test")
        token_file = self.write_token(token)
        config = self.write_file("config.yml", (
            "token-file: %s\nha-connections: 2\ngrace-period: 1s\n"
            "ingress:\n  - service: http://127.0.0.1:%d\n") % (token_file, origin_port))
        conn = self.spawn("connector", [harness.BURROW, "tunnel", "run", "--config", config])
        self.wait_registered(conn, 2)
        self.assertBody(self.get(edge, "/hello", "app.test"), 200, contains=b"hello")
        time.sleep(0.5)
        self.assertEqual(conn.count(r"connection registered"), 2)
        conn.stop()
        # --ha-connections on the command line wins over the file, even when it says 4.
        conn2 = self.spawn("connector-flag", [harness.BURROW, "tunnel", "run", "--config",
                                              config, "--ha-connections", "4"])
        self.wait_registered(conn2, 4)

    def test_state_dir_holds_the_connectors_config_and_token(self):
        state = self.path("state")
        os.makedirs(state, mode=0o700)
        r = self.burrow("tunnel", "run", "--state-dir", state)
        self.assertEqual(r.returncode, 1)
        self.assertIn("give --config FILE (ingress rules) or --url URL, or put the rules in "
                      "%s/config.yml" % state, r.stderr)
        r = self.burrow("tunnel", "run", "--state-dir", state, "--url", "http://127.0.0.1:9")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no token: give --token-file FILE, set BURROW_TUNNEL_TOKEN, or put it in "
                      "%s/token" % state, r.stderr)
        origin, origin_port = self.start_origin()
        edge = self.start_edge()
        token = self.create_tunnel(edge, "app", ["app.test"])
        self.reload_edge(edge, "app.test")
        with open(os.path.join(state, "token"), "w", opener=lambda p, f: os.open(p, f, 0o600)) as f:
            f.write(token + "\n")
        with open(os.path.join(state, "config.yml"), "w") as f:
            f.write("ha-connections: 1\ningress:\n  - service: http://127.0.0.1:%d\n"
                    % origin_port)
        r = self.burrow("tunnel", "ingress", "validate", "--state-dir", state)
        self.assertEqual((r.returncode, r.stdout), (0, "OK\n"))
        conn = self.spawn("connector", [harness.BURROW, "tunnel", "run", "--state-dir", state])
        self.wait_registered(conn, 1)
        self.assertBody(self.get(edge, "/hello", "app.test"), 200, contains=b"hello")

    def test_disable_chunked_encoding(self):
        """With the key on, a body without a length gets 411 and never reaches the origin; a
        body with Content-Length goes through. Another rule without the key takes both."""
        _, origin_port = self.start_origin()
        config = (
            "ingress:\n"
            "  - hostname: wsgi.test\n    service: http://127.0.0.1:%d\n"
            "    originRequest:\n      disableChunkedEncoding: true\n"
            "  - hostname: app.test\n    service: http://127.0.0.1:%d\n"
            "  - service: http_status:404\n") % (origin_port, origin_port)
        edge, _ = self.tunnel_to_origin(["wsgi.test", "app.test"], config_text=config)
        body = b"x" * 300000
        want = {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}

        def chunked_post(host):
            c = http.client.HTTPConnection("127.0.0.1", edge.http_port, timeout=30)
            try:
                c.request("POST", "/upload", body=iter([body[:1000], body[1000:]]),
                          headers={"Host": host}, encode_chunked=True)
                r = c.getresponse()
                return r.status, r.read()
            finally:
                c.close()

        status, text = chunked_post("wsgi.test")
        self.assertEqual((status, text), (411, b"411 Length Required\n"))
        r = self.get(edge, "/upload", "wsgi.test", method="POST", body=body)
        self.assertEqual((r.status, json.loads(r.body)), (200, want))
        status, text = chunked_post("app.test")
        self.assertEqual((status, json.loads(text)), (200, want))

    def test_config_grace_period_bounds_the_drain(self):
        origin, origin_port = self.start_origin()
        edge = self.start_edge()
        token = self.create_tunnel(edge, "app", ["app.test"])
        self.reload_edge(edge, "app.test")
        config = self.write_file("config.yml", (
            "grace-period: 1s\ningress:\n  - service: http://127.0.0.1:%d\n") % origin_port)
        conn = self.start_connector(self.write_token(token), config=config, ha=1)
        t = threading.Thread(target=self._slow_request, args=(edge,), daemon=True)
        t.start()
        origin.wait_for(r"/slow\?ms=8000")  # the request is in flight at the origin
        started = time.monotonic()
        conn.send(signal.SIGTERM)
        conn.wait(timeout=10)
        elapsed = time.monotonic() - started
        self.assertLess(elapsed, 5.0, "grace-period: 1s from the config was not applied")
        self.assertGreater(elapsed, 0.8)

    def _slow_request(self, edge):
        try:
            self.get(edge, "/slow?ms=8000", "app.test", timeout=20)
        except Exception:  # cut off by the drain: that is the point
            pass


if __name__ == "__main__":
    harness.main()
