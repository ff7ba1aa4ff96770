#!/usr/bin/env python3
"""`burrow edge --redirect-https`: plain-http requests for routed hosts get 308 to the same
URL on the https listener (method kept), ACME's HTTP-01 path still goes through, unrouted
hosts still get 404, and the https listener serves as before. Refused without both
listeners."""

import re
import socket
import ssl

import harness


class RedirectHttpsTest(harness.BurrowTestCase):
    def test_routed_hosts_are_sent_to_https(self):
        origin, origin_port = self.start_origin()
        edge = self.start_edge(extra=["--https", "127.0.0.1:0", "--redirect-https"])

        https_port = int(re.search(r"https=127\.0\.0\.1:(\d+)", edge.proc.read()).group(1))
        token = self.create_tunnel(edge, "app", ["app.test"])
        self.reload_edge(edge, "app.test")
        self.start_connector(self.write_token(token), url="http://127.0.0.1:%d" % origin_port,
                             ha=1)
        for method in ("GET", "POST", "HEAD"):
            r = self.get(edge, "/a/b?c=1", "app.test:8080", method=method,
                         body=b"x" if method == "POST" else None)
            self.assertEqual(r.status, 308, method)
            self.assertEqual(r.headers["Location"], "https://app.test:%d/a/b?c=1" % https_port)
        # ACME's HTTP-01 challenges are answered on plain http: they go through the tunnel.
        r = self.get(edge, "/.well-known/acme-challenge/token123", "app.test")
        self.assertNotEqual(r.status, 308)
        self.assertIn(r.status, (200, 404))
        self.assertEqual(self.get(edge, "/x", "unrouted.test").status, 404)
        # The https listener serves the route.
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", https_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="app.test") as tls:
                tls.sendall(b"GET /hello HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:100])
        # curl follows the redirect to the https listener.
        r = self.curl("-sk", "-L", "-o", "/dev/null", "-w", "%{http_code} %{url_effective}",
                      "--resolve", "app.test:%d:127.0.0.1" % edge.http_port,
                      "--resolve", "app.test:%d:127.0.0.1" % https_port,
                      "http://app.test:%d/hello" % edge.http_port)
        self.assertEqual(r.stdout.decode(), "200 https://app.test:%d/hello" % https_port)

    def test_needs_both_listeners(self):
        r = self.burrow("edge", "--state-dir", self.path("state"), "--http", "127.0.0.1:0",
                        "--tunnel", "127.0.0.1:0", "--redirect-https", timeout=10)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--redirect-https needs both --http and --https", r.stderr)
        self.assertNotIn("edge ready", r.stderr)


if __name__ == "__main__":
    harness.main()
